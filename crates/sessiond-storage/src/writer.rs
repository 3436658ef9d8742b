//! The log writer thread: drains the journal's buffer into segments and flushes them as the
//! fsync policy says.
//!
//! Every record that is not yet durable (under `no`: not yet written) stays in memory until
//! it is, so an error loses nothing the process still holds. On a write or fsync error the
//! writer stops accepting writes, backs off (100 ms doubling to 1 s) and retries by writing
//! every held record again into a *fresh* segment named for the first of them: after a failed
//! fsync the kernel may have dropped the file's dirty pages, so that file's tail is never
//! trusted again (the new segment supersedes it, see [`crate::segment`]). When a retry gets
//! everything written (and, unless the policy is `no`, durable), writes are accepted again.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::config::{FsyncPolicy, StorageConfig};
use crate::error::StorageError;
use crate::fs::{Fs, FsFile};
use crate::layout::segment_name;
use crate::segment;
use crate::wal::{Batch, WalJournal};

/// How long to wait before the first retry after an error.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// How often `everysec` flushes.
const SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// How many times shutdown retries a failing disk before it gives up.
const SHUTDOWN_ATTEMPTS: u32 = 5;

/// Creates the first segment at `next_lsn` (so a broken disk fails start-up, not the first
/// write) and starts the writer thread. The thread returns when the journal is asked to stop,
/// after writing and flushing everything.
pub(crate) fn spawn(
    journal: Arc<WalJournal>,
    fs: Arc<dyn Fs>,
    config: &StorageConfig,
    next_lsn: u64,
) -> Result<JoinHandle<Result<(), StorageError>>, StorageError> {
    let mut writer = Writer {
        journal,
        fs,
        dir: config.dir.clone(),
        policy: config.fsync,
        segment_size: config.segment_size,
        segment: None,
        held: VecDeque::new(),
        held_written: 0,
        written_lsn: next_lsn.saturating_sub(1),
        durable_lsn: next_lsn.saturating_sub(1),
        last_sync: Instant::now(),
        failure: None,
    };
    writer.open_segment(next_lsn)?;
    thread::Builder::new()
        .name("sessiond-wal".to_owned())
        .spawn(move || writer.run())
        .map_err(|error| StorageError::Writer(error.to_string()))
}

struct Writer {
    journal: Arc<WalJournal>,
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    policy: FsyncPolicy,
    segment_size: u64,
    /// The segment being written; `None` after an error, until a retry opens a fresh one.
    segment: Option<Segment>,
    /// Records not yet durable (under `no`: not yet written), oldest first.
    held: VecDeque<Batch>,
    /// How many of `held`'s first batches are written into the current segment.
    held_written: usize,
    written_lsn: u64,
    durable_lsn: u64,
    last_sync: Instant,
    failure: Option<Failure>,
}

struct Segment {
    file: Box<dyn FsFile>,
    path: PathBuf,
    len: u64,
}

/// The writer is backing off after an error.
struct Failure {
    backoff: Duration,
    retry_at: Instant,
    errors: u64,
    last: String,
}

impl Writer {
    fn run(mut self) -> Result<(), StorageError> {
        loop {
            let taken = self.journal.take(self.deadline(), self.failure.is_some());
            if let Some(batch) = taken.batch {
                self.held.push_back(batch);
            }
            if taken.stop {
                return self.finish();
            }
            if self
                .failure
                .as_ref()
                .is_some_and(|f| Instant::now() < f.retry_at)
            {
                continue;
            }
            let result = self.write_held().and_then(|()| match self.policy {
                FsyncPolicy::Always => self.sync(),
                FsyncPolicy::EverySec if self.last_sync.elapsed() >= SYNC_INTERVAL => self.sync(),
                FsyncPolicy::EverySec | FsyncPolicy::No => Ok(()),
            });
            self.settle(result);
        }
    }

    /// When the writer must wake even if no record arrives: to retry, or to flush.
    fn deadline(&self) -> Option<Instant> {
        if let Some(failure) = &self.failure {
            return Some(failure.retry_at);
        }
        (self.policy == FsyncPolicy::EverySec && self.durable_lsn < self.written_lsn)
            .then(|| self.last_sync + SYNC_INTERVAL)
    }

    /// Writes every held record not yet in the current segment, opening a fresh segment
    /// first if an error closed the last one, and rotating at the size limit.
    fn write_held(&mut self) -> Result<(), StorageError> {
        if self.segment.is_none() {
            let first = self
                .held
                .front()
                .map_or(self.written_lsn + 1, |batch| batch.first);
            self.open_segment(first)?;
        }
        while self.held_written < self.held.len() {
            let batch = &self.held[self.held_written];
            let Some(segment) = self.segment.as_mut() else {
                return Err(StorageError::Writer("no open segment".to_owned()));
            };
            segment
                .file
                .write_all(&batch.bytes)
                .map_err(|error| StorageError::io("write", &segment.path, error))?;
            segment.len += batch.bytes.len() as u64;
            let full = segment.len >= self.segment_size;
            self.written_lsn = self.written_lsn.max(batch.last);
            self.held_written += 1;
            self.journal.publish_written(self.written_lsn);
            if self.policy == FsyncPolicy::No {
                self.release_written();
            }
            if full {
                self.rotate()?;
            }
        }
        Ok(())
    }

