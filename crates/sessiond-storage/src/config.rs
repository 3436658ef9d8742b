//! What the storage layer is configured with.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// When the log is flushed to stable storage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FsyncPolicy {
    /// After every batch, before the batch's writes are acknowledged: nothing acknowledged is
    /// lost, even to a power failure. Concurrent writers share one fsync (group commit).
    Always,
    /// Written at once, flushed at most once a second: a process crash loses nothing, a power
    /// failure at most about the last second.
    #[default]
    EverySec,
    /// Written at once, never flushed by sessiond (the kernel writes back when it likes): a
    /// process crash loses nothing, a power failure loses what the kernel had not written.
    No,
}

impl FsyncPolicy {
    /// The name as configured: `always`, `everysec` or `no`.
    pub fn as_str(self) -> &'static str {
        match self {
            FsyncPolicy::Always => "always",
            FsyncPolicy::EverySec => "everysec",
            FsyncPolicy::No => "no",
        }
    }
}

impl fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not an fsync policy.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown fsync policy {0:?}: expected always, everysec or no")]
pub struct UnknownFsyncPolicy(pub String);

impl FromStr for FsyncPolicy {
    type Err = UnknownFsyncPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "always" => Ok(FsyncPolicy::Always),
            "everysec" => Ok(FsyncPolicy::EverySec),
            "no" => Ok(FsyncPolicy::No),
            other => Err(UnknownFsyncPolicy(other.to_owned())),
        }
    }
}

/// The storage layer's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageConfig {
    /// The data directory: log segments, snapshots and the lock file. Created if missing.
    pub dir: PathBuf,
    /// When the log is flushed.
    pub fsync: FsyncPolicy,
    /// The size at which the writer starts a new log segment, in bytes.
    pub segment_size: u64,
    /// How many bytes of records may wait in memory before
    /// [`WalJournal::over_high_water`](crate::WalJournal::over_high_water) asks writers to
    /// wait. Records past it are still kept: nothing is ever dropped.
    pub max_buffered: usize,
    /// How many segments a snapshot retires are kept to be written over as later segments
    /// instead of being removed (0: none). Writing over a file whose pages are in the page
    /// cache and whose blocks are allocated costs a copy; a new file's `write`s also allocate,
    /// zero and account for every page and block. At most this many segments' worth of disk
    /// stays in use beyond the log itself. When it is not 0, the snapshot a newer one
    /// replaces is also kept, as one spare, for the next snapshot to be written over.
    pub recycled_segments: usize,
}

impl StorageConfig {
    /// The default segment size: 64 MiB.
    pub const DEFAULT_SEGMENT_SIZE: u64 = 64 << 20;
    /// The default buffer high-water mark: 64 MiB.
    pub const DEFAULT_MAX_BUFFERED: usize = 64 << 20;
    /// The default number of retired segments kept for reuse: 16, the 1 GiB of log after
    /// which the server takes a snapshot by default, so that in the steady state every new
    /// segment is a reused one.
    pub const DEFAULT_RECYCLED_SEGMENTS: usize = 16;

    /// Settings for `dir` with the defaults: `everysec`, 64 MiB segments, a 64 MiB buffer,
    /// 16 retired segments kept for reuse.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        StorageConfig {
            dir: dir.into(),
            fsync: FsyncPolicy::default(),
            segment_size: Self::DEFAULT_SEGMENT_SIZE,
            max_buffered: Self::DEFAULT_MAX_BUFFERED,
            recycled_segments: Self::DEFAULT_RECYCLED_SEGMENTS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_print_as_configured() {
        for policy in [FsyncPolicy::Always, FsyncPolicy::EverySec, FsyncPolicy::No] {
            assert_eq!(policy.to_string().parse::<FsyncPolicy>(), Ok(policy));
        }
        assert!("sometimes".parse::<FsyncPolicy>().is_err());
        assert_eq!(FsyncPolicy::default(), FsyncPolicy::EverySec);
    }
}
