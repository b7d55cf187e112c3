//! The single writer thread and its group commit.
//!
//! Mutations that arrive while a commit is in flight queue up; the writer takes all of them into
//! the next write transaction and pays one fsync for the lot. Each mutation still succeeds or
//! fails on its own: redb cannot roll back part of a transaction, so when a mutation fails the
//! transaction is aborted, that mutation is answered with its error, and the batch is replayed
//! without it. Mutations are deterministic given the state they see, so the replayed ones reach
//! the same results they did the first time.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use redb::{Database, TableDefinition, WriteTransaction};
use tokio::sync::{mpsc, oneshot};

use super::{Error, Failure, Handle, MutationError, Result, WriterStats};

/// While the disk refuses writes, how often the writer reopens the store and tries one.
const RECOVER_EVERY: Duration = Duration::from_secs(1);
/// How long reopening waits for in-flight reads to let go of the old database.
const READERS_GONE: Duration = Duration::from_secs(5);
/// Where the writer's probe write goes (the table is removed in the same transaction).
const PROBE: TableDefinition<u8, &[u8]> = TableDefinition::new("write_probe");

/// Most mutations folded into one commit; bounds the replay cost of a failure.
const MAX_BATCH: usize = 256;

pub(super) trait Job: Send {
    /// Runs the mutation in `txn`; false means it failed and `txn` must be discarded.
    fn run(&mut self, txn: &WriteTransaction) -> bool;
    /// Whether it failed because the disk refused a write (then no replay can succeed).
    fn failed_on_io(&self) -> bool;
    /// Answers the caller: with its own outcome if the batch committed, else with `commit`'s error.
    fn finish(self: Box<Self>, commit: Result<()>);
}

struct Op<T, E, F> {
    op: F,
    outcome: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
}

pub(super) fn job<T, E, F>(op: F, reply: oneshot::Sender<Result<T, E>>) -> Box<dyn Job>
where
    T: Send + 'static,
    E: MutationError,
    F: Fn(&WriteTransaction) -> Result<T, E> + Send + 'static,
{
    Box::new(Op { op, outcome: None, reply })
}

impl<T: Send, E: MutationError, F: Fn(&WriteTransaction) -> Result<T, E> + Send> Job
    for Op<T, E, F>
{
    fn run(&mut self, txn: &WriteTransaction) -> bool {
        let outcome = (self.op)(txn);
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn failed_on_io(&self) -> bool {
        self.outcome.as_ref().is_some_and(|o| o.as_ref().is_err_and(E::is_io))
    }

    fn finish(self: Box<Self>, commit: Result<()>) {
        let answer = match commit {
            Ok(()) => self.outcome.unwrap_or(Err(E::from(Error::Failed(Failure::Unavailable)))),
            Err(e) => Err(E::from(e)),
        };
        // The caller may have gone away (client disconnected); nothing to do then.
        let _ = self.reply.send(answer);
    }
}

pub(super) fn spawn(
    handle: Arc<Handle>,
    mut queue: mpsc::UnboundedReceiver<Box<dyn Job>>,
    stats: Arc<WriterStats>,
    committed: tokio::sync::watch::Sender<u64>,
) -> Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || {
            while let Some(first) = next(&mut queue, &handle) {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match queue.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                if !handle.writable() {
                    fail_all(batch, unwritable());
                    continue;
                }
                let outcome = match handle.get() {
                    Ok(db) => commit_batch(&db, batch, &stats),
                    Err(e) => {
                        fail_all(batch, e);
                        Outcome::Io
                    }
                };
                match outcome {
                    Outcome::Committed => committed.send_modify(|n| *n += 1),
                    Outcome::Nothing => {}
                    Outcome::Io => {
                        handle.writable.store(false, Ordering::Relaxed);
                        tracing::error!(
                            "the disk refused a write; writes answer 503 until one succeeds again"
                        );
                    }
                }
            }
        })
        .map_err(|e| Error::Failed(Failure::Storage(format!("starting the writer thread: {e}"))))
}

fn unwritable() -> Error {
    Error::Failed(Failure::Io {
        why: "the disk refuses writes (full?); retry when space is freed",
        source: None,
    })
}

