//! Tests of the protocol through [`crate::Connection::process`] on a real engine.
//!
//! Each request is fed as the server feeds it: all bytes received so far, after every read.

mod lifetime;
mod props;
mod refusals;
mod splits;
mod transcripts;

use std::time::Duration;

use bytes::BytesMut;
use sessiond_engine::{Engine, EngineConfig, Get, GetOutcome, Key, NamespaceId, Timestamp};

use crate::{Connection, Context, Flow, Lifetime, Limits, Refusal};

/// The time tests start at.
pub(crate) const T0: Timestamp = Timestamp::from_secs(1_700_000_000);

/// sharedance's default lifetime, 30 minutes.
pub(crate) const HALF_HOUR: Duration = Duration::from_secs(1800);

/// An engine, the settings a connection runs with, and a clock the test moves.
pub(crate) struct Bench {
    pub(crate) engine: Engine,
    pub(crate) limits: Limits,
    pub(crate) now: Timestamp,
    pub(crate) namespace: NamespaceId,
    pub(crate) lifetime: Lifetime,
}

/// What one connection did with the bytes it was fed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Exchange {
    /// The flow after the last piece fed.
    pub(crate) flow: Flow,
    /// Everything the connection wrote.
    pub(crate) reply: Vec<u8>,
    /// Why it refused the request, if it did.
    pub(crate) refusal: Option<Refusal>,
}

impl Bench {
    pub(crate) fn new() -> Self {
        Bench {
            engine: Engine::new(EngineConfig::default()),
            limits: Limits::default(),
            now: T0,
            // Not the default namespace, so a key filed in the wrong one shows.
            namespace: NamespaceId(7),
            lifetime: Lifetime::Fixed(HALF_HOUR),
        }
    }

    pub(crate) fn with_limits(limits: Limits) -> Self {
        Bench {
            limits,
            ..Bench::new()
        }
    }

    pub(crate) fn with_lifetime(lifetime: Lifetime) -> Self {
        Bench {
            lifetime,
            ..Bench::new()
        }
    }

    pub(crate) fn ctx(&self) -> Context<'_> {
        Context {
            engine: &self.engine,
            now: self.now,
            limits: &self.limits,
            namespace: self.namespace,
            lifetime: self.lifetime,
        }
    }

    /// Feeds `request` on a new connection in one read.
    pub(crate) fn send(&self, request: &[u8]) -> Exchange {
        self.send_pieces(&[request])
    }

    /// Feeds `pieces` on a new connection, one read each, until the connection closes.
    pub(crate) fn send_pieces(&self, pieces: &[&[u8]]) -> Exchange {
        self.send_counting(pieces).0
    }

    /// As [`Bench::send_pieces`], also saying how many pieces were fed before the close.
    pub(crate) fn send_counting(&self, pieces: &[&[u8]]) -> (Exchange, usize) {
        let ctx = self.ctx();
        let mut conn = Connection::new();
        let mut input = BytesMut::new();
        let mut output = BytesMut::new();
        let mut flow = Flow::Continue;
        let mut fed = 0;
        for piece in pieces {
            input.extend_from_slice(piece);
            fed += 1;
            flow = conn.process(&mut input, &mut output, &ctx);
            if flow == Flow::Close {
                break;
            }
            assert!(output.is_empty(), "no reply before the request is complete");
        }
        let exchange = Exchange {
            flow,
            reply: output.to_vec(),
            refusal: conn.refusal(),
        };
        (exchange, fed)
    }

    /// The live value under `name` in the bench's namespace at the bench's time. A read: it
    /// renews a sliding value from that time.
    pub(crate) fn value(&self, name: &[u8]) -> Option<Vec<u8>> {
        self.value_in(self.namespace, name)
    }

    /// The live value under `name` in `namespace` at the bench's time.
    pub(crate) fn value_in(&self, namespace: NamespaceId, name: &[u8]) -> Option<Vec<u8>> {
        match self
            .engine
            .run(&Get::new(Key::new(namespace, name)), self.now)
        {
            Ok(GetOutcome::Hit(view)) => Some(view.value.to_vec()),
            Ok(GetOutcome::Miss) | Err(_) => None,
        }
    }
}

/// An exchange that closed with `reply` and no refusal.
pub(crate) fn answered(reply: &[u8]) -> Exchange {
    Exchange {
        flow: Flow::Close,
        reply: reply.to_vec(),
        refusal: None,
    }
}

/// An exchange that closed with nothing sent, for `refusal`.
pub(crate) fn refused(refusal: Refusal) -> Exchange {
    Exchange {
        flow: Flow::Close,
        reply: Vec::new(),
        refusal: Some(refusal),
    }
}

/// `S keylen datalen key data`.
pub(crate) fn store(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut request = vec![b'S'];
    request.extend_from_slice(&len32(key.len()));
    request.extend_from_slice(&len32(data.len()));
    request.extend_from_slice(key);
    request.extend_from_slice(data);
    request
}

/// `F keylen key`.
pub(crate) fn fetch(key: &[u8]) -> Vec<u8> {
    keyed(b'F', key)
}

/// `D keylen key`.
pub(crate) fn delete(key: &[u8]) -> Vec<u8> {
    keyed(b'D', key)
}

fn keyed(opcode: u8, key: &[u8]) -> Vec<u8> {
    let mut request = vec![opcode];
    request.extend_from_slice(&len32(key.len()));
    request.extend_from_slice(key);
    request
}

fn len32(len: usize) -> [u8; 4] {
    u32::try_from(len).expect("test lengths fit").to_be_bytes()
}
