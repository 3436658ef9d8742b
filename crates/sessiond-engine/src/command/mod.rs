//! The engine's one command set. Every protocol maps its requests onto these values.
//!
//! Each command is a plain value holding everything it needs, time excepted: the caller passes
//! the time with it. Applying the same commands with the same times in the same order gives the
//! same store, so commands are what the write-ahead log records and what replication ships.
//! One command per file; each file holds the command, its outcome and how it applies.

mod arithmetic;
mod delete;
mod flush;
mod get;
mod read_session;
mod release_lock;
mod remove_session;
mod reset_timeout;
mod store;
mod touch;
mod write_session;

pub use arithmetic::{Arithmetic, ArithmeticOutcome, Direction, Vivify};
pub use delete::{Delete, DeleteMode, DeleteOutcome};
pub use flush::Flush;
pub use get::{Get, GetOutcome};
pub use read_session::{ReadSession, ReadSessionOutcome};
pub use release_lock::{ReleaseLock, ReleaseLockOutcome};
pub use remove_session::{RemoveSession, RemoveSessionOutcome};
pub use reset_timeout::{ResetTimeout, ResetTimeoutOutcome};
pub use store::{Store, StoreMode, StoreOutcome};
pub use touch::{Touch, TouchOutcome};
pub use write_session::{WriteSession, WriteSessionOutcome};

use crate::error::EngineError;
use crate::key::Key;
use crate::memory::MemoryBudget;
use crate::shard::Shard;
use crate::time::Timestamp;

/// Any command, for callers that handle commands generically (logging, replication, replay).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// See [`Arithmetic`].
    Arithmetic(Arithmetic<'a>),
    /// See [`Delete`].
    Delete(Delete<'a>),
    /// See [`Flush`].
    Flush(Flush),
    /// See [`Get`].
    Get(Get<'a>),
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
}

/// The outcome of any [`Command`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The outcome of an [`Arithmetic`] command.
    Arithmetic(Result<ArithmeticOutcome, EngineError>),
    /// The outcome of a [`Delete`] command.
    Delete(Result<DeleteOutcome, EngineError>),
    /// The outcome of a [`Flush`] command.
    Flush(Result<(), EngineError>),
    /// The outcome of a [`Get`] command.
    Get(Result<GetOutcome, EngineError>),
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
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Arithmetic<'_> {}
    impl Sealed for super::Delete<'_> {}
    impl Sealed for super::Get<'_> {}
    impl Sealed for super::ReadSession<'_> {}
    impl Sealed for super::ReleaseLock<'_> {}
    impl Sealed for super::RemoveSession<'_> {}
    impl Sealed for super::ResetTimeout<'_> {}
    impl Sealed for super::Store<'_> {}
    impl Sealed for super::Touch<'_> {}
    impl Sealed for super::WriteSession<'_> {}
}
