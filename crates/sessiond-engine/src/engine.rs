//! The engine: shards, routing of commands to them, the expiry sweep and the stats.

use std::hash::BuildHasher;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex, MutexGuard};

use crate::command::{
    Apply, Command, Flush, Outcome, Rename, RenameOutcome, Scan, ScanPage, ShardContext,
};
use crate::error::EngineError;
use crate::events::{ExpiredKey, ExpiryEvents};
use crate::journal::{Change, Effect, Journal};
use crate::key::{Key, NamespaceId};
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

/// The largest value the engine builds itself (collections, appends, increments) unless set
/// otherwise with [`Engine::set_max_value_size`]: Redis's default `proto-max-bulk-len`.
pub const DEFAULT_MAX_VALUE_SIZE: usize = 512 << 20;

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
    /// Keys that expired, for the namespaces that asked.
    events: ExpiryEvents,
    /// The value size limit of values the engine builds.
    max_value: AtomicUsize,
}

/// A shard locked for a command. When unlocked it hands the keys it expired meanwhile to the
/// engine's expiry events, still under the lock, so one key's events stay in order.
struct LockedShard<'e> {
    guard: MutexGuard<'e, Shard>,
    events: &'e ExpiryEvents,
}

impl Deref for LockedShard<'_> {
    type Target = Shard;

    fn deref(&self) -> &Shard {
        &self.guard
    }
}

impl DerefMut for LockedShard<'_> {
    fn deref_mut(&mut self) -> &mut Shard {
        &mut self.guard
    }
}

impl Drop for LockedShard<'_> {
    fn drop(&mut self) {
        if !self.guard.expired.is_empty() {
            self.events.publish(&mut self.guard.expired);
        }
    }
}

/// Several shards locked in index order, for commands on several keys.
pub(crate) struct LockedShards<'e> {
    shards: Vec<(usize, LockedShard<'e>)>,
}

impl LockedShards<'_> {
    /// The locked shard `index`, which must be one of the set's.
    pub(crate) fn get(&mut self, index: usize) -> &mut Shard {
        let position = self
            .shards
            .binary_search_by_key(&index, |(shard, _)| *shard)
            .unwrap_or_else(|_| unreachable!("shard {index} is not locked"));
        &mut self.shards[position].1
    }
}

/// A set of keys locked together by [`Engine::atomically`]: ordinary commands on those keys
/// run through it, one after another, with no other command on them in between.
pub struct Transaction<'e, 'k> {
    engine: &'e Engine,
    keys: &'k [Key<'k>],
    shards: LockedShards<'e>,
    now: Timestamp,
}

impl Transaction<'_, '_> {
    /// Applies a keyed command at the block's time, as [`Engine::run`] would. A key the block
    /// did not declare is refused with [`EngineError::UndeclaredKey`], and nothing runs.
    pub fn run<C: Apply>(&mut self, command: &C) -> Result<C::Outcome, EngineError> {
        let key = command.key();
        if !self.keys.contains(&key) {
            return Err(EngineError::UndeclaredKey);
        }
        let engine = self.engine;
        if let Some(refused) = engine.refused(command) {
            return Ok(refused);
        }
        let shard = self.shards.get(engine.shard_of(key));
        Ok(engine.apply_locked(shard, command, self.now))
    }

    /// Renames a key, as [`Engine::rename`] would; both keys must be declared.
    pub fn rename(&mut self, rename: &Rename<'_>) -> Result<RenameOutcome, EngineError> {
        if !self.keys.contains(&rename.from) || !self.keys.contains(&rename.to) {
            return Err(EngineError::UndeclaredKey);
        }
        self.engine.refuse_write()?;
        self.engine
            .rename_locked(&mut self.shards, rename, self.now)
    }

