//! Write a string, optionally only if the key is absent or present, handing back the old value
//! (Redis `SET` with `NX`/`XX`/`GET`/`KEEPTTL`, `GETSET`, `SETNX`, `SETEX`).

use bytes::Bytes;

use super::{Apply, ShardContext};
use crate::error::EngineError;
use crate::item::{Item, ValueType};
use crate::key::Key;
use crate::time::{Expiry, ExpiryUpdate, Timestamp};

/// When a [`WriteString`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WriteCondition {
    /// Whether or not the key holds something.
    Always,
    /// Only if the key holds nothing (`NX`).
    IfAbsent,
    /// Only if the key holds something, of any type (`XX`).
    IfPresent,
}

/// Writes a string under a key, replacing whatever the key held (of any type, unless the old
/// value is asked for). The item is a new one: flags 0, unlocked, a new version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteString<'a> {
    /// The key to write.
    pub key: Key<'a>,
    /// The string.
    pub value: &'a [u8],
    /// When to write.
    pub condition: WriteCondition,
    /// The item's expiry: replaced (plain `SET` removes any; `EX`, `PX`, `EXAT`, `PXAT` set
    /// one) or kept (`KEEPTTL`). An expiry already past writes nothing and removes what the
    /// key held, as a store does.
    pub expiry: ExpiryUpdate,
    /// Hand back the old value (`GET`). Then a key holding another type is refused with
    /// [`EngineError::WrongType`] and nothing is written, as Redis does.
    pub previous: bool,
}

impl<'a> WriteString<'a> {
    /// An unconditional write of `value` under `key` with `expiry`.
    pub fn new(key: Key<'a>, value: &'a [u8], expiry: Expiry) -> Self {
        WriteString {
            key,
            value,
            condition: WriteCondition::Always,
            expiry: ExpiryUpdate::Set(expiry),
            previous: false,
        }
    }
}

/// What a [`WriteString`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteStringOutcome {
    /// The string was written.
    Written {
        /// The old value, when asked for and the key held one.
        previous: Option<Bytes>,
    },
    /// The condition failed; nothing changed.
    NotWritten {
        /// The old value, when asked for and the key held one.
        previous: Option<Bytes>,
    },
}

