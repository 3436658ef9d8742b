//! Delete fields of a hash (Redis `HDEL`).

use super::{Apply, ShardContext};
use crate::collection::HashEdit;
use crate::error::EngineError;
use crate::item::ValueType;
use crate::key::Key;
use crate::time::Timestamp;

/// Deletes fields of a hash; deleting its last field removes the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashDelete<'a> {
    /// The hash's key.
    pub key: Key<'a>,
    /// The fields to delete.
    pub fields: &'a [&'a [u8]],
}

impl Apply for HashDelete<'_> {
    /// How many fields were deleted (a field named twice counts once).
    type Outcome = Result<u64, EngineError>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        let Some(index) = ctx.live_of(self.key, ValueType::Hash, now)? else {
            return Ok(0);
        };
        let old = ctx.shard.item(index).value.clone();
        let mut edit = HashEdit::decode(&old);
        let deleted = self
            .fields
            .iter()
            .filter(|field| edit.delete(field))
            .count();
        if deleted > 0 {
            let encoded = edit.encode();
            ctx.put_collection(
                Some(index),
                self.key,
                ValueType::Hash,
                &encoded,
                edit.len(),
                now,
            )?;
        }
        Ok(deleted as u64)
    }

    fn refusal(&self, error: EngineError) -> Option<Self::Outcome> {
        Some(Err(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{engine, hash_with, inspect, secs};

    #[test]
    fn deleting_the_last_field_removes_the_key() {
        let engine = engine();
        let key = Key::default_namespace(b"h");
        hash_with(&engine, key, &[(b"a", b"1"), (b"b", b"2")], secs(1));
        let delete = |fields: &[&[u8]]| engine.run(&HashDelete { key, fields }, secs(1));
        assert_eq!(delete(&[b"a", b"a", b"x"]), Ok(1));
        assert!(inspect(&engine, key, secs(1)).is_some());
        assert_eq!(delete(&[b"b"]), Ok(1));
        assert_eq!(inspect(&engine, key, secs(1)), None);
        assert_eq!(engine.stats().memory_used, 0);
        assert_eq!(delete(&[b"b"]), Ok(0));
    }
}
