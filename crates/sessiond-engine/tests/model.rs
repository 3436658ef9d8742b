//! Model-based property test of the engine.
//!
//! A deliberately simple reference model (a `BTreeMap` from (namespace, key) to the item's
//! state) implements every command's documented semantics directly. Random command sequences
//! over a small key space, with a clock that jumps forward by random amounts and with sweeps
//! and flushes in between, run against both the engine and the model. Every outcome, the stats
//! after every step, and (now and then) every key's visible state must agree.
//!
//! The model cannot know some things without copying the engine's internals. Here is how the
//! harness handles them:
//! - CAS values are opaque. The model gives each write a new version. The harness binds each
//!   version to the CAS value the engine reports for it and checks that the binding is
//!   one-to-one, so an item's CAS changes exactly when the model says the item was written.
//! - Which shard a key lives in. A delayed flush is applied lazily, per shard, by the next
//!   command on that shard (or by a sweep). So after a flush comes due, the model keeps the
//!   items it removes as "flushed" ghosts: invisible, but still charged until the engine drops
//!   them. After a keyed command the harness works out from the stats which of them the engine
//!   dropped. If that is ambiguous, or a write's refusal would depend on it, the harness applies
//!   the flush everywhere first with `expire_due(now, 0)`.
//! - Which expired items a sweep reaches. The wheel files items by whole second, and a small
//!   budget stops the sweep early. The model requires that a full sweep removes every item that
//!   expired before the current second began and that no sweep removes a live item. It then
//!   learns from the stats which other expired items went, or, if that is ambiguous, removes
//!   the rest with lookups.
//! - Reads have side effects (sliding renewal, the fetched bit, lazy removal). So visible state
//!   is checked on a fork: a fresh engine rebuilt by replaying the log of calls, which must give
//!   every outcome again (CAS values included). Then every key is read on the fork.
//!
//! Items hold strings, hashes, sets or sorted sets, on the same keys, so the string commands
//! meet collections (and refuse them) and the Redis-style commands meet strings. The model
//! keeps collections as plain lists; it knows the encoded size only through the documented
//! format (a count, then length-prefixed entries), which the memory figures check.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use sessiond_engine::{
    AddCondition, Append, Arithmetic, ArithmeticOutcome, Command, Delete, DeleteMode,
    DeleteOutcome, Direction, Engine, EngineConfig, EngineError, EngineStats, Expire,
    ExpireCondition, ExpireOutcome, Expiry, ExpiryUpdate, Flush, Get, GetAndDelete, GetAndExpire,
    GetOutcome, HashDelete, HashIncrement, HashIncrementFloat, HashRead, HashReadAll, HashWrite,
    Increment, IncrementedScore, Inspect, ItemView, Key, KeyInfo, Length, LockCookie, LockInfo,
    LongDouble, NamespaceId, Outcome, Persist, ReadSession, ReadSessionOutcome, ReleaseLock,
    ReleaseLockOutcome, RemoveSession, RemoveSessionOutcome, Rename, RenameOutcome, ResetTimeout,
    ResetTimeoutOutcome, Scan, ScoreBound, SetAdd, SetContains, SetMembers, SetRemove,
    SortedSetAdd, SortedSetAdded, SortedSetIncrement, SortedSetRangeByIndex, SortedSetRangeByScore,
    SortedSetRemove, SortedSetRemoveByScore, SortedSetScores, Store, StoreMode, StoreOutcome,
    Timestamp, Touch, TouchOutcome, ValueType, Vivify, WriteCondition, WriteSession,
    WriteSessionOutcome, WriteString, WriteStringOutcome, charge,
};
use sessiond_engine::{Change, Effect, ItemState, Journal, JournalMark, SHARD_COUNT, SnapshotItem};

const NAMESPACES: [NamespaceId; 2] = [NamespaceId(0), NamespaceId(7)];
/// Different lengths, so different keys usually have different charges.
const KEYS: [&[u8]; 3] = [b"a", b"bb", b"ccc"];
/// Where the fake clock starts, in milliseconds.
const START: u64 = 1_700_000_000_000;
const DAY: u64 = 86_400_000;

/// (namespace index, key index).
type Slot = (usize, usize);

fn all_slots() -> impl Iterator<Item = Slot> {
    (0..NAMESPACES.len()).flat_map(|ns| (0..KEYS.len()).map(move |k| (ns, k)))
}

fn key(slot: Slot) -> Key<'static> {
    Key::new(NAMESPACES[slot.0], KEYS[slot.1])
}

fn slot_of(key: Key<'_>) -> Slot {
    let ns = NAMESPACES.iter().position(|&ns| ns == key.namespace);
    let k = KEYS.iter().position(|&k| k == key.name);
    (ns.expect("known namespace"), k.expect("known key"))
}

fn ts(millis: u64) -> Timestamp {
    Timestamp::from_millis(millis)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).expect("small durations")
}

// ---------------------------------------------------------------------------------------------
// The reference model.
// ---------------------------------------------------------------------------------------------

/// An item as the model sees it. Everything is in plain milliseconds.
#[derive(Clone, Debug)]
struct ModelItem {
    value: Vec<u8>,
    flags: u32,
    /// Bumped on every write; the CAS book maps versions to the engine's opaque CAS values.
    version: u64,
    deadline: Option<u64>,
    sliding: Option<u64>,
    last_access: u64,
    /// The last cookie handed out (1 for a new item).
    cookie: u32,
    locked_at: Option<u64>,
    uninitialized: bool,
    fetched: bool,
    stale: bool,
    win_taken: bool,
    /// A due delayed flush removed it; the engine may not have dropped it yet.
    flushed: bool,
    /// What the item holds; a string's bytes are `value`.
    data: Data,
}

/// An item's contents beyond a string's bytes.
#[derive(Clone, Debug, PartialEq)]
enum Data {
    String,
    /// (field, value) in insertion order.
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    /// Members in insertion order.
    Set(Vec<Vec<u8>>),
    /// (score, member) by score, then member.
    SortedSet(Vec<(f64, Vec<u8>)>),
}

impl Data {
    fn value_type(&self) -> ValueType {
        match self {
            Data::String => ValueType::String,
            Data::Hash(_) => ValueType::Hash,
            Data::Set(_) => ValueType::Set,
            Data::SortedSet(_) => ValueType::SortedSet,
        }
    }

    fn len(&self) -> usize {
        match self {
            Data::String => unreachable!("collections only"),
            Data::Hash(pairs) => pairs.len(),
            Data::Set(members) => members.len(),
            Data::SortedSet(entries) => entries.len(),
        }
    }

    /// The documented encoding: a 4-byte count, then per entry each part with a 4-byte length
    /// (a sorted set's score as 8 bytes).
    fn encoded_len(&self) -> usize {
        4 + match self {
            Data::String => unreachable!("collections only"),
            Data::Hash(pairs) => pairs.iter().map(|(f, v)| 8 + f.len() + v.len()).sum(),
            Data::Set(members) => members.iter().map(|m| 4 + m.len()).sum::<usize>(),
            Data::SortedSet(entries) => entries.iter().map(|(_, m)| 12 + m.len()).sum(),
        }
    }
}

fn deadline_of(expiry: Expiry, now: u64) -> Option<u64> {
    match expiry {
        Expiry::Never => None,
        Expiry::At(at) => Some(at.as_millis()),
        Expiry::Sliding(timeout) => Some(now + millis(timeout)),
    }
}

fn sliding_of(expiry: Expiry) -> Option<u64> {
    match expiry {
        Expiry::Sliding(timeout) => Some(millis(timeout)),
        Expiry::Never | Expiry::At(_) => None,
    }
}

fn next_cookie(cookie: u32) -> u32 {
    // Cookies go out on the wire as a signed 32-bit number: after i32::MAX comes 2.
    if cookie >= i32::MAX as u32 {
        2
    } else {
        cookie + 1
    }
}

impl ModelItem {
    fn new(value: Vec<u8>, flags: u32, expiry: Expiry, version: u64, now: u64) -> Self {
        ModelItem {
            value,
            flags,
            version,
            deadline: deadline_of(expiry, now),
            sliding: sliding_of(expiry),
            last_access: now,
            cookie: 1,
            locked_at: None,
            uninitialized: false,
            fetched: false,
            stale: false,
            win_taken: false,
            flushed: false,
            data: Data::String,
        }
    }

    fn stored_len(&self) -> usize {
        match self.data {
            Data::String => self.value.len(),
            _ => self.data.encoded_len(),
        }
    }

    fn is_string(&self) -> bool {
        self.data == Data::String
    }

    fn expired(&self, now: u64) -> bool {
        self.deadline.is_some_and(|deadline| deadline <= now)
    }

    fn set_expiry(&mut self, expiry: Expiry, now: u64) {
        self.deadline = deadline_of(expiry, now);
        self.sliding = sliding_of(expiry);
    }

    /// An access: a sliding item lives on from now.
    fn renew(&mut self, now: u64) {
        if let Some(timeout) = self.sliding {
            self.deadline = Some(now + timeout);
        }
    }

    fn ttl(&self, now: u64) -> Option<Duration> {
        self.deadline
            .map(|deadline| Duration::from_millis(deadline.saturating_sub(now)))
    }

    fn lock(&self) -> Option<LockInfo> {
        self.locked_at.map(|at| LockInfo {
            cookie: LockCookie(self.cookie),
            locked_at: ts(at),
        })
    }

    /// What a read sees, before its own effects; CAS left at 0 (see `normalize`).
    fn view(&self, now: u64) -> ItemView {
        ItemView {
            value: Bytes::from(self.value.clone()),
            flags: self.flags,
            cas: 0,
            ttl: self.ttl(now),
            idle: Duration::from_millis(now.saturating_sub(self.last_access)),
            fetched_before: self.fetched,
            stale: self.stale,
            win: false,
            win_taken: self.win_taken,
            lock: self.lock(),
        }
    }
}

/// What the model knows about the engine's CAS values: a one-to-one map with model versions.
#[derive(Debug, Default)]
struct CasBook {
    cas_of_version: HashMap<u64, u64>,
    version_of_cas: HashMap<u64, u64>,
    /// CAS values seen per slot, oldest first, for stale compare-and-swap attempts.
    by_slot: BTreeMap<Slot, Vec<u64>>,
    all: Vec<u64>,
}

impl CasBook {
    fn bind(&mut self, slot: Slot, version: u64, cas: u64) -> Result<(), TestCaseError> {
        if let Some(&known) = self.cas_of_version.get(&version) {
            prop_assert_eq!(
                known,
                cas,
                "CAS changed without a write (version {})",
                version
            );
            return Ok(());
        }
        if let Some(&other) = self.version_of_cas.get(&cas) {
            prop_assert!(
                false,
                "CAS {} reported for version {} was already version {}'s: a write kept the CAS",
                cas,
                version,
                other
            );
        }
        self.cas_of_version.insert(version, cas);
        self.version_of_cas.insert(cas, version);
        self.by_slot.entry(slot).or_default().push(cas);
        self.all.push(cas);
        Ok(())
    }

    /// Whether `cas` is the current CAS of the item at `version`.
    fn matches(&self, version: u64, cas: u64) -> bool {
        self.cas_of_version.get(&version) == Some(&cas)
    }

    /// Whether `cas` is older than the item's current version (for `invalidate` stores).
    fn older(&self, slot: Slot, version: u64, cas: u64) -> bool {
        if let Some(&current) = self.cas_of_version.get(&version) {
            return cas < current;
        }
        // The engine has not shown the current CAS yet, but it is newer than every CAS this
        // key had before (one shard's counter), never 0 and nowhere near u64::MAX.
        if cas == 0
            || self
                .by_slot
                .get(&slot)
                .is_some_and(|seen| seen.contains(&cas))
        {
            true
        } else {
            assert_eq!(cas, u64::MAX, "the generator only makes decidable picks");
            false
        }
    }
}

#[derive(Clone, Debug)]
struct Model {
    limit: u64,
    /// Items physically held, including expired ones not yet removed and flushed ghosts.
    items: BTreeMap<Slot, ModelItem>,
    /// Delayed flushes by namespace (`None`: all), with their time.
    pending_flushes: BTreeMap<Option<NamespaceId>, u64>,
    next_version: u64,
    refused: u64,
    expired: u64,
    expired_unfetched: u64,
    lock_acquired: u64,
    lock_contended: u64,
}

impl Model {
    fn new(limit: u64) -> Self {
        Model {
            limit,
            items: BTreeMap::new(),
            pending_flushes: BTreeMap::new(),
            next_version: 0,
            refused: 0,
            expired: 0,
            expired_unfetched: 0,
            lock_acquired: 0,
            lock_contended: 0,
        }
    }

    fn new_version(&mut self) -> u64 {
        self.next_version += 1;
        self.next_version
    }

    fn charge_of(slot: Slot, item: &ModelItem) -> u64 {
        charge(KEYS[slot.1].len(), item.stored_len())
    }

    /// (items, key + value bytes, charged memory) of everything physically held.
    fn totals(&self) -> (u64, u64, u64) {
        self.items
            .iter()
            .fold((0, 0, 0), |(n, b, m), (&slot, item)| {
                (
                    n + 1,
                    b + (KEYS[slot.1].len() + item.stored_len()) as u64,
                    m + Self::charge_of(slot, item),
                )
            })
    }

    /// The memory check: growth past the limit is refused (and counted), shrinking never is.
    fn fits(&mut self, old: u64, new: u64) -> bool {
        if new <= old {
            return true;
        }
        let fits = self.totals().2 - old + new <= self.limit;
        if !fits {
            self.refused += 1;
        }
        fits
    }

    /// Delayed flushes whose time has come: their items are gone, but possibly still held.
    fn flushes_come_due(&mut self, now: u64) {
        let due: Vec<Option<NamespaceId>> = self
            .pending_flushes
            .iter()
            .filter(|&(_, &at)| at <= now)
            .map(|(&namespace, _)| namespace)
            .collect();
        for namespace in due {
            self.pending_flushes.remove(&namespace);
            for (slot, item) in &mut self.items {
                if namespace.is_none_or(|ns| NAMESPACES[slot.0] == ns) {
                    item.flushed = true;
                }
            }
        }
    }

