//! memcached's expiration-time rule, mapped onto engine expiries.
//!
//! php-memcached's strict session mode relies on this rule exactly: its existence probe stores
//! with 2678400 (31 days), which is past the relative limit and so an absolute Unix time, long
//! past, making the probe item expire at once.

use std::time::Duration;

use sessiond_engine::{Expiry, Timestamp};

/// The largest expiration time memcached reads as relative seconds: 30 days.
pub const MAX_RELATIVE_EXPTIME: i64 = 60 * 60 * 24 * 30;

/// Reads a memcached expiration time at `now`: 0 is never; up to 30 days is seconds from now;
/// larger is an absolute Unix time; negative is already expired.
pub fn expiry_from_exptime(exptime: i64, now: Timestamp) -> Expiry {
    match exptime {
        0 => Expiry::Never,
        e if e < 0 => Expiry::At(Timestamp::EPOCH),
        e if e <= MAX_RELATIVE_EXPTIME => {
            Expiry::At(now.saturating_add(Duration::from_secs(e as u64)))
        }
        e => Expiry::At(Timestamp::from_secs(e as u64)),
    }
}

/// The expiry of a binary-protocol request, whose expiration is an unsigned 32-bit field.
pub fn expiry_from_binary(exptime: u32, now: Timestamp) -> Expiry {
    expiry_from_exptime(i64::from(exptime), now)
}

/// Whole seconds left in a time to live, as memcached reports them (`-1` for never).
pub fn ttl_secs(ttl: Option<Duration>) -> i64 {
    match ttl {
        None => -1,
        Some(ttl) => ttl.as_millis().div_ceil(1000) as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_secs(1_700_000_000);

    #[test]
    fn zero_is_never() {
        assert_eq!(expiry_from_exptime(0, NOW), Expiry::Never);
    }

    #[test]
    fn up_to_thirty_days_is_relative() {
        assert_eq!(
            expiry_from_exptime(1440, NOW),
            Expiry::At(Timestamp::from_secs(1_700_001_440))
        );
        assert_eq!(
            expiry_from_exptime(MAX_RELATIVE_EXPTIME, NOW),
            Expiry::At(Timestamp::from_secs(1_700_000_000 + 2_592_000))
        );
    }

    #[test]
    fn past_thirty_days_is_absolute_and_php_probe_is_expired() {
        let probe = expiry_from_exptime(2_678_400, NOW);
        assert_eq!(probe, Expiry::At(Timestamp::from_secs(2_678_400)));
        assert!(probe.deadline(NOW).is_some_and(|deadline| deadline <= NOW));
    }

    #[test]
    fn negative_is_already_expired() {
        let expiry = expiry_from_exptime(-1, NOW);
        assert!(expiry.deadline(NOW).is_some_and(|deadline| deadline <= NOW));
    }

    #[test]
    fn ttl_rounds_up_and_never_is_minus_one() {
        assert_eq!(ttl_secs(None), -1);
        assert_eq!(ttl_secs(Some(Duration::from_millis(1500))), 2);
        assert_eq!(ttl_secs(Some(Duration::ZERO)), 0);
    }
}
