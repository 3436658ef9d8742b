//! The engine's one command set. Every protocol maps its requests onto these values.
//!
//! Each command is a plain value holding everything it needs, time excepted: the caller passes
//! the time with it. Applying the same commands with the same times in the same order gives the
//! same store, so commands are what the write-ahead log records and what replication ships.
//! One command per file; each file holds the command, its outcome and how it applies.
//!
//! # Value types
//! An item holds a string, a hash, a set or a sorted set ([`ValueType`]). The commands of
//! the memcached, ASP.NET and sharedance protocols work on strings only; their namespaces
//! never hold anything else (each protocol, and each Redis database, has its own), but should
//! one meet a collection it is refused with [`EngineError::WrongType`] and left alone, except
//! by [`Delete`] in its plain removal mode, which removes any item, and by [`ResetTimeout`],
//! which has no error to give and answers that there is no session.
//!
//! The commands that Redis-style protocols need are written to work for any protocol:
//! strings ([`WriteString`], [`GetAndDelete`], [`GetAndExpire`], [`Increment`], [`Append`]),
//! any key ([`Expire`], [`Persist`], [`Inspect`], [`Length`], [`Rename`], [`Scan`],
//! [`ReadVersion`]), hashes ([`HashWrite`], [`HashRead`], [`HashReadAll`], [`HashDelete`],
//! [`HashIncrement`], [`HashIncrementFloat`]), sets
//! ([`SetAdd`], [`SetRemove`], [`SetMembers`], [`SetContains`]) and sorted sets
//! ([`SortedSetAdd`], [`SortedSetIncrement`], [`SortedSetRemove`], [`SortedSetRangeByScore`],
//! [`SortedSetRangeByIndex`], [`SortedSetScores`], [`SortedSetRemoveByScore`]). Their reads
//! do not renew sliding deadlines: Redis items have none, and a type or time-to-live query
//! must not extend what it looks at.
//!
//! [`ValueType`]: crate::ValueType

mod append;
mod arithmetic;
mod delete;
mod expire;
mod flush;
mod get;
mod get_and_delete;
mod get_and_expire;
mod hash_delete;
mod hash_increment;
mod hash_increment_float;
mod hash_read;
mod hash_read_all;
mod hash_write;
mod increment;
mod inspect;
mod length;
mod persist;
mod read_session;
mod read_version;
mod release_lock;
mod remove_session;
mod rename;
mod reset_timeout;
mod scan;
mod set_add;
mod set_contains;
mod set_members;
mod set_remove;
mod sorted_set_add;
mod sorted_set_increment;
mod sorted_set_range_by_index;
mod sorted_set_range_by_score;
mod sorted_set_remove;
mod sorted_set_remove_by_score;
mod sorted_set_scores;
mod store;
mod touch;
mod write_session;
mod write_string;

pub use append::Append;
pub use arithmetic::{Arithmetic, ArithmeticOutcome, Direction, Vivify};
pub use delete::{Delete, DeleteMode, DeleteOutcome};
pub use expire::{Expire, ExpireCondition, ExpireOutcome};
pub use flush::Flush;
pub use get::{Get, GetOutcome};
pub use get_and_delete::GetAndDelete;
pub use get_and_expire::GetAndExpire;
pub use hash_delete::HashDelete;
pub use hash_increment::HashIncrement;
pub use hash_increment_float::HashIncrementFloat;
pub use hash_read::HashRead;
pub use hash_read_all::HashReadAll;
pub use hash_write::HashWrite;
pub use increment::{Increment, parse_integer};
pub use inspect::{Inspect, KeyInfo};
pub use length::Length;
pub use persist::Persist;
pub use read_session::{ReadSession, ReadSessionOutcome};
pub use read_version::{ItemVersion, ReadVersion};
pub use release_lock::{ReleaseLock, ReleaseLockOutcome};
pub use remove_session::{RemoveSession, RemoveSessionOutcome};
pub use rename::{Rename, RenameOutcome};
pub use reset_timeout::{ResetTimeout, ResetTimeoutOutcome};
pub use scan::{Scan, ScanPage};
pub use set_add::SetAdd;
pub use set_contains::SetContains;
pub use set_members::SetMembers;
pub use set_remove::SetRemove;
pub use sorted_set_add::{AddCondition, SortedSetAdd, SortedSetAdded};
pub use sorted_set_increment::{IncrementedScore, SortedSetIncrement};
pub use sorted_set_range_by_index::SortedSetRangeByIndex;
pub use sorted_set_range_by_score::SortedSetRangeByScore;
pub use sorted_set_remove::SortedSetRemove;
pub use sorted_set_remove_by_score::SortedSetRemoveByScore;
pub use sorted_set_scores::SortedSetScores;
pub use store::{Store, StoreMode, StoreOutcome};
pub use touch::{Touch, TouchOutcome};
pub use write_session::{WriteSession, WriteSessionOutcome};
pub use write_string::{WriteCondition, WriteString, WriteStringOutcome};

