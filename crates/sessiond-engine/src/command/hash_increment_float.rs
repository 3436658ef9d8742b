//! Add to a floating-point number held in a hash field (Redis `HINCRBYFLOAT`).

use bytes::Bytes;

use super::{Apply, ShardContext};
use crate::error::EngineError;
use crate::key::Key;
use crate::long_double::LongDouble;
use crate::time::Timestamp;

/// Adds `delta` to the number a hash field holds, creating the field at 0 and the hash (with
/// no expiry) as needed, and stores the sum as Redis's fixed-point text (`10.6`, `5200`),
/// computed in 80-bit extended doubles as Redis on x86-64 computes it, digit for digit.
/// Refused, changing nothing, with [`EngineError::NotAFloat`] when the field is not a number
/// as Redis reads one (Redis replies `ERR hash value is not a float`),
/// [`EngineError::NotANumber`] when `delta` or the sum is not finite (`ERR increment would
/// produce NaN or Infinity`), and [`EngineError::WrongType`] for another type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashIncrementFloat<'a> {
    /// The hash's key.
    pub key: Key<'a>,
    /// The field.
    pub field: &'a [u8],
    /// What to add; finite.
    pub delta: LongDouble,
}

impl Apply for HashIncrementFloat<'_> {
    /// The field's new text.
    type Outcome = Result<Bytes, EngineError>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        if !self.delta.is_finite() {
            return Err(EngineError::NotANumber);
        }
        super::hash_increment::rewrite_field(ctx, self.key, self.field, now, |old| {
            let current = match old {
                Some(text) => LongDouble::parse(text).ok_or(EngineError::NotAFloat)?,
                None => LongDouble::ZERO,
            };
            let sum = current
                .checked_add(self.delta)
                .and_then(LongDouble::human_text);
            Ok(Bytes::from(sum.ok_or(EngineError::NotANumber)?))
        })
    }

    fn refusal(&self, error: EngineError) -> Option<Self::Outcome> {
        Some(Err(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HashRead;
    use crate::testing::{engine, hash_with, secs, set};

    #[test]
    fn adds_stores_text_and_refuses_what_redis_refuses() {
        let engine = engine();
        let key = Key::default_namespace(b"h");
        let incr = |field: &'static [u8], delta: &str| {
            let delta = LongDouble::parse(delta.as_bytes()).unwrap();
            engine
                .run(&HashIncrementFloat { key, field, delta }, secs(1))
                .map(|text| String::from_utf8(text.to_vec()).unwrap())
        };
        assert_eq!(incr(b"f", "10.5"), Ok("10.5".to_owned()));
        assert_eq!(incr(b"f", "0.1"), Ok("10.6".to_owned()));
        assert_eq!(incr(b"f", "-10.6"), Ok("0".to_owned()));
        hash_with(
            &engine,
            key,
            &[
                (b"e", b"5.0e3"),
                (b"s", b"x"),
                (b"big", b"1e4932"),
                (b"sp", b" 1"),
            ],
            secs(1),
        );
        assert_eq!(incr(b"e", "200"), Ok("5200".to_owned()));
        assert_eq!(incr(b"s", "1"), Err(EngineError::NotAFloat));
        assert_eq!(incr(b"sp", "1"), Err(EngineError::NotAFloat));
        assert_eq!(incr(b"big", "1e4932"), Err(EngineError::NotANumber));
        assert_eq!(incr(b"n", "inf"), Err(EngineError::NotANumber));
        let fields: &[&[u8]] = &[b"s", b"big", b"n"];
        let values = engine.run(&HashRead { key, fields }, secs(1)).unwrap();
        assert_eq!(
            values,
            [
                Some(Bytes::from_static(b"x")),
                Some(Bytes::from_static(b"1e4932")),
                None
            ]
        );
        set(&engine, key, b"string", secs(1));
        assert_eq!(incr(b"f", "1"), Err(EngineError::WrongType));
    }
}
