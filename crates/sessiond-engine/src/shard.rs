//! One shard of the store: a hash table of items, their expiry wheel and their counters.
//!
//! Items live in a slab (`slots`) and the hash table holds slab indexes, so the expiry wheel can
//! name an item by a 4-byte index instead of a copy of its key. A shard is only ever touched
//! under its engine's lock for it, which is what makes compound operations (check the lock
//! cookie, write, slide the expiry) atomic without any further synchronisation.

use std::collections::BTreeMap;

use bytes::Bytes;
use hashbrown::HashTable;

use crate::error::EngineError;
use crate::item::{Item, ItemBits};
use crate::key::{Key, NamespaceId};
use crate::memory::{MemoryBudget, charge};
use crate::stats::Counters;
use crate::time::Timestamp;

/// What looking a key up found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// A live item at this slab index.
    Live(u32),
    /// Nothing under this key.
    Absent,
    /// An item that had expired; it has been removed.
    Expired,
}

/// A shard: its items, expiry schedule, compare-and-swap counter and counters.
#[derive(Debug)]
pub(crate) struct Shard {
    /// This shard's index, folded into every CAS value so versions are unique engine-wide.
    index: u64,
    table: HashTable<u32>,
    slots: Vec<Option<Entry>>,
    free: Vec<u32>,
    /// Expiry buckets by whole second: bucket `b` holds items whose deadline is at most `b`
    /// seconds. An item sits in at most one bucket (its `scheduled` one); sliding renewals do
    /// not move it, the sweep re-files it when its old bucket comes due. That keeps a renewal
    /// free and the sweep exact.
    wheel: BTreeMap<u64, Vec<u32>>,
    cas_counter: u64,
    /// Delayed flushes (memcached's `flush_all <delay>`), one per namespace at most.
    pending_flushes: Vec<(Option<NamespaceId>, Timestamp)>,
    /// Bytes of keys and values stored here.
    bytes: u64,
    pub counters: Counters,
}

#[derive(Debug)]
struct Entry {
    hash: u64,
    namespace: NamespaceId,
    key: Box<[u8]>,
    item: Item,
    /// The wheel bucket the item is filed under; 0 when it is filed nowhere.
    scheduled: u64,
}

impl Entry {
    fn charge(&self) -> u64 {
        charge(self.key.len(), self.item.value.len())
    }
}

impl Shard {
    pub fn new(index: u64) -> Self {
        Shard {
            index,
            table: HashTable::new(),
            slots: Vec::new(),
            free: Vec::new(),
            wheel: BTreeMap::new(),
            cas_counter: 0,
            pending_flushes: Vec::new(),
            bytes: 0,
            counters: Counters::default(),
        }
    }

    /// Runs what came due before a command: delayed flushes whose time has come.
    pub fn begin(&mut self, now: Timestamp, memory: &MemoryBudget) {
        if self.pending_flushes.is_empty() {
            return;
        }
        let due: Vec<Option<NamespaceId>> = self
            .pending_flushes
            .iter()
            .filter(|(_, at)| *at <= now)
            .map(|(namespace, _)| *namespace)
            .collect();
        self.pending_flushes.retain(|(_, at)| *at > now);
        for namespace in due {
            self.flush(namespace, memory);
        }
    }

    /// The next compare-and-swap version. Per-shard counters keep versions deterministic under
    /// replay: they depend only on the order of commands within the shard.
    pub fn next_cas(&mut self) -> u64 {
        self.cas_counter += 1;
        (self.cas_counter << crate::engine::SHARD_BITS) | self.index
    }

    /// Finds `key`, removing it first if it has expired by `now`.
    pub fn lookup(
        &mut self,
        hash: u64,
        key: Key<'_>,
        now: Timestamp,
        memory: &MemoryBudget,
    ) -> Lookup {
        let slots = &self.slots;
        let found = self.table.find(hash, |&index| {
            slots[index as usize].as_ref().is_some_and(|entry| {
                entry.hash == hash && entry.namespace == key.namespace && *entry.key == *key.name
            })
        });
        let Some(&index) = found else {
            return Lookup::Absent;
        };
        if self.item(index).is_expired(now) {
            self.remove_expired(index, memory);
            return Lookup::Expired;
        }
        Lookup::Live(index)
    }

    pub fn item(&self, index: u32) -> &Item {
        &self.entry(index).item
    }

    pub fn item_mut(&mut self, index: u32) -> &mut Item {
        &mut self.entry_mut(index).item
    }

    /// Stores a new item under `key`, which must not be present. Refused when the memory limit
    /// would be passed.
    pub fn insert(
        &mut self,
        hash: u64,
        key: Key<'_>,
        item: Item,
        memory: &MemoryBudget,
    ) -> Result<u32, EngineError> {
        let cost = charge(key.name.len(), item.value.len());
        if !memory.resize(0, cost) {
            return Err(EngineError::OutOfMemory);
        }
        self.bytes += (key.name.len() + item.value.len()) as u64;
        self.counters.total_items += 1;
        let entry = Entry {
            hash,
            namespace: key.namespace,
            key: key.name.into(),
            item,
            scheduled: 0,
        };
        let index = match self.free.pop() {
            Some(index) => {
                self.slots[index as usize] = Some(entry);
                index
            }
            None => {
                let index =
                    u32::try_from(self.slots.len()).map_err(|_| EngineError::OutOfMemory)?;
                self.slots.push(Some(entry));
                index
            }
        };
        let slots = &self.slots;
        self.table.insert_unique(hash, index, |&index| {
            slots[index as usize].as_ref().map_or(0, |entry| entry.hash)
        });
        self.schedule(index);
        Ok(index)
    }

