//! The store's log: how a group commit becomes durable without flushing the store file.
//!
//! An fsync of the redb file costs with the number of scattered pages a commit dirtied (a user
//! create touches a dozen B-trees: ~29 page writes), so the writer appends each batch's table
//! writes (`txn::Op`) to this log, fsyncs it (one sequential write), and only then commits the
//! batch to redb without an fsync (`Durability::None`: visible at once, gone after a crash).
//! Every `checkpoint_every` commits, when the writer is idle, and at a clean stop, a durable redb
//! commit persists everything and the log starts again from its beginning. At open, the records
//! the durable file does not hold yet (sequence above `META_WAL_SEQ`, which every batch writes)
//! are replayed.
//!
//! A record: magic `WLG2` | payload length u32 | sequence u64 | schema u64 | store id u64 | the
//! first 16 bytes of blake3 over the other header fields and the payload | payload (`codec`, a
//! `Vec<Op>`); integers little-endian. Each record starts on a 4 KiB page, zeros filling the rest
//! of its last page, because records are written with `O_DIRECT | O_DSYNC` where the file system
//! takes it, which needs whole aligned blocks: one write that returns once the pages are on the
//! disk, without the page cache's copy and writeback (in alternating runs 0.01-0.02 more of the
//! bare POST for creates, 0.03-0.08 for member adds). Elsewhere (tmpfs) a buffered write and an
//! `fdatasync`. Replay reads records from the start while each one is whole and follows the one
//! before (sequence + 1), looking for the next where the last one ends and, failing that, at the
//! next page (the build before packed records end to end): what a torn append or an older round
//! left behind ends it. The store id (`META_STORE_ID`, made when a store first opens) ties the
//! records to their store file: a log beside another store's file is refused, not replayed into
//! it. Records of the format before it (`WLG1`, no id) are still read.

use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, TableHandle};

use super::tables::{self, META};
use super::txn::Op;
use super::{Error, Failure, Result, SCHEMA_VERSION, codec};

/// File name of the log inside the data directory.
pub const LOG_FILE: &str = "whoot.log";
/// `META` key: the sequence of the last log record the store holds.
pub(super) const META_WAL_SEQ: &str = "wal_seq";
/// `META` key: the store's id, which its log records carry.
pub(super) const META_STORE_ID: &str = "store_id";

const MAGIC: [u8; 4] = *b"WLG2";
const HEADER: usize = 4 + 4 + 8 + 8 + 8 + 16;
/// Records written before they carried the store id: no id field.
const MAGIC_V1: [u8; 4] = *b"WLG1";
const HEADER_V1: usize = HEADER - 8;
/// The log's length made ahead of use, so an fsync writes data only, not the file's size; past
/// it the writer checkpoints (see `writer`) so the log starts over. Records take whole pages
/// (a user create's batch one or two): 512 commits fit.
pub(super) const LOG_BYTES: u64 = 8 << 20;
const PREALLOCATE: u64 = LOG_BYTES;
/// Records start on page boundaries of this size.
const PAGE: usize = 4096;

fn page_up(at: usize) -> Option<usize> {
    at.checked_next_multiple_of(PAGE)
}

/// A whole record found in the log.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Record<'a> {
    pub seq: u64,
    pub schema: u64,
    /// None in a record of the format before store ids.
    pub store: Option<u64>,
    pub payload: &'a [u8],
}

fn checksum(seq: u64, schema: u64, store: Option<u64>, payload: &[u8]) -> [u8; 16] {
    let mut h = blake3::Hasher::new();
    h.update(&seq.to_le_bytes()).update(&schema.to_le_bytes());
    if let Some(store) = store {
        h.update(&store.to_le_bytes());
    }
    h.update(payload);
    let mut out = [0; 16];
    out.copy_from_slice(&h.finalize().as_bytes()[..16]);
    out
}

