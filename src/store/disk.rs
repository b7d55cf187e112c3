//! Where the store's two files are read and written: the real files, or, in the crash tests, a
//! disk that keeps what was never synced aside so that a power loss can drop it (`volatile`).
//! The store file goes through redb's `StorageBackend`, the log through `Log::write_durably`.

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
