//! The sharedance protocol for sessiond, as sharedance 0.7 (Frank Denis) speaks it.
//!
//! This crate turns bytes into engine commands and engine outcomes into bytes. It does no I/O:
//! the server reads into a buffer, calls [`Connection::process`] after every read, writes what
//! it appended to the output buffer and closes the connection.
//!
//! # The protocol
//! One request per connection, its lengths 32-bit big-endian:
//! - store: `S keylen:u32 datalen:u32 key data`, answered `OK\n`;
//! - fetch: `F keylen:u32 key`, answered with the value's raw bytes (the client reads to EOF);
//! - delete: `D keylen:u32 key`, answered `OK\n`.
//!
//! Every failure is a close without a byte: an unknown opcode, a key that is empty or holds a
//! byte outside 32..=126 or a `.` or `/`, bytes after the request, a request over
//! [`Limits::max_request_size`], a store the engine refuses for memory, the fetch of a missing
//! or empty value and the delete of a missing key. [`Connection::refusal`] says which refusal,
//! for logs.
//!
//! # Differences from sharedance
//! sharedance keeps each value in a file named after its key; sessiond keeps it in the engine.
//! What changes for a client:
//! - A key over [`Limits::max_key_len`] is refused. sharedance has no such check, but the
//!   file system refuses names over `NAME_MAX` (255 on Linux); since a store writes `.key`
//!   first, sharedance cannot store a 255-byte key, which sessiond with its default can.
//! - A request is refused as soon as its header or key shows it is bad, not once it has all
//!   arrived; a request with an empty key is refused at once, where sharedance waits for the
//!   idle timeout.
//! - A store refused for memory gets no `OK\n`; sharedance ignores write errors and answers
//!   `OK\n` over a truncated file.
//! - Expiry is exact ([`Lifetime`]); sharedance's cleaner runs every minute, so its values live
//!   up to a minute longer, and serves them until it does.
//!
//! # Layout
//! - `header`: the opcode and lengths at the front of a request.
//! - `key`: which keys sharedance accepts.
//! - `framing`: when a request is complete, and when to give up on it.
//! - `run`: a complete request as an engine command, and its reply.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod framing;
mod header;
mod key;
mod run;

#[cfg(test)]
mod tests;

use std::time::Duration;

use bytes::BytesMut;
use sessiond_engine::{Engine, NamespaceId, Timestamp};

use framing::{Framing, Step};

/// The reply to a successful store or delete.
pub const REPLY_OK: &[u8] = b"OK\n";

/// Bounds on one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest request, header and key and data together (sharedance's `--maxreadsize`).
    pub max_request_size: usize,
    /// The longest key.
    pub max_key_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_size: 32 << 20,
            max_key_len: 255,
        }
    }
}

/// How long a stored value lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifetime {
    /// This long after the last store; fetches do not extend it (sharedance's own rule).
    Fixed(Duration),
    /// This long after the last store or fetch.
    Sliding(Duration),
}

/// What a request runs with.
pub struct Context<'a> {
    /// The store.
    pub engine: &'a Engine,
    /// The time the request is handled at.
    pub now: Timestamp,
    /// The connection's limits.
    pub limits: &'a Limits,
    /// The namespace sharedance keys live in.
    pub namespace: NamespaceId,
    /// How long stored values live.
    pub lifetime: Lifetime,
}

/// Whether the connection goes on after the bytes processed so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// The request is not complete yet: keep reading.
    Continue,
    /// Send what is in the output buffer, then close the connection.
    Close,
}

/// Why a connection was closed without an answer, where the client did something wrong or
/// the store could not take the value. Misses are not refusals: they are answered, with nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The first byte is not `S`, `F` or `D`.
    UnknownCommand(u8),
    /// The key is empty.
    EmptyKey,
    /// The key is longer than [`Limits::max_key_len`].
    KeyTooLong,
    /// The key holds a byte outside 32..=126, or a `.` or `/`.
    InvalidKey,
    /// The request is larger than [`Limits::max_request_size`].
    RequestTooLarge,
    /// More bytes arrived than the request's lengths announce.
    TrailingBytes,
    /// The engine is at its memory limit and refused the store.
    OutOfMemory,
    /// A store or delete refused because the server cannot make writes durable now.
    Unavailable,
}

/// One client connection's protocol state.
#[derive(Debug, Default)]
pub struct Connection {
    framing: Framing,
    refusal: Option<Refusal>,
}

impl Connection {
    /// A new connection.
    pub fn new() -> Self {
        Connection::default()
    }

    /// Handles the request in `input`, which holds all bytes received so far, once it is
    /// complete.
    ///
    /// Returns [`Flow::Continue`], leaving `input` alone, while the request is incomplete.
    /// Once the request is answered or refused, appends the answer (possibly nothing) to
    /// `output`, empties `input` and returns [`Flow::Close`]; every later call does nothing but
    /// return [`Flow::Close`] again, so a request never runs twice.
    pub fn process(
        &mut self,
        input: &mut BytesMut,
        output: &mut BytesMut,
        ctx: &Context<'_>,
    ) -> Flow {
        match self.framing.step(input, ctx.limits) {
            Step::Wait => return Flow::Continue,
            Step::Closed => {}
            Step::Refuse(refusal) => self.refusal = Some(refusal),
            Step::Ready(frame) => {
                if let Err(refusal) = run::run(&frame, input, output, ctx) {
                    self.refusal = Some(refusal);
                }
            }
        }
        input.clear();
        Flow::Close
    }

    /// The length of the whole request, header, key and data, once its header has been seen
    /// by [`Connection::process`] and found within the limits; the server sizes reads by it.
    /// `None` before then, and after the connection has closed.
    pub fn wants(&self, input: &BytesMut) -> Option<usize> {
        // The header is read from the input once, by `process`; the length it gave holds for
        // as long as the input only grows.
        let _ = input;
        self.framing.total()
    }

    /// Why the request was refused, once [`Connection::process`] has closed the connection
    /// without answering it for a reason other than a miss.
    pub fn refusal(&self) -> Option<Refusal> {
        self.refusal
    }
}
