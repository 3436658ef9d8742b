//! The files of a data directory and their names.
//!
//! - `wal-<first lsn, 20 digits>.log`: a log segment holding records from that lsn on.
//! - `snapshot-<lsn, 20 digits>.snap`: a snapshot holding every record below that lsn.
//! - `snapshot-<lsn>.snap.tmp`: a snapshot being written; never read, removed at start-up.
//! - `recycled-<lsn>.wal`: a log segment a snapshot retired (it held records from that lsn
//!   on), kept to be written over as a later segment instead of being removed; never read.
//! - `recycled.snap`: the snapshot the newest one replaced, kept to be written over by the
//!   next snapshot instead of being removed; never read.
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

/// The name of the replaced snapshot kept for the next one to be written over.
pub const RECYCLED_SNAPSHOT_NAME: &str = "recycled.snap";

/// The name a retired segment whose first record had `lsn` waits under to be reused.
pub fn recycled_name(lsn: u64) -> String {
    format!("recycled-{lsn:020}.wal")
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
    /// Retired segments waiting to be reused, by the lsn in their name.
    pub recycled: Vec<LsnFile>,
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
        } else if let Some(lsn) = parse(&name, "recycled-", ".wal") {
            listing.recycled.push(LsnFile { lsn, path });
        }
    }
    listing.segments.sort();
    listing.snapshots.sort();
    listing.temp_snapshots.sort();
    listing.recycled.sort();
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
        assert_eq!(parse(&recycled_name(7), "recycled-", ".wal"), Some(7));
        assert_eq!(parse(&recycled_name(7), "wal-", ".log"), None);
    }
}