use bytes::Bytes;

use crate::error::EngineError;
use crate::item::{Item, ValueType};
use crate::key::Key;
use crate::memory::MemoryBudget;
use crate::shard::{Lookup, Shard};
use crate::time::Timestamp;

/// Any command, for callers that handle commands generically (logging, replication, replay).
#[derive(Clone, Debug, PartialEq)]
pub enum Command<'a> {
    /// See [`Append`].
    Append(Append<'a>),
    /// See [`Arithmetic`].
    Arithmetic(Arithmetic<'a>),
    /// See [`Delete`].
    Delete(Delete<'a>),
    /// See [`Expire`].
    Expire(Expire<'a>),
    /// See [`Flush`].
    Flush(Flush),
    /// See [`Get`].
    Get(Get<'a>),
    /// See [`GetAndDelete`].
    GetAndDelete(GetAndDelete<'a>),
    /// See [`GetAndExpire`].
    GetAndExpire(GetAndExpire<'a>),
    /// See [`HashDelete`].
    HashDelete(HashDelete<'a>),
    /// See [`HashIncrement`].
    HashIncrement(HashIncrement<'a>),
    /// See [`HashIncrementFloat`].
    HashIncrementFloat(HashIncrementFloat<'a>),
    /// See [`HashRead`].
    HashRead(HashRead<'a>),
    /// See [`HashReadAll`].
    HashReadAll(HashReadAll<'a>),
    /// See [`HashWrite`].
    HashWrite(HashWrite<'a>),
    /// See [`Increment`].
    Increment(Increment<'a>),
    /// See [`Inspect`].
    Inspect(Inspect<'a>),
    /// See [`Length`].
    Length(Length<'a>),
    /// See [`Persist`].
    Persist(Persist<'a>),
    /// See [`Rename`].
    Rename(Rename<'a>),
    /// See [`Scan`].
    Scan(Scan),
    /// See [`SetAdd`].
    SetAdd(SetAdd<'a>),
    /// See [`SetContains`].
    SetContains(SetContains<'a>),
    /// See [`SetMembers`].
    SetMembers(SetMembers<'a>),
    /// See [`SetRemove`].
    SetRemove(SetRemove<'a>),
    /// See [`SortedSetAdd`].
    SortedSetAdd(SortedSetAdd<'a>),
    /// See [`SortedSetIncrement`].
    SortedSetIncrement(SortedSetIncrement<'a>),
    /// See [`SortedSetRangeByIndex`].
    SortedSetRangeByIndex(SortedSetRangeByIndex<'a>),
    /// See [`SortedSetRangeByScore`].
    SortedSetRangeByScore(SortedSetRangeByScore<'a>),
    /// See [`SortedSetRemove`].
    SortedSetRemove(SortedSetRemove<'a>),
    /// See [`SortedSetRemoveByScore`].
    SortedSetRemoveByScore(SortedSetRemoveByScore<'a>),
    /// See [`SortedSetScores`].
    SortedSetScores(SortedSetScores<'a>),
    /// See [`ReadSession`].
    ReadSession(ReadSession<'a>),
    /// See [`ReleaseLock`].
    ReleaseLock(ReleaseLock<'a>),
    /// See [`RemoveSession`].
    RemoveSession(RemoveSession<'a>),
    /// See [`ResetTimeout`].
    ResetTimeout(ResetTimeout<'a>),
    /// See [`Store`].
    Store(Store<'a>),
    /// See [`Touch`].
    Touch(Touch<'a>),
    /// See [`WriteSession`].
    WriteSession(WriteSession<'a>),
    /// See [`WriteString`].
    WriteString(WriteString<'a>),
}

/// The outcome of any [`Command`].
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The outcome of an [`Append`] command: the string's new length.
    Append(Result<u64, EngineError>),
    /// The outcome of an [`Arithmetic`] command.
    Arithmetic(Result<ArithmeticOutcome, EngineError>),
    /// The outcome of a [`Delete`] command.
    Delete(Result<DeleteOutcome, EngineError>),
    /// The outcome of an [`Expire`] command.
    Expire(Result<ExpireOutcome, EngineError>),
    /// The outcome of a [`Flush`] command.
    Flush(Result<(), EngineError>),
    /// The outcome of a [`Get`] command.
    Get(Result<GetOutcome, EngineError>),
    /// The outcome of a [`GetAndDelete`] command: the value it removed.
    GetAndDelete(Result<Option<Bytes>, EngineError>),
    /// The outcome of a [`GetAndExpire`] command: the value it read.
    GetAndExpire(Result<Option<Bytes>, EngineError>),
    /// The outcome of a [`HashDelete`] command: how many fields it deleted.
    HashDelete(Result<u64, EngineError>),
    /// The outcome of a [`HashIncrement`] command: the field's new number.
    HashIncrement(Result<i64, EngineError>),
    /// The outcome of a [`HashIncrementFloat`] command: the field's new text.
    HashIncrementFloat(Result<Bytes, EngineError>),
    /// The outcome of a [`HashRead`] command: each field's value.
    HashRead(Result<Vec<Option<Bytes>>, EngineError>),
    /// The outcome of a [`HashReadAll`] command: every (field, value).
    HashReadAll(Result<Vec<(Bytes, Bytes)>, EngineError>),
    /// The outcome of a [`HashWrite`] command: how many fields are new.
    HashWrite(Result<u64, EngineError>),
    /// The outcome of an [`Increment`] command: the new number.
    Increment(Result<i64, EngineError>),
    /// The outcome of an [`Inspect`] command.
    Inspect(Option<KeyInfo>),
    /// The outcome of a [`Length`] command.
    Length(Result<u64, EngineError>),
    /// The outcome of a [`Persist`] command: whether an expiry was removed.
    Persist(Result<bool, EngineError>),
    /// The outcome of a [`Rename`] command.
    Rename(Result<RenameOutcome, EngineError>),
    /// The outcome of a [`Scan`] command.
    Scan(ScanPage),
    /// The outcome of a [`SetAdd`] command: how many members are new.
    SetAdd(Result<u64, EngineError>),
    /// The outcome of a [`SetContains`] command: whether each member is in the set.
    SetContains(Result<Vec<bool>, EngineError>),
    /// The outcome of a [`SetMembers`] command: the members.
    SetMembers(Result<Vec<Bytes>, EngineError>),
    /// The outcome of a [`SetRemove`] command: how many members it removed.
    SetRemove(Result<u64, EngineError>),
    /// The outcome of a [`SortedSetAdd`] command: how many members are new, how many changed.
    SortedSetAdd(Result<SortedSetAdded, EngineError>),
    /// The outcome of a [`SortedSetIncrement`] command: the member's new score, if the
    /// condition let it be set, and whether it changed.
    SortedSetIncrement(Result<Option<IncrementedScore>, EngineError>),
    /// The outcome of a [`SortedSetRangeByIndex`] command: (member, score) pairs.
    SortedSetRangeByIndex(Result<Vec<(Bytes, f64)>, EngineError>),
    /// The outcome of a [`SortedSetRangeByScore`] command: (member, score) pairs.
    SortedSetRangeByScore(Result<Vec<(Bytes, f64)>, EngineError>),
    /// The outcome of a [`SortedSetRemove`] command: how many members it removed.
    SortedSetRemove(Result<u64, EngineError>),
    /// The outcome of a [`SortedSetRemoveByScore`] command: how many members it removed.
    SortedSetRemoveByScore(Result<u64, EngineError>),
    /// The outcome of a [`SortedSetScores`] command: each member's score.
    SortedSetScores(Result<Vec<Option<f64>>, EngineError>),
    /// The outcome of a [`ReadSession`] command.
    ReadSession(Result<ReadSessionOutcome, EngineError>),
    /// The outcome of a [`ReleaseLock`] command.
    ReleaseLock(Result<ReleaseLockOutcome, EngineError>),
    /// The outcome of a [`RemoveSession`] command.
    RemoveSession(Result<RemoveSessionOutcome, EngineError>),
    /// The outcome of a [`ResetTimeout`] command.
    ResetTimeout(ResetTimeoutOutcome),
    /// The outcome of a [`Store`] command.
    Store(Result<StoreOutcome, EngineError>),
    /// The outcome of a [`Touch`] command.
    Touch(Result<TouchOutcome, EngineError>),
    /// The outcome of a [`WriteSession`] command.
    WriteSession(Result<WriteSessionOutcome, EngineError>),
    /// The outcome of a [`WriteString`] command.
    WriteString(Result<WriteStringOutcome, EngineError>),
}

/// A command that acts on one key, and so on one shard.
///
/// The trait is sealed: its methods take the engine's internals.
pub trait Apply: sealed::Sealed {
    /// What applying the command answers.
    type Outcome;

    /// The key the command acts on.
    fn key(&self) -> Key<'_>;

    /// Applies the command to the key's shard at time `now`.
    #[doc(hidden)]
    fn apply(&self, ctx: &mut ShardContext<'_>, now: Timestamp) -> Self::Outcome;

    /// The outcome that refuses this command with `error`, when the command may change the
    /// store; `None` for a read, which goes on while writes are refused.
    fn refusal(&self, error: EngineError) -> Option<Self::Outcome>;

    /// Whether the engine must compare the key's durable state before and after the command
    /// to tell the journal what changed. A read that can only renew a sliding deadline says
    /// no and notes the renewal itself, which spares the comparison's two extra look-ups.
    #[doc(hidden)]
    fn journaled(&self) -> bool {
        true
    }
}

/// What a keyed command works with: the key's shard, locked, the key's hash in it, and the
/// engine's memory budget.
#[doc(hidden)]
pub struct ShardContext<'a> {
    pub(crate) shard: &'a mut Shard,
    pub(crate) memory: &'a MemoryBudget,
    pub(crate) hash: u64,
    /// Whether a journal listens (renewals are noted for it).
    pub(crate) journaling: bool,
    /// The largest value the engine builds itself.
    pub(crate) max_value: usize,
}

impl ShardContext<'_> {
    /// The live item under `key`, removing it first if it has expired.
    pub(crate) fn live(&mut self, key: Key<'_>, now: Timestamp) -> Option<u32> {
        match self.shard.lookup(self.hash, key, now, self.memory) {
            Lookup::Live(index) => Some(index),
            Lookup::Absent | Lookup::Expired => None,
        }
    }

    /// The live item under `key` if it holds a `value_type`; [`EngineError::WrongType`] if
    /// it holds something else.
    pub(crate) fn live_of(
        &mut self,
        key: Key<'_>,
        value_type: ValueType,
        now: Timestamp,
    ) -> Result<Option<u32>, EngineError> {
        let Some(index) = self.live(key, now) else {
            return Ok(None);
        };
        if self.shard.item(index).value_type() != value_type {
            return Err(EngineError::WrongType);
        }
        Ok(Some(index))
    }

    /// Refuses a value the engine built past the value size limit.
    pub(crate) fn check_size(&self, len: usize) -> Result<(), EngineError> {
        if len > self.max_value {
            return Err(EngineError::TooLarge);
        }
        Ok(())
    }

    /// Makes `encoded`, a collection of `len` entries, the value of `key` (whose live item,
    /// if any, is at `found`): replaces the item's value, keeping its expiry, or creates an
    /// item with no expiry; an empty collection removes the key, as Redis never keeps one.
    pub(crate) fn put_collection(
        &mut self,
        found: Option<u32>,
        key: Key<'_>,
        value_type: ValueType,
        encoded: &[u8],
        len: usize,
        now: Timestamp,
    ) -> Result<(), EngineError> {
        if len == 0 {
            if let Some(index) = found {
                self.shard.remove(index, self.memory);
            }
            return Ok(());
        }
        self.check_size(encoded.len())?;
        match found {
            Some(index) => {
                self.shard.set_value(index, encoded, self.memory)?;
                self.shard.counters.total_items += 1;
                let cas = self.shard.next_cas();
                let item = self.shard.item_mut(index);
                item.cas = cas;
                item.renew(now);
                self.shard.schedule(index);
            }
            None => {
                let cas = self.shard.next_cas();
                let item = Item::collection(value_type, cas, now);
                self.shard
                    .insert(self.hash, key, encoded, item, self.memory)?;
            }
        }
        Ok(())
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Append<'_> {}
    impl Sealed for super::Arithmetic<'_> {}
    impl Sealed for super::Delete<'_> {}
    impl Sealed for super::Expire<'_> {}
    impl Sealed for super::Get<'_> {}
    impl Sealed for super::GetAndDelete<'_> {}
    impl Sealed for super::GetAndExpire<'_> {}
    impl Sealed for super::HashDelete<'_> {}
    impl Sealed for super::HashIncrement<'_> {}
    impl Sealed for super::HashIncrementFloat<'_> {}
    impl Sealed for super::HashRead<'_> {}
    impl Sealed for super::HashReadAll<'_> {}
    impl Sealed for super::HashWrite<'_> {}
    impl Sealed for super::Increment<'_> {}
    impl Sealed for super::Inspect<'_> {}
    impl Sealed for super::Length<'_> {}
    impl Sealed for super::Persist<'_> {}
    impl Sealed for super::SetAdd<'_> {}
    impl Sealed for super::SetContains<'_> {}
    impl Sealed for super::SetMembers<'_> {}
    impl Sealed for super::SetRemove<'_> {}
    impl Sealed for super::SortedSetAdd<'_> {}
    impl Sealed for super::SortedSetIncrement<'_> {}
    impl Sealed for super::SortedSetRangeByIndex<'_> {}
    impl Sealed for super::SortedSetRangeByScore<'_> {}
    impl Sealed for super::SortedSetRemove<'_> {}
    impl Sealed for super::SortedSetRemoveByScore<'_> {}
    impl Sealed for super::SortedSetScores<'_> {}
    impl Sealed for super::ReadSession<'_> {}
    impl Sealed for super::ReadVersion<'_> {}
    impl Sealed for super::ReleaseLock<'_> {}
    impl Sealed for super::RemoveSession<'_> {}
    impl Sealed for super::ResetTimeout<'_> {}
    impl Sealed for super::Store<'_> {}
    impl Sealed for super::Touch<'_> {}
    impl Sealed for super::WriteSession<'_> {}
    impl Sealed for super::WriteString<'_> {}
}
