//! Memory accounting: the engine refuses writes past its limit instead of evicting.
//!
//! memcached and Redis make room by evicting, which logs users out. A session store must never
//! drop a live session to make room, so a write that would pass the limit is refused with
//! [`EngineError::OutOfMemory`](crate::EngineError::OutOfMemory) and counted, and the operator
//! sees it in the stats.

use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes charged per item beyond its key and value: the item record, its hash-table slot and
/// its expiry-wheel entry, rounded up. Measured resident memory is what BENCHMARKS.md reports;
/// this figure only has to be a fair, stable estimate so the limit means something.
pub const ITEM_OVERHEAD: u64 = 128;

/// The accounted size of an item with this key and value.
pub fn charge(key_len: usize, value_len: usize) -> u64 {
    key_len as u64 + value_len as u64 + ITEM_OVERHEAD
}

/// The engine-wide memory budget, shared by all shards.
#[derive(Debug)]
pub(crate) struct MemoryBudget {
    limit: AtomicU64,
    used: AtomicU64,
    refused: AtomicU64,
}

impl MemoryBudget {
    pub fn new(limit: u64) -> Self {
        MemoryBudget {
            limit: AtomicU64::new(limit),
            used: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// Moves the usage from `old` to `new` bytes. Growth past the limit is refused and counted;
    /// shrinking always succeeds, so deletes and overwrites with smaller values work when full.
    pub fn resize(&self, old: u64, new: u64) -> bool {
        if new <= old {
            self.used.fetch_sub(old - new, Ordering::Relaxed);
            return true;
        }
        let grow = new - old;
        let limit = self.limit.load(Ordering::Relaxed);
        let result = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(grow).filter(|&total| total <= limit)
            });
        if result.is_err() {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        result.is_ok()
    }

    /// Moves the usage from `old` to `new` bytes whatever the limit: restoring journaled state
    /// must not lose sessions because the limit is lower than when they were written.
    pub fn force_resize(&self, old: u64, new: u64) {
        if new >= old {
            self.used.fetch_add(new - old, Ordering::Relaxed);
        } else {
            self.used.fetch_sub(old - new, Ordering::Relaxed);
        }
    }

    /// Gives back `bytes` of a removed item.
    pub fn release(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }

    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    pub fn limit(&self) -> u64 {
        self.limit.load(Ordering::Relaxed)
    }

    pub fn set_limit(&self, limit: u64) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_past_the_limit_is_refused_and_shrinking_is_not() {
        let budget = MemoryBudget::new(1000);
        assert!(budget.resize(0, 900));
        assert!(!budget.resize(0, 200));
        assert_eq!(budget.refused(), 1);
        assert_eq!(budget.used(), 900);
        assert!(budget.resize(900, 100));
        assert_eq!(budget.used(), 100);
        budget.release(100);
        assert_eq!(budget.used(), 0);
    }
}
