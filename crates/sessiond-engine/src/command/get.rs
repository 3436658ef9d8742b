//! Read an item, optionally touching it or creating a placeholder on a miss.

use std::time::Duration;

use bytes::Bytes;

use super::{Apply, ShardContext};
use crate::error::EngineError;
use crate::item::{Item, ItemBits, ItemView, ValueType};
use crate::key::Key;
use crate::shard::Lookup;
use crate::time::{Expiry, Timestamp};

/// Reads an item. Every read renews a sliding item's expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Get<'a> {
    /// The key to read.
    pub key: Key<'a>,
    /// Replace the item's expiry on a hit (memcached `gat`, meta `T`).
    pub touch: Option<Expiry>,
    /// On a miss, create an empty item with this expiry and hand this caller the win token
    /// (meta `N`), so one client recomputes a missing value while others wait.
    pub vivify: Option<Expiry>,
    /// On a hit with less time to live than this, hand out the win token once (meta `R`).
    pub recache_below: Option<Duration>,
    /// Mark the item fetched and record the access time (meta reads can opt out with `u`).
    pub bump: bool,
}

impl<'a> Get<'a> {
    /// A plain read of `key`.
    pub fn new(key: Key<'a>) -> Self {
        Get {
            key,
            touch: None,
            vivify: None,
            recache_below: None,
            bump: true,
        }
    }

    /// A read that also replaces the item's expiry (get-and-touch).
    pub fn and_touch(key: Key<'a>, expiry: Expiry) -> Self {
        Get {
            touch: Some(expiry),
            ..Get::new(key)
        }
    }
}

/// What a read found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GetOutcome {
    /// The item, as it was when read (its time to live as it is after the read).
    Hit(ItemView),
    /// No live item under the key.
    Miss,
}

impl Apply for Get<'_> {
    type Outcome = Result<GetOutcome, EngineError>;

    fn key(&self) -> Key<'_> {
        self.key
    }

    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome {
        let shard = &mut *ctx.shard;
        shard.counters.cmd_get += 1;
        if self.touch.is_some() {
            shard.counters.cmd_touch += 1;
        }
        let lookup = shard.lookup(ctx.hash, self.key, now, ctx.memory);
        let Lookup::Live(index) = lookup else {
            shard.counters.get_misses += 1;
            if lookup == Lookup::Expired {
                shard.counters.get_expired += 1;
            }
            if self.touch.is_some() {
                shard.counters.touch_misses += 1;
            }
            let Some(expiry) = self.vivify else {
                return Ok(GetOutcome::Miss);
            };
            let cas = shard.next_cas();
            let mut item = Item::new(Bytes::new(), 0, expiry, cas, now);
            item.bits.set(ItemBits::WIN_TAKEN, true);
            item.bits.set(ItemBits::FETCHED, self.bump);
            let mut view = item.view(now);
            view.win = true;
            // An expiry already past keeps nothing, as a store's or an arithmetic vivify's does.
            if !item.is_expired(now) {
                shard.insert(ctx.hash, self.key, b"", item, ctx.memory)?;
            }
            return Ok(GetOutcome::Hit(view));
        };

        if shard.item(index).value_type() != ValueType::String {
            return Err(EngineError::WrongType);
        }
        shard.counters.get_hits += 1;
        if self.touch.is_some() {
            shard.counters.touch_hits += 1;
        }
        let item = shard.item_mut(index);
        let mut view = item.view(now);
        item.renew(now);
        if let Some(expiry) = self.touch {
            item.set_expiry(expiry, now);
        }
        view.ttl = item.ttl(now);
        let stale = item.bits.has(ItemBits::STALE);
        let recache = self
            .recache_below
            .is_some_and(|below| view.ttl.is_some_and(|ttl| ttl < below));
        if (stale || recache) && !item.bits.has(ItemBits::WIN_TAKEN) {
            item.bits.set(ItemBits::WIN_TAKEN, true);
            view.win = true;
        }
        if self.bump {
            item.bits.set(ItemBits::FETCHED, true);
            item.last_access = now;
        }
        let slides = item.sliding.is_some();
        shard.schedule(index);
        if ctx.journaling && slides && !self.journaled() {
            shard.note_renewal(index);
        }
        Ok(GetOutcome::Hit(view))
    }

    fn refusal(&self, error: EngineError) -> Option<Self::Outcome> {
        self.journaled().then_some(Err(error))
    }

    /// Only a touch or a vivify changes more than a sliding deadline.
    fn journaled(&self) -> bool {
        self.touch.is_some() || self.vivify.is_some()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::{
        Engine, EngineConfig, Expiry, Get, GetOutcome, Key, Store, StoreMode, Timestamp, charge,
    };

    const NOW: Timestamp = Timestamp::from_secs(1_000);

    fn hit(outcome: Result<GetOutcome, crate::EngineError>) -> crate::ItemView {
        match outcome {
            Ok(GetOutcome::Hit(view)) => view,
            other => panic!("expected a hit, got {other:?}"),
        }
    }

    #[test]
    fn vivify_creates_a_placeholder_and_hands_out_the_win_token_once() {
        let engine = Engine::new(EngineConfig::default());
        let key = Key::default_namespace(b"k");
        let vivify = Get {
            vivify: Some(Expiry::Sliding(Duration::from_secs(30))),
            ..Get::new(key)
        };
        let first = hit(engine.run(&vivify, NOW));
        assert!(first.win && first.win_taken && first.value.is_empty());
        let second = hit(engine.run(&vivify, NOW));
        assert!(!second.win && second.win_taken);
        assert_eq!(first.cas, second.cas, "a read does not change the version");
        assert_eq!(engine.stats().memory_used, charge(1, 0));
    }

    #[test]
    fn vivify_with_an_expiry_already_past_stores_nothing() {
        // As with a store or an arithmetic vivify: nothing invisible is kept, and so nothing is
        // charged and nothing can be refused for memory.
        let engine = Engine::new(EngineConfig { max_memory: 0 });
        let key = Key::default_namespace(b"k");
        let vivify = Get {
            vivify: Some(Expiry::At(NOW)),
            ..Get::new(key)
        };
        let view = hit(engine.run(&vivify, NOW));
        assert!(view.win);
        assert_eq!(view.ttl, Some(Duration::ZERO));
        let stats = engine.stats();
        assert_eq!(
            (stats.curr_items, stats.memory_used, stats.rejected_writes),
            (0, 0, 0)
        );
        assert_eq!(engine.run(&Get::new(key), NOW), Ok(GetOutcome::Miss));
    }

    #[test]
    fn get_and_touch_replaces_the_expiry_and_reports_the_new_ttl() {
        let engine = Engine::new(EngineConfig::default());
        let key = Key::default_namespace(b"k");
        let store = Store::new(key, b"v", 0, Expiry::Never, StoreMode::Set);
        engine.run(&store, NOW).unwrap();
        let touched = Get::and_touch(key, Expiry::At(Timestamp::from_secs(1_010)));
        assert_eq!(
            hit(engine.run(&touched, NOW)).ttl,
            Some(Duration::from_secs(10))
        );
        let later = Timestamp::from_secs(1_010);
        assert_eq!(engine.run(&Get::new(key), later), Ok(GetOutcome::Miss));
    }
}
