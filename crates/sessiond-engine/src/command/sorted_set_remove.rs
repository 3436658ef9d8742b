//! Remove members from a sorted set (Redis `ZREM`).

use super::{Apply, ShardContext};
use crate::collection::SortedSetEdit;
use crate::error::EngineError;
use crate::item::ValueType;
use crate::key::Key;
use crate::time::Timestamp;

/// Removes members from a sorted set; removing its last member removes the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SortedSetRemove<'a> {
    /// The sorted set's key.
    pub key: Key<'a>,
    /// The members to remove.
    pub members: &'a [&'a [u8]],
}

impl Apply for SortedSetRemove<'_> {
    /// How many members were removed (a member named twice counts once).
    type Outcome = Result<u64, EngineError>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        let Some(index) = ctx.live_of(self.key, ValueType::SortedSet, now)? else {
            return Ok(0);
        };
        let old = ctx.shard.item(index).value.clone();
        let mut edit = SortedSetEdit::decode(&old);
        let removed = self
            .members
            .iter()
            .filter(|member| edit.remove(member))
            .count();
        if removed > 0 {
            let encoded = edit.encode();
            let len = edit.len();
            ctx.put_collection(
                Some(index),
                self.key,
                ValueType::SortedSet,
                &encoded,
                len,
                now,
            )?;
        }
        Ok(removed as u64)
    }

    fn refusal(&self, error: EngineError) -> Option<Self::Outcome> {
        Some(Err(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{engine, inspect, secs, set};
    use crate::{AddCondition, SortedSetAdd};

    #[test]
    fn removes_members_then_the_key_and_refuses_other_types() {
        let engine = engine();
        let key = Key::default_namespace(b"z");
        let members: &[(f64, &[u8])] = &[(1.0, b"a"), (2.0, b"b")];
        let add = SortedSetAdd {
            key,
            members,
            condition: AddCondition::Always,
        };
        engine.run(&add, secs(1)).unwrap();
        let remove = |members: &[&[u8]]| engine.run(&SortedSetRemove { key, members }, secs(1));
        assert_eq!(remove(&[b"a", b"a", b"x"]), Ok(1));
        assert!(inspect(&engine, key, secs(1)).is_some());
        assert_eq!(remove(&[b"b"]), Ok(1));
        assert_eq!(inspect(&engine, key, secs(1)), None);
        assert_eq!(remove(&[b"b"]), Ok(0));
        set(&engine, key, b"s", secs(1));
        assert_eq!(remove(&[b"b"]), Err(EngineError::WrongType));
    }
}
