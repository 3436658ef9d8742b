//! The pub/sub hub: which connection listens to which channel or pattern, over the whole
//! server, and each subscriber's bounded queue of messages.
//!
//! Channels are server-wide, as in Redis (not per database). A connection gets an [`Inbox`]
//! when it first subscribes; a publisher (`PUBLISH`, a keyspace event, the expiry sweep)
//! looks the channel and the patterns up under a read lock, appends the message to each
//! receiver's inbox and wakes its connection, which writes the messages out when it next
//! runs. A publisher never waits for a subscriber: an inbox that would pass its limit
//! (Redis's `client-output-buffer-limit pubsub`) is emptied and marked cut, and its connection
//! closes, as Redis closes a subscriber that falls too far behind.
//!
//! Nothing here costs anything while nobody subscribes: every publisher first reads one
//! counter of subscriptions and stops at zero, without a lock.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;

use crate::encoder::{Encoder, Version};
use crate::glob;

/// How much a subscriber may have waiting, by default: Redis's hard
/// `client-output-buffer-limit pubsub` (32 MiB).
pub const DEFAULT_PUBSUB_LIMIT: usize = 32 << 20;

/// What a queued message costs beyond its bytes (the RESP framing around them, the queue
/// entry), so that a flood of empty messages is bounded too.
const MESSAGE_OVERHEAD: usize = 64;

/// One connection's queue of messages, shared between the hub (which fills it) and the
/// connection (which empties it into its output). The server waits on it to know when the
/// connection has something to write although its client sent nothing.
#[derive(Debug)]
pub struct Inbox {
    /// The connection's client id, to find it in the hub's lists.
    id: u64,
    queue: Mutex<Queue>,
    /// Signalled when the queue gains its first message or the inbox is cut.
    wake: Notify,
    /// Signalled once, when the inbox is cut.
    cut_signal: Notify,
    cut: AtomicBool,
}

#[derive(Debug, Default)]
struct Queue {
    messages: VecDeque<Message>,
    /// What the queued messages cost, as counted against the limit.
    bytes: usize,
}

/// A message on its way to one subscriber. The bytes are shared by every receiver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Message {
    /// The pattern it matched, for a `pmessage`; `None` for a `message`.
    pub(crate) pattern: Option<Bytes>,
    pub(crate) channel: Bytes,
    pub(crate) payload: Bytes,
}

impl Message {
    /// What it costs in a queue.
    fn cost(&self) -> usize {
        self.pattern.as_ref().map_or(0, Bytes::len)
            + self.channel.len()
            + self.payload.len()
            + MESSAGE_OVERHEAD
    }

    /// Writes it as Redis does: `message channel payload` or `pmessage pattern channel
    /// payload`, a push in RESP3 and an array in RESP2.
    pub(crate) fn write(&self, out: &mut BytesMut, version: Version) {
        let mut reply = Encoder::new(out, version);
        match &self.pattern {
            None => reply.push(3).bulk(b"message"),
            Some(pattern) => reply.push(4).bulk(b"pmessage").bulk(pattern),
        };
        reply.bulk(&self.channel).bulk(&self.payload);
    }
}

impl Inbox {
    pub(crate) fn new(id: u64) -> Self {
        Inbox {
            id,
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
            cut_signal: Notify::new(),
            cut: AtomicBool::new(false),
        }
    }

    /// Completes when messages wait for the connection, or it was cut off: the connection
    /// should run (and, if cut, close). A wake-up that came while nobody waited is kept for
    /// the next call, so none is lost.
    pub async fn ready(&self) {
        self.wake.notified().await;
    }

    /// Completes once the subscriber fell too far behind and must be disconnected, without
    /// the replies it was still owed (Redis's output buffer limit).
    pub async fn cut_off(&self) {
        if self.is_cut() {
            return;
        }
        // Only the owning connection waits, so a stored permit from `notify_one` is enough
        // to catch a cut that happens between the check and the wait.
        self.cut_signal.notified().await;
    }

    /// Whether the subscriber was cut off.
    pub fn is_cut(&self) -> bool {
        self.cut.load(Ordering::Acquire)
    }

