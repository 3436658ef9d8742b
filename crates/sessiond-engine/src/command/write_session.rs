//! Write a session and release its lock (ASP.NET `SetAndReleaseItemExclusive`,
//! `CreateUninitializedItem`).

use std::time::Duration;

use bytes::Bytes;

use super::{Apply, ShardContext};
use crate::error::EngineError;
use crate::item::{Item, ItemBits, LockCookie, LockInfo, ValueType};
use crate::key::Key;
use crate::shard::Lookup;
use crate::time::{Expiry, Timestamp};

/// Writes a session's data with a sliding timeout and releases its lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteSession<'a> {
    /// The session's key.
    pub key: Key<'a>,
    /// The session's data.
    pub value: &'a [u8],
    /// The sliding timeout; `None` for a session that never expires (ASP.NET's `Timeout: 0`,
    /// which its cache reads as "no sliding expiration").
    pub timeout: Option<Duration>,
    /// The cookie of the lock the writer holds; a locked session is written only with it.
    pub cookie: Option<LockCookie>,
    /// Create the session uninitialized: never overwrite a live one, and flag the first read.
    pub uninitialized: bool,
}

/// What writing a session did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteSessionOutcome {
    /// The data is stored and the session unlocked.
    Stored,
    /// An uninitialized write found a live session and left it alone.
    Unchanged,
    /// The session is locked and the writer's cookie is missing or wrong; nothing changed.
    Locked {
        /// The current lock.
        lock: LockInfo,
    },
}

