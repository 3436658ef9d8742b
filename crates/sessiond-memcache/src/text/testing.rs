//! A test bench: connections driven through [`crate::Connection::process`] on a real engine.

use bytes::BytesMut;
use sessiond_engine::{Engine, EngineConfig, NamespaceId, Timestamp};

use crate::{Connection, Context, Flow, Limits, ProtocolCounters, ServerInfo, ServerStats};

/// Server figures for `stats`: fixed.
pub(crate) struct FixedServer;

impl ServerInfo for FixedServer {
    fn server_stats(&self) -> ServerStats {
        ServerStats {
            pid: 42,
            threads: 2,
            max_connections: 1024,
            ..ServerStats::default()
        }
    }
}

/// An engine, the shared state around it, and a clock the test moves.
pub(crate) struct Bench {
    pub(crate) engine: Engine,
    pub(crate) limits: Limits,
    pub(crate) counters: ProtocolCounters,
    pub(crate) now: Timestamp,
    pub(crate) namespace: NamespaceId,
}

impl Bench {
    pub(crate) fn new() -> Self {
        Bench::with_limits(Limits::default())
    }

    pub(crate) fn with_limits(limits: Limits) -> Self {
        Bench {
            engine: Engine::new(EngineConfig::default()),
            limits,
            counters: ProtocolCounters::default(),
            now: Timestamp::from_secs(1_700_000_000),
            namespace: NamespaceId::DEFAULT,
        }
    }

    pub(crate) fn ctx(&self) -> Context<'_> {
        Context {
            engine: &self.engine,
            now: self.now,
            limits: &self.limits,
            namespace: self.namespace,
            counters: &self.counters,
            server: &FixedServer,
        }
    }

    /// Moves the clock on.
    pub(crate) fn advance_secs(&mut self, secs: u64) {
        self.now = Timestamp::from_millis(self.now.as_millis() + secs * 1000);
    }

    /// A new connection.
    pub(crate) fn client(&self) -> Client {
        Client::default()
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
    /// Sends `bytes` in one piece and returns the replies.
    pub(crate) fn send(&mut self, bench: &Bench, bytes: &[u8]) -> Vec<u8> {
        self.send_in(bench, bytes, bytes.len().max(1))
    }

    /// Sends `bytes` in pieces of `piece` bytes, processing after each, and returns the replies.
    pub(crate) fn send_in(&mut self, bench: &Bench, bytes: &[u8], piece: usize) -> Vec<u8> {
        let mut output = BytesMut::new();
        let ctx = bench.ctx();
        for chunk in bytes.chunks(piece) {
            if self.closed {
                break;
            }
            self.input.extend_from_slice(chunk);
            if self.conn.process(&mut self.input, &mut output, &ctx) == Flow::Close {
                self.closed = true;
            }
        }
        output.to_vec()
    }
}

/// Runs `request` on a fresh connection of `bench` and returns the replies as text.
pub(crate) fn send(bench: &Bench, request: &[u8]) -> String {
    let mut client = bench.client();
    String::from_utf8_lossy(&client.send(bench, request)).into_owned()
}
