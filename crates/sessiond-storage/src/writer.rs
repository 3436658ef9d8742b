//! Writing the log: the writer thread that flushes segments as the fsync policy says, switches
//! them and recovers from errors, and the writes connections make themselves under `everysec`
//! and `no` ([`write_through`]).
//!
//! Every record that is not yet durable (under `no`: not yet written) stays in memory, in the
//! held list of [`Log`], until it is, so an error loses nothing the process still holds. On a
//! write or fsync error the writer stops accepting writes, backs off (100 ms doubling to 1 s)
//! and retries by writing every held record again into a *fresh* segment named for the first
//! of them: after a failed fsync the kernel may have dropped the file's dirty pages, so that
//! file's tail is never trusted again (the new segment supersedes it, see [`crate::segment`]).
//! When a retry gets everything written (and, unless the policy is `no`, durable), writes are
//! accepted again.
//!
//! Who writes: under `always` only the writer thread, which takes everything that arrived
//! while it flushed and flushes it with one fsync (group commit). Under `everysec` and `no` a
//! connection writes its own records (and everything recorded before them) before it
//! answers, under the [`Log`] lock; the writer thread writes only records nobody wrote soon
//! enough, and flushes through a second handle on the segment *without* that lock, so writes
//! go on during an fsync. A connection never opens a segment, flushes or retries: after any
//! error it hands the log to the writer thread and waits for it, as it does while the writer
//! switches segments (the old one flushed before the new one gets a record, so a later segment
//! never follows one whose end a power failure could take).
//!
//! Segments are preallocated to the segment size when they are created (a sparse extension:
//! records overwrite zeros instead of extending the file), and the writer thread keeps the
//! pages just ahead of the writes in the page cache (`Writer::warm_ahead`), so a connection's
//! `write` copies into pages that exist instead of allocating and zeroing them while its
//! client waits. A clean stop trims the unused end; after a crash recovery does (how zeros
//! after the last record are told from a torn tail: [`crate::segment`]).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::config::{FsyncPolicy, StorageConfig};
use crate::error::StorageError;
use crate::fs::{Fs, FsFile};
use crate::layout::{self, segment_name};
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
/// How far ahead of the current segment's end the writer keeps pages in the page cache. It
/// must outlast the writer's longest absence (an fsync under `everysec`, tens of
/// milliseconds, sometimes a few hundred): 16 MiB is about 200 ms of the 4 KiB session mix at
/// full speed on the machine measured. Past it, writes allocate their own pages, as without it.
const WARM_AHEAD: u64 = 16 << 20;
/// The least the writer warms at a time, so a busy log costs one call per megabyte, not one
/// per wake-up.
const WARM_STEP: u64 = 1 << 20;

/// The log's shared state, under [`WalJournal::log`].
#[derive(Debug)]
pub(crate) struct Log {
    /// The segment being written; `None` after an error (until a retry opens a fresh one) and
    /// while the writer switches segments.
    segment: Option<Segment>,
    /// Counts the segments opened, so a flush that ran without the lock can tell whether the
    /// segment it flushed is still the one being written.
    generation: u64,
    /// Records not yet durable (under `no`: not yet written), oldest first.
    held: VecDeque<Batch>,
    /// How many of `held`'s first batches are written into the current segment.
    held_written: usize,
    written_lsn: u64,
    /// A connection's write failed: the writer thread takes it over.
    error: Option<StorageError>,
    /// A connection already kicked the writer thread about the current state (a full segment,
    /// a flush due early): it need not do it again for every batch.
    kicked: bool,
}

impl Log {
    pub(crate) fn new(written_lsn: u64) -> Self {
        Log {
            segment: None,
            generation: 0,
            held: VecDeque::new(),
            held_written: 0,
            written_lsn,
            error: None,
            kicked: false,
        }
    }