    /// Replaces the value of the item at `index`, accounting for the change in size. On refusal
    /// the item is unchanged.
    pub fn set_value(
        &mut self,
        index: u32,
        value: Bytes,
        memory: &MemoryBudget,
    ) -> Result<(), EngineError> {
        let entry = self.entry(index);
        let old = entry.charge();
        let new = charge(entry.key.len(), value.len());
        if !memory.resize(old, new) {
            return Err(EngineError::OutOfMemory);
        }
        let entry = self.entry_mut(index);
        let old_len = entry.item.value.len() as u64;
        let new_len = value.len() as u64;
        entry.item.value = value;
        self.bytes = self.bytes - old_len + new_len;
        Ok(())
    }

    /// Files the item at `index` in the expiry wheel after its deadline moved.
    pub fn schedule(&mut self, index: u32) {
        let entry = self.entry_mut(index);
        let Some(deadline) = entry.item.deadline else {
            return;
        };
        let bucket = deadline.as_millis().div_ceil(1000).max(1);
        if entry.scheduled != 0 && entry.scheduled <= bucket {
            // Filed earlier than needed: the sweep re-files it when that bucket comes due.
            return;
        }
        entry.scheduled = bucket;
        self.wheel.entry(bucket).or_default().push(index);
    }

    /// Removes the item at `index`.
    pub fn remove(&mut self, index: u32, memory: &MemoryBudget) {
        let Some(entry) = self.slots[index as usize].take() else {
            return;
        };
        let hash = entry.hash;
        if let Ok(found) = self.table.find_entry(hash, |&candidate| candidate == index) {
            found.remove();
        }
        memory.release(entry.charge());
        self.bytes -= (entry.key.len() + entry.item.value.len()) as u64;
        self.free.push(index);
    }

    /// Removes expired items whose bucket is due, looking at no more than `budget` wheel entries.
    /// Returns how many items it removed.
    pub fn expire_due(&mut self, now: Timestamp, budget: usize, memory: &MemoryBudget) -> usize {
        let mut looked = 0;
        let mut removed = 0;
        while looked < budget {
            let Some(mut bucket) = self.wheel.first_entry() else {
                break;
            };
            let second = *bucket.key();
            if second.saturating_mul(1000) > now.as_millis() {
                break;
            }
            let mut refile = Vec::new();
            while looked < budget {
                let Some(index) = bucket.get_mut().pop() else {
                    break;
                };
                looked += 1;
                let Some(entry) = self.slots[index as usize].as_mut() else {
                    continue;
                };
                if entry.scheduled != second {
                    continue;
                }
                entry.scheduled = 0;
                if entry.item.is_expired(now) {
                    refile.push((index, true));
                } else {
                    refile.push((index, false));
                }
            }
            if bucket.get().is_empty() {
                bucket.remove();
            }
            for (index, expired) in refile {
                if expired {
                    self.remove_expired(index, memory);
                    removed += 1;
                } else {
                    self.schedule(index);
                }
            }
        }
        removed
    }

    /// Removes every item of `namespace` (all namespaces when `None`).
    pub fn flush(&mut self, namespace: Option<NamespaceId>, memory: &MemoryBudget) {
        for index in 0..self.slots.len() as u32 {
            let matches = self.slots[index as usize]
                .as_ref()
                .is_some_and(|entry| namespace.is_none_or(|ns| entry.namespace == ns));
            if matches {
                self.remove(index, memory);
            }
        }
        if namespace.is_none() {
            // Nothing left: drop the wheel's stale entries and shrink what a big flush left.
            self.wheel.clear();
            self.slots.clear();
            self.free.clear();
            self.table.shrink_to_fit(|_| 0);
        }
    }

    /// Schedules a flush of `namespace` at `at`, replacing an earlier pending one for it.
    pub fn flush_later(&mut self, namespace: Option<NamespaceId>, at: Timestamp) {
        self.pending_flushes
            .retain(|(pending, _)| *pending != namespace);
        self.pending_flushes.push((namespace, at));
    }

    /// Cancels a pending delayed flush of `namespace`, as an immediate flush does.
    pub fn cancel_flush(&mut self, namespace: Option<NamespaceId>) {
        self.pending_flushes
            .retain(|(pending, _)| *pending != namespace);
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    fn remove_expired(&mut self, index: u32, memory: &MemoryBudget) {
        let fetched = self.item(index).bits.has(ItemBits::FETCHED);
        self.counters.expired += 1;
        if !fetched {
            self.counters.expired_unfetched += 1;
        }
        self.remove(index, memory);
    }

    fn entry(&self, index: u32) -> &Entry {
        match &self.slots[index as usize] {
            Some(entry) => entry,
            // Indexes come only from this shard's own table and wheel checks, under its lock.
            None => unreachable!("slot {index} is empty"),
        }
    }

    fn entry_mut(&mut self, index: u32) -> &mut Entry {
        match &mut self.slots[index as usize] {
            Some(entry) => entry,
            None => unreachable!("slot {index} is empty"),
        }
    }
}
