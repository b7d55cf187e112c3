//! The record helpers every domain module shares: encoding a record under its key, claiming its
//! unique index entries, walking a tenant's records in id order, and the `If-Match` rule.

use redb::{ReadableTable, TableDefinition};
use uuid::Uuid;

use super::codec;
use super::error::{Error, Refusal, Result};
use super::txn::{Tx, WriteTxn};

/// A record with unique index entries (users, rooms).
pub(super) trait Indexed {
    /// What the record is, for a conflict's message.
    const WHAT: &'static str;
    fn id(&self) -> Uuid;
    /// Its entries: the key and the attribute it is for.
    fn index_keys(&self) -> Vec<(String, &'static str)>;
}

/// Points `record`'s unique index entries at it in `table`, releasing those of `prev` (the
/// record as it was) it no longer has. An entry another record holds is a conflict, found
/// before anything is written.
pub(super) fn claim_unique<R: Indexed>(
    txn: &WriteTxn,
    table: TableDefinition<(u128, &str), u128>,
    tenant: Uuid,
    record: &R,
    prev: Option<&R>,
) -> Result<()> {
    let (t, owner, what) = (tenant.as_u128(), record.id(), R::WHAT);
    let wanted = record.index_keys();
    let prev = prev.map(R::index_keys);
    let mut index = txn.open_table(table)?;
    for (key, attribute) in &wanted {
        if let Some(holder) = index.get((t, key.as_str()))?.map(|v| v.value())
            && holder != owner.as_u128()
        {
            return Err(Refusal::Conflict {
                what,
                attribute,
                holder: Some(Uuid::from_u128(holder)),
            }
            .into());
        }
    }
    for (key, _) in prev.iter().flatten() {
        if !wanted.iter().any(|(k, _)| k == key) {
            index.remove((t, key.as_str()))?;
        }
    }
    for (key, _) in &wanted {
        index.insert((t, key.as_str()), owner.as_u128())?;
    }
    Ok(())
}

/// Writes `record` under (tenant, id) in `table`, encoded.
pub(super) fn put_record<T: serde::Serialize>(
    txn: &WriteTxn,
    table: TableDefinition<(u128, u128), &[u8]>,
    (tenant, id): (Uuid, Uuid),
    record: &T,
) -> Result<()> {
    let bytes = codec::encode(record)?;
    txn.open_table(table)?.insert((tenant.as_u128(), id.as_u128()), bytes.as_slice())?;
    Ok(())
}

/// `If-Match`: the version the client saw must be the current one (None: no precondition).
pub fn check_version(if_match: Option<u64>, current: u64) -> Result<()> {
    match if_match {
        Some(v) if v != current => Err(Error::Refused(Refusal::VersionMismatch)),
        _ => Ok(()),
    }
}

/// Where a walk after the id `after` starts (from 0 when None); None past the last id.
pub(crate) fn first_after(after: Option<u128>) -> Option<u128> {
    match after {
        Some(id) => id.checked_add(1),
        None => Some(0),
    }
}

/// Visits the records of a tenant's table `(tenant, id) -> record` in id (creation) order after
/// the id `after` (from the first when None), until `visit` says stop: one index seek, wherever
/// a walk is.
pub(super) fn scan_after<T: serde::de::DeserializeOwned>(
    tx: &impl Tx,
    def: redb::TableDefinition<(u128, u128), &[u8]>,
    tenant: Uuid,
    after: Option<u128>,
    mut visit: impl FnMut(T) -> Result<bool>,
) -> Result<()> {
    let t = tenant.as_u128();
    let Some(start) = first_after(after) else { return Ok(()) };
    for row in tx.table(def)?.range((t, start)..=(t, u128::MAX))? {
        if !visit(codec::decode(row?.1.value())?)? {
            break;
        }
    }
    Ok(())
}
