//! Read a sorted set's members by rank (Redis `ZRANGE`, `ZREVRANGE`).

use bytes::Bytes;

use super::{Apply, ShardContext};
use crate::collection;
use crate::error::EngineError;
use crate::item::ValueType;
use crate::key::Key;
use crate::time::Timestamp;

/// Reads the members ranked `start` to `stop` inclusive, with their scores, rank 0 being the
/// lowest (the highest with `reverse`). Negative ranks count from the end (-1 is the last), as
/// in Redis; ranges past either end are clipped and an empty range gives nothing. Renews
/// nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SortedSetRangeByIndex<'a> {
    /// The sorted set's key.
    pub key: Key<'a>,
    /// The first rank.
    pub start: i64,
    /// The last rank.
    pub stop: i64,
    /// Rank from the highest.
    pub reverse: bool,
}

impl Apply for SortedSetRangeByIndex<'_> {
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
        let len = collection::count(value) as i64;
        let Some((first, last)) = ranks(self.start, self.stop, len) else {
            return Ok(Vec::new());
        };
        let entries: Vec<_> = collection::scored(value).collect();
        let pick = |rank: usize| {
            let position = if self.reverse {
                entries.len() - 1 - rank
            } else {
                rank
            };
            entries.get(position).cloned()
        };
        Ok((first..=last)
            .filter_map(pick)
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

/// Redis's rank arithmetic: negative ranks from the end, the start clipped at 0, the stop at
/// the last rank; `None` for an empty range.
fn ranks(start: i64, stop: i64, len: i64) -> Option<(usize, usize)> {
    let start = if start < 0 {
        len.saturating_add(start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 {
        len.saturating_add(stop)
    } else {
        stop
    };
    if start > stop || start >= len {
        return None;
    }
    let stop = stop.min(len - 1);
    Some((usize::try_from(start).ok()?, usize::try_from(stop).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{engine, secs};
    use crate::{AddCondition, SortedSetAdd};

    #[test]
    fn ranks_follow_redis() {
        assert_eq!(ranks(0, -1, 5), Some((0, 4)));
        assert_eq!(ranks(-2, -1, 5), Some((3, 4)));
        assert_eq!(ranks(-100, 100, 5), Some((0, 4)));
        assert_eq!(ranks(3, 1, 5), None);
        assert_eq!(ranks(5, 10, 5), None);
        assert_eq!(ranks(0, -6, 5), None);
        assert_eq!(ranks(0, 0, 0), None);
        assert_eq!(ranks(i64::MIN, i64::MAX, 3), Some((0, 2)));
    }

    #[test]
    fn reverse_ranks_from_the_highest() {
        let engine = engine();
        let key = Key::default_namespace(b"z");
        let members: &[(f64, &[u8])] = &[(1.0, b"a"), (2.0, b"b"), (3.0, b"c")];
        let add = SortedSetAdd {
            key,
            members,
            condition: AddCondition::Always,
        };
        engine.run(&add, secs(1)).unwrap();
        let range = |start, stop, reverse| {
            let range = SortedSetRangeByIndex {
                key,
                start,
                stop,
                reverse,
            };
            let entries = engine.run(&range, secs(1)).unwrap();
            entries
                .into_iter()
                .map(|(m, s)| (m.to_vec(), s))
                .collect::<Vec<_>>()
        };
        assert_eq!(range(0, 0, true), [(b"c".to_vec(), 3.0)]);
        assert_eq!(
            range(-2, -1, false),
            [(b"b".to_vec(), 2.0), (b"c".to_vec(), 3.0)]
        );
        assert_eq!(
            range(0, -1, true),
            [
                (b"c".to_vec(), 3.0),
                (b"b".to_vec(), 2.0),
                (b"a".to_vec(), 1.0)
            ]
        );
    }
}
