//! What the engine tells a journal (write-ahead log, replication) about each change.
//!
//! The journal records *effects*: the state a key has after a command, not the command.
//! Effects are assignments, so applying them in order to an engine that already holds some of
//! them gives the same store (a snapshot taken while writes go on needs no pause), and replay
//! cannot diverge on anything outside the record: not on the memory limit, not on the order of
//! commands across shards, not on a compare-and-swap version. The engine derives each effect
//! by comparing a key's state before and after a command, under the shard's lock, so effects on
//! one key reach the journal in the order they happened.
//!
//! Sliding renewals from reads are not journaled one by one: the engine notes which items were
//! renewed and [`Engine::drain_renewals`](crate::Engine::drain_renewals) hands their current
//! state to the journal in one batch, once per key however often it was read.

use std::fmt::Debug;
use std::time::Duration;

use crate::item::LockCookie;
use crate::key::{Key, NamespaceId};
use crate::time::Timestamp;

/// One change to the store, stamped with the time of the command that made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Effect<'a> {
    /// The command's time: replay runs what came due by then (delayed flushes) first.
    pub time: Timestamp,
    /// What changed.
    pub change: Change<'a>,
}

/// What an [`Effect`] changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change<'a> {
    /// The key now holds exactly this item, value included.
    Put(ItemState<'a>),
    /// The key's item kept its value; everything else is now as given (`value` is empty).
    Meta(ItemState<'a>),
    /// The key holds nothing.
    Remove(Key<'a>),
    /// A flush of one shard: everything in `namespace` (or everything) goes, now or at `at`.
    Flush {
        /// The shard.
        shard: u16,
        /// The namespace, or all of them.
        namespace: Option<NamespaceId>,
        /// When a delayed flush takes effect; `None` for now.
        at: Option<Timestamp>,
    },
}

/// An item's durable state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemState<'a> {
    /// The key.
    pub key: Key<'a>,
    /// The value (empty in [`Change::Meta`]).
    pub value: &'a [u8],
    /// The opaque client flags.
    pub flags: u32,
    /// The compare-and-swap version.
    pub cas: u64,
    /// When the item expires; `None` for never.
    pub deadline: Option<Timestamp>,
    /// The sliding timeout, when the item slides.
    pub sliding: Option<Duration>,
    /// The lock cookie: the current lock's, or the last one handed out.
    pub cookie: LockCookie,
    /// When the lock was taken, while the item is locked.
    pub locked_at: Option<Timestamp>,
    /// Item state bits (uninitialized, stale, win token); opaque to journals.
    pub bits: u8,
}

/// Where a record stands in its journal, in the journal's own numbering. A shard keeps the
/// mark of its newest record and hands it to [`Journal::saw`] whenever a command touches the
/// shard: a journal whose records become safe only later (a cluster's, at commit) then knows
/// which of them a read's reply shows, and need not hold the reply for records it did not see.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JournalMark {
    /// A span within which sequence numbers are comparable (a cluster journal's leadership);
    /// marks of another span say nothing.
    pub epoch: u64,
    /// The record's sequence number; 0 for none.
    pub seq: u64,
}

/// Where the engine sends its effects.
pub trait Journal: Debug + Send + Sync {
    /// Records an effect and returns where it stands. Called with the key's shard locked, so
    /// it must not block: buffer the effect and write it elsewhere.
    fn record(&self, effect: &Effect<'_>) -> JournalMark;

    /// A command is about to read or change a shard whose newest record is `mark`: its reply
    /// may show what that record did. Called with the shard locked; must not block. A journal
    /// that holds every reply until all records so far are safe can ignore it.
    fn saw(&self, _mark: JournalMark) {}

    /// Whether writes may go on. While it answers false (the disk is full, say), commands that
    /// would change the store are refused with [`EngineError::Unavailable`] and reads go on.
    ///
    /// [`EngineError::Unavailable`]: crate::EngineError::Unavailable
    fn accepting(&self) -> bool;
}
