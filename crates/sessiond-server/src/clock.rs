//! The server's clock: the one place that reads wall-clock time for the engine.

use std::time::{SystemTime, UNIX_EPOCH};

use sessiond_engine::Timestamp;

/// The current wall-clock time as the engine counts it. A clock set before 1970 reads as the
/// epoch rather than failing: expiry would then be early, never a crash.
pub fn now() -> Timestamp {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        });
    Timestamp::from_millis(millis)
}
