//! The write-ahead log's front: the [`Journal`] the engine records its effects into.
//!
//! [`WalJournal::record`] runs under the engine's shard lock, so it does no I/O: it encodes the
//! effect into an in-memory buffer under a short mutex and gives it the next lsn. Records get
//! into the current segment two ways. Under `everysec` and `no` the connection that made them
//! writes them itself before it answers ([`WalJournal::write_through`], as Redis writes its
//! append-only file from its event loop): a handoff to another thread and back costs more than
//! the write. The writer thread ([`crate::writer`]) writes whatever nobody else did (records
//! of the expiry sweep, say) and everything under `always`, flushes, switches segments and
//! recovers from errors. Progress is published through two watch channels: `written_lsn` (in
//! the kernel) and `durable_lsn` (on stable storage). A connection asks [`take_thread_lsn`]
//! for the last lsn its thread recorded and, before it answers, writes or awaits
//! [`WalJournal::wait_written`] (`everysec`, `no`) or awaits [`WalJournal::wait_durable`]
//! (`always`) on it.

use std::cell::Cell;
use std::fmt;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use sessiond_engine::{Effect, Journal, JournalMark};
use tokio::sync::{Notify, watch};

use crate::config::FsyncPolicy;
use crate::error::StorageError;
use crate::record;
use crate::writer::{self, Log};

/// Under `everysec` and `no`, how long the writer thread leaves records to the connections
/// that made them before it writes them itself: records no connection waits for (the expiry
/// sweep's, the renewals of reads) get written within this, without the writer being woken
/// for every batch of records a connection is about to write anyway.
const STRAGGLER_DELAY: Duration = Duration::from_millis(10);

thread_local! {
    /// The highest lsn this thread recorded since it last asked.
    static THREAD_LSN: Cell<u64> = const { Cell::new(0) };
}

/// The highest lsn recorded on this thread since the last call, or newest in a shard its
/// commands read (0 if none), and forgets it.
///
/// The server's connection loop runs the engine synchronously on its own thread, so after a
/// batch of commands this is the lsn the batch's replies must wait for.
pub fn take_thread_lsn() -> u64 {
    THREAD_LSN.with(|lsn| lsn.replace(0))
}

/// Makes this thread's replies wait for `lsn` too.
fn wait_also_for(lsn: u64) {
    THREAD_LSN.with(|last| last.set(last.get().max(lsn)));
}

/// The engine's journal: a buffer of encoded records in front of the log writer thread.
pub struct WalJournal {
    buffer: Mutex<Buffer>,
    /// Wakes the writer when records arrive (see [`Buffer::wake_on_record`]), when a
    /// connection's write needs it ([`Buffer::kick`]), or when it is told to stop.
    work: Condvar,
    /// The segment being written and the records held until durable; shared by the writer
    /// thread and connections writing their own records. Taken before `buffer`, never after.
    pub(crate) log: Mutex<Log>,
    /// Whether connections may write their records themselves: the policy is not `always`
    /// and the writer thread is not recovering from an error, switching segments or stopping.
    /// Read without the lock so a connection that must not write does not wait for it.
    pub(crate) inline_open: AtomicBool,
    segment_size: u64,
    accepting: AtomicBool,
    closed: AtomicBool,
    /// Bytes of records not yet released by the writer (durable, or written under `no`).
    buffered: AtomicUsize,
    max_buffered: usize,
    drained: Notify,
    written: watch::Sender<u64>,
    durable: watch::Sender<u64>,
    policy: FsyncPolicy,
}

/// Records waiting for the writer.
#[derive(Debug)]
struct Buffer {
    next_lsn: u64,
    /// Encoded records, `first_lsn` on.
    bytes: Vec<u8>,
    first_lsn: u64,
    /// Emptied vectors the writer handed back, so a busy log does not reallocate.
    spare: Vec<Vec<u8>>,
    /// The capacity held in `spare`.
    spare_bytes: usize,
    stop: bool,
    /// Set when the writer took its last batch: later records cannot be written.
    closed: bool,
    dropped: u64,
    /// The writer thread waits for records (under `everysec` and `no`, where a record does not
    /// wake it otherwise): the next one wakes it and clears this.
    wake_on_record: bool,
    /// A connection's write needs the writer thread: an error to recover from, a full segment
    /// to switch, a flush to bring forward.
    kick: bool,
}

/// A run of consecutive records taken from the buffer by the writer.
#[derive(Debug)]
pub(crate) struct Batch {
    /// The first record's lsn.
    pub first: u64,
    /// The last record's lsn.
    pub last: u64,
    /// The records.
    pub bytes: Vec<u8>,
}

