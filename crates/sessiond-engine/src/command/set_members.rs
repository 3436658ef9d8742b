//! Read a whole set (Redis `SMEMBERS`).

use bytes::Bytes;

use super::{Apply, ShardContext};
use crate::collection;
use crate::error::EngineError;
use crate::item::ValueType;
use crate::key::Key;
use crate::time::Timestamp;

/// Reads every member of a set, in insertion order; slices of the stored value, not copies.
/// Renews nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetMembers<'a> {
    /// The set's key.
    pub key: Key<'a>,
}

impl Apply for SetMembers<'_> {
    /// The members; empty when the key holds nothing.
    type Outcome = Result<Vec<Bytes>, EngineError>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        let Some(index) = ctx.live_of(self.key, ValueType::Set, now)? else {
            return Ok(Vec::new());
        };
        let value = &ctx.shard.item(index).value;
        Ok(collection::members(value)
            .map(|member| value.slice(member))
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
    use crate::SetAdd;
    use crate::testing::{engine, hash_with, secs};

    #[test]
    fn reads_members_in_insertion_order() {
        let engine = engine();
        let key = Key::default_namespace(b"s");
        let members = || engine.run(&SetMembers { key }, secs(1));
        assert_eq!(members(), Ok(Vec::new()));
        let added: &[&[u8]] = &[b"z", b"", b"a"];
        engine
            .run(
                &SetAdd {
                    key,
                    members: added,
                },
                secs(1),
            )
            .unwrap();
        assert_eq!(
            members(),
            Ok(vec![
                Bytes::from_static(b"z"),
                Bytes::new(),
                Bytes::from_static(b"a")
            ])
        );
        hash_with(&engine, key, &[(b"f", b"v")], secs(1));
        assert_eq!(members(), Err(EngineError::WrongType));
    }
}
