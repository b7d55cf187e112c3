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
//!
//! The disk: while it has less than the reserve free, batches are refused before they run (503;
//! reads go on, since redb never met an error). When a write fails anyway, redb must be closed and
//! reopened: writes (and reads, meanwhile) answer 503 until the writer has reopened the store and
//! replayed the log, which it tries each second once the reserve is free again.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use redb::{Database, TableDefinition};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::error::{Error, Failure, MutationError, Result};
use super::txn::WriteTxn;
use super::wal::{self, Log};
use super::{disk, provisioning, tables};

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
    /// Whether it may wait for other work to ride with (deferred log entries).
    fn deferrable(&self) -> bool {
        false
    }
    /// Whether its batch must be committed whole (to the store file, not the log).
    fn whole(&self) -> bool {
        false
    }
}

/// The provisioning log entries waiting in `Handle::deferred`, taken when the job first runs
/// (a replay writes the same ones again).
struct Deferred {
    handle: Arc<Handle>,
    taken: Option<Vec<(uuid::Uuid, super::provisioning::Entry)>>,
}

pub(super) fn deferred(handle: Arc<Handle>) -> Box<dyn Job> {
    Box::new(Deferred { handle, taken: None })
}

impl Job for Deferred {
    fn run(&mut self, txn: &WriteTxn) -> bool {
        let handle = &self.handle;
        let entries =
            self.taken.get_or_insert_with(|| std::mem::take(&mut *handle.deferred.lock()));
        for (tenant, entry) in entries.iter() {
            if let Err(e) = super::provisioning::record(txn, *tenant, entry.clone()) {
                tracing::warn!(error = %e, "could not record provisioning log entries");
                return false;
            }
        }
        true
    }

    fn failed_on_io(&self) -> bool {
        false
    }

    fn finish(self: Box<Self>, commit: Result<()>) {
        if let Err(e) = commit {
            let lost = self.taken.map_or(0, |t| t.len());
            tracing::warn!(error = %e, lost, "provisioning log entries were not recorded");
        }
    }

    fn deferrable(&self) -> bool {
        true
    }
}

struct Op<T, E, F> {
    op: F,
    outcome: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
    whole: bool,
}

