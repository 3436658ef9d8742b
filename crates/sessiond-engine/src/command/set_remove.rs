//! Remove members from a set (Redis `SREM`).

use super::{Apply, ShardContext};
use crate::collection::SetEdit;
use crate::error::EngineError;
use crate::item::ValueType;
use crate::key::Key;
use crate::time::Timestamp;

/// Removes members from a set; removing its last member removes the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetRemove<'a> {
    /// The set's key.
    pub key: Key<'a>,
    /// The members to remove.
    pub members: &'a [&'a [u8]],
}

impl Apply for SetRemove<'_> {
    /// How many members were removed (a member named twice counts once).
    type Outcome = Result<u64, EngineError>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        let Some(index) = ctx.live_of(self.key, ValueType::Set, now)? else {
            return Ok(0);
        };
        let old = ctx.shard.item(index).value.clone();
        let mut edit = SetEdit::decode(&old);
        let removed = self
            .members
            .iter()
            .filter(|member| edit.remove(member))
            .count();
        if removed > 0 {
            let encoded = edit.encode();
            ctx.put_collection(
                Some(index),
                self.key,
                ValueType::Set,
                &encoded,
                edit.len(),
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
    use crate::SetAdd;
    use crate::testing::{engine, inspect, secs};

    #[test]
    fn removing_the_last_member_removes_the_key() {
        let engine = engine();
        let key = Key::default_namespace(b"s");
        let members: &[&[u8]] = &[b"a", b"b"];
        engine.run(&SetAdd { key, members }, secs(1)).unwrap();
        let remove = |members: &[&[u8]]| engine.run(&SetRemove { key, members }, secs(1));
        assert_eq!(remove(&[b"a", b"a", b"x"]), Ok(1));
        assert!(inspect(&engine, key, secs(1)).is_some());
        assert_eq!(remove(&[b"b"]), Ok(1));
        assert_eq!(inspect(&engine, key, secs(1)), None);
        assert_eq!(engine.stats().memory_used, 0);
    }
}
