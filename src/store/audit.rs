//! The audit log: who changed what through an admin path (the CLI and admin socket, the key
//! API, webhook registrations, the server disabling a registration), recorded in the change's
//! own transaction, per tenant, numbered by the tenant's counter `audit_seq`. Entries name the
//! fields that changed with their old and new values; a secret is never one of them.

use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::tables::AUDIT_LOG;
use super::{Result, Tx, codec, counters};

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
    txn: &WriteTransaction,
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

/// Removes entries older than `before` (unix ms), every tenant's; returns how many.
pub fn prune(txn: &WriteTransaction, before: i64) -> Result<u64> {
    let mut table = txn.open_table(AUDIT_LOG)?;
    let mut old = Vec::new();
    for row in table.iter()? {
        let (key, bytes) = row?;
        let entry: AuditEntry = codec::decode(bytes.value())?;
        if entry.at < before {
            old.push(key.value());
        }
    }
    for key in &old {
        table.remove(key)?;
    }
    Ok(old.len() as u64)
}
