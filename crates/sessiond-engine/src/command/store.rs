//! Store a value: set, add, replace, append, prepend, each optionally compare-and-swap.

use bytes::{Bytes, BytesMut};

use super::{Apply, ShardContext};
use crate::error::EngineError;
use crate::item::{Item, ItemBits, ValueType};
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
        if found.is_some_and(|index| shard.item(index).value_type() != ValueType::String) {
            return Err(EngineError::WrongType);
        }

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
            let item = Item::new(Bytes::new(), self.flags, expiry, cas, now);
            shard.insert(ctx.hash, self.key, self.value, item, ctx.memory)?;
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
                shard.set_value(index, &joined, ctx.memory)?;
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
                shard.set_value(index, self.value, ctx.memory)?;
                shard.counters.total_items += 1;
                let cas = shard.next_cas();
                let item = shard.item_mut(index);
                let old = item.clone();
                *item = Item::new(item.value.clone(), self.flags, self.expiry, cas, now);
                // A replaced item is a new item, unlocked; its cookie counter stays monotonic.
                item.cookie = old.cookie;
                if stale {
                    // A store with an outdated version (meta `I`) only refreshes the value: the
                    // item keeps its expiry and whoever holds its win token keeps it, as in
                    // memcached.
                    item.bits.set(ItemBits::STALE, true);
                    item.deadline = old.deadline;
                    item.sliding = old.sliding;
                    item.bits
                        .set(ItemBits::WIN_TAKEN, old.bits.has(ItemBits::WIN_TAKEN));
                }
                shard.schedule(index);
                Ok(StoreOutcome::Stored { cas })
            }
        }
    }

    fn refusal(&self, error: EngineError) -> Option<Self::Outcome> {
        Some(Err(error))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::{
        Engine, EngineConfig, EngineError, Expiry, Get, GetOutcome, ItemView, Key, ReadSession,
        ReadSessionOutcome, Store, StoreMode, StoreOutcome, Timestamp, charge,
    };

    const T0: Timestamp = Timestamp::from_secs(1_000);
    const KEY: Key<'static> = Key {
        namespace: crate::NamespaceId::DEFAULT,
        name: b"k",
    };

    fn secs(s: u64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    fn store(
        engine: &Engine,
        value: &[u8],
        flags: u32,
        expiry: Expiry,
        mode: StoreMode,
        now: Timestamp,
    ) -> Result<StoreOutcome, EngineError> {
        engine.run(&Store::new(KEY, value, flags, expiry, mode), now)
    }

    fn cas_of(outcome: Result<StoreOutcome, EngineError>) -> u64 {
        match outcome {
            Ok(StoreOutcome::Stored { cas }) => cas,
            other => panic!("expected Stored, got {other:?}"),
        }
    }

    fn get(engine: &Engine, now: Timestamp) -> Option<ItemView> {
        match engine.run(&Get::new(KEY), now).unwrap() {
            GetOutcome::Hit(view) => Some(view),
            GetOutcome::Miss => None,
        }
    }

    #[test]
    fn append_and_prepend_keep_flags_and_absolute_expiry() {
        let engine = Engine::new(EngineConfig::default());
        let first = cas_of(store(
            &engine,
            b"mid",
            42,
            Expiry::At(secs(1_100)),
            StoreMode::Set,
            T0,
        ));
        let appended = cas_of(store(
            &engine,
            b">",
            7,
            Expiry::Never,
            StoreMode::Append,
            secs(1_010),
        ));
        let prepended = cas_of(store(
            &engine,
            b"<",
            9,
            Expiry::At(secs(1_001)),
            StoreMode::Prepend,
            secs(1_020),
        ));
        assert!(
            first != appended && appended != prepended,
            "every write is a new version"
        );
        let view = get(&engine, secs(1_050)).unwrap();
        assert_eq!(&view.value[..], b"<mid>");
        assert_eq!(view.flags, 42, "the appended bytes' flags are ignored");
        assert_eq!(
            view.ttl,
            Some(Duration::from_secs(50)),
            "the expiry is the original one"
        );
        assert_eq!(view.cas, prepended);
        assert_eq!(get(&engine, secs(1_100)), None);
    }

    #[test]
    fn append_keeps_a_sliding_expiry_sliding_and_renews_it() {
        let engine = Engine::new(EngineConfig::default());
        let sliding = Expiry::Sliding(Duration::from_secs(10));
        store(&engine, b"a", 3, sliding, StoreMode::Set, T0).unwrap();
        store(
            &engine,
            b"b",
            0,
            Expiry::Never,
            StoreMode::Append,
            secs(1_008),
        )
        .unwrap();
        // Renewed at 1008, so alive at 1017 although more than 10 s passed since the set.
        let view = get(&engine, secs(1_017)).unwrap();
        assert_eq!((&view.value[..], view.flags), (&b"ab"[..], 3));
        assert_eq!(view.ttl, Some(Duration::from_secs(10)));
        assert_eq!(get(&engine, secs(1_027)), None);
    }

    #[test]
    fn append_keeps_a_session_lock() {
        let engine = Engine::new(EngineConfig::default());
        store(&engine, b"a", 0, Expiry::Never, StoreMode::Set, T0).unwrap();
        let read = ReadSession {
            key: KEY,
            exclusive: true,
        };
        assert!(matches!(
            engine.run(&read, T0),
            Ok(ReadSessionOutcome::Found { .. })
        ));
        store(&engine, b"b", 0, Expiry::Never, StoreMode::Append, T0).unwrap();
        assert!(get(&engine, T0).unwrap().lock.is_some());
    }

    #[test]
    fn append_and_prepend_of_a_missing_key_store_nothing() {
        let engine = Engine::new(EngineConfig::default());
        for mode in [StoreMode::Append, StoreMode::Prepend, StoreMode::Replace] {
            assert_eq!(
                store(&engine, b"x", 0, Expiry::Never, mode, T0),
                Ok(StoreOutcome::NotStored)
            );
        }
        assert_eq!(engine.stats().curr_items, 0);
    }

    #[test]
    fn set_with_a_past_expiry_removes_the_existing_item() {
        let engine = Engine::new(EngineConfig::default());
        store(&engine, b"value", 0, Expiry::Never, StoreMode::Set, T0).unwrap();
        for past in [Expiry::At(T0), Expiry::At(secs(1))] {
            store(&engine, b"value", 0, Expiry::Never, StoreMode::Set, T0).unwrap();
            let outcome = store(&engine, b"new", 0, past, StoreMode::Set, T0);
            assert!(matches!(outcome, Ok(StoreOutcome::Stored { .. })));
            assert_eq!(get(&engine, T0), None);
            let stats = engine.stats();
            assert_eq!(
                (stats.curr_items, stats.memory_used, stats.bytes),
                (0, 0, 0)
            );
        }
        // Replace too; and on a missing key nothing is stored (but it still answers Stored).
        store(&engine, b"value", 0, Expiry::Never, StoreMode::Set, T0).unwrap();
        let outcome = store(&engine, b"new", 0, Expiry::At(T0), StoreMode::Replace, T0);
        assert!(matches!(outcome, Ok(StoreOutcome::Stored { .. })));
        assert_eq!(get(&engine, T0), None);
        let outcome = store(&engine, b"new", 0, Expiry::At(T0), StoreMode::Add, T0);
        assert!(matches!(outcome, Ok(StoreOutcome::Stored { .. })));
        assert_eq!(engine.stats().curr_items, 0);
    }

    #[test]
    fn compare_and_swap_with_the_read_version_succeeds_once() {
        let engine = Engine::new(EngineConfig::default());
        store(&engine, b"v1", 0, Expiry::Never, StoreMode::Set, T0).unwrap();
        let read = get(&engine, T0).unwrap().cas;
        let cas_store = |value: &'static [u8], cas: u64| {
            let store = Store {
                cas: Some(cas),
                ..Store::new(KEY, value, 0, Expiry::Never, StoreMode::Set)
            };
            engine.run(&store, T0)
        };
        let written = cas_of(cas_store(b"v2", read));
        assert_ne!(written, read);
        assert_eq!(
            cas_store(b"v3", read),
            Ok(StoreOutcome::Exists),
            "a stale version"
        );
        assert_eq!(&get(&engine, T0).unwrap().value[..], b"v2");
        assert_eq!(
            get(&engine, T0).unwrap().cas,
            written,
            "reads do not change the version"
        );
        let engine_stats = engine.stats().counters;
        assert_eq!((engine_stats.cas_hits, engine_stats.cas_badval), (1, 1));
    }

    #[test]
    fn a_refused_write_leaves_the_item_unchanged() {
        let small = charge(1, 10);
        let engine = Engine::new(EngineConfig { max_memory: small });
        let sliding = Expiry::Sliding(Duration::from_secs(10));
        let cas = cas_of(store(
            &engine,
            b"0123456789",
            5,
            sliding,
            StoreMode::Set,
            T0,
        ));
        let before = get(&engine, T0).unwrap();

        let later = secs(1_005);
        let bigger = store(
            &engine,
            b"0123456789a",
            6,
            Expiry::Never,
            StoreMode::Set,
            later,
        );
        assert_eq!(bigger, Err(EngineError::OutOfMemory));
        let append = store(&engine, b"!", 6, Expiry::Never, StoreMode::Append, later);
        assert_eq!(append, Err(EngineError::OutOfMemory));
        let other = Store::new(
            Key::default_namespace(b"o"),
            b"",
            0,
            Expiry::Never,
            StoreMode::Set,
        );
        assert_eq!(engine.run(&other, later), Err(EngineError::OutOfMemory));

        // Same value, flags, version and expiry (still sliding by 10 s, not the refused
        // `Never`), and the refused writes did not count as accesses.
        let after = get(&engine, later).unwrap();
        assert_eq!(
            (&after.value, after.flags, after.cas),
            (&before.value, 5, cas)
        );
        assert_eq!(after.ttl, Some(Duration::from_secs(10)));
        assert_eq!(after.idle, Duration::from_secs(5));
        let stats = engine.stats();
        assert_eq!(
            (stats.memory_used, stats.rejected_writes, stats.curr_items),
            (small, 3, 1)
        );

        // Writes that do not grow the store still work when it is full.
        cas_of(store(
            &engine,
            b"short",
            0,
            Expiry::Never,
            StoreMode::Set,
            later,
        ));
        assert_eq!(engine.stats().memory_used, charge(1, 5));
    }
}