    /// Queues `message` unless it would take the inbox past `limit`; then the inbox is
    /// emptied and cut instead. Returns false once the inbox is cut.
    pub(crate) fn deliver(&self, message: Message, limit: usize) -> bool {
        let mut queue = self.queue.lock();
        if self.is_cut() {
            return false;
        }
        let cost = message.cost();
        if queue.bytes.saturating_add(cost) > limit {
            queue.messages = VecDeque::new();
            queue.bytes = 0;
            self.cut.store(true, Ordering::Release);
            drop(queue);
            self.cut_signal.notify_one();
            self.wake.notify_one();
            return false;
        }
        let was_empty = queue.messages.is_empty();
        queue.bytes += cost;
        queue.messages.push_back(message);
        drop(queue);
        if was_empty {
            self.wake.notify_one();
        }
        true
    }

    /// Writes queued messages into `out`, oldest first, until `out` holds `high_water`
    /// bytes. When some are left, the connection is woken again to write them next.
    pub(crate) fn write_into(&self, out: &mut BytesMut, version: Version, high_water: usize) {
        let mut queue = self.queue.lock();
        while out.len() < high_water {
            let Some(message) = queue.messages.pop_front() else {
                return;
            };
            queue.bytes -= message.cost();
            message.write(out, version);
        }
        if !queue.messages.is_empty() {
            drop(queue);
            self.wake.notify_one();
        }
    }

    /// Whether messages wait.
    pub(crate) fn has_messages(&self) -> bool {
        !self.queue.lock().messages.is_empty()
    }
}

/// What a subscription names: a channel, or a glob pattern of channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `SUBSCRIBE`.
    Channel,
    /// `PSUBSCRIBE`.
    Pattern,
}

/// One connection's subscriptions: what it listens to, and its inbox. Made on its first
/// `SUBSCRIBE` or `PSUBSCRIBE` and kept (the inbox with it) until the connection closes, when
/// it leaves the hub.
#[derive(Debug)]
pub(crate) struct Subscriptions {
    hub: Arc<Hub>,
    pub(crate) inbox: Arc<Inbox>,
    /// Its channels. Redis 7.0 keeps them in a hash table too, so `UNSUBSCRIBE` without
    /// arguments answers in no particular order in either.
    channels: HashSet<Bytes>,
    /// Its patterns, in the order subscribed (a list in Redis 7.0).
    patterns: Vec<Bytes>,
}

impl Subscriptions {
    /// No subscriptions yet, for the connection with client id `id`.
    pub(crate) fn new(hub: &Arc<Hub>, id: u64) -> Self {
        Subscriptions {
            hub: Arc::clone(hub),
            inbox: Arc::new(Inbox::new(id)),
            channels: HashSet::new(),
            patterns: Vec::new(),
        }
    }

    /// How many channels and patterns it listens to.
    pub(crate) fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// How many channels, and how many patterns.
    pub(crate) fn counts(&self) -> (usize, usize) {
        (self.channels.len(), self.patterns.len())
    }

    /// Listens to `name`; false if it already did.
    pub(crate) fn listen(&mut self, kind: Kind, name: &[u8]) -> bool {
        let known = match kind {
            Kind::Channel => self.channels.contains(name),
            Kind::Pattern => self.patterns.iter().any(|known| known == name),
        };
        if known {
            return false;
        }
        let name = Bytes::copy_from_slice(name);
        self.hub.subscribe(kind, &self.inbox, &name);
        match kind {
            Kind::Channel => {
                self.channels.insert(name);
            }
            Kind::Pattern => self.patterns.push(name),
        }
        true
    }

    /// Stops listening to `name`; false if it did not.
    pub(crate) fn leave(&mut self, kind: Kind, name: &[u8]) -> bool {
        let known = match kind {
            Kind::Channel => self.channels.remove(name),
            Kind::Pattern => match self.patterns.iter().position(|known| known == name) {
                Some(position) => {
                    self.patterns.remove(position);
                    true
                }
                None => false,
            },
        };
        if known {
            self.hub.unsubscribe(kind, &self.inbox, name);
        }
        known
    }

    /// What it listens to of `kind` (patterns in order), to leave them all.
    pub(crate) fn names(&self, kind: Kind) -> Vec<Bytes> {
        match kind {
            Kind::Channel => self.channels.iter().cloned().collect(),
            Kind::Pattern => self.patterns.clone(),
        }
    }

    /// Leaves every channel and pattern (`RESET`, the connection closing). Messages already
    /// queued stay, to be written before the reply.
    pub(crate) fn leave_all(&mut self) {
        for kind in [Kind::Channel, Kind::Pattern] {
            for name in self.names(kind) {
                self.leave(kind, &name);
            }
        }
    }
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        self.leave_all();
    }
}

