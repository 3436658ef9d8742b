//! The Raft log on disk: openraft's [`RaftLogStorage`] and [`RaftLogReader`] for sessiond,
//! kept in one directory (the server passes `<data_dir>/raft`).
//!
//! # Files
//! - `log-<first index, 20 digits>.seg`: a segment, entries from that index on, appended to
//!   until it passes [`LogStoreConfig::segment_size`]; then the next entry starts a new one.
//! - `state`: the vote, the committed log id, the purged log id and a truncation under way,
//!   as a sequence of whole-state records (the last good one counts), rewritten through
//!   `state.tmp` and a rename when it grows or at start-up.
//!
//! Every header and record carries a CRC-32 and a format version (see `format`).
//!
//! # Why hand-written segments and not redb
//! The log is append-only, read back mostly right after it was written, and cut only at the
//! tail (truncation) or by whole segments at the head (purge): an append is one `write(2)` of
//! the batch's records, with no rewrite of older data. The `everysec` and `no` policies need
//! an entry that has reached the kernel to survive `kill -9`; redb's non-durable commits
//! (`Durability::None`) are kept only once a later durable commit follows, so after a crash
//! they are rolled back, and every durable commit is an fsync. This follows the single-node
//! write-ahead log in `sessiond-storage` instead: same record shape, same torn-tail rules.
//!
//! # Durability
//! - `append` writes the batch with one `write(2)`; under `always` it also `fdatasync`s before
//!   the `IOFlushed` callback, under `everysec` a background thread flushes within a second
//!   (appends never wait for it), under `no` only rotation and shutdown flush.
//! - `save_vote`, `purge` and `truncate_after` always flush the state file before returning,
//!   whatever the policy: a lost vote can elect two leaders in one term.
//! - `purge` first records the purged log id (durably), then deletes the segments it covers
//!   whole; recovery deletes any that a crash left. `truncate_after` first records the
//!   truncation (durably), then removes segments newest first and cuts the one left, then
//!   clears the record; recovery finishes a recorded truncation. So a crash leaves either the
//!   state before the operation or the state after it.
//! - A torn tail of the last segment (a partial or damaged last record with nothing valid
//!   after it) is cut at the last good record with a warning; damage anywhere else stops
//!   start-up with [`LogStoreError::Corrupt`].
//!
//! # Reads
//! An in-memory index keeps every present entry's log id and place on disk, so the log state
//! and log ids never touch the disk. The newest entries are also kept decoded, up to
//! [`LogStoreConfig::cache_bytes`]: replication reads what was just appended, and followers
//! that lag a little read a little older, and a cached entry costs a clone, where reading it
//! back would cost a system call, a checksum and a decode. Older entries (a follower far
//! behind, start-up) are read with one positioned read per run of entries in a segment.

mod flusher;
mod format;
mod recovery;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fmt::{self, Debug};
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use openraft::OptionalSend;
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use parking_lot::{Condvar, Mutex, RwLock};
use sessiond_storage::{Fs, FsFile, FsyncPolicy, StdFs};

use crate::types::{Entry, LogId, TypeConfig, Vote};

use format::{HEADER_LEN, KIND_ENTRY, KIND_STATE, SEGMENT_MAGIC, STATE_MAGIC, State};

/// The most a [`RaftLogReader::limited_get_log_entries`] answer carries, in encoded bytes
/// (always at least one entry): it becomes one replication message.
const READ_LIMIT_BYTES: usize = 8 << 20;

/// The state file is rewritten from scratch once it grows past this: each save appends a
/// whole state (about a hundred bytes), so this is some hundreds of saves.
const STATE_REWRITE_BYTES: u64 = 64 << 10;

/// How often a reader retries a read that raced with a truncation or purge.
const READ_ATTEMPTS: u32 = 16;

