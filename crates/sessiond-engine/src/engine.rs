//! The engine: shards, routing of commands to them, the expiry sweep and the stats.

use std::hash::BuildHasher;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use crate::command::{Apply, Command, Flush, Outcome, ShardContext};
use crate::error::EngineError;
use crate::journal::{Change, Effect, Journal};
use crate::key::Key;
use crate::memory::MemoryBudget;
use crate::shard::Shard;
use crate::snapshot::ShardSnapshot;
use crate::stats::{Counters, EngineStats};
use crate::time::Timestamp;

/// log2 of the number of shards. The shard count is fixed, not configured: a key's shard
/// decides its compare-and-swap versions, and replay must give the same versions.
pub(crate) const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;

/// How many shards an engine has; [`Engine::snapshot_shard`] takes indexes below it.
pub const SHARD_COUNT: usize = SHARDS;

/// Seed of the hash that picks a key's shard. Fixed for the same reason as the shard count.
const SHARD_SEED: u64 = 0x5e55_10d5_e55e_55d0;

/// The engine's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// The most memory the store may account for, in bytes; writes past it are refused.
    pub max_memory: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_memory: 1 << 30,
        }
    }
}

/// The in-memory session store, sharded for concurrent use by many threads.
///
/// It owns no threads and reads no clock: callers pass the time with each command and call
/// [`Engine::expire_due`] periodically to sweep expired items.
#[derive(Debug)]
pub struct Engine {
    shards: Box<[PaddedShard]>,
    memory: MemoryBudget,
    shard_hasher: foldhash::fast::FixedState,
    /// Per-process random seed for the tables, so a peer cannot choose keys that collide.
    table_hasher: foldhash::fast::RandomState,
    /// Where effects go, once persistence or replication is attached.
    journal: OnceLock<Arc<dyn Journal>>,
}

/// A shard on its own cache lines, so two threads working on neighbouring shards do not
/// contend for one line.
#[derive(Debug)]
#[repr(align(128))]
struct PaddedShard(Mutex<Shard>);

impl Engine {
    /// An empty engine.
    pub fn new(config: EngineConfig) -> Self {
        let shards = (0..SHARDS as u64)
            .map(|index| PaddedShard(Mutex::new(Shard::new(index))))
            .collect();
        Engine {
            shards,
            memory: MemoryBudget::new(config.max_memory),
            shard_hasher: foldhash::fast::FixedState::with_seed(SHARD_SEED),
            table_hasher: foldhash::fast::RandomState::default(),
            journal: OnceLock::new(),
        }
    }

    /// Sends every later change to `journal`. An engine has at most one journal; attaching a
    /// second one returns it back as the error.
    pub fn attach_journal(&self, journal: Arc<dyn Journal>) -> Result<(), Arc<dyn Journal>> {
        self.journal.set(journal)
    }

    /// Applies a keyed command at time `now`.
    pub fn run<C: Apply>(&self, command: &C, now: Timestamp) -> C::Outcome {
        let key = command.key();
        let shard_index = self.shard_of(key);
        let hash = self.table_hasher.hash_one((key.namespace, key.name));
        let journal = self.journal.get();
        if let Some(journal) = journal
            && !journal.accepting()
            && let Some(refused) = command.refusal(EngineError::Unavailable)
        {
            return refused;
        }
        let mut shard = self.shards[shard_index].0.lock();
        shard.begin(now, &self.memory);
        let journal = match journal {
            Some(journal) if command.journaled() => journal,
            _ => {
                let mut ctx = ShardContext {
                    shard: &mut shard,
                    memory: &self.memory,
                    hash,
                    journaling: journal.is_some(),
                };
                return command.apply(&mut ctx, now);
            }
        };
        let before = shard.durable(hash, key, now);
        let mut ctx = ShardContext {
            shard: &mut shard,
            memory: &self.memory,
            hash,
            journaling: true,
        };
        let outcome = command.apply(&mut ctx, now);
        shard.journal_change(before, hash, key, now, journal.as_ref());
        outcome
    }

    /// Applies any command at time `now`.
    pub fn execute(&self, command: &Command<'_>, now: Timestamp) -> Outcome {
        match command {
            Command::Arithmetic(c) => Outcome::Arithmetic(self.run(c, now)),
            Command::Delete(c) => Outcome::Delete(self.run(c, now)),
            Command::Flush(c) => Outcome::Flush(self.flush(c, now)),
            Command::Get(c) => Outcome::Get(self.run(c, now)),
            Command::ReadSession(c) => Outcome::ReadSession(self.run(c, now)),
            Command::ReleaseLock(c) => Outcome::ReleaseLock(self.run(c, now)),
            Command::RemoveSession(c) => Outcome::RemoveSession(self.run(c, now)),
            Command::ResetTimeout(c) => Outcome::ResetTimeout(self.run(c, now)),
            Command::Store(c) => Outcome::Store(self.run(c, now)),
            Command::Touch(c) => Outcome::Touch(self.run(c, now)),
            Command::WriteSession(c) => Outcome::WriteSession(self.run(c, now)),
        }
    }

