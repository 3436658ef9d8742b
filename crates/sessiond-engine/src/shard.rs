//! One shard of the store: a hash table of items, their expiry wheel and their counters.
//!
//! Items live in a slab (`slots`) and the hash table holds slab indexes, so the expiry wheel can
//! name an item by a 4-byte index instead of a copy of its key. A shard is only ever touched
//! under its engine's lock for it, which is what makes compound operations (check the lock
//! cookie, write, slide the expiry) atomic without any further synchronisation.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use hashbrown::HashTable;

use crate::error::EngineError;
use crate::events::ExpiredKey;
use crate::item::{Item, ItemBits, ValueType};
use crate::journal::{Change, Effect, Journal};
use crate::key::{Key, NamespaceId};
use crate::memory::{MemoryBudget, charge};
use crate::stats::Counters;
use crate::time::Timestamp;

mod durable;

pub(crate) use durable::Durable;

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
    /// Items whose sliding deadline moved since the journal last heard of them (each marked
    /// with [`ItemBits::RENEWED`], so an item is listed once however often it is read).
    renewed: Vec<u32>,
    /// Where the journal put this shard's newest record, told to it by every command that
    /// locks the shard (see [`crate::Journal::saw`]).
    pub journal_mark: crate::JournalMark,
    /// Bytes of keys and values stored here.
    bytes: u64,
    /// Items held per namespace (expired ones not yet removed included), for key counts.
    namespace_items: hashbrown::HashMap<NamespaceId, u64>,
    /// Whether items removed by expiry are listed in `expired`, for expiry events.
    pub collect_expired: bool,
    /// Items removed by expiry since the engine last took the list.
    pub expired: Vec<ExpiredKey>,
    pub counters: Counters,
}

#[derive(Debug)]
struct Entry {
    hash: u64,
    namespace: NamespaceId,
    /// The key, in one allocation with the value (see [`pack`]).
    key: Bytes,
    item: Item,
    /// The wheel bucket the item is filed under; 0 when it is filed nowhere.
    scheduled: u64,
}

impl Entry {
    fn charge(&self) -> u64 {
        charge(self.key.len(), self.item.value.len())
    }
}