    fn drop_flushed(&mut self) {
        self.items.retain(|_, item| !item.flushed);
    }

    fn flushed_slots(&self) -> Vec<Slot> {
        let flushed = self.items.iter().filter(|(_, item)| item.flushed);
        flushed.map(|(&slot, _)| slot).collect()
    }

    fn remove_expired(&mut self, slot: Slot) {
        let item = self.items.remove(&slot).expect("present");
        self.expired += 1;
        if !item.fetched {
            self.expired_unfetched += 1;
        }
    }

    /// Finds a live item, dropping a flushed or expired one first.
    fn lookup(&mut self, slot: Slot, now: u64) -> bool {
        match self.items.get(&slot) {
            None => false,
            Some(item) if item.flushed => {
                self.items.remove(&slot);
                false
            }
            Some(item) if item.expired(now) => {
                self.remove_expired(slot);
                false
            }
            Some(_) => true,
        }
    }

    fn item(&mut self, slot: Slot) -> &mut ModelItem {
        self.items.get_mut(&slot).expect("live")
    }

    fn flush(&mut self, namespace: Option<NamespaceId>, at: Option<u64>, now: u64) {
        match at.filter(|&at| at > now) {
            Some(at) => {
                self.pending_flushes.insert(namespace, at);
            }
            None => {
                self.pending_flushes.remove(&namespace);
                self.items
                    .retain(|slot, _| namespace.is_some_and(|ns| NAMESPACES[slot.0] != ns));
            }
        }
    }

    /// Applies a keyed command. Returns its outcome with any CAS zeroed, and the model version
    /// that CAS must stand for.
    fn apply(&mut self, command: &Command<'_>, now: u64, book: &CasBook) -> (Outcome, Option<u64>) {
        match command {
            Command::Store(c) => {
                let (outcome, version) = self.store(c, now, book);
                (Outcome::Store(outcome), version)
            }
            Command::Get(c) => {
                let (outcome, version) = self.get(c, now);
                (Outcome::Get(outcome), version)
            }
            Command::Delete(c) => (Outcome::Delete(self.delete(c, now, book)), None),
            Command::Touch(c) => (Outcome::Touch(self.touch(c, now)), None),
            Command::Arithmetic(c) => {
                let (outcome, version) = self.arithmetic(c, now, book);
                (Outcome::Arithmetic(outcome), version)
            }
            Command::ReadSession(c) => (Outcome::ReadSession(self.read_session(c, now)), None),
            Command::ReleaseLock(c) => (Outcome::ReleaseLock(self.release_lock(c, now)), None),
            Command::WriteSession(c) => {
                let (outcome, version) = self.write_session(c, now);
                (Outcome::WriteSession(outcome), version)
            }
            Command::RemoveSession(c) => {
                (Outcome::RemoveSession(self.remove_session(c, now)), None)
            }
            Command::ResetTimeout(c) => (Outcome::ResetTimeout(self.reset_timeout(c, now)), None),
            other => (self.apply_typed(other, now), None),
        }
    }

    fn store(
        &mut self,
        c: &Store<'_>,
        now: u64,
        book: &CasBook,
    ) -> (Result<StoreOutcome, EngineError>, Option<u64>) {
        let slot = slot_of(c.key);
        let stored = Ok(StoreOutcome::Stored { cas: 0 });
        let live = self.lookup(slot, now);
        if live && !self.items[&slot].is_string() {
            return (Err(EngineError::WrongType), None);
        }
        // Compare-and-swap is checked first: a missing item is NotFound whatever the mode.
        let mut stale = false;
        if let Some(expected) = c.cas {
            if !live {
                return (Ok(StoreOutcome::NotFound), None);
            }
            let version = self.items[&slot].version;
            if !book.matches(version, expected) {
                if c.invalidate && book.older(slot, version, expected) {
                    stale = true;
                } else {
                    return (Ok(StoreOutcome::Exists), None);
                }
            }
        }
        if !live {
            let expiry = match (c.mode, c.vivify) {
                (StoreMode::Set | StoreMode::Add, _) => c.expiry,
                (StoreMode::Append | StoreMode::Prepend, Some(vivify)) => vivify,
                _ => return (Ok(StoreOutcome::NotStored), None),
            };
            let version = self.new_version();
            if deadline_of(expiry, now).is_some_and(|deadline| deadline <= now) {
                // Stored, and already expired: nothing is kept.
                return (stored, Some(version));
            }
            let item = ModelItem::new(c.value.to_vec(), c.flags, expiry, version, now);
            if !self.fits(0, Self::charge_of(slot, &item)) {
                return (Err(EngineError::OutOfMemory), None);
            }
            self.items.insert(slot, item);
            return (stored, Some(version));
        }
        let old_charge = Self::charge_of(slot, &self.items[&slot]);
        match c.mode {
            StoreMode::Add => {
                // A failed add is an access.
                self.item(slot).renew(now);
                (Ok(StoreOutcome::NotStored), None)
            }
            StoreMode::Append | StoreMode::Prepend => {
                let old = &self.items[&slot].value;
                let value = if c.mode == StoreMode::Append {
                    [old.as_slice(), c.value].concat()
                } else {
                    [c.value, old.as_slice()].concat()
                };
                if !self.fits(old_charge, charge(KEYS[slot.1].len(), value.len())) {
                    return (Err(EngineError::OutOfMemory), None);
                }
                let version = self.new_version();
                let item = self.item(slot);
                // Flags, expiry and lock stay; the value and version change.
                item.value = value;
                item.version = version;
                item.renew(now);
                item.stale = stale;
                (stored, Some(version))
            }
            StoreMode::Set | StoreMode::Replace => {
                let version = self.new_version();
                if deadline_of(c.expiry, now).is_some_and(|deadline| deadline <= now) {
                    self.items.remove(&slot);
                    return (stored, Some(version));
                }
                if !self.fits(old_charge, charge(KEYS[slot.1].len(), c.value.len())) {
                    return (Err(EngineError::OutOfMemory), None);
                }
                // A new item, unlocked, that keeps the old cookie counter going.
                let old = &self.items[&slot];
                let (cookie, deadline, sliding, win_taken) =
                    (old.cookie, old.deadline, old.sliding, old.win_taken);
                let mut item = ModelItem::new(c.value.to_vec(), c.flags, c.expiry, version, now);
                item.cookie = cookie;
                if stale {
                    // An outdated-version store keeps the expiry and the win token's holder.
                    item.stale = true;
                    item.deadline = deadline;
                    item.sliding = sliding;
                    item.win_taken = win_taken;
                }
                self.items.insert(slot, item);
                (stored, Some(version))
            }
        }
    }

    fn get(&mut self, c: &Get<'_>, now: u64) -> (Result<GetOutcome, EngineError>, Option<u64>) {
        let slot = slot_of(c.key);
        if !self.lookup(slot, now) {
            let Some(expiry) = c.vivify else {
                return (Ok(GetOutcome::Miss), None);
            };
            // An empty placeholder; this caller gets the win token.
            let version = self.new_version();
            let mut item = ModelItem::new(Vec::new(), 0, expiry, version, now);
            item.win_taken = true;
            item.fetched = c.bump;
            let mut view = item.view(now);
            view.win = true;
            // Already expired: nothing is kept.
            if !item.expired(now) {
                if !self.fits(0, Self::charge_of(slot, &item)) {
                    return (Err(EngineError::OutOfMemory), None);
                }
                self.items.insert(slot, item);
            }
            return (Ok(GetOutcome::Hit(view)), Some(version));
        }
        if !self.items[&slot].is_string() {
            return (Err(EngineError::WrongType), None);
        }
        let item = self.item(slot);
        let mut view = item.view(now);
        item.renew(now);
        if let Some(expiry) = c.touch {
            item.set_expiry(expiry, now);
        }
        view.ttl = item.ttl(now);
        let recache = c
            .recache_below
            .is_some_and(|below| view.ttl.is_some_and(|ttl| ttl < below));
        if (item.stale || recache) && !item.win_taken {
            item.win_taken = true;
            view.win = true;
        }
        if c.bump {
            item.fetched = true;
            item.last_access = now;
        }
        (Ok(GetOutcome::Hit(view)), Some(item.version))
    }

    fn delete(
        &mut self,
        c: &Delete<'_>,
        now: u64,
        book: &CasBook,
    ) -> Result<DeleteOutcome, EngineError> {
        let slot = slot_of(c.key);
        if !self.lookup(slot, now) {
            return Ok(DeleteOutcome::NotFound);
        }
        // A plain removal takes any type; the meta modes edit strings only.
        if c.mode != DeleteMode::Remove && !self.items[&slot].is_string() {
            return Err(EngineError::WrongType);
        }
        if c.cas
            .is_some_and(|cas| !book.matches(self.items[&slot].version, cas))
        {
            return Ok(DeleteOutcome::Exists);
        }
        match c.mode {
            DeleteMode::Remove => {
                self.items.remove(&slot);
            }
            DeleteMode::Invalidate { expiry } => {
                let version = self.new_version();
                let item = self.item(slot);
                item.version = version;
                item.stale = true;
                item.win_taken = false;
                if let Some(expiry) = expiry {
                    item.set_expiry(expiry, now);
                }
                if item.expired(now) {
                    self.items.remove(&slot);
                }
            }
            DeleteMode::ClearValue => {
                let version = self.new_version();
                let item = self.item(slot);
                item.version = version;
                item.value.clear();
                item.flags = 0;
            }
        }
        Ok(DeleteOutcome::Deleted)
    }

    fn touch(&mut self, c: &Touch<'_>, now: u64) -> Result<TouchOutcome, EngineError> {
        let slot = slot_of(c.key);
        if !self.lookup(slot, now) {
            return Ok(TouchOutcome::NotFound);
        }
        if !self.items[&slot].is_string() {
            return Err(EngineError::WrongType);
        }
        let item = self.item(slot);
        item.set_expiry(c.expiry, now);
        item.last_access = now;
        // The version is opaque to the model: `normalize` clears the engine's.
        let touched = TouchOutcome::Touched {
            flags: item.flags,
            cas: 0,
        };
        if item.expired(now) {
            // A touch into the past ends the item now.
            self.items.remove(&slot);
        }
        Ok(touched)
    }

    fn arithmetic(
        &mut self,
        c: &Arithmetic<'_>,
        now: u64,
        book: &CasBook,
    ) -> (Result<ArithmeticOutcome, EngineError>, Option<u64>) {
        let slot = slot_of(c.key);
        if !self.lookup(slot, now) {
            let Some(vivify) = c.vivify else {
                return (Ok(ArithmeticOutcome::NotFound), None);
            };
            let version = self.new_version();
            let value = vivify.initial.to_string().into_bytes();
            let item = ModelItem::new(value, 0, vivify.expiry, version, now);
            let ttl = item.ttl(now);
            if !item.expired(now) {
                if !self.fits(0, Self::charge_of(slot, &item)) {
                    return (Err(EngineError::OutOfMemory), None);
                }
                self.items.insert(slot, item);
            }
            let created = ArithmeticOutcome::Created {
                value: vivify.initial,
                cas: 0,
                ttl,
            };
            return (Ok(created), Some(version));
        }
        let item = &self.items[&slot];
        if !item.is_string() {
            return (Err(EngineError::WrongType), None);
        }
        if c.cas.is_some_and(|cas| !book.matches(item.version, cas)) {
            return (Ok(ArithmeticOutcome::Exists), None);
        }
        // C's strtoull with memcached's checks: optional leading whitespace and sign, digits
        // ending at whitespace or the end, no negative number but -0.
        let text = String::from_utf8_lossy(&item.value);
        let c_space = |c: char| " \t\n\x0b\x0c\r".contains(c);
        let token = text.trim_start_matches(c_space).split(c_space).next();
        let (negative, digits) = match token {
            Some(t) if t.starts_with('-') => (true, &t[1..]),
            Some(t) => (false, t.strip_prefix('+').unwrap_or(t)),
            None => (false, ""),
        };
        let current = match digits.parse::<u64>() {
            Ok(n) if digits.bytes().all(|b| b.is_ascii_digit()) && (!negative || n == 0) => n,
            _ => return (Ok(ArithmeticOutcome::NonNumeric), None),
        };
        let value = match c.direction {
            Direction::Increment => current.wrapping_add(c.delta),
            Direction::Decrement => current.saturating_sub(c.delta),
        };
        // A shorter result keeps the old length, padded with spaces, as memcached does.
        let mut text = value.to_string();
        while text.len() < item.value.len() {
            text.push(' ');
        }
        let old_charge = Self::charge_of(slot, item);
        if !self.fits(old_charge, charge(KEYS[slot.1].len(), text.len())) {
            return (Err(EngineError::OutOfMemory), None);
        }
        let version = self.new_version();
        let item = self.item(slot);
        item.value = text.into_bytes();
        item.version = version;
        item.renew(now);
        if let Some(expiry) = c.touch {
            item.set_expiry(expiry, now);
        }
        let ttl = item.ttl(now);
        let updated = ArithmeticOutcome::Updated { value, cas: 0, ttl };
        (Ok(updated), Some(version))
    }

    fn read_session(
        &mut self,
        c: &ReadSession<'_>,
        now: u64,
    ) -> Result<ReadSessionOutcome, EngineError> {
        let slot = slot_of(c.key);
        if !self.lookup(slot, now) {
            return Ok(ReadSessionOutcome::NotFound);
        }
        if !self.items[&slot].is_string() {
            return Err(EngineError::WrongType);
        }
        let item = self.item(slot);
        let initialize = std::mem::take(&mut item.uninitialized);
        item.renew(now);
        item.last_access = now;
        item.fetched = true;
        if let Some(lock) = item.lock() {
            self.lock_contended += 1;
            return Ok(ReadSessionOutcome::Locked { lock, initialize });
        }
        let mut cookie = None;
        if c.exclusive {
            item.cookie = next_cookie(item.cookie);
            item.locked_at = Some(now);
            cookie = Some(LockCookie(item.cookie));
        }
        let found = ReadSessionOutcome::Found {
            value: Bytes::from(item.value.clone()),
            timeout: item.sliding.map(Duration::from_millis),
            cookie,
            initialize,
        };
        if c.exclusive {
            self.lock_acquired += 1;
        }
        Ok(found)
    }

