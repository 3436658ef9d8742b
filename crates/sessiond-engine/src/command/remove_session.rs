//! Remove a session, respecting its lock (ASP.NET `RemoveItem`).

use super::{Apply, ShardContext};
use crate::error::EngineError;
use crate::item::{LockCookie, LockInfo, ValueType};
use crate::key::Key;
use crate::shard::Lookup;
use crate::time::Timestamp;

/// Removes a session. A locked session is removed only with its lock's cookie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoveSession<'a> {
    /// The session's key.
    pub key: Key<'a>,
    /// The cookie of the lock the caller holds.
    pub cookie: Option<LockCookie>,
}

/// What removing a session did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoveSessionOutcome {
    /// The session is gone.
    Removed,
    /// The session is locked and the cookie is missing or wrong; nothing changed.
    Locked {
        /// The current lock.
        lock: LockInfo,
    },
    /// No live session under the key.
    NotFound,
}

impl Apply for RemoveSession<'_> {
    type Outcome = Result<RemoveSessionOutcome, EngineError>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        self.apply_unchecked(ctx, now)
    }

    fn refusal(&self, error: EngineError) -> Option<Self::Outcome> {
        Some(Err(error))
    }
}

impl RemoveSession<'_> {
    fn apply_unchecked(
        &self,
        ctx: &mut ShardContext<'_>,
        now: Timestamp,
    ) -> Result<RemoveSessionOutcome, EngineError> {
        let shard = &mut *ctx.shard;
        let Lookup::Live(index) = shard.lookup(ctx.hash, self.key, now, ctx.memory) else {
            shard.counters.delete_misses += 1;
            return Ok(RemoveSessionOutcome::NotFound);
        };
        if shard.item(index).value_type() != ValueType::String {
            return Err(EngineError::WrongType);
        }
        if let Some(lock) = shard.item(index).lock()
            && self.cookie != Some(lock.cookie)
        {
            let item = shard.item_mut(index);
            item.renew(now);
            shard.schedule(index);
            return Ok(RemoveSessionOutcome::Locked { lock });
        }
        shard.counters.delete_hits += 1;
        shard.remove(index, ctx.memory);
        Ok(RemoveSessionOutcome::Removed)
    }
}
