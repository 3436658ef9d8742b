//! Look at a key's type and remaining time without reading or renewing it (Redis `TYPE`,
//! `TTL`, `PTTL`, `EXISTS`).

use std::time::Duration;

use super::{Apply, ShardContext};
use crate::error::EngineError;
use crate::item::ValueType;
use crate::key::Key;
use crate::time::Timestamp;

/// Looks at a key: what it holds and how long it has left. Nothing changes, not even a sliding
/// deadline or an access time (an expired item met is removed, as every lookup does).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inspect<'a> {
    /// The key.
    pub key: Key<'a>,
}

/// What a key holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// The kind of value.
    pub value_type: ValueType,
    /// Time left before it expires; `None` when it never does (Redis's `TTL` -1). A key that
    /// holds nothing has no `KeyInfo` (Redis's -2).
    pub ttl: Option<Duration>,
}

impl Apply for Inspect<'_> {
    /// `None` when the key holds nothing.
    type Outcome = Option<KeyInfo>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        let index = ctx.live(self.key, now)?;
        let item = ctx.shard.item(index);
        Some(KeyInfo {
            value_type: item.value_type(),
            ttl: item.ttl(now),
        })
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
    use crate::{Expiry, Store, StoreMode};

    #[test]
    fn does_not_renew_a_sliding_deadline() {
        let engine = engine();
        let key = Key::default_namespace(b"k");
        let sliding = Expiry::Sliding(Duration::from_secs(10));
        engine
            .run(&Store::new(key, b"v", 0, sliding, StoreMode::Set), secs(0))
            .unwrap();
        let info = engine.run(&Inspect { key }, secs(4));
        assert_eq!(
            info,
            Some(KeyInfo {
                value_type: ValueType::String,
                ttl: Some(Duration::from_secs(6))
            })
        );
        assert_eq!(
            engine.run(&Inspect { key }, secs(9)).unwrap().ttl,
            Some(Duration::from_secs(1))
        );
        assert_eq!(engine.run(&Inspect { key }, secs(10)), None);
        assert_eq!(engine.stats().counters.expired, 1);
        assert_eq!(
            engine.count_existing(&[key, key, Key::default_namespace(b"x")], secs(10)),
            0
        );
    }
}
