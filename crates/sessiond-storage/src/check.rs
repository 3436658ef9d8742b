//! The offline check of a data directory (`sessiond check-data DIR`): reads every snapshot
//! and segment, verifies every checksum, and says what recovery would do — the torn tail it
//! would cut, the damage it would refuse to start on — without changing anything. It takes
//! no lock and only reads, so it can look at the directory of a running server (the segment
//! being written then shows its preallocated space, and may show a torn tail that is only the
//! write in progress).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::StorageError;
use crate::fs::{Fs, StdFs};
use crate::layout;
use crate::recovery::{Truncation, replay_start};
use crate::segment::{self, SegmentEnd};
use crate::snapshot;

/// What checking a data directory found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    /// The data directory.
    pub dir: PathBuf,
    /// Every file of ours, snapshots first, each in lsn order.
    pub files: Vec<FileCheck>,
    /// The snapshot recovery would load.
    pub snapshot_lsn: Option<u64>,
    /// The lsn the next record would get after recovery.
    pub next_lsn: u64,
    /// The torn tail recovery would cut off.
    pub would_truncate: Option<Truncation>,
    /// Why recovery would refuse to start, if it would.
    pub refusal: Option<String>,
}

impl CheckReport {
    /// Whether recovery would start from this directory (perhaps after cutting a torn tail).
    pub fn recoverable(&self) -> bool {
        self.refusal.is_none()
    }
}

/// One file's findings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileCheck {
    /// The file.
    pub path: PathBuf,
    /// What it is.
    pub kind: FileKind,
    /// Its size.
    pub bytes: u64,
    /// Its good records (items and flushes, for a snapshot).
    pub records: u64,
    /// The lsn in its name.
    pub lsn: u64,
    /// The last good record's lsn (segments).
    pub last_lsn: Option<u64>,
    /// Whether recovery reads it: older snapshots and segments the snapshot covers are not.
    pub needed: bool,
    /// What state it is in.
    pub status: FileStatus,
}

/// The kinds of file in a data directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A snapshot.
    Snapshot,
    /// A snapshot left unfinished; recovery removes it.
    UnfinishedSnapshot,
    /// A log segment.
    Segment,
}

/// A file's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileStatus {
    /// Every checksum matches.
    Ok,
    /// Good up to zeros at its end: preallocated space no record was written into (the
    /// segment being written, or one left by a crash); recovery trims it.
    PreallocatedTail {
        /// Where it starts.
        offset: u64,
        /// How many bytes.
        bytes: u64,
    },
    /// Good up to bytes that a later segment rewrote; recovery cuts them.
    SupersededTail {
        /// Where they start.
        offset: u64,
        /// How many.
        bytes: u64,
    },
    /// A torn end that recovery cuts off.
    TornTail {
        /// Where the cut would be.
        offset: u64,
        /// How many bytes would go.
        bytes: u64,
        /// What they are.
        reason: String,
    },
    /// Damage.
    Corrupt {
        /// Where it starts.
        offset: u64,
        /// What it is.
        problem: String,
    },
    /// The file could not be read.
    Unreadable(String),
    /// Never read (an unfinished snapshot).
    Unfinished,
}

/// Checks the data directory `dir` on the real file system, changing nothing.
pub fn check_data(dir: &Path) -> Result<CheckReport, StorageError> {
    check_data_with(&StdFs, dir)
}

