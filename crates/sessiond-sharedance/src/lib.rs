//! The sharedance protocol for sessiond.
//!
//! CONTRACT STUB: the public API below is what the server wires; the implementation is being
//! written.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::time::Duration;

use bytes::BytesMut;
use sessiond_engine::{Engine, NamespaceId, Timestamp};

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

/// One client connection's protocol state.
#[derive(Debug, Default)]
pub struct Connection {}

impl Connection {
    /// A new connection.
    pub fn new() -> Self {
        Connection::default()
    }

    /// Handles the request in `input` once it is complete.
    pub fn process(
        &mut self,
        input: &mut BytesMut,
        output: &mut BytesMut,
        ctx: &Context<'_>,
    ) -> Flow {
        let _ = (input, output, ctx);
        Flow::Close
    }

    /// How many bytes the connection needs buffered before it can make progress, when known.
    pub fn wants(&self, input: &BytesMut) -> Option<usize> {
        let _ = input;
        None
    }
}
