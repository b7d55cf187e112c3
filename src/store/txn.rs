//! The write transaction domain operations see: redb's, with every table write also recorded,
//! so the writer can make a commit durable by appending those writes to the log (`wal`) instead
//! of flushing the file's scattered pages. Reads go straight to redb.

use std::borrow::Borrow;
use std::cell::RefCell;
use std::ops::{Deref, RangeBounds};

use redb::{
    AccessGuard, Key, ReadableTable, StorageError, Table, TableDefinition, TableHandle, Value,
};
use serde::{Deserialize, Serialize};

/// One table write, as bytes: what replaying the log applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Op {
    pub table: String,
    pub key: Vec<u8>,
    /// None: the key was removed.
    pub value: Option<Vec<u8>>,
}

pub struct WriteTxn<'t> {
    txn: &'t redb::WriteTransaction,
    ops: RefCell<Vec<Op>>,
}

impl<'t> WriteTxn<'t> {
    pub(super) fn new(txn: &'t redb::WriteTransaction) -> WriteTxn<'t> {
        WriteTxn { txn, ops: RefCell::new(Vec::new()) }
    }

    /// Opens (creating) a table for writing; its reads are redb's own (`Deref`).
    pub fn open_table<K: Key + 'static, V: Value + 'static>(
        &self,
        def: TableDefinition<K, V>,
    ) -> Result<WriteTable<'_, K, V>, redb::TableError> {
        let table = self.txn.open_table(def)?;
        Ok(WriteTable { name: def.name().to_owned(), table, ops: &self.ops })
    }

    /// The writes so far, in order (emptying the record).
    pub(super) fn take_ops(&self) -> Vec<Op> {
        std::mem::take(&mut *self.ops.borrow_mut())
    }
}

impl super::Tx for WriteTxn<'_> {
    fn table<K: Key + 'static, V: Value + 'static>(
        &self,
        def: TableDefinition<K, V>,
    ) -> super::Result<impl ReadableTable<K, V> + '_> {
        Ok(self.txn.open_table(def)?)
    }
}

/// A table open for writing: `insert`, `remove` and `remove_range` are recorded; reads are
/// redb's (`Deref` gives only `&self` methods, so no write can bypass the record).
pub struct WriteTable<'w, K: Key + 'static, V: Value + 'static> {
    name: String,
    table: Table<'w, K, V>,
    ops: &'w RefCell<Vec<Op>>,
}

impl<'w, K: Key + 'static, V: Value + 'static> WriteTable<'w, K, V> {
    pub fn insert<'k, 'v>(
        &mut self,
        key: impl Borrow<K::SelfType<'k>>,
        value: impl Borrow<V::SelfType<'v>>,
    ) -> Result<Option<AccessGuard<'_, V>>, StorageError> {
        self.ops.borrow_mut().push(Op {
            table: self.name.clone(),
            key: K::as_bytes(key.borrow()).as_ref().to_vec(),
            value: Some(V::as_bytes(value.borrow()).as_ref().to_vec()),
        });
        self.table.insert(key, value)
    }

    pub fn remove<'k>(
        &mut self,
        key: impl Borrow<K::SelfType<'k>>,
    ) -> Result<Option<AccessGuard<'_, V>>, StorageError> {
        self.ops.borrow_mut().push(Op {
            table: self.name.clone(),
            key: K::as_bytes(key.borrow()).as_ref().to_vec(),
            value: None,
        });
        self.table.remove(key)
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
            self.ops.borrow_mut().push(Op {
                table: self.name.clone(),
                key: key.clone(),
                value: None,
            });
        }
        Ok(keys.len() as u64)
    }
}

impl<'w, K: Key + 'static, V: Value + 'static> Deref for WriteTable<'w, K, V> {
    type Target = Table<'w, K, V>;

    fn deref(&self) -> &Self::Target {
        &self.table
    }
}

/// Applies `op` to `def`'s table: replaying the log.
pub(super) fn apply<K: Key + 'static, V: Value + 'static>(
    txn: &redb::WriteTransaction,
    def: TableDefinition<K, V>,
    op: &Op,
) -> super::Result<()> {
    // The log's checksum vouches for the bytes; the widths are checked anyway, since redb's
    // fixed-width decoders assume them.
    let fits = |width: Option<usize>, bytes: &[u8]| width.is_none_or(|w| w == bytes.len());
    let value_fits = op.value.as_deref().is_none_or(|v| fits(V::fixed_width(), v));
    if !fits(K::fixed_width(), &op.key) || !value_fits {
        return Err(super::Error::Failed(super::Failure::Storage(format!(
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