    /// The time every command of the block runs at.
    pub fn now(&self) -> Timestamp {
        self.now
    }
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
            events: ExpiryEvents::new(),
            max_value: AtomicUsize::new(DEFAULT_MAX_VALUE_SIZE),
        }
    }

    /// Sends every later change to `journal`. An engine has at most one journal; attaching a
    /// second one returns it back as the error.
    pub fn attach_journal(&self, journal: Arc<dyn Journal>) -> Result<(), Arc<dyn Journal>> {
        self.journal.set(journal)
    }

    /// Applies a keyed command at time `now`.
    pub fn run<C: Apply>(&self, command: &C, now: Timestamp) -> C::Outcome {
        if let Some(refused) = self.refused(command) {
            return refused;
        }
        let mut shard = self.lock(self.shard_of(command.key()), now);
        self.apply_locked(&mut shard, command, now)
    }

    /// Runs `block` with the shards of `keys` locked (each once, in index order, so two
    /// blocks cannot deadlock), for scripts that must run several commands atomically: no
    /// other command touches those keys until the block returns. The block runs commands on
    /// the declared keys only, through its [`Transaction`], all at time `now`; each command's
    /// effects reach the journal as if it had run alone.
    ///
    /// The block must not call the engine itself: a command on a locked shard would wait for
    /// the block forever.
    ///
    /// The transaction's lifetimes are the caller's (the engine's borrow and the keys'), so a
    /// caller can keep it beside other borrows of its own, as the Redis protocol's `EXEC` does.
    pub fn atomically<'e, 'k, R>(
        &'e self,
        keys: &'k [Key<'k>],
        now: Timestamp,
        block: impl FnOnce(&mut Transaction<'e, 'k>) -> R,
    ) -> R {
        let mut transaction = Transaction {
            engine: self,
            keys,
            shards: self.lock_all(keys.iter().map(|&key| self.shard_of(key)), now),
            now,
        };
        block(&mut transaction)
    }

    /// Renames a key: `to` takes `from`'s value, type and expiry (a rename is not an access),
    /// replacing whatever `to` held, and `from` is gone, in one step across both keys'
    /// shards. The journal hears `Remove(from)` and `Put(to)` (`Meta(to)` when `to` held
    /// the same bytes already).
    pub fn rename(
        &self,
        rename: &Rename<'_>,
        now: Timestamp,
    ) -> Result<RenameOutcome, EngineError> {
        self.refuse_write()?;
        let shards = [self.shard_of(rename.from), self.shard_of(rename.to)];
        let mut locked = self.lock_all(shards.into_iter(), now);
        self.rename_locked(&mut locked, rename, now)
    }

    /// One step of a cursor-based scan of a namespace's keys.
    ///
    /// Start with cursor 0 and pass each page's cursor to the next call; a page with cursor 0
    /// ends the scan. As with Redis's `SCAN`, every key present for the whole scan is returned
    /// at least once (here: exactly once), keys added or removed meanwhile may or may not be,
    /// and a page may hold fewer keys than asked for, even none, before the end. Each call
    /// examines at most ten slots per key asked for, so its cost is bounded whatever the
    /// namespace's size. Expired items met on the way are removed and journaled, as any
    /// access does.
    ///
    /// The cursor is opaque: shard and position in the shard's slab. It is meaningful on the
    /// engine that issued it; a cursor taken elsewhere (another node) still ends the scan but
    /// may skip keys.
    pub fn scan(&self, scan: &Scan, now: Timestamp) -> ScanPage {
        let max_keys = scan.count.max(1);
        let mut budget = max_keys.saturating_mul(10);
        let mut page = ScanPage {
            keys: Vec::new(),
            cursor: 0,
        };
        let mut shard_index = (scan.cursor >> 32) as usize;
        let mut position = scan.cursor as u32;
        while shard_index < SHARDS {
            let wanted = max_keys - page.keys.len();
            let mut shard = self.lock(shard_index, now);
            let next = shard.scan(
                scan.namespace,
                scan.value_type,
                position,
                wanted,
                &mut budget,
                now,
                &self.memory,
                self.journal.get().map(|journal| journal.as_ref()),
                &mut page.keys,
            );
            drop(shard);
            if let Some(next) = next {
                page.cursor = (shard_index as u64) << 32 | u64::from(next);
                return page;
            }
            shard_index += 1;
            position = 0;
            if page.keys.len() >= max_keys || budget == 0 {
                if shard_index < SHARDS {
                    page.cursor = (shard_index as u64) << 32;
                }
                return page;
            }
        }
        page
    }

    /// How many items `namespace` holds: O(shards), from counts kept as items come and go.
    /// Expired items not yet removed are counted, as Redis's `DBSIZE` counts them.
    pub fn key_count(&self, namespace: NamespaceId) -> u64 {
        self.shards
            .iter()
            .map(|shard| {
                let shard = shard.0.lock();
                self.tell_journal_seen(&shard);
                shard.namespace_len(namespace)
            })
            .sum()
    }

    /// How many of `keys` hold a live item at `now`, a key named twice counted twice (Redis's
    /// `EXISTS`). Each key is checked on its own, not all at one instant; nothing is renewed.
    pub fn count_existing(&self, keys: &[Key<'_>], now: Timestamp) -> usize {
        keys.iter()
            .filter(|&&key| self.run(&crate::command::Inspect { key }, now).is_some())
            .count()
    }

    /// Starts (`report` true) or stops reporting the keys of `namespace` that expire, to be
    /// taken with [`Engine::drain_expired`]. Nothing is reported, and reporting costs nothing,
    /// until a namespace asks.
    pub fn report_expired(&self, namespace: NamespaceId, report: bool) {
        self.events.watch(namespace, report);
    }

    /// Whether the keys of `namespace` that expire are reported.
    pub fn reports_expired(&self, namespace: NamespaceId) -> bool {
        self.events.watching(namespace)
    }

    /// Moves the keys that expired since the last call to `out`, in the order they expired
    /// (within a shard; shards interleave as their commands ran).
    pub fn drain_expired(&self, out: &mut Vec<ExpiredKey>) {
        self.events.drain(out);
    }

    /// How many expiry events were dropped because the queue was full.
    pub fn dropped_expired(&self) -> u64 {
        self.events.dropped()
    }

    /// Sets how many expiry events wait for [`Engine::drain_expired`] before new ones are
    /// dropped ([`DEFAULT_EXPIRY_EVENT_CAPACITY`](crate::DEFAULT_EXPIRY_EVENT_CAPACITY) until
    /// then).
    pub fn set_expiry_event_capacity(&self, capacity: usize) {
        self.events.set_capacity(capacity);
    }

    /// Sets the largest value the engine builds itself: a collection's encoded size, an
    /// appended string, a written string. Writes past it are refused with
    /// [`EngineError::TooLarge`]. Stores by the memcached, ASP.NET and sharedance commands
    /// are bounded by their protocols' own limits instead.
    pub fn set_max_value_size(&self, bytes: usize) {
        self.max_value.store(bytes, Ordering::Relaxed);
    }

    /// Applies any command at time `now`.
    pub fn execute(&self, command: &Command<'_>, now: Timestamp) -> Outcome {
        match command {
            Command::Append(c) => Outcome::Append(self.run(c, now)),
            Command::Arithmetic(c) => Outcome::Arithmetic(self.run(c, now)),
            Command::Delete(c) => Outcome::Delete(self.run(c, now)),
            Command::Expire(c) => Outcome::Expire(self.run(c, now)),
            Command::Flush(c) => Outcome::Flush(self.flush(c, now)),
            Command::Get(c) => Outcome::Get(self.run(c, now)),
            Command::GetAndDelete(c) => Outcome::GetAndDelete(self.run(c, now)),
            Command::GetAndExpire(c) => Outcome::GetAndExpire(self.run(c, now)),
            Command::HashDelete(c) => Outcome::HashDelete(self.run(c, now)),
            Command::HashIncrement(c) => Outcome::HashIncrement(self.run(c, now)),
            Command::HashIncrementFloat(c) => Outcome::HashIncrementFloat(self.run(c, now)),
            Command::HashRead(c) => Outcome::HashRead(self.run(c, now)),
            Command::HashReadAll(c) => Outcome::HashReadAll(self.run(c, now)),
            Command::HashWrite(c) => Outcome::HashWrite(self.run(c, now)),
            Command::Increment(c) => Outcome::Increment(self.run(c, now)),
            Command::Inspect(c) => Outcome::Inspect(self.run(c, now)),
            Command::Length(c) => Outcome::Length(self.run(c, now)),
            Command::Persist(c) => Outcome::Persist(self.run(c, now)),
            Command::Rename(c) => Outcome::Rename(self.rename(c, now)),
            Command::Scan(c) => Outcome::Scan(self.scan(c, now)),
            Command::SetAdd(c) => Outcome::SetAdd(self.run(c, now)),
            Command::SetContains(c) => Outcome::SetContains(self.run(c, now)),
            Command::SetMembers(c) => Outcome::SetMembers(self.run(c, now)),
            Command::SetRemove(c) => Outcome::SetRemove(self.run(c, now)),
            Command::SortedSetAdd(c) => Outcome::SortedSetAdd(self.run(c, now)),
            Command::SortedSetIncrement(c) => Outcome::SortedSetIncrement(self.run(c, now)),
            Command::SortedSetRangeByIndex(c) => Outcome::SortedSetRangeByIndex(self.run(c, now)),
            Command::SortedSetRangeByScore(c) => Outcome::SortedSetRangeByScore(self.run(c, now)),
            Command::SortedSetRemove(c) => Outcome::SortedSetRemove(self.run(c, now)),
            Command::SortedSetRemoveByScore(c) => Outcome::SortedSetRemoveByScore(self.run(c, now)),
            Command::SortedSetScores(c) => Outcome::SortedSetScores(self.run(c, now)),
            Command::ReadSession(c) => Outcome::ReadSession(self.run(c, now)),
            Command::ReleaseLock(c) => Outcome::ReleaseLock(self.run(c, now)),
            Command::RemoveSession(c) => Outcome::RemoveSession(self.run(c, now)),
            Command::ResetTimeout(c) => Outcome::ResetTimeout(self.run(c, now)),
            Command::Store(c) => Outcome::Store(self.run(c, now)),
            Command::Touch(c) => Outcome::Touch(self.run(c, now)),
            Command::WriteSession(c) => Outcome::WriteSession(self.run(c, now)),
            Command::WriteString(c) => Outcome::WriteString(self.run(c, now)),
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
                shard.journal_mark = journal.record(&Effect { time: now, change });
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
        (0..SHARDS)
            .map(|index| {
                self.lock(index, now)
                    .expire_due(now, budget_per_shard, &self.memory)
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

    /// Locks shard `index` for commands at `now`: runs what came due (delayed flushes) and
    /// tells it whether to collect expired keys for the events.
    fn lock(&self, index: usize, now: Timestamp) -> LockedShard<'_> {
        let mut guard = self.shards[index].0.lock();
        self.tell_journal_seen(&guard);
        guard.collect_expired = self.events.active();
        guard.begin(now, &self.memory);
        LockedShard {
            guard,
            events: &self.events,
        }
    }

    /// Tells the journal that a command is about to read `shard` (see [`Journal::saw`]).
    fn tell_journal_seen(&self, shard: &Shard) {
        if let Some(journal) = self.journal.get() {
            journal.saw(shard.journal_mark);
        }
    }

    /// Locks the given shards, each once, in index order: any two callers lock shared shards
    /// in the same order, so they cannot deadlock.
    fn lock_all(&self, shards: impl Iterator<Item = usize>, now: Timestamp) -> LockedShards<'_> {
        let mut indexes: Vec<usize> = shards.collect();
        indexes.sort_unstable();
        indexes.dedup();
        let shards = indexes
            .into_iter()
            .map(|index| (index, self.lock(index, now)))
            .collect();
        LockedShards { shards }
    }

    /// The outcome that refuses `command` while the journal cannot write, if it is a write.
    fn refused<C: Apply>(&self, command: &C) -> Option<C::Outcome> {
        let journal = self.journal.get()?;
        if journal.accepting() {
            return None;
        }
        command.refusal(EngineError::Unavailable)
    }

    /// Refuses a write while the journal cannot take it.
    fn refuse_write(&self) -> Result<(), EngineError> {
        match self.journal.get() {
            Some(journal) if !journal.accepting() => Err(EngineError::Unavailable),
            _ => Ok(()),
        }
    }

    fn table_hash(&self, key: Key<'_>) -> u64 {
        self.table_hasher.hash_one((key.namespace, key.name))
    }

    fn context<'s>(
        &'s self,
        shard: &'s mut Shard,
        hash: u64,
        journaling: bool,
    ) -> ShardContext<'s> {
        ShardContext {
            shard,
            memory: &self.memory,
            hash,
            journaling,
            max_value: self.max_value.load(Ordering::Relaxed),
        }
    }

    /// Applies a keyed command to its locked shard and tells the journal what it changed.
    fn apply_locked<C: Apply>(&self, shard: &mut Shard, command: &C, now: Timestamp) -> C::Outcome {
        let key = command.key();
        let hash = self.table_hash(key);
        let Some(journal) = self.journal.get() else {
            return command.apply(&mut self.context(shard, hash, false), now);
        };
        let expired_before = shard.counters.expired;
        // A plain read changes nothing durable: no before/after comparison for it.
        let before = command.journaled().then(|| shard.durable(hash, key, now));
        let outcome = command.apply(&mut self.context(shard, hash, true), now);
        let recorded = before
            .is_some_and(|before| shard.journal_change(before, hash, key, now, journal.as_ref()));
        if !recorded && shard.counters.expired != expired_before {
            record_expiry_met(shard, journal.as_ref(), key, now);
        }
        outcome
    }

    /// A rename with both keys' shards locked.
    fn rename_locked(
        &self,
        shards: &mut LockedShards<'_>,
        rename: &Rename<'_>,
        now: Timestamp,
    ) -> Result<RenameOutcome, EngineError> {
        let from = (self.shard_of(rename.from), self.table_hash(rename.from));
        let to = (self.shard_of(rename.to), self.table_hash(rename.to));
        let journal = self.journal.get();
        let before = journal.map(|_| {
            (
                shards.get(from.0).durable(from.1, rename.from, now),
                shards.get(to.0).durable(to.1, rename.to, now),
            )
        });
        let expired_before = shards.get(from.0).counters.expired;
        let outcome = rename.apply(shards, from, to, &self.memory, now);
        if let (Some(journal), Some((before_from, before_to))) = (journal, before) {
            let journal = journal.as_ref();
            let from_shard = shards.get(from.0);
            let recorded =
                from_shard.journal_change(before_from, from.1, rename.from, now, journal);
            if !recorded && from_shard.counters.expired != expired_before {
                // "No such key" because it expired.
                record_expiry_met(from_shard, journal, rename.from, now);
            }
            if rename.to != rename.from {
                shards
                    .get(to.0)
                    .journal_change(before_to, to.1, rename.to, now, journal);
            }
        }
        outcome
    }
}

