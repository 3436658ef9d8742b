//! Read a string and remove it in one step (Redis `GETDEL`).

use bytes::Bytes;

use super::{Apply, ShardContext};
use crate::error::EngineError;
use crate::item::ValueType;
use crate::key::Key;
use crate::time::Timestamp;

/// Removes a string, handing back its value. A key holding another type is refused with
/// [`EngineError::WrongType`] and left alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetAndDelete<'a> {
    /// The key to take.
    pub key: Key<'a>,
}

impl Apply for GetAndDelete<'_> {
    /// The value removed; `None` when the key held nothing.
    type Outcome = Result<Option<Bytes>, EngineError>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        let Some(index) = ctx.live_of(self.key, ValueType::String, now)? else {
            ctx.shard.counters.delete_misses += 1;
            return Ok(None);
        };
        ctx.shard.counters.delete_hits += 1;
        let value = ctx.shard.item(index).value.clone();
        ctx.shard.remove(index, ctx.memory);
        Ok(Some(value))
    }

    fn refusal(&self, error: EngineError) -> Option<Self::Outcome> {
        Some(Err(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{engine, hash_with, secs, set};

    #[test]
    fn takes_a_string_once_and_refuses_other_types() {
        let engine = engine();
        let key = Key::default_namespace(b"k");
        set(&engine, key, b"v", secs(1));
        let take = GetAndDelete { key };
        assert_eq!(
            engine.run(&take, secs(1)),
            Ok(Some(Bytes::from_static(b"v")))
        );
        assert_eq!(engine.run(&take, secs(1)), Ok(None));
        assert_eq!(engine.stats().memory_used, 0);
        hash_with(&engine, key, &[(b"f", b"v")], secs(1));
        assert_eq!(engine.run(&take, secs(1)), Err(EngineError::WrongType));
        assert_eq!(engine.stats().curr_items, 1);
    }
}