impl Apply for WriteSession<'_> {
    type Outcome = Result<WriteSessionOutcome, EngineError>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        let shard = &mut *ctx.shard;
        shard.counters.cmd_set += 1;
        let expiry = self.timeout.map_or(Expiry::Never, Expiry::Sliding);
        let Lookup::Live(index) = shard.lookup(ctx.hash, self.key, now, ctx.memory) else {
            let cas = shard.next_cas();
            let mut item = Item::new(Bytes::new(), 0, expiry, cas, now);
            item.bits.set(ItemBits::UNINITIALIZED, self.uninitialized);
            shard.insert(ctx.hash, self.key, self.value, item, ctx.memory)?;
            return Ok(WriteSessionOutcome::Stored);
        };
        if shard.item(index).value_type() != ValueType::String {
            return Err(EngineError::WrongType);
        }
        if self.uninitialized {
            // The reference server never lets an uninitialized item replace a live one: a
            // request that raced an expiring session must not wipe the session that replaced it.
            let item = shard.item_mut(index);
            item.renew(now);
            shard.schedule(index);
            return Ok(WriteSessionOutcome::Unchanged);
        }
        if let Some(lock) = shard.item(index).lock()
            && self.cookie != Some(lock.cookie)
        {
            let item = shard.item_mut(index);
            item.renew(now);
            shard.schedule(index);
            return Ok(WriteSessionOutcome::Locked { lock });
        }
        shard.set_value(index, self.value, ctx.memory)?;
        shard.counters.total_items += 1;
        let cas = shard.next_cas();
        let item = shard.item_mut(index);
        item.cas = cas;
        item.locked_at = None;
        item.bits.set(ItemBits::UNINITIALIZED, false);
        item.set_expiry(expiry, now);
        item.last_access = now;
        shard.schedule(index);
        Ok(WriteSessionOutcome::Stored)
    }

    fn refusal(&self, error: EngineError) -> Option<Self::Outcome> {
        Some(Err(error))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{
        Engine, EngineConfig, ReadSession, ReadSessionOutcome, ReleaseLock, ReleaseLockOutcome,
        RemoveSession, RemoveSessionOutcome, ResetTimeout, ResetTimeoutOutcome, Store, StoreMode,
        charge,
    };

    const KEY: Key<'static> = Key {
        namespace: crate::NamespaceId(3),
        name: b"session",
    };
    const TIMEOUT: Duration = Duration::from_secs(20);

    fn secs(s: u64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    fn write(
        engine: &Engine,
        value: &[u8],
        cookie: Option<LockCookie>,
        now: Timestamp,
    ) -> Result<WriteSessionOutcome, EngineError> {
        let write = WriteSession {
            key: KEY,
            value,
            timeout: Some(TIMEOUT),
            cookie,
            uninitialized: false,
        };
        engine.run(&write, now)
    }

    fn read(engine: &Engine, exclusive: bool, now: Timestamp) -> ReadSessionOutcome {
        let read = ReadSession {
            key: KEY,
            exclusive,
        };
        engine.run(&read, now).expect("no journal refuses it")
    }

    fn lock(engine: &Engine, now: Timestamp) -> LockCookie {
        match read(engine, true, now) {
            ReadSessionOutcome::Found {
                cookie: Some(cookie),
                ..
            } => cookie,
            other => panic!("expected the lock, got {other:?}"),
        }
    }

    fn release(engine: &Engine, cookie: u32, now: Timestamp) -> ReleaseLockOutcome {
        let release = ReleaseLock {
            key: KEY,
            cookie: LockCookie(cookie),
        };
        engine.run(&release, now).expect("no journal refuses it")
    }

    #[test]
    fn lock_cookies_are_monotonic_per_item() {
        let engine = Engine::new(EngineConfig::default());
        let t = secs(100);
        assert_eq!(
            write(&engine, b"a", None, t),
            Ok(WriteSessionOutcome::Stored)
        );
        assert_eq!(
            lock(&engine, t),
            LockCookie(2),
            "a new item's first lock is 2"
        );
        let locked = read(&engine, true, t);
        assert!(matches!(locked, ReadSessionOutcome::Locked { lock, .. } if lock.cookie.0 == 2));
        assert_eq!(
            release(&engine, 2, t),
            ReleaseLockOutcome::Released { initialize: false }
        );
        assert_eq!(
            release(&engine, 2, t),
            ReleaseLockOutcome::NotLocked { initialize: false }
        );
        assert_eq!(lock(&engine, t), LockCookie(3));
        // A cookie from an old lock neither releases nor writes the new one.
        assert!(matches!(
            release(&engine, 2, t),
            ReleaseLockOutcome::Locked { .. }
        ));
        let stale = write(&engine, b"stale", Some(LockCookie(2)), t);
        assert!(matches!(stale, Ok(WriteSessionOutcome::Locked { lock }) if lock.cookie.0 == 3));
        assert_eq!(
            write(&engine, b"b", Some(LockCookie(3)), t),
            Ok(WriteSessionOutcome::Stored),
            "writing with the lock's cookie releases it"
        );
        assert_eq!(lock(&engine, t), LockCookie(4));
        // A memcached overwrite unlocks but keeps the counter going.
        let set = Store::new(KEY, b"c", 0, Expiry::Sliding(TIMEOUT), StoreMode::Set);
        engine.run(&set, t).unwrap();
        assert_eq!(lock(&engine, t), LockCookie(5));
        let remove = RemoveSession {
            key: KEY,
            cookie: Some(LockCookie(4)),
        };
        assert!(matches!(
            engine.run(&remove, t),
            Ok(RemoveSessionOutcome::Locked { .. })
        ));
        let remove = RemoveSession {
            cookie: Some(LockCookie(5)),
            ..remove
        };
        assert_eq!(engine.run(&remove, t), Ok(RemoveSessionOutcome::Removed));
        // A new item starts again.
        write(&engine, b"d", None, t).unwrap();
        assert_eq!(lock(&engine, t), LockCookie(2));
    }

    #[test]
    fn locked_sessions_still_expire() {
        let engine = Engine::new(EngineConfig::default());
        write(&engine, b"a", None, secs(100)).unwrap();
        let cookie = lock(&engine, secs(100));
        // Contended reads and refused writes are accesses: the timeout slides.
        assert!(matches!(
            read(&engine, false, secs(110)),
            ReadSessionOutcome::Locked { .. }
        ));
        assert!(matches!(
            write(&engine, b"x", None, secs(125)),
            Ok(WriteSessionOutcome::Locked { .. })
        ));
        assert_eq!(engine.stats().counters.lock_contended, 1);
        // Nobody touches it for the timeout: the lock does not keep it alive.
        assert_eq!(
            read(&engine, false, secs(145)),
            ReadSessionOutcome::NotFound
        );
        assert_eq!(
            release(&engine, cookie.0, secs(145)),
            ReleaseLockOutcome::NotFound
        );
        let reset = ResetTimeout { key: KEY };
        assert_eq!(engine.run(&reset, secs(145)), ResetTimeoutOutcome::NotFound);
        assert_eq!(engine.stats().curr_items, 0);
        assert_eq!(engine.stats().counters.expired, 1);
    }

    #[test]
    fn a_locked_session_is_swept_when_it_expires() {
        let engine = Engine::new(EngineConfig::default());
        write(&engine, b"a", None, secs(100)).unwrap();
        lock(&engine, secs(100));
        assert_eq!(engine.expire_due(secs(119), usize::MAX), 0);
        assert_eq!(engine.expire_due(secs(120), usize::MAX), 1);
        assert_eq!(engine.stats().memory_used, 0);
    }

    #[test]
    fn uninitialized_items_flag_their_first_read_and_never_replace_a_session() {
        let engine = Engine::new(EngineConfig::default());
        let create = WriteSession {
            key: KEY,
            value: b"",
            timeout: Some(TIMEOUT),
            cookie: None,
            uninitialized: true,
        };
        assert_eq!(
            engine.run(&create, secs(1)),
            Ok(WriteSessionOutcome::Stored)
        );
        let first = read(&engine, true, secs(2));
        assert!(matches!(
            first,
            ReadSessionOutcome::Found {
                initialize: true,
                ..
            }
        ));
        let second = read(&engine, false, secs(3));
        assert!(matches!(
            second,
            ReadSessionOutcome::Locked {
                initialize: false,
                ..
            }
        ));
        let create = WriteSession {
            value: b"other",
            ..create
        };
        assert_eq!(
            engine.run(&create, secs(4)),
            Ok(WriteSessionOutcome::Unchanged)
        );
        write(&engine, b"data", Some(LockCookie(2)), secs(5)).unwrap();
        let ReadSessionOutcome::Found { value, timeout, .. } = read(&engine, false, secs(6)) else {
            panic!("expected the session");
        };
        assert_eq!((&value[..], timeout), (&b"data"[..], Some(TIMEOUT)));
    }

    #[test]
    fn a_refused_write_keeps_the_old_data_and_the_lock() {
        let engine = Engine::new(EngineConfig {
            max_memory: charge(KEY.name.len(), 4),
        });
        write(&engine, b"abcd", None, secs(1)).unwrap();
        let cookie = lock(&engine, secs(1));
        let outcome = write(&engine, b"abcde", Some(cookie), secs(2));
        assert_eq!(outcome, Err(EngineError::OutOfMemory));
        let still = read(&engine, false, secs(3));
        assert!(matches!(still, ReadSessionOutcome::Locked { lock, .. } if lock.cookie == cookie));
        assert_eq!(
            write(&engine, b"ab", Some(cookie), secs(4)),
            Ok(WriteSessionOutcome::Stored)
        );
        let ReadSessionOutcome::Found { value, .. } = read(&engine, false, secs(5)) else {
            panic!("expected the unlocked session");
        };
        assert_eq!(&value[..], b"ab");
        assert_eq!(engine.stats().rejected_writes, 1);
    }
}
