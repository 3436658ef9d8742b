//! A scratch directory for the targets that write files: in memory (`/dev/shm`) where the
//! machine has it, since a target makes one per input.

use std::path::Path;

use tempfile::TempDir;

/// A fresh directory, removed when dropped; `None` if none can be made.
pub fn dir() -> Option<TempDir> {
    let base = if Path::new("/dev/shm").is_dir() {
        "/dev/shm"
    } else {
        "/tmp"
    };
    tempfile::tempdir_in(base).ok()
}
