//! One stored item and the views of it that commands hand back.

use std::time::Duration;

use bytes::Bytes;

use crate::time::{Expiry, Timestamp};

/// A lock cookie: the token that proves a caller holds an item's exclusive lock.
///
/// Cookies are monotonic per item, as the ASP.NET State Service's are: a new item starts at 1 and
/// every acquisition takes the next value, so a cookie from an old lock never releases a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LockCookie(pub u32);

impl LockCookie {
    /// The cookie of an item that was never locked.
    pub const INITIAL: LockCookie = LockCookie(1);

    /// The cookie the next acquisition takes. The wire format is a signed 32-bit integer, so the
    /// counter wraps from `i32::MAX` back to 2 (the first cookie an acquisition can hand out),
    /// as the peer-to-peer reimplementation of the State Service does.
    pub fn next(self) -> LockCookie {
        if self.0 >= i32::MAX as u32 {
            LockCookie(2)
        } else {
            LockCookie(self.0 + 1)
        }
    }
}

/// What kind of value an item holds.
///
/// Strings are opaque bytes. A collection is stored as one compact encoded value (a count,
/// then length-prefixed entries: `count:u32le`, then per hash entry `field_len:u32le field
/// value_len:u32le value`, per set entry `member_len:u32le member`, per sorted set entry
/// `score:f64le member_len:u32le member`), so journals, snapshots and replication carry it as
/// any value. Every change rewrites it, which costs time linear in the collection's size. That suits session-sized collections (a session's attributes, a
/// user's few sessions), not huge ones. The memory budget and the engine's value size limit
/// apply to the encoded size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ValueType {
    /// Opaque bytes: what memcached, ASP.NET and sharedance store, and Redis strings.
    String,
    /// Field-value pairs, fields unique, in insertion order.
    Hash,
    /// Unique members, in insertion order.
    Set,
    /// Unique members with a score each, ordered by (score, member).
    SortedSet,
}

impl ValueType {
    /// The type's lowercase name as Redis's `TYPE` reports it: `string`, `hash`, `set`,
    /// `zset`.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::Hash => "hash",
            ValueType::Set => "set",
            ValueType::SortedSet => "zset",
        }
    }
}

/// The lock state of an item that is locked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockInfo {
    /// The cookie that releases the lock.
    pub cookie: LockCookie,
    /// When the lock was taken; lock age is `now - locked_at`.
    pub locked_at: Timestamp,
}

/// What a read hands back: a copy of the item's state at the time of the read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemView {
    /// The value's bytes (a cheap reference-counted handle, not a copy).
    pub value: Bytes,
    /// The opaque 32-bit client flags.
    pub flags: u32,
    /// The compare-and-swap version; changes on every write.
    pub cas: u64,
    /// Time left before the item expires; `None` when it never does.
    pub ttl: Option<Duration>,
    /// Time since the item was last accessed, before this access.
    pub idle: Duration,
    /// Whether the item had been read before this access.
    pub fetched_before: bool,
    /// Whether the item was marked stale (meta-protocol invalidation).
    pub stale: bool,
    /// Whether this caller won the right to recompute the item (meta-protocol "win" token).
    pub win: bool,
    /// Whether another caller already holds the win token (meta-protocol "Z" flag).
    pub win_taken: bool,
    /// The lock, when the item is locked.
    pub lock: Option<LockInfo>,
}

/// The engine's stored form of an item.
#[derive(Clone, Debug)]
pub(crate) struct Item {
    pub value: Bytes,
    pub flags: u32,
    pub cas: u64,
    /// When the item expires; `None` for never. For sliding items this moves on every access.
    pub deadline: Option<Timestamp>,
    /// The sliding timeout, when the item slides.
    pub sliding: Option<Duration>,
    pub last_access: Timestamp,
    /// The last cookie handed out (or the initial one); kept while unlocked so cookies stay
    /// monotonic.
    pub cookie: LockCookie,
    pub locked_at: Option<Timestamp>,
    pub bits: ItemBits,
}

/// Single-bit item state, packed to keep items small.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ItemBits(u8);

impl ItemBits {
    pub const FETCHED: u8 = 1;
    pub const STALE: u8 = 2;
    pub const WIN_TAKEN: u8 = 4;
    pub const UNINITIALIZED: u8 = 8;
    /// The item's sliding deadline moved and the journal has not been told yet.
    pub const RENEWED: u8 = 16;
    /// Two bits holding the item's [`ValueType`]. Zero is a string, so items written before
    /// there were other types (and their log records and snapshots) read back as strings.
    pub const TYPE_MASK: u8 = 0b0110_0000;
    const TYPE_SHIFT: u32 = 5;
    /// The bits that are part of an item's durable state. (A meta-protocol win token is not:
    /// lost in a crash, it lets another client recompute the item, which is what it is for.)
    pub const DURABLE: u8 = Self::STALE | Self::UNINITIALIZED | Self::TYPE_MASK;

    pub fn bits(self) -> u8 {
        self.0
    }

    pub fn from_bits(bits: u8) -> Self {
        ItemBits(bits)
    }

    pub fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    pub fn set(&mut self, bit: u8, on: bool) {
        if on {
            self.0 |= bit;
        } else {
            self.0 &= !bit;
        }
    }

