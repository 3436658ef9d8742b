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

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use sessiond_engine::{
    Arithmetic, ArithmeticOutcome, Command, Delete, DeleteMode, DeleteOutcome, Direction, Engine,
    EngineConfig, EngineError, EngineStats, Expiry, Flush, Get, GetOutcome, ItemView, Key,
    LockCookie, LockInfo, NamespaceId, Outcome, ReadSession, ReadSessionOutcome, ReleaseLock,
    ReleaseLockOutcome, RemoveSession, RemoveSessionOutcome, ResetTimeout, ResetTimeoutOutcome,
    Store, StoreMode, StoreOutcome, Timestamp, Touch, TouchOutcome, Vivify, WriteSession,
    WriteSessionOutcome, charge,
};
use sessiond_engine::{Change, Effect, ItemState, Journal, SHARD_COUNT, SnapshotItem};

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
        }
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
        charge(KEYS[slot.1].len(), item.value.len())
    }

    /// (items, key + value bytes, charged memory) of everything physically held.
    fn totals(&self) -> (u64, u64, u64) {
        self.items
            .iter()
            .fold((0, 0, 0), |(n, b, m), (&slot, item)| {
                (
                    n + 1,
                    b + (KEYS[slot.1].len() + item.value.len()) as u64,
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
            Command::Delete(c) => (Outcome::Delete(Ok(self.delete(c, now, book))), None),
            Command::Touch(c) => (Outcome::Touch(Ok(self.touch(c, now))), None),
            Command::Arithmetic(c) => {
                let (outcome, version) = self.arithmetic(c, now, book);
                (Outcome::Arithmetic(outcome), version)
            }
            Command::ReadSession(c) => (Outcome::ReadSession(Ok(self.read_session(c, now))), None),
            Command::ReleaseLock(c) => (Outcome::ReleaseLock(Ok(self.release_lock(c, now))), None),
            Command::WriteSession(c) => {
                let (outcome, version) = self.write_session(c, now);
                (Outcome::WriteSession(outcome), version)
            }
            Command::RemoveSession(c) => (
                Outcome::RemoveSession(Ok(self.remove_session(c, now))),
                None,
            ),
            Command::ResetTimeout(c) => (Outcome::ResetTimeout(self.reset_timeout(c, now)), None),
            other => unreachable!("not generated: {other:?}"),
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

    fn delete(&mut self, c: &Delete<'_>, now: u64, book: &CasBook) -> DeleteOutcome {
        let slot = slot_of(c.key);
        if !self.lookup(slot, now) {
            return DeleteOutcome::NotFound;
        }
        if c.cas
            .is_some_and(|cas| !book.matches(self.items[&slot].version, cas))
        {
            return DeleteOutcome::Exists;
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
        DeleteOutcome::Deleted
    }

    fn touch(&mut self, c: &Touch<'_>, now: u64) -> TouchOutcome {
        let slot = slot_of(c.key);
        if !self.lookup(slot, now) {
            return TouchOutcome::NotFound;
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
        touched
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

    fn read_session(&mut self, c: &ReadSession<'_>, now: u64) -> ReadSessionOutcome {
        let slot = slot_of(c.key);
        if !self.lookup(slot, now) {
            return ReadSessionOutcome::NotFound;
        }
        let item = self.item(slot);
        let initialize = std::mem::take(&mut item.uninitialized);
        item.renew(now);
        item.last_access = now;
        item.fetched = true;
        if let Some(lock) = item.lock() {
            self.lock_contended += 1;
            return ReadSessionOutcome::Locked { lock, initialize };
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
        found
    }

    fn release_lock(&mut self, c: &ReleaseLock<'_>, now: u64) -> ReleaseLockOutcome {
        let slot = slot_of(c.key);
        if !self.lookup(slot, now) {
            return ReleaseLockOutcome::NotFound;
        }
        let item = self.item(slot);
        let initialize = std::mem::take(&mut item.uninitialized);
        item.renew(now);
        match item.lock() {
            None => ReleaseLockOutcome::NotLocked { initialize },
            Some(lock) if lock.cookie == c.cookie => {
                item.locked_at = None;
                ReleaseLockOutcome::Released { initialize }
            }
            Some(lock) => ReleaseLockOutcome::Locked { lock, initialize },
        }
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

    fn remove_session(&mut self, c: &RemoveSession<'_>, now: u64) -> RemoveSessionOutcome {
        let slot = slot_of(c.key);
        if !self.lookup(slot, now) {
            return RemoveSessionOutcome::NotFound;
        }
        let item = self.item(slot);
        if let Some(lock) = item.lock()
            && c.cookie != Some(lock.cookie)
        {
            item.renew(now);
            return RemoveSessionOutcome::Locked { lock };
        }
        self.items.remove(&slot);
        RemoveSessionOutcome::Removed
    }

    fn reset_timeout(&mut self, c: &ResetTimeout<'_>, now: u64) -> ResetTimeoutOutcome {
        let slot = slot_of(c.key);
        if !self.lookup(slot, now) {
            return ResetTimeoutOutcome::NotFound;
        }
        self.item(slot).renew(now);
        ResetTimeoutOutcome::Renewed
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
    ExpireDue(usize),
}

#[derive(Clone, Debug, PartialEq)]
enum CallResult {
    Outcome(Outcome),
    Removed(usize),
}

impl Call {
    fn command(&self) -> Option<Command<'_>> {
        match self {
            Call::Store(store, value) => Some(Command::Store(Store {
                value,
                ..store.clone()
            })),
            Call::WriteSession(write, value) => Some(Command::WriteSession(WriteSession {
                value,
                ..write.clone()
            })),
            Call::Command(command) => Some(command.clone()),
            Call::ExpireDue(_) => None,
        }
    }

    fn run(&self, engine: &Engine, now: u64) -> CallResult {
        match (self, self.command()) {
            (Call::ExpireDue(budget), _) => {
                CallResult::Removed(engine.expire_due(ts(now), *budget))
            }
            (_, Some(command)) => CallResult::Outcome(engine.execute(&command, ts(now))),
            (_, None) => unreachable!(),
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
        other => unreachable!("not generated: {other:?}"),
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
                    b += (KEYS[slot.1].len() + item.value.len()) as u64;
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
            Op::Flush { .. } | Op::ExpireDue { .. } => unreachable!("not keyed"),
        }
    }

    /// Runs a keyed command on both and compares.
    fn keyed(&mut self, call: Call) -> Result<(), TestCaseError> {
        let now = self.now;
        let command = call.command().expect("keyed");
        let slot = slot_of(command_key(&command));

        // The engine drops the flushed ghosts of this key's shard before the command; which
        // ones those are is unknown. If that could decide a write's refusal, flush everywhere.
        if self.model.flushed_slots().iter().any(|&s| s != slot) {
            let mut none_held = self.model.clone();
            none_held.drop_flushed();
            let mut all_held = self.model.clone();
            let a = none_held.apply(&command, now, &self.book).0;
            let b = all_held.apply(&command, now, &self.book).0;
            if a != b {
                self.flush_everywhere()?;
            }
        }

        let (expected, version) = self.model.apply(&command, now, &self.book);
        let result = self.call(call.clone());
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
    fn record(&self, effect: &Effect<'_>) {
        self.effects
            .lock()
            .expect("recorder")
            .push(OwnedEffect::from(effect));
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
