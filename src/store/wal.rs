//! The store's log: how a group commit becomes durable without flushing the store file.
//!
//! An fsync of the redb file costs with the number of scattered pages a commit dirtied (a user
//! create touches a dozen B-trees: ~29 page writes), so the writer appends each batch's table
//! writes (`txn::Op`) to this log, synced (one sequential write), and only then commits the batch
//! to redb without an fsync (`Durability::None`: visible at once, gone after a crash). Every
//! `checkpoint_every` commits, when the writer is idle, and at a clean stop, a durable redb
//! commit persists everything and the log begins a new round at its start. At open, the records
//! the durable file does not hold yet are replayed. `docs/design/store-log.md` has the whole
//! design: formats, invariants, failure handling and the tests of each claim.
//!
//! A record: magic `WLG3` | payload length u32 | sequence u64 | schema u64 | store id u64 |
//! epoch u64 | the first 16 bytes of blake3 over the other header fields and the payload |
//! payload; integers little-endian. Each record starts on a 4 KiB page, zeros filling the rest of
//! its last page, because records are written with `O_DIRECT | O_DSYNC` where the file system
//! takes it (one write that returns once the pages are on the disk); elsewhere (tmpfs) a buffered
//! write and an `fdatasync`.
//!
//! Rounds: each durable commit of the store file begins a round with a new epoch, which it
//! records in the file (`META_WAL_EPOCH`), and the round's first record, at the log's start, is
//! its header (sequence = the last write the file holds, payload = the log's length). The
//! round's writes follow, one after another, each on the next page with the next sequence. So a
//! replay knows what to expect: the header of the file's epoch at the start (else the log was
//! lost), a chain of records after it, and after the chain's end no record of that epoch (else a
//! record in the middle was damaged: only the last append can be torn, since each is synced
//! before the next is written). Records of other epochs are older rounds' leftovers. A clean stop
//! records `META_WAL_CLEAN`: the file is the whole store and the log need not exist.

use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase, TableHandle};

use super::codec;
use super::error::{Error, Failure, Result};
use super::tables::SCHEMA_VERSION;
use super::tables::{self, META};
use super::txn::Op;

/// File name of the log inside the data directory.
pub const LOG_FILE: &str = "whoot.log";
/// `META` key: the sequence of the last log record the store holds.
pub(super) const META_WAL_SEQ: &str = "wal_seq";
/// `META` key: the store's id, which its log records carry.
pub(super) const META_STORE_ID: &str = "store_id";
/// `META` key: the log's round that began when the store file was last made durable.
pub(super) const META_WAL_EPOCH: &str = "wal_epoch";
/// `META` key: 1 when the file holds every write and the log none (a clean stop, a copy).
pub(super) const META_WAL_CLEAN: &str = "wal_clean";
/// `META` keys: the range of writes lost when a loss was last accepted (`recover --accept-loss`,
/// `tables::META_LOSS_AT`; `to` 0: unknown).
const META_LOSS_FROM: &str = "log_loss_from";
const META_LOSS_TO: &str = "log_loss_to";

const MAGIC: [u8; 4] = *b"WLG3";
const HEADER: usize = 4 + 4 + 8 + 8 + 8 + 8 + 16;
/// Formats of earlier builds: read only to refuse what they hold (see `plan`).
const MAGIC_V2: [u8; 4] = *b"WLG2";
const MAGIC_V1: [u8; 4] = *b"WLG1";
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
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(super) struct Record<'a> {
    pub seq: u64,
    pub schema: u64,
    /// None in a record of the first format (`WLG1`).
    pub store: Option<u64>,
    /// None in a record of the formats before rounds (`WLG1`, `WLG2`).
    pub epoch: Option<u64>,
    pub payload: &'a [u8],
}

impl Record<'_> {
    /// Whether it is a record of this format written for `store`.
    fn of(&self, store: Option<u64>) -> bool {
        self.epoch.is_some() && store.is_some() && self.store == store
    }
}

fn checksum(
    seq: u64,
    schema: u64,
    store: Option<u64>,
    epoch: Option<u64>,
    payload: &[u8],
) -> [u8; 16] {
    let mut h = blake3::Hasher::new();
    h.update(&seq.to_le_bytes()).update(&schema.to_le_bytes());
    for id in [store, epoch].into_iter().flatten() {
        h.update(&id.to_le_bytes());
    }
    h.update(payload);
    let mut out = [0; 16];
    out.copy_from_slice(&h.finalize().as_bytes()[..16]);
    out
}

pub(super) fn encode(
    seq: u64,
    schema: u64,
    store: u64,
    epoch: u64,
    payload: &[u8],
) -> Result<Vec<u8>> {
    let len = u32::try_from(payload.len())
        .map_err(|_| Error::Failed(Failure::Storage("a batch too large for the log".into())))?;
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&len.to_le_bytes());
    for n in [seq, schema, store, epoch] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    out.extend_from_slice(&checksum(seq, schema, Some(store), Some(epoch), payload));
    out.extend_from_slice(payload);
    Ok(out)
}

