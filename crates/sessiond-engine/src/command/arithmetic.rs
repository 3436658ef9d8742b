//! Increment or decrement a decimal number stored as an item's value.

use std::time::Duration;

use bytes::Bytes;

use super::{Apply, ShardContext};
use crate::error::EngineError;
use crate::item::{Item, ValueType};
use crate::key::Key;
use crate::shard::Lookup;
use crate::time::{Expiry, Timestamp};

/// Which way the number moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Add the delta, wrapping at 2^64 as memcached does.
    Increment,
    /// Subtract the delta, stopping at zero as memcached does.
    Decrement,
}

/// Creating a missing counter instead of failing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Vivify {
    /// The value the new counter starts at (the delta is not applied to it).
    pub initial: u64,
    /// The new counter's expiry.
    pub expiry: Expiry,
}

/// Increments or decrements a counter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arithmetic<'a> {
    /// The counter's key.
    pub key: Key<'a>,
    /// Which way to move.
    pub direction: Direction,
    /// By how much.
    pub delta: u64,
    /// Only if the item's version is this one.
    pub cas: Option<u64>,
    /// Create a missing counter.
    pub vivify: Option<Vivify>,
    /// On a hit, also replace the expiry (meta `ma` with `T`).
    pub touch: Option<Expiry>,
}

impl<'a> Arithmetic<'a> {
    /// A plain increment or decrement of `key` by `delta`.
    pub fn new(key: Key<'a>, direction: Direction, delta: u64) -> Self {
        Arithmetic {
            key,
            direction,
            delta,
            cas: None,
            vivify: None,
            touch: None,
        }
    }
}

/// What an increment or decrement did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithmeticOutcome {
    /// The counter now holds `value`.
    Updated {
        /// The new value.
        value: u64,
        /// The item's new version.
        cas: u64,
        /// Time left to live.
        ttl: Option<Duration>,
    },
    /// A missing counter was created at its initial value.
    Created {
        /// The initial value.
        value: u64,
        /// The new item's version.
        cas: u64,
        /// Time left to live.
        ttl: Option<Duration>,
    },
    /// No such counter, and none was to be created.
    NotFound,
    /// The stored value is not a decimal number below 2^64.
    NonNumeric,
    /// The item's version was not the one given.
    Exists,
}

impl Apply for Arithmetic<'_> {
    type Outcome = Result<ArithmeticOutcome, EngineError>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        let shard = &mut *ctx.shard;
        let incr = self.direction == Direction::Increment;
        let Lookup::Live(index) = shard.lookup(ctx.hash, self.key, now, ctx.memory) else {
            if incr {
                shard.counters.incr_misses += 1;
            } else {
                shard.counters.decr_misses += 1;
            }
            let Some(vivify) = self.vivify else {
                return Ok(ArithmeticOutcome::NotFound);
            };
            let cas = shard.next_cas();
            let value = vivify.initial.to_string();
            let item = Item::new(Bytes::new(), 0, vivify.expiry, cas, now);
            let ttl = item.ttl(now);
            if !item.is_expired(now) {
                shard.insert(ctx.hash, self.key, value.as_bytes(), item, ctx.memory)?;
            }
            return Ok(ArithmeticOutcome::Created {
                value: vivify.initial,
                cas,
                ttl,
            });
        };
        let item = shard.item(index);
        if item.value_type() != ValueType::String {
            return Err(EngineError::WrongType);
        }
        if self.cas.is_some_and(|cas| cas != item.cas) {
            return Ok(ArithmeticOutcome::Exists);
        }
        let old_len = item.value.len();
        let Some(current) = parse_counter(&item.value) else {
            return Ok(ArithmeticOutcome::NonNumeric);
        };
        if incr {
            shard.counters.incr_hits += 1;
        } else {
            shard.counters.decr_hits += 1;
        }
        let value = match self.direction {
            Direction::Increment => current.wrapping_add(self.delta),
            Direction::Decrement => current.saturating_sub(self.delta),
        };
        let mut text = value.to_string().into_bytes();
        if text.len() < old_len {
            // memcached rewrites a shorter result in place and pads it with spaces; clients
            // that read the value back see those spaces, so keep them.
            text.resize(old_len, b' ');
        }
        shard.set_value(index, &text, ctx.memory)?;
        let cas = shard.next_cas();
        let item = shard.item_mut(index);
        item.cas = cas;
        item.renew(now);
        if let Some(expiry) = self.touch {
            item.set_expiry(expiry, now);
        }
        let ttl = item.ttl(now);
        shard.schedule(index);
        Ok(ArithmeticOutcome::Updated { value, cas, ttl })
    }

    fn refusal(&self, error: EngineError) -> Option<Self::Outcome> {
        Some(Err(error))
    }
}

