//! Add members with scores to a sorted set, or change their scores (Redis `ZADD` with `NX`,
//! `XX`, `GT`, `LT`, `CH`).

use super::{Apply, ShardContext};
use crate::collection::SortedSetEdit;
use crate::error::EngineError;
use crate::item::ValueType;
use crate::key::Key;
use crate::time::Timestamp;

/// Which members a [`SortedSetAdd`] adds and which scores it changes. Redis's option
/// combinations that are errors (`NX` with `XX`, `GT` or `LT`; `GT` with `LT`) have no
/// variant: the protocol refuses them before building the command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddCondition {
    /// Add new members and change existing members' scores.
    Always,
    /// Add new members only (`NX`).
    OnlyNew,
    /// Change existing members' scores only (`XX`).
    OnlyExisting,
    /// Add new members; change a score only to a greater one (`GT`).
    Greater,
    /// Change existing members' scores, only to greater ones (`GT XX`).
    GreaterExisting,
    /// Add new members; change a score only to a lower one (`LT`).
    Less,
    /// Change existing members' scores, only to lower ones (`LT XX`).
    LessExisting,
}

impl AddCondition {
    /// Whether a new member may be added.
    pub(crate) fn adds(self) -> bool {
        !matches!(
            self,
            AddCondition::OnlyExisting | AddCondition::GreaterExisting | AddCondition::LessExisting
        )
    }

    /// Whether an existing member's score may change from `current` to `new`.
    pub(crate) fn updates(self, current: f64, new: f64) -> bool {
        match self {
            AddCondition::Always | AddCondition::OnlyExisting => true,
            AddCondition::OnlyNew => false,
            AddCondition::Greater | AddCondition::GreaterExisting => new > current,
            AddCondition::Less | AddCondition::LessExisting => new < current,
        }
    }
}

/// Adds members to a sorted set or changes their scores, creating the set (with no expiry)
/// when the key holds nothing. Members are taken in order, so a member named twice ends with
/// the score its last accepted entry gives. A NaN score refuses the whole command with
/// [`EngineError::NotANumber`]; `-0` is stored as `0`.
#[derive(Clone, Debug, PartialEq)]
pub struct SortedSetAdd<'a> {
    /// The sorted set's key.
    pub key: Key<'a>,
    /// (score, member) pairs.
    pub members: &'a [(f64, &'a [u8])],
    /// Which members to add and which scores to change.
    pub condition: AddCondition,
}

/// What a [`SortedSetAdd`] did: Redis's reply counts `added` (with `CH`, both), and its
/// keyspace event fires when either is not zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SortedSetAdded {
    /// Members that were new.
    pub added: u64,
    /// Existing members whose score changed.
    pub changed: u64,
}

