//! API key records. Only the secret's hash is stored; verification happens in memory
//! (`auth::registry`), so this table is read at startup and written on key changes and on the
//! batched last-used flush.

use redb::ReadableTable;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::codec;
use super::error::{Error, Refusal, Result};
use super::tables::KEYS;
use super::txn::{Tx, WriteTxn};

/// Which SCIM rules a key's requests are held to: `Compatible` accepts every identity
/// provider's known quirk, `Strict` follows the 2026 interop profiles to the letter.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ScimProfile {
    #[default]
    Compatible,
    Strict,
}

impl ScimProfile {
    pub fn name(self) -> &'static str {
        match self {
            ScimProfile::Compatible => "compatible",
            ScimProfile::Strict => "strict",
        }
    }

    pub fn parse(name: &str) -> std::result::Result<ScimProfile, String> {
        match name.trim().to_ascii_lowercase().as_str() {
            "compatible" => Ok(ScimProfile::Compatible),
            "strict" => Ok(ScimProfile::Strict),
            _ => Err(format!("SCIM profile {name:?}: use compatible or strict")),
        }
    }

    /// A profile, or `default` (None: the tenant's), as the CLI and the console offer them.
    pub fn parse_choice(word: &str) -> std::result::Result<Option<ScimProfile>, String> {
        match word.trim() {
            "default" => Ok(None),
            name => ScimProfile::parse(name).map(Some),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ApiKey {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// blake3 of the full secret.
    pub hash: [u8; 32],
    /// The first characters of the secret, safe to show (`wh_live_AbCd1234`).
    pub prefix: String,
    pub description: String,
    /// Canonical scope names (aliases resolved at creation).
    pub scopes: Vec<String>,
    /// Unix milliseconds, like every timestamp below.
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
    /// None: the tenant's default.
    pub scim_profile: Option<ScimProfile>,
}

pub fn insert(txn: &WriteTxn, key: &ApiKey) -> Result<()> {
    let bytes = codec::encode(key)?;
    txn.open_table(KEYS)?.insert(key.id.as_u128(), bytes.as_slice())?;
    Ok(())
}

pub fn get(tx: &impl Tx, id: Uuid) -> Result<ApiKey> {
    let table = tx.table(KEYS)?;
    let bytes = table.get(id.as_u128())?.ok_or(Error::not_found("API key"))?;
    codec::decode(bytes.value())
}

pub fn list_all(tx: &impl Tx) -> Result<Vec<ApiKey>> {
    let table = tx.table(KEYS)?;
    let mut out = Vec::new();
    for row in table.iter()? {
        let (_, bytes) = row?;
        out.push(codec::decode(bytes.value())?);
    }
    Ok(out)
}

/// Marks a key revoked; revoking twice keeps the first time.
pub fn revoke(txn: &WriteTxn, id: Uuid, now: i64) -> Result<ApiKey> {
    let mut key = get(txn, id)?;
    key.revoked_at.get_or_insert(now);
    insert(txn, &key)?;
    Ok(key)
}

/// Records last-used times gathered in memory; keys deleted meanwhile are skipped.
pub fn record_last_used(txn: &WriteTxn, seen: &[(Uuid, i64)]) -> Result<()> {
    for &(id, at) in seen {
        match get(txn, id) {
            Ok(mut key) => {
                if key.last_used_at.is_none_or(|prev| prev < at) {
                    key.last_used_at = Some(at);
                    insert(txn, &key)?;
                }
            }
            Err(Error::Refused(Refusal::NotFound(_))) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
