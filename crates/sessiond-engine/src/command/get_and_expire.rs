//! Read a string and change its expiry in one step (Redis `GETEX`).

use bytes::Bytes;

use super::{Apply, ShardContext};
use crate::error::EngineError;
use crate::item::{ItemBits, ValueType};
use crate::key::Key;
use crate::time::{ExpiryUpdate, Timestamp};

/// Reads a string and sets, removes or keeps its expiry. An absolute expiry already past
/// removes the key after the read, as Redis does. A key holding another type is refused with
/// [`EngineError::WrongType`]. The read renews a sliding deadline, as [`Get`](crate::Get)
/// does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetAndExpire<'a> {
    /// The key to read.
    pub key: Key<'a>,
    /// What becomes of its expiry (`PERSIST` is `Set(Expiry::Never)`).
    pub expiry: ExpiryUpdate,
}

impl Apply for GetAndExpire<'_> {
    /// The value read; `None` when the key held nothing.
    type Outcome = Result<Option<Bytes>, EngineError>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        ctx.shard.counters.cmd_get += 1;
        let Some(index) = ctx.live_of(self.key, ValueType::String, now)? else {
            ctx.shard.counters.get_misses += 1;
            return Ok(None);
        };
        ctx.shard.counters.get_hits += 1;
        let item = ctx.shard.item_mut(index);
        let value = item.value.clone();
        item.renew(now);
        item.last_access = now;
        item.bits.set(ItemBits::FETCHED, true);
        if let ExpiryUpdate::Set(expiry) = self.expiry {
            item.set_expiry(expiry, now);
        }
        if item.is_expired(now) {
            ctx.shard.remove(index, ctx.memory);
        } else {
            ctx.shard.schedule(index);
        }
        Ok(Some(value))
    }

    /// Only a change of expiry is a write; a plain read goes on while writes are refused.
    fn refusal(&self, error: EngineError) -> Option<Self::Outcome> {
        matches!(self.expiry, ExpiryUpdate::Set(_)).then_some(Err(error))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::testing::{engine, inspect, secs, set};
    use crate::{Expire, ExpireCondition, Expiry};

    #[test]
    fn sets_keeps_or_removes_the_expiry_and_a_past_deadline_removes_the_key() {
        let engine = engine();
        let key = Key::default_namespace(b"k");
        set(&engine, key, b"v", secs(1));
        let get = |expiry, now| engine.run(&GetAndExpire { key, expiry }, now);
        let v = Ok(Some(Bytes::from_static(b"v")));
        assert_eq!(get(ExpiryUpdate::Set(Expiry::At(secs(50))), secs(10)), v);
        assert_eq!(
            inspect(&engine, key, secs(10)).unwrap().ttl,
            Some(Duration::from_secs(40))
        );
        assert_eq!(get(ExpiryUpdate::Keep, secs(20)), v);
        assert_eq!(
            inspect(&engine, key, secs(20)).unwrap().ttl,
            Some(Duration::from_secs(30))
        );
        assert_eq!(get(ExpiryUpdate::Set(Expiry::Never), secs(20)), v);
        assert_eq!(inspect(&engine, key, secs(20)).unwrap().ttl, None);
        assert_eq!(get(ExpiryUpdate::Set(Expiry::At(secs(1))), secs(20)), v);
        assert_eq!(inspect(&engine, key, secs(20)), None);
        assert_eq!(engine.stats().curr_items, 0);
        assert_eq!(get(ExpiryUpdate::Keep, secs(20)), Ok(None));
        // A key with an expiry set by Expire reads the same way.
        set(&engine, key, b"v", secs(30));
        let expire = Expire {
            key,
            at: secs(40),
            condition: ExpireCondition::Always,
        };
        engine.run(&expire, secs(30)).unwrap();
        assert_eq!(get(ExpiryUpdate::Keep, secs(39)), v);
        assert_eq!(get(ExpiryUpdate::Keep, secs(40)), Ok(None));
    }
}
