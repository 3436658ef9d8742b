//! Give a key an absolute expiry, optionally under a condition on its current one (Redis
//! `EXPIRE`, `PEXPIRE`, `EXPIREAT`, `PEXPIREAT` with `NX`, `XX`, `GT`, `LT`).

use super::{Apply, ShardContext};
use crate::error::EngineError;
use crate::key::Key;
use crate::time::{Expiry, Timestamp};

/// When an [`Expire`] applies, judged against the key's current deadline. As in Redis, a key
/// with no expiry counts as expiring never: later than any deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExpireCondition {
    /// Always.
    Always,
    /// Only if the key has no expiry (`NX`).
    IfNone,
    /// Only if the key has an expiry (`XX`).
    IfSome,
    /// Only if the new deadline is later than the current one (`GT`; never for a key with no
    /// expiry).
    IfLater,
    /// Only if the new deadline is earlier than the current one (`LT`; always for a key with
    /// no expiry).
    IfEarlier,
    /// Only if the key has an expiry and the new deadline is earlier (`LT XX`). (`GT XX` is
    /// [`IfLater`](ExpireCondition::IfLater): it already fails without an expiry.)
    IfSomeEarlier,
}

/// Sets a key's expiry to an absolute deadline, whatever the key holds; a sliding item stops
/// sliding. The condition is checked first; then a deadline not after `now` removes the key,
/// as Redis does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expire<'a> {
    /// The key.
    pub key: Key<'a>,
    /// The new deadline (relative forms are the caller's `now` plus the duration).
    pub at: Timestamp,
    /// When to apply it.
    pub condition: ExpireCondition,
}

/// What an [`Expire`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpireOutcome {
    /// The key now expires at the deadline.
    Set,
    /// The deadline was not in the future: the key was removed (Redis replies 1 and notifies
    /// a deletion, not an expiry).
    Removed,
    /// The condition did not hold; nothing changed.
    NotSet,
    /// The key holds nothing.
    NotFound,
}

impl Apply for Expire<'_> {
    type Outcome = Result<ExpireOutcome, EngineError>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        let Some(index) = ctx.live(self.key, now) else {
            return Ok(ExpireOutcome::NotFound);
        };
        let current = ctx.shard.item(index).deadline;
        let applies = match (self.condition, current) {
            (ExpireCondition::Always, _) => true,
            (ExpireCondition::IfNone, current) => current.is_none(),
            (ExpireCondition::IfSome, current) => current.is_some(),
            (ExpireCondition::IfLater, Some(current)) => self.at > current,
            (ExpireCondition::IfLater, None) => false,
            (ExpireCondition::IfEarlier, Some(current)) => self.at < current,
            (ExpireCondition::IfEarlier, None) => true,
            (ExpireCondition::IfSomeEarlier, Some(current)) => self.at < current,
            (ExpireCondition::IfSomeEarlier, None) => false,
        };
        if !applies {
            return Ok(ExpireOutcome::NotSet);
        }
        if self.at <= now {
            ctx.shard.remove(index, ctx.memory);
            return Ok(ExpireOutcome::Removed);
        }
        ctx.shard
            .item_mut(index)
            .set_expiry(Expiry::At(self.at), now);
        ctx.shard.schedule(index);
        Ok(ExpireOutcome::Set)
    }

    fn refusal(&self, error: EngineError) -> Option<Self::Outcome> {
        Some(Err(error))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::testing::{engine, hash_with, inspect, secs, set};

    const KEY: Key<'static> = Key {
        namespace: crate::NamespaceId(5),
        name: b"k",
    };

    fn expire(engine: &crate::Engine, at: u64, condition: ExpireCondition) -> ExpireOutcome {
        let expire = Expire {
            key: KEY,
            at: secs(at),
            condition,
        };
        engine.run(&expire, secs(10)).unwrap()
    }

    fn ttl(engine: &crate::Engine) -> Option<Duration> {
        inspect(engine, KEY, secs(10)).unwrap().ttl
    }

    #[test]
    fn conditions_follow_redis_with_no_expiry_counting_as_never() {
        use ExpireCondition::*;
        let engine = engine();
        assert_eq!(expire(&engine, 100, Always), ExpireOutcome::NotFound);
        set(&engine, KEY, b"v", secs(10));
        assert_eq!(expire(&engine, 100, IfLater), ExpireOutcome::NotSet);
        assert_eq!(expire(&engine, 100, IfSome), ExpireOutcome::NotSet);
        assert_eq!(expire(&engine, 100, IfSomeEarlier), ExpireOutcome::NotSet);
        assert_eq!(expire(&engine, 100, IfEarlier), ExpireOutcome::Set);
        assert_eq!(ttl(&engine), Some(Duration::from_secs(90)));
        assert_eq!(expire(&engine, 50, IfLater), ExpireOutcome::NotSet);
        assert_eq!(
            expire(&engine, 100, IfLater),
            ExpireOutcome::NotSet,
            "equal"
        );
        assert_eq!(expire(&engine, 200, IfLater), ExpireOutcome::Set);
        assert_eq!(expire(&engine, 20, IfNone), ExpireOutcome::NotSet);
        assert_eq!(expire(&engine, 20, IfSome), ExpireOutcome::Set);
        assert_eq!(ttl(&engine), Some(Duration::from_secs(10)));
        assert_eq!(expire(&engine, 30, IfEarlier), ExpireOutcome::NotSet);
        assert_eq!(expire(&engine, 30, IfSomeEarlier), ExpireOutcome::NotSet);
        assert_eq!(expire(&engine, 15, IfSomeEarlier), ExpireOutcome::Set);
        assert_eq!(ttl(&engine), Some(Duration::from_secs(5)));
    }

    #[test]
    fn a_deadline_not_in_the_future_removes_the_key_once_the_condition_holds() {
        use ExpireCondition::*;
        let engine = engine();
        set(&engine, KEY, b"v", secs(10));
        assert_eq!(expire(&engine, 5, IfLater), ExpireOutcome::NotSet);
        assert_eq!(expire(&engine, 5, IfSome), ExpireOutcome::NotSet);
        assert!(inspect(&engine, KEY, secs(10)).is_some());
        assert_eq!(expire(&engine, 10, IfEarlier), ExpireOutcome::Removed);
        assert!(inspect(&engine, KEY, secs(10)).is_none());
        assert_eq!(engine.stats().memory_used, 0);
    }

    #[test]
    fn any_type_expires_and_a_sliding_item_stops_sliding() {
        let engine = engine();
        hash_with(&engine, KEY, &[(b"f", b"v")], secs(10));
        assert_eq!(
            expire(&engine, 12, ExpireCondition::Always),
            ExpireOutcome::Set
        );
        assert!(inspect(&engine, KEY, secs(12)).is_none());
        let sliding = crate::Expiry::Sliding(Duration::from_secs(5));
        let store = crate::Store::new(KEY, b"v", 0, sliding, crate::StoreMode::Set);
        engine.run(&store, secs(10)).unwrap();
        assert_eq!(
            expire(&engine, 30, ExpireCondition::IfLater),
            ExpireOutcome::Set
        );
        let get = crate::Get::new(KEY);
        engine.run(&get, secs(29)).unwrap();
        assert_eq!(
            inspect(&engine, KEY, secs(29)).unwrap().ttl,
            Some(Duration::from_secs(1))
        );
    }
}
