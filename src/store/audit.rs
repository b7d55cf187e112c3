//! The audit log: who changed what through an admin path (the CLI and admin socket, the key
//! API, webhook registrations, the server disabling a registration), recorded in the change's
//! own transaction, per tenant, numbered by the tenant's counter `audit_seq`. Entries name the
//! fields that changed with their old and new values; a secret is never one of them.

use redb::ReadableTable;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::Result;
use super::tables::AUDIT_LOG;
use super::txn::{Tx, WriteTxn};
use super::{codec, counters};

/// Who made a change.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// An operator at the command line (through the admin socket, or on the store directly).
    Cli,
    /// An API key (the key API, webhook registrations, the console), with its description.
    Key { id: Uuid, description: String },
    /// The server itself (disabling a failing webhook registration).
    System,
}

/// One field a change set: its value before and after (None: absent).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

impl Field {
    pub fn new(name: &str, old: Option<String>, new: Option<String>) -> Field {
        Field { name: name.to_owned(), old, new }
    }

    /// A field set where there was none.
    pub fn set(name: &str, new: impl ToString) -> Field {
        Field::new(name, None, Some(new.to_string()))
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct AuditEntry {
    pub seq: u64,
    /// Unix milliseconds.
    pub at: i64,
    pub actor: Actor,
    /// `api_key.created`, `tenant.seats_changed`, `webhook.disabled`…
    pub action: String,
    /// What it was done to: an id, or a tenant's slug.
    pub target: String,
    pub fields: Vec<Field>,
}

/// Records an entry in `tenant`'s log; only the fields that changed are kept.
pub fn record(
    txn: &WriteTxn,
    tenant: Uuid,
    actor: &Actor,
    (action, target): (&str, &str),
    fields: Vec<Field>,
    at: i64,
) -> Result<()> {
    let seq = counters::add(txn, tenant, counters::AUDIT_SEQ, 1)?;
    let fields = fields.into_iter().filter(|f| f.old != f.new).collect();
    let entry = AuditEntry {
        seq,
        at,
        actor: actor.clone(),
        action: action.to_owned(),
        target: target.to_owned(),
        fields,
    };
    let bytes = codec::encode(&entry)?;
    txn.open_table(AUDIT_LOG)?.insert((tenant.as_u128(), seq), bytes.as_slice())?;
    Ok(())
}

/// Up to `limit` of the tenant's entries after `after`, oldest first.
pub fn after(tx: &impl Tx, tenant: Uuid, after: u64, limit: usize) -> Result<Vec<AuditEntry>> {
    let t = tenant.as_u128();
    let table = tx.table(AUDIT_LOG)?;
    let mut out = Vec::new();
    for row in table.range((t, after.saturating_add(1))..=(t, u64::MAX))?.take(limit) {
        out.push(codec::decode(row?.1.value())?);
    }
    Ok(out)
}

/// Removes entries older than `before` (unix ms), every tenant's; returns how many. A tenant's
/// entries are in time order, so each tenant's walk stops at its first entry to keep.
/// The tenant's entries before `before` (all when None), newest first, at most `limit`.
pub fn before(
    tx: &impl Tx,
    tenant: Uuid,
    before: Option<u64>,
    limit: usize,
) -> Result<Vec<AuditEntry>> {
    let t = tenant.as_u128();
    let table = tx.table(AUDIT_LOG)?;
    let end = before.unwrap_or(u64::MAX);
    let mut out = Vec::new();
    for row in table.range((t, 0)..(t, end))?.rev().take(limit) {
        out.push(codec::decode(row?.1.value())?);
    }
    Ok(out)
}

pub fn prune(txn: &WriteTxn, before: i64) -> Result<u64> {
    let mut table = txn.open_table(AUDIT_LOG)?;
    let mut old = Vec::new();
    let mut from = (0u128, 0u64);
    loop {
        let next = table.range(from..)?.next().transpose()?;
        let Some((key, bytes)) = next else { break };
        let key = key.value();
        let entry: AuditEntry = codec::decode(bytes.value())?;
        if entry.at < before {
            old.push(key);
            if let Some(seq) = key.1.checked_add(1) {
                from = (key.0, seq);
                continue;
            }
        }
        // The rest of this tenant's entries are newer: on to the next tenant.
        match key.0.checked_add(1) {
            Some(t) => from = (t, 0),
            None => break,
        }
    }
    for key in &old {
        table.remove(key)?;
    }
    Ok(old.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::txn::WriteTxn;

    #[test]
    fn pruning_removes_each_tenants_old_entries_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("audit.redb")).unwrap();
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let txn = db.begin_write().unwrap();
        for (tenant, at) in [(a, 10), (a, 20), (a, 30), (b, 5), (b, 40)] {
            record(
                &WriteTxn::new(&txn),
                tenant,
                &Actor::System,
                ("x", "y"),
                vec![Field::set("n", at)],
                at,
            )
            .unwrap();
        }
        assert_eq!(prune(&WriteTxn::new(&txn), 25).unwrap(), 3);
        let left: Vec<i64> =
            [a, b].iter().flat_map(|t| after(&txn, *t, 0, 10).unwrap()).map(|e| e.at).collect();
        assert_eq!(left, [30, 40]);
        assert_eq!(prune(&WriteTxn::new(&txn), 25).unwrap(), 0);
    }
}
