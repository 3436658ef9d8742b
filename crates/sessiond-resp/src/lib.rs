//! The Redis protocol for sessiond: RESP requests in, engine commands, RESP2 or RESP3 replies
//! out.
//!
//! This crate does no I/O. The server reads into a buffer and calls
//! [`Connection::process`], which finds each complete command with the [`Parser`], runs it on
//! the engine (one file per command or small family under `commands/`, as in mini-redis),
//! and answers through an [`Encoder`] writing into the output buffer; the server writes that
//! out.
//!
//! # Requests
//! Requests are read as Redis 7 reads them (`processMultibulkBuffer`,
//! `processInlineBuffer` and `sdssplitargs` in its source): multibulk arrays of bulk strings,
//! which every client library sends, and inline commands, typed into `telnet`. Arguments are
//! borrowed, from the input buffer for multibulk requests; pipelined requests are read one
//! after the other. A bad request gets Redis's exact protocol error (checked against
//! redis-server 7.0.15 over raw sockets), and then the connection ends, as it does in Redis.
//!
//! Where sessiond differs from Redis:
//! - A line is judged by its length alone, so that the answer never depends on how the bytes
//!   were split into reads. Redis checks its 64 KiB line limit only while a line's end has not
//!   arrived, so a longer line can pass when it arrives in one read; here it is refused as
//!   Redis refuses it when the bytes arrive one by one.
//! - [`Limits`] has sessiond's defaults: arguments up to 8 MiB (Redis: 512 MiB), up to
//!   1024 × 1024 of them (Redis 7: 2^31 − 1), and a request may take up to 16 MiB of buffer,
//!   refused as soon as its declared lengths pass that, with a close and no reply, as Redis
//!   closes a client past its 1 GiB query buffer limit.
//! - A transaction queues at most [`Limits::max_queued_commands`] commands and
//!   [`Limits::max_transaction_bytes`] bytes (Redis: no limit).
//!
//! # Commands
//! Each command answers as redis-server 7.0 answers it, errors included, byte for byte; the
//! transcript tests in `crates/sessiond/tests/resp.rs` (connections, strings, keys),
//! `resp_types.rs` (hashes, sets, sorted sets, Spring Session's sequence) and `resp_pubsub.rs`
//! (pub/sub, keyspace events) run the same commands against a real redis-server and compare.
//! Databases (`SELECT 0` to `15`) are engine namespaces given by the server
//! ([`Config::databases`]). The deliberate differences are listed in the README ("Where
//! sessiond answers differently from Redis").
//!
//! Hashes, sets and sorted sets are the engine's value types, and every command on them is
//! one engine command (`HashWrite`, `SetAdd`, `SortedSetIncrement`, ...), so their changes
//! reach the journal and replication as any write does. The protocol side reads arguments as
//! Redis does: options and their conflicts in Redis's order (`ZADD`'s `NX`/`XX`/`GT`/`LT`/
//! `CH`/`INCR`, the `ZRANGE` family's `BYSCORE`/`BYLEX`/`REV`/`LIMIT`/`WITHSCORES`), numbers
//! with C's `strtod` and Redis's checks on top (`args`), score ranges with `(` and `inf` as
//! `zslParseRange` reads them. `HINCRBYFLOAT` adds in the engine's emulation of the 80-bit
//! long double Redis uses on x86-64, so its text is Redis's digit for digit. `ZRANGE ...
//! BYLEX` reads the sorted set and selects the members as Redis walks a small one; the rest
//! is the engine's. Replies take RESP3's types where Redis 7 does: `HGETALL` a map,
//! `SMEMBERS` a set, scores doubles, `WITHSCORES` pairs.
//!
//! # Pub/sub and keyspace notifications
//! `SUBSCRIBE`, `PSUBSCRIBE`, their opposites, `PUBLISH` and `PUBSUB` work over one hub per
//! server ([`Shared`]): channels are server-wide, as in Redis. A subscriber's messages wait in
//! its [`Inbox`], bounded by [`Config::pubsub_limit`] (a subscriber that falls further behind
//! is cut off and closed, as Redis's `client-output-buffer-limit pubsub` does); the server
//! waits on the inbox beside the socket and calls [`Connection::process`] when it fires, which
//! writes the messages. A RESP2 client that subscribes is in Redis's subscribed state (only
//! the (un)subscribe commands, `PING`, `QUIT` and `RESET`); a RESP3 client gets push messages
//! and may run anything. Commands fire Redis 7.0's keyspace events as
//! `notify-keyspace-events` selects them; expirations come from the engine through the server
//! ([`Shared::follow_expiry`], [`Shared::deliver_expired`]). Nothing of this costs a command
//! anything while nobody subscribes.
//!
//! # Replies
//! [`Encoder`] writes every RESP3 type a session server needs, and for a RESP2 connection
//! ([`Version`]) the RESP2 form Redis writes for it. Doubles are written as Redis 7.2 and later
//! write them, the shortest text that reads back the same (`0.1`); Redis 7.0 wrote 17
//! significant digits (`0.10000000000000001`).
//!
//! # Layout
//! - `connection`: [`Connection`], a client's session state and the command loop.
//! - `commands`: the command table and dispatch (unknown commands, arity, authentication,
//!   queueing inside a transaction), then one module per command or family; `reply`: the
//!   errors they answer; `args`: reading integers, doubles, score bounds and options as Redis
//!   does; `glob`: Redis's pattern matching.
//! - `transaction`: a connection's `MULTI` queue and watched keys.
//! - `script`: Lua scripts (`EVAL`): the embedded Lua 5.1, Redis's sandbox and libraries, the
//!   script cache, conversions between Lua values and replies ([`ScriptLimits`] bound them).
//!   A script's `redis.call` runs the same handlers, inside the script's atomic block.
//! - `shared`: [`Shared`], what all connections share ([`Config`], keyspace settings, the
//!   hub); `clients`: [`Clients`], the client list.
//! - `pubsub`: the hub, each connection's subscriptions and [`Inbox`]; `keyspace`: the event
//!   classes and publishing keyspace events.
//! - `parser`: [`Parser`], which finds each command and keeps what a partial one has shown.
//! - `multibulk`, `inline`: the two request forms; `line`: how their lines end; `number`:
//!   Redis's integer syntax for lengths.
//! - `command`: [`Command`], a parsed command's arguments.
//! - `limits`: [`Limits`], [`Access`]; `error`: [`ProtocolError`] and how it ends the
//!   connection ([`Close`]).
//! - `encoder`: [`Encoder`], [`Version`]; `double`: how doubles are written.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod args;
mod clients;
mod command;
mod commands;
mod connection;
mod double;
mod encoder;
mod error;
mod glob;
mod inline;
mod keyspace;
mod limits;
mod line;
mod multibulk;
mod number;
mod parser;
mod pubsub;
mod reply;
mod script;
mod shared;
mod transaction;

