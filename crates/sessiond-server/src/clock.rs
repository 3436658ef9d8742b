//! The server's clock: the one place that reads time for the engine.
//!
//! The engine takes the time with every command. The server reads it from a [`Clock`], which is
//! the wall clock in production; tests give the server a [`ManualClock`] to drive expiry and
//! lock ages without waiting.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sessiond_engine::Timestamp;

/// A source of the time the engine runs commands at.
pub trait Clock: Debug + Send + Sync {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    /// A clock set before 1970 reads as the epoch rather than failing: expiry would then be
    /// early, never a crash.
    fn now(&self) -> Timestamp {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            });
        Timestamp::from_millis(millis)
    }
}

/// A clock that moves only when told to, for tests.
#[derive(Debug, Default)]
pub struct ManualClock {
    millis: AtomicU64,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            millis: AtomicU64::new(start.as_millis()),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        let _ = self
            .millis
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |m| {
                Some(m.saturating_add(by))
            });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.millis.load(Ordering::Acquire))
    }
}

/// A clock that never runs behind the newest time a cluster node applied: when leadership
/// moves to a node whose clock is slow, sessions and locks neither get younger nor expire
/// late by the difference.
#[derive(Debug)]
pub(crate) struct FloorClock {
    inner: std::sync::Arc<dyn Clock>,
    floor: std::sync::Arc<AtomicU64>,
}

impl FloorClock {
    /// `inner`, held at or after `floor` (milliseconds since the epoch).
    pub(crate) fn new(inner: std::sync::Arc<dyn Clock>, floor: std::sync::Arc<AtomicU64>) -> Self {
        FloorClock { inner, floor }
    }
}

impl Clock for FloorClock {
    fn now(&self) -> Timestamp {
        let floor = Timestamp::from_millis(self.floor.load(Ordering::Acquire));
        self.inner.now().max(floor)
    }
}
