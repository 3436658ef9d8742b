//! Set fields of a hash (Redis `HSET`, `HMSET`, `HSETNX`).

use super::{Apply, ShardContext};
use crate::collection::HashEdit;
use crate::error::EngineError;
use crate::item::ValueType;
use crate::key::Key;
use crate::time::Timestamp;

/// Sets fields of a hash, creating it (with no expiry) when the key holds nothing. Fields are
/// set in order, so a field named twice takes its last value; a new field goes after the
/// others, an existing one keeps its place. The hash keeps its expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashWrite<'a> {
    /// The hash's key.
    pub key: Key<'a>,
    /// (field, value) pairs.
    pub fields: &'a [(&'a [u8], &'a [u8])],
    /// Set only fields the hash does not have (`HSETNX`).
    pub only_if_absent: bool,
}

impl Apply for HashWrite<'_> {
    /// How many fields are new.
    type Outcome = Result<u64, EngineError>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        let found = ctx.live_of(self.key, ValueType::Hash, now)?;
        let old = found.map(|index| ctx.shard.item(index).value.clone());
        let mut edit = HashEdit::decode(old.as_deref().unwrap_or_default());
        let mut added = 0;
        let mut changed = false;
        for &(field, value) in self.fields {
            if self.only_if_absent && edit.get(field).is_some() {
                continue;
            }
            changed = true;
            if edit.set(field, value) {
                added += 1;
            }
        }
        if changed {
            let encoded = edit.encode();
            ctx.put_collection(found, self.key, ValueType::Hash, &encoded, edit.len(), now)?;
        }
        Ok(added)
    }

    fn refusal(&self, error: EngineError) -> Option<Self::Outcome> {
        Some(Err(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{engine, secs, set};
    use crate::{EngineConfig, HashReadAll, charge};

    const KEY: Key<'static> = Key {
        namespace: crate::NamespaceId(5),
        name: b"h",
    };

    fn all(engine: &crate::Engine) -> Vec<(Vec<u8>, Vec<u8>)> {
        let read = HashReadAll { key: KEY };
        let pairs = engine.run(&read, secs(1)).unwrap();
        pairs
            .into_iter()
            .map(|(f, v)| (f.to_vec(), v.to_vec()))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        list.iter()
            .map(|(f, v)| (f.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn counts_new_fields_and_keeps_insertion_order() {
        let engine = engine();
        let write = |fields: &[(&[u8], &[u8])], nx| {
            let write = HashWrite {
                key: KEY,
                fields,
                only_if_absent: nx,
            };
            engine.run(&write, secs(1))
        };
        assert_eq!(
            write(&[(b"a", b"1"), (b"b", b"2"), (b"a", b"3")], false),
            Ok(2)
        );
        assert_eq!(write(&[(b"c", b"4"), (b"a", b"5")], false), Ok(1));
        assert_eq!(all(&engine), pairs(&[("a", "5"), ("b", "2"), ("c", "4")]));
        assert_eq!(write(&[(b"a", b"6")], true), Ok(0));
        assert_eq!(write(&[(b"d", b"7")], true), Ok(1));
        assert_eq!(
            all(&engine),
            pairs(&[("a", "5"), ("b", "2"), ("c", "4"), ("d", "7")])
        );
        let encoded = 4 + 4 * (4 + 1 + 4 + 1);
        assert_eq!(engine.stats().memory_used, charge(1, encoded));
    }

    #[test]
    fn refuses_other_types_size_and_memory_changing_nothing() {
        let engine = crate::Engine::new(EngineConfig {
            max_memory: charge(1, 14),
        });
        let write = |fields: &[(&[u8], &[u8])]| {
            let write = HashWrite {
                key: KEY,
                fields,
                only_if_absent: false,
            };
            engine.run(&write, secs(1))
        };
        assert_eq!(write(&[(b"a", b"1")]), Ok(1));
        assert_eq!(write(&[(b"b", b"2")]), Err(EngineError::OutOfMemory));
        engine.set_max_value_size(13);
        assert_eq!(write(&[(b"a", b"12")]), Err(EngineError::TooLarge));
        assert_eq!(all(&engine), pairs(&[("a", "1")]));
        let string = Key::default_namespace(b"s");
        engine.set_max_memory(1 << 20);
        set(&engine, string, b"v", secs(1));
        let write = HashWrite {
            key: string,
            fields: &[(b"a", b"1")],
            only_if_absent: false,
        };
        assert_eq!(engine.run(&write, secs(1)), Err(EngineError::WrongType));
    }
}
