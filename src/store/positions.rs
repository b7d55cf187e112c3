//! Positions in a tenant's users, so that a page at `startIndex` 900,000 does not step over
//! 900,000 records. redb's B-tree keeps no counts, so `USER_BLOCKS` keeps them beside it: the
//! tenant's users, in id (creation) order, cut into blocks of at most `MAX_BLOCK`, each row the
//! block's first id and how many users it holds. The first block starts at id 0, so every id
//! falls in the block of the greatest start at or below it. Finding the nth user sums block
//! counts (a thousand small rows at a million users), then steps within one block.

use redb::{ReadableTable, WriteTransaction};
use uuid::Uuid;

use super::tables::{USER_BLOCKS, USERS};
use super::{Result, Tx};

/// A block that grows past this splits in two; small enough that the step within one is short,
/// large enough that a million users make about a thousand rows.
pub(super) const MAX_BLOCK: u64 = 1024;

/// The block holding `id`: its start and count (None if the tenant has no blocks yet).
fn block_of(
    table: &impl ReadableTable<(u128, u128), u64>,
    t: u128,
    id: u128,
) -> Result<Option<(u128, u64)>> {
    match table.range((t, 0)..=(t, id))?.next_back() {
        Some(row) => {
            let (key, count) = row?;
            Ok(Some((key.value().1, count.value())))
        }
        None => Ok(None),
    }
}

/// Counts `id`, just written to `USERS`, in its block; a full block splits at its middle user.
pub(super) fn added(txn: &WriteTransaction, tenant: Uuid, id: Uuid) -> Result<()> {
    let (t, id) = (tenant.as_u128(), id.as_u128());
    let mut blocks = txn.open_table(USER_BLOCKS)?;
    let (start, count) = block_of(&blocks, t, id)?.unwrap_or((0, 0));
    let count = count + 1;
    if count <= MAX_BLOCK {
        blocks.insert((t, start), count)?;
        return Ok(());
    }
    let half = count / 2;
    let middle = {
        let users = txn.open_table(USERS)?;
        let mut from_middle = users.range((t, start)..=(t, u128::MAX))?.skip(half as usize);
        match from_middle.next() {
            Some(row) => row?.0.value().1,
            // The block counts more users than there are: keep counting, `check` says so.
            None => {
                blocks.insert((t, start), count)?;
                return Ok(());
            }
        }
    };
    blocks.insert((t, start), half)?;
    blocks.insert((t, middle), count - half)?;
    Ok(())
}

/// Uncounts `id`, just removed from `USERS`; a block left small joins the one before it.
pub(super) fn removed(txn: &WriteTransaction, tenant: Uuid, id: Uuid) -> Result<()> {
    let (t, id) = (tenant.as_u128(), id.as_u128());
    let mut blocks = txn.open_table(USER_BLOCKS)?;
    let Some((start, count)) = block_of(&blocks, t, id)? else { return Ok(()) };
    let count = count.saturating_sub(1);
    let before = match start {
        0 => None,
        _ => block_of(&blocks, t, start - 1)?,
    };
    match before {
        // An empty block always goes; an emptied start-of-tenant block stays, at 0.
        Some((prev, prev_count)) if count == 0 || prev_count + count <= MAX_BLOCK / 2 => {
            blocks.remove((t, start))?;
            blocks.insert((t, prev), prev_count + count)?;
        }
        _ => {
            blocks.insert((t, start), count)?;
        }
    }
    Ok(())
}

/// Where the tenant's `n`th user (from 0, creation order) is: the start of its block and how
/// many users of the block come before it. None when the tenant has at most `n` users.
pub(super) fn locate(tx: &impl Tx, tenant: Uuid, n: u64) -> Result<Option<(u128, u64)>> {
    let t = tenant.as_u128();
    let mut before = 0u64;
    for row in tx.table(USER_BLOCKS)?.range((t, 0)..=(t, u128::MAX))? {
        let (key, count) = row?;
        let count = count.value();
        if n < before + count {
            return Ok(Some((key.value().1, n - before)));
        }
        before += count;
    }
    Ok(None)
}

/// Cuts every tenant's users into blocks afresh, replacing what `USER_BLOCKS` held (the
/// schema 8 upgrade).
pub(super) fn rebuild(txn: &WriteTransaction) -> Result<()> {
    let mut rows: Vec<(u128, u128, u64)> = Vec::new();
    for row in txn.open_table(USERS)?.iter()? {
        let (t, id) = row?.0.value();
        match rows.last_mut() {
            // Half full, as splitting leaves them, so the next inserts do not split at once.
            Some((tenant, _, count)) if *tenant == t && *count < MAX_BLOCK / 2 => *count += 1,
            Some((tenant, _, _)) if *tenant == t => rows.push((t, id, 1)),
            _ => rows.push((t, 0, 1)),
        }
    }
    txn.delete_table(USER_BLOCKS)?;
    let mut blocks = txn.open_table(USER_BLOCKS)?;
    for (t, start, count) in rows {
        blocks.insert((t, start), count)?;
    }
    Ok(())
}

