//! Append to a string, creating it (Redis `APPEND`).

use bytes::{Bytes, BytesMut};

use super::{Apply, ShardContext};
use crate::error::EngineError;
use crate::item::{Item, ValueType};
use crate::key::Key;
use crate::time::{Expiry, Timestamp};

/// Appends bytes to a string, creating it (with no expiry) when the key holds nothing; the
/// item keeps its expiry and flags. Refused with [`EngineError::WrongType`] for another type
/// and [`EngineError::TooLarge`] past the value size limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Append<'a> {
    /// The string's key.
    pub key: Key<'a>,
    /// The bytes to append.
    pub value: &'a [u8],
}

impl Apply for Append<'_> {
    /// The string's new length.
    type Outcome = Result<u64, EngineError>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        ctx.shard.counters.cmd_set += 1;
        let found = ctx.live_of(self.key, ValueType::String, now)?;
        let old_len = found.map_or(0, |index| ctx.shard.item(index).value.len());
        let len = old_len.saturating_add(self.value.len());
        ctx.check_size(len)?;
        let shard = &mut *ctx.shard;
        match found {
            Some(index) => {
                let mut joined = BytesMut::with_capacity(len);
                joined.extend_from_slice(&shard.item(index).value);
                joined.extend_from_slice(self.value);
                shard.set_value(index, &joined, ctx.memory)?;
                shard.counters.total_items += 1;
                let cas = shard.next_cas();
                let item = shard.item_mut(index);
                item.cas = cas;
                item.renew(now);
                shard.schedule(index);
            }
            None => {
                let cas = shard.next_cas();
                let item = Item::new(Bytes::new(), 0, Expiry::Never, cas, now);
                shard.insert(ctx.hash, self.key, self.value, item, ctx.memory)?;
            }
        }
        Ok(len as u64)
    }

    fn refusal(&self, error: EngineError) -> Option<Self::Outcome> {
        Some(Err(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{engine, hash_with, read, secs};

    #[test]
    fn creates_then_appends_and_respects_the_size_limit() {
        let engine = engine();
        let key = Key::default_namespace(b"k");
        let append = |value: &[u8]| engine.run(&Append { key, value }, secs(1));
        assert_eq!(append(b"ab"), Ok(2));
        assert_eq!(append(b"cde"), Ok(5));
        assert_eq!(
            read(&engine, key, secs(1)),
            Some(Bytes::from_static(b"abcde"))
        );
        engine.set_max_value_size(6);
        assert_eq!(append(b"fg"), Err(EngineError::TooLarge));
        assert_eq!(append(b"f"), Ok(6));
        engine.set_max_value_size(crate::DEFAULT_MAX_VALUE_SIZE);
        let other = Key::default_namespace(b"h");
        hash_with(&engine, other, &[(b"f", b"v")], secs(1));
        let append = Append {
            key: other,
            value: b"x",
        };
        assert_eq!(engine.run(&append, secs(1)), Err(EngineError::WrongType));
    }
}
