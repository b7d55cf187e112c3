//! The store: one redb file, a narrow API of domain operations, and one writer thread.
//!
//! Reads run on read transactions in the blocking pool and never wait for the writer. Writes are
//! closures queued to the writer (see `writer`), which folds whatever is queued together into one
//! durable commit. Domain modules (`tenants`, `keys`, `counters`) own their tables; nothing outside
//! `store` touches a table.

pub mod audit;
pub mod check;
mod codec;
pub mod counters;
#[cfg(test)]
mod crash;
mod disk;
mod error;
pub mod events;
mod files;
pub mod keys;
mod legacy;
pub mod lifecycle;
mod migrate;
pub mod operator;
mod positions;
pub mod provisioning;
mod record;
mod records;
pub mod rooms;
pub mod signing;
mod tables;
pub mod tenants;
pub mod transfer;
mod txn;
pub mod users;
#[cfg(test)]
pub(crate) mod volatile;
mod wal;
pub mod webhooks;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use redb::{Database, ReadTransaction, ReadableDatabase};
use tokio::sync::oneshot;
use uuid::Uuid;

pub use error::{Error, Failure, MutationError, Refusal, Result};
pub use record::check_version;
pub use redb::ReadTransaction as ReadTxn;
pub use tables::{SCHEMA_VERSION, STORE_FILE};
pub use txn::{Cause, Reads, Tx, WriteTable, WriteTxn};
pub use wal::{LOG_FILE, Loss, Replayed};
use writer::Handle;
pub use writer::WriterStats;

/// What `whoot-mgmt status` reports about a store.
#[derive(Debug, serde::Serialize)]
pub struct Status {
    pub schema_version: u64,
    pub tenants: u64,
    pub users: u64,
    pub webhook_backlog: u64,
}

/// The store's schema, tenants, users (active or not) and webhook backlog, from one read.
pub fn status(tx: &ReadTransaction) -> Result<Status> {
    let schema_version = tables::meta(tx, tables::META_SCHEMA_VERSION)?.unwrap_or(0);
    let all = tenants::list(tx)?;
    let mut users = 0;
    for t in &all {
        users += counters::get(tx, t.id, counters::USERS)?;
    }
    let webhook_backlog = webhooks::backlog(tx)?;
    Ok(Status { schema_version, tenants: all.len() as u64, users, webhook_backlog })
}

/// `status` with no server running, from a store opened read-only.
pub fn status_offline(data_dir: &Path) -> Result<Status> {
    status(&open_read_only(data_dir)?.begin_read()?)
}

struct Inner {
    handle: Arc<Handle>,
    path: PathBuf,
    queue: std::sync::mpsc::Sender<Box<dyn writer::Job>>,
    writer: Option<std::thread::JoinHandle<()>>,
    stats: Arc<WriterStats>,
    /// Counts commits, so a reader can wait for the next one (the feed's long-poll).
    committed: tokio::sync::watch::Receiver<u64>,
    /// Bounds the reads running on the blocking pool at once (`set_read_concurrency`); the
    /// rest wait here, in order, holding no thread.
    readers: tokio::sync::Semaphore,
    read_slots: std::sync::atomic::AtomicUsize,
}