/// How the log store is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogStoreConfig {
    /// When appended entries are flushed to stable storage.
    pub fsync: FsyncPolicy,
    /// The size past which the next append starts a new segment, in bytes. A batch is never
    /// split, so a segment may pass it by one batch.
    pub segment_size: u64,
    /// How many bytes (encoded) of the newest entries are kept in memory for readers.
    pub cache_bytes: usize,
}

impl LogStoreConfig {
    /// The default segment size: 64 MiB.
    pub const DEFAULT_SEGMENT_SIZE: u64 = 64 << 20;
    /// The default cache of recent entries: 32 MiB.
    pub const DEFAULT_CACHE_BYTES: usize = 32 << 20;

    /// The defaults with the fsync policy `fsync`.
    pub fn new(fsync: FsyncPolicy) -> Self {
        LogStoreConfig {
            fsync,
            segment_size: Self::DEFAULT_SEGMENT_SIZE,
            cache_bytes: Self::DEFAULT_CACHE_BYTES,
        }
    }
}

/// Why the log store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum LogStoreError {
    /// A file operation failed.
    #[error("raft log: {op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// A file is damaged somewhere a crash cannot have left it so.
    #[error(
        "raft log {} is damaged at byte {offset}: {problem}. This node's log cannot be trusted: \
         stop it, move {} aside, and replace the node (remove it from the cluster and add it \
         back as a new member, so it copies a snapshot and the log from the leader); do not \
         edit the files, and never do this on a majority of the nodes at once",
        path.display(), dir.display()
    )]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// The log directory.
        dir: PathBuf,
        /// Where the damage starts.
        offset: u64,
        /// What is wrong.
        problem: String,
    },
    /// Log segments without the state file that holds the vote.
    #[error(
        "raft log {} has log segments but no state file ({}): the node's vote is lost, and a \
         node that forgot its vote can elect two leaders in one term. Replace the node (move \
         the directory aside, remove the node from the cluster and add it back as a new member)",
        dir.display(), format::STATE_NAME
    )]
    MissingState {
        /// The log directory.
        dir: PathBuf,
    },
}

/// The durable Raft log: openraft's [`RaftLogStorage`]. Writes go through it (`&mut self`);
/// reads go through any number of [`LogReader`]s.
pub struct LogStore {
    shared: Arc<Shared>,
    config: LogStoreConfig,
    /// The first indexes of the segment files, ascending; the last one is `active`.
    segments: Vec<u64>,
    /// The segment appended to; `None` while there is no segment.
    active: Option<Active>,
    /// The state file.
    state: StateFile,
    /// Reused encoding buffer: one batch's records.
    buf: Vec<u8>,
    /// The `everysec` flusher.
    flusher: Option<JoinHandle<()>>,
}

/// A handle on the log for readers: cheap to clone, reads never wait on a write's I/O.
#[derive(Clone)]
pub struct LogReader {
    shared: Arc<Shared>,
}

/// What the store and its readers share.
struct Shared {
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    index: RwLock<Index>,
    /// Set once a write or flush failed: the files' tails are no longer known, so every later
    /// write fails (openraft then stops the node) until a restart recovers from the files.
    failure: Mutex<Option<String>>,
    /// What the `everysec` flusher has to do.
    flush: Mutex<FlushState>,
    flush_wake: Condvar,
}

/// The in-memory index of the present entries.
struct Index {
    vote: Option<Vote>,
    purged: Option<LogId>,
    /// The index of `locs[0]` (the next index while there are no entries).
    first: u64,
    locs: VecDeque<Loc>,
    /// The newest entries, ending at the last one.
    cache: VecDeque<Entry>,
    cache_bytes: usize,
    cache_limit: usize,
    /// Counts truncations and purges: a reader that read the disk without the lock checks
    /// that its locations still held.
    generation: u64,
}

/// Where an entry is.
#[derive(Clone, Debug)]
struct Loc {
    log_id: LogId,
    /// The first index of its segment.
    segment: u64,
    offset: u64,
    len: u32,
}

