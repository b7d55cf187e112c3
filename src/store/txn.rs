//! The write transaction domain operations see: redb's, with every table write also recorded,
//! so the writer can make a commit durable by appending those writes to the log (`wal`) instead
//! of flushing the file's scattered pages. Reads go straight to redb. Each table it opens stays
//! open for the rest of the transaction (`kinds!`), so a batch pays redb's open once per table.

use std::borrow::Borrow;
use std::cell::{OnceCell, RefCell, RefMut};
use std::ops::{Deref, RangeBounds};

use redb::{
    AccessGuard, Key, ReadableTable, ReadableTableMetadata, StorageError, Table, TableDefinition,
    TableHandle, Value,
};
use serde::{Deserialize, Serialize};

use super::error::{Error, Failure, Result};

/// One table write, as bytes: what replaying the log applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Op {
    pub table: String,
    pub key: Vec<u8>,
    /// None: the key was removed.
    pub value: Option<Vec<u8>>,
}

/// A redb write transaction, its recorded writes and the tables it has open.
pub struct WriteTxn<'t> {
    txn: &'t redb::WriteTransaction,
    ops: RefCell<Vec<Op>>,
    /// False in a commit made durable by the store file itself (nothing of it goes to the log).
    recording: bool,
    open: Open<'t>,
    /// The request the current job runs for: its events name it (`events::Cause`).
    cause: RefCell<Option<Cause>>,
}

impl<'t> WriteTxn<'t> {
    pub(super) fn new(txn: &'t redb::WriteTransaction) -> WriteTxn<'t> {
        WriteTxn {
            txn,
            ops: RefCell::new(Vec::new()),
            recording: true,
            open: Open::default(),
            cause: RefCell::new(None),
        }
    }

    /// A transaction whose writes are not recorded (see `recording`).
    pub(super) fn unrecorded(txn: &'t redb::WriteTransaction) -> WriteTxn<'t> {
        WriteTxn { recording: false, ..WriteTxn::new(txn) }
    }

    /// Opens (creating) a table for writing; its reads are redb's own (`Deref`). The table
    /// stays open until the transaction is done with, so the next open of it is only a lookup.
    #[track_caller]
    pub fn open_table<K: Key + 'static, V: Value + 'static>(
        &self,
        def: TableDefinition<K, V>,
    ) -> Result<WriteTable<'_, 't, K, V>, redb::TableError>
    where
        Open<'t>: Kind<'t, K, V>,
    {
        let caller = std::panic::Location::caller();
        let in_use = || redb::TableError::TableAlreadyOpen(def.name().to_owned(), caller);
        let slots = <Open<'t> as Kind<'t, K, V>>::slots(&self.open);
        let Some(slot) = slots.iter().find(|s| s.name.get().is_none_or(|n| n == def.name())) else {
            // More tables of this kind than `kinds!` made room for: a programming error.
            return Err(in_use());
        };
        let mut held = slot.table.try_borrow_mut().map_err(|_| in_use())?;
        if held.is_none() {
            *held = Some(self.txn.open_table(def)?);
            let _ = slot.name.set(def.name().to_owned());
        }
        let table = RefMut::filter_map(held, Option::as_mut).map_err(|_| in_use())?;
        let name = slot.name.get().map_or("", String::as_str);
        Ok(WriteTable { name, table, ops: &self.ops, recording: self.recording })
    }

    /// Names the request the writes that follow are made for (None: no request), until set again.
    pub fn set_cause(&self, cause: Option<Cause>) {
        *self.cause.borrow_mut() = cause;
    }

    pub fn cause(&self) -> Option<Cause> {
        self.cause.borrow().clone()
    }

    /// The writes so far, in order (emptying the record).
    pub(super) fn take_ops(&self) -> Vec<Op> {
        std::mem::take(&mut *self.ops.borrow_mut())
    }
}

impl<'t, K: Key + 'static, V: Value + 'static> Reads<K, V> for WriteTxn<'t>
where
    Open<'t>: Kind<'t, K, V>,
{
    fn table(&self, def: TableDefinition<K, V>) -> Result<impl ReadableTable<K, V> + '_> {
        Ok(self.open_table(def)?)
    }
}

/// One table of a kind, once opened: its name and the open table.
pub struct Slot<'t, K: Key + 'static, V: Value + 'static> {
    name: OnceCell<String>,
    table: RefCell<Option<Table<'t, K, V>>>,
}

