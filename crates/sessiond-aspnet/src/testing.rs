//! A test bench: connections driven through [`crate::Connection::process`] on a real engine.

use bytes::BytesMut;
use sessiond_engine::{Engine, EngineConfig, NamespaceId, Timestamp};

use crate::{Applications, Connection, Context, Flow, Limits};

/// The namespace of applications that share with none.
pub(crate) const SEPARATE: NamespaceId = NamespaceId(1);

/// An engine, the shared state around it, and a clock the test moves.
pub(crate) struct Bench {
    pub(crate) engine: Engine,
    pub(crate) limits: Limits,
    pub(crate) applications: Applications,
    pub(crate) now: Timestamp,
}

impl Bench {
    pub(crate) fn new() -> Self {
        Bench::with_limits(Limits::default())
    }

    pub(crate) fn with_limits(limits: Limits) -> Self {
        Bench::with_engine(Engine::new(EngineConfig::default()), limits)
    }

    pub(crate) fn with_engine(engine: Engine, limits: Limits) -> Self {
        Bench {
            engine,
            limits,
            applications: Applications::new(SEPARATE),
            now: Timestamp::from_millis(1_700_000_000_000),
        }
    }

    pub(crate) fn ctx(&self) -> Context<'_> {
        Context {
            engine: &self.engine,
            now: self.now,
            limits: &self.limits,
            applications: &self.applications,
        }
    }

    /// Moves the clock on.
    pub(crate) fn advance_millis(&mut self, millis: u64) {
        self.now = Timestamp::from_millis(self.now.as_millis() + millis);
    }

    /// Moves the clock on.
    pub(crate) fn advance_secs(&mut self, secs: u64) {
        self.advance_millis(secs * 1000);
    }

    /// Sends `bytes` on a new connection and returns the responses.
    pub(crate) fn once(&self, bytes: &[u8]) -> String {
        Client::default().send(self, bytes)
    }
}

/// One client connection with its buffers.
#[derive(Default)]
pub(crate) struct Client {
    pub(crate) conn: Connection,
    pub(crate) input: BytesMut,
    pub(crate) closed: bool,
}

impl Client {
    /// Sends `bytes` in one piece and returns the responses.
    pub(crate) fn send(&mut self, bench: &Bench, bytes: &[u8]) -> String {
        self.send_in(bench, bytes, bytes.len().max(1))
    }

    /// Sends `bytes` in pieces of `piece` bytes, processing after each, and returns the
    /// responses (lossily as text: bodies in tests are text).
    pub(crate) fn send_in(&mut self, bench: &Bench, bytes: &[u8], piece: usize) -> String {
        String::from_utf8_lossy(&self.send_bytes(bench, bytes, piece)).into_owned()
    }

    /// As [`Client::send_in`], the responses as bytes.
    pub(crate) fn send_bytes(&mut self, bench: &Bench, bytes: &[u8], piece: usize) -> Vec<u8> {
        let mut replies = Vec::new();
        for chunk in bytes.chunks(piece) {
            assert!(!self.closed, "sent on a closed connection");
            self.input.extend_from_slice(chunk);
            // The server calls again after writing out a full output buffer.
            loop {
                let mut output = BytesMut::new();
                let before = self.input.len();
                let flow = self
                    .conn
                    .process(&mut self.input, &mut output, &bench.ctx());
                replies.extend_from_slice(&output);
                if flow == Flow::Close {
                    self.closed = true;
                    return replies;
                }
                if self.input.len() == before {
                    break;
                }
            }
        }
        replies
    }
}
