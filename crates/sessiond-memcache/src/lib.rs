//! The memcached protocols for sessiond: text (classic and meta commands) and binary.
//!
//! This crate turns bytes into engine commands and engine outcomes into bytes. It does no I/O:
//! the server reads into a buffer, calls [`Connection::process`], and writes what it appended
//! to the output buffer. Which protocol a connection speaks is decided by its first byte, as
//! memcached does: `0x80` is the binary request magic, anything else is text.
//!
//! # Layout
//! - [`exptime`]: memcached's expiration-time rule, mapped onto engine expiries.
//! - [`text`]: the text protocol, classic commands and meta commands.
//! - [`binary`]: the binary protocol.
//! - [`stats`]: the figures `stats` reports, shared by both.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod binary;
pub mod exptime;
pub mod stats;
pub mod text;

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::BytesMut;
use sessiond_engine::{Engine, NamespaceId, Timestamp};

pub use stats::ServerStats;

/// The version string both protocols report.
pub const VERSION: &str = concat!("1.6.21 sessiond-", env!("CARGO_PKG_VERSION"));

/// Replies a connection may hold before it stops handling buffered requests and lets the
/// server write them out. A client that pipelines many reads of a large value without reading
/// the replies then costs the server at most this much memory, not the sum of the values.
pub const OUTPUT_HIGH_WATER: usize = 256 * 1024;

/// Limits a connection enforces, each with memcached's default unless noted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The longest key, in bytes (memcached: 250).
    pub max_key_len: usize,
    /// The largest value, in bytes (memcached's `-I`; sessiond's default is 8 MiB).
    pub max_item_size: usize,
    /// The longest text command line that is not a retrieval, in bytes (memcached: 2048).
    pub max_line_len: usize,
    /// The longest retrieval line (`get k1 k2 ...`), in bytes: multi-gets may carry many keys.
    pub max_get_line_len: usize,
    /// The most keys one retrieval command may name.
    pub max_keys_per_get: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_key_len: 250,
            max_item_size: 8 << 20,
            max_line_len: 2048,
            max_get_line_len: 1 << 20,
            max_keys_per_get: 10_000,
        }
    }
}

/// Protocol-level counters shared by all connections, reported by `stats`.
#[derive(Debug, Default)]
pub struct ProtocolCounters {
    /// `flush_all` commands.
    pub cmd_flush: AtomicU64,
    /// Meta commands.
    pub cmd_meta: AtomicU64,
    /// Stores refused because the value was over the item size limit.
    pub store_too_large: AtomicU64,
    /// Stores refused because the memory limit was reached.
    pub store_no_memory: AtomicU64,
}

impl ProtocolCounters {
    /// Adds one to a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Figures only the server knows, asked for when a client sends `stats`.
pub trait ServerInfo {
    /// The server's current figures.
    fn server_stats(&self) -> ServerStats;
}

/// What a request runs with: the engine, the time, the limits and the server's figures.
pub struct Context<'a> {
    /// The store.
    pub engine: &'a Engine,
    /// The time the request is handled at.
    pub now: Timestamp,
    /// The connection's limits.
    pub limits: &'a Limits,
    /// The namespace memcached keys live in.
    pub namespace: NamespaceId,
    /// Counters shared by all connections.
    pub counters: &'a ProtocolCounters,
    /// Server-level figures for `stats`.
    pub server: &'a dyn ServerInfo,
}

/// Whether the connection goes on after the bytes processed so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep reading requests.
    Continue,
    /// Send what is in the output buffer, then close the connection (`quit`, or an error after
    /// which memcached closes too).
    Close,
}

/// One client connection's protocol state.
#[derive(Debug, Default)]
pub struct Connection {
    state: State,
}

#[derive(Debug, Default)]
enum State {
    /// No byte seen yet.
    #[default]
    Detect,
    Text(text::TextConnection),
    Binary(binary::BinaryConnection),
}

impl Connection {
    /// A new connection whose protocol is not known yet.
    pub fn new() -> Self {
        Connection::default()
    }

    /// Handles the complete requests at the front of `input`, removing them from `input` and
    /// appending the replies to `output`. Incomplete requests stay in `input` for the next call.
    /// Stops early, with complete requests left in `input`, once `output` holds
    /// [`OUTPUT_HIGH_WATER`] bytes: the caller writes the output out and calls again.
    pub fn process(
        &mut self,
        input: &mut BytesMut,
        output: &mut BytesMut,
        ctx: &Context<'_>,
    ) -> Flow {
        if let State::Detect = self.state {
            match input.first() {
                None => return Flow::Continue,
                Some(&binary::REQUEST_MAGIC) => {
                    self.state = State::Binary(binary::BinaryConnection::default());
                }
                Some(_) => self.state = State::Text(text::TextConnection::default()),
            }
        }
        match &mut self.state {
            State::Detect => Flow::Continue,
            State::Text(conn) => conn.process(input, output, ctx),
            State::Binary(conn) => conn.process(input, output, ctx),
        }
    }

    /// How many bytes the connection needs buffered before it can make progress, when it knows
    /// (a value being received); the server uses it to size reads. `None` when unknown.
    pub fn wants(&self, input: &BytesMut) -> Option<usize> {
        match &self.state {
            State::Detect => None,
            State::Text(conn) => conn.wants(input),
            State::Binary(conn) => conn.wants(input),
        }
    }
}
