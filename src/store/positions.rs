//! Positions in a tenant's users, so that a page at `startIndex` 900,000 does not step over
//! 900,000 records. redb's B-tree keeps no counts, so `USER_BLOCKS` keeps them beside it, for
//! each sequence a page walks (`Space`: all users, and the active and the inactive ones, each in
//! id (creation) order): the sequence cut into blocks of at most `MAX_BLOCK`, each row the
//! block's first id and how many users it holds. A sequence's first block starts at id 0, so
//! every id falls in the block of the greatest start at or below it. Finding the nth user sums
//! block counts (a thousand small rows at a million users), then steps within one block.

use redb::ReadableTable;
use uuid::Uuid;

use super::error::Result;
use super::tables::{USER_ATTRS, USER_BLOCKS, USERS};
use super::txn::{Tx, WriteTxn};

/// A block that grows past this splits in two; small enough that the step within one is short,
/// large enough that a million users make about a thousand rows.
pub(super) const MAX_BLOCK: u64 = 1024;

/// A sequence of a tenant's users that positions are kept for, in id order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Space {
    /// Every user (`USERS`).
    All,
    /// The users with this `active` (`USER_ATTRS` family 0).
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

    /// The id of the sequence's `n`th user (from 0) at or after `start`.
    fn nth_from(self, tx: &impl Tx, t: u128, start: u128, n: u64) -> Result<Option<u128>> {
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        let row = match self {
            Space::All => match tx.table(USERS)?.range((t, start)..=(t, u128::MAX))?.nth(n) {
                Some(row) => Some(row?.0.value().1),
                None => None,
            },
            Space::Active(on) => {
                let (from, to) = ((t, 0, u64::from(on), start), (t, 0, u64::from(on), u128::MAX));
                match tx.table(USER_ATTRS)?.range(from..=to)?.nth(n) {
                    Some(row) => Some(row?.0.value().3),
                    None => None,
                }
            }
        };
        Ok(row)
    }
}

/// The block holding `id`: its start and count (None if the sequence has no blocks yet).
fn block_of(
    table: &impl ReadableTable<(u128, u8, u128), u64>,
    (t, space): (u128, u8),
    id: u128,
) -> Result<Option<(u128, u64)>> {
    match table.range((t, space, 0)..=(t, space, id))?.next_back() {
        Some(row) => {
            let (key, count) = row?;
            Ok(Some((key.value().2, count.value())))
        }
        None => Ok(None),
    }
}

/// Counts `id`, just written to the sequence's table, in its block; a full block splits at its
/// middle user.
pub(super) fn added(txn: &WriteTxn, tenant: Uuid, space: Space, id: Uuid) -> Result<()> {
    let (t, id, s) = (tenant.as_u128(), id.as_u128(), space.code());
    let mut blocks = txn.open_table(USER_BLOCKS)?;
    let (start, count) = block_of(&*blocks, (t, s), id)?.unwrap_or((0, 0));
    let count = count + 1;
    let half = count / 2;
    // A block counting more users than there are stays whole: `check` says so.
    let middle = match count > MAX_BLOCK {
        true => space.nth_from(txn, t, start, half)?,
        false => None,
    };
    match middle {
        Some(middle) => {
            blocks.insert((t, s, start), half)?;
            blocks.insert((t, s, middle), count - half)?;
        }
        None => {
            blocks.insert((t, s, start), count)?;
        }
    }
    Ok(())
}

/// Uncounts `id`, just removed from the sequence; a block left small joins the one before it.
pub(super) fn removed(txn: &WriteTxn, tenant: Uuid, space: Space, id: Uuid) -> Result<()> {
    let (t, id, s) = (tenant.as_u128(), id.as_u128(), space.code());
    let mut blocks = txn.open_table(USER_BLOCKS)?;
    let Some((start, count)) = block_of(&*blocks, (t, s), id)? else { return Ok(()) };
    let count = count.saturating_sub(1);
    let before = match start {
        0 => None,
        _ => block_of(&*blocks, (t, s), start - 1)?,
    };
    match before {
        // An empty block always goes; an emptied first block stays, at 0.
        Some((prev, prev_count)) if count == 0 || prev_count + count <= MAX_BLOCK / 2 => {
            blocks.remove((t, s, start))?;
            blocks.insert((t, s, prev), prev_count + count)?;
        }
        _ => {
            blocks.insert((t, s, start), count)?;
        }
    }
    Ok(())
}