/// The next mutation. While the store is unwritable, it also reopens the store and tries a
/// write every `RECOVER_EVERY`, so it recovers by itself once space is back.
fn next(
    queue: &mut mpsc::UnboundedReceiver<Box<dyn Job>>,
    handle: &Handle,
) -> Option<Box<dyn Job>> {
    let mut last_try: Option<Instant> = None;
    loop {
        if handle.writable() {
            return queue.blocking_recv();
        }
        if last_try.is_none_or(|t| t.elapsed() >= RECOVER_EVERY) {
            last_try = Some(Instant::now());
            if recover(handle) {
                tracing::info!("the disk takes writes again; the store is writable");
                handle.writable.store(true, Ordering::Relaxed);
                continue;
            }
        }
        match queue.try_recv() {
            Ok(job) => return Some(job),
            Err(mpsc::error::TryRecvError::Disconnected) => return None,
            Err(mpsc::error::TryRecvError::Empty) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Closes the database (once readers let go of it), opens it again, and tries a write that
/// allocates pages: true once that commits.
fn recover(handle: &Handle) -> bool {
    let mut slot = handle.db.write();
    if let Some(mut old) = slot.take() {
        let deadline = Instant::now() + READERS_GONE;
        loop {
            match Arc::try_unwrap(old) {
                Ok(db) => {
                    drop(db);
                    break;
                }
                Err(still) if Instant::now() < deadline => {
                    old = still;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(still) => {
                    *slot = Some(still);
                    return false;
                }
            }
        }
    }
    let db = match Database::create(&handle.path) {
        Ok(db) => db,
        Err(e) => {
            tracing::debug!(error = %e, "reopening the store failed");
            return false;
        }
    };
    let probed = (|| -> Result<()> {
        let txn = db.begin_write()?;
        txn.open_table(PROBE)?.insert(0, [0u8; 64 * 1024].as_slice())?;
        txn.delete_table(PROBE)?;
        txn.commit()?;
        Ok(())
    })();
    *slot = Some(Arc::new(db));
    if let Err(e) = &probed {
        tracing::debug!(error = %e, "the disk still refuses writes");
    }
    probed.is_ok()
}

enum Outcome {
    Committed,
    Nothing,
    /// The disk refused a write: nothing committed, and every mutation was answered so.
    Io,
}

fn commit_batch(db: &Database, mut batch: Vec<Box<dyn Job>>, stats: &WriterStats) -> Outcome {
    let started = std::time::Instant::now();
    'attempt: while !batch.is_empty() {
        let txn = match db.begin_write() {
            Ok(txn) => txn,
            Err(e) => {
                let e = Error::from(e);
                let io = e.is_io();
                fail_all(batch, e);
                return if io { Outcome::Io } else { Outcome::Nothing };
            }
        };
        if let Some(failed) = batch.iter_mut().position(|job| !job.run(&txn)) {
            // Dropping an uncommitted transaction aborts it; the failed mutation's writes and
            // everyone else's go with it, and the others are replayed, unless the disk failed
            // it: then no replay can succeed.
            let _ = txn.abort();
            let io = batch.get(failed).is_some_and(|job| job.failed_on_io());
            batch.remove(failed).finish(Ok(()));
            if io {
                fail_all(batch, unwritable());
                return Outcome::Io;
            }
            continue 'attempt;
        }
        let committed = txn.commit().map_err(Error::from);
        let outcome = match &committed {
            Ok(()) => {
                stats.commits.fetch_add(1, Ordering::Relaxed);
                stats.last_commit_at.store(crate::time::now_ms(), Ordering::Relaxed);
                stats.mutations.fetch_add(batch.len() as u64, Ordering::Relaxed);
                crate::metrics::get().commit(batch.len(), started.elapsed());
                Outcome::Committed
            }
            Err(e) if e.is_io() => Outcome::Io,
            Err(_) => Outcome::Nothing,
        };
        for job in batch {
            job.finish(committed.clone());
        }
        return outcome;
    }
    Outcome::Nothing
}

fn fail_all(batch: Vec<Box<dyn Job>>, err: Error) {
    for job in batch {
        job.finish(Err(err.clone()));
    }
}
