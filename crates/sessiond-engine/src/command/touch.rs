//! Replace an item's expiry without reading it.

use super::{Apply, ShardContext};
use crate::error::EngineError;
use crate::item::ValueType;
use crate::key::Key;
use crate::shard::Lookup;
use crate::time::{Expiry, Timestamp};

/// Gives an item a new expiry (memcached `touch`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Touch<'a> {
    /// The key to touch.
    pub key: Key<'a>,
    /// The new expiry.
    pub expiry: Expiry,
}

/// What a touch found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TouchOutcome {
    /// The item's expiry was replaced.
    Touched {
        /// The item's client flags (the binary protocol's TOUCH reply carries them).
        flags: u32,
        /// The item's version, which a touch does not change.
        cas: u64,
    },
    /// No live item under the key.
    NotFound,
}

impl Apply for Touch<'_> {
    type Outcome = Result<TouchOutcome, EngineError>;

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

impl Touch<'_> {
    fn apply_unchecked(
        &self,
        ctx: &mut ShardContext<'_>,
        now: Timestamp,
    ) -> Result<TouchOutcome, EngineError> {
        let shard = &mut *ctx.shard;
        shard.counters.cmd_touch += 1;
        let Lookup::Live(index) = shard.lookup(ctx.hash, self.key, now, ctx.memory) else {
            shard.counters.touch_misses += 1;
            return Ok(TouchOutcome::NotFound);
        };
        if shard.item(index).value_type() != ValueType::String {
            return Err(EngineError::WrongType);
        }
        shard.counters.touch_hits += 1;
        let item = shard.item_mut(index);
        item.set_expiry(self.expiry, now);
        item.last_access = now;
        let touched = TouchOutcome::Touched {
            flags: item.flags,
            cas: item.cas,
        };
        if item.is_expired(now) {
            // A touch into the past ends the item now, as memcached's does.
            shard.remove(index, ctx.memory);
        } else {
            shard.schedule(index);
        }
        Ok(touched)
    }
}
