//! Start-up: lock the data directory, load the newest valid snapshot, replay the log after
//! it, cut off a torn tail, and start the log writer.
//!
//! What recovery repairs by itself is only what a crash leaves: a torn end of the last
//! segment (a partial record, a bad record with nothing valid after it), which was never
//! acknowledged under `always`, and tails the writer superseded after an error. It also trims
//! the zeros that end a preallocated segment the writer did not fill: space never written,
//! not damage, so it is not reported as a torn tail. Anything
//! else (a bad record with valid ones after it, damage in a segment that is not the last, a
//! gap in lsns, a log that does not reach back to the snapshot) may be acknowledged data, so
//! recovery stops with an error naming the file and offset instead of dropping it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sessiond_engine::{Engine, Timestamp};

use crate::config::StorageConfig;
use crate::error::StorageError;
use crate::fs::Fs;
use crate::layout::{self, LsnFile};
use crate::lock::DirLock;
use crate::segment::{self, SegmentEnd};
use crate::snapshot;
use crate::storage::Storage;
use crate::wal::WalJournal;
use crate::writer;

/// What recovery found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The data directory.
    pub dir: PathBuf,
    /// The lsn of the snapshot loaded, if any.
    pub snapshot_lsn: Option<u64>,
    /// Items loaded from the snapshot.
    pub items_loaded: u64,
    /// Log records replayed after the snapshot.
    pub records_replayed: u64,
    /// Log segments read.
    pub segments_read: usize,
    /// Bytes read from snapshot and log.
    pub bytes_read: u64,
    /// Items that had expired by the time of start-up and were removed.
    pub expired: usize,
    /// The lsn the next record gets.
    pub next_lsn: u64,
    /// The torn tail cut off the last segment, if there was one.
    pub truncation: Option<Truncation>,
    /// Damaged snapshots passed over for an older one (the log covered the difference).
    pub skipped_snapshots: Vec<PathBuf>,
    /// How long recovery took.
    pub elapsed: Duration,
}

/// A torn tail cut off a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truncation {
    /// The segment.
    pub file: PathBuf,
    /// Where it was cut: the end of its last good record.
    pub offset: u64,
    /// How many bytes were cut off.
    pub bytes: u64,
    /// What the cut bytes were.
    pub reason: String,
}

