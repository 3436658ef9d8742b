//! Release a session's exclusive lock by its cookie (ASP.NET `ReleaseItemExclusive`).

use super::read_session::take_uninitialized;
use super::{Apply, ShardContext};
use crate::error::EngineError;
use crate::item::{LockCookie, LockInfo, ValueType};
use crate::key::Key;
use crate::shard::Lookup;
use crate::time::Timestamp;

/// Releases a session's lock. Only the cookie of the current lock releases it; a caller that
/// finds a lock too old may release it with the cookie a refused read reported (forced release).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseLock<'a> {
    /// The session's key.
    pub key: Key<'a>,
    /// The cookie of the lock to release.
    pub cookie: LockCookie,
}

/// What releasing a lock did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseLockOutcome {
    /// The lock was held with this cookie and is now released.
    Released {
        /// See [`ReadSessionOutcome::Found`](super::ReadSessionOutcome::Found).
        initialize: bool,
    },
    /// The session was not locked; nothing changed.
    NotLocked {
        /// As in `Released`.
        initialize: bool,
    },
    /// The session is locked under another cookie; nothing changed.
    Locked {
        /// The current lock.
        lock: LockInfo,
        /// As in `Released`.
        initialize: bool,
    },
    /// No live session under the key.
    NotFound,
}

impl Apply for ReleaseLock<'_> {
    type Outcome = Result<ReleaseLockOutcome, EngineError>;

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

impl ReleaseLock<'_> {
    fn apply_unchecked(
        &self,
        ctx: &mut ShardContext<'_>,
        now: Timestamp,
    ) -> Result<ReleaseLockOutcome, EngineError> {
        let shard = &mut *ctx.shard;
        let Lookup::Live(index) = shard.lookup(ctx.hash, self.key, now, ctx.memory) else {
            return Ok(ReleaseLockOutcome::NotFound);
        };
        if shard.item(index).value_type() != ValueType::String {
            return Err(EngineError::WrongType);
        }
        let item = shard.item_mut(index);
        let initialize = take_uninitialized(item.bits_mut());
        item.renew(now);
        let outcome = match item.lock() {
            None => ReleaseLockOutcome::NotLocked { initialize },
            Some(lock) if lock.cookie == self.cookie => {
                item.locked_at = None;
                ReleaseLockOutcome::Released { initialize }
            }
            Some(lock) => ReleaseLockOutcome::Locked { lock, initialize },
        };
        shard.schedule(index);
        Ok(outcome)
    }
}
