//! Positions in a tenant's users, so that a page at `startIndex` 900,000 does not step over
//! 900,000 records. redb's B-tree keeps no counts, so block tables keep them beside it, for each
//! sequence a page walks (`Space`: all users, and the active and the inactive ones) in each order
//! a page can have (`Order`: by id, which is creation order, in `USER_BLOCKS`; by userName, in
//! `NAME_BLOCKS`; every user by last modification, in `MODIFIED_BLOCKS`): the sequence cut into
//! blocks of at most `MAX_BLOCK`, each row the block's first key and how many users it holds. A
//! sequence's first block starts at the order's origin, below every key, so every key falls in
//! the block of the greatest start at or below it. Finding the nth user sums block counts (a
//! thousand small rows at a million users), then steps within one block; so does finding how
//! many come before a key (`rank`).

use redb::ReadableTable;
use uuid::Uuid;

use super::error::Result;
use super::tables::{
    ATTR_ACTIVE, ATTR_MODIFIED, MODIFIED_BLOCKS, NAME_BLOCKS, USER_ATTRS, USER_BLOCKS, USER_INDEX,
    USERS,
};
use super::txn::{Tx, WriteTxn};

/// A block that grows past this splits in two; small enough that the step within one is short,
/// large enough that a million users make about a thousand rows.
pub(super) const MAX_BLOCK: u64 = 1024;

/// Where userName entries start and end in `USER_INDEX` (`records::user_name_key`).
const NAMES: &str = "u:";
const AFTER_NAMES: &str = "u;";

/// A sequence of a tenant's users that positions are kept for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Space {
    /// Every user (`USERS`).
    All,
    /// The users with this `active` (`USER_ATTRS` family `ATTR_ACTIVE`).
    Active(bool),
}

impl Space {
    pub(super) const EVERY: [Space; 3] = [Space::All, Space::Active(false), Space::Active(true)];

    fn code(self) -> u8 {
        match self {
            Space::All => 0,
            Space::Active(false) => 1,
            Space::Active(true) => 2,
        }
    }
}

/// An order the blocks of a tenant's sequence are kept in: where they are stored, and how the
/// sequence's users are stepped through from a key.
pub(super) trait Order {
    /// A place in the order: a user's id, its userName entry, or its modification time and id.
    type Key: Clone + Ord + std::fmt::Debug;
    /// Where the first block starts: at or below every key.
    fn origin(&self) -> Self::Key;
    /// The block with the greatest start at or below `key` (strictly below when `below`): its
    /// start and count.
    fn block_at(
        &self,
        tx: &impl Tx,
        key: &Self::Key,
        below: bool,
    ) -> Result<Option<(Self::Key, u64)>>;
    /// Stores a block's count (None: removes the block).
    fn set_block(&self, txn: &WriteTxn, start: &Self::Key, count: Option<u64>) -> Result<()>;
    /// Visits the sequence's users at or after `start`, in order, until `visit` says stop.
    fn step_from(
        &self,
        tx: &impl Tx,
        start: &Self::Key,
        visit: impl FnMut(&Self::Key, u128) -> Result<bool>,
    ) -> Result<()>;
    /// The blocks starting at or after `from`, in order: (start, count).
    fn blocks(&self, tx: &impl Tx, from: &Self::Key) -> Result<Vec<(Self::Key, u64)>>;
}

/// A sequence in id (creation) order: blocks in `USER_BLOCKS`, starting at id 0.
pub(super) struct ById {
    t: u128,
    space: Space,
}

pub(super) fn by_id(tenant: Uuid, space: Space) -> ById {
    ById { t: tenant.as_u128(), space }
}

impl Order for ById {
    type Key = u128;

    fn origin(&self) -> u128 {
        0
    }

    fn block_at(&self, tx: &impl Tx, key: &u128, below: bool) -> Result<Option<(u128, u64)>> {
        let (t, s) = (self.t, self.space.code());
        let last = match below {
            false => *key,
            true => match key.checked_sub(1) {
                Some(last) => last,
                None => return Ok(None),
            },
        };
        match tx.table(USER_BLOCKS)?.range((t, s, 0)..=(t, s, last))?.next_back() {
            Some(row) => {
                let (key, count) = row?;
                Ok(Some((key.value().2, count.value())))
            }
            None => Ok(None),
        }
    }