/// The segment being appended to.
struct Active {
    first: u64,
    // A mutex only to make the store `Sync` as openraft asks (`FsFile` is `Send` only);
    // reached through `get_mut`, it is never locked.
    file: Mutex<Box<dyn FsFile>>,
    len: u64,
}

struct StateFile {
    value: State,
    file: Mutex<Box<dyn FsFile>>,
    len: u64,
}

/// Writes since the last `everysec` flush.
#[derive(Default)]
struct FlushState {
    /// The active segment's path.
    segment: Option<PathBuf>,
    /// Counts segment writes; `segment_synced` is the count the last flush covered.
    segment_written: u64,
    segment_synced: u64,
    /// Likewise for the state file.
    state_written: u64,
    state_synced: u64,
    stop: bool,
}

impl Debug for LogStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogStore")
            .field("dir", &self.shared.dir)
            .field("config", &self.config)
            .field("segments", &self.segments.len())
            .finish_non_exhaustive()
    }
}

impl Debug for LogReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogReader")
            .field("dir", &self.shared.dir)
            .finish_non_exhaustive()
    }
}

impl LogStore {
    /// Opens the log in `dir` (created if missing) on the real file system with the default
    /// segment and cache sizes: recovers what is there, cuts a torn tail, finishes a purge or
    /// truncation a crash interrupted.
    pub fn open(dir: &Path, fsync: FsyncPolicy) -> Result<LogStore, LogStoreError> {
        Self::open_with(dir, LogStoreConfig::new(fsync), Arc::new(StdFs))
    }

    /// [`LogStore::open`] with every setting and the file system given (tests put a failing
    /// or counting one underneath).
    pub fn open_with(
        dir: &Path,
        config: LogStoreConfig,
        fs: Arc<dyn Fs>,
    ) -> Result<LogStore, LogStoreError> {
        recovery::open(dir, config, fs)
    }

