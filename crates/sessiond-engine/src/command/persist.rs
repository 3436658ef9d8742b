//! Remove a key's expiry (Redis `PERSIST`).

use super::{Apply, ShardContext};
use crate::error::EngineError;
use crate::key::Key;
use crate::time::{Expiry, Timestamp};

/// Makes a key, of any type, never expire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Persist<'a> {
    /// The key.
    pub key: Key<'a>,
}

impl Apply for Persist<'_> {
    /// Whether an expiry was removed: false when the key holds nothing or never expired.
    type Outcome = Result<bool, EngineError>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        let Some(index) = ctx.live(self.key, now) else {
            return Ok(false);
        };
        let item = ctx.shard.item_mut(index);
        if item.deadline.is_none() {
            return Ok(false);
        }
        // The item leaves the wheel when its old bucket comes due.
        item.set_expiry(Expiry::Never, now);
        Ok(true)
    }

    fn refusal(&self, error: EngineError) -> Option<Self::Outcome> {
        Some(Err(error))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::testing::{engine, inspect, secs};
    use crate::{Store, StoreMode};

    #[test]
    fn removes_an_expiry_once() {
        let engine = engine();
        let key = Key::default_namespace(b"k");
        let persist = Persist { key };
        assert_eq!(engine.run(&persist, secs(1)), Ok(false));
        let sliding = Expiry::Sliding(Duration::from_secs(5));
        engine
            .run(&Store::new(key, b"v", 0, sliding, StoreMode::Set), secs(1))
            .unwrap();
        assert_eq!(engine.run(&persist, secs(1)), Ok(true));
        assert_eq!(engine.run(&persist, secs(1)), Ok(false));
        assert_eq!(engine.expire_due(secs(100), usize::MAX), 0);
        assert_eq!(inspect(&engine, key, secs(100)).unwrap().ttl, None);
    }
}
