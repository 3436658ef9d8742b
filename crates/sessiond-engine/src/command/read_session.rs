//! Read a session, optionally taking its exclusive lock (ASP.NET `GetItem`/`GetItemExclusive`).

use std::time::Duration;

use bytes::Bytes;

use super::{Apply, ShardContext};
use crate::error::EngineError;
use crate::item::{ItemBits, LockCookie, LockInfo, ValueType};
use crate::key::Key;
use crate::shard::Lookup;
use crate::time::Timestamp;

/// Reads a session. A locked session is not readable, with or without `exclusive`: a request
/// that holds the lock may be changing it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadSession<'a> {
    /// The session's key.
    pub key: Key<'a>,
    /// Take the session's exclusive lock with the read.
    pub exclusive: bool,
}

/// What reading a session found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadSessionOutcome {
    /// The session's data.
    Found {
        /// The stored bytes.
        value: Bytes,
        /// The session's sliding timeout, if it has one.
        timeout: Option<Duration>,
        /// The new lock cookie, when the read took the lock.
        cookie: Option<LockCookie>,
        /// The session was created uninitialized and this is its first read: the caller must
        /// initialize it (ASP.NET `ActionFlags: 1`).
        initialize: bool,
    },
    /// Someone else holds the lock.
    Locked {
        /// The lock, for the caller's lock age and forced release.
        lock: LockInfo,
        /// As in `Found`.
        initialize: bool,
    },
    /// No live session under the key.
    NotFound,
}

impl Apply for ReadSession<'_> {
    type Outcome = Result<ReadSessionOutcome, EngineError>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        self.apply_unchecked(ctx, now)
    }

    fn refusal(&self, error: EngineError) -> Option<Self::Outcome> {
        self.exclusive.then_some(Err(error))
    }
}

impl ReadSession<'_> {
    fn apply_unchecked(
        &self,
        ctx: &mut ShardContext<'_>,
        now: Timestamp,
    ) -> Result<ReadSessionOutcome, EngineError> {
        let shard = &mut *ctx.shard;
        shard.counters.cmd_get += 1;
        let Lookup::Live(index) = shard.lookup(ctx.hash, self.key, now, ctx.memory) else {
            shard.counters.get_misses += 1;
            return Ok(ReadSessionOutcome::NotFound);
        };
        if shard.item(index).value_type() != ValueType::String {
            return Err(EngineError::WrongType);
        }
        shard.counters.get_hits += 1;
        let initialize = take_uninitialized(shard.item_mut(index).bits_mut());
        let item = shard.item_mut(index);
        item.renew(now);
        item.last_access = now;
        item.bits.set(ItemBits::FETCHED, true);
        let outcome = if let Some(lock) = item.lock() {
            shard.counters.lock_contended += 1;
            ReadSessionOutcome::Locked { lock, initialize }
        } else {
            let cookie = if self.exclusive {
                item.cookie = item.cookie.next();
                item.locked_at = Some(now);
                Some(item.cookie)
            } else {
                None
            };
            let outcome = ReadSessionOutcome::Found {
                value: item.value.clone(),
                timeout: item.sliding,
                cookie,
                initialize,
            };
            if cookie.is_some() {
                shard.counters.lock_acquired += 1;
            }
            outcome
        };
        shard.schedule(index);
        Ok(outcome)
    }
}

/// Clears the uninitialized bit, answering whether this caller was the one to clear it.
pub(super) fn take_uninitialized(bits: &mut ItemBits) -> bool {
    let was = bits.has(ItemBits::UNINITIALIZED);
    bits.set(ItemBits::UNINITIALIZED, false);
    was
}