    pub fn value_type(self) -> ValueType {
        match (self.0 & Self::TYPE_MASK) >> Self::TYPE_SHIFT {
            0 => ValueType::String,
            1 => ValueType::Hash,
            2 => ValueType::Set,
            _ => ValueType::SortedSet,
        }
    }

    pub fn set_value_type(&mut self, value_type: ValueType) {
        let code = match value_type {
            ValueType::String => 0,
            ValueType::Hash => 1,
            ValueType::Set => 2,
            ValueType::SortedSet => 3,
        };
        self.0 = (self.0 & !Self::TYPE_MASK) | (code << Self::TYPE_SHIFT);
    }
}

impl Item {
    /// A new, unlocked item.
    pub fn new(value: Bytes, flags: u32, expiry: Expiry, cas: u64, now: Timestamp) -> Self {
        Item {
            value,
            flags,
            cas,
            deadline: expiry.deadline(now),
            sliding: sliding_timeout(expiry),
            last_access: now,
            cookie: LockCookie::INITIAL,
            locked_at: None,
            bits: ItemBits::default(),
        }
    }

    /// A new item holding an encoded collection of `value_type`, with no expiry.
    pub fn collection(value_type: ValueType, cas: u64, now: Timestamp) -> Self {
        let mut item = Item::new(Bytes::new(), 0, Expiry::Never, cas, now);
        item.bits.set_value_type(value_type);
        item
    }

    pub fn value_type(&self) -> ValueType {
        self.bits.value_type()
    }

    pub fn bits_mut(&mut self) -> &mut ItemBits {
        &mut self.bits
    }

    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.deadline.is_some_and(|deadline| deadline <= now)
    }

    /// Replaces the item's expiry, as `touch` and stores do.
    pub fn set_expiry(&mut self, expiry: Expiry, now: Timestamp) {
        self.deadline = expiry.deadline(now);
        self.sliding = sliding_timeout(expiry);
    }

    /// Records an access: sliding items live on from `now`.
    pub fn renew(&mut self, now: Timestamp) {
        if let Some(timeout) = self.sliding {
            self.deadline = Some(now.saturating_add(timeout));
        }
    }

    pub fn ttl(&self, now: Timestamp) -> Option<Duration> {
        self.deadline
            .map(|deadline| deadline.saturating_duration_since(now))
    }

    pub fn lock(&self) -> Option<LockInfo> {
        self.locked_at.map(|locked_at| LockInfo {
            cookie: self.cookie,
            locked_at,
        })
    }

    /// The view a read hands back, taken before the read's own effects on access bits.
    pub fn view(&self, now: Timestamp) -> ItemView {
        ItemView {
            value: self.value.clone(),
            flags: self.flags,
            cas: self.cas,
            ttl: self.ttl(now),
            idle: now.saturating_duration_since(self.last_access),
            fetched_before: self.bits.has(ItemBits::FETCHED),
            stale: self.bits.has(ItemBits::STALE),
            win: false,
            win_taken: self.bits.has(ItemBits::WIN_TAKEN),
            lock: self.lock(),
        }
    }
}

fn sliding_timeout(expiry: Expiry) -> Option<Duration> {
    match expiry {
        Expiry::Sliding(timeout) => Some(timeout),
        Expiry::Never | Expiry::At(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_value_type_lives_in_its_own_bits_and_zero_is_a_string() {
        let mut bits = ItemBits::from_bits(ItemBits::STALE | ItemBits::FETCHED);
        assert_eq!(bits.value_type(), ValueType::String);
        for value_type in [
            ValueType::Hash,
            ValueType::Set,
            ValueType::SortedSet,
            ValueType::String,
        ] {
            bits.set_value_type(value_type);
            assert_eq!(bits.value_type(), value_type);
            assert!(bits.has(ItemBits::STALE) && bits.has(ItemBits::FETCHED));
        }
        // Bits that older records carry never name a type.
        let old_durable = ItemBits::STALE | ItemBits::UNINITIALIZED;
        assert_eq!(old_durable & ItemBits::TYPE_MASK, 0);
        let all_old = old_durable | ItemBits::FETCHED | ItemBits::WIN_TAKEN | ItemBits::RENEWED;
        assert_eq!(all_old & ItemBits::TYPE_MASK, 0);
    }

    #[test]
    fn cookies_wrap_to_two() {
        assert_eq!(LockCookie::INITIAL.next(), LockCookie(2));
        assert_eq!(LockCookie(i32::MAX as u32).next(), LockCookie(2));
    }

    #[test]
    fn sliding_items_renew_on_access_and_absolute_ones_do_not() {
        let t0 = Timestamp::from_secs(10);
        let mut sliding = Item::new(
            Bytes::new(),
            0,
            Expiry::Sliding(Duration::from_secs(5)),
            1,
            t0,
        );
        sliding.renew(Timestamp::from_secs(12));
        assert_eq!(sliding.deadline, Some(Timestamp::from_secs(17)));

        let mut fixed = Item::new(Bytes::new(), 0, Expiry::At(Timestamp::from_secs(15)), 1, t0);
        fixed.renew(Timestamp::from_secs(12));
        assert_eq!(fixed.deadline, Some(Timestamp::from_secs(15)));
    }
}
