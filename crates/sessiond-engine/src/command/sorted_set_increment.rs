//! Add to a member's score (Redis `ZINCRBY`, `ZADD ... INCR`).

use super::{Apply, ShardContext};
use crate::collection::SortedSetEdit;
use crate::command::AddCondition;
use crate::error::EngineError;
use crate::item::ValueType;
use crate::key::Key;
use crate::time::Timestamp;

/// Adds `delta` to a member's score, adding the member with score `delta` when it is new,
/// and creating the set (with no expiry) as needed, subject to `condition` as in Redis's
/// `ZADD ... INCR`: `NX` leaves an existing member alone, `XX` adds no member, `GT`/`LT`
/// change a score only when the sum is greater/lower. Refused, changing nothing, with
/// [`EngineError::NotANumber`] when the sum is NaN (`+inf` plus `-inf`).
#[derive(Clone, Debug, PartialEq)]
pub struct SortedSetIncrement<'a> {
    /// The sorted set's key.
    pub key: Key<'a>,
    /// The member.
    pub member: &'a [u8],
    /// What to add.
    pub delta: f64,
    /// Whether to add a new member and whether to change an existing one.
    pub condition: AddCondition,
}

/// What a [`SortedSetIncrement`] did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IncrementedScore {
    /// The member's score now.
    pub score: f64,
    /// Whether the set changed: the member was added or its score moved. A sum equal to the
    /// old score (an increment by 0, or one too small to show) changes nothing, and Redis
    /// then publishes no `zincr` event.
    pub changed: bool,
}

impl Apply for SortedSetIncrement<'_> {
    /// The member's new score; `None` when `condition` stopped the change (Redis's null
    /// reply). A sum equal to the old score is answered though nothing changes.
    type Outcome = Result<Option<IncrementedScore>, EngineError>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        if self.delta.is_nan() {
            return Err(EngineError::NotANumber);
        }
        let found = ctx.live_of(self.key, ValueType::SortedSet, now)?;
        let old = found.map(|index| ctx.shard.item(index).value.clone());
        let mut edit = SortedSetEdit::decode(old.as_deref().unwrap_or_default());
        let score = match edit.score(self.member) {
            None if self.condition.adds() => self.delta,
            None => return Ok(None),
            Some(_) if self.condition == AddCondition::OnlyNew => return Ok(None),
            Some(current) => {
                let sum = current + self.delta;
                if sum.is_nan() {
                    return Err(EngineError::NotANumber);
                }
                if !self.condition.updates(current, sum) {
                    return Ok(None);
                }
                if sum == current {
                    return Ok(Some(IncrementedScore {
                        score: sum,
                        changed: false,
                    }));
                }
                sum
            }
        };
        edit.set(self.member, score);
        let encoded = edit.encode();
        let len = edit.len();
        ctx.put_collection(found, self.key, ValueType::SortedSet, &encoded, len, now)?;
        Ok(Some(IncrementedScore {
            score,
            changed: true,
        }))
    }

    fn refusal(&self, error: EngineError) -> Option<Self::Outcome> {
        Some(Err(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SortedSetScores;
    use crate::testing::{engine, secs, set};

    #[test]
    fn follows_zadd_incr_conditions() {
        use AddCondition::*;
        let engine = engine();
        let key = Key::default_namespace(b"z");
        let incr = |member: &'static [u8], delta, condition| {
            let command = SortedSetIncrement {
                key,
                member,
                delta,
                condition,
            };
            engine.run(&command, secs(1))
        };
        let changed = |score| {
            Ok(Some(IncrementedScore {
                score,
                changed: true,
            }))
        };
        assert_eq!(incr(b"a", 1.0, OnlyExisting), Ok(None));
        assert_eq!(engine.stats().curr_items, 0);
        assert_eq!(incr(b"a", 1.5, Always), changed(1.5));
        assert_eq!(incr(b"a", 1.0, Always), changed(2.5));
        assert_eq!(incr(b"a", 1.0, OnlyNew), Ok(None));
        assert_eq!(incr(b"a", -1.0, Greater), Ok(None));
        assert_eq!(incr(b"a", 0.0, Greater), Ok(None));
        // Answered with the score, but nothing changed.
        let same = IncrementedScore {
            score: 2.5,
            changed: false,
        };
        assert_eq!(incr(b"a", 0.0, Always), Ok(Some(same)));
        assert_eq!(incr(b"a", -1.0, LessExisting), changed(1.5));
        assert_eq!(incr(b"b", -1.0, Less), changed(-1.0));
        assert_eq!(incr(b"c", f64::INFINITY, Always), changed(f64::INFINITY));
        assert_eq!(
            incr(b"c", f64::NEG_INFINITY, Always),
            Err(EngineError::NotANumber)
        );
        let members: &[&[u8]] = &[b"a", b"b", b"c"];
        assert_eq!(
            engine.run(&SortedSetScores { key, members }, secs(1)),
            Ok(vec![Some(1.5), Some(-1.0), Some(f64::INFINITY)])
        );
        set(&engine, key, b"s", secs(1));
        assert_eq!(incr(b"a", 1.0, Always), Err(EngineError::WrongType));
    }
}