impl Drop for Inner {
    /// Closes the queue and waits for the writer to finish what was queued, so the file lock is
    /// released when the last handle goes (a reopen right after must succeed).
    fn drop(&mut self) {
        let (closed, _) = std::sync::mpsc::channel();
        drop(std::mem::replace(&mut self.queue, closed));
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// The page cache a store opens with unless told otherwise (redb's default is 1 GiB, which a
/// large store fills: resident memory then grows with the store).
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;
/// Reads that may walk many records (scans, pages, backups) running at once by default.
pub const DEFAULT_READ_CONCURRENCY: usize = 16;
/// Group commits made durable by the log alone before one makes the store file whole again.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 512;
/// Free disk space below which writes are refused before they can fail (`disk_reserve_mb`).
pub const DEFAULT_DISK_RESERVE: u64 = 16 << 20;
/// How long the writer waits without work before checkpointing what the log holds.
pub const DEFAULT_CHECKPOINT_IDLE: std::time::Duration =
    std::time::Duration::from_millis(DEFAULT_CHECKPOINT_IDLE_MS);
const DEFAULT_CHECKPOINT_IDLE_MS: u64 = 200;

/// Handle to the open store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl Store {
    /// Opens (or creates) the store file in `data_dir`, creating the directory (mode 0700) if
    /// needed, and starts the writer thread, with the default page cache.
    pub fn open(data_dir: &Path) -> Result<Store> {
        Store::open_with_cache(data_dir, DEFAULT_CACHE_BYTES)
    }

    /// `open` with a page cache of `cache_bytes` (redb's own; the OS page cache still holds
    /// the file, outside the process's resident memory).
    pub fn open_with_cache(data_dir: &Path, cache_bytes: usize) -> Result<Store> {
        Ok(Store::open_replaying(data_dir, cache_bytes, false, disk::Disk::Real)?.0)
    }

    /// Opens the store as `open_with_cache` does, replaying its log; a loss of acknowledged
    /// writes in the log refuses, unless `accept_loss` (`recover --accept-loss`).
    fn open_replaying(
        data_dir: &Path,
        cache_bytes: usize,
        accept_loss: bool,
        disk: disk::Disk,
    ) -> Result<(Store, Replayed)> {
        create_private_dir(data_dir)?;
        let path = data_dir.join(STORE_FILE);
        if !path.exists() {
            // A log beside no store is no new store's history.
            wal::discard(data_dir)?;
        }
        let db = match disk.open_db(&path, cache_bytes) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(Error::Failed(Failure::Locked));
            }
            Err(e) => {
                return Err(Error::Failed(Failure::Storage(format!(
                    "opening {}: {e}",
                    path.display()
                ))));
            }
        };
        migrate::refuse_newer(&db)?;
        let mut log = wal::Log::open(data_dir, disk.clone())?;
        log.set_store(wal::ensure_store_id(&db)?);
        // What the last run acknowledged but had not checkpointed, before anything reads.
        let replayed = log.replay(&db, accept_loss)?;
        if replayed.commits > 0 {
            tracing::info!(commits = replayed.commits, "replayed the store's log");
        }
        migrate::to_current(&db, data_dir)?;
        let handle = Arc::new(Handle {
            path: path.clone(),
            disk,
            cache_bytes,
            db: parking_lot::RwLock::new(Some(Arc::new(db))),
            writable: std::sync::atomic::AtomicBool::new(true),
            low_space: std::sync::atomic::AtomicBool::new(false),
            disk_reserve: AtomicU64::new(DEFAULT_DISK_RESERVE),
            refused_since: std::sync::atomic::AtomicI64::new(0),
            checkpoint_every: AtomicU64::new(DEFAULT_CHECKPOINT_EVERY),
            checkpoint_idle_ms: AtomicU64::new(DEFAULT_CHECKPOINT_IDLE_MS),
            deferred: parking_lot::Mutex::new(Vec::new()),
            deferred_flush_ms: AtomicU64::new(1000),
            deferred_max: std::sync::atomic::AtomicUsize::new(10_000),
            deferred_dropped: AtomicU64::new(0),
        });
        let stats = Arc::new(WriterStats::default());
        let (queue, rx) = std::sync::mpsc::channel();
        let (notify, committed) = tokio::sync::watch::channel(0);
        let writer = Some(writer::spawn(handle.clone(), rx, stats.clone(), notify, log)?);
        let (readers, read_slots) = (
            tokio::sync::Semaphore::new(DEFAULT_READ_CONCURRENCY),
            std::sync::atomic::AtomicUsize::new(DEFAULT_READ_CONCURRENCY),
        );
        let inner = Inner { handle, path, queue, writer, stats, committed, readers, read_slots };
        Ok((Store { inner: Arc::new(inner) }, replayed))
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Creates the private file `name` (mode 0600) beside the store with `bytes`, durable
    /// (data and name) when this returns.
    pub fn write_private_file(&self, name: &str, bytes: &[u8]) -> Result<PathBuf> {
        let dir = self.inner.path.parent().unwrap_or(Path::new("."));
        let path = dir.join(name);
        let failed = |e: std::io::Error| {
            Error::Failed(Failure::Storage(format!("cannot write {}: {e}", path.display())))
        };
        self.inner.handle.disk.write_private_file(&path, bytes).map_err(failed)?;
        Ok(path)
    }

    /// A store on a disk that loses what was never synced (`volatile`), for crash tests.
    #[cfg(test)]
    pub(crate) fn open_volatile(
        data_dir: &Path,
        power: &std::sync::Arc<volatile::Power>,
    ) -> Result<Store> {
        let disk = disk::Disk::Volatile(power.clone());
        Ok(Store::open_replaying(data_dir, DEFAULT_CACHE_BYTES, false, disk)?.0)
    }

    pub fn writer_stats(&self) -> &WriterStats {
        &self.inner.stats
    }

    /// False while the disk refuses writes (full, or under the reserve): writes answer
    /// `Error::Io` until a write can succeed again, which the writer checks every second.
    pub fn writable(&self) -> bool {
        let low = self.inner.handle.low_space.load(std::sync::atomic::Ordering::Relaxed);
        self.inner.handle.writable() && !low
    }

