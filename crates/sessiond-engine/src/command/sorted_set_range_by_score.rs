//! Read a sorted set's members within a score range (Redis `ZRANGEBYSCORE`,
//! `ZREVRANGEBYSCORE`, `ZRANGE ... BYSCORE`).

use bytes::Bytes;

use super::{Apply, ShardContext};
use crate::collection::{self, ScoreBound};
use crate::error::EngineError;
use crate::item::ValueType;
use crate::key::Key;
use crate::time::Timestamp;

/// Reads the members whose score lies between `min` and `max`, with their scores, by
/// ascending (score, member), or descending with `reverse`; then skips `offset` and keeps at
/// most `count` (Redis's `LIMIT`; a negative Redis count is `None`, a negative offset an empty
/// reply the protocol gives itself). Renews nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct SortedSetRangeByScore<'a> {
    /// The sorted set's key.
    pub key: Key<'a>,
    /// The lowest score in the range.
    pub min: ScoreBound,
    /// The highest score in the range.
    pub max: ScoreBound,
    /// Highest first.
    pub reverse: bool,
    /// How many members in range to skip.
    pub offset: usize,
    /// How many to return at most; `None` for all.
    pub count: Option<usize>,
}

impl<'a> SortedSetRangeByScore<'a> {
    /// Every member of `key` between `min` and `max`, lowest first.
    pub fn new(key: Key<'a>, min: ScoreBound, max: ScoreBound) -> Self {
        SortedSetRangeByScore {
            key,
            min,
            max,
            reverse: false,
            offset: 0,
            count: None,
        }
    }
}

impl Apply for SortedSetRangeByScore<'_> {
    /// (member, score) pairs; empty when the key holds nothing.
    type Outcome = Result<Vec<(Bytes, f64)>, EngineError>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        let Some(index) = ctx.live_of(self.key, ValueType::SortedSet, now)? else {
            return Ok(Vec::new());
        };
        let value = &ctx.shard.item(index).value;
        let in_range: Vec<_> = collection::scored(value)
            .filter(|&(score, _)| {
                self.min.admits_from_below(score) && self.max.admits_from_above(score)
            })
            .collect();
        let ordered: Box<dyn Iterator<Item = _>> = if self.reverse {
            Box::new(in_range.into_iter().rev())
        } else {
            Box::new(in_range.into_iter())
        };
        let count = self.count.unwrap_or(usize::MAX);
        let page = ordered.skip(self.offset).take(count);
        Ok(page
            .map(|(score, member)| (value.slice(member), score))
            .collect())
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
    use crate::testing::{engine, secs};
    use crate::{AddCondition, SortedSetAdd};

    const KEY: Key<'static> = Key {
        namespace: crate::NamespaceId(5),
        name: b"z",
    };

    fn names(entries: Vec<(Bytes, f64)>) -> Vec<String> {
        entries
            .into_iter()
            .map(|(member, _)| String::from_utf8(member.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn bounds_direction_and_limit_follow_redis() {
        let engine = engine();
        let members: &[(f64, &[u8])] = &[
            (0.0, b"a"),
            (2.0, b"c"),
            (4.0, b"b"),
            (5.0, b"d"),
            (6.0, b"e"),
        ];
        let add = SortedSetAdd {
            key: KEY,
            members,
            condition: AddCondition::Always,
        };
        engine.run(&add, secs(1)).unwrap();
        let range = |range: SortedSetRangeByScore<'_>| names(engine.run(&range, secs(1)).unwrap());
        let all = SortedSetRangeByScore::new(KEY, ScoreBound::NEG_INFINITY, ScoreBound::INFINITY);
        assert_eq!(range(all.clone()), ["a", "c", "b", "d", "e"]);
        assert_eq!(
            range(SortedSetRangeByScore {
                offset: 1,
                count: Some(2),
                ..all.clone()
            }),
            ["c", "b"]
        );
        let open_zero =
            SortedSetRangeByScore::new(KEY, ScoreBound::Exclusive(0.0), ScoreBound::Inclusive(5.0));
        assert_eq!(range(open_zero.clone()), ["c", "b", "d"]);
        assert_eq!(
            range(SortedSetRangeByScore {
                reverse: true,
                ..open_zero
            }),
            ["d", "b", "c"]
        );
        assert_eq!(
            range(SortedSetRangeByScore {
                reverse: true,
                offset: 0,
                count: None,
                ..all.clone()
            }),
            ["e", "d", "b", "c", "a"]
        );
        let empty =
            SortedSetRangeByScore::new(KEY, ScoreBound::Inclusive(5.0), ScoreBound::Inclusive(1.0));
        assert!(range(empty).is_empty());
        assert!(range(SortedSetRangeByScore { offset: 5, ..all }).is_empty());
    }
}