/// Every subscription of the server.
#[derive(Debug)]
pub(crate) struct Hub {
    registry: RwLock<Registry>,
    /// Subscriptions to channels and patterns, over all connections: publishers stop at
    /// zero without taking the lock.
    subscriptions: AtomicUsize,
    /// How much one inbox may hold.
    limit: usize,
}

/// Each channel's and each pattern's subscribers, in the order they subscribed (Redis 7.0
/// keeps both in hash tables: which pattern of several is served first is arbitrary there too).
#[derive(Debug, Default)]
struct Registry {
    channels: HashMap<Bytes, Vec<Arc<Inbox>>>,
    patterns: HashMap<Bytes, Vec<Arc<Inbox>>>,
}

impl Registry {
    fn of(&mut self, kind: Kind) -> &mut HashMap<Bytes, Vec<Arc<Inbox>>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
        }
    }
}

impl Hub {
    /// An empty hub whose inboxes hold at most `limit` bytes each.
    pub(crate) fn new(limit: usize) -> Self {
        Hub {
            registry: RwLock::new(Registry::default()),
            subscriptions: AtomicUsize::new(0),
            limit,
        }
    }

    /// Whether nobody subscribes to anything.
    pub(crate) fn is_idle(&self) -> bool {
        self.subscriptions.load(Ordering::Relaxed) == 0
    }

    /// Adds `inbox` to the subscribers of `name` (the caller knows it is not one yet).
    pub(crate) fn subscribe(&self, kind: Kind, inbox: &Arc<Inbox>, name: &Bytes) {
        let mut registry = self.registry.write();
        registry
            .of(kind)
            .entry(name.clone())
            .or_default()
            .push(Arc::clone(inbox));
        self.subscriptions.fetch_add(1, Ordering::Relaxed);
    }

    /// Removes `inbox` from the subscribers of `name`.
    pub(crate) fn unsubscribe(&self, kind: Kind, inbox: &Inbox, name: &[u8]) {
        let mut registry = self.registry.write();
        let table = registry.of(kind);
        let Some(subscribers) = table.get_mut(name) else {
            return;
        };
        if let Some(position) = subscribers.iter().position(|known| known.id == inbox.id) {
            subscribers.remove(position);
            self.subscriptions.fetch_sub(1, Ordering::Relaxed);
        }
        if subscribers.is_empty() {
            table.remove(name);
        }
    }

    /// Sends `payload` to `channel`'s subscribers, then to those of every pattern it
    /// matches, as Redis's `pubsubPublishMessage` does; answers how many received it (a
    /// subscriber cut off for falling behind counts as none).
    pub(crate) fn publish(&self, channel: &[u8], payload: &[u8]) -> usize {
        if self.is_idle() {
            return 0;
        }
        let registry = self.registry.read();
        // Copied once, when someone receives it, and shared by every receiver.
        let mut shared: Option<(Bytes, Bytes)> = None;
        let mut receivers = 0;
        let mut send = |pattern: Option<&Bytes>, subscribers: &[Arc<Inbox>]| {
            let (channel, payload) = shared.get_or_insert_with(|| {
                (
                    Bytes::copy_from_slice(channel),
                    Bytes::copy_from_slice(payload),
                )
            });
            for inbox in subscribers {
                let message = Message {
                    pattern: pattern.cloned(),
                    channel: channel.clone(),
                    payload: payload.clone(),
                };
                receivers += usize::from(inbox.deliver(message, self.limit));
            }
        };
        if let Some(subscribers) = registry.channels.get(channel) {
            send(None, subscribers);
        }
        for (pattern, subscribers) in &registry.patterns {
            if glob::matches(pattern, channel, false) {
                send(Some(pattern), subscribers);
            }
        }
        receivers
    }

