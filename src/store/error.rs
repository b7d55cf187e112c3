//! What a store operation fails with, in two kinds: the domain said no (`Refusal`: nothing was
//! written, the caller's request was at fault), or the storage failed (`Failure`: redb's error
//! kept as the source). Callers match only the kind they can act on.

use std::sync::Arc;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    Refused(Refusal),
    Failed(Failure),
}

/// A domain rule refused the change (or the record is not there).
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    NotFound(&'static str),
    /// Another record of `what` already holds this value of a unique `attribute`.
    Conflict {
        what: &'static str,
        attribute: &'static str,
        /// The record that holds it.
        holder: Option<uuid::Uuid>,
    },
    NoCapacity {
        licensed: u64,
        used: u64,
    },
    /// The tenant's account owner cannot be `change` (deactivated, deleted).
    OwnerProtected {
        change: &'static str,
    },
    /// `If-Match` named a version that is not the current one.
    VersionMismatch,
    Invalid(String),
}

/// The storage could not do what was asked.
#[derive(Debug, Clone)]
pub enum Failure {
    /// The data file is held by another process (the server, usually).
    Locked,
    /// The file was written by a newer build.
    TooNew {
        found: u64,
        supported: u64,
    },
    Redb(Arc<redb::Error>),
    /// The disk refused a write (full, or failing): the store answers 503 until it has reopened
    /// and a write succeeds again (see `writer`).
    Io {
        why: &'static str,
        source: Option<Arc<redb::Error>>,
    },
    /// A file-level step (opening, creating a directory, copying) failed; the message says which.
    Storage(String),
    Corrupt(String),
    /// The store's log holds, or should hold, acknowledged writes a replay cannot apply (damaged,
    /// missing, cut, or not this store's): the start is refused; the message names the way out.
    LogLoss(String),
    /// The writer has stopped (shutdown).
    Unavailable,
}

impl PartialEq for Failure {
    /// Same kind (redb's errors have no equality of their own).
    fn eq(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

impl Error {
    pub fn not_found(what: &'static str) -> Error {
        Error::Refused(Refusal::NotFound(what))
    }

    pub fn invalid(message: impl Into<String>) -> Error {
        Error::Refused(Refusal::Invalid(message.into()))
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Refused(Refusal::NotFound(_)))
    }

    /// Whether the disk refused a write (then no replay of the batch can succeed).
    pub fn is_io(&self) -> bool {
        matches!(self, Error::Failed(Failure::Io { .. }))
    }
}

impl From<Refusal> for Error {
    fn from(r: Refusal) -> Error {
        Error::Refused(r)
    }
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Error {
        Error::Failed(f)
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotFound(what) => write!(f, "{what} not found"),
            Refusal::Conflict { what, attribute, .. } => {
                write!(f, "a {what} with this {attribute} already exists")
            }
            Refusal::NoCapacity { licensed, used } => {
                write!(f, "Not enough user licenses available ({used} of {licensed} used)")
            }
            Refusal::OwnerProtected { change } => {
                write!(f, "the account owner cannot be {change}")
            }
            Refusal::VersionMismatch => {
                f.write_str("the resource has changed (If-Match does not match)")
            }
            Refusal::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Locked => f.write_str(
                "the data file is in use by another process (is the server running? its admin \
                 socket was not reachable)",
            ),
            Failure::TooNew { found, supported } => write!(
                f,
                "the store has schema version {found}, newer than this build supports \
                 ({supported}); upgrade whoot-mgmt"
            ),
            Failure::Redb(e) => write!(f, "storage error: {e}"),
            Failure::Io { why, source: Some(e) } => write!(f, "{why}: {e}"),
            Failure::Io { why, source: None } => f.write_str(why),
            Failure::Storage(m) => write!(f, "storage error: {m}"),
            Failure::Corrupt(m) => write!(f, "corrupt record: {m}"),
            Failure::LogLoss(m) => f.write_str(m),
            Failure::Unavailable => f.write_str("the store is shutting down"),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Refused(r) => r.fmt(f),
            Error::Failed(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Failed(Failure::Redb(e))
            | Error::Failed(Failure::Io { source: Some(e), .. }) => Some(e.as_ref()),
            _ => None,
        }
    }
}

macro_rules! storage_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                // An I/O failure (a full disk, usually) is told apart: it passes.
                match redb::Error::from(e) {
                    e @ (redb::Error::Io(_) | redb::Error::PreviousIo) => Failure::Io {
                        why: "the disk refused a write",
                        source: Some(Arc::new(e)),
                    }
                    .into(),
                    e => Failure::Redb(Arc::new(e)).into(),
                }
            }
        }
    )*};
}
storage_errors!(
    redb::Error,
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError,
    redb::CursorError
);

/// A mutation's own error type: the store's, or a caller's that can carry it (so a protocol
/// error raised inside a mutation reaches the response unflattened).
pub trait MutationError: From<Error> + Send + 'static {
    /// Whether it is the disk refusing a write (see `Error::is_io`).
    fn is_io(&self) -> bool;
}

impl MutationError for Error {
    fn is_io(&self) -> bool {
        Error::is_io(self)
    }
}