    /// Empties a namespace (or all), now or at the flush's time.
    pub fn flush(&self, flush: &Flush, now: Timestamp) -> Result<(), EngineError> {
        let at = flush.at.filter(|&at| at > now);
        let journal = self.journal.get();
        if journal.is_some_and(|journal| !journal.accepting()) {
            return Err(EngineError::Unavailable);
        }
        for (index, shard) in self.shards.iter().enumerate() {
            let mut shard = shard.0.lock();
            // Apply delayed flushes that are already due first: replacing or cancelling one
            // that this shard has not applied yet would lose it.
            shard.begin(now, &self.memory);
            match at {
                Some(at) => shard.flush_later(flush.namespace, at),
                None => {
                    shard.cancel_flush(flush.namespace);
                    shard.flush(flush.namespace, &self.memory);
                }
            }
            if let Some(journal) = journal {
                let change = Change::Flush {
                    shard: index as u16,
                    namespace: flush.namespace,
                    at,
                };
                journal.record(&Effect { time: now, change });
            }
        }
        Ok(())
    }

    /// Applies a journaled effect, as recovery and replication do: whatever the memory limit
    /// (a lower limit than when the sessions were written must not lose them), and without
    /// telling the journal.
    pub fn restore(&self, effect: &Effect<'_>) {
        let (shard_index, key) = match &effect.change {
            Change::Put(state) | Change::Meta(state) => (self.shard_of(state.key), Some(state.key)),
            Change::Remove(key) => (self.shard_of(*key), Some(*key)),
            Change::Flush { shard, .. } => (usize::from(*shard) % SHARDS, None),
        };
        let hash = key.map_or(0, |key| {
            self.table_hasher.hash_one((key.namespace, key.name))
        });
        let mut shard = self.shards[shard_index].0.lock();
        shard.begin(effect.time, &self.memory);
        match &effect.change {
            Change::Put(state) => shard.restore_item(hash, state, &self.memory),
            Change::Meta(state) => shard.restore_item_meta(hash, state),
            Change::Remove(key) => shard.restore_remove(hash, *key, &self.memory),
            Change::Flush { namespace, at, .. } => match at {
                Some(at) => shard.flush_later(*namespace, *at),
                None => {
                    shard.cancel_flush(*namespace);
                    shard.flush(*namespace, &self.memory);
                }
            },
        }
    }

    /// Empties the store, pending delayed flushes included, without telling the journal: for
    /// a replica that must rebuild its state from a snapshot and the log (a deposed leader
    /// whose engine ran commands the cluster never committed).
    pub fn clear(&self) {
        for shard in self.shards.iter() {
            let mut shard = shard.0.lock();
            shard.clear_pending_flushes();
            shard.flush(None, &self.memory);
        }
    }

    /// A copy of one shard's durable state, for a snapshot. The shard is locked only while
    /// the copy is made; values are shared with the store, not copied.
    pub fn snapshot_shard(&self, shard: usize) -> ShardSnapshot {
        let index = shard % SHARDS;
        let (items, pending_flushes) = self.shards[index].0.lock().export();
        ShardSnapshot {
            shard: index as u16,
            items,
            pending_flushes,
        }
    }

    /// Tells the journal the state of every item whose sliding deadline moved since the last
    /// call, once per item however often it was read. Reads renew sessions constantly; this
    /// is how those renewals reach the journal in batches instead of one record per read.
    pub fn drain_renewals(&self, now: Timestamp) {
        let Some(journal) = self.journal.get() else {
            return;
        };
        for shard in self.shards.iter() {
            shard.0.lock().drain_renewals(now, journal.as_ref());
        }
    }