    /// Flushes the current segment: everything written becomes durable.
    fn sync(&mut self) -> Result<(), StorageError> {
        if self.durable_lsn >= self.written_lsn {
            return Ok(());
        }
        if let Some(segment) = self.segment.as_mut() {
            segment
                .file
                .sync_data()
                .map_err(|error| StorageError::io("fsync", &segment.path, error))?;
        }
        self.last_sync = Instant::now();
        self.durable_lsn = self.written_lsn;
        self.release_written();
        self.journal.publish_durable(self.durable_lsn);
        Ok(())
    }

    /// Ends the current segment (flushed, whatever the policy, so a later segment never
    /// follows one whose end a power failure could take) and starts the next.
    fn rotate(&mut self) -> Result<(), StorageError> {
        self.sync()?;
        self.open_segment(self.written_lsn + 1)
    }

    /// Creates the segment whose first record is `first`, header flushed and its directory
    /// entry durable before any record goes in.
    fn open_segment(&mut self, first: u64) -> Result<(), StorageError> {
        self.segment = None;
        self.held_written = 0;
        let path = self.dir.join(segment_name(first));
        let mut file = self
            .fs
            .create(&path)
            .map_err(|error| StorageError::io("create", &path, error))?;
        file.write_all(&segment::header(first))
            .and_then(|()| file.sync_data())
            .map_err(|error| StorageError::io("write", &path, error))?;
        self.fs
            .sync_dir(&self.dir)
            .map_err(|error| StorageError::io("fsync", &self.dir, error))?;
        self.segment = Some(Segment {
            file,
            path,
            len: segment::HEADER_LEN as u64,
        });
        Ok(())
    }

    /// Lets go of the held batches that are written into the current segment.
    fn release_written(&mut self) {
        for batch in self.held.drain(..self.held_written) {
            self.journal.release(batch.bytes.len());
            self.journal.recycle(batch.bytes);
        }
        self.held_written = 0;
    }

    /// Takes the outcome of a round: an error starts (or continues) backing off with the
    /// current segment abandoned; success after errors accepts writes again.
    fn settle(&mut self, result: Result<(), StorageError>) {
        match result {
            Ok(()) => {
                if let Some(failure) = self.failure.take() {
                    tracing::info!(
                        errors = failure.errors,
                        "the log is writable again; accepting writes"
                    );
                    self.journal.set_accepting(true);
                }
            }
            Err(error) => {
                // Whatever this segment got since its last good flush is not trusted: the
                // held records go again into a fresh segment.
                self.segment = None;
                self.held_written = 0;
                let message = error.to_string();
                let failure = match self.failure.take() {
                    None => {
                        tracing::error!(
                            error = %message,
                            held_bytes = self.journal.buffered_bytes(),
                            "log write failed; refusing writes and retrying"
                        );
                        self.journal.set_accepting(false);
                        Failure {
                            backoff: FIRST_BACKOFF,
                            retry_at: Instant::now() + FIRST_BACKOFF,
                            errors: 1,
                            last: message,
                        }
                    }
                    Some(failure) => {
                        let backoff = (failure.backoff * 2).min(MAX_BACKOFF);
                        if message != failure.last {
                            tracing::error!(error = %message, "log write failed again");
                        }
                        Failure {
                            backoff,
                            retry_at: Instant::now() + backoff,
                            errors: failure.errors + 1,
                            last: message,
                        }
                    }
                };
                self.failure = Some(failure);
            }
        }
    }

    /// Writes and flushes everything that is left, retrying a failing disk a few times.
    fn finish(mut self) -> Result<(), StorageError> {
        let mut attempts = 0;
        loop {
            let result = self.write_held().and_then(|()| {
                // Under `no` this flushes too: a clean stop leaves everything on disk.
                self.sync()
            });
            let failed = result.is_err();
            self.settle(result);
            if !failed {
                self.journal.close();
                return Ok(());
            }
            attempts += 1;
            if attempts >= SHUTDOWN_ATTEMPTS {
                return Err(self.give_up());
            }
            if let Some(failure) = &self.failure {
                thread::sleep(failure.backoff);
            }
        }
    }

    /// Closes the journal with records still unwritten, and says how many.
    fn give_up(self) -> StorageError {
        self.journal.close();
        let records = self
            .held
            .iter()
            .map(|batch| batch.last - batch.first + 1)
            .sum();
        let first_lsn = self.held.front().map_or(0, |batch| batch.first);
        let reason = self
            .failure
            .map_or_else(String::new, |failure| failure.last);
        tracing::error!(records, first_lsn, %reason, "shutdown could not write the log");
        StorageError::Unflushed {
            records,
            first_lsn,
            reason,
        }
    }
}