pub(super) fn encode(seq: u64, schema: u64, store: u64, payload: &[u8]) -> Result<Vec<u8>> {
    let len = u32::try_from(payload.len())
        .map_err(|_| Error::Failed(Failure::Storage("a batch too large for the log".into())))?;
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&schema.to_le_bytes());
    out.extend_from_slice(&store.to_le_bytes());
    out.extend_from_slice(&checksum(seq, schema, Some(store), payload));
    out.extend_from_slice(payload);
    Ok(out)
}

/// The record at the start of `bytes` and its length, if one is there whole.
pub(super) fn parse(bytes: &[u8]) -> Option<(Record<'_>, usize)> {
    let (header, with_id) = match bytes.get(..4)? {
        m if m == MAGIC => (HEADER, true),
        m if m == MAGIC_V1 => (HEADER_V1, false),
        _ => return None,
    };
    let rest = bytes.get(4..header)?;
    let int = |at: usize, n: usize| -> Option<u64> {
        let mut b = [0u8; 8];
        b.get_mut(..n)?.copy_from_slice(rest.get(at..at + n)?);
        Some(u64::from_le_bytes(b))
    };
    let len = usize::try_from(int(0, 4)?).ok()?;
    let (seq, schema) = (int(4, 8)?, int(12, 8)?);
    let (store, sum_at) = match with_id {
        true => (Some(int(20, 8)?), 28),
        false => (None, 20),
    };
    let sum = rest.get(sum_at..sum_at + 16)?;
    let payload = bytes.get(header..header.checked_add(len)?)?;
    (sum == checksum(seq, schema, store, payload))
        .then_some((Record { seq, schema, store, payload }, header + len))
}

/// The records a replay applies: from the start, each following the one before, those above
/// `durable`; and where that run of records ends. Refuses a log that skips past `durable + 1`
/// (records lost), was written by another schema, or to a store other than `store` (the id in
/// the store file; None: the file has none yet, so any id is another store's).
pub(super) fn pending(
    log: &[u8],
    durable: u64,
    store: Option<u64>,
) -> Result<(Vec<Record<'_>>, usize)> {
    let mut out: Vec<Record<'_>> = Vec::new();
    let (mut at, mut last) = (0usize, None::<u64>);
    let record_at = |at: usize| Some((at, log.get(at..).and_then(parse)?));
    while let Some((start, (record, len))) =
        record_at(at).or_else(|| page_up(at).filter(|&p| p != at).and_then(record_at))
    {
        if last.is_some_and(|l| l.checked_add(1) != Some(record.seq)) {
            break;
        }
        last = Some(record.seq);
        at = start + len;
        if record.seq <= durable {
            continue;
        }
        // First: another store's records say nothing of this one's (gaps, schema).
        if record.store.is_some_and(|id| Some(id) != store) {
            return Err(corrupt(format!(
                "the store's log ({LOG_FILE}) holds writes to another store than the store file \
                 beside it; if that file is the store to serve, move {LOG_FILE} out of the data \
                 directory"
            )));
        }
        let expected = out.last().map_or(durable, |r| r.seq).checked_add(1);
        if expected != Some(record.seq) {
            return Err(corrupt(format!(
                "the store's log ({LOG_FILE}) starts at write {} but the store holds only up to \
                 {durable}",
                record.seq
            )));
        }
        if record.schema != SCHEMA_VERSION {
            return Err(corrupt(format!(
                "the store's log ({LOG_FILE}) holds writes of schema version {} (this build: \
                 {SCHEMA_VERSION}); start the version that wrote it once and stop it cleanly \
                 before changing versions",
                record.schema
            )));
        }
        out.push(record);
    }
    Ok((out, at))
}

fn corrupt(why: String) -> Error {
    Error::Failed(Failure::Corrupt(why))
}

fn io(why: &'static str, e: std::io::Error) -> Error {
    Error::Failed(Failure::Io { why, source: Some(Arc::new(redb::Error::Io(e))) })
}

