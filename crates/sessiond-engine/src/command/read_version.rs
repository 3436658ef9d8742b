//! A key's version, for optimistic transactions (Redis's `WATCH`): read it before and after,
//! and a command that changed the key in between shows as a different version.

use super::{Apply, ShardContext};
use crate::error::EngineError;
use crate::key::Key;
use crate::shard::Durable;
use crate::time::Timestamp;

/// Reads a key's version. Changes nothing, not even a sliding deadline (an expired item met is
/// removed, as every lookup does).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadVersion<'a> {
    /// The key.
    pub key: Key<'a>,
}

/// A key's item as far as commands can change it: its value (every write takes a new
/// compare-and-swap version, whatever the protocol), flags, expiry, lock and durable bits.
///
/// Two versions of one key differ if any command changed the item between the two reads,
/// including its expiry or removal. They are compared as states, not as histories: a key
/// absent at both reads, or whose expiry or lock was set and put back exactly as it was,
/// reads the same. A sliding item's deadline moving on an access is not a change: reads
/// renew sessions all the time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemVersion(Durable);

impl Apply for ReadVersion<'_> {
    /// `None` when the key holds nothing.
    type Outcome = Option<ItemVersion>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        let index = ctx.live(self.key, now)?;
        let item = ctx.shard.item(index);
        Some(ItemVersion(Durable::of(item).without_renewal()))
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
    use std::time::Duration;

    use super::*;
    use crate::testing::{engine, secs, set};
    use crate::{
        Delete, Engine, Expire, ExpireCondition, Expiry, Get, Persist, ReadSession, Store,
        StoreMode, Touch, WriteString,
    };

    fn version(engine: &Engine, key: Key<'_>, now: Timestamp) -> Option<ItemVersion> {
        engine.run(&ReadVersion { key }, now)
    }

    #[test]
    fn a_read_keeps_the_version_and_every_write_changes_it() {
        let engine = engine();
        let key = Key::default_namespace(b"k");
        assert_eq!(version(&engine, key, secs(1)), None);
        set(&engine, key, b"v", secs(1));
        let first = version(&engine, key, secs(1)).expect("present");
        engine.run(&Get::new(key), secs(2)).unwrap();
        assert_eq!(version(&engine, key, secs(2)), Some(first));
        // The same value written again is still a write.
        set(&engine, key, b"v", secs(3));
        let second = version(&engine, key, secs(3)).expect("present");
        assert_ne!(second, first);
        engine.run(&Delete::new(key), secs(4)).unwrap();
        assert_eq!(version(&engine, key, secs(4)), None);
        set(&engine, key, b"v", secs(5));
        let third = version(&engine, key, secs(5)).expect("present");
        assert!(third != first && third != second);
    }

    #[test]
    fn an_expiry_change_or_the_expiry_itself_changes_it() {
        let engine = engine();
        let key = Key::default_namespace(b"k");
        set(&engine, key, b"v", secs(1));
        let before = version(&engine, key, secs(1));
        let expire = Expire {
            key,
            at: secs(10),
            condition: ExpireCondition::Always,
        };
        engine.run(&expire, secs(2)).unwrap();
        let expiring = version(&engine, key, secs(2));
        assert_ne!(expiring, before);
        assert_eq!(version(&engine, key, secs(9)), expiring);
        assert_eq!(version(&engine, key, secs(10)), None, "expired");
        // A persist is a change too.
        set(&engine, key, b"v", secs(11));
        engine.run(&expire_at(key, 20), secs(11)).unwrap();
        let expiring = version(&engine, key, secs(11));
        assert!(engine.run(&Persist { key }, secs(12)).unwrap());
        assert_ne!(version(&engine, key, secs(12)), expiring);
    }

    fn expire_at(key: Key<'_>, at: u64) -> Expire<'_> {
        Expire {
            key,
            at: secs(at),
            condition: ExpireCondition::Always,
        }
    }

    #[test]
    fn other_protocols_changes_show_but_sliding_renewals_do_not() {
        let engine = engine();
        let key = Key::default_namespace(b"session");
        let sliding = Expiry::Sliding(Duration::from_secs(60));
        let store = Store::new(key, b"state", 0, sliding, StoreMode::Set);
        engine.run(&store, secs(1)).unwrap();
        let stored = version(&engine, key, secs(1));
        // A memcached read renews the session: the same version.
        engine.run(&Get::new(key), secs(5)).unwrap();
        assert_eq!(version(&engine, key, secs(5)), stored);
        // An ASP.NET exclusive read locks it: a change.
        let lock = ReadSession {
            key,
            exclusive: true,
        };
        engine.run(&lock, secs(6)).unwrap();
        let locked = version(&engine, key, secs(6));
        assert_ne!(locked, stored);
        // A memcached touch to a fixed time, and a store, are changes.
        let touch = Touch {
            key,
            expiry: Expiry::At(secs(100)),
        };
        engine.run(&touch, secs(7)).unwrap();
        let touched = version(&engine, key, secs(7));
        assert_ne!(touched, locked);
        let write = WriteString::new(key, b"other", Expiry::Never);
        engine.run(&write, secs(8)).unwrap();
        assert_ne!(version(&engine, key, secs(8)), touched);
    }
}