    /// A reader of this log.
    pub fn reader(&self) -> LogReader {
        LogReader {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    fn path(&self, first: u64) -> PathBuf {
        self.shared.segment_path(first)
    }

    fn check_failure(&self) -> io::Result<()> {
        match &*self.shared.failure.lock() {
            Some(failure) => Err(io::Error::other(format!(
                "raft log {} failed earlier and takes no more writes: {failure}",
                self.shared.dir.display()
            ))),
            None => Ok(()),
        }
    }

    fn fail(&self, what: &str, error: io::Error) -> io::Error {
        self.shared.fail(what, error)
    }

    fn append_entries(&mut self, entries: Vec<Entry>) -> io::Result<()> {
        self.check_failure()?;
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let first_index = first.index();
        let (next, empty, purged) = {
            let index = self.shared.index.read();
            (
                index.next_index(),
                index.locs.is_empty(),
                index.purged.is_some(),
            )
        };
        // Only a log that never had anything purged and holds nothing may start anywhere
        // (openraft starts at 0; tests start elsewhere); otherwise an append continues the
        // log exactly, so there is never a hole.
        if first_index != next && (purged || !empty) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("raft log: append at index {first_index}, but the next index is {next}"),
            ));
        }
        for (at, entry) in entries.iter().enumerate() {
            if entry.index() != first_index + at as u64 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "raft log: appended entries are not consecutive: index {} after {}",
                        entry.index(),
                        first_index + at as u64 - 1
                    ),
                ));
            }
        }

        let rotate = match &self.active {
            None => true,
            Some(active) => {
                active.len >= self.config.segment_size && active.len > HEADER_LEN as u64
            }
        };
        if rotate {
            self.start_segment(first_index)?;
        }
        let Some(active) = self.active.as_mut() else {
            return Err(io::Error::other("raft log: no segment to append to"));
        };

        self.buf.clear();
        let mut locs = Vec::with_capacity(entries.len());
        for entry in &entries {
            let offset = active.len + self.buf.len() as u64;
            let before = self.buf.len();
            format::encode_record(KIND_ENTRY, entry.index(), entry, &mut self.buf)?;
            locs.push(Loc {
                log_id: entry.log_id(),
                segment: active.first,
                offset,
                // `encode_record` refuses records longer than `MAX_RECORD_LEN`.
                len: u32::try_from(self.buf.len() - before).unwrap_or(u32::MAX),
            });
        }

        let file = active.file.get_mut();
        if let Err(error) = file.write_all(&self.buf) {
            let path = self.shared.segment_path(active.first);
            return Err(self.fail(&format!("writing {}", path.display()), error));
        }
        active.len += self.buf.len() as u64;
        if self.config.fsync == FsyncPolicy::Always
            && let Err(error) = file.sync_data()
        {
            let path = self.shared.segment_path(active.first);
            return Err(self.fail(&format!("flushing {}", path.display()), error));
        }
        // A batch of a huge value should not pin its buffer for the store's lifetime.
        if self.buf.capacity() > 4 * READ_LIMIT_BYTES {
            self.buf = Vec::new();
        }

        {
            let mut index = self.shared.index.write();
            if index.locs.is_empty() {
                index.first = first_index;
            }
            for (loc, entry) in locs.into_iter().zip(entries) {
                index.push(loc, entry);
            }
        }
        if self.config.fsync == FsyncPolicy::EverySec {
            self.shared.flush.lock().segment_written += 1;
        }
        Ok(())
    }

    /// Flushes and closes the active segment (if any) and creates the segment starting at
    /// `first`, with its directory entry flushed: once per segment, so cheap under any policy.
    fn start_segment(&mut self, first: u64) -> io::Result<()> {
        if let Some(mut old) = self.active.take()
            && let Err(error) = old.file.get_mut().sync_data()
        {
            let path = self.path(old.first);
            return Err(self.fail(&format!("flushing {}", path.display()), error));
        }
        let path = self.path(first);
        let created = self.shared.fs.create(&path).and_then(|mut file| {
            file.write_all(&format::header(SEGMENT_MAGIC, first))?;
            self.shared.fs.sync_dir(&self.shared.dir)?;
            Ok(file)
        });
        let file = match created {
            Ok(file) => file,
            Err(error) => return Err(self.fail(&format!("creating {}", path.display()), error)),
        };
        self.segments.push(first);
        self.active = Some(Active {
            first,
            file: Mutex::new(file),
            len: HEADER_LEN as u64,
        });
        self.shared.flush.lock().segment = Some(path);
        Ok(())
    }

    /// Saves the state: appends it to the state file, or rewrites the file once it has grown.
    /// `sync` flushes it before returning; otherwise the `everysec` flusher does (or nothing,
    /// under `no`).
    fn save_state(&mut self, sync: bool) -> io::Result<()> {
        self.check_failure()?;
        if self.state.len >= STATE_REWRITE_BYTES {
            return self.rewrite_state();
        }
        let mut record = Vec::new();
        format::encode_record(KIND_STATE, 0, &self.state.value, &mut record)?;
        let file = self.state.file.get_mut();
        let result = file.write_all(&record).and_then(|()| {
            if sync {
                file.sync_data()?;
            }
            Ok(())
        });
        if let Err(error) = result {
            let path = self.shared.dir.join(format::STATE_NAME);
            return Err(self.fail(&format!("writing {}", path.display()), error));
        }
        self.state.len += record.len() as u64;
        if !sync && self.config.fsync == FsyncPolicy::EverySec {
            self.shared.flush.lock().state_written += 1;
        }
        Ok(())
    }

    /// Writes the state into a fresh state file (see [`write_state_file`]).
    fn rewrite_state(&mut self) -> io::Result<()> {
        match write_state_file(&*self.shared.fs, &self.shared.dir, &self.state.value) {
            Ok((file, len)) => {
                self.state.file = Mutex::new(file);
                self.state.len = len;
                Ok(())
            }
            Err(error) => {
                let path = self.shared.dir.join(format::STATE_NAME);
                Err(self.fail(&format!("rewriting {}", path.display()), error))
            }
        }
    }

    /// Removes the entries from `from` on (recorded in the state first, so that recovery
    /// finishes what a crash interrupts).
    fn truncate_from(&mut self, from: u64) -> io::Result<()> {
        let (from, next, cut) = {
            let index = self.shared.index.read();
            // Purged entries are gone already.
            let from = from.max(index.first);
            let cut = index.loc(from).map(|loc| (loc.segment, loc.offset));
            (from, index.next_index(), cut)
        };
        if from >= next {
            // Nothing to remove; a truncation recovery found already done is cleared.
            if self.state.value.truncating.take().is_some() {
                self.save_state(true)?;
            }
            return Ok(());
        }
        self.state.value.truncating = Some(from);
        self.save_state(true)?;

        // Readers first stop finding the entries, then the bytes go.
        self.shared.index.write().truncate(from);
        self.remove_segments_from(from, cut)?;

        self.state.value.truncating = None;
        self.save_state(true)
    }

    /// The file half of a truncation: removes the segments that start at or after `from`
    /// (newest first, so a crash leaves no hole), then cuts the segment `cut` names at the
    /// offset it names, when that segment is not removed whole.
    fn remove_segments_from(&mut self, from: u64, cut: Option<(u64, u64)>) -> io::Result<()> {
        let mut removed = false;
        while let Some(&last) = self.segments.last()
            && last >= from
        {
            self.active = None;
            let path = self.path(last);
            if let Err(error) = self.shared.fs.remove(&path) {
                return Err(self.fail(&format!("removing {}", path.display()), error));
            }
            self.segments.pop();
            removed = true;
        }
        if removed && let Err(error) = self.shared.fs.sync_dir(&self.shared.dir) {
            let dir = self.shared.dir.clone();
            return Err(self.fail(&format!("flushing {}", dir.display()), error));
        }
        let Some(&last) = self.segments.last() else {
            self.active = None;
            self.shared.flush.lock().segment = None;
            return Ok(());
        };
        let path = self.path(last);
        let reopen = |fs: &dyn Fs| -> io::Result<(Box<dyn FsFile>, u64)> {
            let mut file = fs.open_append(&path)?;
            match cut {
                Some((segment, offset)) if segment == last => {
                    file.set_len(offset)?;
                    file.sync_data()?;
                    Ok((file, offset))
                }
                _ => Ok((file, fs.len(&path)?)),
            }
        };
        match self.active.as_mut() {
            Some(active) if !matches!(cut, Some((segment, _)) if segment == last) => {
                debug_assert_eq!(active.first, last);
            }
            _ => match reopen(&*self.shared.fs) {
                Ok((file, len)) => {
                    self.active = Some(Active {
                        first: last,
                        file: Mutex::new(file),
                        len,
                    });
                }
                Err(error) => {
                    self.active = None;
                    return Err(self.fail(&format!("cutting {}", path.display()), error));
                }
            },
        }
        self.shared.flush.lock().segment = Some(path);
        Ok(())
    }

    /// Removes the segments whose entries are all purged.
    fn remove_purged_segments(&mut self) -> io::Result<()> {
        let (first, next) = {
            let index = self.shared.index.read();
            (index.first, index.next_index())
        };
        let mut removed = false;
        while let Some(&oldest) = self.segments.first() {
            // A segment holds the entries up to the next segment's first; the last one up
            // to the log's end.
            let end = self.segments.get(1).copied().unwrap_or(next);
            if end > first {
                break;
            }
            if self.segments.len() == 1 {
                // The last segment: the next append starts a fresh one at the right index.
                self.active = None;
                self.shared.flush.lock().segment = None;
            }
            let path = self.path(oldest);
            if let Err(error) = self.shared.fs.remove(&path) {
                return Err(self.fail(&format!("removing {}", path.display()), error));
            }
            self.segments.remove(0);
            removed = true;
        }
        if removed && let Err(error) = self.shared.fs.sync_dir(&self.shared.dir) {
            let dir = self.shared.dir.clone();
            return Err(self.fail(&format!("flushing {}", dir.display()), error));
        }
        Ok(())
    }

    /// Flushes what the policy left unflushed; at shutdown.
    fn sync_all(&mut self) -> io::Result<()> {
        if let Some(active) = self.active.as_mut() {
            active.file.get_mut().sync_data()?;
        }
        self.state.file.get_mut().sync_data()
    }
}

