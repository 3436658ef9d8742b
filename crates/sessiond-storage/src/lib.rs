//! Durability for sessiond: the engine's effects in a write-ahead log, snapshots of the whole
//! store, recovery at start-up, and an offline check of a data directory.
//!
//! # Layout
//! - [`record`]: the record codec shared by log and snapshots (checksum and format version on
//!   every record).
//! - [`fs`]: the file system seam; [`FaultFs`] fails on demand for tests.
//! - [`WalJournal`] (`wal`): the [`Journal`](sessiond_engine::Journal) the engine records
//!   into, never blocking on I/O; `writer`: the thread that writes and flushes the log per
//!   [`FsyncPolicy`], with group commit, and rides out full or failing disks.
//! - `segment`, `layout`: the log's files and how they are read back.
//! - `snapshot`: the whole store at one lsn, written shard by shard while serving.
//! - [`open`] (`recovery`): lock, load, replay, cut a torn tail, start the writer.
//! - [`check_data`]: what recovery would do, without doing it.
//!
//! Why the log is hand-written: it is an append-only sequence of small records whose only
//! reads are one sequential pass at start-up; what it needs (group commit on one fdatasync,
//! never blocking the engine's shard locks, keeping unflushed records through disk errors and
//! rewriting them after a failed fsync) is the part a general-purpose store would not give.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod check;
mod config;
mod error;
mod fault;
pub mod fs;
mod layout;
mod lock;
pub mod record;
mod recovery;
mod segment;
mod snapshot;
mod storage;
mod wal;
mod writer;

pub use check::{CheckReport, FileCheck, FileKind, FileStatus, check_data, check_data_with};
pub use config::{FsyncPolicy, StorageConfig, UnknownFsyncPolicy};
pub use error::StorageError;
pub use fault::FaultFs;
pub use fs::{Fs, FsFile, StdFs};
pub use lock::DirLock;
pub use recovery::{RecoveryReport, Truncation, open};
pub use snapshot::SnapshotReport;
pub use storage::Storage;
pub use wal::{WalJournal, take_thread_lsn};
