//! Add to an integer held in a hash field (Redis `HINCRBY`).

use super::{Apply, ShardContext};
use crate::collection::{self, HashEdit};
use crate::command::parse_integer;
use crate::error::EngineError;
use crate::item::ValueType;
use crate::key::Key;
use crate::time::Timestamp;

/// Adds `delta` to the integer a hash field holds, creating the field at 0 and the hash
/// (with no expiry) as needed. Refused, changing nothing, with
/// [`EngineError::NotAnInteger`] when the field is not an integer as Redis reads one (Redis
/// replies `ERR hash value is not an integer`), [`EngineError::Overflow`] past the signed
/// 64-bit range, and [`EngineError::WrongType`] for another type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashIncrement<'a> {
    /// The hash's key.
    pub key: Key<'a>,
    /// The field.
    pub field: &'a [u8],
    /// What to add.
    pub delta: i64,
}

impl Apply for HashIncrement<'_> {
    /// The field's new number.
    type Outcome = Result<i64, EngineError>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        let mut value = 0;
        rewrite_field(ctx, self.key, self.field, now, |old| {
            let current = match old {
                Some(text) => parse_integer(text).ok_or(EngineError::NotAnInteger)?,
                None => 0,
            };
            value = current
                .checked_add(self.delta)
                .ok_or(EngineError::Overflow)?;
            Ok(value.to_string())
        })?;
        Ok(value)
    }

    fn refusal(&self, error: EngineError) -> Option<Self::Outcome> {
        Some(Err(error))
    }
}

/// Replaces a hash field's text with what `next` makes of the old one (`None`: no such
/// field), creating the hash (with no expiry) as needed; what `next` refuses changes nothing.
/// Returns the new text. The read-modify-write of HINCRBY and HINCRBYFLOAT.
pub(super) fn rewrite_field<T: AsRef<[u8]>>(
    ctx: &mut ShardContext<'_>,
    key: Key<'_>,
    field: &[u8],
    now: Timestamp,
    next: impl FnOnce(Option<&[u8]>) -> Result<T, EngineError>,
) -> Result<T, EngineError> {
    let found = ctx.live_of(key, ValueType::Hash, now)?;
    let old = found.map(|index| ctx.shard.item(index).value.clone());
    let old = old.as_deref().unwrap_or_default();
    let current = collection::pairs(old).find(|(name, _)| old[name.clone()] == *field);
    let text = next(current.map(|(_, text)| &old[text]))?;
    let (encoded, len) = {
        let mut edit = HashEdit::decode(old);
        edit.set(field, text.as_ref());
        (edit.encode(), edit.len())
    };
    ctx.put_collection(found, key, ValueType::Hash, &encoded, len, now)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HashRead;
    use crate::testing::{engine, secs};

    #[test]
    fn creates_at_zero_and_refuses_what_redis_refuses() {
        let engine = engine();
        let key = Key::default_namespace(b"h");
        let incr =
            |field: &'static [u8], delta| engine.run(&HashIncrement { key, field, delta }, secs(1));
        assert_eq!(incr(b"n", 5), Ok(5));
        assert_eq!(incr(b"n", -6), Ok(-1));
        let fields: &[(&[u8], &[u8])] = &[(b"max", b"9223372036854775807"), (b"s", b"x")];
        let write = crate::HashWrite {
            key,
            fields,
            only_if_absent: false,
        };
        engine.run(&write, secs(1)).unwrap();
        assert_eq!(incr(b"max", 1), Err(EngineError::Overflow));
        assert_eq!(incr(b"s", 1), Err(EngineError::NotAnInteger));
        let fields: &[&[u8]] = &[b"n", b"max", b"s"];
        let values = engine.run(&HashRead { key, fields }, secs(1)).unwrap();
        let values: Vec<_> = values.iter().map(|v| v.as_deref().unwrap()).collect();
        assert_eq!(values, [&b"-1"[..], b"9223372036854775807", b"x"]);
    }
}
