//! A disk that loses power, for the crash tests. The store file (through redb's
//! `StorageBackend`) keeps every write since its last sync aside, as the page cache would; a
//! power loss keeps a random part of them (each write whole, torn at a 512-byte sector, or not at
//! all) and drops the rest. The log's writes are durable when they return, so a loss tears at
//! most the one in progress, at a sector boundary. After the loss every I/O fails, as in a dead
//! machine. What survives is a real file on disk, which the next open reads with a new `Power`.
//! A small file (`Disk::write_private_file`) keeps its data aside until synced and its name
//! until its directory is synced: a loss before leaves it empty, or gone.
//! Sectors are the unit of tearing because disks write a 512-byte sector whole or not at all
//! (the log's round header fits in one; see docs/design/store-log.md).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

const SECTOR: usize = 512;

/// When the power goes, counted from when it was armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cut {
    /// During the n-th write to the log from now (1: the next).
    LogWrite(u32),
    /// During the n-th sync of the store file from now (inside a checkpoint or a replay).
    StoreSync(u32),
}

pub(crate) struct Power {
    dead: AtomicBool,
    state: Mutex<State>,
}

struct State {
    rng: u64,
    armed: Option<Cut>,
    store: Option<Image>,
    /// Small files: their unsynced data (None once synced), and whether their name is durable.
    files: Vec<SmallFile>,
    /// What the loss did, for the test's report.
    pub kept: usize,
    pub dropped: usize,
    pub torn: usize,
}

struct SmallFile {
    path: std::path::PathBuf,
    unsynced: Option<Vec<u8>>,
    named: bool,
}

/// The store file: the real file holds what was synced; `cache` is what redb reads.
struct Image {
    file: File,
    cache: Vec<u8>,
    pending: Vec<(u64, Vec<u8>)>,
    /// The length was changed since the last sync.
    resized: bool,
}

impl std::fmt::Debug for Power {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Power").field("dead", &self.dead.load(Ordering::Relaxed)).finish()
    }
}

fn lost() -> std::io::Error {
    std::io::Error::other("the power is off")
}

impl Power {
    pub(crate) fn new(seed: u64) -> Arc<Power> {
        let state = State {
            rng: seed | 1,
            armed: None,
            store: None,
            files: Vec::new(),
            kept: 0,
            dropped: 0,
            torn: 0,
        };
        Arc::new(Power { dead: AtomicBool::new(false), state: Mutex::new(state) })
    }

    pub(crate) fn arm(&self, cut: Cut) {
        self.state.lock().armed = Some(cut);
    }

    /// Every write fails (true) or works again (false), with nothing lost: a disk that refuses
    /// writes for a while.
    pub(crate) fn set_failing(&self, failing: bool) {
        self.dead.store(failing, Ordering::SeqCst);
    }

    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(Ordering::SeqCst)
    }

    /// The power goes now: a random part of the store file's unsynced writes reach the disk.
    pub(crate) fn cut_now(&self) {
        let mut state = self.state.lock();
        state.lose();
        self.dead.store(true, Ordering::SeqCst);
    }

    /// (writes kept whole, dropped, torn) at the loss.
    pub(crate) fn report(&self) -> (usize, usize, usize) {
        let s = self.state.lock();
        (s.kept, s.dropped, s.torn)
    }

    /// The store file's backend (one at a time), reading what the real file holds.
    pub(super) fn store_file(self: &Arc<Self>, path: &Path) -> std::io::Result<Backend> {
        if self.is_dead() {
            return Err(lost());
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let cache = std::fs::read(path)?;
        self.state.lock().store = Some(Image { file, cache, pending: Vec::new(), resized: false });
        Ok(Backend(self.clone()))
    }

    /// Writes `bytes` to the small file `path` (just created, empty on the real disk): kept
    /// aside until `file_sync`.
    pub(crate) fn file_write(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        if self.is_dead() {
            return Err(lost());
        }
        let mut state = self.state.lock();
        state.files.retain(|f| f.path != path);
        let file =
            SmallFile { path: path.to_owned(), unsynced: Some(bytes.to_vec()), named: false };
        state.files.push(file);
        Ok(())
    }

    /// The small file's data reaches the disk (`file`, its real handle).
    pub(super) fn file_sync(&self, path: &Path, file: &mut File) -> std::io::Result<()> {
        use std::io::Write;
        if self.is_dead() {
            return Err(lost());
        }
        let mut state = self.state.lock();
        for f in state.files.iter_mut().filter(|f| f.path == path) {
            if let Some(data) = f.unsynced.take() {
                file.write_all(&data)?;
                file.sync_all()?;
            }
        }
        Ok(())
    }

    /// The names of the small files in `dir` become durable.
    pub(super) fn dir_sync(&self, dir: &Path) -> std::io::Result<()> {
        if self.is_dead() {
            return Err(lost());
        }
        let mut state = self.state.lock();
        for f in state.files.iter_mut().filter(|f| f.path.parent() == Some(dir)) {
            f.named = true;
        }
        Ok(())
    }

    /// A write to the log, durable when it returns; torn if the power goes during it.
    pub(super) fn log_write(&self, file: &File, pages: &[u8], at: u64) -> std::io::Result<()> {
        if self.is_dead() {
            return Err(lost());
        }
        let mut state = self.state.lock();
        if state.due(|c| matches!(c, Cut::LogWrite(_))) {
            let sectors = pages.len().div_ceil(SECTOR);
            let keep = usize::try_from(state.next() % (sectors as u64 + 1)).unwrap_or(0);
            // Sectors reach the disk in any order: a random set of `keep` of them.
            for s in state.pick(sectors, keep) {
                let from = s * SECTOR;
                let part = pages.get(from..(from + SECTOR).min(pages.len())).unwrap_or(&[]);
                file.write_all_at(part, at + from as u64)?;
            }
            state.torn += 1;
            self.dead.store(true, Ordering::SeqCst);
            return Err(lost());
        }
        file.write_all_at(pages, at)
    }
}

