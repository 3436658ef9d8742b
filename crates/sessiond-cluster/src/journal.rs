//! The engine's journal on a cluster node: effects wait here to be proposed to the Raft
//! group, and replies wait here until the group has committed them.
//!
//! The leader runs client commands on its own engine, as a single node does, so every
//! protocol keeps its synchronous request path. What the engine reports ([`Journal::record`],
//! under the shard lock, no I/O) is encoded into a pending buffer with the next lsn; the
//! proposer takes everything pending as one [`EffectBatch`] (so concurrent clients share one
//! entry and one round of replication); the state machine publishes the highest lsn the
//! group has committed and applied; a connection holds its replies until that covers what it
//! did *and what it saw* (a read must not answer with a write that may yet be lost).
//!
//! Leadership comes and goes: [`ClusterJournal::open`] starts accepting commands in a new
//! epoch, [`ClusterJournal::close`] refuses them and fails every wait of the old epoch.

use std::cell::Cell;
use std::fmt;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;
use sessiond_engine::{Effect, Journal, JournalMark};
use sessiond_storage::record;
use tokio::sync::{Notify, watch};

use crate::types::EffectBatch;

thread_local! {
    /// The epoch and highest lsn this thread recorded, or saw in a shard it read, since it
    /// last asked.
    static THREAD_LSN: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// The epoch and highest lsn this thread's commands recorded or saw (the newest record of a
/// shard they read) since the last call (`(0, 0)` if none), and forgets them: what their
/// replies must wait for. Lsns restart after a leadership ends, so an lsn means nothing
/// without its epoch.
pub fn take_thread_lsn() -> (u64, u64) {
    THREAD_LSN.with(|lsn| lsn.replace((0, 0)))
}

/// How far the group has committed the journal's records, and in which epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Every record up to this lsn is committed and applied.
    pub committed: u64,
    /// Bumped whenever this node starts or stops leading: a wait that began in another
    /// epoch can no longer be satisfied by this node.
    pub epoch: u64,
    /// This node leads and accepts commands in `epoch`.
    pub leading: bool,
    /// The last leadership ended with changes the group never committed still in the
    /// engine, and the engine is not rebuilt yet: no snapshot may copy it.
    pub rebuilding: bool,
}

/// Why a wait for the group ended without the records committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("this node stopped leading before the change was committed")]
pub struct LeadershipLost;

/// The journal a cluster node attaches to its engine.
pub struct ClusterJournal {
    pending: Mutex<Pending>,
    accepting: AtomicBool,
    /// Bytes recorded but not yet committed: the proposer waits while this is too high.
    in_flight: AtomicUsize,
    max_in_flight: usize,
    /// Wakes the proposer when records arrive.
    arrived: Notify,
    /// `Pending::epoch`, readable without the lock (by [`Journal::saw`], on every command).
    epoch: AtomicU64,
    progress: watch::Sender<Progress>,
}

#[derive(Debug, Default)]
struct Pending {
    bytes: Vec<u8>,
    first_lsn: u64,
    next_lsn: u64,
    /// The epoch records are being accepted in.
    epoch: u64,
}

impl ClusterJournal {
    /// A journal that refuses commands until [`ClusterJournal::open`]; `max_in_flight`
    /// bounds the bytes recorded but not yet committed.
    pub fn new(max_in_flight: usize) -> Self {
        ClusterJournal {
            pending: Mutex::new(Pending {
                next_lsn: 1,
                first_lsn: 1,
                ..Pending::default()
            }),
            accepting: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            max_in_flight,
            arrived: Notify::new(),
            epoch: AtomicU64::new(0),
            progress: watch::Sender::new(Progress::default()),
        }
    }

    /// Starts accepting commands for a new leadership: records get lsns from
    /// `committed + 1` on (every earlier record is applied). Returns the new epoch.
    pub fn open(&self, committed: u64) -> u64 {
        let mut pending = self.pending.lock();
        pending.bytes.clear();
        pending.next_lsn = committed + 1;
        pending.first_lsn = committed + 1;
        pending.epoch += 1;
        let epoch = pending.epoch;
        self.epoch.store(epoch, Ordering::Release);
        self.in_flight.store(0, Ordering::Release);
        self.progress.send_modify(|progress| {
            progress.committed = committed;
            progress.epoch = epoch;
            progress.leading = true;
        });
        self.accepting.store(true, Ordering::Release);
        epoch
    }

    /// Stops accepting commands and fails every wait of the current epoch. True when the
    /// engine holds changes the group never committed (the caller must rebuild it).
    pub fn close(&self) -> bool {
        self.accepting.store(false, Ordering::Release);
        let mut pending = self.pending.lock();
        pending.bytes.clear();
        pending.first_lsn = pending.next_lsn;
        pending.epoch += 1;
        let epoch = pending.epoch;
        self.epoch.store(epoch, Ordering::Release);
        let recorded = pending.next_lsn - 1;
        drop(pending);
        let mut dirty = false;
        self.progress.send_modify(|progress| {
            dirty = recorded > progress.committed;
            progress.epoch = epoch;
            progress.rebuilding |= progress.leading && dirty;
            progress.leading = false;
        });
        self.arrived.notify_waiters();
        dirty
    }