/// The log file and where the next record goes.
pub(super) struct Log {
    file: File,
    /// The same file opened for direct, synchronous writes (`O_DIRECT | O_DSYNC`): an append is
    /// one write that returns once on the disk, without the page cache's copy and writeback. None
    /// where the file system does not take them (tmpfs); then writes go through `file` and an
    /// `fdatasync`.
    direct: Option<File>,
    /// Where a record is copied to be written directly: such writes need memory aligned to the
    /// device's blocks, and a `Vec<u8>` is aligned to nothing; the page-aligned run inside it is
    /// used.
    scratch: Vec<u8>,
    path: PathBuf,
    at: u64,
    /// Where the last appended record starts, until a checkpoint or a cancel.
    last_at: Option<u64>,
    next_seq: u64,
    /// The store's id, which each record carries (`set_store`, before the first append).
    store: u64,
}

impl Log {
    /// Opens (creating) the log in `data_dir`; `replay` must run before the first `append`.
    pub(super) fn open(data_dir: &Path) -> Result<Log> {
        let path = data_dir.join(LOG_FILE);
        let storage = |e: std::io::Error| {
            Error::Failed(Failure::Storage(format!("opening {}: {e}", path.display())))
        };
        let created = !path.exists();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(storage)?;
        let len = file.metadata().map_err(storage)?.len();
        if len < PREALLOCATE {
            // Best effort: on a nearly full disk appends extend the file instead.
            let zeros = vec![0u8; usize::try_from(PREALLOCATE - len).unwrap_or(0)];
            if file.write_all_at(&zeros, len).is_err() {
                let _ = file.set_len(len);
            }
            file.sync_all().map_err(storage)?;
        }
        if created {
            // The file's name must survive a crash as surely as what is written into it.
            File::open(data_dir).and_then(|d| d.sync_all()).map_err(storage)?;
        }
        let direct = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT | libc::O_DSYNC)
            .open(&path)
            .ok();
        Ok(Log {
            file,
            direct,
            scratch: Vec::new(),
            path,
            at: 0,
            last_at: None,
            next_seq: 1,
            store: 0,
        })
    }

    /// Applies to `db` what the log holds beyond its durable state and makes `db` durable,
    /// then starts the log over. When the disk refuses that durable commit (full), what was
    /// replayed is visible but still only in the log, which then goes on after it. Returns the
    /// records replayed.
    pub(super) fn replay(&mut self, db: &Database) -> Result<usize> {
        let bytes = std::fs::read(&self.path).map_err(|e| {
            Error::Failed(Failure::Storage(format!("reading {}: {e}", self.path.display())))
        })?;
        let read = redb::ReadableDatabase::begin_read(db)?;
        let (durable, store) = (durable_seq(&read)?, store_id(&read)?);
        drop(read);
        let (records, end) = pending(&bytes, durable, store)?;
        let last = records.last().map_or(durable, |r| r.seq);
        let mut durable_now = true;
        if !records.is_empty() {
            let mut txn = db.begin_write()?;
            txn.set_durability(redb::Durability::None)
                .map_err(|e| Failure::Storage(format!("replaying the log: {e}")))?;
            for record in &records {
                for op in codec::decode::<Vec<Op>>(record.payload)? {
                    apply(&txn, &op)?;
                }
            }
            txn.open_table(META)?.insert(META_WAL_SEQ, last)?;
            txn.commit()?;
            let durable = db.begin_write().map_err(Error::from).and_then(|t| Ok(t.commit()?));
            if let Err(e) = &durable {
                tracing::debug!(error = %e, "the replayed log could not be made durable yet");
            }
            durable_now = durable.is_ok();
        }
        self.at = if durable_now { 0 } else { end as u64 };
        self.last_at = None;
        self.next_seq = last + 1;
        Ok(records.len())
    }

    /// The store the records are of (its `META_STORE_ID`).
    pub(super) fn set_store(&mut self, store: u64) {
        self.store = store;
    }

    /// The sequence the next record gets.
    pub(super) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Appends a batch's writes, on pages of their own, and waits until they are on the disk.
    pub(super) fn append(&mut self, ops: &[Op]) -> Result<()> {
        let mut record = encode(self.next_seq, SCHEMA_VERSION, self.store, &codec::encode(&ops)?)?;
        // Zeros to the end of the page, so no older bytes there are taken for a record.
        record.resize(page_up(record.len()).unwrap_or(record.len()), 0);
        let at = self.at.checked_next_multiple_of(PAGE as u64).unwrap_or(self.at);
        self.write_durably(&record, at)
            .map_err(|e| io("the disk refused a write to the store's log", e))?;
        self.last_at = Some(at);
        self.at = at + record.len() as u64;
        self.next_seq += 1;
        Ok(())
    }

    /// Takes back the last `append` (its batch did not commit): its record is overwritten, so a
    /// replay ends before it.
    pub(super) fn cancel_last(&mut self) -> Result<()> {
        let Some(at) = self.last_at.take() else { return Ok(()) };
        // All its pages, so no part of it is read as a record at a later page.
        let len = usize::try_from(self.at.saturating_sub(at)).unwrap_or(PAGE).max(PAGE);
        self.write_durably(&vec![0u8; len], at)
            .map_err(|e| io("the disk refused a write to the store's log", e))?;
        self.at = at;
        self.next_seq = self.next_seq.saturating_sub(1);
        Ok(())
    }

    /// Writes whole pages at a page boundary and returns once they are on the disk: directly
    /// when the file system takes that, else through the page cache and an `fdatasync`.
    fn write_durably(&mut self, pages: &[u8], at: u64) -> std::io::Result<()> {
        if let Some(direct) = &self.direct {
            self.scratch.clear();
            self.scratch.resize(pages.len() + PAGE, 0);
            let start = self.scratch.as_ptr().align_offset(PAGE).min(PAGE);
            if let Some(aligned) = self.scratch.get_mut(start..start + pages.len()) {
                aligned.copy_from_slice(pages);
                match direct.write_all_at(aligned, at) {
                    Ok(()) => return Ok(()),
                    // Alignment this device does not take: the page cache from now on.
                    Err(e) if e.raw_os_error() == Some(libc::EINVAL) => self.direct = None,
                    Err(e) => return Err(e),
                }
            }
        }
        self.file.write_all_at(pages, at).and_then(|()| self.file.sync_data())
    }

    /// The store file now holds everything logged: the next record goes to the start.
    pub(super) fn checkpointed(&mut self) {
        self.at = 0;
        self.last_at = None;
    }

    /// Bytes written since the last checkpoint.
    pub(super) fn used(&self) -> u64 {
        self.at
    }
}