impl WalJournal {
    /// A journal whose next record gets `next_lsn`; everything before it is durable.
    pub(crate) fn new(
        next_lsn: u64,
        policy: FsyncPolicy,
        max_buffered: usize,
        segment_size: u64,
    ) -> Self {
        let done = next_lsn.saturating_sub(1);
        WalJournal {
            buffer: Mutex::new(Buffer {
                next_lsn,
                bytes: Vec::new(),
                first_lsn: next_lsn,
                spare: Vec::new(),
                spare_bytes: 0,
                stop: false,
                closed: false,
                dropped: 0,
                wake_on_record: false,
                kick: false,
            }),
            work: Condvar::new(),
            log: Mutex::new(Log::new(done)),
            inline_open: AtomicBool::new(false),
            segment_size,
            accepting: AtomicBool::new(true),
            closed: AtomicBool::new(false),
            buffered: AtomicUsize::new(0),
            max_buffered,
            drained: Notify::new(),
            written: watch::Sender::new(done),
            durable: watch::Sender::new(done),
            policy,
        }
    }

    /// The lsn the next record gets: every record below it has been recorded.
    pub fn next_lsn(&self) -> u64 {
        self.buffer.lock().next_lsn
    }

    /// Makes this thread's next [`take_thread_lsn`] cover every record made so far, on any
    /// thread. For a connection that passes on what other connections' writes caused (a
    /// Redis subscriber's keyspace events): a message must not reach its client before the
    /// write behind it would survive a crash, as the write's own reply may not.
    pub fn cover_recorded(&self) {
        wait_also_for(self.next_lsn().saturating_sub(1));
    }

    /// The highest lsn handed to the kernel.
    pub fn written_lsn(&self) -> u64 {
        *self.written.borrow()
    }

    /// The highest lsn on stable storage.
    pub fn durable_lsn(&self) -> u64 {
        *self.durable.borrow()
    }

    /// Follows [`WalJournal::written_lsn`].
    pub fn subscribe_written(&self) -> watch::Receiver<u64> {
        self.written.subscribe()
    }

    /// Follows [`WalJournal::durable_lsn`].
    pub fn subscribe_durable(&self) -> watch::Receiver<u64> {
        self.durable.subscribe()
    }

    /// The fsync policy the writer follows.
    pub fn policy(&self) -> FsyncPolicy {
        self.policy
    }

    /// The size at which segments are switched.
    pub(crate) fn segment_size(&self) -> u64 {
        self.segment_size
    }

    /// Whether the configured high-water mark is half reached: time to flush early (under
    /// `everysec`), before writers have to wait.
    pub(crate) fn over_half_water(&self) -> bool {
        self.buffered_bytes() > self.max_buffered / 2
    }

    /// Under `everysec` and `no`: writes every record up to `lsn` to the kernel from the
    /// calling thread, with whatever else is waiting (one write for all of it), unless
    /// another thread already did. True when `lsn` is written; false when this thread may not
    /// write now (the policy is `always`, or the writer thread is switching segments,
    /// recovering from an error or stopping): then [`WalJournal::wait_written`] waits for the
    /// writer thread. Blocks for the length of a `write`, never for an fsync.
    pub fn write_through(&self, lsn: u64) -> bool {
        writer::write_through(self, lsn)
    }

    /// Waits until every record up to `lsn` is on stable storage. Fails if the journal shut
    /// down without making it so.
    pub async fn wait_durable(&self, lsn: u64) -> Result<(), StorageError> {
        self.wait_for(&self.durable, lsn).await
    }

    /// Waits until every record up to `lsn` is handed to the kernel (so it survives a crash
    /// of the process, not of the machine). Fails if the journal shut down first.
    pub async fn wait_written(&self, lsn: u64) -> Result<(), StorageError> {
        self.wait_for(&self.written, lsn).await
    }

    /// How many bytes of records are held in memory: not yet durable (not yet written, under
    /// `no`).
    pub fn buffered_bytes(&self) -> usize {
        self.buffered.load(Ordering::Acquire)
    }

    /// Whether more records are held than the configured high-water mark: writers should
    /// wait ([`WalJournal::wait_drained`]) before taking more writes. Records are never
    /// dropped for it.
    pub fn over_high_water(&self) -> bool {
        self.buffered_bytes() > self.max_buffered
    }