    fn set_block(&self, txn: &WriteTxn, start: &u128, count: Option<u64>) -> Result<()> {
        Ok(txn.open_table(USER_BLOCKS)?.set((self.t, self.space.code(), *start), count)?)
    }

    fn step_from(
        &self,
        tx: &impl Tx,
        start: &u128,
        mut visit: impl FnMut(&u128, u128) -> Result<bool>,
    ) -> Result<()> {
        let t = self.t;
        match self.space {
            Space::All => {
                for row in tx.table(USERS)?.range((t, *start)..=(t, u128::MAX))? {
                    let id = row?.0.value().1;
                    if !visit(&id, id)? {
                        break;
                    }
                }
            }
            Space::Active(on) => {
                let on = u64::from(on);
                let range = (t, ATTR_ACTIVE, on, *start)..=(t, ATTR_ACTIVE, on, u128::MAX);
                for row in tx.table(USER_ATTRS)?.range(range)? {
                    let id = row?.0.value().3;
                    if !visit(&id, id)? {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    fn blocks(&self, tx: &impl Tx, from: &u128) -> Result<Vec<(u128, u64)>> {
        let (t, s) = (self.t, self.space.code());
        let mut out = Vec::new();
        for row in tx.table(USER_BLOCKS)?.range((t, s, *from)..=(t, s, u128::MAX))? {
            let (key, count) = row?;
            out.push((key.value().2, count.value()));
        }
        Ok(out)
    }
}

/// A sequence in userName order (ignoring case, as sorting compares them): the `USER_INDEX`
/// userName entries, blocks in `NAME_BLOCKS` starting at the empty key. The active and inactive
/// sequences step over the entries of the others.
pub(super) struct ByName {
    t: u128,
    space: Space,
}

pub(super) fn by_name(tenant: Uuid, space: Space) -> ByName {
    ByName { t: tenant.as_u128(), space }
}

impl Order for ByName {
    type Key = String;

    fn origin(&self) -> String {
        String::new()
    }

    fn block_at(&self, tx: &impl Tx, key: &String, below: bool) -> Result<Option<(String, u64)>> {
        let (t, s) = (self.t, self.space.code());
        let table = tx.table(NAME_BLOCKS)?;
        let mut rows = match below {
            false => table.range((t, s, "")..=(t, s, key.as_str()))?,
            true => table.range((t, s, "")..(t, s, key.as_str()))?,
        };
        match rows.next_back() {
            Some(row) => {
                let (key, count) = row?;
                Ok(Some((key.value().2.to_owned(), count.value())))
            }
            None => Ok(None),
        }
    }

    fn set_block(&self, txn: &WriteTxn, start: &String, count: Option<u64>) -> Result<()> {
        let key = (self.t, self.space.code(), start.as_str());
        Ok(txn.open_table(NAME_BLOCKS)?.set(key, count)?)
    }

    fn step_from(
        &self,
        tx: &impl Tx,
        start: &String,
        mut visit: impl FnMut(&String, u128) -> Result<bool>,
    ) -> Result<()> {
        let t = self.t;
        let from = start.as_str().max(NAMES);
        let attrs = tx.table(USER_ATTRS)?;
        for row in tx.table(USER_INDEX)?.range((t, from)..(t, AFTER_NAMES))? {
            let (key, id) = row?;
            let id = id.value();
            let member = match self.space {
                Space::All => true,
                Space::Active(on) => attrs.get((t, ATTR_ACTIVE, u64::from(on), id))?.is_some(),
            };
            if member && !visit(&key.value().1.to_owned(), id)? {
                break;
            }
        }
        Ok(())
    }

    fn blocks(&self, tx: &impl Tx, from: &String) -> Result<Vec<(String, u64)>> {
        let (t, s) = (self.t, self.space.code());
        let mut out = Vec::new();
        for row in tx.table(NAME_BLOCKS)?.range((t, s, from.as_str())..(t, s + 1, ""))? {
            let (key, count) = row?;
            out.push((key.value().2.to_owned(), count.value()));
        }
        Ok(out)
    }
}

/// Every user in modification order (`USER_ATTRS` family `ATTR_MODIFIED`: last modification,
/// then id): blocks in `MODIFIED_BLOCKS`, starting at (0, 0).
pub(super) struct ByModification {
    t: u128,
}

pub(super) fn by_modification(tenant: Uuid) -> ByModification {
    ByModification { t: tenant.as_u128() }
}

impl Order for ByModification {
    type Key = (u64, u128);

    fn origin(&self) -> (u64, u128) {
        (0, 0)
    }

    fn block_at(
        &self,
        tx: &impl Tx,
        &(ms, id): &(u64, u128),
        below: bool,
    ) -> Result<Option<((u64, u128), u64)>> {
        let t = self.t;
        let table = tx.table(MODIFIED_BLOCKS)?;
        let mut rows = match below {
            false => table.range((t, 0, 0)..=(t, ms, id))?,
            true => table.range((t, 0, 0)..(t, ms, id))?,
        };
        match rows.next_back() {
            Some(row) => {
                let (key, count) = row?;
                let (_, ms, id) = key.value();
                Ok(Some(((ms, id), count.value())))
            }
            None => Ok(None),
        }
    }

    fn set_block(&self, txn: &WriteTxn, &(ms, id): &(u64, u128), count: Option<u64>) -> Result<()> {
        Ok(txn.open_table(MODIFIED_BLOCKS)?.set((self.t, ms, id), count)?)
    }

    fn step_from(
        &self,
        tx: &impl Tx,
        &(ms, id): &(u64, u128),
        mut visit: impl FnMut(&(u64, u128), u128) -> Result<bool>,
    ) -> Result<()> {
        let t = self.t;
        let range = (t, ATTR_MODIFIED, ms, id)..=(t, ATTR_MODIFIED, u64::MAX, u128::MAX);
        for row in tx.table(USER_ATTRS)?.range(range)? {
            let (_, _, ms, id) = row?.0.value();
            if !visit(&(ms, id), id)? {
                break;
            }
        }
        Ok(())
    }

    fn blocks(&self, tx: &impl Tx, &(ms, id): &(u64, u128)) -> Result<Vec<((u64, u128), u64)>> {
        let t = self.t;
        let mut out = Vec::new();
        for row in tx.table(MODIFIED_BLOCKS)?.range((t, ms, id)..=(t, u64::MAX, u128::MAX))? {
            let (key, count) = row?;
            let (_, ms, id) = key.value();
            out.push(((ms, id), count.value()));
        }
        Ok(out)
    }
}

/// The block holding `key` (its start) and how many of its users come before `key`.
fn block_before<O: Order>(tx: &impl Tx, order: &O, key: &O::Key) -> Result<(O::Key, u64)> {
    let start = order.block_at(tx, key, false)?.map_or_else(|| order.origin(), |(start, _)| start);
    let mut within = 0;
    if start < *key {
        order.step_from(tx, &start, |at, _| {
            let earlier = at < key;
            within += u64::from(earlier);
            Ok(earlier)
        })?;
    }
    Ok((start, within))
}

/// How many users of the sequence are at or after `key`: the counts of the blocks from `key`'s
/// on, less a step within its own.
pub(super) fn count_from<O: Order>(tx: &impl Tx, order: &O, key: &O::Key) -> Result<u64> {
    let (start, within) = block_before(tx, order, key)?;
    let all: u64 = order.blocks(tx, &start)?.iter().map(|(_, n)| n).sum();
    Ok(all.saturating_sub(within))
}

/// The key of the sequence's `n`th user (from 0) at or after `start`.
fn nth_from<O: Order>(order: &O, tx: &impl Tx, start: &O::Key, n: u64) -> Result<Option<O::Key>> {
    let (mut left, mut found) = (n, None);
    order.step_from(tx, start, |key, _| {
        if left == 0 {
            found = Some(key.clone());
            return Ok(false);
        }
        left -= 1;
        Ok(true)
    })?;
    Ok(found)
}

/// Counts `key`, just written to the sequence, in its block; a full block splits at its middle
/// user.
pub(super) fn added<O: Order>(txn: &WriteTxn, order: &O, key: &O::Key) -> Result<()> {
    let (start, count) = order.block_at(txn, key, false)?.unwrap_or((order.origin(), 0));
    let count = count + 1;
    let half = count / 2;
    // A block counting more users than there are stays whole: `check` says so.
    let middle = match count > MAX_BLOCK {
        true => nth_from(order, txn, &start, half)?,
        false => None,
    };
    match middle {
        Some(middle) => {
            order.set_block(txn, &start, Some(half))?;
            order.set_block(txn, &middle, Some(count - half))?;
        }
        None => order.set_block(txn, &start, Some(count))?,
    }
    Ok(())
}

/// Uncounts `key`, just removed from the sequence; a block left small joins the one before it.
pub(super) fn removed<O: Order>(txn: &WriteTxn, order: &O, key: &O::Key) -> Result<()> {
    let Some((start, count)) = order.block_at(txn, key, false)? else { return Ok(()) };
    let count = count.saturating_sub(1);
    match order.block_at(txn, &start, true)? {
        // An empty block always goes; an emptied first block stays, at the origin.
        Some((prev, prev_count)) if count == 0 || prev_count + count <= MAX_BLOCK / 2 => {
            order.set_block(txn, &start, None)?;
            order.set_block(txn, &prev, Some(prev_count + count))?;
        }
        _ => order.set_block(txn, &start, Some(count))?,
    }
    Ok(())
}

/// Where the `n`th (from 0) of the sequence's users at or after `key` is: the start of its
/// block and how many users of the block come before it. None when there are at most `n`.
pub(super) fn locate<O: Order>(
    tx: &impl Tx,
    order: &O,
    key: &O::Key,
    n: u64,
) -> Result<Option<(O::Key, u64)>> {
    let (start, within) = block_before(tx, order, key)?;
    let (mut before, n) = (0u64, within.saturating_add(n));
    for (start, count) in order.blocks(tx, &start)? {
        if n < before + count {
            return Ok(Some((start, n - before)));
        }
        before += count;
    }
    Ok(None)
}

/// Visits the ids of the sequence's users at or after `key`, from the `skip`th of them on, in
/// order, until `visit` says stop. Returns how many it skipped (fewer than `skip` when there are
/// fewer users).
pub(super) fn walk<O: Order>(
    tx: &impl Tx,
    order: &O,
    key: &O::Key,
    skip: u64,
    mut visit: impl FnMut(Uuid) -> Result<bool>,
) -> Result<u64> {
    let Some((start, mut rest)) = locate(tx, order, key, skip)? else {
        return Ok(count_from(tx, order, key)?.min(skip));
    };
    order.step_from(tx, &start, |_, id| {
        if rest > 0 {
            rest -= 1;
            return Ok(true);
        }
        visit(Uuid::from_u128(id))
    })?;
    // `rest` counts from the block's start, so it may exceed `skip` when the rows ran out early
    // (a damaged count, which `check` reports).
    Ok(skip.saturating_sub(rest))
}

/// Cuts every tenant's id-order sequences into blocks afresh, replacing what `USER_BLOCKS` held
/// (the schema 8 upgrade: on redb's own transaction, committed durably by the caller).
pub(super) fn rebuild(txn: &redb::WriteTransaction) -> Result<()> {
    // (tenant, space) -> its blocks so far.
    let mut rows: std::collections::BTreeMap<(u128, u8), Vec<(u128, u64)>> = Default::default();
    for row in txn.open_table(USERS)?.iter()? {
        let (key, bytes) = row?;
        let (t, id) = key.value();
        let user: super::records::User = super::codec::decode(bytes.value())?;
        for space in [Space::All, Space::Active(user.active)] {
            let blocks = rows.entry((t, space.code())).or_default();
            grow(blocks, id, 0);
        }
    }
    txn.delete_table(USER_BLOCKS)?;
    let mut table = txn.open_table(USER_BLOCKS)?;
    for ((t, s), blocks) in rows {
        for (start, count) in blocks {
            table.insert((t, s, start), count)?;
        }
    }
    Ok(())
}

/// Counts the next key of a sequence being cut into blocks: half full, as splitting leaves them,
/// so the next inserts do not split at once; the first block starts at `origin`.
fn grow<K>(blocks: &mut Vec<(K, u64)>, key: K, origin: K) {
    match blocks.last_mut() {
        Some((_, count)) if *count < MAX_BLOCK / 2 => *count += 1,
        Some(_) => blocks.push((key, 1)),
        None => blocks.push((origin, 1)),
    }
}

/// Cuts a sequence into blocks afresh, from the rows it steps through.
fn rebuild_order<O: Order>(txn: &WriteTxn, order: &O) -> Result<()> {
    let mut cut = Vec::new();
    order.step_from(txn, &order.origin(), |key, _| {
        grow(&mut cut, key.clone(), order.origin());
        Ok(true)
    })?;
    for (start, _) in order.blocks(txn, &order.origin())? {
        order.set_block(txn, &start, None)?;
    }
    for (start, count) in cut {
        order.set_block(txn, &start, Some(count))?;
    }
    Ok(())
}

/// Cuts the tenant's userName-order and modification-order sequences into blocks afresh, from
/// its `USER_INDEX` and `USER_ATTRS` (after a tenant import, and the schema 14 upgrade).
pub(super) fn rebuild_derived(txn: &WriteTxn, tenant: Uuid) -> Result<()> {
    for space in Space::EVERY {
        rebuild_order(txn, &by_name(tenant, space))?;
    }
    rebuild_order(txn, &by_modification(tenant))
}

/// Rebuilds every tenant's userName-order and modification-order blocks (the schema 14
/// upgrade).
pub(super) fn rebuild_all_derived(txn: &redb::WriteTransaction) -> Result<()> {
    // Every tenant that has users, a seek each.
    let (mut tenants, mut next) = (Vec::new(), Some(0u128));
    let users = txn.open_table(USERS)?;
    while let Some(from) = next.take() {
        if let Some(row) = users.range((from, 0)..)?.next() {
            let t = row?.0.value().0;
            tenants.push(Uuid::from_u128(t));
            next = t.checked_add(1);
        }
    }
    drop(users);
    let txn = WriteTxn::unrecorded(txn);
    for tenant in tenants {
        rebuild_derived(&txn, tenant)?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::txn::WriteTxn;
    use crate::store::{check, lifecycle, migrate, tenants, users};
    use redb::{Database, ReadableDatabase};

    /// A sequence positions are kept for, in one of the orders.
    #[derive(Debug, Clone, Copy)]
    enum Seq {
        Id(Space),
        Name(Space),
        Modified,
    }

    fn every() -> impl Iterator<Item = Seq> {
        Space::EVERY.into_iter().flat_map(|s| [Seq::Id(s), Seq::Name(s)]).chain([Seq::Modified])
    }

    /// The ids of a sequence from its `skip`th on: a whole walk when `skip` is 0.
    fn ids_from(db: &Database, t: Uuid, seq: Seq, skip: u64) -> Vec<Uuid> {
        let (read, mut ids, whole) = (db.begin_read().unwrap(), Vec::new(), skip == 0);
        let walk = match seq {
            Seq::Id(Space::All) => {
                users::scan(&read, t, skip, |u| {
                    ids.push(u.id);
                    Ok(whole)
                })
                .unwrap();
                return ids;
            }
            Seq::Id(Space::Active(on)) => users::Walk::Active(on),
            Seq::Name(Space::All) => users::Walk::Named(None),
            Seq::Name(Space::Active(on)) => users::Walk::Named(Some(on)),
            Seq::Modified => users::Walk::ModifiedFrom(0),
        };
        users::walk(&read, t, walk, skip, |id| {
            ids.push(id);
            Ok(whole)
        })
        .unwrap();
        ids
    }

    /// The sequence as it should be: its users, in its order.
    fn expected(db: &Database, t: Uuid, seq: Seq) -> Vec<Uuid> {
        let mut all: Vec<users::User> = Vec::new();
        users::scan(&db.begin_read().unwrap(), t, 0, |u| {
            all.push(u);
            Ok(true)
        })
        .unwrap();
        match seq {
            Seq::Id(space) | Seq::Name(space) => {
                all.retain(|u| space == Space::All || space == Space::Active(u.active));
            }
            Seq::Modified => all.sort_by_key(|u| (u.updated_at, u.id)),
        }
        if let Seq::Name(_) = seq {
            all.sort_by_key(|u| u.user_name.to_lowercase());
        }
        all.iter().map(|u| u.id).collect()
    }

    /// The block counts of a sequence, in order.
    fn counts(read: &redb::ReadTransaction, t: Uuid, seq: Seq) -> Vec<u64> {
        fn of<O: Order>(read: &redb::ReadTransaction, order: O) -> Vec<u64> {
            order.blocks(read, &order.origin()).unwrap().into_iter().map(|(_, n)| n).collect()
        }
        match seq {
            Seq::Id(space) => of(read, by_id(t, space)),
            Seq::Name(space) => of(read, by_name(t, space)),
            Seq::Modified => of(read, by_modification(t)),
        }
    }

    /// Every position of every sequence in every order answers as a walk from the start would,
    /// the blocks stay within their size, and `check` agrees with them.
    fn assert_positions(db: &Database, t: Uuid) {
        let read = db.begin_read().unwrap();
        for seq in every() {
            let ids = ids_from(db, t, seq, 0);
            assert_eq!(ids, expected(db, t, seq), "{seq:?}");
            for skip in (1..ids.len() + 3).step_by(97).chain([ids.len().saturating_sub(1)]) {
                let got = ids_from(db, t, seq, skip as u64);
                assert_eq!(got.first(), ids.get(skip), "{seq:?} skip {skip}");
            }
            let counts = counts(&read, t, seq);
            assert!(counts.iter().all(|n| *n <= MAX_BLOCK), "{counts:?}");
            assert_eq!(counts.iter().sum::<u64>(), ids.len() as u64, "{seq:?}");
        }
        // Ranks in modification order: the users modified at a time or later.
        let mut times: Vec<i64> = Vec::new();
        users::scan(&read, t, 0, |u| {
            times.push(u.updated_at);
            Ok(true)
        })
        .unwrap();
        for ms in [0, 1, 2, 3, 4, i64::MAX] {
            let want = times.iter().filter(|at| **at >= ms).count() as u64;
            assert_eq!(users::modified_from_count(&read, t, ms).unwrap(), want, "from {ms}");
        }
        assert_eq!(check::run(&read).unwrap().problems, Vec::<String>::new());
    }

    fn store() -> (tempfile::TempDir, Database) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("store.redb")).unwrap();
        migrate::to_current(&db, dir.path()).unwrap();
        (dir, db)
    }

    fn tenant(db: &Database, seats: u32) -> Uuid {
        let t = Uuid::now_v7();
        let txn = db.begin_write().unwrap();
        let tenant = tenants::Tenant::new(t, ("t", "t"), seats, 1);
        tenants::create(&WriteTxn::new(&txn), &tenant).unwrap();
        txn.commit().unwrap();
        t
    }

    #[test]
    fn positions_follow_creates_changes_and_deletes_in_any_id_order() {
        let (_dir, db) = store();
        let t = tenant(&db, 100_000);
        // Random ids land in the middle of blocks, so blocks split everywhere, not just last;
        // every third user starts inactive.
        let made: Vec<Uuid> = (0..5000).map(|_| Uuid::new_v4()).collect();
        let txn = db.begin_write().unwrap();
        for (i, id) in made.iter().enumerate() {
            let mut u = users::User::new(*id, format!("u{i}"), 1 + (i % 3) as i64);
            u.active = i % 3 != 0;
            lifecycle::create_user(&WriteTxn::new(&txn), t, &u).unwrap();
        }
        txn.commit().unwrap();
        let read = db.begin_read().unwrap();
        assert!(by_id(t, Space::All).blocks(&read, &0).unwrap().len() > 5);
        let named = by_name(t, Space::Active(true)).blocks(&read, &String::new()).unwrap();
        assert!(named.len() > 2);
        assert_positions(&db, t);

        // Deactivating and reactivating moves users between the active sequences; renaming
        // moves them in userName order, a change of case alone not at all.
        let txn = db.begin_write().unwrap();
        for (i, id) in made.iter().enumerate().step_by(5) {
            let mut u = users::get(&txn, t, *id).unwrap();
            u.active = !u.active;
            lifecycle::update_user(&WriteTxn::new(&txn), t, u, None, 2).unwrap();
            let mut u = users::get(&txn, t, made[i / 5]).unwrap();
            u.user_name = match i % 3 {
                0 => u.user_name.to_uppercase(),
                _ => format!("renamed-{}", 5000 - i),
            };
            lifecycle::update_user(&WriteTxn::new(&txn), t, u, None, 2).unwrap();
        }
        txn.commit().unwrap();
        assert_positions(&db, t);

        // Deleting most of them, every other one and then whole runs, merges blocks.
        let txn = db.begin_write().unwrap();
        for id in made.iter().step_by(2).chain(&made[1..4000]) {
            if users::get(&txn, t, *id).is_ok() {
                lifecycle::delete_user(&WriteTxn::new(&txn), t, *id, None, 3).unwrap();
            }
        }
        txn.commit().unwrap();
        assert_positions(&db, t);

        // Rebuilds (the schema 8 and 14 upgrades) give blocks that answer the same.
        let before: Vec<_> = every().map(|s| ids_from(&db, t, s, 0)).collect();
        let txn = db.begin_write().unwrap();
        rebuild(&txn).unwrap();
        rebuild_all_derived(&txn).unwrap();
        txn.commit().unwrap();
        let after: Vec<_> = every().map(|s| ids_from(&db, t, s, 0)).collect();
        assert_eq!(after, before);
        assert_positions(&db, t);
    }

    #[test]
    fn a_block_that_counts_wrong_is_reported_by_check() {
        let (_dir, db) = store();
        let t = tenant(&db, 10);
        let txn = db.begin_write().unwrap();
        lifecycle::create_user(
            &WriteTxn::new(&txn),
            t,
            &users::User::new(Uuid::now_v7(), "a".into(), 1),
        )
        .unwrap();
        txn.open_table(USER_BLOCKS).unwrap().insert((t.as_u128(), 2, 0), 2).unwrap();
        txn.commit().unwrap();
        let problems = check::run(&db.begin_read().unwrap()).unwrap().problems;
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("Active(true) at"), "{problems:?}");
        assert!(problems[0].contains("counts 2 users, holds 1"), "{problems:?}");

        // And one of the userName order: the inactive sequence, which has no users.
        let txn = db.begin_write().unwrap();
        txn.open_table(USER_BLOCKS).unwrap().insert((t.as_u128(), 2, 0), 1).unwrap();
        txn.open_table(NAME_BLOCKS).unwrap().insert((t.as_u128(), 1, ""), 3).unwrap();
        txn.commit().unwrap();
        let problems = check::run(&db.begin_read().unwrap()).unwrap().problems;
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("Active(false) at userName \"\""), "{problems:?}");
        assert!(problems[0].contains("counts 3 users, holds 0"), "{problems:?}");

        // And one of modification order.
        let txn = db.begin_write().unwrap();
        txn.open_table(NAME_BLOCKS).unwrap().remove((t.as_u128(), 1, "")).unwrap();
        txn.open_table(MODIFIED_BLOCKS).unwrap().insert((t.as_u128(), 0, 0), 5).unwrap();
        txn.commit().unwrap();
        let problems = check::run(&db.begin_read().unwrap()).unwrap().problems;
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("All at modification 0 "), "{problems:?}");
        assert!(problems[0].contains("counts 5 users, holds 1"), "{problems:?}");
    }
}
