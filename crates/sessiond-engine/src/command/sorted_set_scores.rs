//! Read members' scores (Redis `ZSCORE`, `ZMSCORE`).

use super::{Apply, ShardContext};
use crate::collection;
use crate::error::EngineError;
use crate::item::ValueType;
use crate::key::Key;
use crate::time::Timestamp;

/// Reads the scores of some members of a sorted set. Renews nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SortedSetScores<'a> {
    /// The sorted set's key.
    pub key: Key<'a>,
    /// The members.
    pub members: &'a [&'a [u8]],
}

impl Apply for SortedSetScores<'_> {
    /// Each member's score in the order asked, `None` for a missing member (all `None` when
    /// the key holds nothing).
    type Outcome = Result<Vec<Option<f64>>, EngineError>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        let Some(index) = ctx.live_of(self.key, ValueType::SortedSet, now)? else {
            return Ok(vec![None; self.members.len()]);
        };
        let value = &ctx.shard.item(index).value;
        let score = |wanted: &[u8]| {
            collection::scored(value)
                .find(|(_, member)| value[member.clone()] == *wanted)
                .map(|(score, _)| score)
        };
        Ok(self.members.iter().map(|member| score(member)).collect())
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
    use crate::testing::{engine, secs, set};
    use crate::{AddCondition, SortedSetAdd, SortedSetRemove};

    #[test]
    fn reads_scores_and_removal_empties_the_key() {
        let engine = engine();
        let key = Key::default_namespace(b"z");
        let members: &[(f64, &[u8])] = &[(1.5, b"a"), (-2.0, b"b")];
        let add = SortedSetAdd {
            key,
            members,
            condition: AddCondition::Always,
        };
        engine.run(&add, secs(1)).unwrap();
        let scores = |members: &[&[u8]]| engine.run(&SortedSetScores { key, members }, secs(1));
        assert_eq!(
            scores(&[b"b", b"x", b"a"]),
            Ok(vec![Some(-2.0), None, Some(1.5)])
        );
        let remove = |members: &[&[u8]]| engine.run(&SortedSetRemove { key, members }, secs(1));
        assert_eq!(remove(&[b"a", b"a", b"nope"]), Ok(1));
        assert_eq!(remove(&[b"b"]), Ok(1));
        assert_eq!(engine.stats().curr_items, 0);
        assert_eq!(scores(&[b"a"]), Ok(vec![None]));
        set(&engine, key, b"s", secs(1));
        assert_eq!(scores(&[b"a"]), Err(EngineError::WrongType));
        assert_eq!(remove(&[b"a"]), Err(EngineError::WrongType));
    }
}
