//! Remove a sorted set's members within a score range (Redis `ZREMRANGEBYSCORE`).

use super::{Apply, ShardContext};
use crate::collection::{self, ScoreBound, SortedSetEdit};
use crate::error::EngineError;
use crate::item::ValueType;
use crate::key::Key;
use crate::time::Timestamp;

/// Removes the members whose score lies between `min` and `max`; removing the last member
/// removes the key.
#[derive(Clone, Debug, PartialEq)]
pub struct SortedSetRemoveByScore<'a> {
    /// The sorted set's key.
    pub key: Key<'a>,
    /// The lowest score removed.
    pub min: ScoreBound,
    /// The highest score removed.
    pub max: ScoreBound,
}

impl Apply for SortedSetRemoveByScore<'_> {
    /// How many members were removed.
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
        let mut removed = 0;
        for (score, member) in collection::scored(&old) {
            if self.min.admits_from_below(score) && self.max.admits_from_above(score) {
                edit.remove(&old[member]);
                removed += 1;
            }
        }
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
        Ok(removed)
    }

    fn refusal(&self, error: EngineError) -> Option<Self::Outcome> {
        Some(Err(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{engine, secs};
    use crate::{AddCondition, SortedSetAdd, SortedSetScores};

    #[test]
    fn removes_the_range_and_then_the_key() {
        let engine = engine();
        let key = Key::default_namespace(b"z");
        let members: &[(f64, &[u8])] = &[(2.0, b"c"), (4.0, b"b"), (5.0, b"d"), (6.0, b"e")];
        let add = SortedSetAdd {
            key,
            members,
            condition: AddCondition::Always,
        };
        engine.run(&add, secs(1)).unwrap();
        let remove = |min, max| engine.run(&SortedSetRemoveByScore { key, min, max }, secs(1));
        assert_eq!(
            remove(ScoreBound::Inclusive(4.0), ScoreBound::Exclusive(6.0)),
            Ok(2)
        );
        let members: &[&[u8]] = &[b"c", b"b", b"d", b"e"];
        assert_eq!(
            engine.run(&SortedSetScores { key, members }, secs(1)),
            Ok(vec![Some(2.0), None, None, Some(6.0)])
        );
        assert_eq!(
            remove(ScoreBound::NEG_INFINITY, ScoreBound::INFINITY),
            Ok(2)
        );
        assert_eq!(engine.stats().curr_items, 0);
    }
}