/// Writes `state` into a fresh state file: `state.tmp`, flushed, renamed over `state`, the
/// directory flushed, so a crash leaves either file whole. Returns the new file, open for
/// appending, and its length.
fn write_state_file(fs: &dyn Fs, dir: &Path, state: &State) -> io::Result<(Box<dyn FsFile>, u64)> {
    let temp = dir.join(format::STATE_TEMP_NAME);
    let path = dir.join(format::STATE_NAME);
    let mut bytes = format::header(STATE_MAGIC, 0).to_vec();
    format::encode_record(KIND_STATE, 0, state, &mut bytes)?;
    let mut file = fs.create(&temp)?;
    file.write_all(&bytes)?;
    file.sync_data()?;
    drop(file);
    fs.rename(&temp, &path)?;
    fs.sync_dir(dir)?;
    Ok((fs.open_append(&path)?, bytes.len() as u64))
}

impl Drop for LogStore {
    fn drop(&mut self) {
        if let Some(flusher) = self.flusher.take() {
            self.shared.flush.lock().stop = true;
            self.shared.flush_wake.notify_all();
            let _ = flusher.join();
        }
        if self.shared.failure.lock().is_none()
            && let Err(error) = self.sync_all()
        {
            tracing::error!(dir = %self.shared.dir.display(), %error, "raft log: flushing at shutdown failed");
        }
    }
}