/// A mutation for the next batch; `whole`: one too large for the log, whose batch is then a
/// durable commit of the store file.
pub(super) fn job<T, E, F>(op: F, reply: oneshot::Sender<Result<T, E>>, whole: bool) -> Box<dyn Job>
where
    T: Send + 'static,
    E: MutationError,
    F: Fn(&WriteTxn) -> Result<T, E> + Send + 'static,
{
    Box::new(Op { op, outcome: None, reply, whole })
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

    fn whole(&self) -> bool {
        self.whole
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
            if batch.iter().all(|job| job.deferrable()) {
                // Deferred entries alone: wait a while for a batch to ride with.
                let flush = self.handle.deferred_flush_ms.load(Ordering::Relaxed);
                if let Ok(job) = self.queue.recv_timeout(Duration::from_millis(flush)) {
                    batch.push(job);
                }
            }
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
            if let Err((free, reserve)) = self.handle.check_space() {
                fail_all(batch, low_space(free, reserve));
                continue;
            }
            let every = self.handle.checkpoint_every.load(Ordering::Relaxed).max(1);
            let whole = self.since_checkpoint + 1 >= every
                || self.log.used() >= wal::LOG_BYTES
                || batch.iter().any(|job| job.whole());
            let outcome = match self.handle.get() {
                Ok(db) => commit_batch(&db, batch, &self.stats, &mut self.log, whole),
                Err(e) => {
                    fail_all(batch, e.clone());
                    Outcome::Io(e)
                }
            };
            match outcome {
                Outcome::Committed { then } => {
                    self.since_checkpoint = if whole { 0 } else { self.since_checkpoint + 1 };
                    self.committed.send_modify(|n| *n += 1);
                    if let Some(e) = then {
                        self.stop_writes(&e);
                    }
                }
                Outcome::Nothing => {}
                Outcome::Io(e) => self.stop_writes(&e),
            }
        }
        // A clean stop leaves the store file whole and nothing in the log to replay.
        self.close();
    }

    /// The next mutation; `Idle` when there are commits to checkpoint and none came for a
    /// while. While the store is unwritable, it also reopens the store and tries a write every
    /// `RECOVER_EVERY`, so it recovers by itself once space is back.
    fn next(&mut self) -> Next {
        let mut last_try: Option<Instant> = None;
        loop {
            if self.handle.writable() {
                // With commits to checkpoint, an idle writer does that (so an idle server's store
                // file is whole and its log short); short of space, it looks again each second.
                let low = self.handle.low_space.load(Ordering::Relaxed);
                let idle =
                    Duration::from_millis(self.handle.checkpoint_idle_ms.load(Ordering::Relaxed));
                let wait = match (self.since_checkpoint, low) {
                    (0, false) => None,
                    (0, true) => Some(RECOVER_EVERY),
                    (_, false) => Some(idle),
                    (_, true) => Some(idle.min(RECOVER_EVERY)),
                };
                let job = match wait {
                    None => self.queue.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
                    Some(wait) => self.queue.recv_timeout(wait),
                };
                match job {
                    Ok(job) => return Next::Job(job),
                    Err(mpsc::RecvTimeoutError::Disconnected) => return Next::Closed,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if low && self.handle.check_space().is_ok() {
                            tracing::info!("the disk has its reserve free again; writes resume");
                        }
                        if self.since_checkpoint > 0 {
                            return Next::Idle;
                        }
                        continue;
                    }
                }
            }
            if last_try.is_none_or(|t| t.elapsed() >= RECOVER_EVERY) {
                last_try = Some(Instant::now());
                if recover(&self.handle, &mut self.log) {
                    tracing::info!("the disk takes writes again; the store is writable");
                    self.since_checkpoint = 0;
                    self.handle.set_writable(true);
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

    /// Makes the store file hold every commit (one durable redb commit) and begins the log's
    /// next round.
    fn checkpoint(&mut self) {
        if self.since_checkpoint == 0 || !self.handle.writable() {
            return;
        }
        match self.commit_round(false) {
            Ok(()) => {
                self.since_checkpoint = 0;
                if let Err(e) = self.log.checkpointed() {
                    self.stop_writes(&e);
                }
            }
            // The log still holds every commit; the next batch tries again.
            Err(e) => tracing::warn!(error = %e, "checkpointing the store failed"),
        }
    }

    /// At a clean stop: makes the store file whole and records that it needs no log.
    fn close(&mut self) {
        if !self.handle.writable() {
            return;
        }
        if let Err(e) = self.commit_round(true) {
            // The log still holds every commit: the next start replays them.
            tracing::warn!(error = %e, "closing the store cleanly failed");
        }
    }

    /// One durable commit that ends the log's round (`clean`: and needs no log after it).
    fn commit_round(&self, clean: bool) -> Result<()> {
        let db = self.handle.get()?;
        let txn = super::txn::begin_durable(&db)?;
        self.log.note_round(&txn, clean)?;
        Ok(txn.commit()?)
    }

    fn stop_writes(&self, e: &Error) {
        self.handle.set_writable(false);
        tracing::error!(
            error = %e,
            "the disk refused a write; writes answer 503 until the store is reopened"
        );
    }
}

fn unwritable() -> Error {
    Error::Failed(Failure::Io {
        why: "the disk refuses writes (full?); retry when space is freed",
        source: None,
    })
}

fn low_space(free: u64, reserve: u64) -> Error {
    tracing::debug!(free, reserve, "a write refused: the disk is short of its reserve");
    Error::Failed(Failure::Io {
        why: "the disk is nearly full (less than disk_reserve_mb free): writes are refused and \
              resume by themselves once space is freed; reads go on",
        source: None,
    })
}

/// Closes the database (once readers let go of it), opens it again, replays the log into it
/// (a durable commit that begins a new round), and tries a write that allocates pages: true once
/// that commits. Not tried while the disk is short of its reserve, so attempts do not eat the
/// space being freed.
fn recover(handle: &Handle, log: &mut Log) -> bool {
    if handle.check_space().is_err() {
        return false;
    }
    // A record answered as failed must be gone before anything replays the log.
    if let Err(e) = log.settle() {
        tracing::debug!(error = %e, "the store's log still refuses writes");
        return false;
    }
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
    let db = match handle.disk.open_db(&handle.path, handle.cache_bytes) {
        Ok(db) => db,
        Err(e) => {
            tracing::debug!(error = %e, "reopening the store failed");
            return false;
        }
    };
    // Until the log is replayed, the reopened file lacks acknowledged writes: not served.
    if let Err(e) = log.replay(&db, false) {
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
    if let Err(e) = &probed {
        tracing::debug!(error = %e, "the disk still refuses writes");
    }
    probed.is_ok()
}

enum Outcome {
    /// `then`: the log's next round could not begin after this durable commit; writes stop.
    Committed {
        then: Option<Error>,
    },
    Nothing,
    /// The disk refused a write (or the log could not be put right after one): every mutation
    /// was answered, and writes stop until the store is reopened.
    Io(Error),
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
        let begun = if whole {
            super::txn::begin_durable(db)
        } else {
            db.begin_write().map_err(Error::from)
        };
        let mut txn = match begun {
            Ok(txn) => txn,
            Err(e) => {
                fail_all(batch, e.clone());
                return if e.is_io() { Outcome::Io(e) } else { Outcome::Nothing };
            }
        };
        if !whole && let Err(e) = txn.set_durability(redb::Durability::None) {
            fail_all(batch, Error::Failed(Failure::Storage(format!("a log-backed commit: {e}"))));
            return Outcome::Nothing;
        }
        // A whole commit's writes are never logged: not recorded either.
        let wtx = if whole { WriteTxn::unrecorded(&txn) } else { WriteTxn::new(&txn) };
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
                return Outcome::Io(unwritable());
            }
            continue 'attempt;
        }
        let ops = wtx.take_ops();
        drop(wtx);
        // A batch that wrote nothing has nothing to make durable or replay.
        let logged = !whole && !ops.is_empty();
        let noted = match whole {
            false if !logged => Ok(()),
            // The batch is durable once its record is; redb's commit below only makes it visible.
            false => note_sequence(&txn, log.next_seq()).and_then(|()| log.append(&ops)),
            // A durable commit: the store file is whole with it, and the log's next round begins.
            true => log.note_round(&txn, false),
        };
        if let Err(e) = noted {
            let _ = txn.abort();
            fail_all(batch, e.clone());
            return if e.is_io() { Outcome::Io(e) } else { Outcome::Nothing };
        }
        let mut committed = txn.commit().map_err(Error::from);
        let mut log_failed = None;
        match (&committed, whole) {
            (Ok(()), true) => log_failed = log.checkpointed().err(),
            (Err(_), false) if logged => {
                // Not committed, so not to be replayed either; if its record cannot be zeroed, the
                // batch's outcome is not certain (a replay would apply it): a 503, and writes stop.
                if let Err(e) = log.cancel_last() {
                    committed = Err(unwritable());
                    log_failed = Some(e);
                }
            }
            _ => {}
        }
        let outcome = match (&committed, log_failed) {
            (Ok(()), then) => {
                stats.commits.fetch_add(1, Ordering::Relaxed);
                stats.last_commit_at.store(crate::time::now_ms(), Ordering::Relaxed);
                stats.mutations.fetch_add(batch.len() as u64, Ordering::Relaxed);
                crate::metrics::get().commit(batch.len(), started.elapsed());
                Outcome::Committed { then }
            }
            (Err(_), Some(e)) => Outcome::Io(e),
            (Err(e), None) if e.is_io() => Outcome::Io(e.clone()),
            (Err(_), None) => Outcome::Nothing,
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
/// Counters the writer keeps about itself, for tests, benchmarks and metrics.
#[derive(Default, Debug)]
pub struct WriterStats {
    pub commits: AtomicU64,
    pub mutations: AtomicU64,
    /// Unix ms of the last durable commit (0: none since the store opened).
    pub last_commit_at: std::sync::atomic::AtomicI64,
}

/// The open database, shared by the readers and the writer. After the disk refuses a write, redb
/// must be closed and opened again: the writer does that here (see `writer`), and meanwhile
/// `get` answers `Error::Io`.
pub(crate) struct Handle {
    pub(super) path: PathBuf,
    pub(super) disk: disk::Disk,
    /// redb's page cache, kept when the writer reopens the file to recover.
    pub(super) cache_bytes: usize,
    pub(super) db: parking_lot::RwLock<Option<Arc<Database>>>,
    pub(super) writable: std::sync::atomic::AtomicBool,
    /// Set while the disk has less free than `disk_reserve` bytes: writes are refused before
    /// they can fail (reads go on, the file stays healthy), until the space is back.
    pub(super) low_space: std::sync::atomic::AtomicBool,
    pub(super) disk_reserve: AtomicU64,
    /// Unix ms since when writes are refused (full disk, failed write); 0 while they are not.
    pub(super) refused_since: std::sync::atomic::AtomicI64,
    /// Commits between checkpoints, and the idle time (ms) before one (`Store::set_checkpoints`).
    pub(super) checkpoint_every: AtomicU64,
    pub(super) checkpoint_idle_ms: AtomicU64,
    /// Provisioning log entries waiting for a batch to ride with (`Store::log_deferred`).
    pub(super) deferred: parking_lot::Mutex<Vec<(Uuid, provisioning::Entry)>>,
    /// How long the writer waits for a batch before it commits deferred entries on their own.
    pub(super) deferred_flush_ms: AtomicU64,
    /// Most deferred entries held at once; more are dropped (and counted).
    pub(super) deferred_max: std::sync::atomic::AtomicUsize,
    pub(super) deferred_dropped: AtomicU64,
}

impl Handle {
    pub(crate) fn get(&self) -> Result<Arc<Database>> {
        self.db
            .read()
            .clone()
            .ok_or(Error::Failed(Failure::Io { why: "the store is being reopened", source: None }))
    }

    pub(crate) fn writable(&self) -> bool {
        self.writable.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Keeps `refused_since` in step with `writable` and `low_space`.
    pub(super) fn note_refusals(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let refusing = !self.writable() || self.low_space.load(Relaxed);
        match refusing {
            true => {
                let _ =
                    self.refused_since.compare_exchange(0, crate::time::now_ms(), Relaxed, Relaxed);
            }
            false => self.refused_since.store(0, Relaxed),
        }
    }

    /// Writes stop or resume (the writer's view of the disk).
    pub(crate) fn set_writable(&self, writable: bool) {
        self.writable.store(writable, std::sync::atomic::Ordering::Relaxed);
        self.note_refusals();
    }

    /// The data directory's free and total bytes, if the file system says.
    pub(super) fn space(&self) -> Option<(u64, u64)> {
        let dir =
            self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let st = rustix::fs::statvfs(dir).ok()?;
        Some((st.f_bavail.saturating_mul(st.f_frsize), st.f_blocks.saturating_mul(st.f_frsize)))
    }

    pub(super) fn free_bytes(&self) -> Option<u64> {
        self.space().map(|(free, _)| free)
    }

    /// Whether the disk has the reserve free (true where it cannot tell), noting the answer for
    /// `Store::writable`; the free bytes and the reserve when it has not. The reserve is at most
    /// a sixteenth of the volume, so a small one can still be written to.
    pub(super) fn check_space(&self) -> std::result::Result<(), (u64, u64)> {
        use std::sync::atomic::Ordering::Relaxed;
        let space = self.space();
        let reserve = self.disk_reserve.load(Relaxed).min(space.map_or(u64::MAX, |(_, t)| t / 16));
        let short = space.map(|(free, _)| free).filter(|&free| free < reserve);
        self.low_space.store(short.is_some(), Relaxed);
        self.note_refusals();
        match short {
            Some(free) => Err((free, reserve)),
            None => Ok(()),
        }
    }
}