/// Records that a command found `key`'s item expired at `now` and removed it.
///
/// Expiry is otherwise never recorded: replay and followers recompute it from the recorded
/// times. But a reply that says "expired" must not be taken back: on a cluster, a new leader
/// whose clock is behind would find the item alive again if nothing stamped after its deadline
/// was committed. The removal, stamped with `now`, is that stamp, and the reply waits for it
/// like any write's. It is skipped while the journal refuses writes (reads go on then, and
/// recovery recomputes the expiry anyway).
fn record_expiry_met(shard: &mut Shard, journal: &dyn Journal, key: Key<'_>, now: Timestamp) {
    if journal.accepting() {
        shard.journal_mark = journal.record(&Effect {
            time: now,
            change: Change::Remove(key),
        });
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
    use crate::journal::JournalMark;
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
        fn record(&self, effect: &Effect<'_>) -> JournalMark {
            let mut effects = self.effects.lock();
            effects.push(format!("{:?}", effect.change));
            JournalMark {
                epoch: 1,
                seq: effects.len() as u64,
            }
        }

        fn accepting(&self) -> bool {
            !self.refusing.load(std::sync::atomic::Ordering::Relaxed)
        }
    }

    fn secs(s: u64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    /// An engine that tells a [`Switchable`] journal everything, and that journal.
    fn journaled_engine() -> (Engine, Arc<Switchable>) {
        let journal = Arc::new(Switchable::default());
        let engine = Engine::new(EngineConfig::default());
        assert!(engine.attach_journal(journal.clone()).is_ok());
        (engine, journal)
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
        let (engine, journal) = journaled_engine();
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

    #[test]
    fn a_write_of_the_bytes_already_held_is_journaled_without_them() {
        let (engine, journal) = journaled_engine();
        let key = Key::new(NamespaceId(0), b"session");
        let write = |value: &[u8], now| {
            let store = Store::new(key, value, 7, Expiry::At(secs(100)), StoreMode::Set);
            assert!(matches!(
                engine.run(&store, now),
                Ok(StoreOutcome::Stored { .. })
            ));
        };
        write(b"cart=1", secs(1));
        write(b"cart=1", secs(2));
        write(b"cart=2", secs(3));
        let effects = journal.effects.lock().clone();
        assert_eq!(effects.len(), 3, "{effects:?}");
        assert!(effects[0].starts_with("Put("), "{effects:?}");
        // The same bytes again: a new version (cas) and nothing else to log.
        assert!(effects[1].starts_with("Meta("), "{effects:?}");
        assert!(effects[1].contains("value: []"), "{effects:?}");
        assert!(effects[2].starts_with("Put("), "{effects:?}");
        let get = Get::new(key);
        assert!(matches!(
            engine.run(&get, secs(4)),
            Ok(GetOutcome::Hit(item)) if &item.value[..] == b"cart=2"
        ));
    }

    /// A journal that replays every effect into a second engine at once, as recovery and a
    /// follower do.
    #[derive(Debug)]
    struct Mirror {
        replica: Engine,
    }

    impl Journal for Mirror {
        fn record(&self, effect: &Effect<'_>) -> JournalMark {
            self.replica.restore(effect);
            JournalMark::default()
        }

        fn accepting(&self) -> bool {
            true
        }
    }

    /// Every item's durable state, in a comparable order.
    fn durable_items(engine: &Engine) -> Vec<String> {
        let mut items: Vec<String> = (0..SHARDS)
            .flat_map(|shard| engine.snapshot_shard(shard).items)
            .map(|item| format!("{item:?}"))
            .collect();
        items.sort();
        items
    }

    #[test]
    fn writes_of_the_bytes_already_held_replay_to_the_same_store() {
        let mirror = Arc::new(Mirror {
            replica: Engine::new(EngineConfig::default()),
        });
        let engine = Engine::new(EngineConfig::default());
        assert!(engine.attach_journal(mirror.clone()).is_ok());
        // A rename onto a key that holds the same bytes.
        set_in(&engine, 0, b"from", Expiry::At(secs(100)), secs(1));
        set_in(&engine, 0, b"to", Expiry::Never, secs(1));
        let rename = Rename {
            from: Key::new(NamespaceId(0), b"from"),
            to: Key::new(NamespaceId(0), b"to"),
            only_if_absent: false,
        };
        assert_eq!(engine.rename(&rename, secs(2)), Ok(RenameOutcome::Renamed));
        // An ASP.NET session created uninitialized, read (which clears the flag), locked, and
        // written back unchanged with its cookie (which releases the lock); then locked again.
        let session = Key::new(NamespaceId(1), b"session");
        let write = |cookie, uninitialized, now| {
            let write = WriteSession {
                key: session,
                value: b"cart=1",
                timeout: Some(std::time::Duration::from_secs(20)),
                cookie,
                uninitialized,
            };
            assert!(engine.run(&write, now).is_ok());
        };
        let read = |exclusive, now| {
            let read = ReadSession {
                key: session,
                exclusive,
            };
            engine.run(&read, now)
        };
        write(None, true, secs(3));
        assert!(read(false, secs(4)).is_ok());
        let Ok(ReadSessionOutcome::Found {
            cookie: Some(cookie),
            ..
        }) = read(true, secs(5))
        else {
            panic!("the session was not locked");
        };
        write(Some(cookie), false, secs(6));
        assert!(read(true, secs(7)).is_ok());
        assert_eq!(durable_items(&engine), durable_items(&mirror.replica));
    }

    fn names(keys: &[bytes::Bytes]) -> Vec<Vec<u8>> {
        let mut names: Vec<Vec<u8>> = keys.iter().map(|key| key.to_vec()).collect();
        names.sort();
        names
    }

    /// Every page of a scan of `namespace`, running `between` after each page.
    fn scan_all(
        engine: &Engine,
        namespace: u32,
        count: usize,
        value_type: Option<crate::ValueType>,
        now: Timestamp,
        mut between: impl FnMut(usize),
    ) -> Vec<bytes::Bytes> {
        let mut scan = Scan {
            namespace: NamespaceId(namespace),
            cursor: 0,
            count,
            value_type,
        };
        let mut keys = Vec::new();
        for page in 0.. {
            let result = engine.scan(&scan, now);
            assert!(result.keys.len() <= count.max(1));
            keys.extend(result.keys);
            if result.cursor == 0 {
                break;
            }
            scan.cursor = result.cursor;
            between(page);
        }
        keys
    }

    #[test]
    fn a_scan_returns_every_key_present_throughout_exactly_once_despite_changes() {
        let engine = Engine::new(EngineConfig::default());
        let stable = many_keys();
        for key in &stable {
            set_in(&engine, 3, key, Expiry::Never, secs(1));
            set_in(&engine, 4, key, Expiry::Never, secs(1));
        }
        let doomed: Vec<Vec<u8>> = (0..200)
            .map(|i| format!("doomed-{i}").into_bytes())
            .collect();
        for key in &doomed {
            set_in(&engine, 3, key, Expiry::Never, secs(1));
        }
        let mut added = 0;
        let keys = scan_all(&engine, 3, 7, None, secs(2), |page| {
            // Between pages keys come and go; slots are reused.
            if let Some(key) = doomed.get(page) {
                engine
                    .run(&crate::Delete::new(Key::new(NamespaceId(3), key)), secs(2))
                    .unwrap();
            }
            for _ in 0..3 {
                let key = format!("new-{added}").into_bytes();
                set_in(&engine, 3, &key, Expiry::Never, secs(2));
                added += 1;
            }
        });
        let found = names(&keys);
        let mut deduped = found.clone();
        deduped.dedup();
        assert_eq!(found, deduped, "no key twice");
        for key in &stable {
            assert!(found.contains(key), "{}", String::from_utf8_lossy(key));
        }
        assert!(
            found
                .iter()
                .all(|key| !key.starts_with(b"key") || stable.contains(key))
        );
        // Namespace 4 was never listed.
        assert_eq!(names(&scan_all(&engine, 4, 1000, None, secs(2), |_| {})), {
            let mut stable = stable.clone();
            stable.sort();
            stable
        });
    }

    #[test]
    fn a_scan_filters_by_type_skips_and_removes_expired_keys_and_bounds_its_work() {
        let engine = Engine::new(EngineConfig::default());
        set_in(&engine, 3, b"string", Expiry::Never, secs(1));
        set_in(&engine, 3, b"soon", Expiry::At(secs(5)), secs(1));
        let fields: &[(&[u8], &[u8])] = &[(b"f", b"v")];
        let hash = crate::HashWrite {
            key: Key::new(NamespaceId(3), b"hash"),
            fields,
            only_if_absent: false,
        };
        engine.run(&hash, secs(1)).unwrap();
        let hashes = scan_all(
            &engine,
            3,
            10,
            Some(crate::ValueType::Hash),
            secs(1),
            |_| {},
        );
        assert_eq!(names(&hashes), [b"hash".to_vec()]);
        let all = scan_all(&engine, 3, 1, None, secs(6), |_| {});
        assert_eq!(names(&all), [b"hash".to_vec(), b"string".to_vec()]);
        assert_eq!(engine.stats().counters.expired, 1, "removed as it was met");
        // A small count examines few slots: a scan of an empty namespace among many keys of
        // others pages through them.
        for key in &many_keys() {
            set_in(&engine, 5, key, Expiry::Never, secs(6));
        }
        let empty = Scan {
            namespace: NamespaceId(9),
            cursor: 0,
            count: 1,
            value_type: None,
        };
        let page = engine.scan(&empty, secs(6));
        assert!(page.keys.is_empty());
        assert_ne!(page.cursor, 0, "ten slots examined, more to go");
        let nonsense = Scan {
            cursor: u64::MAX,
            ..empty
        };
        assert_eq!(engine.scan(&nonsense, secs(6)).cursor, 0);
    }

    #[test]
    fn key_counts_follow_inserts_removals_flushes_and_expiry() {
        let engine = Engine::new(EngineConfig::default());
        for key in &many_keys() {
            set_in(&engine, 3, key, Expiry::At(secs(10)), secs(1));
        }
        set_in(&engine, 4, b"other", Expiry::Never, secs(1));
        assert_eq!(engine.key_count(NamespaceId(3)), 300);
        assert_eq!(engine.key_count(NamespaceId(4)), 1);
        engine
            .run(
                &crate::Delete::new(Key::new(NamespaceId(3), b"key-0")),
                secs(1),
            )
            .unwrap();
        assert_eq!(engine.key_count(NamespaceId(3)), 299);
        let rename = Rename {
            from: Key::new(NamespaceId(3), b"key-1"),
            to: Key::new(NamespaceId(4), b"moved"),
            only_if_absent: false,
        };
        engine.rename(&rename, secs(1)).unwrap();
        assert_eq!(engine.key_count(NamespaceId(3)), 298);
        assert_eq!(engine.key_count(NamespaceId(4)), 2);
        // Expired but not yet removed items count, as in Redis.
        assert_eq!(engine.key_count(NamespaceId(3)), 298);
        engine.expire_due(secs(11), usize::MAX);
        assert_eq!(engine.key_count(NamespaceId(3)), 0);
        flush_at(&engine, Some(4), None, secs(12));
        assert_eq!(engine.key_count(NamespaceId(4)), 0);
    }

    #[test]
    fn expiry_events_report_sweeps_and_lazy_expiry_of_watched_namespaces_only() {
        let engine = Engine::new(EngineConfig::default());
        let mut events = Vec::new();
        set_in(&engine, 3, b"unwatched-time", Expiry::At(secs(5)), secs(1));
        engine.expire_due(secs(6), usize::MAX);
        engine.drain_expired(&mut events);
        assert!(events.is_empty(), "nobody asked");

        engine.report_expired(NamespaceId(3), true);
        assert!(engine.reports_expired(NamespaceId(3)));
        for key in &many_keys() {
            set_in(&engine, 3, key, Expiry::At(secs(10)), secs(1));
        }
        set_in(&engine, 4, b"other", Expiry::At(secs(10)), secs(1));
        set_in(&engine, 3, b"lazy", Expiry::At(secs(10)), secs(1));
        set_in(&engine, 3, b"deleted", Expiry::At(secs(10)), secs(1));
        engine
            .run(
                &crate::Delete::new(Key::new(NamespaceId(3), b"deleted")),
                secs(2),
            )
            .unwrap();
        assert!(!present_in(&engine, 3, b"lazy", secs(10)));
        engine.drain_expired(&mut events);
        assert_eq!(
            events,
            [crate::ExpiredKey {
                namespace: NamespaceId(3),
                name: bytes::Bytes::from_static(b"lazy"),
            }]
        );
        events.clear();
        assert_eq!(engine.expire_due(secs(11), usize::MAX), 301);
        engine.drain_expired(&mut events);
        assert_eq!(events.len(), 300);
        assert!(events.iter().all(|event| event.namespace == NamespaceId(3)));
        let mut expected = many_keys();
        expected.sort();
        let mut got: Vec<Vec<u8>> = events.iter().map(|event| event.name.to_vec()).collect();
        got.sort();
        assert_eq!(got, expected);
        assert_eq!(engine.dropped_expired(), 0);

        // A full queue drops and counts.
        engine.set_expiry_event_capacity(10);
        for key in &many_keys() {
            set_in(&engine, 3, key, Expiry::At(secs(20)), secs(12));
        }
        engine.expire_due(secs(21), usize::MAX);
        events.clear();
        engine.drain_expired(&mut events);
        assert_eq!((events.len(), engine.dropped_expired()), (10, 290));
        engine.report_expired(NamespaceId(3), false);
        assert!(!engine.reports_expired(NamespaceId(3)));
    }

    #[test]
    fn the_same_commands_at_the_same_times_report_the_same_expiry_events() {
        let run = || {
            let engine = Engine::new(EngineConfig::default());
            engine.report_expired(NamespaceId(3), true);
            for (i, key) in many_keys().iter().enumerate() {
                set_in(&engine, 3, key, Expiry::At(secs(5 + i as u64 % 7)), secs(1));
            }
            let mut events = Vec::new();
            for second in 5..15 {
                present_in(&engine, 3, b"key-17", secs(second));
                engine.expire_due(secs(second), 3);
                engine.drain_expired(&mut events);
            }
            events
        };
        let first = run();
        assert_eq!(first.len(), 300);
        assert_eq!(first, run());
    }

    #[test]
    fn an_atomic_block_runs_the_lock_release_script_and_refuses_undeclared_keys() {
        let (engine, journal) = journaled_engine();
        let lock = Key::new(NamespaceId(3), b"lock");
        let other = Key::new(NamespaceId(3), b"other");
        set_in(&engine, 3, b"lock", Expiry::Never, secs(1));
        // if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1])
        // else return 0 end
        let release = |token: &[u8]| {
            engine.atomically(&[lock], secs(2), |block| {
                let held = match block.run(&Get::new(lock))? {
                    Ok(GetOutcome::Hit(view)) => view.value == token,
                    _ => false,
                };
                if !held {
                    return Ok(0);
                }
                match block.run(&crate::Delete::new(lock))? {
                    Ok(crate::DeleteOutcome::Deleted) => Ok(1),
                    _ => Ok(0),
                }
            })
        };
        assert_eq!(release(b"not the token"), Ok::<_, EngineError>(0));
        assert_eq!(release(b"value"), Ok(1));
        assert_eq!(release(b"value"), Ok(0));
        let effects = journal.effects.lock().clone();
        assert_eq!(effects.len(), 2, "{effects:?}");
        assert!(effects[1].starts_with("Remove("), "{effects:?}");

        let undeclared = engine.atomically(&[lock, lock], secs(3), |block| {
            block.run(&Get::new(other)).map(|_| ())
        });
        assert_eq!(undeclared, Err(EngineError::UndeclaredKey));
        let rename = Rename {
            from: lock,
            to: other,
            only_if_absent: false,
        };
        let renamed = engine.atomically(&[lock, other], secs(3), |block| {
            set_in_block(block, lock);
            block.rename(&rename)
        });
        assert_eq!(renamed, Ok(RenameOutcome::Renamed));
        assert!(present_in(&engine, 3, b"other", secs(3)));
        assert_eq!(
            engine.atomically(&[lock], secs(3), |block| block.rename(&rename)),
            Err(EngineError::UndeclaredKey)
        );
    }

    fn set_in_block(block: &mut Transaction<'_, '_>, key: Key<'_>) {
        let write = crate::WriteString::new(key, b"v", Expiry::Never);
        assert!(block.run(&write).unwrap().is_ok());
    }

    #[test]
    fn meeting_an_expired_item_is_journaled_as_its_removal_at_that_time() {
        let (engine, journal) = journaled_engine();
        let removal = |name: &[u8]| format!("{:?}", Change::Remove(Key::new(NamespaceId(0), name)));
        set_in(&engine, 0, b"gone", Expiry::At(secs(10)), secs(1));
        set_in(&engine, 0, b"live", Expiry::Never, secs(1));
        journal.effects.lock().clear();
        // Reads of live or absent items record nothing.
        assert!(present(&engine, b"live", secs(11)));
        assert!(!present(&engine, b"never", secs(11)));
        assert!(journal.effects.lock().is_empty());
        // A read that finds the item expired records its removal, once.
        assert!(!present(&engine, b"gone", secs(11)));
        assert!(!present(&engine, b"gone", secs(12)));
        let effects = journal.effects.lock().clone();
        assert_eq!(effects, [removal(b"gone")]);
        // So does a write that finds it expired and leaves nothing (an append to it fails).
        set_in(&engine, 0, b"gone2", Expiry::At(secs(10)), secs(1));
        journal.effects.lock().clear();
        let append = Store::new(
            Key::new(NamespaceId(0), b"gone2"),
            b"more",
            0,
            Expiry::Never,
            StoreMode::Append,
        );
        assert!(!matches!(
            engine.run(&append, secs(11)),
            Ok(StoreOutcome::Stored { .. })
        ));
        let effects = journal.effects.lock().clone();
        assert_eq!(effects, [removal(b"gone2")]);
        // And a rename of it (no such key).
        set_in(&engine, 0, b"gone3", Expiry::At(secs(10)), secs(1));
        journal.effects.lock().clear();
        let rename = Rename {
            from: Key::new(NamespaceId(0), b"gone3"),
            to: Key::new(NamespaceId(0), b"elsewhere"),
            only_if_absent: false,
        };
        assert_eq!(
            engine.rename(&rename, secs(11)),
            Ok(RenameOutcome::NotFound)
        );
        let effects = journal.effects.lock().clone();
        assert_eq!(effects, [removal(b"gone3")]);
        // And a scan that passes over it (Redis's KEYS and SCAN).
        set_in(&engine, 0, b"gone5", Expiry::At(secs(10)), secs(1));
        journal.effects.lock().clear();
        let mut cursor = 0;
        let mut listed = Vec::new();
        loop {
            let scan = Scan {
                namespace: NamespaceId(0),
                cursor,
                count: 100,
                value_type: None,
            };
            let page = engine.scan(&scan, secs(11));
            listed.extend(page.keys);
            cursor = page.cursor;
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(listed, [bytes::Bytes::from_static(b"live")]);
        let effects = journal.effects.lock().clone();
        assert_eq!(effects, [removal(b"gone5")]);
        // While the journal refuses writes, reads still answer and record nothing.
        set_in(&engine, 0, b"gone4", Expiry::At(secs(10)), secs(1));
        journal.effects.lock().clear();
        journal
            .refusing
            .store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(!present(&engine, b"gone4", secs(11)));
        assert!(journal.effects.lock().is_empty());
    }

    #[test]
    fn a_rename_is_journaled_as_a_removal_and_a_put() {
        let (engine, journal) = journaled_engine();
        set_in(&engine, 3, b"from", Expiry::At(secs(100)), secs(1));
        let to = Key::new(NamespaceId(3), b"to");
        let other = Store::new(to, b"other", 0, Expiry::Never, StoreMode::Set);
        assert!(engine.run(&other, secs(1)).is_ok());
        journal.effects.lock().clear();
        let rename = Rename {
            from: Key::new(NamespaceId(3), b"from"),
            to,
            only_if_absent: false,
        };
        assert_eq!(engine.rename(&rename, secs(2)), Ok(RenameOutcome::Renamed));
        let effects = journal.effects.lock().clone();
        assert_eq!(effects.len(), 2, "{effects:?}");
        assert!(effects[0].starts_with("Remove("), "{effects:?}");
        assert!(effects[1].starts_with("Put("), "{effects:?}");
        assert!(
            effects[1].contains("deadline: Some(Timestamp(100000))"),
            "{effects:?}"
        );
        journal
            .refusing
            .store(true, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(
            engine.rename(&rename, secs(3)),
            Err(EngineError::Unavailable)
        );
    }

    #[test]
    fn a_rename_onto_a_value_of_the_same_size_is_journaled_with_the_new_value() {
        // The replaced item's memory is freed during the rename; were it freed before the
        // renamed item is allocated, the allocator could hand out the same address and the
        // journal, which tells values apart by address, would log a metadata change only.
        let (engine, journal) = journaled_engine();
        let from = Key::new(NamespaceId(7), b"a");
        let to = Key::new(NamespaceId(7), b"bb");
        let zset = |key, members: &[(f64, &[u8])]| {
            engine.run(&crate::Delete::new(key), secs(1)).unwrap();
            let add = crate::SortedSetAdd {
                key,
                members,
                condition: crate::AddCondition::Always,
            };
            engine.run(&add, secs(1)).unwrap();
        };
        // The case the model test found.
        zset(from, &[(0.0, b"o"), (1.0, b"nn")]);
        zset(to, &[(0.0, b"o"), (0.0, b"nn")]);
        journal.effects.lock().clear();
        let rename = Rename {
            from,
            to,
            only_if_absent: false,
        };
        assert_eq!(engine.rename(&rename, secs(1)), Ok(RenameOutcome::Renamed));
        let effects = journal.effects.lock().clone();
        assert!(effects[1].starts_with("Put("), "{effects:?}");
    }

    #[test]
    fn the_string_commands_refuse_a_collection_and_leave_it_alone() {
        use crate::{
            Arithmetic, Delete, DeleteMode, DeleteOutcome, Direction, HashWrite, RemoveSession,
            ResetTimeout, ResetTimeoutOutcome, Touch, WriteSession,
        };
        let engine = Engine::new(EngineConfig::default());
        let key = Key::new(NamespaceId(3), b"hash");
        let fields: &[(&[u8], &[u8])] = &[(b"f", b"v")];
        let hash = HashWrite {
            key,
            fields,
            only_if_absent: false,
        };
        engine.run(&hash, secs(1)).unwrap();
        let before = engine.stats();
        let now = secs(2);
        assert_eq!(
            engine.run(&Get::new(key), now).err(),
            Some(EngineError::WrongType)
        );
        for mode in [StoreMode::Set, StoreMode::Add, StoreMode::Append] {
            let store = Store::new(key, b"x", 0, Expiry::Never, mode);
            assert_eq!(engine.run(&store, now).err(), Some(EngineError::WrongType));
        }
        let touch = Touch {
            key,
            expiry: Expiry::At(secs(1)),
        };
        assert_eq!(engine.run(&touch, now).err(), Some(EngineError::WrongType));
        let incr = Arithmetic::new(key, Direction::Increment, 1);
        assert_eq!(engine.run(&incr, now).err(), Some(EngineError::WrongType));
        let read = ReadSession {
            key,
            exclusive: true,
        };
        assert_eq!(engine.run(&read, now).err(), Some(EngineError::WrongType));
        let release = ReleaseLock {
            key,
            cookie: LockCookie(2),
        };
        assert_eq!(
            engine.run(&release, now).err(),
            Some(EngineError::WrongType)
        );
        let write = WriteSession {
            key,
            value: b"x",
            timeout: None,
            cookie: None,
            uninitialized: false,
        };
        assert_eq!(engine.run(&write, now).err(), Some(EngineError::WrongType));
        let remove = RemoveSession { key, cookie: None };
        assert_eq!(engine.run(&remove, now).err(), Some(EngineError::WrongType));
        assert_eq!(
            engine.run(&ResetTimeout { key }, now),
            ResetTimeoutOutcome::NotFound
        );
        let invalidate = Delete {
            mode: DeleteMode::Invalidate { expiry: None },
            ..Delete::new(key)
        };
        assert_eq!(
            engine.run(&invalidate, now).err(),
            Some(EngineError::WrongType)
        );
        let after = engine.stats();
        assert_eq!(
            (after.curr_items, after.memory_used),
            (before.curr_items, before.memory_used)
        );
        // A plain delete removes any type.
        assert_eq!(
            engine.run(&Delete::new(key), now),
            Ok(DeleteOutcome::Deleted)
        );
        assert_eq!(engine.stats().curr_items, 0);
    }
}
