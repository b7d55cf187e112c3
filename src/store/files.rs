//! Store files as a whole: creating one durably from a fill of its tables (backups, copies).

use std::path::{Path, PathBuf};

use redb::{Database, WriteTransaction};

use super::error::{Error, Failure, Result};
use super::wal;

/// Creates the store file `to` (which must not exist) through `fill`, durably: written as
/// `to.partial`, committed (fsync), renamed, and the directory synced.
pub(super) fn copy_into_new_file(
    to: &Path,
    fill: impl FnOnce(&WriteTransaction) -> Result<u64>,
) -> Result<u64> {
    let io = |what: &str, e: std::io::Error| {
        Error::Failed(Failure::Storage(format!("{what} {}: {e}", to.display())))
    };
    if to.exists() {
        return Err(Error::invalid(format!("{} already exists; choose a new file", to.display())));
    }
    let mut partial = to.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let _ = std::fs::remove_file(&partial);
    let rows = {
        // The operator's path (a missing directory, no permission): their input, so a 4xx.
        let db = Database::create(&partial)
            .map_err(|e| Error::invalid(format!("cannot create {}: {e}", partial.display())))?;
        let txn = db.begin_write()?;
        let rows = fill(&txn)?;
        // A copy is the whole store: it needs no log beside it.
        wal::mark_clean(&txn)?;
        txn.commit()?;
        rows
    };
    std::fs::rename(&partial, to).map_err(|e| io("renaming into", e))?;
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io("syncing the directory of", e))?;
    }
    Ok(rows)
}