    /// The engine no longer holds uncommitted changes (rebuilt after [`ClusterJournal::close`]
    /// said it did).
    pub fn rebuilt(&self) {
        self.progress
            .send_if_modified(|progress| std::mem::replace(&mut progress.rebuilding, false));
    }

    /// Waits until the engine holds no uncommitted changes of an ended leadership.
    pub async fn wait_rebuilt(&self) {
        let mut progress = self.progress.subscribe();
        // The sender lives as long as `self`.
        let _ = progress.wait_for(|progress| !progress.rebuilding).await;
    }

    /// Whether commands are accepted (this node leads and is ready).
    pub fn is_open(&self) -> bool {
        self.accepting.load(Ordering::Acquire)
    }

    /// The lsn of the last record (0 if none).
    pub fn last_recorded(&self) -> u64 {
        self.pending.lock().next_lsn - 1
    }

    /// The current progress.
    pub fn progress(&self) -> Progress {
        *self.progress.borrow()
    }

    /// The state machine committed and applied every record up to `lsn`, in a batch of
    /// `bytes` bytes.
    pub fn publish_committed(&self, lsn: u64, bytes: usize) {
        self.progress.send_if_modified(|progress| {
            let advanced = lsn > progress.committed;
            progress.committed = progress.committed.max(lsn);
            advanced
        });
        // A follower's batches were never recorded here: saturate instead of wrapping.
        let _ = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                Some(held.saturating_sub(bytes))
            });
    }

    /// Waits until every record up to `lsn` is committed. Fails when `epoch` ends first
    /// (leadership lost): the caller must not acknowledge what it did.
    pub async fn wait_committed(&self, lsn: u64, epoch: u64) -> Result<(), LeadershipLost> {
        let mut progress = self.progress.subscribe();
        let reached = progress
            .wait_for(|progress| progress.committed >= lsn || progress.epoch != epoch)
            .await
            .map(|progress| progress.committed >= lsn);
        match reached {
            Ok(true) => Ok(()),
            _ => Err(LeadershipLost),
        }
    }

    /// Waits until records of `epoch` are pending, then takes them all as one batch stamped
    /// with `now_ms`. `None` once `epoch` is over.
    pub async fn next_batch(&self, epoch: u64, now_ms: impl Fn() -> u64) -> Option<EffectBatch> {
        loop {
            let mut arrived = pin!(self.arrived.notified());
            arrived.as_mut().enable();
            match self.take(epoch, now_ms()) {
                Taken::Batch(batch) => return Some(batch),
                Taken::Over => return None,
                Taken::Nothing => arrived.await,
            }
        }
    }

    /// The current epoch (as recorded commands see it).
    pub fn epoch(&self) -> u64 {
        self.pending.lock().epoch
    }

    fn take(&self, epoch: u64, now_ms: u64) -> Taken {
        let mut pending = self.pending.lock();
        if pending.epoch != epoch {
            return Taken::Over;
        }
        if pending.bytes.is_empty() {
            return Taken::Nothing;
        }
        let records = std::mem::take(&mut pending.bytes);
        let batch = EffectBatch {
            time: now_ms,
            first_lsn: pending.first_lsn,
            last_lsn: pending.next_lsn - 1,
            records: records.into(),
        };
        pending.first_lsn = pending.next_lsn;
        Taken::Batch(batch)
    }

    /// Whether more bytes are recorded than committed than the bound allows.
    pub fn over_high_water(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) > self.max_in_flight
    }
}

enum Taken {
    Batch(EffectBatch),
    Nothing,
    Over,
}

impl Journal for ClusterJournal {
    fn record(&self, effect: &Effect<'_>) -> JournalMark {
        let mut pending = self.pending.lock();
        let lsn = pending.next_lsn;
        pending.next_lsn += 1;
        let epoch = pending.epoch;
        note_for_thread(epoch, lsn);
        let before = pending.bytes.len();
        record::encode(lsn, effect, &mut pending.bytes);
        let added = pending.bytes.len() - before;
        drop(pending);
        self.in_flight.fetch_add(added, Ordering::AcqRel);
        self.arrived.notify_one();
        JournalMark { epoch, seq: lsn }
    }

    /// A shard's newest record from an earlier epoch is committed, or the engine was rebuilt
    /// without it before this epoch opened: only the current epoch's records can still be
    /// lost, so only they hold a reply.
    fn saw(&self, mark: JournalMark) {
        if mark.seq != 0 && mark.epoch == self.epoch.load(Ordering::Acquire) {
            note_for_thread(mark.epoch, mark.seq);
        }
    }

    fn accepting(&self) -> bool {
        self.accepting.load(Ordering::Acquire)
    }
}

/// Raises this thread's wait to `lsn` of `epoch`; a newer epoch replaces an older one's.
fn note_for_thread(epoch: u64, lsn: u64) {
    THREAD_LSN.with(|last| {
        let (last_epoch, last_lsn) = last.get();
        let lsn = if last_epoch == epoch {
            last_lsn.max(lsn)
        } else {
            lsn
        };
        last.set((epoch, lsn));
    });
}

impl fmt::Debug for ClusterJournal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterJournal")
            .field("open", &self.is_open())
            .field("progress", &self.progress())
            .finish()
    }
}