    /// Waits until the held records are back under the high-water mark (or the journal shut
    /// down).
    pub async fn wait_drained(&self) {
        loop {
            let mut drained = pin!(self.drained.notified());
            drained.as_mut().enable();
            if !self.over_high_water() || self.closed.load(Ordering::Acquire) {
                return;
            }
            drained.await;
        }
    }

    /// Whether the journal shut down.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    async fn wait_for(&self, progress: &watch::Sender<u64>, lsn: u64) -> Result<(), StorageError> {
        if *progress.borrow() >= lsn {
            return Ok(());
        }
        let mut progress = progress.subscribe();
        let closed = &self.closed;
        let reached = progress
            .wait_for(|&done| done >= lsn || closed.load(Ordering::Acquire))
            .await
            .map(|done| *done >= lsn);
        match reached {
            Ok(true) => Ok(()),
            _ => Err(StorageError::Closed),
        }
    }

    /// Waits until the writer thread has something to do: records (under `everysec` and `no`,
    /// ones no connection wrote within [`STRAGGLER_DELAY`]), a kick, a stop, `retry_at`, or a
    /// flush: `flush` is `(when, durable)`, a flush due at `when` if anything after lsn
    /// `durable` was recorded. That is decided here, under the buffer's lock, because under
    /// `everysec` a connection may record and write a record between the writer's last look
    /// and its sleep without waking it. While `retry_at` is set (the writer is backing off
    /// after an error) arriving records do not end the wait: they are taken when it comes.
    /// True when told to stop.
    pub(crate) fn wait_for_work(
        &self,
        retry_at: Option<Instant>,
        flush: Option<(Instant, u64)>,
    ) -> bool {
        let hold = retry_at.is_some();
        let inline = self.policy != FsyncPolicy::Always;
        let mut buffer = self.buffer.lock();
        let mut stragglers: Option<Instant> = None;
        loop {
            if buffer.stop {
                return true;
            }
            if std::mem::take(&mut buffer.kick) {
                return false;
            }
            let recorded = buffer.next_lsn - 1;
            let deadline = retry_at.or_else(|| {
                flush
                    .filter(|&(_, durable)| recorded > durable)
                    .map(|(when, _)| when)
            });
            let now = Instant::now();
            if deadline.is_some_and(|deadline| now >= deadline) {
                return false;
            }
            let mut until = deadline;
            if !buffer.bytes.is_empty() && !hold && !inline {
                return false;
            }
            if let Some(due) = stragglers {
                // Records arrived: look again when they are due, whether or not their
                // connections wrote them meanwhile (waking for each record would cost what
                // the connections' own writes save). The writer also learns then that there
                // is something to flush.
                if now >= due {
                    return false;
                }
                until = Some(until.map_or(due, |deadline| deadline.min(due)));
            }
            if stragglers.is_none() {
                if !buffer.bytes.is_empty() && !hold {
                    let due = now + STRAGGLER_DELAY;
                    stragglers = Some(due);
                    until = Some(until.map_or(due, |deadline| deadline.min(due)));
                }
                buffer.wake_on_record = stragglers.is_none() && inline && !hold;
            }
            let armed = buffer.wake_on_record;
            match until {
                Some(until) => {
                    self.work.wait_until(&mut buffer, until);
                }
                None => self.work.wait(&mut buffer),
            }
            if armed && !buffer.wake_on_record {
                // A record woke us. Its connection has likely written it by now (the buffer
                // may look empty): look again when it is due, not at every record.
                stragglers = Some(Instant::now() + STRAGGLER_DELAY);
            }
        }
    }

    /// Takes every record waiting in the buffer. Called with [`WalJournal::log`] held, so
    /// batches reach the held list (and the segment) in lsn order whoever takes them. After a
    /// stop was requested, later records cannot be written.
    pub(crate) fn take_pending(&self) -> Option<Batch> {
        let mut buffer = self.buffer.lock();
        if buffer.stop {
            buffer.closed = true;
        }
        if buffer.bytes.is_empty() {
            return None;
        }
        let spare = buffer.spare.pop().unwrap_or_default();
        buffer.spare_bytes -= spare.capacity();
        let batch = Batch {
            first: buffer.first_lsn,
            last: buffer.next_lsn - 1,
            bytes: std::mem::replace(&mut buffer.bytes, spare),
        };
        buffer.first_lsn = buffer.next_lsn;
        Some(batch)
    }

    /// Asks the writer thread to look at the log now.
    pub(crate) fn kick(&self) {
        self.buffer.lock().kick = true;
        self.work.notify_one();
    }

    /// Hands an emptied batch vector back for reuse. Under `everysec` a second's batches are
    /// held until the fsync, so a pool of them (not one spare) is what keeps the log from
    /// allocating, and the kernel from zeroing fresh pages, for every batch.
    pub(crate) fn recycle(&self, mut bytes: Vec<u8>) {
        // Keeping a huge one after a burst would pin its memory; so would an unbounded pool.
        const KEEP: usize = 4 << 20;
        let capacity = bytes.capacity();
        if capacity == 0 || capacity > KEEP {
            return;
        }
        bytes.clear();
        let mut buffer = self.buffer.lock();
        if buffer.spare_bytes + capacity <= self.max_buffered {
            buffer.spare_bytes += capacity;
            buffer.spare.push(bytes);
        }
    }

    /// The writer let go of `bytes` bytes of records.
    pub(crate) fn release(&self, bytes: usize) {
        let before = self.buffered.fetch_sub(bytes, Ordering::AcqRel);
        if before > self.max_buffered && before - bytes <= self.max_buffered {
            self.drained.notify_waiters();
        }
    }

    pub(crate) fn publish_written(&self, lsn: u64) {
        self.written.send_if_modified(|written| {
            let advanced = lsn > *written;
            *written = (*written).max(lsn);
            advanced
        });
    }

    pub(crate) fn publish_durable(&self, lsn: u64) {
        self.durable.send_if_modified(|durable| {
            let advanced = lsn > *durable;
            *durable = (*durable).max(lsn);
            advanced
        });
    }

    pub(crate) fn set_accepting(&self, accepting: bool) {
        self.accepting.store(accepting, Ordering::Release);
    }

    /// Asks the writer to write everything and stop; writes are refused from now on.
    pub(crate) fn request_stop(&self) {
        self.set_accepting(false);
        self.buffer.lock().stop = true;
        self.work.notify_all();
    }

    /// The writer is gone: wake everyone waiting on it.
    pub(crate) fn close(&self) {
        self.set_accepting(false);
        self.closed.store(true, Ordering::Release);
        let dropped = self.buffer.lock().dropped;
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "changes made after the log writer stopped were not logged"
            );
        }
        self.durable.send_modify(|_| {});
        self.written.send_modify(|_| {});
        self.drained.notify_waiters();
    }
}