/// Packs a key and its value into one allocation, as memcached keeps an item's key beside its
/// data: the key comparison of a lookup then brings in the memory the value's read needs next,
/// where separate allocations would cost the read another cache miss.
fn pack(key: &[u8], value: &[u8]) -> (Bytes, Bytes) {
    let mut buffer = BytesMut::with_capacity(key.len() + value.len());
    buffer.extend_from_slice(key);
    buffer.extend_from_slice(value);
    let mut key = buffer.freeze();
    let value = key.split_off(key.len() - value.len());
    (key, value)
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
            renewed: Vec::new(),
            journal_mark: crate::JournalMark::default(),
            bytes: 0,
            namespace_items: hashbrown::HashMap::new(),
            collect_expired: false,
            expired: Vec::new(),
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

    /// Stores a new item with `value` under `key`, which must not be present; `item.value` is
    /// replaced. Refused when the memory limit would be passed.
    pub fn insert(
        &mut self,
        hash: u64,
        key: Key<'_>,
        value: &[u8],
        item: Item,
        memory: &MemoryBudget,
    ) -> Result<u32, EngineError> {
        let cost = charge(key.name.len(), value.len());
        if !memory.resize(0, cost) {
            return Err(EngineError::OutOfMemory);
        }
        self.insert_charged(hash, key, value, item)
    }

    /// As [`Shard::insert`], with the item's memory already charged.
    pub fn insert_charged(
        &mut self,
        hash: u64,
        key: Key<'_>,
        value: &[u8],
        mut item: Item,
    ) -> Result<u32, EngineError> {
        self.bytes += (key.name.len() + value.len()) as u64;
        self.counters.total_items += 1;
        *self.namespace_items.entry(key.namespace).or_default() += 1;
        let (key_bytes, value) = pack(key.name, value);
        item.value = value;
        let entry = Entry {
            hash,
            namespace: key.namespace,
            key: key_bytes,
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
        value: &[u8],
        memory: &MemoryBudget,
    ) -> Result<(), EngineError> {
        let entry = self.entry(index);
        let old = entry.charge();
        let new = charge(entry.key.len(), value.len());
        if !memory.resize(old, new) {
            return Err(EngineError::OutOfMemory);
        }
        self.replace_value(index, value);
        Ok(())
    }

    /// Replaces the value of the item at `index`, its memory already accounted for.
    fn replace_value(&mut self, index: u32, value: &[u8]) {
        let entry = self.entry_mut(index);
        let old_len = entry.item.value.len() as u64;
        let (key, value) = pack(&entry.key, value);
        entry.key = key;
        entry.item.value = value;
        let new_len = entry.item.value.len() as u64;
        self.bytes = self.bytes - old_len + new_len;
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
        if let Some((entry_charge, _)) = self.detach(index) {
            memory.release(entry_charge);
        }
    }

    /// Removes the item at `index` without giving back its memory, which the caller moves
    /// elsewhere (a rename charges the renamed item in one step). Returns the item's charge
    /// and the item.
    pub fn detach(&mut self, index: u32) -> Option<(u64, Item)> {
        let entry = self.slots[index as usize].take()?;
        let hash = entry.hash;
        if let Ok(found) = self.table.find_entry(hash, |&candidate| candidate == index) {
            found.remove();
        }
        self.bytes -= (entry.key.len() + entry.item.value.len()) as u64;
        if let hashbrown::hash_map::Entry::Occupied(mut count) =
            self.namespace_items.entry(entry.namespace)
        {
            *count.get_mut() -= 1;
            if *count.get() == 0 {
                count.remove();
            }
        }
        self.free.push(index);
        let entry_charge = entry.charge();
        let mut item = entry.item;
        // The renewal list names slab indexes of this shard; the item leaves it.
        item.bits.set(ItemBits::RENEWED, false);
        Some((entry_charge, item))
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
            self.namespace_items.clear();
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
    pub fn clear_pending_flushes(&mut self) {
        self.pending_flushes.clear();
    }

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

    /// Items held in `namespace`, expired ones not yet removed included.
    pub fn namespace_len(&self, namespace: NamespaceId) -> u64 {
        self.namespace_items.get(&namespace).copied().unwrap_or(0)
    }

    /// Lists the keys of `namespace` (holding `value_type`, when given) from slab position
    /// `from` on, removing expired items met on the way: at most `max_keys` keys, examining
    /// at most `budget` slots (and taking them off it). Returns the position to go on from,
    /// or `None` once the whole slab has been examined.
    ///
    /// Each removal is recorded in `journal` (while it accepts writes), as a command that meets
    /// its key expired records it: a page that leaves a key out because it expired must not be
    /// taken back by a new leader whose clock is behind.
    ///
    /// Slab order is what makes a scan stable under concurrent changes: an item keeps its slot
    /// for as long as it lives, so a key present for a whole scan is met exactly once, however
    /// many items come and go meanwhile.
    #[allow(clippy::too_many_arguments)]
    pub fn scan(
        &mut self,
        namespace: NamespaceId,
        value_type: Option<ValueType>,
        from: u32,
        max_keys: usize,
        budget: &mut usize,
        now: Timestamp,
        memory: &MemoryBudget,
        journal: Option<&dyn Journal>,
        out: &mut Vec<Bytes>,
    ) -> Option<u32> {
        let journal = journal.filter(|journal| journal.accepting());
        let mut position = from as usize;
        let mut found = 0;
        while position < self.slots.len() && found < max_keys && *budget > 0 {
            let index = position as u32;
            position += 1;
            *budget -= 1;
            let Some(entry) = &self.slots[index as usize] else {
                continue;
            };
            if entry.namespace != namespace {
                continue;
            }
            if entry.item.is_expired(now) {
                if let Some(journal) = journal {
                    let change = Change::Remove(Key::new(entry.namespace, &entry.key));
                    self.journal_mark = journal.record(&Effect { time: now, change });
                }
                self.remove_expired(index, memory);
                continue;
            }
            if value_type.is_some_and(|wanted| entry.item.value_type() != wanted) {
                continue;
            }
            out.push(Bytes::copy_from_slice(&entry.key));
            found += 1;
        }
        (position < self.slots.len()).then_some(position as u32)
    }

    fn remove_expired(&mut self, index: u32, memory: &MemoryBudget) {
        let entry = self.entry(index);
        let fetched = entry.item.bits.has(ItemBits::FETCHED);
        if self.collect_expired {
            let key = ExpiredKey {
                namespace: entry.namespace,
                name: Bytes::copy_from_slice(&entry.key),
            };
            self.expired.push(key);
        }
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

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;
    use std::time::Duration;

    use super::*;
    use crate::time::Expiry;

    fn ms(millis: u64) -> Timestamp {
        Timestamp::from_millis(millis)
    }

    fn key(name: &[u8]) -> Key<'_> {
        Key::default_namespace(name)
    }

    fn hash(name: &[u8]) -> u64 {
        foldhash::fast::FixedState::with_seed(7).hash_one(name)
    }

    struct Fixture {
        shard: Shard,
        memory: MemoryBudget,
    }

    impl Fixture {
        fn new() -> Self {
            Fixture {
                shard: Shard::new(0),
                memory: MemoryBudget::new(1 << 20),
            }
        }

        fn insert(&mut self, name: &[u8], expiry: Expiry, now: Timestamp) -> u32 {
            let cas = self.shard.next_cas();
            let item = Item::new(Bytes::from_static(b"value"), 0, expiry, cas, now);
            let inserted = self
                .shard
                .insert(hash(name), key(name), b"value", item, &self.memory);
            inserted.expect("memory")
        }

        fn lookup(&mut self, name: &[u8], now: Timestamp) -> Lookup {
            self.shard.lookup(hash(name), key(name), now, &self.memory)
        }

        fn sweep(&mut self, now: Timestamp, budget: usize) -> usize {
            self.shard.expire_due(now, budget, &self.memory)
        }

        /// The wheel: (bucket, filed slab indexes).
        fn wheel(&self) -> Vec<(u64, Vec<u32>)> {
            let buckets = self.shard.wheel.iter();
            buckets
                .map(|(&second, items)| (second, items.clone()))
                .collect()
        }

        fn scheduled(&self, index: u32) -> u64 {
            self.shard.entry(index).scheduled
        }
    }

    #[test]
    fn a_sliding_renewal_leaves_the_wheel_alone_and_the_sweep_refiles_the_item() {
        let mut f = Fixture::new();
        let sliding = Expiry::Sliding(Duration::from_secs(5));
        let index = f.insert(b"s", sliding, ms(200));
        assert_eq!(
            f.wheel(),
            [(6, vec![index])],
            "deadline 5.2 s is in the 6 s bucket"
        );

        // Renewed at 3 s: deadline 8 s. Renewal costs nothing; the item stays filed at 6.
        f.shard.item_mut(index).renew(ms(3_000));
        f.shard.schedule(index);
        assert_eq!(f.wheel(), [(6, vec![index])]);

        assert_eq!(f.sweep(ms(6_000), usize::MAX), 0, "not expired: re-filed");
        assert_eq!(f.wheel(), [(8, vec![index])]);
        assert_eq!(f.scheduled(index), 8);
        assert_eq!(f.sweep(ms(7_999), usize::MAX), 0);
        assert_eq!(f.sweep(ms(8_000), usize::MAX), 1);
        assert!(f.wheel().is_empty());
        assert_eq!((f.shard.len(), f.memory.used()), (0, 0));
    }

    #[test]
    fn each_sweep_examines_at_most_its_budget() {
        let mut f = Fixture::new();
        for name in [&b"a"[..], b"b", b"c", b"d", b"e"] {
            f.insert(name, Expiry::At(ms(1_500)), ms(0));
        }
        for name in [&b"f"[..], b"g"] {
            f.insert(name, Expiry::At(ms(3_000)), ms(0));
        }
        let removed: Vec<usize> = (0..5).map(|_| f.sweep(ms(4_000), 2)).collect();
        // The third call finishes the 2 s bucket and goes on into the 3 s one.
        assert_eq!(removed, [2, 2, 2, 1, 0]);
        assert_eq!(f.shard.len(), 0);
        assert_eq!(f.shard.counters.expired, 7);
    }

    #[test]
    fn a_stale_entry_left_by_a_delete_does_not_touch_the_slots_next_item() {
        let mut f = Fixture::new();
        let old = f.insert(b"old", Expiry::At(ms(1_500)), ms(0));
        f.shard.remove(old, &f.memory);
        let new = f.insert(b"new", Expiry::At(ms(10_000)), ms(0));
        assert_eq!(new, old, "the slot is reused");
        assert_eq!(f.wheel(), [(2, vec![old]), (10, vec![new])]);

        assert_eq!(f.sweep(ms(2_000), usize::MAX), 0);
        assert_eq!(f.lookup(b"new", ms(2_000)), Lookup::Live(new));
        assert_eq!(f.wheel(), [(10, vec![new])], "the stale entry is gone");

        // The same with an item that never expires.
        let never = f.insert(b"never", Expiry::At(ms(2_500)), ms(0));
        f.shard.remove(never, &f.memory);
        let reused = f.insert(b"forever", Expiry::Never, ms(0));
        assert_eq!(reused, never);
        assert_eq!(f.sweep(ms(3_000), usize::MAX), 0);
        assert!(matches!(f.lookup(b"forever", ms(3_000)), Lookup::Live(_)));
    }

    #[test]
    fn a_slot_filed_twice_in_one_bucket_is_removed_once() {
        let mut f = Fixture::new();
        let first = f.insert(b"first", Expiry::At(ms(1_500)), ms(0));
        f.shard.remove(first, &f.memory);
        let second = f.insert(b"second", Expiry::At(ms(1_800)), ms(0));
        assert_eq!(
            f.wheel(),
            [(2, vec![first, second])],
            "same slot, same bucket"
        );
        // Stale entries count against the budget too.
        assert_eq!(f.sweep(ms(2_000), 1), 1);
        assert_eq!(f.sweep(ms(2_000), 1), 0);
        assert!(f.wheel().is_empty());
        assert_eq!(f.shard.counters.expired, 1);
        assert_eq!((f.shard.len(), f.memory.used()), (0, 0));
    }

    #[test]
    fn a_deadline_moved_earlier_is_refiled_earlier() {
        let mut f = Fixture::new();
        let index = f.insert(b"k", Expiry::At(ms(100_000)), ms(0));
        f.shard
            .item_mut(index)
            .set_expiry(Expiry::At(ms(3_000)), ms(0));
        f.shard.schedule(index);
        assert_eq!(f.wheel(), [(3, vec![index]), (100, vec![index])]);
        assert_eq!(f.sweep(ms(3_000), usize::MAX), 1);
        assert_eq!(f.sweep(ms(100_000), usize::MAX), 0);
        assert!(f.wheel().is_empty());
    }

    #[test]
    fn a_deadline_moved_later_waits_for_its_old_bucket() {
        let mut f = Fixture::new();
        let index = f.insert(b"k", Expiry::At(ms(3_000)), ms(0));
        f.shard
            .item_mut(index)
            .set_expiry(Expiry::At(ms(9_000)), ms(0));
        f.shard.schedule(index);
        assert_eq!(f.wheel(), [(3, vec![index])]);
        assert_eq!(f.sweep(ms(3_000), usize::MAX), 0);
        assert_eq!(f.wheel(), [(9, vec![index])]);
        assert_eq!(f.sweep(ms(9_000), usize::MAX), 1);
    }

    #[test]
    fn an_item_that_no_longer_expires_leaves_the_wheel_when_its_bucket_comes_due() {
        let mut f = Fixture::new();
        let index = f.insert(b"k", Expiry::At(ms(2_000)), ms(0));
        f.shard.item_mut(index).set_expiry(Expiry::Never, ms(0));
        f.shard.schedule(index);
        assert_eq!(f.sweep(ms(2_000), usize::MAX), 0);
        assert!(f.wheel().is_empty());
        assert_eq!(f.scheduled(index), 0);
        // Given a deadline again, it is filed again.
        f.shard
            .item_mut(index)
            .set_expiry(Expiry::At(ms(4_000)), ms(0));
        f.shard.schedule(index);
        assert_eq!(f.wheel(), [(4, vec![index])]);
        assert_eq!(f.sweep(ms(4_000), usize::MAX), 1);
    }

    #[test]
    fn the_sweep_works_in_whole_seconds_and_lookups_do_not() {
        // Buckets are whole seconds: an item that expired during the current second is left for
        // the next one. Lookups check the exact deadline, so it is never visible meanwhile.
        let mut f = Fixture::new();
        f.insert(b"k", Expiry::At(ms(1_500)), ms(0));
        assert_eq!(f.sweep(ms(1_700), usize::MAX), 0);
        assert_eq!(f.shard.len(), 1);
        assert_eq!(f.lookup(b"k", ms(1_700)), Lookup::Expired);
        assert_eq!(f.shard.len(), 0);
        assert_eq!(
            f.sweep(ms(2_000), usize::MAX),
            0,
            "only its stale entry was left"
        );
        assert!(f.wheel().is_empty());
    }

    #[test]
    fn a_flush_of_everything_also_clears_the_wheel() {
        let mut f = Fixture::new();
        f.insert(b"a", Expiry::At(ms(5_000)), ms(0));
        f.insert(b"b", Expiry::Never, ms(0));
        f.shard.flush(None, &f.memory);
        assert!(f.wheel().is_empty());
        assert_eq!((f.shard.len(), f.shard.bytes(), f.memory.used()), (0, 0, 0));
        let index = f.insert(b"c", Expiry::At(ms(6_000)), ms(0));
        assert_eq!(f.wheel(), [(6, vec![index])]);
        assert_eq!(f.sweep(ms(6_000), usize::MAX), 1);
    }
}
