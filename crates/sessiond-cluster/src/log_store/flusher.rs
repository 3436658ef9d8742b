//! The `everysec` flusher: once a second, flushes the active segment and the state file if
//! anything was written to them since the last flush, so appends never wait on an fsync.
//!
//! It flushes through its own handle: `fdatasync` on any descriptor of a file flushes the
//! file, so the store keeps writing through its handle while this one waits on the disk. The
//! segment goes before the state file, so a committed log id never reaches the disk ahead of
//! the entries the flush covers (`read_committed` copes with the rest).

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use parking_lot::MutexGuard;

use super::Shared;
use super::format::STATE_NAME;

/// How often `everysec` flushes.
const INTERVAL: Duration = Duration::from_secs(1);

pub(super) fn spawn(shared: Arc<Shared>) -> io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name("sessiond-raft-flush".to_owned())
        .spawn(move || run(&shared))
}

fn run(shared: &Shared) {
    let mut flush = shared.flush.lock();
    loop {
        if flush.stop {
            return;
        }
        shared.flush_wake.wait_for(&mut flush, INTERVAL);
        if flush.stop {
            return;
        }
        // What to flush, with the write counts the flush will cover: a segment written after
        // this (a new one after a rotation, which flushed the old one) stays for next time.
        let segment = (flush.segment_written != flush.segment_synced)
            .then(|| (flush.segment.clone(), flush.segment_written));
        let state = (flush.state_written != flush.state_synced).then_some(flush.state_written);
        if segment.is_none() && state.is_none() {
            continue;
        }
        let result = MutexGuard::unlocked(&mut flush, || {
            if let Some((Some(path), _)) = &segment {
                sync_path(shared, path)?;
            }
            if state.is_some() {
                sync_path(shared, &shared.dir.join(STATE_NAME))?;
            }
            Ok::<_, io::Error>(())
        });
        match result {
            Ok(()) => {
                if let Some((_, written)) = segment {
                    flush.segment_synced = written;
                }
                if let Some(written) = state {
                    flush.state_synced = written;
                }
            }
            Err(error) => {
                // The kernel may have dropped what it could not write: the store stops taking
                // writes (openraft stops the node) and a restart recovers from the files.
                shared.fail("flushing in the background", error);
                return;
            }
        }
    }
}

/// Flushes the file at `path`. A file removed meanwhile (purged, truncated away) has nothing
/// left to flush.
fn sync_path(shared: &Shared, path: &Path) -> io::Result<()> {
    match shared.fs.open_append(path) {
        Ok(mut file) => file.sync_data(),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    }
}
