//! The sessiond session engine: an in-memory, sharded store with session semantics.
//!
//! The engine is pure: it opens no sockets, starts no threads and reads no clock. Callers pass
//! the time with every command, and every change to the store is a [`Command`] value, so the
//! same commands can be logged, replayed and replicated and give the same store.
//!
//! # Layout
//! - [`time`]: timestamps and expiry requests.
//! - [`key`]: keys and the namespaces (applications) they live in.
//! - [`command`]: the one command set every protocol maps onto, one command per file.
//! - [`Engine`]: shards, routing, the bounded expiry sweep and stats.
//! - memory accounting: writes past the limit are refused, live items are never evicted.
//! - [`journal`]: the effects the engine reports to a write-ahead log or replication, and how
//!   they are applied back ([`Engine::restore`], [`Engine::snapshot_shard`]).
//! - value types: an item holds a string, a hash, a set or a sorted set ([`ValueType`]), kept
//!   in the item's durable bits with collections stored as one encoded value, so the journal,
//!   snapshots and replication carry them unchanged.
//! - expiry events: the keys that really expired, for the namespaces that ask
//!   ([`Engine::report_expired`], [`Engine::drain_expired`]).
//! - atomic blocks: several commands on a declared set of keys with no other command on them
//!   in between, for scripts ([`Engine::atomically`]); renames across shards
//!   ([`Engine::rename`]) and scans ([`Engine::scan`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod collection;
pub mod command;
mod engine;
mod error;
mod events;
mod float;
mod item;
pub mod journal;
pub mod key;
mod long_double;
mod memory;
mod shard;
mod snapshot;
mod stats;
#[cfg(test)]
mod testing;
pub mod time;

pub use collection::ScoreBound;
pub use command::*;
pub use engine::{DEFAULT_MAX_VALUE_SIZE, Engine, EngineConfig, SHARD_COUNT, Transaction};
pub use error::EngineError;
pub use events::{DEFAULT_EXPIRY_EVENT_CAPACITY, ExpiredKey};
pub use float::{FloatPrefix, float_prefix, parse_float};
pub use item::{ItemView, LockCookie, LockInfo, ValueType};
pub use journal::{Change, Effect, ItemState, Journal, JournalMark};
pub use key::{Key, NamespaceId};
pub use long_double::LongDouble;
pub use memory::{ITEM_OVERHEAD, charge};
pub use snapshot::{ShardSnapshot, SnapshotItem};
pub use stats::{Counters, EngineStats};
pub use time::{Expiry, ExpiryUpdate, Timestamp};
