//! Schema upgrades. A store records the schema version that wrote it; opening an older one
//! first copies it aside (`whoot-schema-v{N}-{unix ms}.redb` in the data directory), then runs
//! every step from its version to ours in one write transaction, so a crash mid-upgrade leaves
//! the old store as it was. A newer store is refused before anything is written.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, WriteTransaction};

use super::{Error, Result, SCHEMA_VERSION, copy_into_new_file, tables, webhooks};
use crate::time::now_ms;

/// `STEPS[i]` takes a store from version `i + 1` to `i + 2`.
const STEPS: &[fn(&WriteTransaction) -> Result<()>] = &[v1_to_v2, v2_to_v3];

/// Schema 2 added `SUBSCRIPTIONS`, built here from the registrations.
fn v1_to_v2(txn: &WriteTransaction) -> Result<()> {
    webhooks::index_subscriptions(txn).map(drop)
}

/// Schema 3 keeps outbox events in `OUTBOX` itself (one row per change, not an event row and a
/// key): the events still in schema 2's outbox move there.
fn v2_to_v3(txn: &WriteTransaction) -> Result<()> {
    webhooks::move_outbox_v2(txn).map(drop)
}

/// What opening did to the schema.
#[derive(Debug, PartialEq, Eq)]
pub enum Opened {
    Created,
    Current,
    Upgraded { from: u64, backup: PathBuf },
}

/// Brings the store to `SCHEMA_VERSION`, creating every table.
pub fn to_current(db: &Database, data_dir: &Path) -> Result<Opened> {
    let found = match tables::open_if_present(&db.begin_read()?, tables::META)? {
        Some(meta) => meta.get(tables::META_SCHEMA_VERSION)?.map(|v| v.value()),
        None => None,
    };
    let opened = match found {
        None => Opened::Created,
        Some(v) if v > SCHEMA_VERSION => return Err(Error::TooNew { found: v }),
        Some(v) if v == SCHEMA_VERSION => Opened::Current,
        Some(0) => return Err(Error::Storage("the store records schema version 0".into())),
        Some(from) => {
            let backup = data_dir.join(format!("whoot-schema-v{from}-{}.redb", now_ms()));
            copy_into_new_file(&backup, |target| tables::copy_all(&db.begin_read()?, target))?;
            Opened::Upgraded { from, backup }
        }
    };
    let txn = db.begin_write()?;
    tables::create_all(&txn)?;
    if let Opened::Upgraded { from, .. } = &opened {
        for step in &STEPS[(*from - 1) as usize..(SCHEMA_VERSION - 1) as usize] {
            step(&txn)?;
        }
    }
    txn.open_table(tables::META)?.insert(tables::META_SCHEMA_VERSION, SCHEMA_VERSION)?;
    txn.commit()?;
    if let Opened::Upgraded { from, backup } = &opened {
        tracing::info!(
            from = *from,
            to = SCHEMA_VERSION,
            backup = %backup.display(),
            "upgraded the store's schema; the store as it was is kept in the backup"
        );
    }
    Ok(opened)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn there_is_a_step_for_every_older_version() {
        assert_eq!(STEPS.len() as u64, SCHEMA_VERSION - 1);
    }

    #[test]
    fn schema_2_outbox_events_move_to_the_outbox_and_the_backup_keeps_the_old_layout() {
        use redb::ReadableTableMetadata;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(super::super::STORE_FILE);
        let db = Database::create(&path).unwrap();
        to_current(&db, dir.path()).unwrap();
        // Schema 2's layout: both events in the event table, the undelivered one's key beside it.
        let (pending, delivered) = ((5, 1u128), (4, 2u128));
        let txn = db.begin_write().unwrap();
        {
            let mut events = txn.open_table(tables::EVENTS).unwrap();
            events.insert(pending, b"pending".as_slice()).unwrap();
            events.insert(delivered, b"delivered".as_slice()).unwrap();
            txn.open_table(tables::OUTBOX_KEYS_V2).unwrap().insert(pending, ()).unwrap();
            txn.open_table(tables::META).unwrap().insert(tables::META_SCHEMA_VERSION, 2).unwrap();
        }
        txn.commit().unwrap();

        let Opened::Upgraded { from: 2, backup } = to_current(&db, dir.path()).unwrap() else {
            panic!("not upgraded from 2")
        };
        let read = db.begin_read().unwrap();
        let (outbox, events) =
            (read.open_table(tables::OUTBOX).unwrap(), read.open_table(tables::EVENTS).unwrap());
        assert_eq!(outbox.get(pending).unwrap().unwrap().value(), b"pending");
        assert_eq!(outbox.len().unwrap(), 1);
        assert_eq!(events.get(delivered).unwrap().unwrap().value(), b"delivered");
        assert_eq!(events.len().unwrap(), 1);
        assert!(matches!(
            read.open_table(tables::OUTBOX_KEYS_V2),
            Err(redb::TableError::TableDoesNotExist(_))
        ));

        let old = Database::open(&backup).unwrap();
        let old = old.begin_read().unwrap();
        assert!(old.open_table(tables::OUTBOX_KEYS_V2).unwrap().get(pending).unwrap().is_some());
        assert_eq!(old.open_table(tables::EVENTS).unwrap().len().unwrap(), 2);
        let version = old.open_table(tables::META).unwrap();
        assert_eq!(version.get(tables::META_SCHEMA_VERSION).unwrap().unwrap().value(), 2);
    }

    #[test]
    fn a_newer_store_is_refused_untouched_and_a_current_one_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(super::super::STORE_FILE);
        {
            let db = Database::create(&path).unwrap();
            assert_eq!(to_current(&db, dir.path()).unwrap(), Opened::Created);
            assert_eq!(to_current(&db, dir.path()).unwrap(), Opened::Current);
            let txn = db.begin_write().unwrap();
            txn.open_table(tables::META)
                .unwrap()
                .insert(tables::META_SCHEMA_VERSION, SCHEMA_VERSION + 1)
                .unwrap();
            txn.commit().unwrap();
        }
        let err = super::super::Store::open(dir.path()).err().unwrap();
        assert!(matches!(err, Error::TooNew { found } if found == SCHEMA_VERSION + 1));
        assert!(err.to_string().contains("upgrade whoot-mgmt"), "{err}");
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1, "no backup or other file was written");
    }
}
