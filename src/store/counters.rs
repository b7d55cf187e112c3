//! Per-tenant counters kept in the same transaction as the records they count.

use redb::ReadableTable;
use uuid::Uuid;

use super::error::{Error, Failure, Result};
use super::tables::COUNTERS;
use super::txn::{Tx, WriteTxn};

/// Number of active users, i.e. seats taken.
pub const SEATS_PROVISIONED: &str = "seats_provisioned";
/// Number of users the APIs can see (active or not, not deleted): list totals without a scan.
pub const USERS: &str = "users";
/// Number of rooms.
pub const ROOMS: &str = "rooms";
/// Number of rooms with a SCIM group mapping.
pub const GROUPS: &str = "groups";
/// The last event sequence number given out (the change stream's `seq`).
pub const EVENT_SEQ: &str = "event_seq";
/// The last audit log sequence number given out.
pub(super) const AUDIT_SEQ: &str = "audit_seq";
/// The last `seq` pruned from the event log: the feed starts after it.
pub(super) const EVENT_FLOOR: &str = "event_floor";

pub fn get(tx: &impl Tx, tenant: Uuid, name: &str) -> Result<u64> {
    let table = tx.table(COUNTERS)?;
    Ok(table.get((tenant.as_u128(), name))?.map(|v| v.value()).unwrap_or(0))
}

/// Adds `delta` and returns the new value; going below zero means the store is inconsistent.
pub fn add(txn: &WriteTxn, tenant: Uuid, name: &str, delta: i64) -> Result<u64> {
    let mut table = txn.open_table(COUNTERS)?;
    let current = table.get((tenant.as_u128(), name))?.map(|v| v.value()).unwrap_or(0);
    let next = current.checked_add_signed(delta).ok_or_else(|| {
        Error::Failed(Failure::Corrupt(format!("counter {name} would leave range")))
    })?;
    table.insert((tenant.as_u128(), name), next)?;
    Ok(next)
}
