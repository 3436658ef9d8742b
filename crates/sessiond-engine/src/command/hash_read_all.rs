//! Read a whole hash (Redis `HGETALL`, `HKEYS`, `HVALS`).

use bytes::Bytes;

use super::{Apply, ShardContext};
use crate::collection;
use crate::error::EngineError;
use crate::item::ValueType;
use crate::key::Key;
use crate::time::Timestamp;

/// Reads every field of a hash, in insertion order. Fields and values are slices of the
/// stored value, not copies. Renews nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashReadAll<'a> {
    /// The hash's key.
    pub key: Key<'a>,
}

impl Apply for HashReadAll<'_> {
    /// (field, value) pairs; empty when the key holds nothing.
    type Outcome = Result<Vec<(Bytes, Bytes)>, EngineError>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        let Some(index) = ctx.live_of(self.key, ValueType::Hash, now)? else {
            return Ok(Vec::new());
        };
        let value = &ctx.shard.item(index).value;
        let pairs =
            collection::pairs(value).map(|(field, data)| (value.slice(field), value.slice(data)));
        Ok(pairs.collect())
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
    fn reads_every_field_in_insertion_order() {
        let engine = engine();
        let key = Key::default_namespace(b"h");
        let all = || engine.run(&HashReadAll { key }, secs(1));
        assert_eq!(all(), Ok(Vec::new()));
        hash_with(&engine, key, &[(b"b", b"2"), (b"a", b"1")], secs(1));
        let pair =
            |f: &'static [u8], v: &'static [u8]| (Bytes::from_static(f), Bytes::from_static(v));
        assert_eq!(all(), Ok(vec![pair(b"b", b"2"), pair(b"a", b"1")]));
        set(&engine, key, b"s", secs(1));
        assert_eq!(all(), Err(EngineError::WrongType));
    }
}
