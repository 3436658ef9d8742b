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