impl Apply for SortedSetAdd<'_> {
    type Outcome = Result<SortedSetAdded, EngineError>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        if self.members.iter().any(|(score, _)| score.is_nan()) {
            return Err(EngineError::NotANumber);
        }
        let found = ctx.live_of(self.key, ValueType::SortedSet, now)?;
        let old = found.map(|index| ctx.shard.item(index).value.clone());
        let mut edit = SortedSetEdit::decode(old.as_deref().unwrap_or_default());
        let (mut added, mut changed) = (0, 0);
        for &(score, member) in self.members {
            match edit.score(member) {
                None if self.condition.adds() => {
                    edit.set(member, score);
                    added += 1;
                }
                None => {}
                // Equal scores (0 and -0 included) are no change, as in Redis.
                Some(current) if current != score && self.condition.updates(current, score) => {
                    edit.set(member, score);
                    changed += 1;
                }
                Some(_) => {}
            }
        }
        if added + changed > 0 {
            let encoded = edit.encode();
            ctx.put_collection(
                found,
                self.key,
                ValueType::SortedSet,
                &encoded,
                edit.len(),
                now,
            )?;
        }
        Ok(SortedSetAdded { added, changed })
    }

    fn refusal(&self, error: EngineError) -> Option<Self::Outcome> {
        Some(Err(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SortedSetRangeByIndex;
    use crate::testing::{engine, secs};

    const KEY: Key<'static> = Key {
        namespace: crate::NamespaceId(5),
        name: b"z",
    };

    fn add(
        engine: &crate::Engine,
        members: &[(f64, &[u8])],
        condition: AddCondition,
        count_changed: bool,
    ) -> Result<u64, EngineError> {
        let add = SortedSetAdd {
            key: KEY,
            members,
            condition,
        };
        engine
            .run(&add, secs(1))
            .map(|done| done.added + if count_changed { done.changed } else { 0 })
    }

    fn all(engine: &crate::Engine) -> Vec<(String, f64)> {
        let range = SortedSetRangeByIndex {
            key: KEY,
            start: 0,
            stop: -1,
            reverse: false,
        };
        let entries = engine.run(&range, secs(1)).unwrap();
        entries
            .into_iter()
            .map(|(member, score)| (String::from_utf8(member.to_vec()).unwrap(), score))
            .collect()
    }

    fn entries(list: &[(&str, f64)]) -> Vec<(String, f64)> {
        list.iter().map(|&(m, s)| (m.to_owned(), s)).collect()
    }

    #[test]
    fn follows_redis_conditions_and_counts() {
        use AddCondition::*;
        let engine = engine();
        // The same sequence was checked against redis-server 7.0.
        assert_eq!(
            add(
                &engine,
                &[(1.0, b"a"), (2.0, b"b"), (2.0, b"c")],
                Always,
                false
            ),
            Ok(3)
        );
        assert_eq!(
            add(
                &engine,
                &[(1.0, b"a"), (3.0, b"b"), (5.0, b"d")],
                Greater,
                false
            ),
            Ok(1)
        );
        assert_eq!(
            all(&engine),
            entries(&[("a", 1.0), ("c", 2.0), ("b", 3.0), ("d", 5.0)])
        );
        assert_eq!(
            add(
                &engine,
                &[(1.0, b"a"), (4.0, b"b"), (6.0, b"e")],
                Greater,
                true
            ),
            Ok(2)
        );
        assert_eq!(
            add(
                &engine,
                &[(0.0, b"a"), (9.0, b"b"), (0.0, b"zz")],
                LessExisting,
                true
            ),
            Ok(1)
        );
        assert_eq!(
            all(&engine),
            entries(&[("a", 0.0), ("c", 2.0), ("b", 4.0), ("d", 5.0), ("e", 6.0)])
        );
        assert_eq!(add(&engine, &[(0.0, b"a")], OnlyExisting, true), Ok(0));
        assert_eq!(
            add(
                &engine,
                &[(0.0, b"a"), (0.0, b"a"), (7.0, b"a")],
                Always,
                true
            ),
            Ok(1)
        );
        assert_eq!(
            add(&engine, &[(1.0, b"a"), (1.0, b"new")], OnlyNew, true),
            Ok(1)
        );
        assert_eq!(add(&engine, &[(1.0, b"x")], OnlyExisting, false), Ok(0));
        assert_eq!(add(&engine, &[(3.0, b"b")], Less, true), Ok(1));
    }

    #[test]
    fn nan_refuses_everything_and_minus_zero_is_zero() {
        let engine = engine();
        let nan = add(
            &engine,
            &[(1.0, b"a"), (f64::NAN, b"b")],
            AddCondition::Always,
            false,
        );
        assert_eq!(nan, Err(EngineError::NotANumber));
        assert_eq!(engine.stats().curr_items, 0);
        assert_eq!(
            add(&engine, &[(-0.0, b"a")], AddCondition::Always, true),
            Ok(1)
        );
        assert_eq!(
            add(&engine, &[(0.0, b"a")], AddCondition::Always, true),
            Ok(0)
        );
        assert!(all(&engine)[0].1.is_sign_positive());
    }
}