impl Shared {
    /// Records `error` as the store's failure (the first one stays) and hands it back.
    fn fail(&self, what: &str, error: io::Error) -> io::Error {
        let message = format!("{what}: {error}");
        tracing::error!(dir = %self.dir.display(), "raft log: {message}");
        self.failure.lock().get_or_insert_with(|| message.clone());
        io::Error::new(error.kind(), message)
    }

    fn segment_path(&self, first: u64) -> PathBuf {
        self.dir.join(format::segment_name(first))
    }

    /// The present entries of `range`, at most about `limit` bytes of them (at least one).
    fn read_range(&self, range: &impl RangeBounds<u64>, limit: usize) -> io::Result<Vec<Entry>> {
        let start = match range.start_bound() {
            Bound::Included(&start) => start,
            Bound::Excluded(&start) => start.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&end) => end.saturating_add(1),
            Bound::Excluded(&end) => end,
            Bound::Unbounded => u64::MAX,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (spans, cached, generation) = {
                let index = self.index.read();
                let start = start.max(index.first);
                let end = end.min(index.next_index());
                if start >= end {
                    return Ok(Vec::new());
                }
                // The byte limit, on the encoded sizes the index keeps.
                let mut stop = start;
                let mut bytes = 0usize;
                while stop < end {
                    let len = index.locs[(stop - index.first) as usize].len as usize;
                    if stop > start && bytes + len > limit {
                        break;
                    }
                    bytes += len;
                    stop += 1;
                }
                let cache_start = index.next_index() - index.cache.len() as u64;
                let disk_end = stop.min(cache_start.max(start));
                let mut spans: Vec<Span> = Vec::new();
                for at in start..disk_end {
                    let loc = &index.locs[(at - index.first) as usize];
                    match spans.last_mut() {
                        Some(span)
                            if span.segment == loc.segment
                                && span.offset + span.len == loc.offset =>
                        {
                            span.len += u64::from(loc.len);
                            span.log_ids.push(loc.log_id);
                        }
                        _ => spans.push(Span {
                            segment: loc.segment,
                            offset: loc.offset,
                            len: u64::from(loc.len),
                            first: at,
                            log_ids: vec![loc.log_id],
                        }),
                    }
                }
                let cached: Vec<Entry> = (disk_end..stop)
                    .map(|at| index.cache[(at - cache_start) as usize].clone())
                    .collect();
                (spans, cached, index.generation)
            };
            let read = spans.iter().try_fold(Vec::new(), |mut entries, span| {
                self.read_span(span, &mut entries)?;
                Ok::<_, io::Error>(entries)
            });
            // A truncation or purge between planning and reading may have moved or removed
            // what was read: then read again.
            let moved = self.index.read().generation != generation;
            match read {
                Ok(mut entries) if !moved || spans.is_empty() => {
                    entries.extend(cached);
                    return Ok(entries);
                }
                Err(error) if !moved || attempt >= READ_ATTEMPTS => return Err(error),
                Ok(_) if attempt >= READ_ATTEMPTS => {
                    return Err(io::Error::other(
                        "raft log: reads keep racing with truncations",
                    ));
                }
                _ => {}
            }
        }
    }

    /// Reads a run of entries in one segment with one positioned read.
    fn read_span(&self, span: &Span, out: &mut Vec<Entry>) -> io::Result<()> {
        let path = self.segment_path(span.segment);
        let invalid = |offset: u64, problem: String| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("raft log {} at byte {offset}: {problem}", path.display()),
            )
        };
        let len = usize::try_from(span.len).map_err(|_| invalid(span.offset, "too long".into()))?;
        let bytes = self.fs.read_at(&path, span.offset, len)?;
        if bytes.len() != len {
            return Err(invalid(
                span.offset,
                format!("{} bytes where the index has {len}", bytes.len()),
            ));
        }
        let mut at = 0;
        for (n, log_id) in span.log_ids.iter().enumerate() {
            let offset = span.offset + at as u64;
            let frame =
                format::decode_frame(&bytes[at..]).map_err(|e| invalid(offset, e.to_string()))?;
            let expected = span.first + n as u64;
            if frame.kind != KIND_ENTRY || frame.index != expected {
                return Err(invalid(
                    offset,
                    format!(
                        "expected entry {expected}, found a record of kind {} index {}",
                        frame.kind, frame.index
                    ),
                ));
            }
            let entry: Entry = postcard::from_bytes(frame.payload)
                .map_err(|e| invalid(offset, format!("entry {expected} does not decode: {e}")))?;
            if entry.log_id() != *log_id {
                return Err(invalid(
                    offset,
                    format!("entry {} is not the one indexed ({log_id})", entry.log_id()),
                ));
            }
            out.push(entry);
            at += frame.len;
        }
        Ok(())
    }
}

