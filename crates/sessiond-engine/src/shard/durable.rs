//! What a shard tells the journal about a command, and how it takes journaled state back.

use std::time::Duration;

use bytes::Bytes;

use super::{Entry, Shard};
use crate::item::{Item, ItemBits, LockCookie};
use crate::journal::{Change, Effect, ItemState, Journal};
use crate::key::{Key, NamespaceId};
use crate::memory::{MemoryBudget, charge};
use crate::snapshot::SnapshotItem;
use crate::time::Timestamp;

/// The durable part of an item, taken before a command so that what the command changed can
/// be told afterwards. The value is compared by identity: every write makes a new allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Durable {
    value: (usize, usize),
    flags: u32,
    cas: u64,
    deadline: Option<Timestamp>,
    sliding: Option<Duration>,
    cookie: LockCookie,
    locked_at: Option<Timestamp>,
    bits: u8,
}

impl Durable {
    pub(crate) fn of(item: &Item) -> Durable {
        Durable {
            value: (item.value.as_ptr() as usize, item.value.len()),
            flags: item.flags,
            cas: item.cas,
            deadline: item.deadline,
            sliding: item.sliding,
            cookie: item.cookie,
            locked_at: item.locked_at,
            bits: item.bits.bits() & ItemBits::DURABLE,
        }
    }

    /// The state without a sliding item's deadline, which every access moves: what is left
    /// changes only when a command changes the item.
    pub(crate) fn without_renewal(self) -> Durable {
        Durable {
            deadline: self.deadline.filter(|_| self.sliding.is_none()),
            ..self
        }
    }

    /// Whether `after` differs from `self` only by a sliding renewal at `now`.
    fn renewed_to(&self, after: &Durable, now: Timestamp) -> bool {
        let slid = after
            .sliding
            .is_some_and(|timeout| after.deadline == Some(now.saturating_add(timeout)));
        slid && Durable {
            deadline: after.deadline,
            ..*self
        } == *after
    }
}

/// A live item's durable state before a command, with its value: kept (a reference count,
/// not a copy) so that a write of the very bytes the item already held can be told from a
/// change of value, and journaled without them.
#[derive(Clone, Debug)]
pub(crate) struct Before {
    state: Durable,
    value: Bytes,
}

impl Shard {
    /// The durable state of `key`'s live item, changing nothing (no expiry, no counters).
    pub fn durable(&self, hash: u64, key: Key<'_>, now: Timestamp) -> Option<Before> {
        let index = self.peek(hash, key)?;
        let item = self.item(index);
        (!item.is_expired(now)).then(|| Before {
            state: Durable::of(item),
            value: item.value.clone(),
        })
    }

    /// Tells `journal` what the command just applied did to `key`, which held `before`.
    /// A pure sliding renewal is only noted, for [`Shard::drain_renewals`]. A value replaced
    /// by the same bytes is recorded without them, as a change of the rest: web frameworks
    /// write a session back whole after requests that only read it (ASP.NET after any read of
    /// a session object of a mutable type), and the log then carries a few dozen bytes
    /// instead of the session. Returns whether anything was recorded.
    pub fn journal_change(
        &mut self,
        before: Option<Before>,
        hash: u64,
        key: Key<'_>,
        now: Timestamp,
        journal: &dyn Journal,
    ) -> bool {
        let after = self
            .peek(hash, key)
            .filter(|&index| !self.item(index).is_expired(now));
        let change = match (before, after) {
            (None, None) => return false,
            (Some(_), None) => Change::Remove(key),
            (None, Some(index)) => Change::Put(self.state(index, true)),
            (Some(before), Some(index)) => {
                let now_durable = Durable::of(self.item(index));
                if now_durable == before.state {
                    return false;
                }
                if before.state.renewed_to(&now_durable, now) {
                    self.note_renewal(index);
                    return false;
                }
                if now_durable.value == before.state.value || self.item(index).value == before.value
                {
                    Change::Meta(self.state(index, false))
                } else {
                    Change::Put(self.state(index, true))
                }
            }
        };
        self.journal_mark = journal.record(&Effect { time: now, change });
        true
    }

    /// Tells `journal` the current state of every item renewed since the last call.
    pub fn drain_renewals(&mut self, now: Timestamp, journal: &dyn Journal) {
        let renewed = std::mem::take(&mut self.renewed);
        for &index in &renewed {
            let Some(entry) = self.slots.get_mut(index as usize).and_then(Option::as_mut) else {
                continue;
            };
            if !entry.item.bits.has(ItemBits::RENEWED) {
                continue;
            }
            entry.item.bits.set(ItemBits::RENEWED, false);
            let change = Change::Meta(self.state(index, false));
            self.journal_mark = journal.record(&Effect { time: now, change });
        }
        self.renewed = renewed;
        self.renewed.clear();
    }