    fn release_lock(
        &mut self,
        c: &ReleaseLock<'_>,
        now: u64,
    ) -> Result<ReleaseLockOutcome, EngineError> {
        let slot = slot_of(c.key);
        if !self.lookup(slot, now) {
            return Ok(ReleaseLockOutcome::NotFound);
        }
        if !self.items[&slot].is_string() {
            return Err(EngineError::WrongType);
        }
        let item = self.item(slot);
        let initialize = std::mem::take(&mut item.uninitialized);
        item.renew(now);
        Ok(match item.lock() {
            None => ReleaseLockOutcome::NotLocked { initialize },
            Some(lock) if lock.cookie == c.cookie => {
                item.locked_at = None;
                ReleaseLockOutcome::Released { initialize }
            }
            Some(lock) => ReleaseLockOutcome::Locked { lock, initialize },
        })
    }

    fn write_session(
        &mut self,
        c: &WriteSession<'_>,
        now: u64,
    ) -> (Result<WriteSessionOutcome, EngineError>, Option<u64>) {
        let slot = slot_of(c.key);
        let expiry = c.timeout.map_or(Expiry::Never, Expiry::Sliding);
        if !self.lookup(slot, now) {
            let version = self.new_version();
            let mut item = ModelItem::new(c.value.to_vec(), 0, expiry, version, now);
            item.uninitialized = c.uninitialized;
            if !self.fits(0, Self::charge_of(slot, &item)) {
                return (Err(EngineError::OutOfMemory), None);
            }
            self.items.insert(slot, item);
            return (Ok(WriteSessionOutcome::Stored), Some(version));
        }
        if !self.items[&slot].is_string() {
            return (Err(EngineError::WrongType), None);
        }
        let item = self.item(slot);
        if c.uninitialized {
            // Never replaces a live session.
            item.renew(now);
            return (Ok(WriteSessionOutcome::Unchanged), None);
        }
        if let Some(lock) = item.lock()
            && c.cookie != Some(lock.cookie)
        {
            item.renew(now);
            return (Ok(WriteSessionOutcome::Locked { lock }), None);
        }
        let old_charge = Self::charge_of(slot, &self.items[&slot]);
        if !self.fits(old_charge, charge(KEYS[slot.1].len(), c.value.len())) {
            return (Err(EngineError::OutOfMemory), None);
        }
        let version = self.new_version();
        let item = self.item(slot);
        item.value = c.value.to_vec();
        item.version = version;
        item.locked_at = None;
        item.uninitialized = false;
        item.set_expiry(expiry, now);
        item.last_access = now;
        (Ok(WriteSessionOutcome::Stored), Some(version))
    }

    fn remove_session(
        &mut self,
        c: &RemoveSession<'_>,
        now: u64,
    ) -> Result<RemoveSessionOutcome, EngineError> {
        let slot = slot_of(c.key);
        if !self.lookup(slot, now) {
            return Ok(RemoveSessionOutcome::NotFound);
        }
        if !self.items[&slot].is_string() {
            return Err(EngineError::WrongType);
        }
        let item = self.item(slot);
        if let Some(lock) = item.lock()
            && c.cookie != Some(lock.cookie)
        {
            item.renew(now);
            return Ok(RemoveSessionOutcome::Locked { lock });
        }
        self.items.remove(&slot);
        Ok(RemoveSessionOutcome::Removed)
    }

    fn reset_timeout(&mut self, c: &ResetTimeout<'_>, now: u64) -> ResetTimeoutOutcome {
        let slot = slot_of(c.key);
        // A collection is no session: not found.
        if !self.lookup(slot, now) || !self.items[&slot].is_string() {
            return ResetTimeoutOutcome::NotFound;
        }
        self.item(slot).renew(now);
        ResetTimeoutOutcome::Renewed
    }
}