/// The record at the start of `bytes` and its length, if one is there whole.
pub(super) fn parse(bytes: &[u8]) -> Option<(Record<'_>, usize)> {
    // How many of (store, epoch) the format carries.
    let ids = match bytes.get(..4)? {
        m if m == MAGIC => 2,
        m if m == MAGIC_V2 => 1,
        m if m == MAGIC_V1 => 0,
        _ => return None,
    };
    let header = 4 + 4 + 8 + 8 + 8 * ids + 16;
    let rest = bytes.get(4..header)?;
    let int = |at: usize, n: usize| -> Option<u64> {
        let mut b = [0u8; 8];
        b.get_mut(..n)?.copy_from_slice(rest.get(at..at + n)?);
        Some(u64::from_le_bytes(b))
    };
    let len = usize::try_from(int(0, 4)?).ok()?;
    let (seq, schema) = (int(4, 8)?, int(12, 8)?);
    let store = if ids >= 1 { Some(int(20, 8)?) } else { None };
    let epoch = if ids >= 2 { Some(int(28, 8)?) } else { None };
    let sum_at = 20 + 8 * ids;
    let sum = rest.get(sum_at..sum_at + 16)?;
    let payload = bytes.get(header..header.checked_add(len)?)?;
    (sum == checksum(seq, schema, store, epoch, payload))
        .then_some((Record { seq, schema, store, epoch, payload }, header + len))
}

/// What the store file says of its log (its `META`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Durable {
    /// The last log record the file holds (0: none).
    pub seq: u64,
    pub store: Option<u64>,
    /// None: the file was last written by a build before rounds.
    pub epoch: Option<u64>,
    pub clean: bool,
}

impl Durable {
    /// The writes after the last one the file holds, lost for `why` (up to `to`, if known).
    fn lost(&self, why: String, to: Option<u64>) -> Option<Loss> {
        Some(Loss { why, from: self.seq.saturating_add(1), to })
    }

    pub(super) fn read(read: &redb::ReadTransaction) -> Result<Durable> {
        Ok(Durable {
            seq: tables::meta(read, META_WAL_SEQ)?.unwrap_or(0),
            store: tables::meta(read, META_STORE_ID)?,
            epoch: tables::meta(read, META_WAL_EPOCH)?,
            clean: tables::meta(read, META_WAL_CLEAN)? == Some(1),
        })
    }
}

/// Acknowledged writes the log should hold for its store but does not give back whole.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Loss {
    /// What was found, in an operator's words.
    pub why: String,
    /// The first write (log sequence) lost.
    pub from: u64,
    /// The last write known lost; None when the log cannot say (missing, cut).
    pub to: Option<u64>,
}

impl Loss {
    /// The refusal an operator reads: what is lost, and the two ways out.
    fn refusal(&self) -> Error {
        let range = match self.to {
            Some(to) if to > self.from => format!("writes {}..={to} of its log", self.from),
            Some(_) => format!("write {} of its log", self.from),
            None => format!("its writes from {} on (how many is unknown)", self.from),
        };
        Error::Failed(Failure::LogLoss(format!(
            "{} The store would lose {range}, which were acknowledged, so it does not start. \
             Either restore the last backup (`whoot-mgmt restore`), or accept the loss with \
             `whoot-mgmt recover --accept-loss`, which keeps what the log gives back whole, sets \
             the rest aside as {LOG_FILE}.lost-<time> and starts the log over.",
            self.why
        )))
    }
}

/// What a replay of the log does: the records it applies, where they end, and what it must not
/// pass over silently.
#[derive(Debug)]
pub(super) struct Plan<'a> {
    pub records: Vec<Record<'a>>,
    pub end: usize,
    pub loss: Option<Loss>,
    /// The highest epoch any record of this store in the log carries: a new round must be above
    /// it, so no leftover can continue the new chain.
    pub top_epoch: u64,
}