    /// Since when writes are refused (unix ms), and the data directory's free bytes, for
    /// `status`: None while writes are taken.
    pub fn refusing_writes(&self) -> Option<(i64, Option<u64>)> {
        let since = self.inner.handle.refused_since.load(std::sync::atomic::Ordering::Relaxed);
        (since > 0 && !self.writable()).then(|| (since, self.inner.handle.free_bytes()))
    }

    /// Free disk space (bytes) below which writes are refused before they can fail, so the
    /// store file stays healthy and reads go on (0: never).
    pub fn set_disk_reserve(&self, bytes: u64) {
        self.inner.handle.disk_reserve.store(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    /// Changes with every commit: `changed().await` waits for the next one.
    pub fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.committed.clone()
    }

    /// Runs `op` inside the next group commit and resolves once that commit is durable. Its
    /// errors are the caller's own type (a protocol error raised inside it, a SCIM PATCH's
    /// `noTarget`, survives the writer thread as it was), or the store's.
    ///
    /// `op` may run more than once (if another mutation in its batch fails, the batch is replayed
    /// without it), so it must be a pure function of its captured input and the transaction:
    /// generate ids and timestamps before calling `write`.
    pub async fn write<T, E, F>(&self, op: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: MutationError,
        F: Fn(&WriteTxn) -> Result<T, E> + Send + 'static,
    {
        self.queue(op, false).await
    }

    /// `write` for a mutation too large for the store's log (a tenant import): its batch is
    /// made durable by a commit of the store file itself, and its writes are not recorded.
    pub async fn write_whole<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&WriteTxn) -> Result<T> + Send + 'static,
    {
        self.queue(op, true).await
    }

    /// Hands `op` to the writer (`whole`: for a commit of the store file) and waits for it.
    async fn queue<T, E, F>(&self, op: F, whole: bool) -> Result<T, E>
    where
        T: Send + 'static,
        E: MutationError,
        F: Fn(&WriteTxn) -> Result<T, E> + Send + 'static,
    {
        let unavailable = || E::from(Error::Failed(Failure::Unavailable));
        let (reply, rx) = oneshot::channel();
        self.inner.queue.send(writer::job(op, reply, whole)).map_err(|_| unavailable())?;
        rx.await.unwrap_or_else(|_| Err(unavailable()))
    }

    /// Hands a provisioning log entry to the writer, to be committed with the next batch (with
    /// no commit of its own unless none comes within the flush time): for entries that have no
    /// change to ride with (failures, reads). A crash loses at most that window of them. False
    /// when `deferred_max` are already waiting (the entry is dropped and counted).
    pub fn log_deferred(&self, tenant: Uuid, entry: provisioning::Entry) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let handle = &self.inner.handle;
        let mut waiting = handle.deferred.lock();
        if waiting.len() >= handle.deferred_max.load(Relaxed) {
            handle.deferred_dropped.fetch_add(1, Relaxed);
            return false;
        }
        waiting.push((tenant, entry));
        if waiting.len() == 1 {
            // The first one waiting wakes the writer; the job takes whatever waits by the time
            // it runs.
            let _ = self.inner.queue.send(writer::deferred(handle.clone()));
        }
        true
    }

    /// Deferred entries dropped because too many were waiting, since the store opened.
    pub fn deferred_dropped(&self) -> u64 {
        self.inner.handle.deferred_dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How long deferred entries wait for a batch, and how many may wait (`log_deferred`).
    pub fn set_deferred(&self, flush: std::time::Duration, max: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        let ms = u64::try_from(flush.as_millis()).unwrap_or(u64::MAX);
        self.inner.handle.deferred_flush_ms.store(ms, Relaxed);
        self.inner.handle.deferred_max.store(max, Relaxed);
    }

    /// How many group commits are made durable by the store's log alone before one flushes the
    /// store file itself (at least 1; 1: every commit flushes the file and the log is unused),
    /// and how long without writes before the writer flushes what the log holds.
    pub fn set_checkpoints(&self, every: u64, idle: std::time::Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        self.inner.handle.checkpoint_every.store(every.max(1), Relaxed);
        let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX).max(1);
        self.inner.handle.checkpoint_idle_ms.store(idle_ms, Relaxed);
    }

    /// How many reads may run on the blocking pool at once (at least 1); the others wait their
    /// turn without holding a thread. Set once at start.
    pub fn set_read_concurrency(&self, n: usize) {
        use std::sync::atomic::Ordering;
        let n = n.max(1);
        let was = self.inner.read_slots.swap(n, Ordering::Relaxed);
        if n > was {
            self.inner.readers.add_permits(n - was);
        } else {
            self.inner.readers.forget_permits(was - n);
        }
    }