/// Redis's `string2ll`, written out again: `0`, or an optional `-` and digits without a
/// leading zero, in range.
fn redis_integer(text: &[u8]) -> Option<i64> {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    let well_formed = text == b"0"
        || (!digits.is_empty() && digits[0] != b'0' && digits.iter().all(u8::is_ascii_digit));
    if !well_formed {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

fn in_range(min: ScoreBound, max: ScoreBound, score: f64) -> bool {
    let above = match min {
        ScoreBound::Inclusive(min) => score >= min,
        ScoreBound::Exclusive(min) => score > min,
    };
    let below = match max {
        ScoreBound::Inclusive(max) => score <= max,
        ScoreBound::Exclusive(max) => score < max,
    };
    above && below
}

fn zset_insert(entries: &mut Vec<(f64, Vec<u8>)>, score: f64, member: &[u8]) {
    entries.retain(|(_, m)| m != member);
    // -0 is stored as 0.
    let score = if score == 0.0 { 0.0 } else { score };
    let position = entries
        .iter()
        .position(|(s, m)| (*s, m.as_slice()) > (score, member))
        .unwrap_or(entries.len());
    entries.insert(position, (score, member.to_vec()));
}

fn pairs_out(pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<(Bytes, Bytes)> {
    pairs
        .iter()
        .map(|(f, v)| (Bytes::from(f.clone()), Bytes::from(v.clone())))
        .collect()
}

fn scored_out<'a>(entries: impl Iterator<Item = &'a (f64, Vec<u8>)>) -> Vec<(Bytes, f64)> {
    entries.map(|(s, m)| (Bytes::from(m.clone()), *s)).collect()
}

/// The Redis-style commands and the value types.
impl Model {
    fn apply_typed(&mut self, command: &Command<'_>, now: u64) -> Outcome {
        match command {
            Command::WriteString(c) => Outcome::WriteString(self.write_string(c, now)),
            Command::GetAndDelete(c) => Outcome::GetAndDelete(self.get_and_delete(c, now)),
            Command::GetAndExpire(c) => Outcome::GetAndExpire(self.get_and_expire(c, now)),
            Command::Increment(c) => Outcome::Increment(self.increment(c, now)),
            Command::Append(c) => Outcome::Append(self.append(c, now)),
            Command::Expire(c) => Outcome::Expire(Ok(self.expire(c, now))),
            Command::Persist(c) => Outcome::Persist(Ok(self.persist(c, now))),
            Command::Inspect(c) => Outcome::Inspect(self.inspect(c.key, now)),
            Command::Length(c) => Outcome::Length(self.length(c, now)),
            Command::Rename(c) => Outcome::Rename(self.rename(c, now)),
            Command::HashWrite(c) => Outcome::HashWrite(self.hash_write(c, now)),
            Command::HashRead(c) => Outcome::HashRead(self.hash_read(c, now)),
            Command::HashReadAll(c) => Outcome::HashReadAll(
                self.typed(c.key, ValueType::Hash, now)
                    .map(|data| match data {
                        Some(Data::Hash(pairs)) => pairs_out(&pairs),
                        _ => Vec::new(),
                    }),
            ),
            Command::HashDelete(c) => Outcome::HashDelete(self.hash_delete(c, now)),
            Command::HashIncrement(c) => Outcome::HashIncrement(self.hash_increment(c, now)),
            Command::HashIncrementFloat(c) => {
                Outcome::HashIncrementFloat(self.hash_increment_float(c, now))
            }
            Command::SetAdd(c) => Outcome::SetAdd(self.set_edit(c.key, c.members, true, now)),
            Command::SetRemove(c) => {
                Outcome::SetRemove(self.set_edit(c.key, c.members, false, now))
            }
            Command::SetMembers(c) => Outcome::SetMembers(
                self.typed(c.key, ValueType::Set, now)
                    .map(|data| match data {
                        Some(Data::Set(members)) => members.into_iter().map(Bytes::from).collect(),
                        _ => Vec::new(),
                    }),
            ),
            Command::SetContains(c) => {
                Outcome::SetContains(self.typed(c.key, ValueType::Set, now).map(|data| {
                    let members = match data {
                        Some(Data::Set(members)) => members,
                        _ => Vec::new(),
                    };
                    c.members
                        .iter()
                        .map(|m| members.iter().any(|x| x == m))
                        .collect()
                }))
            }
            Command::SortedSetAdd(c) => Outcome::SortedSetAdd(self.sorted_set_add(c, now)),
            Command::SortedSetIncrement(c) => {
                Outcome::SortedSetIncrement(self.sorted_set_increment(c, now))
            }
            Command::SortedSetRemove(c) => {
                Outcome::SortedSetRemove(
                    self.sorted_set_remove(c.key, now, |_, member| c.members.contains(&member)),
                )
            }
            Command::SortedSetRemoveByScore(c) => Outcome::SortedSetRemoveByScore(
                self.sorted_set_remove(c.key, now, |score, _| in_range(c.min, c.max, score)),
            ),
            Command::SortedSetScores(c) => {
                Outcome::SortedSetScores(self.zset(c.key, now).map(|entries| {
                    let score = |m: &&[u8]| entries.iter().find(|(_, x)| x == m).map(|e| e.0);
                    c.members.iter().map(score).collect()
                }))
            }
            Command::SortedSetRangeByScore(c) => {
                Outcome::SortedSetRangeByScore(self.zset(c.key, now).map(|entries| {
                    let mut hits: Vec<_> = entries
                        .iter()
                        .filter(|(s, _)| in_range(c.min, c.max, *s))
                        .collect();
                    if c.reverse {
                        hits.reverse();
                    }
                    let count = c.count.unwrap_or(usize::MAX);
                    scored_out(hits.into_iter().skip(c.offset).take(count))
                }))
            }
            Command::SortedSetRangeByIndex(c) => {
                Outcome::SortedSetRangeByIndex(self.zset(c.key, now).map(|mut entries| {
                    if c.reverse {
                        entries.reverse();
                    }
                    let len = entries.len() as i64;
                    let from_end = |i: i64| if i < 0 { len + i } else { i };
                    let start = from_end(c.start).max(0);
                    let stop = from_end(c.stop).min(len - 1);
                    if start > stop {
                        return Vec::new();
                    }
                    scored_out(entries[start as usize..=stop as usize].iter())
                }))
            }
            other => unreachable!("not keyed: {other:?}"),
        }
    }

    /// A live item's contents if it holds `value_type`; WrongType if it holds another.
    fn typed(
        &mut self,
        key: Key<'_>,
        value_type: ValueType,
        now: u64,
    ) -> Result<Option<Data>, EngineError> {
        let slot = slot_of(key);
        if !self.lookup(slot, now) {
            return Ok(None);
        }
        let item = &self.items[&slot];
        if item.data.value_type() != value_type {
            return Err(EngineError::WrongType);
        }
        Ok(Some(item.data.clone()))
    }

    fn zset(&mut self, key: Key<'_>, now: u64) -> Result<Vec<(f64, Vec<u8>)>, EngineError> {
        Ok(match self.typed(key, ValueType::SortedSet, now)? {
            Some(Data::SortedSet(entries)) => entries,
            _ => Vec::new(),
        })
    }

    /// Stores a changed collection: replaces the item's contents (a new version, its expiry
    /// kept, renewed if sliding), creates an item with no expiry, or removes an empty one.
    fn put(&mut self, slot: Slot, found: bool, data: Data, now: u64) -> Result<(), EngineError> {
        if data.len() == 0 {
            if found {
                self.items.remove(&slot);
            }
            return Ok(());
        }
        let new = charge(KEYS[slot.1].len(), data.encoded_len());
        if found {
            let old = Self::charge_of(slot, &self.items[&slot]);
            if !self.fits(old, new) {
                return Err(EngineError::OutOfMemory);
            }
            let version = self.new_version();
            let item = self.item(slot);
            item.value.clear();
            item.data = data;
            item.version = version;
            item.renew(now);
        } else {
            let version = self.new_version();
            let mut item = ModelItem::new(Vec::new(), 0, Expiry::Never, version, now);
            item.data = data;
            if !self.fits(0, new) {
                return Err(EngineError::OutOfMemory);
            }
            self.items.insert(slot, item);
        }
        Ok(())
    }

    /// Writes a string item: replaces one (keeping its cookie counter) or creates one.
    fn put_string(
        &mut self,
        slot: Slot,
        found: bool,
        value: Vec<u8>,
        now: u64,
    ) -> Result<(), EngineError> {
        let new = charge(KEYS[slot.1].len(), value.len());
        if found {
            let old = Self::charge_of(slot, &self.items[&slot]);
            if !self.fits(old, new) {
                return Err(EngineError::OutOfMemory);
            }
            let version = self.new_version();
            let item = self.item(slot);
            item.value = value;
            item.version = version;
            item.renew(now);
        } else {
            let version = self.new_version();
            let item = ModelItem::new(value, 0, Expiry::Never, version, now);
            if !self.fits(0, new) {
                return Err(EngineError::OutOfMemory);
            }
            self.items.insert(slot, item);
        }
        Ok(())
    }

    fn write_string(
        &mut self,
        c: &WriteString<'_>,
        now: u64,
    ) -> Result<WriteStringOutcome, EngineError> {
        let slot = slot_of(c.key);
        let live = self.lookup(slot, now);
        let mut previous = None;
        if live && c.previous {
            let item = &self.items[&slot];
            if !item.is_string() {
                return Err(EngineError::WrongType);
            }
            previous = Some(Bytes::from(item.value.clone()));
        }
        let blocked = match c.condition {
            WriteCondition::Always => false,
            WriteCondition::IfAbsent => live,
            WriteCondition::IfPresent => !live,
        };
        if blocked {
            return Ok(WriteStringOutcome::NotWritten { previous });
        }
        let (deadline, sliding) = match c.expiry {
            ExpiryUpdate::Set(expiry) => (deadline_of(expiry, now), sliding_of(expiry)),
            ExpiryUpdate::Keep if live => {
                let item = &self.items[&slot];
                (item.deadline, item.sliding)
            }
            ExpiryUpdate::Keep => (None, None),
        };
        if deadline.is_some_and(|deadline| deadline <= now) {
            self.items.remove(&slot);
            return Ok(WriteStringOutcome::Written { previous });
        }
        let new = charge(KEYS[slot.1].len(), c.value.len());
        let old = if live {
            Self::charge_of(slot, &self.items[&slot])
        } else {
            0
        };
        if !self.fits(old, new) {
            return Err(EngineError::OutOfMemory);
        }
        let version = self.new_version();
        let mut item = ModelItem::new(c.value.to_vec(), 0, Expiry::Never, version, now);
        item.deadline = deadline;
        item.sliding = sliding;
        if live {
            item.cookie = self.items[&slot].cookie;
        }
        self.items.insert(slot, item);
        Ok(WriteStringOutcome::Written { previous })
    }

    fn get_and_delete(
        &mut self,
        c: &GetAndDelete<'_>,
        now: u64,
    ) -> Result<Option<Bytes>, EngineError> {
        let slot = slot_of(c.key);
        if self.typed(c.key, ValueType::String, now)?.is_none() {
            return Ok(None);
        }
        let item = self.items.remove(&slot).expect("live");
        Ok(Some(Bytes::from(item.value)))
    }

    fn get_and_expire(
        &mut self,
        c: &GetAndExpire<'_>,
        now: u64,
    ) -> Result<Option<Bytes>, EngineError> {
        let slot = slot_of(c.key);
        if self.typed(c.key, ValueType::String, now)?.is_none() {
            return Ok(None);
        }
        let item = self.item(slot);
        let value = Bytes::from(item.value.clone());
        item.renew(now);
        item.last_access = now;
        item.fetched = true;
        if let ExpiryUpdate::Set(expiry) = c.expiry {
            item.set_expiry(expiry, now);
        }
        if item.expired(now) {
            self.items.remove(&slot);
        }
        Ok(Some(value))
    }

    fn increment(&mut self, c: &Increment<'_>, now: u64) -> Result<i64, EngineError> {
        let slot = slot_of(c.key);
        let found = self.typed(c.key, ValueType::String, now)?.is_some();
        let current = if found {
            redis_integer(&self.items[&slot].value).ok_or(EngineError::NotAnInteger)?
        } else {
            0
        };
        let value = current.checked_add(c.delta).ok_or(EngineError::Overflow)?;
        self.put_string(slot, found, value.to_string().into_bytes(), now)?;
        Ok(value)
    }

    fn append(&mut self, c: &Append<'_>, now: u64) -> Result<u64, EngineError> {
        let slot = slot_of(c.key);
        let found = self.typed(c.key, ValueType::String, now)?.is_some();
        let mut value = if found {
            self.items[&slot].value.clone()
        } else {
            Vec::new()
        };
        value.extend_from_slice(c.value);
        let len = value.len() as u64;
        self.put_string(slot, found, value, now)?;
        Ok(len)
    }

    fn expire(&mut self, c: &Expire<'_>, now: u64) -> ExpireOutcome {
        let slot = slot_of(c.key);
        if !self.lookup(slot, now) {
            return ExpireOutcome::NotFound;
        }
        let at = c.at.as_millis();
        let current = self.items[&slot].deadline;
        // No expiry counts as later than any deadline.
        let applies = match c.condition {
            ExpireCondition::Always => true,
            ExpireCondition::IfNone => current.is_none(),
            ExpireCondition::IfSome => current.is_some(),
            ExpireCondition::IfLater => current.is_some_and(|current| at > current),
            ExpireCondition::IfEarlier => current.is_none_or(|current| at < current),
            ExpireCondition::IfSomeEarlier => current.is_some_and(|current| at < current),
        };
        if !applies {
            return ExpireOutcome::NotSet;
        }
        if at <= now {
            self.items.remove(&slot);
            return ExpireOutcome::Removed;
        }
        self.item(slot).set_expiry(Expiry::At(c.at), now);
        ExpireOutcome::Set
    }

    fn persist(&mut self, c: &Persist<'_>, now: u64) -> bool {
        let slot = slot_of(c.key);
        if !self.lookup(slot, now) || self.items[&slot].deadline.is_none() {
            return false;
        }
        self.item(slot).set_expiry(Expiry::Never, now);
        true
    }

    fn inspect(&mut self, key: Key<'_>, now: u64) -> Option<KeyInfo> {
        let slot = slot_of(key);
        if !self.lookup(slot, now) {
            return None;
        }
        let item = &self.items[&slot];
        Some(KeyInfo {
            value_type: item.data.value_type(),
            ttl: item.ttl(now),
        })
    }

    fn length(&mut self, c: &Length<'_>, now: u64) -> Result<u64, EngineError> {
        let slot = slot_of(c.key);
        Ok(match self.typed(c.key, c.value_type, now)? {
            None => 0,
            Some(Data::String) => self.items[&slot].value.len() as u64,
            Some(data) => data.len() as u64,
        })
    }

    fn rename(&mut self, c: &Rename<'_>, now: u64) -> Result<RenameOutcome, EngineError> {
        let (from, to) = (slot_of(c.from), slot_of(c.to));
        if !self.lookup(from, now) {
            return Ok(RenameOutcome::NotFound);
        }
        if from == to {
            return Ok(if c.only_if_absent {
                RenameOutcome::TargetExists
            } else {
                RenameOutcome::Renamed
            });
        }
        let target = self.lookup(to, now);
        if target && c.only_if_absent {
            return Ok(RenameOutcome::TargetExists);
        }
        let len = self.items[&from].stored_len();
        let mut old = charge(KEYS[from.1].len(), len);
        if target {
            old += Self::charge_of(to, &self.items[&to]);
        }
        if !self.fits(old, charge(KEYS[to.1].len(), len)) {
            return Err(EngineError::OutOfMemory);
        }
        let mut item = self.items.remove(&from).expect("live");
        item.version = self.new_version();
        self.items.insert(to, item);
        Ok(RenameOutcome::Renamed)
    }

    fn hash_write(&mut self, c: &HashWrite<'_>, now: u64) -> Result<u64, EngineError> {
        let slot = slot_of(c.key);
        let found = self.typed(c.key, ValueType::Hash, now)?;
        let mut pairs = match &found {
            Some(Data::Hash(pairs)) => pairs.clone(),
            _ => Vec::new(),
        };
        let (mut added, mut changed) = (0, false);
        for &(field, value) in c.fields {
            match pairs.iter_mut().find(|(f, _)| f == field) {
                Some(_) if c.only_if_absent => {}
                Some((_, old)) => {
                    *old = value.to_vec();
                    changed = true;
                }
                None => {
                    pairs.push((field.to_vec(), value.to_vec()));
                    added += 1;
                    changed = true;
                }
            }
        }
        if changed {
            self.put(slot, found.is_some(), Data::Hash(pairs), now)?;
        }
        Ok(added)
    }

    fn hash_read(&mut self, c: &HashRead<'_>, now: u64) -> Result<Vec<Option<Bytes>>, EngineError> {
        let pairs = match self.typed(c.key, ValueType::Hash, now)? {
            Some(Data::Hash(pairs)) => pairs,
            _ => Vec::new(),
        };
        let read = |field: &&[u8]| {
            let pair = pairs.iter().find(|(f, _)| f == field);
            pair.map(|(_, v)| Bytes::from(v.clone()))
        };
        Ok(c.fields.iter().map(read).collect())
    }

    fn hash_delete(&mut self, c: &HashDelete<'_>, now: u64) -> Result<u64, EngineError> {
        let slot = slot_of(c.key);
        let Some(Data::Hash(mut pairs)) = self.typed(c.key, ValueType::Hash, now)? else {
            return Ok(0);
        };
        let before = pairs.len();
        pairs.retain(|(f, _)| !c.fields.contains(&f.as_slice()));
        let deleted = (before - pairs.len()) as u64;
        if deleted > 0 {
            self.put(slot, true, Data::Hash(pairs), now)?;
        }
        Ok(deleted)
    }

    fn hash_increment(&mut self, c: &HashIncrement<'_>, now: u64) -> Result<i64, EngineError> {
        let mut value = 0;
        self.update_field(c.key, c.field, now, |old| {
            let current = match old {
                Some(text) => redis_integer(text).ok_or(EngineError::NotAnInteger)?,
                None => 0,
            };
            value = current.checked_add(c.delta).ok_or(EngineError::Overflow)?;
            Ok(value.to_string().into_bytes())
        })?;
        Ok(value)
    }

    fn hash_increment_float(
        &mut self,
        c: &HashIncrementFloat<'_>,
        now: u64,
    ) -> Result<Bytes, EngineError> {
        if !c.delta.is_finite() {
            return Err(EngineError::NotANumber);
        }
        let text = self.update_field(c.key, c.field, now, |old| {
            let current = match old {
                Some(text) => LongDouble::parse(text).ok_or(EngineError::NotAFloat)?,
                None => LongDouble::ZERO,
            };
            let sum = current
                .checked_add(c.delta)
                .and_then(LongDouble::human_text);
            Ok(sum.ok_or(EngineError::NotANumber)?.into_bytes())
        })?;
        Ok(Bytes::from(text))
    }

    /// Sets a hash field to what `update` makes of its old value, creating the hash as
    /// needed; the new value.
    fn update_field(
        &mut self,
        key: Key<'_>,
        field: &[u8],
        now: u64,
        update: impl FnOnce(Option<&[u8]>) -> Result<Vec<u8>, EngineError>,
    ) -> Result<Vec<u8>, EngineError> {
        let slot = slot_of(key);
        let found = self.typed(key, ValueType::Hash, now)?;
        let mut pairs = match &found {
            Some(Data::Hash(pairs)) => pairs.clone(),
            _ => Vec::new(),
        };
        let old = pairs
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, v)| v.as_slice());
        let text = update(old)?;
        match pairs.iter_mut().find(|(f, _)| f == field) {
            Some((_, old)) => *old = text.clone(),
            None => pairs.push((field.to_vec(), text.clone())),
        }
        self.put(slot, found.is_some(), Data::Hash(pairs), now)?;
        Ok(text)
    }

    fn set_edit(
        &mut self,
        key: Key<'_>,
        members: &[&[u8]],
        add: bool,
        now: u64,
    ) -> Result<u64, EngineError> {
        let slot = slot_of(key);
        let found = self.typed(key, ValueType::Set, now)?;
        if found.is_none() && !add {
            return Ok(0);
        }
        let mut set = match &found {
            Some(Data::Set(set)) => set.clone(),
            _ => Vec::new(),
        };
        let mut count = 0;
        for &member in members {
            let position = set.iter().position(|m| m == member);
            match (add, position) {
                (true, None) => set.push(member.to_vec()),
                (false, Some(position)) => {
                    set.remove(position);
                }
                _ => continue,
            }
            count += 1;
        }
        if count > 0 {
            self.put(slot, found.is_some(), Data::Set(set), now)?;
        }
        Ok(count)
    }

    fn sorted_set_add(
        &mut self,
        c: &SortedSetAdd<'_>,
        now: u64,
    ) -> Result<SortedSetAdded, EngineError> {
        if c.members.iter().any(|(score, _)| score.is_nan()) {
            return Err(EngineError::NotANumber);
        }
        let slot = slot_of(c.key);
        let found = self.typed(c.key, ValueType::SortedSet, now)?;
        let mut entries = match &found {
            Some(Data::SortedSet(entries)) => entries.clone(),
            _ => Vec::new(),
        };
        use AddCondition::*;
        let (mut added, mut changed) = (0, 0);
        for &(score, member) in c.members {
            match entries.iter().find(|(_, m)| m == member).map(|e| e.0) {
                None if !matches!(c.condition, OnlyExisting | GreaterExisting | LessExisting) => {
                    zset_insert(&mut entries, score, member);
                    added += 1;
                }
                Some(current) if current != score => {
                    let update = match c.condition {
                        Always | OnlyExisting => true,
                        OnlyNew => false,
                        Greater | GreaterExisting => score > current,
                        Less | LessExisting => score < current,
                    };
                    if update {
                        zset_insert(&mut entries, score, member);
                        changed += 1;
                    }
                }
                _ => {}
            }
        }
        if added + changed > 0 {
            self.put(slot, found.is_some(), Data::SortedSet(entries), now)?;
        }
        Ok(SortedSetAdded { added, changed })
    }

    fn sorted_set_increment(
        &mut self,
        c: &SortedSetIncrement<'_>,
        now: u64,
    ) -> Result<Option<IncrementedScore>, EngineError> {
        if c.delta.is_nan() {
            return Err(EngineError::NotANumber);
        }
        let slot = slot_of(c.key);
        let found = self.typed(c.key, ValueType::SortedSet, now)?;
        let mut entries = match &found {
            Some(Data::SortedSet(entries)) => entries.clone(),
            _ => Vec::new(),
        };
        use AddCondition::*;
        let score = match entries.iter().find(|(_, m)| m == c.member).map(|e| e.0) {
            None if matches!(c.condition, OnlyExisting | GreaterExisting | LessExisting) => {
                return Ok(None);
            }
            None => c.delta,
            Some(_) if c.condition == OnlyNew => return Ok(None),
            Some(current) => {
                let sum = current + c.delta;
                if sum.is_nan() {
                    return Err(EngineError::NotANumber);
                }
                let allowed = match c.condition {
                    Greater | GreaterExisting => sum > current,
                    Less | LessExisting => sum < current,
                    _ => true,
                };
                if !allowed {
                    return Ok(None);
                }
                if sum == current {
                    return Ok(Some(IncrementedScore {
                        score: sum,
                        changed: false,
                    }));
                }
                sum
            }
        };
        zset_insert(&mut entries, score, c.member);
        self.put(slot, found.is_some(), Data::SortedSet(entries), now)?;
        Ok(Some(IncrementedScore {
            score,
            changed: true,
        }))
    }

    fn sorted_set_remove(
        &mut self,
        key: Key<'_>,
        now: u64,
        doomed: impl Fn(f64, &[u8]) -> bool,
    ) -> Result<u64, EngineError> {
        let slot = slot_of(key);
        let Some(Data::SortedSet(mut entries)) = self.typed(key, ValueType::SortedSet, now)? else {
            return Ok(0);
        };
        let before = entries.len();
        entries.retain(|(score, member)| !doomed(*score, member));
        let removed = (before - entries.len()) as u64;
        if removed > 0 {
            self.put(slot, true, Data::SortedSet(entries), now)?;
        }
        Ok(removed)
    }

    /// A whole scan of `namespace` visits every shard (running due flushes) and removes the
    /// namespace's expired items; it lists the live keys holding `value_type`.
    fn scan(
        &mut self,
        namespace: NamespaceId,
        value_type: Option<ValueType>,
        now: u64,
    ) -> Vec<Vec<u8>> {
        self.drop_flushed();
        let slots: Vec<Slot> = self
            .items
            .keys()
            .copied()
            .filter(|slot| NAMESPACES[slot.0] == namespace)
            .collect();
        let mut keys = Vec::new();
        for slot in slots {
            if self.items[&slot].expired(now) {
                self.remove_expired(slot);
            } else if value_type.is_none_or(|t| self.items[&slot].data.value_type() == t) {
                keys.push(KEYS[slot.1].to_vec());
            }
        }
        keys.sort();
        keys
    }

    fn held_in(&self, namespace: NamespaceId) -> u64 {
        self.items
            .keys()
            .filter(|slot| NAMESPACES[slot.0] == namespace)
            .count() as u64
    }
}