/// [`check_data`] on any file system.
pub fn check_data_with(fs: &dyn Fs, dir: &Path) -> Result<CheckReport, StorageError> {
    let listing = layout::list(fs, dir).map_err(|error| StorageError::io("list", dir, error))?;
    let mut report = CheckReport {
        dir: dir.to_path_buf(),
        files: Vec::new(),
        snapshot_lsn: None,
        next_lsn: 1,
        would_truncate: None,
        refusal: None,
    };

    let mut chosen = None;
    let mut damaged = Vec::new();
    for file in listing.snapshots.iter().rev() {
        let mut check = FileCheck {
            path: file.path.clone(),
            kind: FileKind::Snapshot,
            bytes: fs.len(&file.path).unwrap_or(0),
            records: 0,
            lsn: file.lsn,
            last_lsn: None,
            needed: false,
            status: FileStatus::Ok,
        };
        // Recovery picks the newest snapshot whose header and footer are whole.
        let loaded = snapshot::inspect(fs, dir, &file.path, file.lsn).and_then(|info| {
            snapshot::load(fs, dir, &file.path, &info, |_| check.records += 1).map(|()| info)
        });
        match loaded {
            Ok(info) => {
                if chosen.is_none() {
                    chosen = Some(info.lsn);
                    check.needed = true;
                }
            }
            Err(error) => {
                let footer_ok = snapshot::inspect(fs, dir, &file.path, file.lsn).is_ok();
                if chosen.is_none() && footer_ok {
                    // Recovery would choose it and then fail on its body.
                    check.needed = true;
                    report.refusal.get_or_insert_with(|| error.to_string());
                    chosen = Some(file.lsn);
                } else if chosen.is_none() {
                    damaged.push(file.clone());
                }
                check.status = status_of(error);
            }
        }
        report.files.push(check);
    }
    report.files.reverse();
    for temp in &listing.temp_snapshots {
        report.files.push(FileCheck {
            path: temp.clone(),
            kind: FileKind::UnfinishedSnapshot,
            bytes: fs.len(temp).unwrap_or(0),
            records: 0,
            lsn: 0,
            last_lsn: None,
            needed: false,
            status: FileStatus::Unfinished,
        });
    }
    report.snapshot_lsn = chosen;

    let start = match replay_start(&listing.segments, chosen) {
        Ok(start) => start,
        Err((file, problem)) => {
            let error = StorageError::corrupt(dir, &file, 0, problem);
            report.refusal.get_or_insert_with(|| error.to_string());
            0
        }
    };
    let mut last_lsn = None;
    for (i, file) in listing.segments.iter().enumerate() {
        let next_first = listing.segments.get(i + 1).map(|next| next.lsn);
        let needed = i >= start;
        let mut check = FileCheck {
            path: file.path.clone(),
            kind: FileKind::Segment,
            bytes: 0,
            records: 0,
            lsn: file.lsn,
            last_lsn: None,
            needed,
            status: FileStatus::Ok,
        };
        let bytes = match fs.read(&file.path) {
            Ok(bytes) => bytes,
            Err(error) => {
                let error = StorageError::io("read", &file.path, error);
                if needed {
                    report.refusal.get_or_insert_with(|| error.to_string());
                }
                check.status = FileStatus::Unreadable(error.to_string());
                report.files.push(check);
                continue;
            }
        };
        let scan = segment::scan(&bytes, file.lsn, next_first, |_| {});
        check.bytes = bytes.len() as u64;
        check.records = scan.records;
        check.last_lsn = scan.last_lsn;
        if needed {
            last_lsn = scan.last_lsn.or(last_lsn);
        }
        check.status = match scan.end {
            SegmentEnd::Clean => FileStatus::Ok,
            SegmentEnd::Preallocated { offset, bytes } => {
                FileStatus::PreallocatedTail { offset, bytes }
            }
            SegmentEnd::Superseded { offset, bytes } => {
                FileStatus::SupersededTail { offset, bytes }
            }
            SegmentEnd::Torn {
                offset,
                bytes,
                reason,
            } => {
                if needed {
                    report.would_truncate = Some(Truncation {
                        file: file.path.clone(),
                        offset,
                        bytes,
                        reason: reason.clone(),
                    });
                }
                FileStatus::TornTail {
                    offset,
                    bytes,
                    reason,
                }
            }
            SegmentEnd::Corrupt { offset, problem } => {
                if needed {
                    let error = StorageError::corrupt(dir, &file.path, offset, problem.clone());
                    report.refusal.get_or_insert_with(|| error.to_string());
                }
                FileStatus::Corrupt { offset, problem }
            }
        };
        report.files.push(check);
    }
    report.next_lsn = chosen.unwrap_or(1).max(last_lsn.map_or(1, |lsn| lsn + 1));
    if let Some(file) = damaged.iter().find(|file| file.lsn > report.next_lsn) {
        let problem = format!(
            "damaged snapshot, and no older snapshot or log holds records {} to {} that it covers",
            report.next_lsn,
            file.lsn - 1
        );
        let error = StorageError::corrupt(dir, &file.path, 0, problem);
        report.refusal.get_or_insert_with(|| error.to_string());
    }
    Ok(report)
}

fn status_of(error: StorageError) -> FileStatus {
    match error {
        StorageError::Corrupt {
            offset, problem, ..
        } => FileStatus::Corrupt { offset, problem },
        other => FileStatus::Unreadable(other.to_string()),
    }
}

impl fmt::Display for FileStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileStatus::Ok => f.write_str("ok"),
            FileStatus::PreallocatedTail { offset, bytes } => write!(
                f,
                "ok; {bytes} bytes from byte {offset} on are preallocated space not yet written"
            ),
            FileStatus::SupersededTail { offset, bytes } => write!(
                f,
                "ok; {bytes} bytes from byte {offset} on were rewritten into the next segment"
            ),
            FileStatus::TornTail {
                offset,
                bytes,
                reason,
            } => write!(f, "torn tail at byte {offset} ({bytes} bytes): {reason}"),
            FileStatus::Corrupt { offset, problem } => {
                write!(f, "CORRUPT at byte {offset}: {problem}")
            }
            FileStatus::Unreadable(error) => write!(f, "UNREADABLE: {error}"),
            FileStatus::Unfinished => f.write_str("unfinished snapshot, removed at start-up"),
        }
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "data directory {}", self.dir.display())?;
        for file in &self.files {
            let name = file.path.file_name().map_or_else(
                || file.path.display().to_string(),
                |name| name.to_string_lossy().into_owned(),
            );
            let role = if file.needed { "" } else { " (not needed)" };
            write!(
                f,
                "  {name}: {} bytes, {} records",
                file.bytes, file.records
            )?;
            if let Some(last) = file.last_lsn {
                write!(f, ", lsn {} to {last}", file.lsn)?;
            }
            writeln!(f, "{role}: {}", file.status)?;
        }
        match self.snapshot_lsn {
            Some(lsn) => writeln!(f, "recovery would load the snapshot at lsn {lsn}")?,
            None => writeln!(f, "recovery would start without a snapshot")?,
        }
        if let Some(cut) = &self.would_truncate {
            writeln!(
                f,
                "recovery would cut {} bytes off {} at byte {}",
                cut.bytes,
                cut.file.display(),
                cut.offset
            )?;
        }
        match &self.refusal {
            Some(refusal) => writeln!(f, "recovery would REFUSE to start: {refusal}"),
            None => writeln!(f, "recovery would start; the next lsn is {}", self.next_lsn),
        }
    }
}
