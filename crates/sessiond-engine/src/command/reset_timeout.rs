//! Renew a session's sliding timeout without reading it (ASP.NET `ResetItemTimeout`).

use super::{Apply, ShardContext};
use crate::error::EngineError;
use crate::item::ValueType;
use crate::key::Key;
use crate::shard::Lookup;
use crate::time::Timestamp;

/// Renews a session's sliding timeout. Works on locked sessions too: the lock does not stop a
/// session from being kept alive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResetTimeout<'a> {
    /// The session's key.
    pub key: Key<'a>,
}

/// What renewing a timeout found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetTimeoutOutcome {
    /// The session lives on.
    Renewed,
    /// No live session under the key.
    NotFound,
}

impl Apply for ResetTimeout<'_> {
    type Outcome = ResetTimeoutOutcome;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> ResetTimeoutOutcome {
        let shard = &mut *ctx.shard;
        let Lookup::Live(index) = shard.lookup(ctx.hash, self.key, now, ctx.memory) else {
            return ResetTimeoutOutcome::NotFound;
        };
        if shard.item(index).value_type() != ValueType::String {
            // No error to give: not a session.
            return ResetTimeoutOutcome::NotFound;
        }
        shard.item_mut(index).renew(now);
        shard.schedule(index);
        if ctx.journaling && shard.item(index).sliding.is_some() {
            shard.note_renewal(index);
        }
        ResetTimeoutOutcome::Renewed
    }

    fn refusal(&self, _error: EngineError) -> Option<Self::Outcome> {
        None
    }

    /// A renewal only, noted by `apply`.
    fn journaled(&self) -> bool {
        false
    }
}
