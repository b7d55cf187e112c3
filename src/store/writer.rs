//! The single writer thread and its group commit.
//!
//! Mutations that arrive while a commit is in flight queue up; the writer takes all of them into
//! the next write transaction and pays one fsync for the lot. Each mutation still succeeds or
//! fails on its own: redb cannot roll back part of a transaction, so when a mutation fails the
//! transaction is aborted, that mutation is answered with its error, and the batch is replayed
//! without it. Mutations are deterministic given the state they see, so the replayed ones reach
//! the same results they did the first time.
//!
//! That one fsync is of the log (`wal`), not of the store file: the batch's writes are appended
//! there and fsynced before redb commits them without flushing; every `checkpoint_every` commits
//! (and when idle, and at a clean stop) a durable redb commit makes the file whole again.

use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use redb::{Database, TableDefinition};
use tokio::sync::oneshot;

use super::txn::WriteTxn;
use super::wal::{self, Log};
use super::{Error, Failure, Handle, MutationError, Result, WriterStats, tables};

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
    fn run(&mut self, txn: &WriteTxn) -> bool;
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
    F: Fn(&WriteTxn) -> Result<T, E> + Send + 'static,
{
    Box::new(Op { op, outcome: None, reply })
}

impl<T: Send, E: MutationError, F: Fn(&WriteTxn) -> Result<T, E> + Send> Job for Op<T, E, F> {
    fn run(&mut self, txn: &WriteTxn) -> bool {
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
    queue: mpsc::Receiver<Box<dyn Job>>,
    stats: Arc<WriterStats>,
    committed: tokio::sync::watch::Sender<u64>,
    log: Log,
) -> Result<std::thread::JoinHandle<()>> {
    let mut writer = Writer { handle, queue, stats, committed, log, since_checkpoint: 0 };
    std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || writer.run())
        .map_err(|e| Error::Failed(Failure::Storage(format!("starting the writer thread: {e}"))))
}

struct Writer {
    handle: Arc<Handle>,
    queue: mpsc::Receiver<Box<dyn Job>>,
    stats: Arc<WriterStats>,
    committed: tokio::sync::watch::Sender<u64>,
    log: Log,
    /// Commits made durable by the log alone since the store file was last made whole.
    since_checkpoint: u64,
}

enum Next {
    Job(Box<dyn Job>),
    Idle,
    Closed,
}