    /// The channels with at least one subscriber, matching `pattern` when given
    /// (`PUBSUB CHANNELS`).
    pub(crate) fn channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.registry
            .read()
            .channels
            .keys()
            .filter(|channel| pattern.is_none_or(|pattern| glob::matches(pattern, channel, false)))
            .cloned()
            .collect()
    }

    /// How many channels have a subscriber (`INFO`'s `pubsub_channels`).
    pub(crate) fn channel_count(&self) -> usize {
        self.registry.read().channels.len()
    }

    /// How many subscribe to `channel`, patterns aside (`PUBSUB NUMSUB`).
    pub(crate) fn subscribers(&self, channel: &[u8]) -> usize {
        self.registry
            .read()
            .channels
            .get(channel)
            .map_or(0, Vec::len)
    }

    /// How many distinct patterns someone subscribes to (`PUBSUB NUMPAT`).
    pub(crate) fn patterns(&self) -> usize {
        self.registry.read().patterns.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inbox(id: u64) -> Arc<Inbox> {
        Arc::new(Inbox::new(id))
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn written(inbox: &Inbox, version: Version) -> Vec<u8> {
        let mut out = BytesMut::new();
        inbox.write_into(&mut out, version, usize::MAX);
        out.to_vec()
    }

    #[test]
    fn a_message_reaches_channel_then_pattern_subscribers_and_counts_them() {
        let hub = Hub::new(DEFAULT_PUBSUB_LIMIT);
        assert!(hub.is_idle());
        assert_eq!(hub.publish(b"news", b"x"), 0);
        let (a, b) = (inbox(1), inbox(2));
        hub.subscribe(Kind::Channel, &a, &Bytes::from_static(b"news"));
        hub.subscribe(Kind::Pattern, &b, &Bytes::from_static(b"n*"));
        hub.subscribe(Kind::Pattern, &a, &Bytes::from_static(b"x*"));
        assert!(!hub.is_idle());
        assert_eq!(hub.publish(b"news", b"hi"), 2);
        assert_eq!(
            written(&a, Version::Resp2),
            b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n"
        );
        assert_eq!(
            written(&b, Version::Resp3),
            b">4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$2\r\nhi\r\n"
        );
        assert_eq!(hub.channels(None), [Bytes::from_static(b"news")]);
        assert!(hub.channels(Some(b"x*")).is_empty());
        assert_eq!((hub.subscribers(b"news"), hub.patterns()), (1, 2));
        assert_eq!(hub.channel_count(), 1);

        hub.unsubscribe(Kind::Channel, &a, b"news");
        hub.unsubscribe(Kind::Pattern, &a, b"x*");
        hub.unsubscribe(Kind::Pattern, &b, b"n*");
        hub.unsubscribe(Kind::Pattern, &b, b"n*");
        assert!(hub.is_idle());
        assert_eq!((hub.subscribers(b"news"), hub.patterns()), (0, 0));
        assert!(hub.channels(None).is_empty());
    }

    #[test]
    fn an_inbox_past_its_limit_is_emptied_and_cut_and_receives_nothing_more() {
        let hub = Hub::new(4 * (MESSAGE_OVERHEAD + 2));
        let (slow, fast) = (inbox(1), inbox(2));
        let channel = Bytes::from_static(b"c");
        hub.subscribe(Kind::Channel, &slow, &channel);
        hub.subscribe(Kind::Channel, &fast, &channel);
        for _ in 0..4 {
            assert_eq!(hub.publish(b"c", b"m"), 2);
            written(&fast, Version::Resp2);
        }
        assert!(!slow.is_cut());
        assert_eq!(
            hub.publish(b"c", b"m"),
            1,
            "the slow one is cut, not counted"
        );
        assert!(slow.is_cut() && !slow.has_messages());
        assert_eq!(hub.publish(b"c", b"m"), 1);
        assert!(written(&slow, Version::Resp2).is_empty());
        assert!(!fast.is_cut());
    }

    #[test]
    fn writing_stops_at_the_high_water_mark_and_wakes_the_connection_again() {
        let hub = Hub::new(DEFAULT_PUBSUB_LIMIT);
        let a = inbox(1);
        hub.subscribe(Kind::Channel, &a, &Bytes::from_static(b"c"));
        let runtime = runtime();
        for _ in 0..3 {
            hub.publish(b"c", &[b'x'; 100]);
        }
        runtime.block_on(a.ready());
        let mut out = BytesMut::new();
        a.write_into(&mut out, Version::Resp2, 1);
        assert!(a.has_messages());
        // Woken again for the rest.
        runtime.block_on(a.ready());
        a.write_into(&mut out, Version::Resp2, usize::MAX);
        assert!(!a.has_messages());
        assert_eq!(
            out.windows(7).filter(|w| w == b"message").count(),
            3,
            "every message once"
        );
    }

    #[test]
    fn a_cut_wakes_the_connection_and_completes_cut_off() {
        let hub = Hub::new(MESSAGE_OVERHEAD + 1);
        let a = inbox(1);
        hub.subscribe(Kind::Channel, &a, &Bytes::from_static(b"c"));
        let runtime = runtime();
        hub.publish(b"c", b"far too long for the limit");
        runtime.block_on(async {
            a.ready().await;
            a.cut_off().await;
        });
        assert!(a.is_cut());
    }
}
