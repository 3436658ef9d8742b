//! Read fields of a hash (Redis `HGET`, `HMGET`, `HEXISTS`).

use bytes::Bytes;

use super::{Apply, ShardContext};
use crate::collection;
use crate::error::EngineError;
use crate::item::ValueType;
use crate::key::Key;
use crate::time::Timestamp;

/// Reads fields of a hash. Values are slices of the stored value, not copies. Renews nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashRead<'a> {
    /// The hash's key.
    pub key: Key<'a>,
    /// The fields to read.
    pub fields: &'a [&'a [u8]],
}

impl Apply for HashRead<'_> {
    /// Each field's value, in the order asked, `None` for a missing field (all `None` when the
    /// key holds nothing).
    type Outcome = Result<Vec<Option<Bytes>>, EngineError>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        let Some(index) = ctx.live_of(self.key, ValueType::Hash, now)? else {
            return Ok(vec![None; self.fields.len()]);
        };
        let value = &ctx.shard.item(index).value;
        let read = self.fields.iter().map(|&wanted| {
            collection::pairs(value)
                .find(|(field, _)| value[field.clone()] == *wanted)
                .map(|(_, data)| value.slice(data))
        });
        Ok(read.collect())
    }

    fn refusal(&self, _error: EngineError) -> Option<Self::Outcome> {
        None
    }

    /// Changes nothing the journal keeps.
    fn journaled(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{engine, hash_with, secs, set};

    #[test]
    fn reads_fields_in_the_order_asked() {
        let engine = engine();
        let key = Key::default_namespace(b"h");
        let read = |fields: &[&[u8]]| engine.run(&HashRead { key, fields }, secs(1));
        assert_eq!(read(&[b"a"]), Ok(vec![None]));
        hash_with(&engine, key, &[(b"a", b"1"), (b"b", b"")], secs(1));
        let some = |v: &'static [u8]| Some(Bytes::from_static(v));
        assert_eq!(
            read(&[b"b", b"x", b"a"]),
            Ok(vec![some(b""), None, some(b"1")])
        );
        set(&engine, key, b"s", secs(1));
        assert_eq!(read(&[b"a"]), Err(EngineError::WrongType));
    }
}