    /// Writes every held record not yet in the current segment. On an error part of them may
    /// be written; `written_lsn` says how far it got.
    fn write_pending(&mut self) -> Result<(), StorageError> {
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
            self.written_lsn = self.written_lsn.max(batch.last);
            self.held_written += 1;
        }
        Ok(())
    }

    fn full(&self, segment_size: u64) -> bool {
        self.segment
            .as_ref()
            .is_some_and(|segment| segment.len >= segment_size)
    }

    /// Lets go of the held batches that are written into the current segment up to `lsn`.
    fn release_through(&mut self, journal: &WalJournal, lsn: u64) {
        while self.held_written > 0 {
            match self.held.front() {
                Some(batch) if batch.last <= lsn => {}
                _ => break,
            }
            if let Some(batch) = self.held.pop_front() {
                journal.release(batch.bytes.len());
                journal.recycle(batch.bytes);
            }
            self.held_written -= 1;
        }
    }

    /// Gives up the current segment: whatever it got since its last good flush is not
    /// trusted, so every held record goes again into a fresh one.
    fn abandon_segment(&mut self) {
        self.segment = None;
        self.held_written = 0;
    }
}

#[derive(Debug)]
struct Segment {
    file: Box<dyn FsFile>,
    /// A second handle on `file` to flush it through while others write (`None` when the
    /// file system gives none: then flushes hold the lock).
    syncer: Option<Box<dyn FsFile>>,
    path: PathBuf,
    /// Where the records written into it end (the file is preallocated beyond).
    len: u64,
}

/// [`WalJournal::write_through`].
pub(crate) fn write_through(journal: &WalJournal, lsn: u64) -> bool {
    if journal.written_lsn() >= lsn {
        return true;
    }
    if !journal.inline_open.load(Ordering::Acquire) {
        return false;
    }
    let mut log = journal.log.lock();
    if log.written_lsn >= lsn {
        // Written by another thread, which may not have published it yet.
        let written = log.written_lsn;
        drop(log);
        journal.publish_written(written);
        return true;
    }
    // A segment goes on past its size until the writer thread switches it, but not without
    // bound: recovery reads a segment whole.
    let overgrown = log
        .segment
        .as_ref()
        .is_none_or(|segment| segment.len >= journal.segment_size().saturating_mul(2));
    if overgrown || !journal.inline_open.load(Ordering::Acquire) {
        return false;
    }
    if let Some(batch) = journal.take_pending() {
        log.held.push_back(batch);
    }
    let result = log.write_pending();
    let written = log.written_lsn;
    let mut kick = false;
    match result {
        Ok(()) => {
            if journal.policy() == FsyncPolicy::No {
                log.release_through(journal, written);
            }
            let flush_early =
                journal.policy() == FsyncPolicy::EverySec && journal.over_half_water();
            if (log.full(journal.segment_size()) || flush_early) && !log.kicked {
                log.kicked = true;
                kick = true;
            }
        }
        Err(error) => {
            // The writer thread's recovery takes over: backoff, a fresh segment, the held
            // records written again. Until then nobody else writes.
            journal.inline_open.store(false, Ordering::Release);
            journal.set_accepting(false);
            log.abandon_segment();
            log.error = Some(error);
            kick = true;
        }
    }
    drop(log);
    journal.publish_written(written);
    if kick {
        journal.kick();
    }
    written >= lsn
}

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
        durable_lsn: next_lsn.saturating_sub(1),
        last_sync: Instant::now(),
        failure: None,
        warmer: None,
    };
    let segment = writer.create_segment(next_lsn)?;
    let journal = Arc::clone(&writer.journal);
    writer.install(&mut journal.log.lock(), segment);
    writer.open_inline(true);
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
    durable_lsn: u64,
    last_sync: Instant,
    failure: Option<Failure>,
    /// A handle on the current segment for warming the pages ahead of its end.
    warmer: Option<Warmer>,
}