/// The sequence of the last log record the store file holds (0: none).
fn durable_seq(read: &redb::ReadTransaction) -> Result<u64> {
    Ok(tables::meta(read, META_WAL_SEQ)?.unwrap_or(0))
}

/// The store's id, if it has one yet.
fn store_id(read: &redb::ReadTransaction) -> Result<Option<u64>> {
    tables::meta(read, META_STORE_ID)
}

/// The store's id, made (random, committed durably) when it has none: a new store, or one
/// last opened by a build before log records carried it.
pub(super) fn ensure_store_id(db: &Database) -> Result<u64> {
    if let Some(id) = store_id(&redb::ReadableDatabase::begin_read(db)?)? {
        return Ok(id);
    }
    // The random half of a v7 UUID: 62 random bits.
    let id = uuid::Uuid::now_v7().as_u64_pair().1;
    let txn = db.begin_write()?;
    txn.open_table(META)?.insert(META_STORE_ID, id)?;
    txn.commit()?;
    Ok(id)
}

/// Replays one write into the table it names.
fn apply(txn: &redb::WriteTransaction, op: &Op) -> Result<()> {
    macro_rules! to {
        ($table:ident) => {
            if op.table == tables::$table.name() {
                return super::txn::apply(txn, tables::$table, op);
            }
        };
    }
    tables::each_table!(to);
    Err(corrupt(format!("the store's log names a table this build does not have: {}", op.table)))
}

/// Removes the log in `data_dir`, if any (when no store file is there for it to belong to).
pub(super) fn discard(data_dir: &Path) -> Result<()> {
    match std::fs::remove_file(data_dir.join(LOG_FILE)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => {
            Err(Error::Failed(Failure::Storage(format!("removing the store's old log: {e}"))))
        }
    }
}