impl Apply for WriteString<'_> {
    type Outcome = Result<WriteStringOutcome, EngineError>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        ctx.shard.counters.cmd_set += 1;
        let found = ctx.live(self.key, now);
        let previous = match found {
            Some(index) if self.previous => {
                let item = ctx.shard.item(index);
                if item.value_type() != ValueType::String {
                    return Err(EngineError::WrongType);
                }
                Some(item.value.clone())
            }
            _ => None,
        };
        let blocked = match self.condition {
            WriteCondition::Always => false,
            WriteCondition::IfAbsent => found.is_some(),
            WriteCondition::IfPresent => found.is_none(),
        };
        if blocked {
            return Ok(WriteStringOutcome::NotWritten { previous });
        }
        ctx.check_size(self.value.len())?;
        let shard = &mut *ctx.shard;
        let kept = found.map(|index| {
            let item = shard.item(index);
            (item.deadline, item.sliding, item.cookie)
        });
        let mut item = Item::new(Bytes::new(), 0, Expiry::Never, 0, now);
        match self.expiry {
            ExpiryUpdate::Set(expiry) => item.set_expiry(expiry, now),
            ExpiryUpdate::Keep => {
                if let Some((deadline, sliding, _)) = kept {
                    item.deadline = deadline;
                    item.sliding = sliding;
                }
            }
        }
        if item.is_expired(now) {
            if let Some(index) = found {
                shard.remove(index, ctx.memory);
            }
            return Ok(WriteStringOutcome::Written { previous });
        }
        match found {
            Some(index) => {
                shard.set_value(index, self.value, ctx.memory)?;
                shard.counters.total_items += 1;
                item.cas = shard.next_cas();
                // The cookie counter stays monotonic across replacements, as with stores.
                if let Some((_, _, cookie)) = kept {
                    item.cookie = cookie;
                }
                let stored = shard.item_mut(index);
                item.value = stored.value.clone();
                *stored = item;
                shard.schedule(index);
            }
            None => {
                item.cas = shard.next_cas();
                shard.insert(ctx.hash, self.key, self.value, item, ctx.memory)?;
            }
        }
        Ok(WriteStringOutcome::Written { previous })
    }

    fn refusal(&self, error: EngineError) -> Option<Self::Outcome> {
        Some(Err(error))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::testing::{engine, hash_with, inspect, read, secs};
    use crate::{EngineConfig, KeyInfo, charge};

    const KEY: Key<'static> = Key {
        namespace: crate::NamespaceId(5),
        name: b"k",
    };

    fn write(
        engine: &crate::Engine,
        value: &[u8],
        condition: WriteCondition,
        expiry: ExpiryUpdate,
        previous: bool,
        now: Timestamp,
    ) -> Result<WriteStringOutcome, EngineError> {
        let write = WriteString {
            key: KEY,
            value,
            condition,
            expiry,
            previous,
        };
        engine.run(&write, now)
    }

    fn written(previous: Option<&'static [u8]>) -> Result<WriteStringOutcome, EngineError> {
        Ok(WriteStringOutcome::Written {
            previous: previous.map(Bytes::from_static),
        })
    }

    fn not_written(previous: Option<&'static [u8]>) -> Result<WriteStringOutcome, EngineError> {
        Ok(WriteStringOutcome::NotWritten {
            previous: previous.map(Bytes::from_static),
        })
    }

    #[test]
    fn conditions_and_the_previous_value() {
        let engine = engine();
        let never = ExpiryUpdate::Set(Expiry::Never);
        let t = secs(1);
        assert_eq!(
            write(&engine, b"a", WriteCondition::IfPresent, never, true, t),
            not_written(None)
        );
        assert_eq!(
            write(&engine, b"a", WriteCondition::IfAbsent, never, true, t),
            written(None)
        );
        assert_eq!(
            write(&engine, b"b", WriteCondition::IfAbsent, never, true, t),
            not_written(Some(b"a"))
        );
        assert_eq!(
            write(&engine, b"c", WriteCondition::IfPresent, never, true, t),
            written(Some(b"a"))
        );
        assert_eq!(
            write(&engine, b"d", WriteCondition::Always, never, false, t),
            written(None)
        );
        assert_eq!(read(&engine, KEY, t), Some(Bytes::from_static(b"d")));
    }

    #[test]
    fn the_expiry_is_replaced_unless_kept() {
        let engine = engine();
        let at = ExpiryUpdate::Set(Expiry::At(secs(100)));
        let t = secs(10);
        write(&engine, b"a", WriteCondition::Always, at, false, t).unwrap();
        let keep = ExpiryUpdate::Keep;
        write(&engine, b"b", WriteCondition::Always, keep, false, t).unwrap();
        let info = inspect(&engine, KEY, t).unwrap();
        assert_eq!(info.ttl, Some(Duration::from_secs(90)));
        let never = ExpiryUpdate::Set(Expiry::Never);
        write(&engine, b"c", WriteCondition::Always, never, false, t).unwrap();
        assert_eq!(
            inspect(&engine, KEY, t),
            Some(KeyInfo {
                value_type: ValueType::String,
                ttl: None
            })
        );
        // Kept on a new key: none.
        engine.run(&crate::Delete::new(KEY), t).unwrap();
        write(&engine, b"d", WriteCondition::Always, keep, false, t).unwrap();
        assert_eq!(inspect(&engine, KEY, t).unwrap().ttl, None);
    }

    #[test]
    fn an_expiry_already_past_removes_the_key_and_hands_back_the_old_value() {
        let engine = engine();
        let never = ExpiryUpdate::Set(Expiry::Never);
        write(
            &engine,
            b"old",
            WriteCondition::Always,
            never,
            false,
            secs(5),
        )
        .unwrap();
        let past = ExpiryUpdate::Set(Expiry::At(secs(1)));
        assert_eq!(
            write(&engine, b"new", WriteCondition::Always, past, true, secs(5)),
            written(Some(b"old"))
        );
        assert_eq!(inspect(&engine, KEY, secs(5)), None);
        assert_eq!(engine.stats().memory_used, 0);
    }

    #[test]
    fn another_type_is_replaced_unless_its_value_is_asked_for() {
        let engine = engine();
        let never = ExpiryUpdate::Set(Expiry::Never);
        hash_with(&engine, KEY, &[(b"f", b"v")], secs(1));
        assert_eq!(
            write(&engine, b"s", WriteCondition::Always, never, true, secs(1)),
            Err(EngineError::WrongType)
        );
        assert_eq!(
            write(
                &engine,
                b"s",
                WriteCondition::IfAbsent,
                never,
                false,
                secs(1)
            ),
            not_written(None)
        );
        assert_eq!(
            inspect(&engine, KEY, secs(1)).unwrap().value_type,
            ValueType::Hash
        );
        assert_eq!(
            write(&engine, b"s", WriteCondition::Always, never, false, secs(1)),
            written(None)
        );
        assert_eq!(read(&engine, KEY, secs(1)), Some(Bytes::from_static(b"s")));
        assert_eq!(engine.stats().memory_used, charge(1, 1));
    }

    #[test]
    fn the_value_size_limit_and_the_memory_limit_apply() {
        let engine = crate::Engine::new(EngineConfig {
            max_memory: charge(1, 4),
        });
        engine.set_max_value_size(3);
        let never = ExpiryUpdate::Set(Expiry::Never);
        assert_eq!(
            write(
                &engine,
                b"four",
                WriteCondition::Always,
                never,
                false,
                secs(1)
            ),
            Err(EngineError::TooLarge)
        );
        engine.set_max_value_size(10);
        assert_eq!(
            write(
                &engine,
                b"fives",
                WriteCondition::Always,
                never,
                false,
                secs(1)
            ),
            Err(EngineError::OutOfMemory)
        );
        assert_eq!(engine.stats().curr_items, 0);
    }
}
