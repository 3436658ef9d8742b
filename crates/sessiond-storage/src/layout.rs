//! The files of a data directory and their names.
//!
//! - `wal-<first lsn, 20 digits>.log`: a log segment holding records from that lsn on.
//! - `snapshot-<lsn, 20 digits>.snap`: a snapshot holding every record below that lsn.
//! - `snapshot-<lsn>.snap.tmp`: a snapshot being written; never read, removed at start-up.
//! - `LOCK`: held by the process that has the directory open; holds its pid.
//!
//! Twenty digits hold any u64, so names sort in lsn order.

use std::io;
use std::path::{Path, PathBuf};

use crate::fs::Fs;

/// The lock file's name.
pub const LOCK_NAME: &str = "LOCK";

/// The name of the segment whose first record has `lsn`.
pub fn segment_name(lsn: u64) -> String {
    format!("wal-{lsn:020}.log")
}

/// The name of the snapshot taken at `lsn`.
pub fn snapshot_name(lsn: u64) -> String {
    format!("snapshot-{lsn:020}.snap")
}

/// The name of the snapshot at `lsn` while it is being written.
pub fn snapshot_temp_name(lsn: u64) -> String {
    format!("snapshot-{lsn:020}.snap.tmp")
}

/// A file of the data directory, named by its lsn.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LsnFile {
    /// The lsn in its name.
    pub lsn: u64,
    /// Its path.
    pub path: PathBuf,
}

/// The data directory's files, each list in lsn order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// Log segments, by first lsn.
    pub segments: Vec<LsnFile>,
    /// Finished snapshots, by lsn.
    pub snapshots: Vec<LsnFile>,
    /// Unfinished snapshots.
    pub temp_snapshots: Vec<PathBuf>,
}

/// Lists `dir`'s log segments and snapshots; other files are ignored.
pub fn list(fs: &dyn Fs, dir: &Path) -> io::Result<Listing> {
    let mut listing = Listing::default();
    for name in fs.list(dir)? {
        let path = dir.join(&name);
        if let Some(lsn) = parse(&name, "wal-", ".log") {
            listing.segments.push(LsnFile { lsn, path });
        } else if let Some(lsn) = parse(&name, "snapshot-", ".snap") {
            listing.snapshots.push(LsnFile { lsn, path });
        } else if parse(&name, "snapshot-", ".snap.tmp").is_some() {
            listing.temp_snapshots.push(path);
        }
    }
    listing.segments.sort();
    listing.snapshots.sort();
    listing.temp_snapshots.sort();
    Ok(listing)
}

fn parse(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_sort_in_lsn_order() {
        assert_eq!(segment_name(42), "wal-00000000000000000042.log");
        assert_eq!(
            parse(&segment_name(u64::MAX), "wal-", ".log"),
            Some(u64::MAX)
        );
        assert_eq!(parse(&snapshot_name(7), "snapshot-", ".snap"), Some(7));
        assert_eq!(parse(&snapshot_temp_name(7), "snapshot-", ".snap"), None);
        assert_eq!(parse("wal-12.log", "wal-", ".log"), None);
        assert!(segment_name(9) < segment_name(10));
    }
}
