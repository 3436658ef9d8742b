//! Add to a signed 64-bit integer stored as a decimal string (Redis `INCR`, `DECR`, `INCRBY`,
//! `DECRBY`).

use bytes::Bytes;

use super::{Apply, ShardContext};
use crate::error::EngineError;
use crate::item::{Item, ValueType};
use crate::key::Key;
use crate::time::{Expiry, Timestamp};

/// Adds `delta` to the integer a string holds, creating the key at 0 (with no expiry) when
/// it holds nothing. The item keeps its expiry. Refused, changing nothing, with
/// [`EngineError::NotAnInteger`] when the string is not an integer as Redis reads one (see
/// [`parse_integer`]), [`EngineError::Overflow`] when the sum leaves the signed 64-bit
/// range, and [`EngineError::WrongType`] for another type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Increment<'a> {
    /// The counter's key.
    pub key: Key<'a>,
    /// What to add (negative to subtract).
    pub delta: i64,
}

impl Apply for Increment<'_> {
    /// The new number.
    type Outcome = Result<i64, EngineError>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        let found = ctx.live_of(self.key, ValueType::String, now)?;
        let current = match found {
            Some(index) => {
                parse_integer(&ctx.shard.item(index).value).ok_or(EngineError::NotAnInteger)?
            }
            None => 0,
        };
        let value = current
            .checked_add(self.delta)
            .ok_or(EngineError::Overflow)?;
        let text = value.to_string();
        let shard = &mut *ctx.shard;
        match found {
            Some(index) => {
                shard.set_value(index, text.as_bytes(), ctx.memory)?;
                let cas = shard.next_cas();
                let item = shard.item_mut(index);
                item.cas = cas;
                item.renew(now);
                shard.schedule(index);
            }
            None => {
                let cas = shard.next_cas();
                let item = Item::new(Bytes::new(), 0, Expiry::Never, cas, now);
                shard.insert(ctx.hash, self.key, text.as_bytes(), item, ctx.memory)?;
            }
        }
        Ok(value)
    }

    fn refusal(&self, error: EngineError) -> Option<Self::Outcome> {
        Some(Err(error))
    }
}

/// Reads a signed 64-bit decimal integer exactly as Redis's `string2ll` does: an optional
/// `-`, then digits without a leading zero (`0` alone excepted), nothing else (no spaces, no
/// `+`, no `-0`), and in range.
pub fn parse_integer(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, text),
    };
    match digits {
        [b'0'] if !negative => return Some(0),
        [b'1'..=b'9', rest @ ..] if rest.iter().all(u8::is_ascii_digit) => {}
        _ => return None,
    }
    // Accumulate negatively: i64::MIN has no positive counterpart.
    let mut value: i64 = 0;
    for &digit in digits {
        value = value
            .checked_mul(10)?
            .checked_sub(i64::from(digit - b'0'))?;
    }
    if negative {
        Some(value)
    } else {
        value.checked_neg()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::testing::{engine, hash_with, inspect, read, secs, set};
    use crate::{Store, StoreMode};

    const KEY: Key<'static> = Key {
        namespace: crate::NamespaceId(5),
        name: b"n",
    };

    fn incr(engine: &crate::Engine, delta: i64) -> Result<i64, EngineError> {
        engine.run(&Increment { key: KEY, delta }, secs(1))
    }

    #[test]
    fn parses_integers_as_redis_does() {
        assert_eq!(parse_integer(b"0"), Some(0));
        assert_eq!(parse_integer(b"-1"), Some(-1));
        assert_eq!(parse_integer(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_integer(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"01",
            b"00",
            b"+1",
            b" 1",
            b"1 ",
            b"1a",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"12345678901234567890123",
        ] {
            assert_eq!(
                parse_integer(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn creates_at_zero_and_keeps_the_expiry() {
        let engine = engine();
        assert_eq!(incr(&engine, 5), Ok(5));
        assert_eq!(inspect(&engine, KEY, secs(1)).unwrap().ttl, None);
        assert_eq!(incr(&engine, -7), Ok(-2));
        assert_eq!(read(&engine, KEY, secs(1)), Some(Bytes::from_static(b"-2")));
        let store = Store::new(KEY, b"10", 0, Expiry::At(secs(100)), StoreMode::Set);
        engine.run(&store, secs(1)).unwrap();
        assert_eq!(incr(&engine, 1), Ok(11));
        assert_eq!(
            inspect(&engine, KEY, secs(1)).unwrap().ttl,
            Some(Duration::from_secs(99))
        );
    }

    #[test]
    fn refuses_non_integers_overflow_and_other_types_changing_nothing() {
        let engine = engine();
        set(&engine, KEY, b"1 ", secs(1));
        assert_eq!(incr(&engine, 1), Err(EngineError::NotAnInteger));
        set(&engine, KEY, b"9223372036854775807", secs(1));
        assert_eq!(incr(&engine, 1), Err(EngineError::Overflow));
        set(&engine, KEY, b"-9223372036854775808", secs(1));
        assert_eq!(incr(&engine, -1), Err(EngineError::Overflow));
        assert_eq!(incr(&engine, 0), Ok(i64::MIN));
        assert_eq!(
            read(&engine, KEY, secs(1)),
            Some(Bytes::from_static(b"-9223372036854775808"))
        );
        hash_with(&engine, KEY, &[(b"f", b"1")], secs(1));
        assert_eq!(incr(&engine, 1), Err(EngineError::WrongType));
    }
}