pub use clients::{Clients, Peer};
pub use command::{Args, Command};
pub use connection::Connection;
pub use encoder::{Encoder, Version};
pub use error::{Close, ProtocolError};
pub use keyspace::KeyspaceEvents;
pub use limits::{Access, Limits};
pub use parser::Parser;
pub use pubsub::{DEFAULT_PUBSUB_LIMIT, Inbox};
pub use script::{MonotonicClock, ScriptLimits};
pub use shared::{Config, DATABASES, Shared};

use sessiond_engine::{Engine, Timestamp};

/// The version `HELLO` and `INFO` report: the Redis version whose behaviour sessiond follows,
/// so that clients that pick features by version pick those sessiond has.
pub const REDIS_VERSION: &str = "7.0.15";

/// Replies a connection may hold before it stops running buffered commands and lets the
/// server write them out: a client that pipelines many reads of a large value without
/// reading the replies costs the server at most about this much memory.
pub const OUTPUT_HIGH_WATER: usize = 256 * 1024;

/// What a command runs with: the engine, the time, and the state connections share.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The store.
    pub engine: &'a Engine,
    /// The time the commands are handled at.
    pub now: Timestamp,
    /// Settings, client list, keyspace settings.
    pub shared: &'a Shared,
}

/// Whether the connection goes on after the bytes processed so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep reading commands.
    Continue,
    /// Send what is in the output buffer, then close the connection (`QUIT`, a protocol
    /// error).
    Close,
}