/// Opens the data directory of `config` for `engine`: takes its lock, recovers the store into
/// `engine` (which should be empty) as of `now`, starts the log writer and attaches its
/// journal to the engine, so every later change is logged.
pub fn open(
    config: StorageConfig,
    fs: Arc<dyn Fs>,
    engine: &Engine,
    now: Timestamp,
) -> Result<(Storage, RecoveryReport), StorageError> {
    let started = Instant::now();
    let dir = config.dir.clone();
    fs.create_dir_all(&dir)
        .map_err(|error| StorageError::io("create", &dir, error))?;
    let lock = DirLock::acquire(&dir)?;
    let listing =
        layout::list(&*fs, &dir).map_err(|error| StorageError::io("list", &dir, error))?;
    for temp in &listing.temp_snapshots {
        tracing::warn!(file = %temp.display(), "removing an unfinished snapshot");
        fs.remove(temp)
            .map_err(|error| StorageError::io("remove", temp, error))?;
    }
    // Retired files past the number to keep (the setting was lowered) are not needed.
    let spare = dir.join(layout::RECYCLED_SNAPSHOT_NAME);
    let spare_snapshot =
        (config.recycled_segments == 0 && fs.len(&spare).is_ok()).then_some(&spare);
    for extra in listing
        .recycled
        .iter()
        .skip(config.recycled_segments)
        .map(|file| &file.path)
        .chain(spare_snapshot)
    {
        fs.remove(extra)
            .map_err(|error| StorageError::io("remove", extra, error))?;
    }
    let mut report = RecoveryReport {
        dir: dir.clone(),
        snapshot_lsn: None,
        items_loaded: 0,
        records_replayed: 0,
        segments_read: 0,
        bytes_read: 0,
        expired: 0,
        next_lsn: 1,
        truncation: None,
        skipped_snapshots: Vec::new(),
        elapsed: Duration::ZERO,
    };

    let mut chosen = None;
    let mut damaged = Vec::new();
    for file in listing.snapshots.iter().rev() {
        match snapshot::inspect(&*fs, &dir, &file.path, file.lsn) {
            Ok(info) => {
                chosen = Some((file, info));
                break;
            }
            Err(error) => {
                tracing::warn!(%error, "passing over a damaged snapshot for an older one");
                report.skipped_snapshots.push(file.path.clone());
                damaged.push((file, error));
            }
        }
    }
    let snapshot_lsn = chosen.as_ref().map(|(_, info)| info.lsn);
    let start = replay_start(&listing.segments, snapshot_lsn).map_err(|(file, problem)| {
        let problem = match report.skipped_snapshots.first() {
            Some(damaged) => format!(
                "{problem}; the damaged snapshot {} may hold them",
                damaged.display()
            ),
            None => problem,
        };
        StorageError::corrupt(&dir, &file, 0, problem)
    })?;

    if let Some((file, info)) = &chosen {
        snapshot::load(&*fs, &dir, &file.path, info, |record| {
            engine.restore(&record.effect);
        })?;
        report.snapshot_lsn = Some(info.lsn);
        report.items_loaded = info.items;
        report.bytes_read += info.len;
    }

    let replay_from = snapshot_lsn.unwrap_or(1);
    let segments = &listing.segments[start..];
    let mut last_lsn = None;
    for (i, file) in segments.iter().enumerate() {
        let next_first = segments.get(i + 1).map(|next| next.lsn);
        let bytes = fs
            .read(&file.path)
            .map_err(|error| StorageError::io("read", &file.path, error))?;
        let scan = segment::scan(&bytes, file.lsn, next_first, |record| {
            if record.lsn >= replay_from {
                engine.restore(&record.effect);
                report.records_replayed += 1;
            }
        });
        report.segments_read += 1;
        report.bytes_read += bytes.len() as u64;
        last_lsn = scan.last_lsn.or(last_lsn);
        match scan.end {
            SegmentEnd::Clean => {}
            SegmentEnd::Preallocated { offset, bytes } => {
                // Space the writer set aside and never wrote (it stopped without trimming, or
                // gave the segment up after an error); the writer continues in a new segment.
                tracing::debug!(
                    file = %file.path.display(),
                    offset,
                    bytes,
                    "trimming unused preallocated space off a log segment"
                );
                cut(&*fs, &file.path, offset)?;
            }
            SegmentEnd::Superseded { offset, bytes } => {
                tracing::info!(
                    file = %file.path.display(),
                    offset,
                    bytes,
                    "cutting a log tail that a later segment rewrote"
                );
                cut(&*fs, &file.path, offset)?;
            }
            SegmentEnd::Torn {
                offset,
                bytes,
                reason,
            } => {
                tracing::warn!(
                    file = %file.path.display(),
                    offset,
                    bytes,
                    %reason,
                    "cutting the torn tail of the log at its last good record"
                );
                if offset < segment::HEADER_LEN as u64 {
                    fs.remove(&file.path)
                        .map_err(|error| StorageError::io("remove", &file.path, error))?;
                } else {
                    cut(&*fs, &file.path, offset)?;
                }
                report.truncation = Some(Truncation {
                    file: file.path.clone(),
                    offset,
                    bytes,
                    reason,
                });
            }
            SegmentEnd::Corrupt { offset, problem } => {
                return Err(StorageError::corrupt(&dir, &file.path, offset, problem));
            }
        }
    }
    let next_lsn = replay_from.max(last_lsn.map_or(1, |lsn| lsn + 1));
    // A damaged snapshot passed over is harmless only if the log held everything it did.
    if let Some((file, error)) = damaged.into_iter().find(|(file, _)| file.lsn > next_lsn) {
        let (offset, problem) = match error {
            StorageError::Corrupt {
                offset, problem, ..
            } => (offset, problem),
            other => (0, other.to_string()),
        };
        return Err(StorageError::corrupt(
            &dir,
            &file.path,
            offset,
            format!(
                "damaged snapshot ({problem}), and no older snapshot or log holds records {next_lsn} to {} that it covers",
                file.lsn - 1
            ),
        ));
    }
    report.next_lsn = next_lsn;
    // The log holds the times things were written; what has expired since stays gone.
    report.expired = engine.expire_due(now, usize::MAX);

    let journal = Arc::new(WalJournal::new(
        next_lsn,
        config.fsync,
        config.max_buffered,
        config.segment_size,
    ));
    let writer = writer::spawn(Arc::clone(&journal), Arc::clone(&fs), &config, next_lsn)?;
    let storage = Storage::new(
        dir.clone(),
        fs,
        Arc::clone(&journal),
        writer,
        lock,
        config.recycled_segments,
    );
    if let Some(lsn) = snapshot_lsn {
        // Segments the snapshot covers (from before a crash, say) are not needed any more.
        storage.remove_covered(lsn)?;
    }
    if engine.attach_journal(journal).is_err() {
        return Err(StorageError::Writer(
            "the engine already has a journal attached".to_owned(),
        ));
    }
    report.elapsed = started.elapsed();
    tracing::info!("{report}");
    Ok((storage, report))
}

