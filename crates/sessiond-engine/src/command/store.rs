//! Store a value: set, add, replace, append, prepend, each optionally compare-and-swap.

use bytes::{Bytes, BytesMut};

use super::{Apply, ShardContext};
use crate::error::EngineError;
use crate::item::{Item, ItemBits};
use crate::key::Key;
use crate::shard::Lookup;
use crate::time::{Expiry, Timestamp};

/// How a store treats an existing or missing item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StoreMode {
    /// Store whether or not the key exists.
    Set,
    /// Store only if the key does not exist.
    Add,
    /// Store only if the key exists.
    Replace,
    /// Add the bytes after the existing value; flags and expiry stay as they are.
    Append,
    /// Add the bytes before the existing value; flags and expiry stay as they are.
    Prepend,
}

/// Stores a value under a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Store<'a> {
    /// The key to store under.
    pub key: Key<'a>,
    /// The bytes to store (or to append or prepend).
    pub value: &'a [u8],
    /// The opaque client flags.
    pub flags: u32,
    /// The expiry of the stored item. An expiry already in the past stores nothing visible and
    /// removes what was there, as memcached does with a negative expiration time.
    pub expiry: Expiry,
    /// How to treat an existing or missing item.
    pub mode: StoreMode,
    /// Store only if the item's version is this one (memcached `cas`).
    pub cas: Option<u64>,
    /// With `cas`: when the given version is older than the item's, store anyway but mark the
    /// item stale (meta `I`).
    pub invalidate: bool,
    /// In append and prepend modes: on a miss, create the item with this expiry (meta `N`).
    pub vivify: Option<Expiry>,
}

impl<'a> Store<'a> {
    /// A store of `value` under `key` in `mode`, with no compare-and-swap.
    pub fn new(key: Key<'a>, value: &'a [u8], flags: u32, expiry: Expiry, mode: StoreMode) -> Self {
        Store {
            key,
            value,
            flags,
            expiry,
            mode,
            cas: None,
            invalidate: false,
            vivify: None,
        }
    }
}

/// What a store did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOutcome {
    /// The value was stored; the item's new version.
    Stored {
        /// The item's new compare-and-swap version.
        cas: u64,
    },
    /// The mode's condition failed (add of an existing key; replace, append or prepend of a
    /// missing one).
    NotStored,
    /// Compare-and-swap: the item's version was not the one given.
    Exists,
    /// Compare-and-swap: there is no such item.
    NotFound,
}

impl Apply for Store<'_> {
    type Outcome = Result<StoreOutcome, EngineError>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        let shard = &mut *ctx.shard;
        shard.counters.cmd_set += 1;
        let found = match shard.lookup(ctx.hash, self.key, now, ctx.memory) {
            Lookup::Live(index) => Some(index),
            Lookup::Absent | Lookup::Expired => None,
        };

        let mut stale = false;
        if let Some(expected) = self.cas {
            let Some(index) = found else {
                shard.counters.cas_misses += 1;
                return Ok(StoreOutcome::NotFound);
            };
            let current = shard.item(index).cas;
            if current != expected {
                if self.invalidate && expected < current {
                    stale = true;
                } else {
                    shard.counters.cas_badval += 1;
                    return Ok(StoreOutcome::Exists);
                }
            } else {
                shard.counters.cas_hits += 1;
            }
        }

        let Some(index) = found else {
            let expiry = match (self.mode, self.vivify) {
                (StoreMode::Set | StoreMode::Add, _) => self.expiry,
                (StoreMode::Append | StoreMode::Prepend, Some(vivify)) => vivify,
                (StoreMode::Replace | StoreMode::Append | StoreMode::Prepend, _) => {
                    return Ok(StoreOutcome::NotStored);
                }
            };
            let cas = shard.next_cas();
            if expiry.deadline(now).is_some_and(|deadline| deadline <= now) {
                return Ok(StoreOutcome::Stored { cas });
            }
            let item = Item::new(
                Bytes::copy_from_slice(self.value),
                self.flags,
                expiry,
                cas,
                now,
            );
            shard.insert(ctx.hash, self.key, item, ctx.memory)?;
            return Ok(StoreOutcome::Stored { cas });
        };

        match self.mode {
            StoreMode::Add => {
                // memcached counts a failed add as an access; a session's timeout slides too.
                let item = shard.item_mut(index);
                item.renew(now);
                shard.schedule(index);
                Ok(StoreOutcome::NotStored)
            }
            StoreMode::Append | StoreMode::Prepend => {
                let old = &shard.item(index).value;
                let mut joined = BytesMut::with_capacity(old.len() + self.value.len());
                if self.mode == StoreMode::Append {
                    joined.extend_from_slice(old);
                    joined.extend_from_slice(self.value);
                } else {
                    joined.extend_from_slice(self.value);
                    joined.extend_from_slice(old);
                }
                shard.set_value(index, joined.freeze(), ctx.memory)?;
                shard.counters.total_items += 1;
                let cas = shard.next_cas();
                let item = shard.item_mut(index);
                item.cas = cas;
                item.renew(now);
                item.bits.set(ItemBits::STALE, stale);
                shard.schedule(index);
                Ok(StoreOutcome::Stored { cas })
            }
            StoreMode::Set | StoreMode::Replace => {
                if self
                    .expiry
                    .deadline(now)
                    .is_some_and(|deadline| deadline <= now)
                {
                    shard.remove(index, ctx.memory);
                    return Ok(StoreOutcome::Stored {
                        cas: shard.next_cas(),
                    });
                }
                shard.set_value(index, Bytes::copy_from_slice(self.value), ctx.memory)?;
                shard.counters.total_items += 1;
                let cas = shard.next_cas();
                let item = shard.item_mut(index);
                let cookie = item.cookie;
                *item = Item::new(item.value.clone(), self.flags, self.expiry, cas, now);
                // A replaced item is a new item, unlocked; its cookie counter stays monotonic.
                item.cookie = cookie;
                item.bits.set(ItemBits::STALE, stale);
                shard.schedule(index);
                Ok(StoreOutcome::Stored { cas })
            }
        }
    }
}
