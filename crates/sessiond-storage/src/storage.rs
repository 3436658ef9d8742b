//! An open data directory: its lock, the log writer, and snapshots.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::Mutex;
use sessiond_engine::{Engine, Timestamp};

use crate::error::StorageError;
use crate::fs::Fs;
use crate::layout;
use crate::lock::DirLock;
use crate::snapshot::{self, SnapshotReport};
use crate::wal::WalJournal;

/// An open data directory, from [`open`](crate::open). Dropping it shuts the log down as
/// [`Storage::shutdown`] does, logging instead of returning what went wrong.
#[derive(Debug)]
pub struct Storage {
    dir: PathBuf,
    fs: Arc<dyn Fs>,
    journal: Arc<WalJournal>,
    /// Taken by the first shutdown.
    writer: Mutex<Option<JoinHandle<Result<(), StorageError>>>>,
    /// One snapshot at a time.
    snapshots: Mutex<()>,
    /// Released by shutdown, so another process (or a test) may open the directory.
    lock: Mutex<Option<DirLock>>,
    /// How many retired segments are kept for the writer to reuse.
    recycled_segments: usize,
}

impl Storage {
    pub(crate) fn new(
        dir: PathBuf,
        fs: Arc<dyn Fs>,
        journal: Arc<WalJournal>,
        writer: JoinHandle<Result<(), StorageError>>,
        lock: DirLock,
        recycled_segments: usize,
    ) -> Self {
        Storage {
            dir,
            fs,
            journal,
            writer: Mutex::new(Some(writer)),
            snapshots: Mutex::new(()),
            lock: Mutex::new(Some(lock)),
            recycled_segments,
        }
    }

    /// The journal attached to the engine: lsns, durability waits, backpressure.
    pub fn journal(&self) -> Arc<WalJournal> {
        Arc::clone(&self.journal)
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes a snapshot of `engine` stamped `now` while it keeps serving, makes it durable,
    /// then removes the log segments and older snapshots it makes unnecessary. Fails with
    /// [`StorageError::Closed`] after shutdown.
    pub fn snapshot(
        &self,
        engine: &Engine,
        now: Timestamp,
    ) -> Result<SnapshotReport, StorageError> {
        let _one_at_a_time = self.snapshots.lock();
        if self.lock.lock().is_none() {
            return Err(StorageError::Closed);
        }
        let started = Instant::now();
        // Read before any shard is copied: every record below it is in the copy.
        let lsn = self.journal.next_lsn();
        let written = snapshot::write(&*self.fs, &self.dir, engine, lsn, now)?;
        let (removed_segments, removed_snapshots) = self.remove_covered(lsn)?;
        let report = SnapshotReport {
            lsn,
            path: written.path,
            items: written.items,
            flushes: written.flushes,
            bytes: written.bytes,
            removed_segments,
            removed_snapshots,
            elapsed: started.elapsed(),
        };
        tracing::info!(
            lsn,
            items = report.items,
            bytes = report.bytes,
            removed_segments,
            elapsed = ?report.elapsed,
            "snapshot taken"
        );
        Ok(report)
    }

    /// How many bytes the log segments in the directory take (the one being written counted
    /// at its preallocated size): what a snapshot would let go, and about what recovery would
    /// replay.
    pub fn log_size(&self) -> Result<u64, StorageError> {
        let listing = layout::list(&*self.fs, &self.dir)
            .map_err(|error| StorageError::io("list", &self.dir, error))?;
        let mut total = 0u64;
        for segment in &listing.segments {
            // A segment removed meanwhile (by a snapshot) counts as nothing.
            total = total.saturating_add(self.fs.len(&segment.path).unwrap_or(0));
        }
        Ok(total)
    }

    /// The size of the newest snapshot in the directory, 0 when there is none: what the next
    /// snapshot will write, about.
    pub fn snapshot_size(&self) -> Result<u64, StorageError> {
        let listing = layout::list(&*self.fs, &self.dir)
            .map_err(|error| StorageError::io("list", &self.dir, error))?;
        Ok(match listing.snapshots.last() {
            // Removed meanwhile by a newer snapshot: that one is about as big.
            Some(newest) => self.fs.len(&newest.path).unwrap_or(0),
            None => 0,
        })
    }

    /// Writes and flushes every record, stops the writer and releases the directory's lock.
    /// From then on the journal refuses writes. Calling it again does nothing.
    pub fn shutdown(&self) -> Result<(), StorageError> {
        let Some(writer) = self.writer.lock().take() else {
            return Ok(());
        };
        self.journal.request_stop();
        let result = writer
            .join()
            .map_err(|_| StorageError::Writer("the log writer thread panicked".to_owned()))
            .and_then(|result| result);
        self.journal.close();
        // Not before the last snapshot is done.
        let _no_snapshot = self.snapshots.lock();
        if let Some(lock) = self.lock.lock().take() {
            tracing::debug!(lock = %lock.path().display(), "data directory closed");
        }
        result
    }

    /// Removes what a durable snapshot at `lsn` makes unnecessary: segments whose records all
    /// lie below it (those followed by a segment starting at or below it) and older snapshots.
    /// Up to [`StorageConfig::recycled_segments`](crate::StorageConfig::recycled_segments)
    /// segments are renamed for the writer to reuse instead of removed, and the newest older
    /// snapshot for the next snapshot to be written over; either way they leave the log.
    pub(crate) fn remove_covered(&self, lsn: u64) -> Result<(usize, usize), StorageError> {
        let listing = layout::list(&*self.fs, &self.dir)
            .map_err(|error| StorageError::io("list", &self.dir, error))?;
        let mut removed = (0, 0);
        let mut recycled = listing.recycled.len();
        for pair in listing.segments.windows(2) {
            if pair[1].lsn <= lsn {
                let retired = &pair[0];
                if recycled < self.recycled_segments {
                    let spare = self.dir.join(layout::recycled_name(retired.lsn));
                    self.fs
                        .rename(&retired.path, &spare)
                        .map_err(|error| StorageError::io("rename", &retired.path, error))?;
                    recycled += 1;
                } else {
                    self.remove(&retired.path)?;
                }
                removed.0 += 1;
            }
        }
        // The newest of the replaced snapshots is kept for the next one to be written over.
        let mut keep_spare = self.recycled_segments > 0;
        for file in listing.snapshots.iter().rev().filter(|file| file.lsn < lsn) {
            if keep_spare {
                let spare = self.dir.join(layout::RECYCLED_SNAPSHOT_NAME);
                self.fs
                    .rename(&file.path, &spare)
                    .map_err(|error| StorageError::io("rename", &file.path, error))?;
                keep_spare = false;
            } else {
                self.remove(&file.path)?;
            }
            removed.1 += 1;
        }
        if removed != (0, 0) {
            self.fs
                .sync_dir(&self.dir)
                .map_err(|error| StorageError::io("fsync", &self.dir, error))?;
        }
        Ok(removed)
    }

    fn remove(&self, path: &Path) -> Result<(), StorageError> {
        self.fs
            .remove(path)
            .map_err(|error| StorageError::io("remove", path, error))
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        if let Err(error) = self.shutdown() {
            tracing::error!(%error, "closing the data directory");
        }
    }
}