    /// Runs `f` on a read transaction in the blocking pool. Its errors are the caller's own type
    /// (a protocol refusal found while reading), or the store's.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<Error> + Send + 'static,
        F: FnOnce(&ReadTransaction) -> Result<T, E> + Send + 'static,
    {
        let unavailable = || E::from(Error::Failed(Failure::Unavailable));
        // Without a bound, a burst of scans would start a thread each (tokio allows 512), all
        // contending for the same cores; queued here, they run a few at a time.
        let slot = self.inner.readers.acquire().await.map_err(|_| unavailable())?;
        let db = self.inner.handle.get()?;
        let read = tokio::task::spawn_blocking(move || f(&db.begin_read().map_err(Error::from)?));
        let answer = read.await.map_err(|_| unavailable())?;
        drop(slot);
        answer
    }

    /// `read` on the calling thread: at startup, in the CLI, and for bounded reads where handing
    /// them to the blocking pool costs more than the read (`Ctx::lookup`).
    pub fn read_here<T, E, F>(&self, f: F) -> Result<T, E>
    where
        E: From<Error>,
        F: FnOnce(&ReadTransaction) -> Result<T, E>,
    {
        let db = self.inner.handle.get()?;
        let tx = db.begin_read().map_err(Error::from)?;
        f(&tx)
    }

    /// Writes a consistent copy of the store to `to` (a new file) from one read transaction, so
    /// writes keep flowing meanwhile. Returns the rows copied.
    ///
    /// A copy nobody waits for any more (the admin client went away mid-copy) is removed when
    /// it is done, so an interrupted `whoot-mgmt backup` leaves nothing in the data directory.
    pub async fn backup(&self, to: PathBuf) -> Result<u64> {
        let db = self.inner.handle.get()?;
        let (done, answer) = tokio::sync::oneshot::channel();
        tokio::task::spawn_blocking(move || {
            let copied = db.begin_read().map_err(Error::from).and_then(|read| {
                files::copy_into_new_file(&to, |target| tables::copy_all(&read, target))
            });
            // Only a copy this call made is removed: a refused one names someone else's file.
            if let Err(Ok(_)) = done.send(copied) {
                let _ = std::fs::remove_file(&to);
            }
        });
        answer.await.map_err(|_| Error::Failed(Failure::Unavailable))?
    }
}

/// `check` with no server running: the store opened read-only, so nothing changes (a store of an
/// older schema is checked as far as this build can read it, and not upgraded).
pub fn check_offline(data_dir: &Path) -> Result<check::Report> {
    check_as_current(&open_read_only(data_dir)?.begin_read()?)
}

/// `check` on a store of any schema this build reads, changing nothing: a current one as it
/// is; an older one through a copy upgraded in a temporary directory, since its records are
/// read in today's layouts.
fn check_as_current(read: &ReadTransaction) -> Result<check::Report> {
    let version = tables::meta(read, tables::META_SCHEMA_VERSION)?;
    let Some(from) = version.filter(|v| *v < SCHEMA_VERSION) else { return check::run(read) };
    let scratch = tempfile::tempdir()
        .map_err(|e| Failure::Storage(format!("a temporary directory for the check: {e}")))?;
    let copy = scratch.path().join(STORE_FILE);
    files::copy_into_new_file(&copy, |target| tables::copy_all(read, target))?;
    let db = Database::create(&copy)
        .map_err(|e| Failure::Storage(format!("opening the copy to check: {e}")))?;
    migrate::run_steps(&db, Some(from))?;
    check::run(&db.begin_read()?)
}

/// `backup` with no server running, from a store opened read-only.
pub fn backup_offline(data_dir: &Path, to: &Path) -> Result<u64> {
    let read = open_read_only(data_dir)?.begin_read()?;
    files::copy_into_new_file(to, |target| tables::copy_all(&read, target))
}

fn open_read_only(data_dir: &Path) -> Result<redb::ReadOnlyDatabase> {
    let path = data_dir.join(STORE_FILE);
    let unclean = || {
        Error::Failed(Failure::Storage(format!(
            "{} was not closed cleanly (a crash or kill -9?) and needs the repair `serve` runs at \
             start: start the service (or `whoot-mgmt serve` once), stop it, and retry",
            path.display()
        )))
    };
    let db = redb::ReadOnlyDatabase::open(&path).map_err(|e| match e {
        redb::DatabaseError::DatabaseAlreadyOpen => Error::Failed(Failure::Locked),
        // A read-only open cannot repair what a crash left; the server repairs it at start.
        redb::DatabaseError::RepairAborted => unclean(),
        e => Error::Failed(Failure::Storage(format!("opening {} read-only: {e}", path.display()))),
    })?;
    // Acknowledged writes still only in the log: the file alone is not the store.
    if wal::has_pending(data_dir, &db.begin_read()?)? {
        return Err(unclean());
    }
    Ok(db)
}

