//! Rename a key, atomically across shards (Redis `RENAME`, `RENAMENX`).

use crate::engine::LockedShards;
use crate::error::EngineError;
use crate::key::Key;
use crate::memory::{MemoryBudget, charge};
use crate::shard::Lookup;
use crate::time::Timestamp;

/// Moves a key's item to another key, replacing what that key held. Run by
/// [`Engine::rename`](crate::Engine::rename) (or inside an atomic block), not `Engine::run`:
/// it needs both keys' shards.
///
/// The item keeps its value, type, expiry (as Redis keeps the TTL) and flags; it gets a new
/// version. Renaming a key to itself changes nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rename<'a> {
    /// The key to rename.
    pub from: Key<'a>,
    /// Its new name, possibly in another namespace.
    pub to: Key<'a>,
    /// Only if `to` holds nothing (`RENAMENX`).
    pub only_if_absent: bool,
}

/// What a [`Rename`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenameOutcome {
    /// `to` holds what `from` held (Redis: `OK`, or 1 for `RENAMENX`).
    Renamed,
    /// `from` holds nothing (Redis: `ERR no such key`).
    NotFound,
    /// With `only_if_absent`: `to` holds something, or is `from` itself; nothing changed
    /// (Redis: 0).
    TargetExists,
}

impl Rename<'_> {
    /// Applies the rename with both keys' shards locked; `from` and `to` are each key's
    /// (shard, table hash).
    pub(crate) fn apply(
        &self,
        shards: &mut LockedShards<'_>,
        from: (usize, u64),
        to: (usize, u64),
        memory: &MemoryBudget,
        now: Timestamp,
    ) -> Result<RenameOutcome, EngineError> {
        let Lookup::Live(source) = shards.get(from.0).lookup(from.1, self.from, now, memory) else {
            return Ok(RenameOutcome::NotFound);
        };
        if self.from == self.to {
            return Ok(if self.only_if_absent {
                RenameOutcome::TargetExists
            } else {
                RenameOutcome::Renamed
            });
        }
        // A lookup in the same shard may remove an expired item, never the live source.
        let target = match shards.get(to.0).lookup(to.1, self.to, now, memory) {
            Lookup::Live(index) => Some(index),
            Lookup::Absent | Lookup::Expired => None,
        };
        if target.is_some() && self.only_if_absent {
            return Ok(RenameOutcome::TargetExists);
        }
        let value_len = shards.get(from.0).item(source).value.len();
        let replaced = target.map_or(0, |index| {
            charge(self.to.name.len(), shards.get(to.0).item(index).value.len())
        });
        // One memory step for the whole move, so a refusal leaves both keys as they were.
        let old = charge(self.from.name.len(), value_len) + replaced;
        if !memory.resize(old, charge(self.to.name.len(), value_len)) {
            return Err(EngineError::OutOfMemory);
        }
        let Some((_, mut item)) = shards.get(from.0).detach(source) else {
            unreachable!("the source was just looked up");
        };
        let destination = shards.get(to.0);
        // Held until the new item is allocated: the journal tells a value changed by its
        // allocation's address, which a freed allocation could hand to the new one.
        let _replaced = target.and_then(|index| destination.detach(index));
        item.cas = destination.next_cas();
        let value = item.value.clone();
        // The detaches just freed a slot, so the slab has room: this cannot fail.
        destination.insert_charged(to.1, self.to, &value, item)?;
        Ok(RenameOutcome::Renamed)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::testing::{engine, hash_with, inspect, read, secs, set};
    use crate::{EngineConfig, Expiry, KeyInfo, NamespaceId, Store, StoreMode, ValueType};

    fn rename(engine: &crate::Engine, from: &[u8], to: &[u8], nx: bool) -> RenameOutcome {
        let rename = Rename {
            from: Key::default_namespace(from),
            to: Key::default_namespace(to),
            only_if_absent: nx,
        };
        engine.rename(&rename, secs(10)).unwrap()
    }

    #[test]
    fn moves_value_type_and_expiry_and_replaces_the_target() {
        let engine = engine();
        let a = Key::default_namespace(b"a");
        let b = Key::default_namespace(b"b");
        let store = Store::new(a, b"v", 0, Expiry::At(secs(100)), StoreMode::Set);
        engine.run(&store, secs(1)).unwrap();
        hash_with(&engine, b, &[(b"f", b"v")], secs(1));
        assert_eq!(
            rename(&engine, b"a", b"b", true),
            RenameOutcome::TargetExists
        );
        assert_eq!(rename(&engine, b"a", b"b", false), RenameOutcome::Renamed);
        assert_eq!(inspect(&engine, a, secs(10)), None);
        assert_eq!(
            inspect(&engine, b, secs(10)),
            Some(KeyInfo {
                value_type: ValueType::String,
                ttl: Some(Duration::from_secs(90))
            })
        );
        assert_eq!(
            read(&engine, b, secs(10)),
            Some(bytes::Bytes::from_static(b"v"))
        );
        assert_eq!(engine.stats().memory_used, charge(1, 1));
        assert_eq!(rename(&engine, b"a", b"c", false), RenameOutcome::NotFound);
        assert_eq!(rename(&engine, b"b", b"b", false), RenameOutcome::Renamed);
        assert_eq!(
            rename(&engine, b"b", b"b", true),
            RenameOutcome::TargetExists
        );
        assert_eq!(engine.stats().curr_items, 1);
    }

    #[test]
    fn works_across_every_pair_of_shards_and_namespaces() {
        let engine = engine();
        for i in 0..200u32 {
            let from = format!("from-{i}");
            let to = format!("to-{i}");
            let from = Key::new(NamespaceId(i % 3), from.as_bytes());
            let to = Key::new(NamespaceId(i % 2), to.as_bytes());
            set(&engine, from, b"value", secs(1));
            let rename = Rename {
                from,
                to,
                only_if_absent: false,
            };
            assert_eq!(engine.rename(&rename, secs(1)), Ok(RenameOutcome::Renamed));
            assert_eq!(read(&engine, to, secs(1)).as_deref(), Some(&b"value"[..]));
            assert_eq!(inspect(&engine, from, secs(1)), None);
        }
        assert_eq!(engine.stats().curr_items, 200);
    }

    #[test]
    fn a_longer_name_past_the_memory_limit_changes_nothing() {
        let engine = crate::Engine::new(EngineConfig {
            max_memory: charge(1, 1),
        });
        let a = Key::default_namespace(b"a");
        set(&engine, a, b"v", secs(1));
        let rename = Rename {
            from: a,
            to: Key::default_namespace(b"longer"),
            only_if_absent: false,
        };
        assert_eq!(
            engine.rename(&rename, secs(1)),
            Err(EngineError::OutOfMemory)
        );
        assert_eq!(read(&engine, a, secs(1)).as_deref(), Some(&b"v"[..]));
        assert_eq!(engine.stats().memory_used, charge(1, 1));
    }

    #[test]
    fn an_expired_source_is_not_found_and_an_expired_target_is_replaced() {
        let engine = engine();
        let a = Key::default_namespace(b"a");
        let b = Key::default_namespace(b"b");
        engine
            .run(
                &Store::new(a, b"v", 0, Expiry::At(secs(5)), StoreMode::Set),
                secs(1),
            )
            .unwrap();
        assert_eq!(rename(&engine, b"a", b"b", false), RenameOutcome::NotFound);
        set(&engine, a, b"v", secs(1));
        engine
            .run(
                &Store::new(b, b"w", 0, Expiry::At(secs(5)), StoreMode::Set),
                secs(1),
            )
            .unwrap();
        assert_eq!(rename(&engine, b"a", b"b", true), RenameOutcome::Renamed);
        assert_eq!(engine.stats().curr_items, 1);
    }
}
