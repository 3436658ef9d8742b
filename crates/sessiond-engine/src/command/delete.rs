//! Delete an item, or mark it stale for the meta protocol's invalidation.

use super::{Apply, ShardContext};
use crate::error::EngineError;
use crate::item::{ItemBits, ValueType};
use crate::key::Key;
use crate::shard::Lookup;
use crate::time::{Expiry, Timestamp};

/// What a delete does to the item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeleteMode {
    /// Remove the item.
    Remove,
    /// Keep the item but mark it stale, optionally with a new expiry (meta `md` with `I`).
    Invalidate {
        /// The stale item's new expiry, if it changes.
        expiry: Option<Expiry>,
    },
    /// Keep the item with an empty value and no flags (meta `md` with `x`).
    ClearValue,
}

/// Deletes an item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delete<'a> {
    /// The key to delete.
    pub key: Key<'a>,
    /// Delete only if the item's version is this one.
    pub cas: Option<u64>,
    /// What to do to the item.
    pub mode: DeleteMode,
}

impl<'a> Delete<'a> {
    /// An unconditional removal of `key`.
    pub fn new(key: Key<'a>) -> Self {
        Delete {
            key,
            cas: None,
            mode: DeleteMode::Remove,
        }
    }
}

/// What a delete found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// The item was deleted (or invalidated, or cleared).
    Deleted,
    /// No live item under the key.
    NotFound,
    /// The item's version was not the one given; nothing changed.
    Exists,
}

impl Apply for Delete<'_> {
    type Outcome = Result<DeleteOutcome, EngineError>;

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

impl Delete<'_> {
    fn apply_unchecked(
        &self,
        ctx: &mut ShardContext<'_>,
        now: Timestamp,
    ) -> Result<DeleteOutcome, EngineError> {
        let shard = &mut *ctx.shard;
        let Lookup::Live(index) = shard.lookup(ctx.hash, self.key, now, ctx.memory) else {
            shard.counters.delete_misses += 1;
            return Ok(DeleteOutcome::NotFound);
        };
        // A plain removal is how any protocol deletes a key of any type; the other modes are
        // the meta protocol's and edit a string.
        if self.mode != DeleteMode::Remove && shard.item(index).value_type() != ValueType::String {
            return Err(EngineError::WrongType);
        }
        if self.cas.is_some_and(|cas| cas != shard.item(index).cas) {
            return Ok(DeleteOutcome::Exists);
        }
        shard.counters.delete_hits += 1;
        match self.mode {
            DeleteMode::Remove => shard.remove(index, ctx.memory),
            DeleteMode::Invalidate { expiry } => {
                let cas = shard.next_cas();
                let item = shard.item_mut(index);
                item.bits.set(ItemBits::STALE, true);
                item.bits.set(ItemBits::WIN_TAKEN, false);
                item.cas = cas;
                if let Some(expiry) = expiry {
                    item.set_expiry(expiry, now);
                }
                if item.is_expired(now) {
                    shard.remove(index, ctx.memory);
                } else {
                    shard.schedule(index);
                }
            }
            DeleteMode::ClearValue => {
                // Shrinking never fails the memory check.
                let _ = shard.set_value(index, b"", ctx.memory);
                let cas = shard.next_cas();
                let item = shard.item_mut(index);
                item.flags = 0;
                item.cas = cas;
            }
        }
        Ok(DeleteOutcome::Deleted)
    }
}