impl Journal for WalJournal {
    fn record(&self, effect: &Effect<'_>) -> JournalMark {
        let mut buffer = self.buffer.lock();
        let lsn = buffer.next_lsn;
        buffer.next_lsn += 1;
        wait_also_for(lsn);
        if buffer.closed {
            // A command that got past the engine's `accepting` check just before shutdown.
            // It still gets an lsn, so a wait for it fails instead of passing unlogged.
            buffer.dropped += 1;
            return JournalMark { epoch: 0, seq: lsn };
        }
        let before = buffer.bytes.len();
        record::encode(lsn, effect, &mut buffer.bytes);
        // Counted before the writer can take the record, so its release never comes first.
        self.buffered
            .fetch_add(buffer.bytes.len() - before, Ordering::AcqRel);
        // Under `always` the writer takes every record at once (a notify nobody waits for
        // costs no system call). Otherwise the connection writes its records itself, and a
        // futex wake per batch would cost more than the write: the writer is woken only when
        // it sleeps with nothing to do.
        let wake = self.policy == FsyncPolicy::Always || std::mem::take(&mut buffer.wake_on_record);
        drop(buffer);
        if wake {
            self.work.notify_one();
        }
        JournalMark { epoch: 0, seq: lsn }
    }

    /// A read waits for the newest record of each shard it read as a write waits for its
    /// own, so no reply shows a change that a crash could still undo (under `always`, one not
    /// yet on disk; otherwise one not yet handed to the kernel). A shard's record is usually
    /// there already, and then the wait costs an atomic load.
    fn saw(&self, mark: JournalMark) {
        if mark.seq != 0 {
            wait_also_for(mark.seq);
        }
    }

    fn accepting(&self) -> bool {
        self.accepting.load(Ordering::Acquire)
    }
}

impl fmt::Debug for WalJournal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WalJournal")
            .field("policy", &self.policy)
            .field("written_lsn", &self.written_lsn())
            .field("durable_lsn", &self.durable_lsn())
            .field("buffered_bytes", &self.buffered_bytes())
            .field("accepting", &self.accepting())
            .field("closed", &self.is_closed())
            .finish()
    }
}
