//! Copies of the store's state for snapshots, taken one shard at a time.

use std::time::Duration;

use bytes::Bytes;

use crate::item::LockCookie;
use crate::journal::ItemState;
use crate::key::{Key, NamespaceId};
use crate::time::Timestamp;

/// One shard's durable state at one moment. Values are shared with the store (reference
/// counted), so a copy costs a little per item, not the items' size.
#[derive(Clone, Debug)]
pub struct ShardSnapshot {
    /// The shard.
    pub shard: u16,
    /// Its items.
    pub items: Vec<SnapshotItem>,
    /// Its delayed flushes not yet due: the namespace (or all) and when.
    pub pending_flushes: Vec<(Option<NamespaceId>, Timestamp)>,
}

/// One item's durable state, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotItem {
    /// The key's namespace.
    pub namespace: NamespaceId,
    /// The key's bytes.
    pub key: Bytes,
    /// The value.
    pub value: Bytes,
    /// The opaque client flags.
    pub flags: u32,
    /// The compare-and-swap version.
    pub cas: u64,
    /// When the item expires.
    pub deadline: Option<Timestamp>,
    /// The sliding timeout.
    pub sliding: Option<Duration>,
    /// The lock cookie.
    pub cookie: LockCookie,
    /// When the lock was taken, while locked.
    pub locked_at: Option<Timestamp>,
    /// Item state bits.
    pub bits: u8,
}

impl SnapshotItem {
    /// An owned copy of a journaled state, for a journal that keeps effects in memory.
    pub fn from_state(state: &ItemState<'_>) -> SnapshotItem {
        SnapshotItem {
            namespace: state.key.namespace,
            key: Bytes::copy_from_slice(state.key.name),
            value: Bytes::copy_from_slice(state.value),
            flags: state.flags,
            cas: state.cas,
            deadline: state.deadline,
            sliding: state.sliding,
            cookie: state.cookie,
            locked_at: state.locked_at,
            bits: state.bits,
        }
    }

    /// The state as a journal effect carries it.
    pub fn state(&self) -> ItemState<'_> {
        ItemState {
            key: Key::new(self.namespace, &self.key),
            value: &self.value,
            flags: self.flags,
            cas: self.cas,
            deadline: self.deadline,
            sliding: self.sliding,
            cookie: self.cookie,
            locked_at: self.locked_at,
            bits: self.bits,
        }
    }
}