impl<K: Key + 'static, V: Value + 'static> Default for Slot<'_, K, V> {
    fn default() -> Self {
        Slot { name: OnceCell::new(), table: RefCell::new(None) }
    }
}

/// Where a write transaction keeps the tables of one kind (key and value types) it opened.
pub trait Kind<'t, K: Key + 'static, V: Value + 'static> {
    fn slots(&self) -> &[Slot<'t, K, V>];
}

/// Opening a redb table looks it up in the table tree and checks its types (a sixth of the
/// writer's time when each of a batch's creates opened its dozen tables itself), so a write
/// transaction keeps each table open once it is: here, by kind, with room for as many tables
/// as the store has of that kind.
macro_rules! kinds {
    ($($field:ident: $k:ty => $v:ty, $n:literal;)*) => {
        #[derive(Default)]
        pub struct Open<'t> {
            $($field: [Slot<'t, $k, $v>; $n],)*
        }
        $(impl<'t> Kind<'t, $k, $v> for Open<'t> {
            fn slots(&self) -> &[Slot<'t, $k, $v>] {
                &self.$field
            }
        })*
        /// Table access shared by read and write transactions, so read-side domain functions
        /// work inside a mutation too: one `Reads` for every kind of table the store has.
        pub trait Tx: $(Reads<$k, $v> +)* {}
        impl<T: $(Reads<$k, $v> +)*> Tx for T {}
    };
}

kinds! {
    meta: &'static str => u64, 1;
    by_id: u128 => &'static [u8], 3;
    slugs: &'static str => u128, 1;
    counters: (u128, &'static str) => u64, 1;
    records: (u128, u128) => &'static [u8], 4;
    indexes: (u128, &'static str) => u128, 2;
    attributes: (u128, u8, u64, u128) => (), 1;
    blocks: (u128, u8, u128) => u64, 1;
    name_blocks: (u128, u8, &'static str) => u64, 1;
    modified_blocks: (u128, u64, u128) => u64, 1;
    members: (u128, u128, u128) => bool, 1;
    memberships: (u128, u128, u128) => (), 1;
    streams: (u128, u64) => &'static [u8], 4;
    facets: (u128, u8, u128, u64) => (), 1;
    lanes: (u128, u128, u128, u64) => u128, 1;
    subscriptions: (u128, u128) => u64, 1;
    deliveries: (u128, u128, u128) => &'static [u8], 1;
    due: (i64, u128, u128, u128) => (), 1;
}

/// A table open for writing: `insert`, `remove` and `remove_range` are recorded; reads are
/// redb's (`Deref` gives only `&self` methods, so no write can bypass the record).
pub struct WriteTable<'w, 't, K: Key + 'static, V: Value + 'static> {
    name: &'w str,
    table: RefMut<'w, Table<'t, K, V>>,
    ops: &'w RefCell<Vec<Op>>,
    recording: bool,
}

impl<K: Key + 'static, V: Value + 'static> WriteTable<'_, '_, K, V> {
    pub fn insert<'k, 'v>(
        &mut self,
        key: impl Borrow<K::SelfType<'k>>,
        value: impl Borrow<V::SelfType<'v>>,
    ) -> Result<Option<AccessGuard<'_, V>>, StorageError> {
        if self.recording {
            self.ops.borrow_mut().push(Op {
                table: self.name.to_owned(),
                key: K::as_bytes(key.borrow()).as_ref().to_vec(),
                value: Some(V::as_bytes(value.borrow()).as_ref().to_vec()),
            });
        }
        self.table.insert(key, value)
    }

    pub fn remove<'k>(
        &mut self,
        key: impl Borrow<K::SelfType<'k>>,
    ) -> Result<Option<AccessGuard<'_, V>>, StorageError> {
        if self.recording {
            self.ops.borrow_mut().push(Op {
                table: self.name.to_owned(),
                key: K::as_bytes(key.borrow()).as_ref().to_vec(),
                value: None,
            });
        }
        self.table.remove(key)
    }

    /// Inserts `value`, or removes the key when None.
    pub fn set<'k, 'v>(
        &mut self,
        key: impl Borrow<K::SelfType<'k>>,
        value: Option<impl Borrow<V::SelfType<'v>>>,
    ) -> Result<(), StorageError> {
        match value {
            Some(value) => self.insert(key, value)?,
            None => self.remove(key)?,
        };
        Ok(())
    }

    /// Removes every row in `range`; returns how many.
    pub fn remove_range<'a, KR>(
        &mut self,
        range: impl RangeBounds<KR> + 'a,
    ) -> Result<u64, StorageError>
    where
        KR: Borrow<K::SelfType<'a>> + 'a,
    {
        let mut keys = Vec::new();
        for row in self.table.range(range)? {
            keys.push(K::as_bytes(&row?.0.value()).as_ref().to_vec());
        }
        for key in &keys {
            self.table.remove(K::from_bytes(key))?;
            if !self.recording {
                continue;
            }
            self.ops.borrow_mut().push(Op {
                table: self.name.to_owned(),
                key: key.clone(),
                value: None,
            });
        }
        Ok(keys.len() as u64)
    }
}