/// Whether the log in `data_dir` holds writes the store file (read by `read`) lacks (then only
/// `serve`, which replays them, should open the store).
pub(super) fn has_pending(data_dir: &Path, read: &redb::ReadTransaction) -> Result<bool> {
    let (durable, store) = (durable_seq(read)?, store_id(read)?);
    match std::fs::read(data_dir.join(LOG_FILE)) {
        Ok(bytes) => Ok(!pending(&bytes, durable, store)?.0.is_empty()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::Failed(Failure::Storage(format!("reading the store's log: {e}")))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STORE: u64 = 0x5eed;

    fn log_of(records: &[(u64, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (seq, payload) in records {
            out.extend(encode(*seq, SCHEMA_VERSION, STORE, payload).unwrap());
        }
        out
    }

    #[test]
    fn replay_takes_what_follows_the_durable_state_and_stops_at_an_older_round() {
        // A round of 5..=7 written over an older one whose 3rd record is left behind.
        let mut log = log_of(&[(5, b"a"), (6, b"b"), (7, b"c")]);
        log.extend(log_of(&[(3, b"old")]));
        let seqs = |durable| -> Vec<u64> {
            pending(&log, durable, Some(STORE)).unwrap().0.iter().map(|r| r.seq).collect()
        };
        assert_eq!(seqs(4), [5, 6, 7]);
        assert_eq!(seqs(6), [7]);
        assert!(seqs(7).is_empty());
        assert!(seqs(100).is_empty());
        // Records lost between the durable state and the log: refused, not skipped.
        assert!(pending(&log, 2, Some(STORE)).is_err());
        // Another schema's writes are not replayed by this build.
        let other = encode(1, SCHEMA_VERSION + 1, STORE, b"x").unwrap();
        assert!(pending(&other, 0, Some(STORE)).is_err());
        assert!(pending(&other, 1, Some(STORE)).unwrap().0.is_empty());
    }

    #[test]
    fn a_torn_append_ends_the_log() {
        let log = log_of(&[(1, b"first"), (2, b"second record")]);
        let whole = log.len();
        for cut in 0..whole {
            let n = pending(&log[..cut], 0, Some(STORE)).unwrap().0.len();
            let first = encode(1, SCHEMA_VERSION, STORE, b"first").unwrap().len();
            assert_eq!(n, usize::from(cut >= first), "cut at {cut}");
        }
        assert_eq!(pending(&log, 0, Some(STORE)).unwrap().0.len(), 2);
    }

    #[test]
    fn another_stores_log_is_refused_and_the_older_format_still_read() {
        let log = log_of(&[(3, b"a"), (4, b"b")]);
        let why = pending(&log, 2, Some(STORE + 1)).err().map(|e| e.to_string());
        assert!(why.is_some_and(|w| w.contains("another store")));
        // Said so even where the sequences would also not line up.
        let why = pending(&log, 0, Some(STORE + 1)).err().map(|e| e.to_string());
        assert!(why.is_some_and(|w| w.contains("another store")));
        // A store file without an id yet has no records of its own in the log.
        assert!(pending(&log, 2, None).is_err());
        // What it does not replay, it does not judge.
        assert!(pending(&log, 4, Some(STORE + 1)).unwrap().0.is_empty());
        // Records of the format before ids (as the build before wrote them) replay into any.
        let mut v1 = Vec::new();
        for (seq, payload) in [(3u64, b"a"), (4, b"b")] {
            v1.extend_from_slice(&MAGIC_V1);
            v1.extend_from_slice(&1u32.to_le_bytes());
            v1.extend_from_slice(&seq.to_le_bytes());
            v1.extend_from_slice(&SCHEMA_VERSION.to_le_bytes());
            v1.extend_from_slice(&checksum(seq, SCHEMA_VERSION, None, payload));
            v1.extend_from_slice(payload);
        }
        let (records, end) = pending(&v1, 2, Some(STORE)).unwrap();
        assert_eq!(
            records.iter().map(|r| (r.seq, r.store)).collect::<Vec<_>>(),
            [(3, None), (4, None)]
        );
        assert_eq!(end, v1.len());
        assert_eq!(pending(&v1, 2, None).unwrap().0.len(), 2);
    }

    #[test]
    fn appended_records_start_on_pages_of_their_own_and_replay_in_order() {
        for direct in [true, false] {
            appended_records_replay(direct);
        }
    }

    /// `direct`: as the file system allows (direct writes on the disk the tests run on), else
    /// through the page cache and an fsync.
    fn appended_records_replay(direct: bool) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path()).unwrap();
        if !direct {
            log.direct = None;
        }
        log.set_store(STORE);
        let op = |n: usize| Op { table: "t".into(), key: vec![1; n], value: Some(vec![2; n]) };
        // One record under a page, one over a page, one under again.
        for ops in [vec![op(10)], vec![op(1500), op(1500)], vec![op(20)]] {
            log.append(&ops).unwrap();
            assert_eq!(log.used() % PAGE as u64, 0, "each record ends its last page");
        }
        assert_eq!(log.used(), 4 * PAGE as u64);
        // Older bytes in the file past the records (an earlier round, larger) are not read.
        let mut bytes = std::fs::read(dir.path().join(LOG_FILE)).unwrap();
        bytes[4 * PAGE..5 * PAGE].copy_from_slice(&[0xAB; PAGE]);
        let stale = encode(2, SCHEMA_VERSION, STORE, b"older round").unwrap();
        bytes[5 * PAGE..5 * PAGE + stale.len()].copy_from_slice(&stale);
        let (records, end) = pending(&bytes, 0, Some(STORE)).unwrap();
        assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3]);
        let ops: Vec<Op> = codec::decode(records[1].payload).unwrap();
        assert_eq!(ops.iter().map(|o| o.key.len()).collect::<Vec<_>>(), [1500, 1500]);
        assert!(end <= 4 * PAGE);
        // A cancelled last record is not replayed, and the next append takes its place.
        log.cancel_last().unwrap();
        let bytes = std::fs::read(dir.path().join(LOG_FILE)).unwrap();
        assert_eq!(pending(&bytes, 0, Some(STORE)).unwrap().0.len(), 2);
        log.append(&[op(5)]).unwrap();
        let bytes = std::fs::read(dir.path().join(LOG_FILE)).unwrap();
        let (records, _) = pending(&bytes, 0, Some(STORE)).unwrap();
        assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(log.used(), 4 * PAGE as u64);
        // A cancelled record of two pages is zeroed whole, not only where it starts.
        log.append(&[op(1500), op(1500)]).unwrap();
        assert_eq!(log.used(), 6 * PAGE as u64);
        log.cancel_last().unwrap();
        let bytes = std::fs::read(dir.path().join(LOG_FILE)).unwrap();
        assert!(bytes[4 * PAGE..6 * PAGE].iter().all(|&b| b == 0));
        assert_eq!(log.used(), 4 * PAGE as u64);
    }

    proptest! {
        /// Hostile bytes: never a panic, and a record only where its checksum holds.
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Some((record, len)) = parse(&bytes) {
                prop_assert!(len <= bytes.len());
                prop_assert_eq!(len, HEADER + record.payload.len());
            }
            let _ = pending(&bytes, 0, Some(STORE));
        }

        /// Any one byte changed in a record: it is no longer read.
        #[test]
        fn a_changed_byte_is_found(
            payload in proptest::collection::vec(any::<u8>(), 0..100),
            seq in any::<u64>(),
            store in any::<u64>(),
            at in any::<prop::sample::Index>(),
            flip in 1u8..,
        ) {
            let mut record = encode(seq, SCHEMA_VERSION, store, &payload).unwrap();
            let (parsed, len) = parse(&record).unwrap();
            let whole = Record { seq, schema: SCHEMA_VERSION, store: Some(store), payload: &payload };
            prop_assert_eq!(parsed, whole);
            prop_assert_eq!(len, record.len());
            let i = at.index(record.len());
            record[i] ^= flip;
            prop_assert!(parse(&record).is_none());
        }
    }
}
