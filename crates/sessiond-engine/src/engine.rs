//! The engine: shards, routing of commands to them, the expiry sweep and the stats.

use std::hash::BuildHasher;

use parking_lot::Mutex;

use crate::command::{Apply, Command, Flush, Outcome, ShardContext};
use crate::key::Key;
use crate::memory::MemoryBudget;
use crate::shard::Shard;
use crate::stats::{Counters, EngineStats};
use crate::time::Timestamp;

/// log2 of the number of shards. The shard count is fixed, not configured: a key's shard
/// decides its compare-and-swap versions, and replay must give the same versions.
pub(crate) const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;

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
        }
    }

    /// Applies a keyed command at time `now`.
    pub fn run<C: Apply>(&self, command: &C, now: Timestamp) -> C::Outcome {
        let key = command.key();
        let shard_index = self.shard_of(key);
        let hash = self.table_hasher.hash_one((key.namespace, key.name));
        let mut shard = self.shards[shard_index].0.lock();
        shard.begin(now, &self.memory);
        let mut ctx = ShardContext {
            shard: &mut shard,
            memory: &self.memory,
            hash,
        };
        command.apply(&mut ctx, now)
    }

    /// Applies any command at time `now`.
    pub fn execute(&self, command: &Command<'_>, now: Timestamp) -> Outcome {
        match command {
            Command::Arithmetic(c) => Outcome::Arithmetic(self.run(c, now)),
            Command::Delete(c) => Outcome::Delete(self.run(c, now)),
            Command::Flush(c) => {
                self.flush(c, now);
                Outcome::Flush
            }
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
    pub fn flush(&self, flush: &Flush, now: Timestamp) {
        let at = flush.at.filter(|&at| at > now);
        for shard in self.shards.iter() {
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
    use crate::command::{Get, GetOutcome, Store, StoreMode};
    use crate::key::Key;
    use crate::time::Expiry;

    fn secs(s: u64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    fn set(engine: &Engine, name: &[u8], value: &[u8], now: Timestamp) {
        let key = Key::default_namespace(name);
        let store = Store::new(key, value, 0, Expiry::Never, StoreMode::Set);
        assert!(matches!(engine.run(&store, now), Ok(crate::StoreOutcome::Stored { .. })));
    }

    fn present(engine: &Engine, name: &[u8], now: Timestamp) -> bool {
        let get = Get::new(Key::default_namespace(name));
        matches!(engine.run(&get, now), Ok(GetOutcome::Hit(_)))
    }

    #[test]
    fn a_due_delayed_flush_is_not_lost_when_a_later_one_replaces_it() {
        let engine = Engine::new(EngineConfig::default());
        set(&engine, b"old", b"v", secs(1));
        engine.flush(&Flush { namespace: None, at: Some(secs(10)) }, secs(2));
        // Nothing touches the shard of "old" between 10 s and the second flush.
        engine.flush(&Flush { namespace: None, at: Some(secs(30)) }, secs(20));
        assert!(!present(&engine, b"old", secs(21)), "stored before the 10 s flush");
    }
}