/// Which of `segments` (in lsn order) replay starts with: the last one that starts at or
/// before the snapshot's lsn, or the first when there is no snapshot. Fails, naming the file
/// to blame, when the log does not reach back far enough.
pub(crate) fn replay_start(
    segments: &[LsnFile],
    snapshot_lsn: Option<u64>,
) -> Result<usize, (PathBuf, String)> {
    let Some(first) = segments.first() else {
        return Ok(0);
    };
    match snapshot_lsn {
        None if first.lsn == 1 => Ok(0),
        None => Err((
            first.path.clone(),
            format!(
                "the log starts at lsn {} and no snapshot holds the records before it",
                first.lsn
            ),
        )),
        Some(lsn) => match segments.iter().rposition(|segment| segment.lsn <= lsn) {
            Some(index) => Ok(index),
            None => Err((
                first.path.clone(),
                format!(
                    "the oldest log segment starts at lsn {}, after the snapshot's lsn {lsn}: records {lsn} to {} are missing",
                    first.lsn,
                    first.lsn - 1
                ),
            )),
        },
    }
}

/// Cuts `path` to `len` bytes, durably.
fn cut(fs: &dyn Fs, path: &Path, len: u64) -> Result<(), StorageError> {
    let mut file = fs
        .open_append(path)
        .map_err(|error| StorageError::io("open", path, error))?;
    file.set_len(len)
        .and_then(|()| file.sync_data())
        .map_err(|error| StorageError::io("truncate", path, error))
}

impl fmt::Display for RecoveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "recovered {} in {:.3?}: ",
            self.dir.display(),
            self.elapsed
        )?;
        match self.snapshot_lsn {
            Some(lsn) => write!(
                f,
                "{} items from the snapshot at lsn {lsn}",
                self.items_loaded
            )?,
            None => f.write_str("no snapshot")?,
        }
        write!(
            f,
            ", {} log records replayed from {} segments, {} bytes read, {} expired items dropped, next lsn {}",
            self.records_replayed, self.segments_read, self.bytes_read, self.expired, self.next_lsn
        )?;
        if let Some(cut) = &self.truncation {
            write!(
                f,
                "; cut a torn tail of {} bytes off {} at byte {}",
                cut.bytes,
                cut.file.display(),
                cut.offset
            )?;
        }
        Ok(())
    }
}