/// Zeroes the CAS an outcome carries and hands it back separately.
fn normalize(outcome: Outcome) -> (Outcome, Option<u64>) {
    match outcome {
        Outcome::Store(Ok(StoreOutcome::Stored { cas })) => (
            Outcome::Store(Ok(StoreOutcome::Stored { cas: 0 })),
            Some(cas),
        ),
        Outcome::Get(Ok(GetOutcome::Hit(mut view))) => {
            let cas = view.cas;
            view.cas = 0;
            (Outcome::Get(Ok(GetOutcome::Hit(view))), Some(cas))
        }
        Outcome::Arithmetic(Ok(ArithmeticOutcome::Updated { value, cas, ttl })) => {
            let updated = ArithmeticOutcome::Updated { value, cas: 0, ttl };
            (Outcome::Arithmetic(Ok(updated)), Some(cas))
        }
        Outcome::Arithmetic(Ok(ArithmeticOutcome::Created { value, cas, ttl })) => {
            let created = ArithmeticOutcome::Created { value, cas: 0, ttl };
            (Outcome::Arithmetic(Ok(created)), Some(cas))
        }
        Outcome::Touch(Ok(TouchOutcome::Touched { flags, .. })) => (
            Outcome::Touch(Ok(TouchOutcome::Touched { flags, cas: 0 })),
            None,
        ),
        other => (other, None),
    }
}

// ---------------------------------------------------------------------------------------------
// Generated operations.
// ---------------------------------------------------------------------------------------------

/// An expiry relative to the time it is applied.
#[derive(Clone, Copy, Debug)]
enum Exp {
    Never,
    /// Milliseconds from now; zero or less is already past.
    At(i64),
    Sliding(u64),
}

impl Exp {
    fn at(self, now: u64) -> Expiry {
        match self {
            Exp::Never => Expiry::Never,
            Exp::At(offset) => Expiry::At(ts(now.saturating_add_signed(offset))),
            Exp::Sliding(timeout) => Expiry::Sliding(Duration::from_millis(timeout)),
        }
    }
}

/// Which CAS value a conditional command passes.
#[derive(Clone, Copy, Debug)]
enum CasPick {
    /// The item's current CAS, if a read or write has shown it.
    Current,
    /// One this key had before.
    SameKey(usize),
    /// Any CAS seen so far.
    AnyKey(usize),
    Zero,
    Max,
}

#[derive(Clone, Copy, Debug)]
enum CookiePick {
    Current,
    Previous,
    Initial,
    Raw(u32),
}

#[derive(Clone, Debug)]
enum Op {
    Store {
        slot: Slot,
        value: Vec<u8>,
        flags: u32,
        expiry: Exp,
        mode: StoreMode,
        cas: Option<CasPick>,
        invalidate: bool,
        vivify: Option<Exp>,
    },
    Get {
        slot: Slot,
        touch: Option<Exp>,
        vivify: Option<Exp>,
        recache_below: Option<u64>,
        bump: bool,
    },
    Delete {
        slot: Slot,
        cas: Option<CasPick>,
        mode: u8,
        expiry: Option<Exp>,
    },
    Touch {
        slot: Slot,
        expiry: Exp,
    },
    Arithmetic {
        slot: Slot,
        increment: bool,
        delta: u64,
        cas: Option<CasPick>,
        vivify: Option<(u64, Exp)>,
        touch: Option<Exp>,
    },
    ReadSession {
        slot: Slot,
        exclusive: bool,
    },
    ReleaseLock {
        slot: Slot,
        cookie: CookiePick,
    },
    WriteSession {
        slot: Slot,
        value: Vec<u8>,
        timeout: Option<u64>,
        cookie: Option<CookiePick>,
        uninitialized: bool,
    },
    RemoveSession {
        slot: Slot,
        cookie: Option<CookiePick>,
    },
    ResetTimeout {
        slot: Slot,
    },
    Flush {
        namespace: Option<usize>,
        at: Option<i64>,
    },
    ExpireDue {
        budget: usize,
    },
    Typed(TypedOp),
}

/// A bound of a generated score range: (score, inclusive).
type Bound = (f64, bool);

/// The Redis-style commands; fields and members are indexes into `FIELDS` and `MEMBERS`.
#[derive(Clone, Debug)]
enum TypedOp {
    WriteString {
        slot: Slot,
        value: Vec<u8>,
        condition: u8,
        /// `None`: keep the expiry.
        expiry: Option<Exp>,
        previous: bool,
    },
    GetAndDelete {
        slot: Slot,
    },
    GetAndExpire {
        slot: Slot,
        expiry: Option<Exp>,
    },
    Increment {
        slot: Slot,
        delta: i64,
    },
    Append {
        slot: Slot,
        value: Vec<u8>,
    },
    Expire {
        slot: Slot,
        /// Milliseconds from now.
        offset: i64,
        condition: u8,
    },
    Persist {
        slot: Slot,
    },
    Inspect {
        slot: Slot,
    },
    Length {
        slot: Slot,
        value_type: u8,
    },
    Rename {
        from: Slot,
        to: Slot,
        only_if_absent: bool,
    },
    HashWrite {
        slot: Slot,
        fields: Vec<(usize, Vec<u8>)>,
        only_if_absent: bool,
    },
    HashRead {
        slot: Slot,
        fields: Vec<usize>,
    },
    HashReadAll {
        slot: Slot,
    },
    HashDelete {
        slot: Slot,
        fields: Vec<usize>,
    },
    HashIncrement {
        slot: Slot,
        field: usize,
        delta: i64,
    },
    HashIncrementFloat {
        slot: Slot,
        field: usize,
        delta: usize,
    },
    SetAdd {
        slot: Slot,
        members: Vec<usize>,
    },
    SetRemove {
        slot: Slot,
        members: Vec<usize>,
    },
    SetMembers {
        slot: Slot,
    },
    SetContains {
        slot: Slot,
        members: Vec<usize>,
    },
    SortedSetAdd {
        slot: Slot,
        members: Vec<(f64, usize)>,
        condition: u8,
    },
    SortedSetIncrement {
        slot: Slot,
        member: usize,
        delta: f64,
        condition: u8,
    },
    SortedSetRemove {
        slot: Slot,
        members: Vec<usize>,
    },
    SortedSetScores {
        slot: Slot,
        members: Vec<usize>,
    },
    SortedSetRangeByScore {
        slot: Slot,
        min: Bound,
        max: Bound,
        reverse: bool,
        offset: usize,
        count: Option<usize>,
    },
    SortedSetRangeByIndex {
        slot: Slot,
        start: i64,
        stop: i64,
        reverse: bool,
    },
    SortedSetRemoveByScore {
        slot: Slot,
        min: Bound,
        max: Bound,
    },
    Scan {
        namespace: usize,
        count: usize,
        value_type: Option<u8>,
    },
}

const CONDITIONS: [AddCondition; 7] = [
    AddCondition::Always,
    AddCondition::OnlyNew,
    AddCondition::OnlyExisting,
    AddCondition::Greater,
    AddCondition::GreaterExisting,
    AddCondition::Less,
    AddCondition::LessExisting,
];
/// `HINCRBYFLOAT` increments: everyday ones, one that overflows, and infinities (which the
/// protocol refuses, but the engine must too).
const FLOAT_DELTAS: [&str; 8] = ["0.1", "-2.5", "3", "1e4932", "-1e4932", "inf", "-inf", "0"];
const FIELDS: [&[u8]; 4] = [b"f", b"gg", b"", b"n"];
const MEMBERS: [&[u8]; 4] = [b"m", b"nn", b"", b"o"];
const SCORES: [f64; 8] = [
    0.0,
    -0.0,
    1.0,
    1.5,
    -2.0,
    3.0,
    f64::INFINITY,
    f64::NEG_INFINITY,
];

fn value_type_of(code: u8) -> ValueType {
    [
        ValueType::String,
        ValueType::Hash,
        ValueType::Set,
        ValueType::SortedSet,
    ][usize::from(code % 4)]
}

fn bound((score, inclusive): Bound) -> ScoreBound {
    if inclusive {
        ScoreBound::Inclusive(score)
    } else {
        ScoreBound::Exclusive(score)
    }
}

#[derive(Clone, Debug)]
struct Step {
    /// How far the clock moves before the operation, in milliseconds.
    advance: u64,
    op: Op,
    /// Compare every key's visible state on a replayed fork after this step.
    probe: bool,
}

fn slot() -> impl Strategy<Value = Slot> {
    (0..NAMESPACES.len(), 0..KEYS.len())
}

fn exp() -> impl Strategy<Value = Exp> {
    prop_oneof![
        2 => Just(Exp::Never),
        3 => (-1_500i64..12_000).prop_map(Exp::At),
        3 => (300u64..8_000).prop_map(Exp::Sliding),
    ]
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    let specials = vec![
        "18446744073709551615",
        "18446744073709551614",
        "9",
        "99",
        "100",
        "1000  ",
        "7 ",
        "-1",
        "+5",
        "",
    ];
    prop_oneof![
        4 => vec(any::<u8>(), 0..40),
        3 => (0u64..200).prop_map(|n| n.to_string().into_bytes()),
        1 => prop::sample::select(specials).prop_map(|s| s.as_bytes().to_vec()),
    ]
}

fn cas_pick() -> impl Strategy<Value = CasPick> {
    prop_oneof![
        4 => Just(CasPick::Current),
        2 => any::<usize>().prop_map(CasPick::SameKey),
        2 => any::<usize>().prop_map(CasPick::AnyKey),
        1 => Just(CasPick::Zero),
        1 => Just(CasPick::Max),
    ]
}

fn cookie_pick() -> impl Strategy<Value = CookiePick> {
    prop_oneof![
        5 => Just(CookiePick::Current),
        2 => Just(CookiePick::Previous),
        1 => Just(CookiePick::Initial),
        1 => (0u32..6).prop_map(CookiePick::Raw),
    ]
}

fn mode() -> impl Strategy<Value = StoreMode> {
    prop::sample::select(vec![
        StoreMode::Set,
        StoreMode::Set,
        StoreMode::Add,
        StoreMode::Replace,
        StoreMode::Append,
        StoreMode::Prepend,
    ])
}

fn op() -> impl Strategy<Value = Op> {
    let store = (
        slot(),
        value(),
        prop_oneof![3 => Just(0u32), 1 => any::<u32>()],
        exp(),
        mode(),
        prop::option::weighted(0.3, cas_pick()),
        prop::bool::weighted(0.1),
        prop::option::weighted(0.2, exp()),
    )
        .prop_map(
            |(slot, value, flags, expiry, mode, cas, invalidate, vivify)| Op::Store {
                slot,
                value,
                flags,
                expiry,
                mode,
                cas,
                invalidate,
                vivify,
            },
        );
    let get = (
        slot(),
        prop::option::weighted(0.2, exp()),
        prop::option::weighted(0.1, exp()),
        prop::option::weighted(0.15, 0u64..6_000),
        prop::bool::weighted(0.85),
    )
        .prop_map(|(slot, touch, vivify, recache_below, bump)| Op::Get {
            slot,
            touch,
            vivify,
            recache_below,
            bump,
        });
    let delete = (
        slot(),
        prop::option::weighted(0.3, cas_pick()),
        0u8..6,
        prop::option::of(exp()),
    )
        .prop_map(|(slot, cas, mode, expiry)| Op::Delete {
            slot,
            cas,
            mode,
            expiry,
        });
    let touch = (slot(), exp()).prop_map(|(slot, expiry)| Op::Touch { slot, expiry });
    let arithmetic = (
        slot(),
        any::<bool>(),
        prop_oneof![4 => 0u64..20, 1 => any::<u64>(), 1 => Just(u64::MAX)],
        prop::option::weighted(0.2, cas_pick()),
        prop::option::weighted(0.3, (0u64..1_000, exp())),
        prop::option::weighted(0.15, exp()),
    )
        .prop_map(
            |(slot, increment, delta, cas, vivify, touch)| Op::Arithmetic {
                slot,
                increment,
                delta,
                cas,
                vivify,
                touch,
            },
        );
    let read = (slot(), prop::bool::weighted(0.7))
        .prop_map(|(slot, exclusive)| Op::ReadSession { slot, exclusive });
    let release =
        (slot(), cookie_pick()).prop_map(|(slot, cookie)| Op::ReleaseLock { slot, cookie });
    let write = (
        slot(),
        value(),
        prop::option::weighted(0.9, 300u64..8_000),
        prop::option::weighted(0.8, cookie_pick()),
        prop::bool::weighted(0.2),
    )
        .prop_map(
            |(slot, value, timeout, cookie, uninitialized)| Op::WriteSession {
                slot,
                value,
                timeout,
                cookie,
                uninitialized,
            },
        );
    let remove = (slot(), prop::option::weighted(0.7, cookie_pick()))
        .prop_map(|(slot, cookie)| Op::RemoveSession { slot, cookie });
    let reset = slot().prop_map(|slot| Op::ResetTimeout { slot });
    let flush = (
        prop::option::of(0usize..3),
        prop::option::weighted(0.6, -1_000i64..8_000),
    )
        .prop_map(|(namespace, at)| Op::Flush { namespace, at });
    let expire = prop_oneof![
        3 => 0usize..4,
        2 => Just(usize::MAX),
    ]
    .prop_map(|budget| Op::ExpireDue { budget });
    prop_oneof![
        25 => store,
        15 => get,
        6 => delete,
        5 => touch,
        8 => arithmetic,
        10 => read,
        6 => release,
        10 => write,
        4 => remove,
        4 => reset,
        2 => flush,
        6 => expire,
        70 => typed_op().prop_map(Op::Typed),
    ]
}

