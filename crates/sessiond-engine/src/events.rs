//! Expiry events: which keys really expired, for keyspace notifications (Redis's
//! `__keyevent@<db>__:expired`, which Spring Session depends on) and session-end handlers.
//!
//! An item expires when a lookup meets it past its deadline or when the sweep
//! ([`Engine::expire_due`](crate::Engine::expire_due)) removes it; both report it here, and
//! nothing else does (a delete, an expiry set in the past, a flush or a rename are not
//! expirations). Reporting is opt-in per namespace: with no namespace watched, the only cost
//! is one relaxed atomic load per shard lock. Events wait in one bounded queue per engine
//! until the caller drains them; when it is full, new events are dropped and counted, so a
//! caller that stops draining costs bounded memory and learns how much it missed.
//!
//! Which items expire, and in what order within a shard, follows from the commands and their
//! times only, so replaying the same commands reports the same events.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;

use crate::key::NamespaceId;

/// How many expiry events an engine holds for its caller before it drops new ones, unless
/// set otherwise with [`Engine::set_expiry_event_capacity`](crate::Engine::set_expiry_event_capacity).
pub const DEFAULT_EXPIRY_EVENT_CAPACITY: usize = 65_536;

/// A key that expired.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ExpiredKey {
    /// The key's namespace.
    pub namespace: NamespaceId,
    /// The key's bytes (a copy: the item is gone).
    pub name: Bytes,
}

/// The engine's queue of expiry events and the namespaces that asked for them.
#[derive(Debug)]
pub(crate) struct ExpiryEvents {
    /// Whether any namespace is watched: shards collect expired keys only then.
    active: AtomicBool,
    dropped: AtomicU64,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Watched namespaces; few, so a vector.
    watched: Vec<NamespaceId>,
    queue: VecDeque<ExpiredKey>,
    capacity: usize,
}

impl ExpiryEvents {
    pub fn new() -> Self {
        ExpiryEvents {
            active: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            inner: Mutex::new(Inner {
                watched: Vec::new(),
                queue: VecDeque::new(),
                capacity: DEFAULT_EXPIRY_EVENT_CAPACITY,
            }),
        }
    }

    /// Whether shards should collect expired keys.
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    pub fn watch(&self, namespace: NamespaceId, on: bool) {
        let mut inner = self.inner.lock();
        inner.watched.retain(|&watched| watched != namespace);
        if on {
            inner.watched.push(namespace);
        }
        self.active
            .store(!inner.watched.is_empty(), Ordering::Relaxed);
    }

    pub fn watching(&self, namespace: NamespaceId) -> bool {
        self.inner.lock().watched.contains(&namespace)
    }

    pub fn set_capacity(&self, capacity: usize) {
        self.inner.lock().capacity = capacity;
    }

    /// Queues the events of watched namespaces among `expired`, emptying it.
    pub fn publish(&self, expired: &mut Vec<ExpiredKey>) {
        let mut inner = self.inner.lock();
        let mut dropped = 0;
        for key in expired.drain(..) {
            if !inner.watched.contains(&key.namespace) {
                continue;
            }
            if inner.queue.len() >= inner.capacity {
                dropped += 1;
            } else {
                inner.queue.push_back(key);
            }
        }
        if dropped > 0 {
            self.dropped.fetch_add(dropped, Ordering::Relaxed);
        }
    }

    /// Moves every queued event to `out`, oldest first.
    pub fn drain(&self, out: &mut Vec<ExpiredKey>) {
        out.extend(self.inner.lock().queue.drain(..));
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expired(namespace: u32, name: &'static [u8]) -> ExpiredKey {
        ExpiredKey {
            namespace: NamespaceId(namespace),
            name: Bytes::from_static(name),
        }
    }

    #[test]
    fn only_watched_namespaces_are_queued_and_a_full_queue_counts_what_it_drops() {
        let events = ExpiryEvents::new();
        assert!(!events.active());
        events.watch(NamespaceId(3), true);
        assert!(events.active() && events.watching(NamespaceId(3)));
        events.set_capacity(2);
        let mut batch = vec![expired(3, b"a"), expired(4, b"b"), expired(3, b"c")];
        events.publish(&mut batch);
        assert!(batch.is_empty());
        events.publish(&mut vec![expired(3, b"d"), expired(3, b"e")]);
        assert_eq!(events.dropped(), 2);
        let mut out = Vec::new();
        events.drain(&mut out);
        assert_eq!(out, [expired(3, b"a"), expired(3, b"c")]);
        events.watch(NamespaceId(3), false);
        assert!(!events.active());
    }
}