/// `whoot-mgmt recover --accept-loss`: opens the store (no server may run on it), keeping what
/// its log gives back whole and setting the rest aside, then stops it cleanly. Says what was
/// replayed and what was lost.
pub fn recover_accepting_loss(data_dir: &Path) -> Result<Replayed> {
    if !data_dir.join(STORE_FILE).exists() {
        return Err(Error::invalid(format!("no store in {}", data_dir.display())));
    }
    let (store, replayed) =
        Store::open_replaying(data_dir, DEFAULT_CACHE_BYTES, true, disk::Disk::Real)?;
    if let Some(loss) = &replayed.loss {
        tracing::warn!(from = loss.from, to = ?loss.to, kept = ?replayed.kept,
            "accepted the loss of writes from the store's log: {}", loss.why);
    }
    drop(store);
    Ok(replayed)
}

/// Removes what an interrupted backup, export, import or upgrade left in the data directory
/// (`*.partial` copies, backups staged for the CLI, `*.staged` exports and imports); run at
/// start, when none can be in progress. Returns
/// the files removed.
pub fn remove_leftovers(data_dir: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(data_dir) else { return removed };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let staged =
            (name.starts_with("backup-") && name.ends_with(".redb")) || name.ends_with(".staged");
        if (name.ends_with(".partial") || staged) && std::fs::remove_file(entry.path()).is_ok() {
            removed.push(entry.path());
        }
    }
    removed
}

/// Restores a backup into `data_dir`, which must hold no store: the backup is checked first
/// (opened read-only, schema version and `check`), then copied in durably.
pub fn restore(from: &Path, data_dir: &Path) -> Result<check::Report> {
    let target = data_dir.join(STORE_FILE);
    if target.exists() {
        return Err(Error::invalid(format!(
            "{} already holds a store; restore only into an empty data directory",
            data_dir.display()
        )));
    }
    let source = redb::ReadOnlyDatabase::open(from).map_err(|e| {
        Error::invalid(format!("{} is not a whoot-mgmt backup: {e}", from.display()))
    })?;
    let read = source.begin_read()?;
    let version = read
        .open_table(tables::META)
        .map_err(|e| Error::invalid(format!("{} is not a whoot-mgmt backup: {e}", from.display())))?
        .get(tables::META_SCHEMA_VERSION)?
        .map(|v| v.value());
    match version {
        None => return Err(Error::invalid(format!("{} has no schema version", from.display()))),
        Some(v) if v > SCHEMA_VERSION => {
            return Err(Error::Failed(Failure::TooNew { found: v, supported: SCHEMA_VERSION }));
        }
        Some(_) => {}
    }
    let report = check_as_current(&read)?;
    if !report.problems.is_empty() {
        return Ok(report);
    }
    create_private_dir(data_dir)?;
    // A log left by a server that crashed here holds writes the backup does not follow from
    // (made after it, or to another store): the restored store is the backup's state alone.
    wal::discard(data_dir)?;
    files::copy_into_new_file(&target, |txn| tables::copy_all(&read, txn))?;
    Ok(report)
}

fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| {
        Error::Failed(Failure::Storage(format!("creating data directory {}: {e}", dir.display())))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Reads past the limit wait their turn, and every one is answered.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_run_at_most_read_concurrency_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.set_read_concurrency(3);
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let reads = (0..24).map(|i| {
            let (store, running, most) = (store.clone(), running.clone(), most.clone());
            tokio::spawn(async move {
                store
                    .read(move |tx| -> crate::store::Result<_> {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        let tenants = tenants::list(tx)?.len();
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                        Ok((i, tenants))
                    })
                    .await
            })
        });
        let mut answered = 0;
        for read in reads.collect::<Vec<_>>() {
            assert_eq!(read.await.unwrap().unwrap().1, 0);
            answered += 1;
        }
        assert_eq!(answered, 24);
        // Three at once at most (and more than one: the bound is not a lock).
        let most = most.load(Ordering::SeqCst);
        assert!((2..=3).contains(&most), "{most} at once");
        // Lowered, the bound holds as well.
        store.set_read_concurrency(1);
        assert_eq!(store.inner.readers.available_permits(), 1);
    }
}