    /// Applies a journaled item state, whatever the memory limit.
    pub fn restore_item(&mut self, hash: u64, state: &ItemState<'_>, memory: &MemoryBudget) {
        self.bump_cas(state.cas);
        match self.peek(hash, state.key) {
            Some(index) => {
                let entry = self.entry(index);
                let new = charge(entry.key.len(), state.value.len());
                memory.force_resize(entry.charge(), new);
                self.replace_value(index, state.value);
                self.restore_meta(index, state);
            }
            None => {
                memory.force_resize(0, charge(state.key.name.len(), state.value.len()));
                let item = Item::new(
                    Bytes::new(),
                    state.flags,
                    crate::time::Expiry::Never,
                    state.cas,
                    Timestamp::EPOCH,
                );
                // Slab indexes run out only past 4 billion items, long after memory does.
                if let Ok(index) = self.insert_charged(hash, state.key, state.value, item) {
                    self.restore_meta(index, state);
                }
            }
        }
    }

    /// Applies a journaled metadata change to `state.key`'s item, when it has one.
    pub fn restore_item_meta(&mut self, hash: u64, state: &ItemState<'_>) {
        self.bump_cas(state.cas);
        if let Some(index) = self.peek(hash, state.key) {
            self.restore_meta(index, state);
        }
    }

    /// Removes `key`'s item, when it has one.
    pub fn restore_remove(&mut self, hash: u64, key: Key<'_>, memory: &MemoryBudget) {
        if let Some(index) = self.peek(hash, key) {
            self.remove(index, memory);
        }
    }

    /// Copies of every item's durable state and the pending delayed flushes, for a snapshot.
    /// Values are shared, not copied.
    pub fn export(&self) -> (Vec<SnapshotItem>, Vec<(Option<NamespaceId>, Timestamp)>) {
        let items = self
            .slots
            .iter()
            .flatten()
            .map(|entry| SnapshotItem {
                namespace: entry.namespace,
                key: entry.key.clone(),
                value: entry.item.value.clone(),
                flags: entry.item.flags,
                cas: entry.item.cas,
                deadline: entry.item.deadline,
                sliding: entry.item.sliding,
                cookie: entry.item.cookie,
                locked_at: entry.item.locked_at,
                bits: entry.item.bits.bits() & ItemBits::DURABLE,
            })
            .collect();
        (items, self.pending_flushes.clone())
    }

    fn restore_meta(&mut self, index: u32, state: &ItemState<'_>) {
        let entry = self.entry_mut(index);
        let item = &mut entry.item;
        item.flags = state.flags;
        item.cas = state.cas;
        item.deadline = state.deadline;
        item.sliding = state.sliding;
        item.cookie = state.cookie;
        item.locked_at = state.locked_at;
        let transient = item.bits.bits() & !ItemBits::DURABLE;
        item.bits = ItemBits::from_bits(transient | (state.bits & ItemBits::DURABLE));
        self.schedule(index);
    }

    /// Keeps compare-and-swap versions unique after a restore: new versions start past every
    /// restored one.
    fn bump_cas(&mut self, cas: u64) {
        let counter = cas >> crate::engine::SHARD_BITS;
        self.cas_counter = self.cas_counter.max(counter);
    }

    /// Lists the item at `index` for the next [`Shard::drain_renewals`], once.
    pub fn note_renewal(&mut self, index: u32) {
        let bits = &mut self.entry_mut(index).item.bits;
        if !bits.has(ItemBits::RENEWED) {
            bits.set(ItemBits::RENEWED, true);
            self.renewed.push(index);
        }
    }

    /// `key`'s slab index, live or expired, changing nothing.
    fn peek(&self, hash: u64, key: Key<'_>) -> Option<u32> {
        let slots = &self.slots;
        self.table
            .find(hash, |&index| {
                slots[index as usize].as_ref().is_some_and(|entry: &Entry| {
                    entry.hash == hash
                        && entry.namespace == key.namespace
                        && *entry.key == *key.name
                })
            })
            .copied()
    }

    fn state(&self, index: u32, with_value: bool) -> ItemState<'_> {
        let entry = self.entry(index);
        let item = &entry.item;
        ItemState {
            key: Key::new(entry.namespace, &entry.key),
            value: if with_value { &item.value } else { &[] },
            flags: item.flags,
            cas: item.cas,
            deadline: item.deadline,
            sliding: item.sliding,
            cookie: item.cookie,
            locked_at: item.locked_at,
            bits: item.bits.bits() & ItemBits::DURABLE,
        }
    }
}
