//! Counters the engine keeps, in the shape memcached's `stats` reports them.

/// Counters kept per shard, under the shard's lock, so counting costs no atomic operations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Keys asked for by reads.
    pub cmd_get: u64,
    /// Store commands of every kind.
    pub cmd_set: u64,
    /// Touch commands (touch, gat).
    pub cmd_touch: u64,
    /// Reads that found the key.
    pub get_hits: u64,
    /// Reads that did not find the key.
    pub get_misses: u64,
    /// Reads that found the key expired.
    pub get_expired: u64,
    /// Reads that found the key flushed.
    pub get_flushed: u64,
    /// Deletes that removed something.
    pub delete_hits: u64,
    /// Deletes of a missing key.
    pub delete_misses: u64,
    /// Increments of an existing number.
    pub incr_hits: u64,
    /// Increments of a missing key.
    pub incr_misses: u64,
    /// Decrements of an existing number.
    pub decr_hits: u64,
    /// Decrements of a missing key.
    pub decr_misses: u64,
    /// Compare-and-swap stores that matched.
    pub cas_hits: u64,
    /// Compare-and-swap stores of a missing key.
    pub cas_misses: u64,
    /// Compare-and-swap stores whose version did not match.
    pub cas_badval: u64,
    /// Touches that found the key.
    pub touch_hits: u64,
    /// Touches of a missing key.
    pub touch_misses: u64,
    /// Items removed because they expired (on access or by the background sweep).
    pub expired: u64,
    /// Items that expired without ever being read.
    pub expired_unfetched: u64,
    /// Items stored since start.
    pub total_items: u64,
    /// Session lock acquisitions.
    pub lock_acquired: u64,
    /// Session lock requests refused because the item was locked.
    pub lock_contended: u64,
}

impl Counters {
    /// Adds another shard's counters to these.
    pub fn add(&mut self, other: &Counters) {
        let Counters {
            cmd_get,
            cmd_set,
            cmd_touch,
            get_hits,
            get_misses,
            get_expired,
            get_flushed,
            delete_hits,
            delete_misses,
            incr_hits,
            incr_misses,
            decr_hits,
            decr_misses,
            cas_hits,
            cas_misses,
            cas_badval,
            touch_hits,
            touch_misses,
            expired,
            expired_unfetched,
            total_items,
            lock_acquired,
            lock_contended,
        } = *other;
        self.cmd_get += cmd_get;
        self.cmd_set += cmd_set;
        self.cmd_touch += cmd_touch;
        self.get_hits += get_hits;
        self.get_misses += get_misses;
        self.get_expired += get_expired;
        self.get_flushed += get_flushed;
        self.delete_hits += delete_hits;
        self.delete_misses += delete_misses;
        self.incr_hits += incr_hits;
        self.incr_misses += incr_misses;
        self.decr_hits += decr_hits;
        self.decr_misses += decr_misses;
        self.cas_hits += cas_hits;
        self.cas_misses += cas_misses;
        self.cas_badval += cas_badval;
        self.touch_hits += touch_hits;
        self.touch_misses += touch_misses;
        self.expired += expired;
        self.expired_unfetched += expired_unfetched;
        self.total_items += total_items;
        self.lock_acquired += lock_acquired;
        self.lock_contended += lock_contended;
    }
}

/// A snapshot of the engine's state and counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Items stored now (expired items not yet swept included, as memcached counts them).
    pub curr_items: u64,
    /// Bytes of keys and values stored now.
    pub bytes: u64,
    /// Accounted memory in use, overheads included; compared with `limit_maxbytes`.
    pub memory_used: u64,
    /// The memory limit.
    pub limit_maxbytes: u64,
    /// Writes refused because the memory limit was reached.
    pub rejected_writes: u64,
    /// The summed per-shard counters.
    pub counters: Counters,
}