fn integer_text() -> impl Strategy<Value = Vec<u8>> {
    let specials = vec![
        "9223372036854775807",
        "9223372036854775806",
        "-9223372036854775808",
        "-0",
        "01",
        "0",
        " 1",
    ];
    prop_oneof![
        2 => value(),
        2 => (-50i64..50).prop_map(|n| n.to_string().into_bytes()),
        1 => any::<i64>().prop_map(|n| n.to_string().into_bytes()),
        1 => prop::sample::select(specials).prop_map(|s| s.as_bytes().to_vec()),
    ]
}

fn delta() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => -10i64..10,
        1 => any::<i64>(),
        1 => prop::sample::select(vec![i64::MAX, i64::MIN, 1, -1]),
    ]
}

fn score() -> impl Strategy<Value = f64> {
    prop_oneof![
        30 => prop::sample::select(SCORES.to_vec()),
        1 => Just(f64::NAN),
    ]
}

fn score_bound() -> impl Strategy<Value = Bound> {
    (prop::sample::select(SCORES.to_vec()), any::<bool>())
}

fn indexes(len: usize) -> impl Strategy<Value = Vec<usize>> {
    vec(0..len, 1..5)
}

fn typed_op() -> impl Strategy<Value = TypedOp> {
    let write_string = (
        slot(),
        integer_text(),
        0u8..3,
        prop::option::weighted(0.8, exp()),
        any::<bool>(),
    )
        .prop_map(
            |(slot, value, condition, expiry, previous)| TypedOp::WriteString {
                slot,
                value,
                condition,
                expiry,
                previous,
            },
        );
    let get_and_delete = slot().prop_map(|slot| TypedOp::GetAndDelete { slot });
    let get_and_expire = (slot(), prop::option::of(exp()))
        .prop_map(|(slot, expiry)| TypedOp::GetAndExpire { slot, expiry });
    let increment = (slot(), delta()).prop_map(|(slot, delta)| TypedOp::Increment { slot, delta });
    let append = (slot(), value()).prop_map(|(slot, value)| TypedOp::Append { slot, value });
    let expire =
        (slot(), -1_500i64..12_000, 0u8..6).prop_map(|(slot, offset, condition)| TypedOp::Expire {
            slot,
            offset,
            condition,
        });
    let persist = slot().prop_map(|slot| TypedOp::Persist { slot });
    let inspect = slot().prop_map(|slot| TypedOp::Inspect { slot });
    let length =
        (slot(), 0u8..4).prop_map(|(slot, value_type)| TypedOp::Length { slot, value_type });
    let rename =
        (slot(), slot(), prop::bool::weighted(0.3)).prop_map(|(from, to, only_if_absent)| {
            TypedOp::Rename {
                from,
                to,
                only_if_absent,
            }
        });
    let hash_write = (
        slot(),
        vec((0..FIELDS.len(), integer_text()), 1..4),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(slot, fields, only_if_absent)| TypedOp::HashWrite {
            slot,
            fields,
            only_if_absent,
        });
    let hash_read = (slot(), indexes(FIELDS.len()))
        .prop_map(|(slot, fields)| TypedOp::HashRead { slot, fields });
    let hash_read_all = slot().prop_map(|slot| TypedOp::HashReadAll { slot });
    let hash_delete = (slot(), indexes(FIELDS.len()))
        .prop_map(|(slot, fields)| TypedOp::HashDelete { slot, fields });
    let hash_increment = (slot(), 0..FIELDS.len(), delta())
        .prop_map(|(slot, field, delta)| TypedOp::HashIncrement { slot, field, delta });
    let hash_increment_float = (slot(), 0..FIELDS.len(), 0..FLOAT_DELTAS.len())
        .prop_map(|(slot, field, delta)| TypedOp::HashIncrementFloat { slot, field, delta });
    let sorted_set_increment =
        (slot(), 0..MEMBERS.len(), score(), 0u8..7).prop_map(|(slot, member, delta, condition)| {
            TypedOp::SortedSetIncrement {
                slot,
                member,
                delta,
                condition,
            }
        });
    let set_add = (slot(), indexes(MEMBERS.len()))
        .prop_map(|(slot, members)| TypedOp::SetAdd { slot, members });
    let set_remove = (slot(), indexes(MEMBERS.len()))
        .prop_map(|(slot, members)| TypedOp::SetRemove { slot, members });
    let set_members = slot().prop_map(|slot| TypedOp::SetMembers { slot });
    let set_contains = (slot(), indexes(MEMBERS.len()))
        .prop_map(|(slot, members)| TypedOp::SetContains { slot, members });
    let sorted_set_add = (slot(), vec((score(), 0..MEMBERS.len()), 1..4), 0u8..7).prop_map(
        |(slot, members, condition)| TypedOp::SortedSetAdd {
            slot,
            members,
            condition,
        },
    );
    let sorted_set_remove = (slot(), indexes(MEMBERS.len()))
        .prop_map(|(slot, members)| TypedOp::SortedSetRemove { slot, members });
    let sorted_set_scores = (slot(), indexes(MEMBERS.len()))
        .prop_map(|(slot, members)| TypedOp::SortedSetScores { slot, members });
    let by_score = (
        slot(),
        score_bound(),
        score_bound(),
        any::<bool>(),
        prop_oneof![3 => Just(0usize), 1 => 0usize..4],
        prop::option::of(0usize..4),
    )
        .prop_map(
            |(slot, min, max, reverse, offset, count)| TypedOp::SortedSetRangeByScore {
                slot,
                min,
                max,
                reverse,
                offset,
                count,
            },
        );
    let by_index =
        (slot(), -5i64..5, -5i64..5, any::<bool>()).prop_map(|(slot, start, stop, reverse)| {
            TypedOp::SortedSetRangeByIndex {
                slot,
                start,
                stop,
                reverse,
            }
        });
    let remove_by_score = (slot(), score_bound(), score_bound())
        .prop_map(|(slot, min, max)| TypedOp::SortedSetRemoveByScore { slot, min, max });
    let scan = (0usize..3, 0usize..5, prop::option::weighted(0.3, 0u8..4)).prop_map(
        |(namespace, count, value_type)| TypedOp::Scan {
            namespace,
            count,
            value_type,
        },
    );
    prop_oneof![
        6 => write_string,
        2 => get_and_delete,
        2 => get_and_expire,
        3 => increment,
        2 => append,
        4 => expire,
        2 => persist,
        2 => inspect,
        2 => length,
        4 => rename,
        5 => hash_write,
        2 => hash_read,
        2 => hash_read_all,
        3 => hash_delete,
        2 => hash_increment,
        2 => hash_increment_float,
        2 => sorted_set_increment,
        4 => set_add,
        3 => set_remove,
        1 => set_members,
        1 => set_contains,
        5 => sorted_set_add,
        2 => sorted_set_remove,
        1 => sorted_set_scores,
        2 => by_score,
        2 => by_index,
        2 => remove_by_score,
        2 => scan,
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let advance = prop_oneof![
        4 => Just(0u64),
        4 => 0u64..400,
        2 => 0u64..2_500,
        1 => 0u64..9_000,
    ];
    (advance, op(), prop::bool::weighted(0.06)).prop_map(|(advance, op, probe)| Step {
        advance,
        op,
        probe,
    })
}

// ---------------------------------------------------------------------------------------------
// The harness: runs both, compares, and logs every engine call for replay.
// ---------------------------------------------------------------------------------------------

/// One call made to the engine, owned so the log can replay it.
#[derive(Clone, Debug)]
enum Call {
    /// A store; its value lives beside it.
    Store(Store<'static>, Vec<u8>),
    WriteSession(WriteSession<'static>, Vec<u8>),
    /// Every other command (keys are static).
    Command(Command<'static>),
    /// A command whose bytes and lists live beside it.
    Owned(Box<Owned>),
    ExpireDue(usize),
}

/// A command with empty slices where its bytes and lists go, and those bytes and lists.
#[derive(Clone, Debug)]
struct Owned {
    command: Command<'static>,
    bytes: Vec<u8>,
    names: Vec<&'static [u8]>,
    pairs: Vec<(&'static [u8], Vec<u8>)>,
    scored: Vec<(f64, &'static [u8])>,
}

impl Owned {
    fn with_command<R>(&self, f: impl FnOnce(&Command<'_>) -> R) -> R {
        let pairs: Vec<(&[u8], &[u8])> = self.pairs.iter().map(|(f, v)| (*f, &v[..])).collect();
        let bytes = &self.bytes[..];
        let names = &self.names[..];
        let command = match &self.command {
            Command::WriteString(c) => Command::WriteString(WriteString {
                value: bytes,
                ..c.clone()
            }),
            Command::Append(c) => Command::Append(Append {
                value: bytes,
                ..c.clone()
            }),
            Command::HashWrite(c) => Command::HashWrite(HashWrite {
                fields: &pairs,
                ..c.clone()
            }),
            Command::HashRead(c) => Command::HashRead(HashRead {
                fields: names,
                ..c.clone()
            }),
            Command::HashDelete(c) => Command::HashDelete(HashDelete {
                fields: names,
                ..c.clone()
            }),
            Command::SetAdd(c) => Command::SetAdd(SetAdd {
                members: names,
                ..c.clone()
            }),
            Command::SetRemove(c) => Command::SetRemove(SetRemove {
                members: names,
                ..c.clone()
            }),
            Command::SetContains(c) => Command::SetContains(SetContains {
                members: names,
                ..c.clone()
            }),
            Command::SortedSetAdd(c) => Command::SortedSetAdd(SortedSetAdd {
                members: &self.scored,
                ..c.clone()
            }),
            Command::SortedSetRemove(c) => Command::SortedSetRemove(SortedSetRemove {
                members: names,
                ..c.clone()
            }),
            Command::SortedSetScores(c) => Command::SortedSetScores(SortedSetScores {
                members: names,
                ..c.clone()
            }),
            other => other.clone(),
        };
        f(&command)
    }
}

#[derive(Clone, Debug, PartialEq)]
enum CallResult {
    Outcome(Outcome),
    Removed(usize),
}

impl Call {
    /// Runs `f` on the call's command; `None` for a sweep.
    fn with_command<R>(&self, f: impl FnOnce(&Command<'_>) -> R) -> Option<R> {
        match self {
            Call::Store(store, value) => Some(f(&Command::Store(Store {
                value,
                ..store.clone()
            }))),
            Call::WriteSession(write, value) => Some(f(&Command::WriteSession(WriteSession {
                value,
                ..write.clone()
            }))),
            Call::Command(command) => Some(f(command)),
            Call::Owned(owned) => Some(owned.with_command(f)),
            Call::ExpireDue(_) => None,
        }
    }

    fn run(&self, engine: &Engine, now: u64) -> CallResult {
        match self {
            Call::ExpireDue(budget) => CallResult::Removed(engine.expire_due(ts(now), *budget)),
            call => {
                let outcome = call.with_command(|command| engine.execute(command, ts(now)));
                CallResult::Outcome(outcome.expect("a command"))
            }
        }
    }
}

fn command_key<'a>(command: &Command<'a>) -> Key<'a> {
    match command {
        Command::Arithmetic(c) => c.key,
        Command::Delete(c) => c.key,
        Command::Get(c) => c.key,
        Command::ReadSession(c) => c.key,
        Command::ReleaseLock(c) => c.key,
        Command::RemoveSession(c) => c.key,
        Command::ResetTimeout(c) => c.key,
        Command::Store(c) => c.key,
        Command::Touch(c) => c.key,
        Command::WriteSession(c) => c.key,
        Command::WriteString(c) => c.key,
        Command::GetAndDelete(c) => c.key,
        Command::GetAndExpire(c) => c.key,
        Command::Increment(c) => c.key,
        Command::Append(c) => c.key,
        Command::Expire(c) => c.key,
        Command::Persist(c) => c.key,
        Command::Inspect(c) => c.key,
        Command::Length(c) => c.key,
        Command::Rename(c) => c.from,
        Command::HashWrite(c) => c.key,
        Command::HashRead(c) => c.key,
        Command::HashReadAll(c) => c.key,
        Command::HashDelete(c) => c.key,
        Command::HashIncrement(c) => c.key,
        Command::HashIncrementFloat(c) => c.key,
        Command::SortedSetIncrement(c) => c.key,
        Command::SetAdd(c) => c.key,
        Command::SetRemove(c) => c.key,
        Command::SetMembers(c) => c.key,
        Command::SetContains(c) => c.key,
        Command::SortedSetAdd(c) => c.key,
        Command::SortedSetRemove(c) => c.key,
        Command::SortedSetScores(c) => c.key,
        Command::SortedSetRangeByScore(c) => c.key,
        Command::SortedSetRangeByIndex(c) => c.key,
        Command::SortedSetRemoveByScore(c) => c.key,
        other => unreachable!("not keyed: {other:?}"),
    }
}

struct Harness {
    engine: Engine,
    model: Model,
    book: CasBook,
    limit: u64,
    now: u64,
    log: Vec<(u64, Call, CallResult)>,
}

/// Subsets (as masks over `candidates`) whose removal from the model gives the engine's stats.
fn explaining_subsets(model: &Model, candidates: &[Slot], stats: &EngineStats) -> Vec<u32> {
    let (count, bytes, memory) = model.totals();
    (0..1u32 << candidates.len())
        .filter(|&mask| {
            let (mut c, mut b, mut m) = (0, 0, 0);
            for (bit, slot) in candidates.iter().enumerate() {
                if mask & (1 << bit) != 0 {
                    let item = &model.items[slot];
                    c += 1;
                    b += (KEYS[slot.1].len() + item.stored_len()) as u64;
                    m += Model::charge_of(*slot, item);
                }
            }
            count - c == stats.curr_items
                && bytes - b == stats.bytes
                && memory - m == stats.memory_used
        })
        .collect()
}

impl Harness {
    fn new(limit: u64) -> Self {
        Harness {
            engine: Engine::new(EngineConfig { max_memory: limit }),
            model: Model::new(limit),
            book: CasBook::default(),
            limit,
            now: START,
            log: Vec::new(),
        }
    }

    fn call(&mut self, call: Call) -> CallResult {
        let result = call.run(&self.engine, self.now);
        self.log.push((self.now, call, result.clone()));
        result
    }

    fn step(&mut self, step: &Step) -> Result<(), TestCaseError> {
        self.now += step.advance;
        self.model.flushes_come_due(self.now);
        match &step.op {
            Op::Flush { namespace, at } => {
                let namespace =
                    namespace.map(|i| NAMESPACES.get(i).copied().unwrap_or(NamespaceId(99)));
                let at = at.map(|offset| self.now.saturating_add_signed(offset));
                self.flush(namespace, at)?;
            }
            Op::ExpireDue { budget } => self.sweep(*budget)?,
            Op::Typed(TypedOp::Scan {
                namespace,
                count,
                value_type,
            }) => {
                let namespace = NAMESPACES.get(*namespace).copied();
                let namespace = namespace.unwrap_or(NamespaceId(99));
                self.scan(namespace, *count, value_type.map(value_type_of))?;
            }
            Op::Typed(op) => {
                let call = self.concretize_typed(op);
                self.keyed(call)?;
            }
            op => {
                let call = self.concretize(op);
                self.keyed(call)?;
            }
        }
        if step.probe {
            self.probe()?;
        }
        Ok(())
    }

    fn pick_cas(&self, pick: CasPick, slot: Slot, invalidate: bool) -> u64 {
        let seen = self.book.by_slot.get(&slot).map_or(&[][..], Vec::as_slice);
        let nth = |list: &[u64], i: usize| {
            if list.is_empty() {
                0
            } else {
                list[i % list.len()]
            }
        };
        match pick {
            CasPick::Current => self
                .model
                .items
                .get(&slot)
                .and_then(|item| self.book.cas_of_version.get(&item.version).copied())
                .unwrap_or(0),
            CasPick::SameKey(i) => nth(seen, i),
            // With `invalidate` the model must know whether the CAS is older, which it only
            // does for this key's own history.
            CasPick::AnyKey(i) if invalidate => nth(seen, i),
            CasPick::AnyKey(i) => nth(&self.book.all, i),
            CasPick::Zero => 0,
            CasPick::Max => u64::MAX,
        }
    }

    fn pick_cookie(&self, pick: CookiePick, slot: Slot) -> LockCookie {
        let current = self.model.items.get(&slot).map_or(1, |item| item.cookie);
        LockCookie(match pick {
            CookiePick::Current => current,
            CookiePick::Previous if current >= 2 => current - 1,
            CookiePick::Previous => 3,
            CookiePick::Initial => 1,
            CookiePick::Raw(raw) => raw,
        })
    }

    /// Turns a generated operation into a concrete engine call at the current time.
    fn concretize(&self, op: &Op) -> Call {
        let now = self.now;
        match op {
            Op::Store {
                slot,
                value,
                flags,
                expiry,
                mode,
                cas,
                invalidate,
                vivify,
            } => Call::Store(
                Store {
                    key: key(*slot),
                    value: &[],
                    flags: *flags,
                    expiry: expiry.at(now),
                    mode: *mode,
                    cas: cas.map(|pick| self.pick_cas(pick, *slot, *invalidate)),
                    invalidate: *invalidate,
                    vivify: vivify.map(|e| e.at(now)),
                },
                value.clone(),
            ),
            Op::Get {
                slot,
                touch,
                vivify,
                recache_below,
                bump,
            } => Call::Command(Command::Get(Get {
                key: key(*slot),
                touch: touch.map(|e| e.at(now)),
                vivify: vivify.map(|e| e.at(now)),
                recache_below: recache_below.map(Duration::from_millis),
                bump: *bump,
            })),
            Op::Delete {
                slot,
                cas,
                mode,
                expiry,
            } => Call::Command(Command::Delete(Delete {
                key: key(*slot),
                cas: cas.map(|pick| self.pick_cas(pick, *slot, false)),
                mode: match mode {
                    0..=3 => DeleteMode::Remove,
                    4 => DeleteMode::Invalidate {
                        expiry: expiry.map(|e| e.at(now)),
                    },
                    _ => DeleteMode::ClearValue,
                },
            })),
            Op::Touch { slot, expiry } => Call::Command(Command::Touch(Touch {
                key: key(*slot),
                expiry: expiry.at(now),
            })),
            Op::Arithmetic {
                slot,
                increment,
                delta,
                cas,
                vivify,
                touch,
            } => Call::Command(Command::Arithmetic(Arithmetic {
                key: key(*slot),
                direction: if *increment {
                    Direction::Increment
                } else {
                    Direction::Decrement
                },
                delta: *delta,
                cas: cas.map(|pick| self.pick_cas(pick, *slot, false)),
                vivify: vivify.map(|(initial, e)| Vivify {
                    initial,
                    expiry: e.at(now),
                }),
                touch: touch.map(|e| e.at(now)),
            })),
            Op::ReadSession { slot, exclusive } => {
                Call::Command(Command::ReadSession(ReadSession {
                    key: key(*slot),
                    exclusive: *exclusive,
                }))
            }
            Op::ReleaseLock { slot, cookie } => Call::Command(Command::ReleaseLock(ReleaseLock {
                key: key(*slot),
                cookie: self.pick_cookie(*cookie, *slot),
            })),
            Op::WriteSession {
                slot,
                value,
                timeout,
                cookie,
                uninitialized,
            } => Call::WriteSession(
                WriteSession {
                    key: key(*slot),
                    value: &[],
                    timeout: timeout.map(Duration::from_millis),
                    cookie: cookie.map(|pick| self.pick_cookie(pick, *slot)),
                    uninitialized: *uninitialized,
                },
                value.clone(),
            ),
            Op::RemoveSession { slot, cookie } => {
                Call::Command(Command::RemoveSession(RemoveSession {
                    key: key(*slot),
                    cookie: cookie.map(|pick| self.pick_cookie(pick, *slot)),
                }))
            }
            Op::ResetTimeout { slot } => {
                Call::Command(Command::ResetTimeout(ResetTimeout { key: key(*slot) }))
            }
            Op::Flush { .. } | Op::ExpireDue { .. } | Op::Typed(_) => {
                unreachable!("not here")
            }
        }
    }

    /// Turns a generated Redis-style operation into a concrete engine call.
    fn concretize_typed(&self, op: &TypedOp) -> Call {
        let now = self.now;
        let names = |indexes: &[usize], pool: &[&'static [u8]]| -> Vec<&'static [u8]> {
            indexes.iter().map(|&i| pool[i]).collect()
        };
        let mut owned = Owned {
            command: Command::Inspect(Inspect { key: key((0, 0)) }),
            bytes: Vec::new(),
            names: Vec::new(),
            pairs: Vec::new(),
            scored: Vec::new(),
        };
        let expiry_update = |expiry: Option<Exp>| match expiry {
            Some(expiry) => ExpiryUpdate::Set(expiry.at(now)),
            None => ExpiryUpdate::Keep,
        };
        owned.command = match op {
            TypedOp::WriteString {
                slot,
                value,
                condition,
                expiry,
                previous,
            } => {
                owned.bytes = value.clone();
                Command::WriteString(WriteString {
                    key: key(*slot),
                    value: &[],
                    condition: [
                        WriteCondition::Always,
                        WriteCondition::IfAbsent,
                        WriteCondition::IfPresent,
                    ][usize::from(*condition % 3)],
                    expiry: expiry_update(*expiry),
                    previous: *previous,
                })
            }
            TypedOp::GetAndDelete { slot } => {
                Command::GetAndDelete(GetAndDelete { key: key(*slot) })
            }
            TypedOp::GetAndExpire { slot, expiry } => Command::GetAndExpire(GetAndExpire {
                key: key(*slot),
                expiry: expiry_update(*expiry),
            }),
            TypedOp::Increment { slot, delta } => Command::Increment(Increment {
                key: key(*slot),
                delta: *delta,
            }),
            TypedOp::Append { slot, value } => {
                owned.bytes = value.clone();
                Command::Append(Append {
                    key: key(*slot),
                    value: &[],
                })
            }
            TypedOp::Expire {
                slot,
                offset,
                condition,
            } => Command::Expire(Expire {
                key: key(*slot),
                at: ts(now.saturating_add_signed(*offset)),
                condition: [
                    ExpireCondition::Always,
                    ExpireCondition::IfNone,
                    ExpireCondition::IfSome,
                    ExpireCondition::IfLater,
                    ExpireCondition::IfEarlier,
                    ExpireCondition::IfSomeEarlier,
                ][usize::from(*condition % 6)],
            }),
            TypedOp::Persist { slot } => Command::Persist(Persist { key: key(*slot) }),
            TypedOp::Inspect { slot } => Command::Inspect(Inspect { key: key(*slot) }),
            TypedOp::Length { slot, value_type } => Command::Length(Length {
                key: key(*slot),
                value_type: value_type_of(*value_type),
            }),
            TypedOp::Rename {
                from,
                to,
                only_if_absent,
            } => Command::Rename(Rename {
                from: key(*from),
                to: key(*to),
                only_if_absent: *only_if_absent,
            }),
            TypedOp::HashWrite {
                slot,
                fields,
                only_if_absent,
            } => {
                owned.pairs = fields
                    .iter()
                    .map(|(field, value)| (FIELDS[*field], value.clone()))
                    .collect();
                Command::HashWrite(HashWrite {
                    key: key(*slot),
                    fields: &[],
                    only_if_absent: *only_if_absent,
                })
            }
            TypedOp::HashRead { slot, fields } => {
                owned.names = names(fields, &FIELDS);
                Command::HashRead(HashRead {
                    key: key(*slot),
                    fields: &[],
                })
            }
            TypedOp::HashReadAll { slot } => Command::HashReadAll(HashReadAll { key: key(*slot) }),
            TypedOp::HashDelete { slot, fields } => {
                owned.names = names(fields, &FIELDS);
                Command::HashDelete(HashDelete {
                    key: key(*slot),
                    fields: &[],
                })
            }
            TypedOp::HashIncrement { slot, field, delta } => {
                Command::HashIncrement(HashIncrement {
                    key: key(*slot),
                    field: FIELDS[*field],
                    delta: *delta,
                })
            }
            TypedOp::HashIncrementFloat { slot, field, delta } => {
                Command::HashIncrementFloat(HashIncrementFloat {
                    key: key(*slot),
                    field: FIELDS[*field],
                    delta: LongDouble::parse(FLOAT_DELTAS[*delta].as_bytes())
                        .expect("a valid long double"),
                })
            }
            TypedOp::SortedSetIncrement {
                slot,
                member,
                delta,
                condition,
            } => Command::SortedSetIncrement(SortedSetIncrement {
                key: key(*slot),
                member: MEMBERS[*member],
                delta: *delta,
                condition: CONDITIONS[usize::from(*condition % 7)],
            }),
            TypedOp::SetAdd { slot, members } => {
                owned.names = names(members, &MEMBERS);
                Command::SetAdd(SetAdd {
                    key: key(*slot),
                    members: &[],
                })
            }
            TypedOp::SetRemove { slot, members } => {
                owned.names = names(members, &MEMBERS);
                Command::SetRemove(SetRemove {
                    key: key(*slot),
                    members: &[],
                })
            }
            TypedOp::SetMembers { slot } => Command::SetMembers(SetMembers { key: key(*slot) }),
            TypedOp::SetContains { slot, members } => {
                owned.names = names(members, &MEMBERS);
                Command::SetContains(SetContains {
                    key: key(*slot),
                    members: &[],
                })
            }
            TypedOp::SortedSetAdd {
                slot,
                members,
                condition,
            } => {
                owned.scored = members
                    .iter()
                    .map(|&(score, member)| (score, MEMBERS[member]))
                    .collect();
                Command::SortedSetAdd(SortedSetAdd {
                    key: key(*slot),
                    members: &[],
                    condition: CONDITIONS[usize::from(*condition % 7)],
                })
            }
            TypedOp::SortedSetRemove { slot, members } => {
                owned.names = names(members, &MEMBERS);
                Command::SortedSetRemove(SortedSetRemove {
                    key: key(*slot),
                    members: &[],
                })
            }
            TypedOp::SortedSetScores { slot, members } => {
                owned.names = names(members, &MEMBERS);
                Command::SortedSetScores(SortedSetScores {
                    key: key(*slot),
                    members: &[],
                })
            }
            TypedOp::SortedSetRangeByScore {
                slot,
                min,
                max,
                reverse,
                offset,
                count,
            } => Command::SortedSetRangeByScore(SortedSetRangeByScore {
                key: key(*slot),
                min: bound(*min),
                max: bound(*max),
                reverse: *reverse,
                offset: *offset,
                count: *count,
            }),
            TypedOp::SortedSetRangeByIndex {
                slot,
                start,
                stop,
                reverse,
            } => Command::SortedSetRangeByIndex(SortedSetRangeByIndex {
                key: key(*slot),
                start: *start,
                stop: *stop,
                reverse: *reverse,
            }),
            TypedOp::SortedSetRemoveByScore { slot, min, max } => {
                Command::SortedSetRemoveByScore(SortedSetRemoveByScore {
                    key: key(*slot),
                    min: bound(*min),
                    max: bound(*max),
                })
            }
            TypedOp::Scan { .. } => unreachable!("not keyed"),
        };
        Call::Owned(Box::new(owned))
    }

    /// A whole scan, page by page: every live key of the namespace (of the type) exactly once.
    fn scan(
        &mut self,
        namespace: NamespaceId,
        count: usize,
        value_type: Option<ValueType>,
    ) -> Result<(), TestCaseError> {
        let expected = self.model.scan(namespace, value_type, self.now);
        let mut scan = Scan {
            namespace,
            cursor: 0,
            count,
            value_type,
        };
        let mut keys = Vec::new();
        loop {
            let result = self.call(Call::Command(Command::Scan(scan.clone())));
            let CallResult::Outcome(Outcome::Scan(page)) = result else {
                unreachable!()
            };
            prop_assert!(page.keys.len() <= count.max(1));
            keys.extend(page.keys.iter().map(|key| key.to_vec()));
            if page.cursor == 0 {
                break;
            }
            scan.cursor = page.cursor;
        }
        let returned = keys.len();
        keys.sort();
        keys.dedup();
        prop_assert_eq!(returned, keys.len(), "a key returned twice");
        prop_assert_eq!(keys, expected, "scan of {:?} at {}", namespace, self.now);
        self.check_stats()
    }

    /// Runs a keyed command on both and compares.
    fn keyed(&mut self, call: Call) -> Result<(), TestCaseError> {
        let owned = call.clone();
        let run = owned.with_command(|command| self.keyed_command(call, command));
        run.expect("keyed")
    }

    fn keyed_command(&mut self, call: Call, command: &Command<'_>) -> Result<(), TestCaseError> {
        let now = self.now;
        let slot = slot_of(command_key(command));

        // The engine drops the flushed ghosts of this key's shard before the command; which
        // ones those are is unknown. If that could decide a write's refusal, flush everywhere.
        if self.model.flushed_slots().iter().any(|&s| s != slot) {
            let mut none_held = self.model.clone();
            none_held.drop_flushed();
            let mut all_held = self.model.clone();
            let a = none_held.apply(command, now, &self.book).0;
            let b = all_held.apply(command, now, &self.book).0;
            if a != b {
                self.flush_everywhere()?;
            }
        }

        let (expected, version) = self.model.apply(command, now, &self.book);
        let result = self.call(call);
        let CallResult::Outcome(outcome) = result else {
            unreachable!()
        };
        let (actual, cas) = normalize(outcome);
        prop_assert_eq!(&actual, &expected, "at {} ms: {:?}", now, command);
        if let (Some(cas), Some(version)) = (cas, version) {
            self.book.bind(slot, version, cas)?;
        }
        self.settle_flushed()?;
        self.check_stats()
    }

    /// Applies due delayed flushes in every shard: `expire_due` with no budget does only that.
    fn flush_everywhere(&mut self) -> Result<(), TestCaseError> {
        let result = self.call(Call::ExpireDue(0));
        prop_assert_eq!(result, CallResult::Removed(0));
        self.model.drop_flushed();
        self.check_stats()
    }

    /// Learns from the stats which flushed ghosts the last command's shard dropped.
    fn settle_flushed(&mut self) -> Result<(), TestCaseError> {
        let ghosts = self.model.flushed_slots();
        if ghosts.is_empty() {
            return Ok(());
        }
        let stats = self.engine.stats();
        let fits = explaining_subsets(&self.model, &ghosts, &stats);
        match fits.as_slice() {
            [] => prop_assert!(
                false,
                "stats {:?} not explained by dropping some of the flushed {:?}",
                stats,
                ghosts
            ),
            [mask] => {
                for (bit, slot) in ghosts.iter().enumerate() {
                    if mask & (1 << bit) != 0 {
                        self.model.items.remove(slot);
                    }
                }
            }
            _ => self.flush_everywhere()?,
        }
        Ok(())
    }

    fn flush(
        &mut self,
        namespace: Option<NamespaceId>,
        at: Option<u64>,
    ) -> Result<(), TestCaseError> {
        let flush = Flush {
            namespace,
            at: at.map(ts),
        };
        let result = self.call(Call::Command(Command::Flush(flush)));
        prop_assert_eq!(result, CallResult::Outcome(Outcome::Flush(Ok(()))));
        // A flush first applies what is due in every shard.
        self.model.drop_flushed();
        self.model.flush(namespace, at, self.now);
        self.check_stats()
    }

    fn sweep(&mut self, budget: usize) -> Result<(), TestCaseError> {
        let now = self.now;
        // A sweep first applies due flushes in every shard.
        self.model.drop_flushed();
        let candidates: Vec<Slot> = self
            .model
            .items
            .iter()
            .filter(|(_, item)| item.expired(now))
            .map(|(&slot, _)| slot)
            .collect();
        // A full sweep must remove everything that expired before this second began.
        let second = now / 1000 * 1000;
        let mut must = 0u32;
        if budget == usize::MAX {
            for (bit, slot) in candidates.iter().enumerate() {
                if self.model.items[slot].deadline.is_some_and(|d| d <= second) {
                    must |= 1 << bit;
                }
            }
        }
        let CallResult::Removed(removed) = self.call(Call::ExpireDue(budget)) else {
            unreachable!()
        };
        let stats = self.engine.stats();
        let fits: Vec<u32> = explaining_subsets(&self.model, &candidates, &stats)
            .into_iter()
            .filter(|&mask| mask.count_ones() as usize == removed && mask & must == must)
            .collect();
        match fits.as_slice() {
            [] => prop_assert!(
                false,
                "expire_due({}, {}) removed {} items; stats {:?}; expired candidates {:?} \
                 (must remove mask {:b}) do not explain it",
                now,
                budget,
                removed,
                stats,
                candidates,
                must
            ),
            [mask] => {
                for (bit, slot) in candidates.iter().enumerate() {
                    if mask & (1 << bit) != 0 {
                        self.model.remove_expired(*slot);
                    }
                }
            }
            _ => {
                // Ambiguous: look the rest up, which removes them. Either way every candidate
                // is counted as expired exactly once.
                for &slot in &candidates {
                    let reset = ResetTimeout { key: key(slot) };
                    let result = self.call(Call::Command(Command::ResetTimeout(reset)));
                    let expected = Outcome::ResetTimeout(ResetTimeoutOutcome::NotFound);
                    prop_assert_eq!(result, CallResult::Outcome(expected));
                    self.model.remove_expired(slot);
                }
            }
        }
        self.check_stats()
    }

    fn check_stats(&self) -> Result<(), TestCaseError> {
        let stats = self.engine.stats();
        let (count, bytes, memory) = self.model.totals();
        prop_assert_eq!(stats.curr_items, count, "curr_items at {}", self.now);
        prop_assert_eq!(stats.bytes, bytes, "bytes at {}", self.now);
        prop_assert_eq!(stats.memory_used, memory, "memory_used at {}", self.now);
        prop_assert!(stats.memory_used <= self.limit);
        prop_assert_eq!(stats.limit_maxbytes, self.limit);
        prop_assert_eq!(stats.rejected_writes, self.model.refused, "rejected_writes");
        prop_assert_eq!(stats.counters.expired, self.model.expired, "expired");
        prop_assert_eq!(
            stats.counters.expired_unfetched,
            self.model.expired_unfetched,
            "expired_unfetched"
        );
        prop_assert_eq!(stats.counters.lock_acquired, self.model.lock_acquired);
        prop_assert_eq!(stats.counters.lock_contended, self.model.lock_contended);
        for namespace in NAMESPACES {
            prop_assert_eq!(
                self.engine.key_count(namespace),
                self.model.held_in(namespace),
                "key count of {:?}",
                namespace
            );
        }
        Ok(())
    }

    /// Rebuilds the engine from the log (which must give every outcome again, CAS included)
    /// and reads every key on that copy, leaving the real engine untouched. The copy has a
    /// journal: an engine restored from the effects it recorded must hold exactly its state.
    fn probe(&mut self) -> Result<(), TestCaseError> {
        let fork = Engine::new(EngineConfig {
            max_memory: self.limit,
        });
        let recorder = Arc::new(Recorder::default());
        prop_assert!(fork.attach_journal(recorder.clone()).is_ok());
        for (now, call, result) in &self.log {
            let replayed = call.run(&fork, *now);
            prop_assert_eq!(
                &replayed,
                result,
                "replay diverged at {} ms: {:?}",
                now,
                call
            );
        }
        fork.drain_renewals(ts(self.now));
        // A memory limit far below the data: restoring must not lose anything to it.
        let restored = Engine::new(EngineConfig { max_memory: 1 });
        for effect in recorder.effects.lock().expect("recorder").iter() {
            restored.restore(&effect.borrow());
        }
        for engine in [&fork, &restored] {
            engine.expire_due(ts(self.now), usize::MAX);
        }
        prop_assert_eq!(
            durable_state(&restored, ts(self.now)),
            durable_state(&fork, ts(self.now))
        );
        // Type, time to live and contents, which change nothing a later read sees.
        for slot in all_slots() {
            let key = key(slot);
            let reads = [
                Command::Inspect(Inspect { key }),
                Command::HashReadAll(HashReadAll { key }),
                Command::SetMembers(SetMembers { key }),
                Command::SortedSetRangeByIndex(SortedSetRangeByIndex {
                    key,
                    start: 0,
                    stop: -1,
                    reverse: false,
                }),
            ];
            for read in reads {
                let expected = self.model.clone().apply(&read, self.now, &self.book).0;
                let actual = fork.execute(&read, ts(self.now));
                prop_assert_eq!(&actual, &expected, "{:?} at {}", read, self.now);
            }
        }
        for slot in all_slots() {
            let get = Command::Get(Get::new(key(slot)));
            let (expected, version) = self.model.clone().apply(&get, self.now, &self.book);
            let (actual, cas) = normalize(fork.execute(&get, ts(self.now)));
            prop_assert_eq!(
                &actual,
                &expected,
                "visible state of {:?} at {}",
                slot,
                self.now
            );
            if let (Some(cas), Some(version)) = (cas, version) {
                self.book.bind(slot, version, cas)?;
            }
        }
        Ok(())
    }

    /// After the sequence: a day later every expiring item is gone and only `Never` items stay.
    fn finish(&mut self) -> Result<(), TestCaseError> {
        self.probe()?;
        self.now += DAY;
        self.model.flushes_come_due(self.now);
        self.sweep(usize::MAX)?;
        for item in self.model.items.values() {
            prop_assert_eq!(item.deadline, None);
        }
        self.probe()
    }
}

/// A journal that keeps every effect.
#[derive(Debug, Default)]
struct Recorder {
    effects: Mutex<Vec<OwnedEffect>>,
}

impl Journal for Recorder {
    fn record(&self, effect: &Effect<'_>) -> JournalMark {
        self.effects
            .lock()
            .expect("recorder")
            .push(OwnedEffect::from(effect));
        JournalMark::default()
    }

    fn accepting(&self) -> bool {
        true
    }
}

/// An [`Effect`] with its bytes owned.
#[derive(Clone, Debug)]
struct OwnedEffect {
    time: Timestamp,
    kind: u8,
    state: SnapshotItem,
    shard: u16,
    flush_namespace: Option<NamespaceId>,
    flush_at: Option<Timestamp>,
}

impl From<&Effect<'_>> for OwnedEffect {
    fn from(effect: &Effect<'_>) -> Self {
        let empty = ItemState {
            key: Key::new(NamespaceId(0), b""),
            value: b"",
            flags: 0,
            cas: 0,
            deadline: None,
            sliding: None,
            cookie: LockCookie(0),
            locked_at: None,
            bits: 0,
        };
        let mut owned = OwnedEffect {
            time: effect.time,
            kind: 0,
            state: SnapshotItem::from_state(&empty),
            shard: 0,
            flush_namespace: None,
            flush_at: None,
        };
        match &effect.change {
            Change::Put(state) => owned.state = SnapshotItem::from_state(state),
            Change::Meta(state) => {
                owned.kind = 1;
                owned.state = SnapshotItem::from_state(state);
            }
            Change::Remove(key) => {
                owned.kind = 2;
                owned.state = SnapshotItem::from_state(&ItemState { key: *key, ..empty });
            }
            Change::Flush {
                shard,
                namespace,
                at,
            } => {
                owned.kind = 3;
                owned.shard = *shard;
                owned.flush_namespace = *namespace;
                owned.flush_at = *at;
            }
        }
        owned
    }
}

impl OwnedEffect {
    fn borrow(&self) -> Effect<'_> {
        let change = match self.kind {
            0 => Change::Put(self.state.state()),
            1 => Change::Meta(self.state.state()),
            2 => Change::Remove(self.state.state().key),
            _ => Change::Flush {
                shard: self.shard,
                namespace: self.flush_namespace,
                at: self.flush_at,
            },
        };
        Effect {
            time: self.time,
            change,
        }
    }
}

/// Every live item and pending flush of an engine at `now`, in a comparable order. (The sweep
/// works in whole seconds, so an item that expired within the last second may still be there.)
#[allow(clippy::type_complexity)]
fn durable_state(
    engine: &Engine,
    now: Timestamp,
) -> (Vec<SnapshotItem>, Vec<(u16, Option<u32>, u64)>) {
    let mut items = Vec::new();
    let mut flushes = Vec::new();
    for shard in 0..SHARD_COUNT {
        let snapshot = engine.snapshot_shard(shard);
        items.extend(
            snapshot
                .items
                .into_iter()
                .filter(|item| item.deadline.is_none_or(|deadline| deadline > now)),
        );
        flushes.extend(
            snapshot
                .pending_flushes
                .iter()
                .map(|(namespace, at)| (snapshot.shard, namespace.map(|n| n.0), at.as_millis())),
        );
    }
    items.sort_by(|a, b| (a.namespace, &a.key).cmp(&(b.namespace, &b.key)));
    flushes.sort();
    (items, flushes)
}

fn cases() -> u32 {
    std::env::var("MODEL_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(512)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 20_000,
        // Failing seeds go to tests/model.proptest-regressions and are replayed first.
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn engine_matches_model(
        limit in prop_oneof![1 => Just(1u64 << 30), 1 => 300u64..1_200],
        steps in vec(step(), 1..200),
    ) {
        let mut harness = Harness::new(limit);
        for step in &steps {
            harness.step(step)?;
        }
        harness.finish()?;
    }
}
