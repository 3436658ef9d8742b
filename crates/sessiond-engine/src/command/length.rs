//! The length of a string or the size of a collection (Redis `STRLEN`, `HLEN`, `SCARD`,
//! `ZCARD`).

use super::{Apply, ShardContext};
use crate::collection;
use crate::error::EngineError;
use crate::item::ValueType;
use crate::key::Key;
use crate::time::Timestamp;

/// How big a key's value is: a string's bytes, a collection's entries (O(1): the encoded
/// value starts with its count). A key holding nothing has length 0; one holding another type
/// than `value_type` is refused with [`EngineError::WrongType`]. Renews nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Length<'a> {
    /// The key.
    pub key: Key<'a>,
    /// The type the caller expects.
    pub value_type: ValueType,
}

impl Apply for Length<'_> {
    type Outcome = Result<u64, EngineError>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        let Some(index) = ctx.live_of(self.key, self.value_type, now)? else {
            return Ok(0);
        };
        let value = &ctx.shard.item(index).value;
        Ok(match self.value_type {
            ValueType::String => value.len() as u64,
            ValueType::Hash | ValueType::Set | ValueType::SortedSet => collection::count(value),
        })
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
    fn counts_bytes_or_entries_and_checks_the_type() {
        let engine = engine();
        let string = Key::default_namespace(b"s");
        let hash = Key::default_namespace(b"h");
        set(&engine, string, b"abc", secs(1));
        hash_with(&engine, hash, &[(b"a", b"1"), (b"b", b"2")], secs(1));
        let length = |key, value_type| engine.run(&Length { key, value_type }, secs(1));
        assert_eq!(length(string, ValueType::String), Ok(3));
        assert_eq!(length(hash, ValueType::Hash), Ok(2));
        assert_eq!(length(hash, ValueType::String), Err(EngineError::WrongType));
        assert_eq!(length(string, ValueType::Set), Err(EngineError::WrongType));
        let missing = Key::default_namespace(b"m");
        assert_eq!(length(missing, ValueType::SortedSet), Ok(0));
    }
}
