//! Write a session and release its lock (ASP.NET `SetAndReleaseItemExclusive`,
//! `CreateUninitializedItem`).

use std::time::Duration;

use bytes::Bytes;

use super::{Apply, ShardContext};
use crate::error::EngineError;
use crate::item::{Item, ItemBits, LockCookie, LockInfo};
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
    /// The sliding timeout.
    pub timeout: Duration,
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
        let expiry = Expiry::Sliding(self.timeout);
        let Lookup::Live(index) = shard.lookup(ctx.hash, self.key, now, ctx.memory) else {
            let cas = shard.next_cas();
            let mut item = Item::new(Bytes::copy_from_slice(self.value), 0, expiry, cas, now);
            item.bits.set(ItemBits::UNINITIALIZED, self.uninitialized);
            shard.insert(ctx.hash, self.key, item, ctx.memory)?;
            return Ok(WriteSessionOutcome::Stored);
        };
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
        shard.set_value(index, Bytes::copy_from_slice(self.value), ctx.memory)?;
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
}