/// A run of entries stored back to back in one segment.
struct Span {
    segment: u64,
    offset: u64,
    len: u64,
    first: u64,
    log_ids: Vec<LogId>,
}

impl Index {
    fn new(cache_limit: usize) -> Self {
        Index {
            vote: None,
            purged: None,
            first: 0,
            locs: VecDeque::new(),
            cache: VecDeque::new(),
            cache_bytes: 0,
            cache_limit,
            generation: 0,
        }
    }

    fn next_index(&self) -> u64 {
        self.first + self.locs.len() as u64
    }

    fn loc(&self, at: u64) -> Option<&Loc> {
        let offset = usize::try_from(at.checked_sub(self.first)?).ok()?;
        self.locs.get(offset)
    }

    fn last_log_id(&self) -> Option<LogId> {
        self.locs.back().map(|loc| loc.log_id).or(self.purged)
    }

    /// Adds the entry after the last one, caching it and dropping the oldest cached ones past
    /// the limit.
    fn push(&mut self, loc: Loc, entry: Entry) {
        self.cache_bytes += loc.len as usize;
        self.locs.push_back(loc);
        self.cache.push_back(entry);
        while self.cache_bytes > self.cache_limit {
            let Some(evicted) = self.cache.pop_front() else {
                break;
            };
            let len = self.loc(evicted.index()).map_or(0, |loc| loc.len as usize);
            self.cache_bytes = self.cache_bytes.saturating_sub(len);
        }
    }

