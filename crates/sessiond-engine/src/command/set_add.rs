//! Add members to a set (Redis `SADD`).

use super::{Apply, ShardContext};
use crate::collection::SetEdit;
use crate::error::EngineError;
use crate::item::ValueType;
use crate::key::Key;
use crate::time::Timestamp;

/// Adds members to a set, creating it (with no expiry) when the key holds nothing. New
/// members go after the others. The set keeps its expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetAdd<'a> {
    /// The set's key.
    pub key: Key<'a>,
    /// The members to add.
    pub members: &'a [&'a [u8]],
}

impl Apply for SetAdd<'_> {
    /// How many members are new (a member named twice counts once).
    type Outcome = Result<u64, EngineError>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        let found = ctx.live_of(self.key, ValueType::Set, now)?;
        let old = found.map(|index| ctx.shard.item(index).value.clone());
        let mut edit = SetEdit::decode(old.as_deref().unwrap_or_default());
        let added = self
            .members
            .iter()
            .filter(|member| edit.add(member))
            .count();
        if added > 0 {
            let encoded = edit.encode();
            ctx.put_collection(found, self.key, ValueType::Set, &encoded, edit.len(), now)?;
        }
        Ok(added as u64)
    }

    fn refusal(&self, error: EngineError) -> Option<Self::Outcome> {
        Some(Err(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{engine, secs, set};
    use crate::{SetMembers, charge};

    #[test]
    fn adds_new_members_in_order_and_refuses_other_types() {
        let engine = engine();
        let key = Key::default_namespace(b"s");
        let add = |members: &[&[u8]]| engine.run(&SetAdd { key, members }, secs(1));
        assert_eq!(add(&[b"b", b"a", b"b"]), Ok(2));
        assert_eq!(add(&[b"a"]), Ok(0));
        assert_eq!(add(&[b"c", b"a"]), Ok(1));
        let members = engine.run(&SetMembers { key }, secs(1)).unwrap();
        assert_eq!(members, [&b"b"[..], b"a", b"c"]);
        assert_eq!(engine.stats().memory_used, charge(1, 4 + 3 * 5));
        set(&engine, key, b"string", secs(1));
        assert_eq!(add(&[b"x"]), Err(EngineError::WrongType));
    }
}
