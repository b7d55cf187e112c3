//! Where the store's two files are read and written: the real files, or, in the crash tests, a
//! disk that keeps what was never synced aside so that a power loss can drop it (`volatile`).
//! The store file goes through redb's `StorageBackend`, the log through `Log::write_durably`,
//! the small private files beside them (the bootstrap key's) through `write_private_file`.

use std::path::Path;

use redb::{Database, DatabaseError};

/// The files' disk.
#[derive(Clone, Default)]
pub(crate) enum Disk {
    #[default]
    Real,
    #[cfg(test)]
    Volatile(std::sync::Arc<super::volatile::Power>),
}

impl Disk {
    /// Opens (creating) the store file at `path` with a page cache of `cache_bytes`.
    pub(super) fn open_db(
        &self,
        path: &Path,
        cache_bytes: usize,
    ) -> Result<Database, DatabaseError> {
        let builder = {
            let mut b = Database::builder();
            b.set_cache_size(cache_bytes);
            // Durable commits record redb's allocator state (`begin_durable`), so a start after
            // a crash loads it; when the last one did not, redb walks the whole file instead
            // (about 2 s at a million users), which the operator should be able to see.
            b.set_repair_callback(|session| {
                if session.progress() == 0.0 {
                    tracing::warn!(
                        "the store was not closed cleanly and has no recorded allocator state: \
                         redb is repairing it (a walk of the whole file)"
                    );
                }
            });
            b
        };
        match self {
            Disk::Real => builder.create(path),
            #[cfg(test)]
            Disk::Volatile(power) => builder.create_with_backend(power.store_file(path)?),
        }
    }

    /// Writes `pages` at `at` in the log `file` and returns once they are durable; None: the
    /// real disk, which `Log` writes itself (directly where it can).
    pub(super) fn log_write(
        &self,
        _file: &std::fs::File,
        _pages: &[u8],
        _at: u64,
    ) -> Option<std::io::Result<()>> {
        match self {
            Disk::Real => None,
            #[cfg(test)]
            Disk::Volatile(power) => Some(power.log_write(_file, _pages, _at)),
        }
    }
}

impl Disk {
    /// Creates `path` (replacing it) with `bytes`, mode 0600, durably: the data synced, then the
    /// directory, so the file and its name survive a power loss once this returns.
    pub(super) fn write_private_file(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let _ = std::fs::remove_file(path);
        let mut file =
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        match self {
            Disk::Real => {
                file.write_all(bytes)?;
                file.sync_all()?;
                std::fs::File::open(dir)?.sync_all()
            }
            #[cfg(test)]
            Disk::Volatile(power) => {
                power.file_write(path, bytes)?;
                power.file_sync(path, &mut file)?;
                power.dir_sync(dir)
            }
        }
    }
}