/// Reads the log `log` (None: there is none) against the store file's `durable` state: the
/// records to replay, or the loss that must refuse the start. Pure, for the tests and the fuzzer.
pub(super) fn plan(log: Option<&[u8]>, durable: Durable) -> Plan<'_> {
    let bytes = log.unwrap_or(&[]);
    let pages =
        || (0..bytes.len()).step_by(PAGE).filter_map(|at| Some((at, parse(bytes.get(at..)?)?)));
    let top_epoch =
        pages().filter(|(_, (r, _))| r.of(durable.store)).filter_map(|(_, (r, _))| r.epoch).max();
    let mut out =
        Plan { records: Vec::new(), end: 0, loss: None, top_epoch: top_epoch.unwrap_or(0) };
    // Another store's records are never this one's history, whatever its state.
    if let Some((first, _)) = parse(bytes)
        && first.store.is_some_and(|id| Some(id) != durable.store)
    {
        out.loss = durable.lost(
            format!(
                "The store's log ({LOG_FILE}) holds writes to another store than the store file \
                 beside it (if that file is the store to serve, move {LOG_FILE} out of the data \
                 directory)."
            ),
            None,
        );
        return out;
    }
    if durable.clean {
        return out;
    }
    let Some(epoch) = durable.epoch else {
        out.loss = older_format(bytes, durable);
        return out;
    };
    if log.is_none() {
        out.loss = durable.lost(
            format!(
                "The store's log ({LOG_FILE}) is missing, but the store file was not closed \
                 cleanly: the writes acknowledged since its last checkpoint were only there."
            ),
            None,
        );
        return out;
    }
    let of_round = |e: u64| {
        move |(_, (r, _)): &(usize, (Record<'_>, usize))| r.of(durable.store) && r.epoch == Some(e)
    };
    let header = parse(bytes)
        .filter(|(r, _)| r.of(durable.store) && r.epoch == Some(epoch) && r.seq == durable.seq);
    let Some((header, header_len)) = header else {
        out.loss = headless(bytes, durable, epoch);
        return out;
    };
    let was = header.payload.try_into().map(u64::from_le_bytes).unwrap_or(0);
    if (bytes.len() as u64) < was {
        out.loss = durable.lost(
            format!(
                "The store's log ({LOG_FILE}) was cut short: {} bytes, where it had {was} when \
                 the store file was last made whole.",
                bytes.len()
            ),
            None,
        );
        return out;
    }
    let (mut at, mut expect) =
        (page_up(header_len).unwrap_or(usize::MAX), durable.seq.saturating_add(1));
    while let Some((r, len)) = bytes
        .get(at..)
        .and_then(parse)
        .filter(|(r, _)| r.of(durable.store) && r.epoch == Some(epoch) && r.seq == expect)
    {
        if r.schema != SCHEMA_VERSION {
            out.loss = durable.lost(
                format!(
                    "The store's log ({LOG_FILE}) holds writes of schema version {} (this build: \
                     {SCHEMA_VERSION}): start the version that wrote it once and stop it cleanly \
                     before changing versions.",
                    r.schema
                ),
                None,
            );
            return out;
        }
        out.records.push(r);
        at = page_up(at + len).unwrap_or(usize::MAX);
        expect = expect.saturating_add(1);
    }
    out.end = at.min(bytes.len());
    // Past the chain's end nothing of its round may verify: only the last append can be torn.
    let after = pages().filter(|(p, _)| *p >= at);
    if let Some(top) = after.filter(of_round(epoch)).map(|(_, (r, _))| r.seq).max() {
        out.loss = Some(Loss {
            why: format!(
                "The store's log ({LOG_FILE}) is damaged: write {expect} does not verify, but \
                 later writes of the same round do, so the damage is not a write torn by a crash."
            ),
            from: expect,
            to: Some(top.max(expect)),
        });
    } else if out.top_epoch > epoch {
        out.loss = newer(durable);
    }
    out
}

/// The log of a store whose file names no round (last written by a build before rounds): its
/// records are of an older format, which this build does not replay.
fn older_format(bytes: &[u8], durable: Durable) -> Option<Loss> {
    // Such logs were chains from the start, each record where the last ended or on the next
    // page.
    let (mut at, mut pending) = (0usize, false);
    let record_at = |at: usize| Some((at, bytes.get(at..).and_then(parse)?));
    while let Some((start, (r, len))) =
        record_at(at).or_else(|| page_up(at).filter(|&p| p != at).and_then(record_at))
    {
        if r.epoch.is_some() {
            break;
        }
        pending |= r.seq > durable.seq;
        at = start + len;
    }
    let why = format!(
        "The store's log ({LOG_FILE}) holds writes in the format of an earlier build (records \
         without rounds), which this build does not replay: start the build that wrote it once \
         and stop it cleanly before changing versions."
    );
    if pending { durable.lost(why, None) } else { None }
}

/// The log lacks the header of the store file's round `epoch`: nothing is lost only where the
/// log shows a round change that a crash interrupted.
fn headless(bytes: &[u8], durable: Durable, epoch: u64) -> Option<Loss> {
    let ours = |r: &Record<'_>| r.of(durable.store);
    // The latest write of this round (or a later one) found past the start.
    let rest = |round: &dyn Fn(u64) -> bool| {
        (0..bytes.len())
            .step_by(PAGE)
            .skip(1)
            .filter_map(|at| parse(bytes.get(at..)?))
            .filter(|(r, _)| ours(r) && r.epoch.is_some_and(round))
            .map(|(r, _)| r.seq)
            .max()
    };
    let first = parse(bytes).map(|(r, _)| r).filter(ours);
    if let Some(top) = rest(&|e| e == epoch) {
        let why = format!(
            "The store's log ({LOG_FILE}) is damaged: its first record does not verify, but \
             later writes of the same round do."
        );
        return durable.lost(why, Some(top));
    }
    let later = rest(&|e| e > epoch).is_some();
    match first {
        _ if later => newer(durable),
        // A checkpoint made the file whole; the crash came before the new round's header.
        Some(r) if r.epoch == epoch.checked_sub(1) => None,
        // A round's header written ahead of the commit that records it (nothing was pending).
        Some(r) if r.epoch == epoch.checked_add(1) && r.seq == durable.seq => None,
        Some(r) if r.epoch.is_some_and(|e| e > epoch) => newer(durable),
        _ => durable.lost(
            format!(
                "The store's log ({LOG_FILE}) was emptied, cut or replaced: it lacks the records \
                 the store file expects after its last checkpoint."
            ),
            None,
        ),
    }
}

fn newer(durable: Durable) -> Option<Loss> {
    let why = format!(
        "The store's log ({LOG_FILE}) is newer than the store file (was the file replaced by an \
         older copy? copy a data directory only with `whoot-mgmt backup`)."
    );
    durable.lost(why, None)
}

fn io(why: &'static str, e: std::io::Error) -> Error {
    Error::Failed(Failure::Io { why, source: Some(Arc::new(redb::Error::Io(e))) })
}

fn refused(e: std::io::Error) -> Error {
    io("the disk refused a write to the store's log", e)
}

/// What opening the store did with its log.
#[derive(Debug, Default, serde::Serialize)]
pub struct Replayed {
    /// Commits replayed.
    pub commits: usize,
    /// What was accepted as lost (`recover --accept-loss`).
    pub loss: Option<Loss>,
    /// Where the log was set aside before it started over, when a loss was accepted.
    pub kept: Option<PathBuf>,
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
    /// Whether `open` made the file (then there was no log).
    created: bool,
    at: u64,
    /// Where the last appended record starts, until a checkpoint or a cancel.
    last_at: Option<u64>,
    next_seq: u64,
    /// The store's id, which each record carries (`set_store`, before the first append).
    store: u64,
    /// The round the records are written in.
    epoch: u64,
    /// The disk it is on (the real one but in the crash tests).
    disk: super::disk::Disk,
    /// Pages that hold a record whose batch was answered as failed but could not be zeroed (or
    /// whose append failed, so it may be on the disk): no replay may run until they are zeroed.
    unsettled: Option<(u64, usize)>,
}

impl Log {
    /// Opens (creating) the log in `data_dir`; `replay` must run before the first `append`.
    pub(super) fn open(data_dir: &Path, disk: super::disk::Disk) -> Result<Log> {
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
            created,
            at: 0,
            last_at: None,
            next_seq: 1,
            store: 0,
            epoch: 0,
            disk,
            unsettled: None,
        })
    }

    /// Applies to `db` what the log holds beyond its durable state and begins a new round (one
    /// durable commit). A loss (`plan`) refuses, unless `accept_loss`: then the log is copied
    /// aside and what it gives back whole is kept.
    pub(super) fn replay(&mut self, db: &Database, accept_loss: bool) -> Result<Replayed> {
        self.settle()?;
        let bytes = match self.created {
            true => None,
            false => Some(std::fs::read(&self.path).map_err(|e| {
                Error::Failed(Failure::Storage(format!("reading {}: {e}", self.path.display())))
            })?),
        };
        let durable = Durable::read(&db.begin_read()?)?;
        let plan = plan(bytes.as_deref(), durable);
        let mut replayed = Replayed { commits: plan.records.len(), ..Replayed::default() };
        if let Some(loss) = plan.loss.clone() {
            if !accept_loss {
                if self.created {
                    // A refused start changes nothing: no empty log is left for the next to find.
                    let _ = std::fs::remove_file(&self.path);
                }
                return Err(loss.refusal());
            }
            if let Some(bytes) = &bytes {
                replayed.kept = Some(self.set_aside(bytes)?);
            }
            replayed.loss = Some(loss);
        }
        let last = plan.records.last().map_or(durable.seq, |r| r.seq);
        let epoch = durable.epoch.unwrap_or(0).max(plan.top_epoch).saturating_add(1);
        self.store = durable.store.unwrap_or(self.store);
        // With nothing to replay the log's old contents are not needed: its new header goes
        // first, so a crash before the commit finds it (see `headless`).
        let header_first = plan.records.is_empty();
        if header_first {
            self.begin_round(epoch, last)?;
        }
        let pending: usize = plan.records.iter().map(|r| r.payload.len()).sum();
        Log::replay_commit(db, &plan, epoch, last, &replayed).map_err(|e| self.full(e, pending))?;
        if !header_first {
            self.begin_round(epoch, last)?;
        }
        self.created = false;
        Ok(replayed)
    }

    /// The durable commit of a replay: the records, and the round that begins with it.
    fn replay_commit(
        db: &Database,
        plan: &Plan<'_>,
        epoch: u64,
        last: u64,
        replayed: &Replayed,
    ) -> Result<()> {
        let txn = super::txn::begin_durable(db)?;
        for record in &plan.records {
            for op in codec::decode::<Vec<Op>>(record.payload)? {
                apply(&txn, &op)?;
            }
        }
        {
            let mut meta = txn.open_table(META)?;
            meta.insert(META_WAL_SEQ, last)?;
            meta.insert(META_WAL_EPOCH, epoch)?;
            meta.insert(META_WAL_CLEAN, 0)?;
            if let Some(loss) = &replayed.loss {
                let now = u64::try_from(crate::time::now_ms()).unwrap_or(0);
                meta.insert(super::tables::META_LOSS_AT, now)?;
                meta.insert(META_LOSS_FROM, loss.from)?;
                meta.insert(META_LOSS_TO, loss.to.unwrap_or(0))?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// A replay the disk refused (full): said so, with what is free and about what it needs (the
    /// B-tree pages its writes copy: a few times their size).
    fn full(&self, e: Error, pending: usize) -> Error {
        if !e.is_io() {
            return e;
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let free = rustix::fs::statvfs(dir).map(|s| s.f_bavail.saturating_mul(s.f_frsize) >> 10);
        let needed = (pending as u64).saturating_mul(4).saturating_add(1 << 20) >> 10;
        Error::Failed(Failure::Storage(format!(
            "the disk is full: replaying the store's log needs about {needed} KiB free in {} \
             ({} KiB free); free space there (until then the store neither starts nor takes \
             writes) ({e})",
            dir.display(),
            free.map_or("unknown".into(), |f| f.to_string()),
        )))
    }

    /// Makes the file `PREALLOCATE` long (zeros), so an append writes data only, not the file's
    /// size. Only when a round begins: before, a log shorter than it was must be seen as such.
    fn preallocate(&self) -> std::io::Result<()> {
        let len = self.file.metadata()?.len();
        if len < PREALLOCATE {
            // Best effort: on a nearly full disk appends extend the file instead.
            let zeros = vec![0u8; usize::try_from(PREALLOCATE - len).unwrap_or(0)];
            if self.file.write_all_at(&zeros, len).is_err() {
                let _ = self.file.set_len(len);
            }
            self.file.sync_all()?;
        }
        Ok(())
    }

    /// Copies the log beside itself, as `whoot.log.lost-<unix ms>` (0600), before a loss is
    /// accepted: what it held stays for an inquiry.
    fn set_aside(&self, bytes: &[u8]) -> Result<PathBuf> {
        use std::io::Write;
        let to = self.path.with_file_name(format!("{LOG_FILE}.lost-{}", crate::time::now_ms()));
        let failed = |e: std::io::Error| {
            Error::Failed(Failure::Storage(format!(
                "setting the log aside as {}: {e}",
                to.display()
            )))
        };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&to)
            .map_err(failed)?;
        file.write_all(bytes).and_then(|()| file.sync_all()).map_err(failed)?;
        Ok(to)
    }

    /// The store the records are of (its `META_STORE_ID`).
    pub(super) fn set_store(&mut self, store: u64) {
        self.store = store;
    }

    /// The sequence the next record gets.
    pub(super) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Writes round `epoch`'s header at the log's start (the store file holds up to write
    /// `last`); records follow it.
    fn begin_round(&mut self, epoch: u64, last: u64) -> Result<()> {
        self.preallocate().map_err(refused)?;
        let len = self.file.metadata().map_err(refused)?.len();
        let mut header = encode(last, SCHEMA_VERSION, self.store, epoch, &len.to_le_bytes())?;
        header.resize(page_up(header.len()).unwrap_or(header.len()), 0);
        self.write_durably(&header, 0).map_err(refused)?;
        self.epoch = epoch;
        self.at = header.len() as u64;
        self.last_at = None;
        self.next_seq = last.saturating_add(1);
        Ok(())
    }

    /// Records in `txn`, a durable commit that makes the store file whole, that it begins the
    /// next round (`clean`: that it ends the last, at a clean stop). After it commits, call
    /// `checkpointed` (or nothing more, after a clean stop).
    pub(super) fn note_round(&self, txn: &redb::WriteTransaction, clean: bool) -> Result<()> {
        let mut meta = txn.open_table(META)?;
        meta.insert(META_WAL_EPOCH, self.epoch.saturating_add(1))?;
        meta.insert(META_WAL_CLEAN, u64::from(clean))?;
        Ok(())
    }

    /// The commit `note_round` was part of is durable: the next round's header goes to the
    /// log's start. An error leaves the log without it: the writer then stops writes until it
    /// has reopened the store and replayed.
    pub(super) fn checkpointed(&mut self) -> Result<()> {
        self.begin_round(self.epoch.saturating_add(1), self.next_seq.saturating_sub(1))
    }

    /// Appends a batch's writes, on pages of their own, and waits until they are on the disk.
    pub(super) fn append(&mut self, ops: &[Op]) -> Result<()> {
        let payload = codec::encode(&ops)?;
        let mut record = encode(self.next_seq, SCHEMA_VERSION, self.store, self.epoch, &payload)?;
        // Zeros to the end of the page, so no older bytes there are taken for a record.
        record.resize(page_up(record.len()).unwrap_or(record.len()), 0);
        let at = self.at.checked_next_multiple_of(PAGE as u64).unwrap_or(self.at);
        if let Err(e) = self.write_durably(&record, at) {
            // Part or all of it may be on the disk, for a batch answered as failed.
            self.unsettled = Some((at, record.len()));
            return Err(refused(e));
        }
        self.last_at = Some(at);
        self.at = at + record.len() as u64;
        self.next_seq = self.next_seq.saturating_add(1);
        Ok(())
    }

    /// Takes back the last `append` (its batch did not commit): its record is overwritten, so a
    /// replay ends before it. When that fails, the record is remembered as unsettled and the
    /// error returned: the writer must stop writes until `settle` succeeds.
    pub(super) fn cancel_last(&mut self) -> Result<()> {
        let Some(at) = self.last_at.take() else { return Ok(()) };
        // All its pages, so no part of it is read as a record at a later page.
        let len = usize::try_from(self.at.saturating_sub(at)).unwrap_or(PAGE).max(PAGE);
        self.at = at;
        self.next_seq = self.next_seq.saturating_sub(1);
        if let Err(e) = self.write_durably(&vec![0u8; len], at) {
            self.unsettled = Some((at, len));
            return Err(refused(e));
        }
        Ok(())
    }

    /// Zeroes what `append` or `cancel_last` left unsettled; until it succeeds, no replay.
    pub(super) fn settle(&mut self) -> Result<()> {
        if let Some((at, len)) = self.unsettled {
            self.write_durably(&vec![0u8; len], at).map_err(refused)?;
            self.unsettled = None;
        }
        Ok(())
    }

    /// Writes whole pages at a page boundary and returns once they are on the disk: directly
    /// when the file system takes that, else through the page cache and an `fdatasync`.
    fn write_durably(&mut self, pages: &[u8], at: u64) -> std::io::Result<()> {
        if let Some(written) = self.disk.log_write(&self.file, pages, at) {
            return written;
        }
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

    /// Bytes written since the last checkpoint.
    pub(super) fn used(&self) -> u64 {
        self.at
    }
}

/// The store's id, made (random, committed durably) when it has none: a new store, or one
/// last opened by a build before log records carried it.
pub(super) fn ensure_store_id(db: &Database) -> Result<u64> {
    if let Some(id) = tables::meta(&db.begin_read()?, META_STORE_ID)? {
        return Ok(id);
    }
    // The random half of a v7 UUID: 62 random bits.
    let id = uuid::Uuid::now_v7().as_u64_pair().1;
    let txn = super::txn::begin_durable(db)?;
    txn.open_table(META)?.insert(META_STORE_ID, id)?;
    txn.commit()?;
    Ok(id)
}

/// Marks a store file that holds every write as needing no log (a copy made by `backup`).
pub(super) fn mark_clean(txn: &redb::WriteTransaction) -> Result<()> {
    txn.open_table(META)?.insert(META_WAL_CLEAN, 1)?;
    Ok(())
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
    Err(Error::Failed(Failure::Corrupt(format!(
        "the store's log names a table this build does not have: {}",
        op.table
    ))))
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
/// `serve`, which replays them, should open the store). A loss is refused as `serve` would.
pub(super) fn has_pending(data_dir: &Path, read: &redb::ReadTransaction) -> Result<bool> {
    let durable = Durable::read(read)?;
    let bytes = match std::fs::read(data_dir.join(LOG_FILE)) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(Error::Failed(Failure::Storage(format!("reading the store's log: {e}"))));
        }
    };
    let plan = plan(bytes.as_deref(), durable);
    match plan.loss {
        Some(loss) => Err(loss.refusal()),
        None => Ok(!plan.records.is_empty()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STORE: u64 = 0x5eed;

    fn durable(seq: u64, epoch: u64) -> Durable {
        Durable { seq, store: Some(STORE), epoch: Some(epoch), clean: false }
    }

    /// A log as the writer leaves it: round `epoch`'s header (the file holds up to `seq`) and
    /// the records after it, each on pages of its own, in a preallocated file of `pages` pages.
    fn round(epoch: u64, seq: u64, payloads: &[&[u8]], pages: usize) -> Vec<u8> {
        let mut out = vec![0u8; pages * PAGE];
        let len = (pages * PAGE) as u64;
        let mut at = 0;
        let mut put = |record: Vec<u8>| {
            out[at..at + record.len()].copy_from_slice(&record);
            at = page_up(at + record.len()).unwrap();
        };
        put(encode(seq, SCHEMA_VERSION, STORE, epoch, &len.to_le_bytes()).unwrap());
        for (i, payload) in payloads.iter().enumerate() {
            put(encode(seq + 1 + i as u64, SCHEMA_VERSION, STORE, epoch, payload).unwrap());
        }
        out
    }

    fn seqs(plan: &Plan<'_>) -> Vec<u64> {
        plan.records.iter().map(|r| r.seq).collect()
    }

    fn loss(log: Option<&[u8]>, d: Durable) -> Option<Loss> {
        plan(log, d).loss
    }

    #[test]
    fn a_round_replays_its_chain_up_to_a_torn_tail_and_ignores_older_rounds() {
        let mut log = round(2, 4, &[b"a", b"b", b"c"], 8);
        // An older round's record left behind the new one's.
        let old = encode(3, SCHEMA_VERSION, STORE, 1, b"old").unwrap();
        log[5 * PAGE..5 * PAGE + old.len()].copy_from_slice(&old);
        let p = plan(Some(&log), durable(4, 2));
        assert_eq!((seqs(&p), p.loss, p.end), (vec![5, 6, 7], None, 4 * PAGE));
        // The last record torn anywhere: the chain ends before it, and nothing is lost.
        for cut in [3 * PAGE + 1, 3 * PAGE + 30, 3 * PAGE + HEADER] {
            let mut torn = log.clone();
            torn[cut..4 * PAGE].fill(0);
            let p = plan(Some(&torn), durable(4, 2));
            assert_eq!((seqs(&p), p.loss), (vec![5, 6], None), "cut at {cut}");
        }
        // A clean store needs no log at all.
        let clean = Durable { clean: true, ..durable(4, 2) };
        assert_eq!(seqs(&plan(Some(&log), clean)), Vec::<u64>::new());
        assert_eq!(loss(None, clean), None);
    }

    #[test]
    fn a_damaged_record_followed_by_verifying_ones_is_refused_with_the_lost_range() {
        let log = round(2, 4, &[b"a", b"b", b"c", b"d"], 8);
        for (record, from) in [(1usize, 5u64), (2, 6), (3, 7)] {
            let mut bad = log.clone();
            bad[record * PAGE + HEADER] ^= 1;
            let p = plan(Some(&bad), durable(4, 2));
            let lost = p.loss.clone().unwrap();
            assert_eq!((lost.from, lost.to), (from, Some(8)), "{}", lost.why);
            assert!(lost.why.contains("damaged"));
            // What comes before the damage is what `recover --accept-loss` keeps.
            assert_eq!(seqs(&p), (5..from).collect::<Vec<_>>());
        }
        // The header itself damaged, with the round's records behind it.
        let mut bad = log.clone();
        bad[10] ^= 1;
        let lost = loss(Some(&bad), durable(4, 2)).unwrap();
        assert_eq!((lost.from, lost.to), (5, Some(8)));
        // The last record damaged is not told from a torn append: the chain ends before it.
        let mut last = log.clone();
        last[4 * PAGE + HEADER] ^= 1;
        assert_eq!(loss(Some(&last), durable(4, 2)), None);
    }

    #[test]
    fn a_missing_emptied_or_cut_log_is_refused_after_an_unclean_close() {
        let log = round(2, 4, &[b"a", b"b"], 8);
        let missing = loss(None, durable(4, 2)).unwrap();
        assert!(missing.why.contains("missing"), "{}", missing.why);
        assert_eq!((missing.from, missing.to), (5, None));
        for emptied in [vec![], vec![0u8; 8 * PAGE], vec![0xAB; PAGE]] {
            let lost = loss(Some(&emptied), durable(4, 2)).unwrap();
            assert!(lost.why.contains("emptied"), "{}", lost.why);
        }
        // Cut below the length its header recorded, even where the cut falls between records.
        let lost = loss(Some(&log[..3 * PAGE]), durable(4, 2)).unwrap();
        assert!(lost.why.contains("cut short"), "{}", lost.why);
    }

    #[test]
    fn a_crash_between_a_round_change_and_its_header_loses_nothing() {
        // The checkpoint committed epoch 3 (the file holds up to 6); the log still shows round 2.
        let log = round(2, 4, &[b"a", b"b"], 8);
        assert_eq!(loss(Some(&log), durable(6, 3)), None);
        assert_eq!(seqs(&plan(Some(&log), durable(6, 3))), Vec::<u64>::new());
        // A header written ahead of the commit that would record its round.
        let ahead = round(3, 6, &[], 8);
        assert_eq!(loss(Some(&ahead), durable(6, 2)), None);
        // But records of a round the file never began: the log is newer than the file.
        let newer = round(3, 6, &[b"x"], 8);
        let lost = loss(Some(&newer), durable(6, 2)).unwrap();
        assert!(lost.why.contains("newer"), "{}", lost.why);
        let lost = loss(Some(&round(5, 4, &[b"x"], 8)), durable(4, 2)).unwrap();
        assert!(lost.why.contains("newer"), "{}", lost.why);
        // Two rounds back is no crash window.
        assert!(loss(Some(&round(1, 4, &[], 8)), durable(6, 3)).is_some());
    }

    #[test]
    fn another_stores_an_older_formats_and_another_schemas_writes_are_refused() {
        let log = round(2, 4, &[b"a"], 8);
        let other = Durable { store: Some(STORE + 1), ..durable(4, 2) };
        assert!(loss(Some(&log), other).unwrap().why.contains("another store"));
        // Even beside a cleanly stopped store file.
        let clean = Durable { clean: true, ..other };
        assert!(loss(Some(&log), clean).unwrap().why.contains("another store"));
        // The formats before rounds: records the file lacks are refused, the rest ignored.
        let mut v1 = Vec::new();
        for (seq, payload) in [(3u64, b"a"), (4, b"b")] {
            v1.extend_from_slice(&MAGIC_V1);
            v1.extend_from_slice(&1u32.to_le_bytes());
            v1.extend_from_slice(&seq.to_le_bytes());
            v1.extend_from_slice(&SCHEMA_VERSION.to_le_bytes());
            v1.extend_from_slice(&checksum(seq, SCHEMA_VERSION, None, None, payload));
            v1.extend_from_slice(payload);
        }
        assert_eq!(parse(&v1).map(|(r, _)| (r.seq, r.store, r.epoch)), Some((3, None, None)));
        let before_rounds = Durable { epoch: None, ..durable(2, 0) };
        assert!(loss(Some(&v1), before_rounds).unwrap().why.contains("earlier build"));
        assert_eq!(loss(Some(&v1), Durable { seq: 4, ..before_rounds }), None);
        // A round of another schema's writes.
        let mut schema = round(2, 4, &[], 8);
        let r = encode(5, SCHEMA_VERSION + 1, STORE, 2, b"x").unwrap();
        schema[PAGE..PAGE + r.len()].copy_from_slice(&r);
        assert!(loss(Some(&schema), durable(4, 2)).unwrap().why.contains("schema version"));
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
        let mut log = Log::open(dir.path(), Default::default()).unwrap();
        if !direct {
            log.direct = None;
        }
        log.set_store(STORE);
        log.begin_round(2, 0).unwrap();
        let op = |n: usize| Op { table: "t".into(), key: vec![1; n], value: Some(vec![2; n]) };
        // One record under a page, one over a page, one under again.
        for ops in [vec![op(10)], vec![op(1500), op(1500)], vec![op(20)]] {
            log.append(&ops).unwrap();
            assert_eq!(log.used() % PAGE as u64, 0, "each record ends its last page");
        }
        assert_eq!(log.used(), 5 * PAGE as u64);
        let read = || std::fs::read(dir.path().join(LOG_FILE)).unwrap();
        let p =
            plan(Some(&read()), durable(0, 2)).records.iter().map(|r| r.seq).collect::<Vec<_>>();
        assert_eq!(p, [1, 2, 3]);
        let bytes = read();
        let ops: Vec<Op> =
            codec::decode(plan(Some(&bytes), durable(0, 2)).records[1].payload).unwrap();
        assert_eq!(ops.iter().map(|o| o.key.len()).collect::<Vec<_>>(), [1500, 1500]);
        // A cancelled last record is not replayed, and the next append takes its place.
        log.cancel_last().unwrap();
        assert_eq!(plan(Some(&read()), durable(0, 2)).records.len(), 2);
        log.append(&[op(5)]).unwrap();
        let bytes = read();
        let p = plan(Some(&bytes), durable(0, 2));
        assert_eq!((seqs(&p), p.loss), (vec![1, 2, 3], None));
        assert_eq!(log.used(), 5 * PAGE as u64);
        // A cancelled record of two pages is zeroed whole, not only where it starts.
        log.append(&[op(1500), op(1500)]).unwrap();
        assert_eq!(log.used(), 7 * PAGE as u64);
        log.cancel_last().unwrap();
        assert!(read()[5 * PAGE..7 * PAGE].iter().all(|&b| b == 0));
        assert_eq!(log.used(), 5 * PAGE as u64);
        // The next round's header overwrites the last one's: records 1..3 are now history.
        log.checkpointed().unwrap();
        log.append(&[op(7)]).unwrap();
        let bytes = read();
        let p = plan(Some(&bytes), durable(3, 3));
        assert_eq!((seqs(&p), p.loss), (vec![4], None));
    }

    /// Replay into a real store file: a damaged log refuses, accepting the loss keeps the whole
    /// part, sets the log aside, and begins a round no leftover can continue.
    #[test]
    fn replay_refuses_damage_and_accepting_it_starts_a_round_no_leftover_continues() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("s.redb")).unwrap();
        let mut log = Log::open(dir.path(), Default::default()).unwrap();
        log.set_store(ensure_store_id(&db).unwrap());
        assert_eq!(log.replay(&db, false).unwrap().commits, 0);
        // Writes to META (a &str key, a u64 value), as the writer logs them.
        let ops = |k: &str, v: u64| Op {
            table: META.name().into(),
            key: k.as_bytes().to_vec(),
            value: Some(v.to_le_bytes().to_vec()),
        };
        for i in 0..5u64 {
            log.append(&[ops(&format!("k{i}"), i)]).unwrap();
        }
        drop(log);
        // Damage the second record: the next open refuses and names the range.
        let path = dir.path().join(LOG_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[2 * PAGE + HEADER] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        let mut log = Log::open(dir.path(), Default::default()).unwrap();
        let why = log.replay(&db, false).err().unwrap().to_string();
        assert!(why.contains("writes 2..=5") && why.contains("recover --accept-loss"), "{why}");
        let value = |k: &str| tables::meta(&db.begin_read().unwrap(), k).unwrap();
        assert_eq!(value("k0"), None, "a refused replay applies nothing");
        let done = log.replay(&db, true).unwrap();
        assert_eq!(
            (done.commits, done.loss.as_ref().map(|l| (l.from, l.to))),
            (1, Some((2, Some(5))))
        );
        assert_eq!(std::fs::read(done.kept.unwrap()).unwrap(), bytes);
        assert_eq!((value("k0"), value("k1")), (Some(0), None));
        // New writes reach write 2 again; the old round's 3..=5 behind them must not join.
        log.append(&[ops("n2", 2)]).unwrap();
        drop(log);
        let mut log = Log::open(dir.path(), Default::default()).unwrap();
        assert_eq!(log.replay(&db, false).unwrap().commits, 1);
        assert_eq!((value("n2"), value("k2"), value("k3")), (Some(2), None, None));
    }

    /// A batch whose commit failed and whose record cannot be zeroed: the record stays marked,
    /// nothing replays until it is zeroed, and then the log ends before it.
    #[test]
    fn a_record_that_could_not_be_cancelled_is_zeroed_before_any_replay() {
        let dir = tempfile::tempdir().unwrap();
        let power = crate::store::volatile::Power::new(3);
        let db = Database::create(dir.path().join("s.redb")).unwrap();
        let mut log =
            Log::open(dir.path(), crate::store::disk::Disk::Volatile(power.clone())).unwrap();
        log.set_store(ensure_store_id(&db).unwrap());
        log.replay(&db, false).unwrap();
        let op = Op { table: META.name().into(), key: b"k".to_vec(), value: Some(vec![1; 8]) };
        log.append(std::slice::from_ref(&op)).unwrap();
        log.append(std::slice::from_ref(&op)).unwrap();
        power.set_failing(true);
        assert!(log.cancel_last().is_err());
        assert!(log.unsettled.is_some());
        assert!(log.replay(&db, false).is_err(), "no replay while the record is there");
        let read = || std::fs::read(dir.path().join(LOG_FILE)).unwrap();
        let durable = Durable::read(&db.begin_read().unwrap()).unwrap();
        assert_eq!(plan(Some(&read()), durable).records.len(), 2, "still on the disk");
        power.set_failing(false);
        log.settle().unwrap();
        assert_eq!(plan(Some(&read()), durable).records.len(), 1);
        assert_eq!(log.replay(&db, false).unwrap().commits, 1);
    }

    proptest! {
        /// Hostile bytes: never a panic, and a record only where its checksum holds.
        #[test]
        fn parse_and_plan_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Some((record, len)) = parse(&bytes) {
                prop_assert!(len <= bytes.len());
                prop_assert!(len >= record.payload.len());
            }
            let _ = plan(Some(&bytes), durable(0, 1));
            let _ = plan(Some(&bytes), Durable { epoch: None, ..durable(0, 1) });
        }

        /// Any one byte changed in a record: it is no longer read.
        #[test]
        fn a_changed_byte_is_found(
            payload in proptest::collection::vec(any::<u8>(), 0..100),
            seq in any::<u64>(),
            store in any::<u64>(),
            epoch in any::<u64>(),
            at in any::<prop::sample::Index>(),
            flip in 1u8..,
        ) {
            let mut record = encode(seq, SCHEMA_VERSION, store, epoch, &payload).unwrap();
            let (parsed, len) = parse(&record).unwrap();
            let whole = Record {
                seq, schema: SCHEMA_VERSION, store: Some(store), epoch: Some(epoch), payload: &payload,
            };
            prop_assert_eq!(parsed, whole);
            prop_assert_eq!(len, record.len());
            let i = at.index(record.len());
            record[i] ^= flip;
            prop_assert!(parse(&record).is_none());
        }
    }
}