    /// Forgets the entries from `from` on.
    fn truncate(&mut self, from: u64) {
        while self.next_index() > from {
            let Some(loc) = self.locs.pop_back() else {
                break;
            };
            if self.cache.pop_back().is_some() {
                self.cache_bytes = self.cache_bytes.saturating_sub(loc.len as usize);
            }
        }
        self.generation += 1;
    }

    /// Forgets the entries up to `purged`'s index.
    fn purge(&mut self, purged: LogId) {
        let keep_from = purged.index() + 1;
        while self.first < keep_from {
            let cached_from = self.next_index() - self.cache.len() as u64;
            match self.locs.pop_front() {
                Some(loc) => {
                    if self.first >= cached_from && self.cache.pop_front().is_some() {
                        self.cache_bytes = self.cache_bytes.saturating_sub(loc.len as usize);
                    }
                    self.first += 1;
                }
                None => self.first = keep_from,
            }
        }
        self.purged = Some(purged);
        self.generation += 1;
    }
}

impl RaftLogReader<TypeConfig> for LogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        self.shared.read_range(&range, usize::MAX)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        Ok(self.shared.index.read().vote)
    }

    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, io::Error> {
        self.shared.read_range(&(start..end), READ_LIMIT_BYTES)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let index = self.shared.index.read();
        Ok(LogState {
            last_purged_log_id: index.purged,
            last_log_id: index.last_log_id(),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.reader()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        self.state.value.vote = Some(*vote);
        // Always flushed, whatever the policy: a vote forgotten in a crash lets this node
        // vote twice in one term.
        self.save_state(true)?;
        // Readers see the vote only once it is durable.
        self.shared.index.write().vote = Some(*vote);
        Ok(())
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        if self.state.value.committed == committed {
            return Ok(());
        }
        self.state.value.committed = committed;
        self.save_state(self.config.fsync == FsyncPolicy::Always)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        let committed = self.state.value.committed;
        let last = self.shared.index.read().last_log_id();
        // Under `everysec` or `no` a power failure may keep the committed id and lose the
        // entries it covers; every entry this log still has up to that index was committed,
        // so the last one stands in for it.
        Ok(match (committed, last) {
            (Some(committed), Some(last)) if committed.index() > last.index() => Some(last),
            (Some(_), None) => None,
            (committed, _) => committed,
        })
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        match self.append_entries(entries.into_iter().collect()) {
            Ok(()) => {
                // Written (and under `always` flushed): the callback may fire.
                callback.io_completed(Ok(()));
                Ok(())
            }
            Err(error) => {
                callback.io_completed(Err(io::Error::new(error.kind(), error.to_string())));
                Err(error)
            }
        }
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        self.check_failure()?;
        self.truncate_from(last_log_id.map_or(0, |log_id| log_id.index() + 1))
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        self.check_failure()?;
        if self
            .state
            .value
            .purged
            .is_some_and(|purged| purged >= log_id)
        {
            return Ok(());
        }
        // Durable first: recovery then deletes whatever segments a crash left behind.
        self.state.value.purged = Some(log_id);
        self.save_state(true)?;
        self.shared.index.write().purge(log_id);
        self.remove_purged_segments()
    }
}