impl State {
    fn next(&mut self) -> u64 {
        // xorshift64
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    /// `keep` distinct indexes below `n`.
    fn pick(&mut self, n: usize, keep: usize) -> Vec<usize> {
        let mut all: Vec<usize> = (0..n).collect();
        for i in (1..all.len()).rev() {
            let j = usize::try_from(self.next() % (i as u64 + 1)).unwrap_or(0);
            all.swap(i, j);
        }
        all.truncate(keep);
        all
    }

    /// Whether the armed cut of this kind is due now (counting it down).
    fn due(&mut self, kind: impl Fn(&Cut) -> bool) -> bool {
        match self.armed {
            Some(cut) if kind(&cut) => {
                let (Cut::LogWrite(n) | Cut::StoreSync(n)) = cut;
                if n <= 1 {
                    self.armed = None;
                    return true;
                }
                self.armed = Some(match cut {
                    Cut::LogWrite(_) => Cut::LogWrite(n - 1),
                    Cut::StoreSync(_) => Cut::StoreSync(n - 1),
                });
                false
            }
            _ => false,
        }
    }

    /// The power goes: each unsynced write of the store file reaches the disk whole, torn at a
    /// sector, or not at all.
    fn lose(&mut self) {
        // A small file's unsynced data never reached the disk (the real file holds only what
        // was synced); a name never synced may be gone.
        for f in std::mem::take(&mut self.files) {
            if !f.named && self.next().is_multiple_of(2) {
                let _ = std::fs::remove_file(&f.path);
            }
        }
        let Some(mut image) = self.store.take() else { return };
        if image.resized && self.next().is_multiple_of(2) {
            let _ = image.file.set_len(image.cache.len() as u64);
        }
        for (at, data) in std::mem::take(&mut image.pending) {
            match self.next() % 5 {
                0 | 1 => {
                    let _ = image.file.write_all_at(&data, at);
                    self.kept += 1;
                }
                2 => {
                    let sectors = data.len().div_ceil(SECTOR);
                    let keep = usize::try_from(self.next() % (sectors as u64)).unwrap_or(0);
                    for s in self.pick(sectors, keep) {
                        let from = s * SECTOR;
                        let part = data.get(from..(from + SECTOR).min(data.len())).unwrap_or(&[]);
                        let _ = image.file.write_all_at(part, at + from as u64);
                    }
                    self.torn += 1;
                }
                _ => self.dropped += 1,
            }
        }
    }
}

/// redb's view of the store file on a `Power`'s disk.
#[derive(Debug)]
pub(crate) struct Backend(Arc<Power>);

impl Backend {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> std::io::Result<T>) -> std::io::Result<T> {
        if self.0.is_dead() {
            return Err(lost());
        }
        let mut state = self.0.state.lock();
        f(&mut state)
    }
}

fn image(state: &mut State) -> std::io::Result<&mut Image> {
    state.store.as_mut().ok_or_else(lost)
}

impl redb::StorageBackend for Backend {
    fn len(&self) -> std::io::Result<u64> {
        self.with(|s| Ok(image(s)?.cache.len() as u64))
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        self.with(|s| {
            let cache = &image(s)?.cache;
            let from = usize::try_from(offset).map_err(|_| lost())?;
            let bytes = cache.get(from..from + out.len()).ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "read past the end")
            })?;
            out.copy_from_slice(bytes);
            Ok(())
        })
    }

    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.with(|s| {
            let image = image(s)?;
            image.cache.resize(usize::try_from(len).map_err(|_| lost())?, 0);
            image.resized = true;
            Ok(())
        })
    }

    fn sync_data(&self) -> std::io::Result<()> {
        if self.0.is_dead() {
            return Err(lost());
        }
        let mut state = self.0.state.lock();
        if state.due(|c| matches!(c, Cut::StoreSync(_))) {
            state.lose();
            self.0.dead.store(true, Ordering::SeqCst);
            return Err(lost());
        }
        let image = image(&mut state)?;
        if image.resized {
            image.file.set_len(image.cache.len() as u64)?;
            image.resized = false;
        }
        for (at, data) in image.pending.drain(..) {
            image.file.write_all_at(&data, at)?;
        }
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.with(|s| {
            let image = image(s)?;
            let from = usize::try_from(offset).map_err(|_| lost())?;
            if image.cache.len() < from + data.len() {
                image.cache.resize(from + data.len(), 0);
            }
            if let Some(to) = image.cache.get_mut(from..from + data.len()) {
                to.copy_from_slice(data);
            }
            image.pending.push((offset, data.to_vec()));
            Ok(())
        })
    }
}