/// Where the sequence's `n`th user (from 0) is: the start of its block and how many users of
/// the block come before it. None when the sequence has at most `n` users.
pub(super) fn locate(
    tx: &impl Tx,
    tenant: Uuid,
    space: Space,
    n: u64,
) -> Result<Option<(u128, u64)>> {
    let (t, s) = (tenant.as_u128(), space.code());
    let mut before = 0u64;
    for row in tx.table(USER_BLOCKS)?.range((t, s, 0)..=(t, s, u128::MAX))? {
        let (key, count) = row?;
        let count = count.value();
        if n < before + count {
            return Ok(Some((key.value().2, n - before)));
        }
        before += count;
    }
    Ok(None)
}

/// Cuts every tenant's sequences into blocks afresh, replacing what `USER_BLOCKS` held (the
/// schema 8 upgrade).
/// Rebuilds the blocks from the users (a migration: on redb's own transaction, committed
/// durably by the caller).
pub(super) fn rebuild(txn: &redb::WriteTransaction) -> Result<()> {
    // (tenant, space) -> its blocks so far.
    let mut rows: std::collections::BTreeMap<(u128, u8), Vec<(u128, u64)>> = Default::default();
    for row in txn.open_table(USERS)?.iter()? {
        let (key, bytes) = row?;
        let (t, id) = key.value();
        let user: super::records::User = super::codec::decode(bytes.value())?;
        for space in [Space::All, Space::Active(user.active)] {
            let blocks = rows.entry((t, space.code())).or_default();
            match blocks.last_mut() {
                // Half full, as splitting leaves them, so the next inserts do not split at once.
                Some((_, count)) if *count < MAX_BLOCK / 2 => *count += 1,
                Some(_) => blocks.push((id, 1)),
                None => blocks.push((0, 1)),
            }
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

/// The sequence's blocks, in order: (start, count). For `check`.
pub(super) fn blocks(tx: &impl Tx, tenant: Uuid, space: Space) -> Result<Vec<(u128, u64)>> {
    let (t, s) = (tenant.as_u128(), space.code());
    let mut out = Vec::new();
    for row in tx.table(USER_BLOCKS)?.range((t, s, 0)..=(t, s, u128::MAX))? {
        let (key, count) = row?;
        out.push((key.value().2, count.value()));
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::txn::WriteTxn;
    use crate::store::{check, lifecycle, migrate, tenants, users};
    use redb::{Database, ReadableDatabase};

    /// The ids of a sequence from its `skip`th on: a whole walk when `skip` is 0.
    fn ids_from(db: &Database, t: Uuid, space: Space, skip: u64, whole: bool) -> Vec<Uuid> {
        let (read, mut ids) = (db.begin_read().unwrap(), Vec::new());
        match space {
            Space::All => users::scan(&read, t, skip, |u| {
                ids.push(u.id);
                Ok(whole)
            })
            .unwrap(),
            Space::Active(on) => {
                users::walk(&read, t, users::Walk::Active(on), skip, |id| {
                    ids.push(id);
                    Ok(whole)
                })
                .unwrap();
            }
        }
        ids
    }

    /// Every position of every sequence answers as a walk from the start would, the blocks
    /// stay within their size, and `check` agrees with them.
    fn assert_positions(db: &Database, t: Uuid) {
        let read = db.begin_read().unwrap();
        for space in Space::EVERY {
            let ids = ids_from(db, t, space, 0, true);
            for skip in (0..ids.len() + 3).step_by(97).chain([ids.len().saturating_sub(1)]) {
                let got = ids_from(db, t, space, skip as u64, false);
                assert_eq!(got.first(), ids.get(skip), "{space:?} skip {skip}");
            }
            let stored = blocks(&read, t, space).unwrap();
            assert!(stored.iter().all(|(_, n)| *n <= MAX_BLOCK), "{stored:?}");
            assert_eq!(stored.iter().map(|(_, n)| n).sum::<u64>(), ids.len() as u64);
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
            let mut u = users::User::new(*id, format!("u{i}"), 1);
            u.active = i % 3 != 0;
            lifecycle::create_user(&WriteTxn::new(&txn), t, &u).unwrap();
        }
        txn.commit().unwrap();
        assert!(blocks(&db.begin_read().unwrap(), t, Space::All).unwrap().len() > 5);
        assert_positions(&db, t);

        // Deactivating and reactivating moves users between the active sequences.
        let txn = db.begin_write().unwrap();
        for id in made.iter().step_by(5) {
            let mut u = users::get(&txn, t, *id).unwrap();
            u.active = !u.active;
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

        // A rebuild (the schema 8 upgrade) gives blocks that answer the same.
        let before: Vec<_> = Space::EVERY.map(|s| ids_from(&db, t, s, 0, true)).into();
        let txn = db.begin_write().unwrap();
        rebuild(&txn).unwrap();
        txn.commit().unwrap();
        let after: Vec<_> = Space::EVERY.map(|s| ids_from(&db, t, s, 0, true)).into();
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
    }
}