impl<'t, K: Key + 'static, V: Value + 'static> Deref for WriteTable<'_, 't, K, V> {
    type Target = Table<'t, K, V>;

    fn deref(&self) -> &Self::Target {
        &self.table
    }
}

// So a write transaction's tables serve the read-side domain functions (`Reads`).
impl<K: Key + 'static, V: Value + 'static> ReadableTableMetadata for WriteTable<'_, '_, K, V> {
    fn stats(&self) -> Result<redb::TableStats, StorageError> {
        self.table.stats()
    }

    fn len(&self) -> Result<u64, StorageError> {
        self.table.len()
    }
}

impl<K: Key + 'static, V: Value + 'static> ReadableTable<K, V> for WriteTable<'_, '_, K, V> {
    fn get<'a>(
        &self,
        key: impl Borrow<K::SelfType<'a>>,
    ) -> Result<Option<AccessGuard<'_, V>>, StorageError> {
        self.table.get(key)
    }

    fn range<'a, KR>(
        &self,
        range: impl RangeBounds<KR> + 'a,
    ) -> Result<redb::Range<'_, K, V>, StorageError>
    where
        KR: Borrow<K::SelfType<'a>> + 'a,
    {
        self.table.range(range)
    }

    fn first(&self) -> Result<Option<(AccessGuard<'_, K>, AccessGuard<'_, V>)>, StorageError> {
        self.table.first()
    }

    fn last(&self) -> Result<Option<(AccessGuard<'_, K>, AccessGuard<'_, V>)>, StorageError> {
        self.table.last()
    }
}

/// Applies `op` to `def`'s table: replaying the log.
pub(super) fn apply<K: Key + 'static, V: Value + 'static>(
    txn: &redb::WriteTransaction,
    def: TableDefinition<K, V>,
    op: &Op,
) -> Result<()> {
    // The log's checksum vouches for the bytes; the widths are checked anyway, since redb's
    // fixed-width decoders assume them.
    let fits = |width: Option<usize>, bytes: &[u8]| width.is_none_or(|w| w == bytes.len());
    let value_fits = op.value.as_deref().is_none_or(|v| fits(V::fixed_width(), v));
    if !fits(K::fixed_width(), &op.key) || !value_fits {
        return Err(Error::Failed(Failure::Storage(format!(
            "the store's log holds a write to {} of the wrong size",
            op.table
        ))));
    }
    let mut table = txn.open_table(def)?;
    match &op.value {
        Some(value) => {
            table.insert(K::from_bytes(&op.key), V::from_bytes(value))?;
        }
        None => {
            table.remove(K::from_bytes(&op.key))?;
        }
    }
    Ok(())
}

