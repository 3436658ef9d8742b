//! Test members of a set (Redis `SISMEMBER`, `SMISMEMBER`).

use super::{Apply, ShardContext};
use crate::collection;
use crate::error::EngineError;
use crate::item::ValueType;
use crate::key::Key;
use crate::time::Timestamp;

/// Tells which of some members a set holds. Renews nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetContains<'a> {
    /// The set's key.
    pub key: Key<'a>,
    /// The members to look for.
    pub members: &'a [&'a [u8]],
}

impl Apply for SetContains<'_> {
    /// Whether each member is in the set, in the order asked (all false when the key holds
    /// nothing).
    type Outcome = Result<Vec<bool>, EngineError>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        let Some(index) = ctx.live_of(self.key, ValueType::Set, now)? else {
            return Ok(vec![false; self.members.len()]);
        };
        let value = &ctx.shard.item(index).value;
        let contains = |wanted: &[u8]| collection::members(value).any(|m| value[m] == *wanted);
        Ok(self.members.iter().map(|member| contains(member)).collect())
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
    use crate::SetAdd;
    use crate::testing::{engine, hash_with, secs};

    #[test]
    fn answers_per_member_and_refuses_other_types() {
        let engine = engine();
        let key = Key::default_namespace(b"s");
        let contains = |members: &[&[u8]]| engine.run(&SetContains { key, members }, secs(1));
        assert_eq!(contains(&[b"a"]), Ok(vec![false]));
        let members: &[&[u8]] = &[b"a", b"b"];
        engine.run(&SetAdd { key, members }, secs(1)).unwrap();
        assert_eq!(contains(&[b"b", b"c", b"a"]), Ok(vec![true, false, true]));
        hash_with(&engine, key, &[(b"a", b"1")], secs(1));
        assert_eq!(contains(&[b"a"]), Err(EngineError::WrongType));
    }
}
