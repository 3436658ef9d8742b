//! Time as the engine sees it: a value passed in with every command, never read from a clock.
//!
//! Keeping the clock outside makes every command deterministic: the same commands with the same
//! timestamps give the same store, which is what the write-ahead log and replication replay.

use std::time::Duration;

/// A point in time, in milliseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// A timestamp `millis` milliseconds after the Unix epoch.
    pub const fn from_millis(millis: u64) -> Self {
        Timestamp(millis)
    }

    /// A timestamp `secs` seconds after the Unix epoch.
    pub const fn from_secs(secs: u64) -> Self {
        Timestamp(secs.saturating_mul(1000))
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Whole seconds since the Unix epoch, rounded down.
    pub const fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// This timestamp moved `duration` later, saturating at the end of time.
    pub fn saturating_add(self, duration: Duration) -> Self {
        let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(millis))
    }

    /// How long after `earlier` this timestamp is; zero if it is not later.
    pub fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

/// When an item stops being live, as a command asks for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Expiry {
    /// The item lives until it is removed.
    Never,
    /// The item dies at a fixed point in time; access does not move it. A point that is not in
    /// the future makes the item expired at once.
    At(Timestamp),
    /// The item dies once it has not been accessed for this long: every access renews it, as
    /// ASP.NET session timeouts do.
    Sliding(Duration),
}

impl Expiry {
    /// The deadline this expiry gives an item accessed at `now`; `None` means never.
    pub fn deadline(self, now: Timestamp) -> Option<Timestamp> {
        match self {
            Expiry::Never => None,
            Expiry::At(at) => Some(at),
            Expiry::Sliding(timeout) => Some(now.saturating_add(timeout)),
        }
    }
}

/// What a command does to the expiry of the item it writes or reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExpiryUpdate {
    /// Leave it as it is (Redis's `KEEPTTL`, or `GETEX` without options); a new item never
    /// expires.
    Keep,
    /// Replace it (`Expiry::Never` removes it, as `PERSIST` does).
    Set(Expiry),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_deadline_is_relative_to_now() {
        let now = Timestamp::from_secs(100);
        assert_eq!(
            Expiry::Sliding(Duration::from_secs(20)).deadline(now),
            Some(Timestamp::from_secs(120))
        );
        assert_eq!(Expiry::Never.deadline(now), None);
        assert_eq!(
            Expiry::At(Timestamp::from_secs(5)).deadline(now),
            Some(Timestamp::from_secs(5))
        );
    }

    #[test]
    fn saturating_arithmetic_never_wraps() {
        let end = Timestamp::from_millis(u64::MAX);
        assert_eq!(end.saturating_add(Duration::from_secs(1)), end);
        assert_eq!(
            Timestamp::EPOCH.saturating_duration_since(end),
            Duration::ZERO
        );
    }
}