/// Reading one kind of table (`Tx` is all of them).
pub trait Reads<K: redb::Key + 'static, V: redb::Value + 'static> {
    fn table(&self, def: redb::TableDefinition<K, V>) -> Result<impl ReadableTable<K, V> + '_>;
}

// redb's own transactions open the table for each read.
macro_rules! reads_for {
    ($($t:ty),*) => {$(
        impl<K: redb::Key + 'static, V: redb::Value + 'static> Reads<K, V> for $t {
            fn table(
                &self,
                def: redb::TableDefinition<K, V>,
            ) -> Result<impl ReadableTable<K, V> + '_> {
                Ok(self.open_table(def)?)
            }
        }
    )*};
}
reads_for!(redb::ReadTransaction, redb::WriteTransaction);

/// A write transaction to be committed durably (a checkpoint, a replay, a whole commit): it also
/// records redb's allocator state (its quick repair), so that a start after a crash loads that
/// state instead of rebuilding it by walking the whole file, as long as the last durable commit
/// was one of these. The cost is a second flush per durable commit, which the log makes rare.
pub(super) fn begin_durable(db: &redb::Database) -> Result<redb::WriteTransaction> {
    let mut txn = db.begin_write()?;
    txn.set_quick_repair(true);
    Ok(txn)
}

/// The request behind a change: its id (a Bulk operation's is `<request id>:<index>`) and method.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Cause {
    pub txn: String,
    pub method: String,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, non_snake_case)]
mod tests {
    use super::*;
    use crate::store::{Reads, tables};

    /// Keeps every table open at once: `kinds!` has room for all the store has, so no open
    /// can fail for want of a slot (a new table of an existing kind must raise its count).
    #[test]
    fn every_table_of_the_store_stays_open_in_one_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("t.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        let wtx = WriteTxn::new(&txn);
        let mut held: Vec<Box<dyn ReadableTableMetadata + '_>> = Vec::new();
        macro_rules! hold {
            ($table:ident) => {
                held.push(Box::new(wtx.open_table(tables::$table).unwrap()));
            };
        }
        tables::each_table!(hold);
        assert_eq!(held.len(), 27);
        assert!(wtx.open_table(tables::COUNTERS).is_err());
        drop(held);
        // Opened again, from the cache: writes are recorded and reads see them.
        wtx.open_table(tables::COUNTERS).unwrap().insert((1, "n"), 7).unwrap();
        let counters = Reads::table(&wtx, tables::COUNTERS).unwrap();
        assert_eq!(counters.get((1, "n")).unwrap().map(|v| v.value()), Some(7));
        drop(counters);
        let ops = wtx.take_ops();
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].table, "counters");
    }

    /// A table held open cannot be opened a second time (redb's own rule): an error, not a
    /// panic, and the table is usable again once the first handle goes.
    #[test]
    fn a_second_open_of_a_held_table_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("t.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        let wtx = WriteTxn::new(&txn);
        let mut held = wtx.open_table(tables::USERS).unwrap();
        held.insert((1, 2), b"a".as_slice()).unwrap();
        let again = wtx.open_table(tables::USERS).err();
        assert!(
            matches!(again, Some(redb::TableError::TableAlreadyOpen(ref name, _)) if name == "users")
        );
        assert!(Reads::table(&wtx, tables::USERS).is_err());
        // Another table of the same kind is its own slot.
        wtx.open_table(tables::ROOMS).unwrap().insert((1, 3), b"r".as_slice()).unwrap();
        drop(held);
        let users = wtx.open_table(tables::USERS).unwrap();
        assert_eq!(users.get((1, 2)).unwrap().unwrap().value(), b"a");
        drop(users);
        drop(wtx);
        txn.commit().unwrap();
        let read = redb::ReadableDatabase::begin_read(&db).unwrap();
        assert!(read.open_table(tables::ROOMS).unwrap().get((1, 3)).unwrap().is_some());
    }
}