/// Where the writer has warmed the current segment to (see [`Writer::warm_ahead`]).
struct Warmer {
    file: Box<dyn FsFile>,
    /// The [`Log::generation`] of the segment it belongs to.
    generation: u64,
    /// The offset up to which pages were asked for.
    to: u64,
    /// The preallocated end: beyond it there is nothing to warm.
    end: u64,
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
            let retry_at = self.failure.as_ref().map(|failure| failure.retry_at);
            let flush = (self.policy == FsyncPolicy::EverySec)
                .then_some((self.last_sync + SYNC_INTERVAL, self.durable_lsn));
            let stop = self.journal.wait_for_work(retry_at, flush);
            if stop {
                return self.finish();
            }
            if self
                .failure
                .as_ref()
                .is_some_and(|f| Instant::now() < f.retry_at)
            {
                continue;
            }
            let result = self.round();
            self.settle(result);
            self.warm_ahead();
        }
    }

    /// Takes over a connection's failed write, writes what is waiting, and switches segments
    /// or flushes if it is time.
    fn round(&mut self) -> Result<(), StorageError> {
        let journal = Arc::clone(&self.journal);
        let full = {
            let mut log = journal.log.lock();
            log.kicked = false;
            if let Some(error) = log.error.take() {
                return Err(error);
            }
            self.write_held(&mut log)?;
            log.full(self.segment_size)
        };
        if full {
            // The switch writes what piled up meanwhile into the new segment: under `always`
            // its connections wait for the flush below, and no later record may come to
            // trigger one (every client can be among them).
            self.rotate()?;
        }
        match self.policy {
            FsyncPolicy::Always => self.sync(),
            FsyncPolicy::EverySec
                if self.last_sync.elapsed() >= SYNC_INTERVAL || journal.over_half_water() =>
            {
                self.sync()
            }
            FsyncPolicy::EverySec | FsyncPolicy::No => Ok(()),
        }
    }

    /// Takes what is waiting and writes every held record not yet in the current segment,
    /// opening a fresh segment first if an error closed the last one.
    fn write_held(&mut self, log: &mut Log) -> Result<(), StorageError> {
        if let Some(batch) = self.journal.take_pending() {
            log.held.push_back(batch);
        }
        if log.segment.is_none() {
            let first = log
                .held
                .front()
                .map_or(log.written_lsn + 1, |batch| batch.first);
            let segment = self.create_segment(first)?;
            self.install(log, segment);
        }
        let result = log.write_pending();
        self.journal.publish_written(log.written_lsn);
        result?;
        if self.policy == FsyncPolicy::No {
            let written = log.written_lsn;
            log.release_through(&self.journal, written);
        }
        Ok(())
    }

    /// Flushes the current segment: everything written into it becomes durable. Writes go on
    /// meanwhile (through the segment's other handle); what they add waits for the next flush.
    fn sync(&mut self) -> Result<(), StorageError> {
        let journal = Arc::clone(&self.journal);
        let mut log = journal.log.lock();
        let target = log.written_lsn;
        if self.durable_lsn >= target {
            // Nothing written to flush yet (what was recorded is still being written): the
            // flush is due again a second from now, not at once over and over.
            self.last_sync = Instant::now();
            return Ok(());
        }
        let generation = log.generation;
        let Some(segment) = log.segment.as_mut() else {
            // Abandoned after an error: its records are written again into a fresh one.
            return Ok(());
        };
        let path = segment.path.clone();
        let synced = match segment.syncer.take() {
            Some(mut syncer) => {
                drop(log);
                let synced = syncer.sync_data();
                log = journal.log.lock();
                if log.generation == generation
                    && let Some(segment) = log.segment.as_mut()
                {
                    segment.syncer = Some(syncer);
                }
                synced
            }
            None => segment.file.sync_data(),
        };
        synced.map_err(|error| StorageError::io("fsync", &path, error))?;
        if log.generation != generation || log.segment.is_none() {
            // A connection's write failed meanwhile and gave the segment up: its held
            // records go again into a fresh one, flushed there.
            return Ok(());
        }
        log.release_through(&journal, target);
        drop(log);
        self.synced(target);
        Ok(())
    }

    /// Everything up to `lsn` is durable.
    fn synced(&mut self, lsn: u64) {
        self.last_sync = Instant::now();
        self.durable_lsn = self.durable_lsn.max(lsn);
        self.journal.publish_durable(self.durable_lsn);
    }

    /// Ends the current segment (flushed, whatever the policy, so a later segment never
    /// follows one whose end a power failure could take) and starts the next. Connections
    /// wait from the final flush until the next segment is in place; the bulk of the flush
    /// happens before, while they still write.
    fn rotate(&mut self) -> Result<(), StorageError> {
        self.sync()?;
        let journal = Arc::clone(&self.journal);
        let (old, last) = {
            let mut log = journal.log.lock();
            self.open_inline(false);
            // Taking it out stops every write until the next one is installed.
            (log.segment.take(), log.written_lsn)
        };
        let Some(mut old) = old else {
            // A connection's write failed and gave it up: the error is next.
            return Ok(());
        };
        if self.durable_lsn < last {
            if let Err(error) = old.file.sync_data() {
                journal.log.lock().abandon_segment();
                return Err(StorageError::io("fsync", &old.path, error));
            }
            journal.log.lock().release_through(&journal, last);
            self.synced(last);
        }
        drop(old);
        let next = self.create_segment(last + 1);
        let mut log = journal.log.lock();
        // Nothing was written since `last`, and everything up to it is released.
        self.install(&mut log, next?);
        // What piled up during the switch, at once: its connections wait for it.
        self.write_held(&mut log)?;
        drop(log);
        self.open_inline(true);
        Ok(())
    }

    /// Creates the segment whose first record is `first`, preallocated to the segment size,
    /// header and size flushed and its directory entry durable before any record goes in. It
    /// is a retired segment written over when there is one (see [`Writer::reuse_segment`]).
    fn create_segment(&self, first: u64) -> Result<Segment, StorageError> {
        let path = self.dir.join(segment_name(first));
        let file = match self.reuse_segment(&path, first) {
            Some(file) => file,
            None => self.new_segment(&path, first)?,
        };
        self.fs
            .sync_dir(&self.dir)
            .map_err(|error| StorageError::io("fsync", &self.dir, error))?;
        let syncer = file.try_clone().ok();
        Ok(Segment {
            file,
            syncer,
            path,
            len: segment::HEADER_LEN as u64,
        })
    }

    /// A new, empty file for the segment `path`.
    fn new_segment(&self, path: &Path, first: u64) -> Result<Box<dyn FsFile>, StorageError> {
        let mut file = self
            .fs
            .create(path)
            .map_err(|error| StorageError::io("create", path, error))?;
        file.write_all(&segment::header(first))
            .map_err(|error| StorageError::io("write", path, error))?;
        // Records then overwrite zeros instead of extending the file; recovery reads the
        // zeros after the last record as space never written (see `crate::segment`).
        if let Err(error) = file.preallocate(self.segment_size) {
            tracing::debug!(file = %path.display(), %error, "segment not preallocated");
        }
        file.sync_data()
            .map_err(|error| StorageError::io("fsync", path, error))?;
        Ok(file)
    }

    /// Makes a segment a snapshot retired (`recycled-<lsn>.wal`) the segment `path`: its new
    /// header written and flushed *before* it takes the name, so a crash never leaves a file
    /// under a segment's name with another segment's header. Records then overwrite the old
    /// ones, in pages the page cache still holds and blocks the file system already
    /// allocated; what is left of them after the last new record is never replayed (see
    /// `crate::segment`). `None` when there is none, or it fails (it is removed then, and
    /// the caller creates a new file: reuse is only ever a saving).
    fn reuse_segment(&self, path: &Path, first: u64) -> Option<Box<dyn FsFile>> {
        let listing = layout::list(&*self.fs, &self.dir).ok()?;
        let spare = listing.recycled.first()?;
        let reused = (|| {
            let mut file = self.fs.open_rewrite(&spare.path)?;
            file.write_all(&segment::header(first))?;
            // A segment trimmed at a clean stop is shorter: the rest reads as zeros.
            file.preallocate(self.segment_size)?;
            file.sync_data()?;
            self.fs.rename(&spare.path, path)?;
            Ok::<_, std::io::Error>(file)
        })();
        match reused {
            Ok(file) => Some(file),
            Err(error) => {
                tracing::debug!(file = %spare.path.display(), %error, "not reusing a retired log segment");
                if let Err(error) = self.fs.remove(&spare.path) {
                    tracing::debug!(file = %spare.path.display(), %error, "cannot remove a retired log segment");
                }
                None
            }
        }
    }

    /// Makes `segment` the one being written (nothing held is in it yet).
    fn install(&mut self, log: &mut Log, segment: Segment) {
        log.generation += 1;
        log.held_written = 0;
        self.warmer = segment.file.try_clone().ok().map(|file| Warmer {
            file,
            generation: log.generation,
            to: segment.len,
            end: self.segment_size,
        });
        log.segment = Some(segment);
    }

    /// Keeps the pages from the current segment's end to [`WARM_AHEAD`] past it in the page
    /// cache. A `write` into a page the file does not have in the page cache yet allocates
    /// and zeroes it inside the call, and under the 4 KiB session mix that made `write` a
    /// fifth of the serving thread's time (BENCHMARKS.md, durability); done here, ahead of
    /// time, the connections' writes find their pages ready and only copy. Best effort: where
    /// it cannot be done the writes allocate their pages, as they did before.
    fn warm_ahead(&mut self) {
        let Some(warmer) = self.warmer.as_mut() else {
            return;
        };
        let len = {
            let log = self.journal.log.lock();
            match &log.segment {
                Some(segment) if log.generation == warmer.generation => segment.len,
                _ => return,
            }
        };
        if len <= segment::HEADER_LEN as u64 {
            // Nothing written yet, perhaps nothing ever will be (a server started and
            // stopped): no pages until there are writes to need them.
            return;
        }
        let goal = len.saturating_add(WARM_AHEAD).min(warmer.end);
        if goal < warmer.to.saturating_add(WARM_STEP) {
            return;
        }
        let from = warmer.to.max(len);
        match warmer.file.warm(from, goal - from) {
            Ok(()) => warmer.to = goal,
            Err(error) => {
                tracing::debug!(%error, "cannot warm the log segment's pages; leaving it to the writes");
                self.warmer = None;
            }
        }
    }

    /// Lets connections write their own records again (if the policy has them do so, and
    /// nothing is wrong), or stops them.
    fn open_inline(&self, open: bool) {
        let open = open && self.policy != FsyncPolicy::Always && self.failure.is_none();
        self.journal.inline_open.store(open, Ordering::Release);
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
                    let log = self.journal.log.lock();
                    let open = log.segment.is_some() && log.error.is_none();
                    drop(log);
                    self.open_inline(open);
                }
            }
            Err(error) => {
                // Whatever this segment got since its last good flush is not trusted: the
                // held records go again into a fresh segment.
                self.journal.inline_open.store(false, Ordering::Release);
                self.journal.log.lock().abandon_segment();
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
        self.open_inline(false);
        let mut attempts = 0;
        loop {
            let journal = Arc::clone(&self.journal);
            let mut log = journal.log.lock();
            let written = match log.error.take() {
                Some(error) => Err(error),
                None => self.write_held(&mut log),
            };
            drop(log);
            // Under `no` this flushes too: a clean stop leaves everything on disk.
            let result = written.and_then(|()| self.sync());
            let failed = result.is_err();
            self.settle(result);
            if !failed {
                self.open_inline(false);
                self.trim();
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

    /// Cuts the preallocated space off the end of the segment being written, at a clean stop
    /// with everything in it durable, so the log is left without unused space. Not flushed:
    /// if the cut is lost, recovery trims the zeros itself. Best effort for the same reason.
    fn trim(&mut self) {
        let mut log = self.journal.log.lock();
        let Some(segment) = log.segment.as_mut() else {
            return;
        };
        if let Err(error) = segment.file.set_len(segment.len) {
            tracing::warn!(
                file = %segment.path.display(),
                %error,
                "could not trim the unused end of the log segment; the next start will"
            );
        }
    }

    /// Closes the journal with records still unwritten, and says how many.
    fn give_up(self) -> StorageError {
        self.journal.close();
        let (records, first_lsn) = {
            let log = self.journal.log.lock();
            let records = log
                .held
                .iter()
                .map(|batch| batch.last - batch.first + 1)
                .sum();
            (records, log.held.front().map_or(0, |batch| batch.first))
        };
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
