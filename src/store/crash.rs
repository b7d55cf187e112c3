//! Power losses where they bite, on a disk that loses what was never synced (`volatile`): rounds
//! of concurrent mutations (creates, updates, refused duplicates, member adds) on the real store
//! and writer, then the power goes at a random point: while writes run (a random part of the
//! store file's unsynced writes survive), inside a log append (torn at a sector), inside a sync of
//! the store file (a checkpoint), and also during the replay of the next open. After each loss the
//! store opens on a new disk and must hold every acknowledged mutation with its value, nothing
//! that was refused, every member acknowledged, no feed gap, counters equal to recounts (`check`).
//! Then a damaged record in the middle of a log is refused, never replayed.
//!
//! Rounds: `WHOOT_CRASH_ROUNDS` (default 24, about 20 s in a debug build); the seed is printed
//! and `WHOOT_CRASH_SEED` replays one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::disk::Disk;
use super::error::Error;
use super::lifecycle;
use super::rooms::{self, Eligible, Room};
use super::tenants::{self, Tenant};
use super::users::{self, User};
use super::volatile::{Cut, Power};
use super::{DEFAULT_CACHE_BYTES, Store, check};

const WORKERS: u64 = 4;

/// What a mutation's answer allows the store to hold after the loss.
#[derive(Default)]
struct Expect {
    /// Per user: the display names it may have; None: absent.
    users: BTreeMap<Uuid, BTreeSet<Option<String>>>,
    /// Members whose add was acknowledged.
    members: BTreeSet<Uuid>,
    acknowledged: u64,
}

fn open(dir: &Path, power: &Arc<Power>) -> super::error::Result<Store> {
    let disk = Disk::Volatile(power.clone());
    Ok(Store::open_replaying(dir, DEFAULT_CACHE_BYTES, false, disk)?.0)
}

fn now() -> i64 {
    crate::time::now_ms()
}

/// A refusal means the mutation did not happen; any other error, that it may have.
fn refused(e: &Error) -> bool {
    matches!(e, Error::Refused(_))
}

/// One worker's mutations until the power goes; returns what it may expect.
async fn work(store: Store, power: Arc<Power>, tenant: Uuid, room: Uuid, w: u64) -> Expect {
    let mut ex = Expect::default();
    let mut mine: Vec<Uuid> = Vec::new();
    let mut i = 0u64;
    while !power.is_dead() && i < 5_000 {
        i += 1;
        let pick = mine.get((i as usize / 4) % mine.len().max(1)).copied();
        match (i % 4, pick) {
            (1, _) | (_, None) => {
                let id = Uuid::now_v7();
                let mut user = User::new(id, format!("w{w}-{i}"), now());
                user.display_name = Some("v0".into());
                let r = store.write(move |txn| lifecycle::create_user(txn, tenant, &user)).await;
                let may = ex.users.entry(id).or_default();
                match r {
                    Ok(_) => {
                        may.insert(Some("v0".into()));
                        mine.push(id);
                        ex.acknowledged += 1;
                    }
                    Err(e) if refused(&e) => panic!("a create was refused: {e}"),
                    Err(_) => {
                        may.extend([None, Some("v0".into())]);
                    }
                }
            }
            (2, Some(id)) => {
                let value = format!("v{i}");
                let v = value.clone();
                let r = store
                    .write(move |txn| {
                        let mut user = users::get(txn, tenant, id)?;
                        user.display_name = Some(v.clone());
                        lifecycle::update_user(txn, tenant, user, None, now()).map(|_| ())
                    })
                    .await;
                let may = ex.users.entry(id).or_default();
                match r {
                    Ok(()) => {
                        *may = BTreeSet::from([Some(value)]);
                        ex.acknowledged += 1;
                    }
                    Err(e) if refused(&e) => panic!("an update was refused: {e}"),
                    Err(_) => {
                        may.insert(Some(value));
                    }
                }
            }
            (3, Some(of)) => {
                // The same user name again: refused inside its batch, never stored.
                let id = Uuid::now_v7();
                let name = match store.read(move |tx| users::get(tx, tenant, of)).await {
                    Ok(user) => user.user_name,
                    Err(_) => continue,
                };
                let user = User::new(id, name, now());
                let r = store.write(move |txn| lifecycle::create_user(txn, tenant, &user)).await;
                ex.users.entry(id).or_default().insert(None);
                match r {
                    Ok(_) => panic!("a duplicate user name was accepted"),
                    Err(e) if refused(&e) => ex.acknowledged += 1,
                    Err(_) => {}
                }
            }
            (_, Some(id)) => {
                let r = store
                    .write(move |txn| {
                        rooms::add_member(txn, tenant, room, id, None, Eligible::Active, now())
                    })
                    .await;
                match r {
                    Ok(_) => {
                        ex.members.insert(id);
                        ex.acknowledged += 1;
                    }
                    Err(e) if refused(&e) => panic!("a member add was refused: {e}"),
                    Err(_) => {}
                }
            }
        }
    }
    ex
}

