//! The server's keys for signing SCIM security events (ES256), of no tenant. One is current;
//! a rotation retires it, and a retired key stays published (`/.well-known/jwks.json`) until
//! receivers can no longer hold a SET it signed unverified. The key material is made by the
//! caller (`crate::sets`): the store only keeps it.

use redb::ReadableTable;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::codec;
use super::error::Result;
use super::tables::SET_KEYS;
use super::txn::{Tx, WriteTxn};

#[derive(Serialize, Deserialize, Clone, PartialEq)]
pub struct SigningKey {
    /// Its `kid`.
    pub id: Uuid,
    /// The P-256 private key, PKCS#8 (DER).
    pub pkcs8: Vec<u8>,
    pub created_at: i64,
    /// When a newer key replaced it.
    pub retired_at: Option<i64>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("id", &self.id)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// Every key kept, oldest first (ids are UUIDv7).
pub fn list(tx: &impl Tx) -> Result<Vec<SigningKey>> {
    let mut out = Vec::new();
    for row in tx.table(SET_KEYS)?.iter()? {
        out.push(codec::decode(row?.1.value())?);
    }
    Ok(out)
}

/// Makes `key` the current one: those before it are retired at `now`.
pub fn rotate(txn: &WriteTxn, key: &SigningKey, now: i64) -> Result<()> {
    let mut table = txn.open_table(SET_KEYS)?;
    let mut current = Vec::new();
    for row in table.iter()? {
        let k: SigningKey = codec::decode(row?.1.value())?;
        if k.retired_at.is_none() {
            current.push(k);
        }
    }
    for mut k in current {
        k.retired_at = Some(now);
        table.insert(k.id.as_u128(), codec::encode(&k)?.as_slice())?;
    }
    table.insert(key.id.as_u128(), codec::encode(key)?.as_slice())?;
    Ok(())
}

/// Removes keys retired before `cutoff` (unix ms); how many went.
pub fn prune(txn: &WriteTxn, cutoff: i64) -> Result<u64> {
    let mut table = txn.open_table(SET_KEYS)?;
    let mut gone = Vec::new();
    for row in table.iter()? {
        let (id, bytes) = row?;
        let k: SigningKey = codec::decode(bytes.value())?;
        if k.retired_at.is_some_and(|at| at < cutoff) {
            gone.push(id.value());
        }
    }
    for id in &gone {
        table.remove(*id)?;
    }
    Ok(gone.len() as u64)
}