/// Reads a counter the way memcached does, with C's `strtoull` and its checks on the result:
/// leading whitespace and a `+` are skipped, the digits end at whitespace (such as the spaces an
/// in-place decrement left, or the end of the value), and a negative number other than `-0` is
/// refused.
fn parse_counter(value: &[u8]) -> Option<u64> {
    let start = value
        .iter()
        .position(|&byte| !is_c_space(byte))
        .unwrap_or(value.len());
    let mut rest = &value[start..];
    let negative = rest.first() == Some(&b'-');
    if matches!(rest.first(), Some(b'+' | b'-')) {
        rest = &rest[1..];
    }
    let digits = rest.iter().take_while(|byte| byte.is_ascii_digit()).count();
    if digits == 0 || rest.get(digits).is_some_and(|&byte| !is_c_space(byte)) {
        return None;
    }
    let number: u64 = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    if negative && number != 0 {
        return None;
    }
    Some(number)
}

/// C's `isspace`: unlike Rust's ASCII whitespace it includes the vertical tab.
fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Engine, EngineConfig, Get, GetOutcome, Store, StoreMode, charge};

    const NOW: Timestamp = Timestamp::from_secs(1_000);
    const KEY: Key<'static> = Key {
        namespace: crate::NamespaceId::DEFAULT,
        name: b"n",
    };

    fn engine_with(value: &[u8], max_memory: u64) -> Engine {
        let engine = Engine::new(EngineConfig { max_memory });
        let store = Store::new(KEY, value, 9, Expiry::Never, StoreMode::Set);
        engine.run(&store, NOW).unwrap();
        engine
    }

    fn step(engine: &Engine, direction: Direction, delta: u64) -> ArithmeticOutcome {
        engine
            .run(&Arithmetic::new(KEY, direction, delta), NOW)
            .unwrap()
    }

    fn value(engine: &Engine) -> Vec<u8> {
        match engine.run(&crate::Get::new(KEY), NOW) {
            Ok(GetOutcome::Hit(view)) => view.value.to_vec(),
            other => panic!("expected a hit, got {other:?}"),
        }
    }

    fn updated(outcome: ArithmeticOutcome) -> u64 {
        match outcome {
            ArithmeticOutcome::Updated { value, .. } => value,
            other => panic!("expected Updated, got {other:?}"),
        }
    }

    #[test]
    fn increment_wraps_at_two_to_the_64_and_pads_the_shorter_result() {
        let engine = engine_with(b"18446744073709551615", 1 << 20);
        assert_eq!(updated(step(&engine, Direction::Increment, 2)), 1);
        // memcached rewrites the 20 bytes in place: "1" and 19 spaces.
        assert_eq!(value(&engine), format!("1{}", " ".repeat(19)).into_bytes());
        assert_eq!(updated(step(&engine, Direction::Increment, 41)), 42);
        assert_eq!(value(&engine).len(), 20);
    }

    #[test]
    fn decrement_stops_at_zero() {
        let engine = engine_with(b"5", 1 << 20);
        assert_eq!(updated(step(&engine, Direction::Decrement, 10)), 0);
        assert_eq!(value(&engine), b"0");
        assert_eq!(updated(step(&engine, Direction::Decrement, u64::MAX)), 0);
    }

    #[test]
    fn a_decrement_that_shortens_the_number_pads_with_spaces() {
        let engine = engine_with(b"100", 1 << 20);
        assert_eq!(updated(step(&engine, Direction::Decrement, 1)), 99);
        assert_eq!(value(&engine), b"99 ");
        // The padded value is still a number, and a longer result grows the value.
        assert_eq!(updated(step(&engine, Direction::Increment, 1)), 100);
        assert_eq!(value(&engine), b"100");
        assert_eq!(updated(step(&engine, Direction::Increment, 900)), 1000);
        assert_eq!(value(&engine), b"1000");
        assert_eq!(engine.stats().memory_used, charge(1, 4));
    }

    #[test]
    fn arithmetic_keeps_flags_and_changes_the_version() {
        let engine = engine_with(b"1", 1 << 20);
        let before = match engine.run(&Get::new(KEY), NOW) {
            Ok(GetOutcome::Hit(view)) => view,
            other => panic!("{other:?}"),
        };
        let ArithmeticOutcome::Updated { cas, .. } = step(&engine, Direction::Increment, 1) else {
            panic!("expected Updated");
        };
        assert_ne!(cas, before.cas);
        let stale = Arithmetic {
            cas: Some(before.cas),
            ..Arithmetic::new(KEY, Direction::Increment, 1)
        };
        assert_eq!(engine.run(&stale, NOW), Ok(ArithmeticOutcome::Exists));
        match engine.run(&Get::new(KEY), NOW) {
            Ok(GetOutcome::Hit(view)) => assert_eq!((view.flags, view.cas), (9, cas)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn non_numbers_are_refused_and_left_alone() {
        for text in [&b"-1"[..], b"1a", b"", b"18446744073709551616"] {
            let engine = engine_with(text, 1 << 20);
            assert_eq!(
                step(&engine, Direction::Increment, 1),
                ArithmeticOutcome::NonNumeric
            );
            assert_eq!(value(&engine), text);
        }
    }

    #[test]
    fn growth_past_the_memory_limit_is_refused_and_the_counter_is_unchanged() {
        let engine = engine_with(b"99", charge(1, 2));
        let incr = Arithmetic::new(KEY, Direction::Increment, 1);
        assert_eq!(engine.run(&incr, NOW), Err(EngineError::OutOfMemory));
        assert_eq!(value(&engine), b"99");
        // A result of the same length needs no more memory.
        assert_eq!(updated(step(&engine, Direction::Decrement, 9)), 90);
        assert_eq!(engine.stats().rejected_writes, 1);
    }

    #[test]
    fn vivify_creates_the_counter_at_its_initial_value_without_the_delta() {
        let engine = Engine::new(EngineConfig::default());
        let vivify = Arithmetic {
            vivify: Some(Vivify {
                initial: 10,
                expiry: Expiry::Never,
            }),
            ..Arithmetic::new(KEY, Direction::Increment, 5)
        };
        assert!(matches!(
            engine.run(&vivify, NOW),
            Ok(ArithmeticOutcome::Created { value: 10, .. })
        ));
        assert!(matches!(
            engine.run(&vivify, NOW),
            Ok(ArithmeticOutcome::Updated { value: 15, .. })
        ));
    }

    #[test]
    fn counters_parse_like_memcached() {
        assert_eq!(parse_counter(b"42"), Some(42));
        assert_eq!(parse_counter(b"9 "), Some(9));
        assert_eq!(parse_counter(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_counter(b"18446744073709551616"), None);
        assert_eq!(parse_counter(b""), None);
        assert_eq!(parse_counter(b"-1"), None);
        assert_eq!(parse_counter(b"1a"), None);
        assert_eq!(parse_counter(b" 12"), Some(12));
        assert_eq!(parse_counter(b"+12"), Some(12));
        assert_eq!(parse_counter(b"12 34"), Some(12));
        assert_eq!(parse_counter(b"-0"), Some(0));
        assert_eq!(parse_counter(b"+"), None);
    }
}
