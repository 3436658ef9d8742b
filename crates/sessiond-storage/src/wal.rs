//! The write-ahead log's front: the [`Journal`] the engine records its effects into.
//!
//! [`WalJournal::record`] runs under the engine's shard lock, so it does no I/O: it encodes the
//! effect into an in-memory buffer under a short mutex and gives it the next lsn. The writer
//! thread ([`crate::writer`]) drains the buffer into the current segment and publishes how far
//! it got through two watch channels: `written_lsn` (in the kernel) and `durable_lsn` (on
//! stable storage). A connection that needs its writes durable before it answers (`always`)
//! asks [`take_thread_lsn`] for the last lsn its thread recorded and awaits
//! [`WalJournal::wait_durable`] on it.

use std::cell::Cell;
use std::fmt;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};
use sessiond_engine::{Effect, Journal};
use tokio::sync::{Notify, watch};

use crate::config::FsyncPolicy;
use crate::error::StorageError;
use crate::record;

thread_local! {
    /// The highest lsn this thread recorded since it last asked.
    static THREAD_LSN: Cell<u64> = const { Cell::new(0) };
}

/// The highest lsn recorded on this thread since the last call (0 if none), and forgets it.
///
/// The server's connection loop runs the engine synchronously on its own thread, so after a
/// batch of commands this is the lsn the batch's replies must wait for.
pub fn take_thread_lsn() -> u64 {
    THREAD_LSN.with(|lsn| lsn.replace(0))
}

/// The engine's journal: a buffer of encoded records in front of the log writer thread.
pub struct WalJournal {
    buffer: Mutex<Buffer>,
    /// Wakes the writer when records arrive or it is told to stop.
    work: Condvar,
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

/// What the writer got from [`WalJournal::take`].
#[derive(Debug)]
pub(crate) struct Taken {
    /// The records that arrived, if any.
    pub batch: Option<Batch>,
    /// Whether the writer must finish: nothing more will arrive.
    pub stop: bool,
}

impl WalJournal {
    /// A journal whose next record gets `next_lsn`; everything before it is durable.
    pub(crate) fn new(next_lsn: u64, policy: FsyncPolicy, max_buffered: usize) -> Self {
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
            }),
            work: Condvar::new(),
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

    /// Waits for records (or for `deadline`, or a stop), and takes what arrived. While
    /// `hold` is set (the writer is backing off after an error) arriving records do not end
    /// the wait: they are taken when the deadline comes.
    pub(crate) fn take(&self, deadline: Option<Instant>, hold: bool) -> Taken {
        let mut buffer = self.buffer.lock();
        loop {
            if buffer.stop || (!buffer.bytes.is_empty() && !hold) {
                break;
            }
            match deadline {
                Some(deadline) => {
                    if Instant::now() >= deadline {
                        break;
                    }
                    self.work.wait_until(&mut buffer, deadline);
                }
                None => self.work.wait(&mut buffer),
            }
        }
        let stop = buffer.stop;
        if stop {
            // The last batch: whatever arrives after it cannot be written.
            buffer.closed = true;
        }
        let batch = (!buffer.bytes.is_empty()).then(|| {
            let spare = buffer.spare.pop().unwrap_or_default();
            buffer.spare_bytes -= spare.capacity();
            Batch {
                first: buffer.first_lsn,
                last: buffer.next_lsn - 1,
                bytes: std::mem::replace(&mut buffer.bytes, spare),
            }
        });
        buffer.first_lsn = buffer.next_lsn;
        Taken { batch, stop }
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
    fn record(&self, effect: &Effect<'_>) {
        let mut buffer = self.buffer.lock();
        let lsn = buffer.next_lsn;
        buffer.next_lsn += 1;
        THREAD_LSN.with(|last| last.set(last.get().max(lsn)));
        if buffer.closed {
            // A command that got past the engine's `accepting` check just before shutdown.
            // It still gets an lsn, so a wait for it fails instead of passing unlogged.
            buffer.dropped += 1;
            return;
        }
        let before = buffer.bytes.len();
        record::encode(lsn, effect, &mut buffer.bytes);
        // Counted before the writer can take the record, so its release never comes first.
        self.buffered
            .fetch_add(buffer.bytes.len() - before, Ordering::AcqRel);
        drop(buffer);
        self.work.notify_one();
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