/// Opens the store after a loss (perhaps losing power again during the replay) and checks it
/// against what was acknowledged; then what it holds is what the next rounds must keep.
fn verify(dir: &Path, seed: &mut u64, ex: &mut Expect, tenant: Uuid, room: Uuid) -> Store {
    let mut next = || {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    };
    if next() % 3 == 0 {
        let power = Power::new(next());
        let cut = if next() % 2 == 0 { Cut::StoreSync(1) } else { Cut::LogWrite(1) };
        power.arm(cut);
        // Lost during the replay: the open fails, or it succeeded before the cut was due.
        if let Ok(store) = open(dir, &power) {
            power.cut_now();
            drop(store);
        }
    }
    let store = open(dir, &Power::new(next())).expect("the store opens after a power loss");
    store
        .read_here(|tx| {
            for (id, may) in &mut ex.users {
                let found = match users::get(tx, tenant, *id) {
                    Ok(user) => Some(user.display_name.unwrap_or_default()),
                    Err(e) if e.is_not_found() => None,
                    Err(e) => return Err(e),
                };
                assert!(may.contains(&found), "user {id}: {found:?}, expected one of {may:?}");
                *may = BTreeSet::from([found]);
            }
            for id in &ex.members {
                assert!(
                    rooms::membership(tx, tenant, room, *id)?.is_some(),
                    "acknowledged member {id} is missing"
                );
            }
            let report = check::run(tx)?;
            assert_eq!(report.problems, Vec::<String>::new());
            Ok(())
        })
        .unwrap();
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_write_is_lost_when_the_power_goes() {
    let rounds: u64 =
        std::env::var("WHOOT_CRASH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(24);
    let mut seed: u64 = std::env::var("WHOOT_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| now() as u64 | 1);
    eprintln!("crash test: seed {seed}, {rounds} rounds");
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let (tenant, room) = (Uuid::now_v7(), Uuid::now_v7());
    let power = Power::new(rand());
    let mut store = open(&dir, &power).unwrap();
    let t = Tenant::new(tenant, ("crash", "Crash"), 1_000_000, now());
    store.write(move |txn| tenants::create(txn, &t)).await.unwrap();
    let r = Room::new(room, "ops", now());
    store.write(move |txn| rooms::create(txn, tenant, &r)).await.unwrap();

    let (mut all, mut acknowledged, mut kinds) = (Expect::default(), 0u64, BTreeMap::new());
    let mut unsynced = [0usize; 3];
    let mut power = power;
    let mut verify_seed = rand();
    for round in 0..rounds {
        let every = 1 + rand() % 24;
        store.set_checkpoints(every, Duration::from_millis(1 + rand() % 50));
        let cut = match round % 3 {
            0 => None,
            1 => Some(Cut::LogWrite(1 + (rand() % 40) as u32)),
            _ => Some(Cut::StoreSync(1 + (rand() % 6) as u32)),
        };
        if let Some(cut) = cut {
            power.arm(cut);
        }
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| tokio::spawn(work(store.clone(), power.clone(), tenant, room, w + 10 * round)))
            .collect();
        // An armed cut that does not come in time, or none armed: the power goes now.
        let deadline = Instant::now() + Duration::from_millis(40 + rand() % 300);
        while !power.is_dead() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let how = match (cut, power.is_dead()) {
            (Some(Cut::LogWrite(_)), true) => "inside a log append",
            (Some(Cut::StoreSync(_)), true) => "inside a sync of the store file",
            _ => "while writes ran",
        };
        power.cut_now();
        *kinds.entry(how).or_insert(0u32) += 1;
        let (kept, dropped, torn) = power.report();
        unsynced[0] += kept;
        unsynced[1] += dropped;
        unsynced[2] += torn;
        for w in workers {
            let ex = w.await.unwrap();
            acknowledged += ex.acknowledged;
            all.users.extend(ex.users);
            all.members.extend(ex.members);
        }
        drop(store);
        let dir2 = dir.clone();
        let mut s = verify_seed;
        let tenant_room = (tenant, room);
        let reopened = tokio::task::spawn_blocking(move || {
            let store = verify(&dir2, &mut s, &mut all, tenant_room.0, tenant_room.1);
            (store, all, s)
        })
        .await
        .unwrap();
        (store, all, verify_seed) = reopened;
        power = Power::new(rand());
        // The next round writes on the new disk: reopen the store on it.
        drop(store);
        store = open(&dir, &power).unwrap();
    }
    eprintln!(
        "crash test: {rounds} power losses ({kinds:?}), {acknowledged} acknowledged mutations, \
         none lost; unsynced writes of the store file at the losses: {} kept, {} dropped, {} torn",
        unsynced[0], unsynced[1], unsynced[2]
    );
    assert!(acknowledged > rounds, "the rounds did some work: {acknowledged}");
    drop(store);
}

/// A record in the middle of the log damaged on the disk: the open refuses and names the range,
/// it does not replay the part before and serve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_record_in_the_middle_is_refused_after_a_power_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let power = Power::new(7);
    let store = open(&dir, &power).unwrap();
    store.set_checkpoints(u64::MAX, Duration::from_secs(3600));
    let tenant = Uuid::now_v7();
    let t = Tenant::new(tenant, ("damage", "Damage"), 100, now());
    store.write(move |txn| tenants::create(txn, &t)).await.unwrap();
    for i in 0..9 {
        let user = User::new(Uuid::now_v7(), format!("u{i}"), now());
        store
            .write(move |txn| lifecycle::create_user(txn, tenant, &user).map(|_| ()))
            .await
            .unwrap();
    }
    power.cut_now();
    drop(store);
    let log = dir.join(super::wal::LOG_FILE);
    let mut bytes = std::fs::read(&log).unwrap();
    // Page 0: the round's header; page 3: the third write of the ten (a tenant, nine users).
    bytes[3 * 4096 + 20] ^= 1;
    std::fs::write(&log, &bytes).unwrap();
    let why = open(&dir, &Power::new(8)).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(why.contains("writes 3..=10"), "{why}");
}