/// The tenant's blocks, in order: (start, count). For `check`.
pub(super) fn blocks(tx: &impl Tx, tenant: Uuid) -> Result<Vec<(u128, u64)>> {
    let t = tenant.as_u128();
    let mut out = Vec::new();
    for row in tx.table(USER_BLOCKS)?.range((t, 0)..=(t, u128::MAX))? {
        let (key, count) = row?;
        out.push((key.value().1, count.value()));
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::{check, migrate, tenants, users};
    use redb::{Database, ReadableDatabase};

    fn ids_in_order(db: &Database, t: Uuid) -> Vec<Uuid> {
        let mut ids = Vec::new();
        users::scan(&db.begin_read().unwrap(), t, 0, |u| {
            ids.push(u.id);
            Ok(true)
        })
        .unwrap();
        ids
    }

    fn first_from(db: &Database, t: Uuid, skip: u64) -> Option<Uuid> {
        let mut first = None;
        users::scan(&db.begin_read().unwrap(), t, skip, |u| {
            first = Some(u.id);
            Ok(false)
        })
        .unwrap();
        first
    }

    /// Every position answers as a walk from the start would, the blocks stay within their
    /// size, and `check` agrees with them.
    fn assert_positions(db: &Database, t: Uuid) {
        let ids = ids_in_order(db, t);
        for skip in (0..ids.len() + 3).step_by(97).chain([ids.len().saturating_sub(1)]) {
            assert_eq!(first_from(db, t, skip as u64), ids.get(skip).copied(), "skip {skip}");
        }
        let read = db.begin_read().unwrap();
        let stored = blocks(&read, t).unwrap();
        assert!(stored.iter().all(|(_, n)| *n <= MAX_BLOCK), "{stored:?}");
        assert_eq!(stored.iter().map(|(_, n)| n).sum::<u64>(), ids.len() as u64);
        assert_eq!(check::run(&read).unwrap().problems, Vec::<String>::new());
    }

    #[test]
    fn positions_follow_creates_and_deletes_in_any_id_order() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("store.redb")).unwrap();
        migrate::to_current(&db, dir.path()).unwrap();
        let t = Uuid::now_v7();
        let txn = db.begin_write().unwrap();
        let tenant = tenants::Tenant {
            id: t,
            slug: "t".into(),
            name: "t".into(),
            seat_capacity: 100_000,
            rate_limit_per_minute: None,
            owner_user_id: None,
            created_at: 1,
        };
        tenants::create(&txn, &tenant).unwrap();
        // Random ids land in the middle of blocks, so blocks split everywhere, not just last.
        let made: Vec<Uuid> = (0..5000).map(|_| Uuid::new_v4()).collect();
        for (i, id) in made.iter().enumerate() {
            users::create(&txn, t, &users::User::new(*id, format!("u{i}"), 1)).unwrap();
        }
        txn.commit().unwrap();
        assert!(blocks(&db.begin_read().unwrap(), t).unwrap().len() > 5);
        assert_positions(&db, t);

        // Deleting most of them, every other one and then whole runs, merges blocks.
        let txn = db.begin_write().unwrap();
        for id in made.iter().step_by(2).chain(&made[1..4000]) {
            if users::get(&txn, t, *id).is_ok() {
                users::delete(&txn, t, *id, None, 2).unwrap();
            }
        }
        txn.commit().unwrap();
        assert_positions(&db, t);

        // A rebuild (the schema 8 upgrade) gives blocks that answer the same.
        let before = ids_in_order(&db, t);
        let txn = db.begin_write().unwrap();
        rebuild(&txn).unwrap();
        txn.commit().unwrap();
        assert_eq!(ids_in_order(&db, t), before);
        assert_positions(&db, t);
    }

    #[test]
    fn a_block_that_counts_wrong_is_reported_by_check() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("store.redb")).unwrap();
        migrate::to_current(&db, dir.path()).unwrap();
        let t = Uuid::now_v7();
        let txn = db.begin_write().unwrap();
        let tenant = tenants::Tenant {
            id: t,
            slug: "t".into(),
            name: "t".into(),
            seat_capacity: 10,
            rate_limit_per_minute: None,
            owner_user_id: None,
            created_at: 1,
        };
        tenants::create(&txn, &tenant).unwrap();
        users::create(&txn, t, &users::User::new(Uuid::now_v7(), "a".into(), 1)).unwrap();
        txn.open_table(USER_BLOCKS).unwrap().insert((t.as_u128(), 0), 2).unwrap();
        txn.commit().unwrap();
        let problems = check::run(&db.begin_read().unwrap()).unwrap().problems;
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("counts 2 users, holds 1"), "{problems:?}");
    }
}