impl Writer {
    fn run(&mut self) {
        loop {
            let first = match self.next() {
                Next::Job(job) => job,
                Next::Idle => {
                    self.checkpoint();
                    continue;
                }
                Next::Closed => break,
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match self.queue.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            if !self.handle.writable() {
                fail_all(batch, unwritable());
                continue;
            }
            let every = self.handle.checkpoint_every.load(Ordering::Relaxed).max(1);
            let whole = self.since_checkpoint + 1 >= every || self.log.used() >= wal::LOG_BYTES;
            let outcome = match self.handle.get() {
                Ok(db) => commit_batch(&db, batch, &self.stats, &mut self.log, whole),
                Err(e) => {
                    fail_all(batch, e);
                    Outcome::Io
                }
            };
            match outcome {
                Outcome::Committed => {
                    self.since_checkpoint = if whole { 0 } else { self.since_checkpoint + 1 };
                    self.committed.send_modify(|n| *n += 1);
                }
                Outcome::Nothing => {}
                Outcome::Io => {
                    self.handle.writable.store(false, Ordering::Relaxed);
                    tracing::error!(
                        "the disk refused a write; writes answer 503 until one succeeds again"
                    );
                }
            }
        }
        // A clean stop leaves the store file whole and nothing in the log to replay.
        self.checkpoint();
    }

    /// The next mutation; `Idle` when there are commits to checkpoint and none came for a
    /// while. While the store is unwritable, it also reopens the store and tries a write every
    /// `RECOVER_EVERY`, so it recovers by itself once space is back.
    fn next(&mut self) -> Next {
        let mut last_try: Option<Instant> = None;
        loop {
            if self.handle.writable() {
                // With commits to checkpoint, an idle writer does that (so an idle server's store
                // file is whole and its log short).
                let idle = self.handle.checkpoint_idle_ms.load(Ordering::Relaxed);
                let job = match self.since_checkpoint {
                    0 => self.queue.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
                    _ => self.queue.recv_timeout(Duration::from_millis(idle)),
                };
                return match job {
                    Ok(job) => Next::Job(job),
                    Err(mpsc::RecvTimeoutError::Timeout) => Next::Idle,
                    Err(mpsc::RecvTimeoutError::Disconnected) => Next::Closed,
                };
            }
            if last_try.is_none_or(|t| t.elapsed() >= RECOVER_EVERY) {
                last_try = Some(Instant::now());
                if recover(&self.handle, &mut self.log) {
                    tracing::info!("the disk takes writes again; the store is writable");
                    self.since_checkpoint = 0;
                    self.handle.writable.store(true, Ordering::Relaxed);
                    continue;
                }
            }
            match self.queue.try_recv() {
                Ok(job) => return Next::Job(job),
                Err(mpsc::TryRecvError::Disconnected) => return Next::Closed,
                Err(mpsc::TryRecvError::Empty) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// Makes the store file hold every commit (one durable redb commit) and starts the log over.
    fn checkpoint(&mut self) {
        if self.since_checkpoint == 0 || !self.handle.writable() {
            return;
        }
        let done = self.handle.get().and_then(|db| Ok(db.begin_write()?.commit()?));
        match done {
            Ok(()) => {
                self.log.checkpointed();
                self.since_checkpoint = 0;
            }
            // The log still holds every commit; the next batch tries again.
            Err(e) => tracing::warn!(error = %e, "checkpointing the store failed"),
        }
    }
}

fn unwritable() -> Error {
    Error::Failed(Failure::Io {
        why: "the disk refuses writes (full?); retry when space is freed",
        source: None,
    })
}

/// Closes the database (once readers let go of it), opens it again, replays the log into it,
/// and tries a write that allocates pages: true once that commits.
fn recover(handle: &Handle, log: &mut Log) -> bool {
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
    let db = match Database::builder().set_cache_size(handle.cache_bytes).create(&handle.path) {
        Ok(db) => db,
        Err(e) => {
            tracing::debug!(error = %e, "reopening the store failed");
            return false;
        }
    };
    // Until the log is replayed, the reopened file lacks acknowledged writes: not served.
    if let Err(e) = log.replay(&db) {
        tracing::warn!(error = %e, "replaying the store's log failed");
        return false;
    }
    let probed = (|| -> Result<()> {
        let txn = db.begin_write()?;
        txn.open_table(PROBE)?.insert(0, [0u8; 64 * 1024].as_slice())?;
        txn.delete_table(PROBE)?;
        txn.commit()?;
        Ok(())
    })();
    *slot = Some(Arc::new(db));
    match &probed {
        // The probe's durable commit holds what was replayed too.
        Ok(()) => log.checkpointed(),
        Err(e) => tracing::debug!(error = %e, "the disk still refuses writes"),
    }
    probed.is_ok()
}

enum Outcome {
    Committed,
    Nothing,
    /// The disk refused a write: nothing committed, and every mutation was answered so.
    Io,
}

/// Commits `batch` in one transaction: made durable by the log (`whole` false) or by flushing
/// the store file itself (`whole`, a checkpoint, which also starts the log over).
fn commit_batch(
    db: &Database,
    mut batch: Vec<Box<dyn Job>>,
    stats: &WriterStats,
    log: &mut Log,
    whole: bool,
) -> Outcome {
    let started = std::time::Instant::now();
    'attempt: while !batch.is_empty() {
        let mut txn = match db.begin_write() {
            Ok(txn) => txn,
            Err(e) => {
                let e = Error::from(e);
                let io = e.is_io();
                fail_all(batch, e);
                return if io { Outcome::Io } else { Outcome::Nothing };
            }
        };
        if !whole && let Err(e) = txn.set_durability(redb::Durability::None) {
            fail_all(batch, Error::Failed(Failure::Storage(format!("a log-backed commit: {e}"))));
            return Outcome::Nothing;
        }
        let wtx = WriteTxn::new(&txn);
        if let Some(failed) = batch.iter_mut().position(|job| !job.run(&wtx)) {
            // Dropping an uncommitted transaction aborts it; the failed mutation's writes and
            // everyone else's go with it, and the others are replayed, unless the disk failed
            // it: then no replay can succeed.
            drop(wtx);
            let _ = txn.abort();
            let io = batch.get(failed).is_some_and(|job| job.failed_on_io());
            batch.remove(failed).finish(Ok(()));
            if io {
                fail_all(batch, unwritable());
                return Outcome::Io;
            }
            continue 'attempt;
        }
        let ops = wtx.take_ops();
        drop(wtx);
        if !whole {
            // The batch is durable once its record is; redb's commit below only makes it visible.
            let logged = note_sequence(&txn, log.next_seq()).and_then(|()| log.append(&ops));
            if let Err(e) = logged {
                let _ = txn.abort();
                let io = e.is_io();
                fail_all(batch, e);
                return if io { Outcome::Io } else { Outcome::Nothing };
            }
        }
        let committed = txn.commit().map_err(Error::from);
        match (&committed, whole) {
            (Ok(()), true) => log.checkpointed(),
            (Err(_), false) => {
                // Not committed, so not to be replayed either.
                if let Err(e) = log.cancel_last() {
                    tracing::error!(error = %e, "a batch that failed to commit is still in the log");
                }
            }
            _ => {}
        }
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

/// Records in the batch's own transaction which log record it is, so a replay knows where the
/// durable store file ends.
fn note_sequence(txn: &redb::WriteTransaction, seq: u64) -> Result<()> {
    txn.open_table(tables::META)?.insert(wal::META_WAL_SEQ, seq)?;
    Ok(())
}

fn fail_all(batch: Vec<Box<dyn Job>>, err: Error) {
    for job in batch {
        job.finish(Err(err.clone()));
    }
}