    /// Removes items that expired by `now`, examining at most `budget_per_shard` schedule
    /// entries in each shard so one call has bounded cost. Returns how many items it removed;
    /// call again while that is not zero to catch up.
    pub fn expire_due(&self, now: Timestamp, budget_per_shard: usize) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let mut shard = shard.0.lock();
                shard.begin(now, &self.memory);
                shard.expire_due(now, budget_per_shard, &self.memory)
            })
            .sum()
    }

    /// The engine's current figures.
    pub fn stats(&self) -> EngineStats {
        let mut stats = EngineStats {
            memory_used: self.memory.used(),
            limit_maxbytes: self.memory.limit(),
            rejected_writes: self.memory.refused(),
            ..EngineStats::default()
        };
        let mut counters = Counters::default();
        for shard in self.shards.iter() {
            let shard = shard.0.lock();
            stats.curr_items += shard.len() as u64;
            stats.bytes += shard.bytes();
            counters.add(&shard.counters);
        }
        stats.counters = counters;
        stats
    }

    /// Changes the memory limit. Lowering it below the memory in use evicts nothing: writes that
    /// grow the store are refused until deletes and expiry bring usage under it.
    pub fn set_max_memory(&self, max_memory: u64) {
        self.memory.set_limit(max_memory);
    }

    fn shard_of(&self, key: Key<'_>) -> usize {
        let hash = self.shard_hasher.hash_one((key.namespace, key.name));
        (hash >> (64 - SHARD_BITS)) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{
        Get, GetOutcome, ReadSession, ReadSessionOutcome, ReleaseLock, ReleaseLockOutcome, Store,
        StoreMode, StoreOutcome, WriteSession,
    };
    use crate::item::{Item, LockCookie};
    use crate::key::{Key, NamespaceId};
    use crate::memory::charge;
    use crate::shard::Lookup;
    use crate::time::Expiry;

    /// A journal that keeps every effect and can be told to refuse writes.
    #[derive(Debug, Default)]
    struct Switchable {
        refusing: std::sync::atomic::AtomicBool,
        effects: parking_lot::Mutex<Vec<String>>,
    }

    impl Journal for Switchable {
        fn record(&self, effect: &Effect<'_>) {
            self.effects.lock().push(format!("{:?}", effect.change));
        }

        fn accepting(&self) -> bool {
            !self.refusing.load(std::sync::atomic::Ordering::Relaxed)
        }
    }

    fn secs(s: u64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    fn set_in(engine: &Engine, namespace: u32, name: &[u8], expiry: Expiry, now: Timestamp) {
        let key = Key::new(NamespaceId(namespace), name);
        let store = Store::new(key, b"value", 0, expiry, StoreMode::Set);
        assert!(matches!(
            engine.run(&store, now),
            Ok(StoreOutcome::Stored { .. })
        ));
    }

    fn set(engine: &Engine, name: &[u8], now: Timestamp) {
        set_in(engine, 0, name, Expiry::Never, now);
    }

    fn present_in(engine: &Engine, namespace: u32, name: &[u8], now: Timestamp) -> bool {
        let get = Get::new(Key::new(NamespaceId(namespace), name));
        matches!(engine.run(&get, now), Ok(GetOutcome::Hit(_)))
    }

    fn present(engine: &Engine, name: &[u8], now: Timestamp) -> bool {
        present_in(engine, 0, name, now)
    }

    fn flush_at(engine: &Engine, namespace: Option<u32>, at: Option<u64>, now: Timestamp) {
        let flush = Flush {
            namespace: namespace.map(NamespaceId),
            at: at.map(secs),
        };
        engine.flush(&flush, now).expect("no journal refuses it");
    }

    /// Enough keys to land in most shards.
    fn many_keys() -> Vec<Vec<u8>> {
        (0..300).map(|i| format!("key-{i}").into_bytes()).collect()
    }

    /// Runs `f` on the live item under `key`, reaching past the command set.
    fn with_item(engine: &Engine, key: Key<'_>, f: impl FnOnce(&mut Item)) {
        let hash = engine.table_hasher.hash_one((key.namespace, key.name));
        let mut shard = engine.shards[engine.shard_of(key)].0.lock();
        let Lookup::Live(index) = shard.lookup(hash, key, Timestamp::EPOCH, &engine.memory) else {
            panic!("no live item");
        };
        f(shard.item_mut(index));
    }

    #[test]
    fn a_delayed_flush_removes_what_was_stored_before_its_time() {
        let engine = Engine::new(EngineConfig::default());
        set(&engine, b"before", secs(1));
        flush_at(&engine, None, Some(10), secs(2));
        set(&engine, b"meanwhile", secs(5));
        assert!(present(&engine, b"before", secs(9)));
        assert!(present(&engine, b"meanwhile", secs(9)));
        // At its time the flush runs before anything else: what is stored then survives.
        set(&engine, b"at", secs(10));
        set(&engine, b"after", secs(12));
        assert!(!present(&engine, b"before", secs(12)));
        assert!(!present(&engine, b"meanwhile", secs(12)));
        assert!(present(&engine, b"at", secs(12)));
        assert!(present(&engine, b"after", secs(12)));
        assert_eq!(engine.stats().curr_items, 2);
    }

    #[test]
    fn a_delayed_flush_reaches_every_shard() {
        let engine = Engine::new(EngineConfig::default());
        let keys = many_keys();
        for key in &keys {
            set(&engine, key, secs(1));
        }
        flush_at(&engine, None, Some(10), secs(2));
        for key in &keys[..10] {
            set(&engine, key, secs(3));
        }
        // Shards apply a due flush lazily, on their next command; a sweep visits them all.
        assert_eq!(engine.expire_due(secs(10), 0), 0);
        let stats = engine.stats();
        assert_eq!(
            (stats.curr_items, stats.memory_used, stats.bytes),
            (0, 0, 0)
        );
        assert!(keys.iter().all(|key| !present(&engine, key, secs(11))));
    }

    #[test]
    fn an_immediate_flush_cancels_a_pending_delayed_one() {
        let engine = Engine::new(EngineConfig::default());
        set(&engine, b"old", secs(1));
        flush_at(&engine, None, Some(10), secs(2));
        flush_at(&engine, None, None, secs(3));
        assert!(!present(&engine, b"old", secs(3)));
        set(&engine, b"new", secs(4));
        assert!(
            present(&engine, b"new", secs(11)),
            "the delayed flush was cancelled"
        );
    }

    #[test]
    fn a_flush_at_a_time_not_in_the_future_is_immediate() {
        let engine = Engine::new(EngineConfig::default());
        set(&engine, b"old", secs(1));
        flush_at(&engine, None, Some(5), secs(5));
        assert_eq!(engine.stats().curr_items, 0);
        set(&engine, b"new", secs(5));
        assert!(present(&engine, b"new", secs(6)));
    }

    #[test]
    fn a_later_delayed_flush_replaces_a_pending_one() {
        let engine = Engine::new(EngineConfig::default());
        set(&engine, b"k", secs(1));
        flush_at(&engine, None, Some(10), secs(2));
        flush_at(&engine, None, Some(20), secs(3));
        assert!(present(&engine, b"k", secs(15)));
        assert!(!present(&engine, b"k", secs(20)));
    }

    #[test]
    fn a_due_delayed_flush_is_not_lost_when_a_later_one_replaces_it() {
        let engine = Engine::new(EngineConfig::default());
        set(&engine, b"old", secs(1));
        flush_at(&engine, None, Some(10), secs(2));
        // Nothing touches the shard of "old" between 10 s and the second flush.
        flush_at(&engine, None, Some(30), secs(20));
        assert!(
            !present(&engine, b"old", secs(21)),
            "stored before the 10 s flush"
        );
    }

    #[test]
    fn an_immediate_namespace_flush_does_not_cancel_a_pending_flush_of_all() {
        let engine = Engine::new(EngineConfig::default());
        set_in(&engine, 2, b"k", Expiry::Never, secs(1));
        flush_at(&engine, None, Some(10), secs(2));
        flush_at(&engine, Some(1), None, secs(3));
        assert!(present_in(&engine, 2, b"k", secs(9)));
        assert!(!present_in(&engine, 2, b"k", secs(10)));
    }

    #[test]
    fn a_namespace_flush_leaves_other_namespaces_alone() {
        let engine = Engine::new(EngineConfig::default());
        set_in(&engine, 1, b"k", Expiry::Never, secs(1));
        set_in(&engine, 2, b"k", Expiry::Never, secs(1));
        flush_at(&engine, Some(1), Some(10), secs(2));
        flush_at(&engine, Some(2), None, secs(3));
        assert!(
            present_in(&engine, 1, b"k", secs(9)),
            "its own flush is later"
        );
        assert!(!present_in(&engine, 2, b"k", secs(9)));
        set_in(&engine, 2, b"k", Expiry::Never, secs(9));
        assert!(!present_in(&engine, 1, b"k", secs(10)));
        assert!(present_in(&engine, 2, b"k", secs(10)));
    }

    #[test]
    fn expired_items_stay_charged_until_looked_up_or_swept() {
        let engine = Engine::new(EngineConfig::default());
        set_in(&engine, 0, b"a", Expiry::At(secs(10)), secs(1));
        set_in(&engine, 0, b"b", Expiry::At(secs(10)), secs(1));
        let one = charge(1, b"value".len());
        // Dead, not yet removed: counted as memcached counts them.
        assert_eq!(engine.stats().memory_used, 2 * one);
        assert!(!present(&engine, b"a", secs(10)));
        assert_eq!(engine.stats().memory_used, one);
        assert_eq!(engine.expire_due(secs(10), usize::MAX), 1);
        let stats = engine.stats();
        assert_eq!((stats.curr_items, stats.memory_used), (0, 0));
        assert_eq!(stats.counters.expired, 2);
        assert_eq!(stats.counters.expired_unfetched, 2);
    }

    #[test]
    fn expire_due_examines_at_most_the_budget_in_each_shard() {
        let engine = Engine::new(EngineConfig::default());
        let keys = many_keys();
        for key in &keys {
            set_in(&engine, 0, key, Expiry::At(secs(5)), secs(1));
        }
        assert_eq!(engine.expire_due(secs(4), usize::MAX), 0);
        let mut calls = 0;
        let mut removed = 0;
        loop {
            let now = engine.expire_due(secs(6), 1);
            assert!(now <= SHARDS, "one entry per shard per call");
            if now == 0 {
                break;
            }
            removed += now;
            calls += 1;
        }
        assert_eq!(removed, keys.len());
        assert!(calls >= keys.len().div_ceil(SHARDS));
        assert_eq!(engine.stats().curr_items, 0);
    }

    #[test]
    fn lock_cookies_wrap_from_i32_max_to_two() {
        let engine = Engine::new(EngineConfig::default());
        let key = Key::default_namespace(b"session");
        let write = WriteSession {
            key,
            value: b"data",
            timeout: Some(std::time::Duration::from_secs(60)),
            cookie: None,
            uninitialized: false,
        };
        engine.run(&write, secs(1)).unwrap();
        with_item(&engine, key, |item| {
            item.cookie = LockCookie(i32::MAX as u32 - 1)
        });
        let lock = |now| match engine.run(
            &ReadSession {
                key,
                exclusive: true,
            },
            now,
        ) {
            Ok(ReadSessionOutcome::Found {
                cookie: Some(cookie),
                ..
            }) => cookie,
            other => panic!("expected the lock, got {other:?}"),
        };
        let release = |cookie, now| {
            engine
                .run(&ReleaseLock { key, cookie }, now)
                .expect("no journal refuses it")
        };
        let last = lock(secs(2));
        assert_eq!(last, LockCookie(i32::MAX as u32));
        assert!(matches!(
            release(last, secs(3)),
            ReleaseLockOutcome::Released { .. }
        ));
        // Cookies are signed 32-bit on the wire; 1 is a new item's, so the next is 2.
        let wrapped = lock(secs(4));
        assert_eq!(wrapped, LockCookie(2));
        assert!(
            matches!(release(last, secs(5)), ReleaseLockOutcome::Locked { lock, .. } if lock.cookie == wrapped),
            "the cookie before the wrap does not release the new lock"
        );
        assert!(matches!(
            release(wrapped, secs(6)),
            ReleaseLockOutcome::Released { .. }
        ));
        assert_eq!(lock(secs(7)), LockCookie(3));
    }

    #[test]
    fn a_journal_that_cannot_write_refuses_writes_and_lets_reads_through() {
        let journal = Arc::new(Switchable::default());
        let engine = Engine::new(EngineConfig::default());
        assert!(engine.attach_journal(journal.clone()).is_ok());
        let key = Key::new(NamespaceId(0), b"k");
        let sliding = Expiry::Sliding(std::time::Duration::from_secs(10));
        let store = Store::new(key, b"v1", 0, sliding, StoreMode::Set);
        assert!(engine.run(&store, secs(1)).is_ok());
        assert_eq!(journal.effects.lock().len(), 1, "the store is journaled");
        journal
            .refusing
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let overwrite = Store::new(key, b"v2", 0, sliding, StoreMode::Set);
        assert_eq!(
            engine.run(&overwrite, secs(2)),
            Err(EngineError::Unavailable)
        );
        let lock = ReadSession {
            key,
            exclusive: true,
        };
        assert_eq!(engine.run(&lock, secs(2)), Err(EngineError::Unavailable));
        let flush = Flush {
            namespace: None,
            at: None,
        };
        assert_eq!(engine.flush(&flush, secs(2)), Err(EngineError::Unavailable));
        // Reads go on, and their renewals wait to be drained rather than being lost.
        assert!(present(&engine, b"k", secs(3)));
        assert_eq!(journal.effects.lock().len(), 1);
        engine.drain_renewals(secs(4));
        let effects = journal.effects.lock().clone();
        assert_eq!(effects.len(), 2, "{effects:?}");
        assert!(effects[1].starts_with("Meta("), "{effects:?}");
        journal
            .refusing
            .store(false, std::sync::atomic::Ordering::Relaxed);
        assert!(engine.run(&overwrite, secs(5)).is_ok());
    }
}
