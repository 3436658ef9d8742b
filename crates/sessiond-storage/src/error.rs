//! The storage layer's errors.

use std::io;
use std::path::{Path, PathBuf};

/// Why the storage layer could not do what it was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A file system operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done ("create", "write", "fsync", ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Another process holds the data directory's lock.
    #[error(
        "data directory {} is in use by another sessiond ({holder}); stop it first, or give this one another --data-dir",
        dir.display()
    )]
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// Who holds it, as far as the lock file tells.
        holder: String,
    },
    /// A file holds damage that recovery will not repair by itself, because repairing it would
    /// drop data that may have been acknowledged.
    #[error(
        "{}: {problem} at byte {offset}. Run `sessiond check-data {}` to see every damaged file; restore this file from a backup, or move it aside to start without the sessions it holds",
        file.display(),
        dir.display()
    )]
    Corrupt {
        /// The damaged file.
        file: PathBuf,
        /// Where the damage starts.
        offset: u64,
        /// What is wrong.
        problem: String,
        /// The data directory, for the advice.
        dir: PathBuf,
    },
    /// The journal was shut down; nothing more is written.
    #[error("the journal is shut down")]
    Closed,
    /// The writer thread could not be started or stopped abnormally.
    #[error("the log writer thread failed: {0}")]
    Writer(String),
    /// Shutdown could not write everything out: the disk kept failing.
    #[error("shutdown left {records} log records from lsn {first_lsn} on unwritten: {reason}")]
    Unflushed {
        /// How many records were lost.
        records: u64,
        /// The first of them.
        first_lsn: u64,
        /// The last error.
        reason: String,
    },
}

impl StorageError {
    /// An [`StorageError::Io`] for `op` on `path`.
    pub fn io(op: &'static str, path: &Path, source: io::Error) -> StorageError {
        StorageError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    /// A [`StorageError::Corrupt`] for `file` in `dir`.
    pub fn corrupt(dir: &Path, file: &Path, offset: u64, problem: impl Into<String>) -> Self {
        StorageError::Corrupt {
            file: file.to_path_buf(),
            offset,
            problem: problem.into(),
            dir: dir.to_path_buf(),
        }
    }
}
