//! The protocols the server speaks, as the connection loop sees them: something that turns
//! buffered bytes into replies. Each protocol crate does the work; this file only hands each
//! one what it needs from the shared state.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;

use crate::shared::Shared;

/// What an ASP.NET client is told when it cannot be served at all: the .NET client reports
/// any status but 200/404/423 as a failed request.
const ASPNET_UNAVAILABLE: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// A protocol a listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// memcached text and binary.
    Memcache,
    /// The ASP.NET State Server protocol.
    Aspnet,
    /// sharedance.
    Sharedance,
    /// Redis (RESP2 and RESP3).
    Resp,
}

/// Whether a connection goes on after the bytes processed so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Keep reading requests.
    Continue,
    /// Send the output, then close.
    Close,
}

/// One connection's protocol state.
#[derive(Debug)]
pub(crate) enum ProtocolConnection {
    Memcache(sessiond_memcache::Connection),
    Aspnet(sessiond_aspnet::Connection),
    Sharedance(sessiond_sharedance::Connection),
    Resp(sessiond_resp::Connection),
}

/// Each protocol crate has its own `Flow`, so that none depends on another.
macro_rules! flow_from {
    ($($protocol:ident),*) => {$(
        impl From<$protocol::Flow> for Flow {
            fn from(flow: $protocol::Flow) -> Flow {
                match flow {
                    $protocol::Flow::Continue => Flow::Continue,
                    $protocol::Flow::Close => Flow::Close,
                }
            }
        }
    )*};
}

flow_from!(
    sessiond_memcache,
    sessiond_aspnet,
    sessiond_sharedance,
    sessiond_resp
);

impl Protocol {
    /// The name logs use.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Memcache => "memcache",
            Protocol::Aspnet => "aspnet",
            Protocol::Sharedance => "sharedance",
            Protocol::Resp => "resp",
        }
    }

    /// The setting that names the listener's address, for start-up errors.
    pub fn listen_setting(self) -> &'static str {
        match self {
            Protocol::Memcache => "memcache.listen",
            Protocol::Aspnet => "aspnet.listen",
            Protocol::Sharedance => "sharedance.listen",
            Protocol::Resp => "resp.listen",
        }
    }

    /// What a client is told when the server is at its connection limit, before it is closed.
    pub fn refusal(self) -> &'static [u8] {
        match self {
            // memcached's own words.
            Protocol::Memcache => b"ERROR Too many open connections\r\n",
            Protocol::Aspnet => ASPNET_UNAVAILABLE,
            // sharedance signals every error by closing without a word.
            Protocol::Sharedance => b"",
            // Redis's own words.
            Protocol::Resp => b"-ERR max number of clients reached\r\n",
        }
    }

    /// What a client is told when no cluster leader is known within the wait, before it is
    /// closed.
    pub fn unavailable(self) -> &'static [u8] {
        match self {
            Protocol::Memcache => b"SERVER_ERROR no cluster leader, try again later\r\n",
            Protocol::Aspnet => ASPNET_UNAVAILABLE,
            Protocol::Sharedance => b"",
            Protocol::Resp => b"-ERR no cluster leader, try again later\r\n",
        }
    }

    /// How long a connection may stay idle.
    pub fn idle_timeout(self, shared: &Shared) -> Option<Duration> {
        match self {
            Protocol::Memcache | Protocol::Aspnet | Protocol::Resp => shared.idle_timeout,
            Protocol::Sharedance => Some(shared.sharedance.timeout),
        }
    }

    /// A new connection's protocol state, for a client at `peer` that reached `local`.
    pub fn connection(
        self,
        shared: &Shared,
        peer: Option<SocketAddr>,
        local: Option<SocketAddr>,
    ) -> ProtocolConnection {
        match self {
            Protocol::Memcache => {
                ProtocolConnection::Memcache(sessiond_memcache::Connection::new())
            }
            Protocol::Aspnet => ProtocolConnection::Aspnet(sessiond_aspnet::Connection::new()),
            Protocol::Sharedance => {
                ProtocolConnection::Sharedance(sessiond_sharedance::Connection::new())
            }
            Protocol::Resp => ProtocolConnection::Resp(sessiond_resp::Connection::new(
                &shared.resp,
                sessiond_resp::Peer { addr: peer, local },
                shared.clock.now(),
            )),
        }
    }
}

impl ProtocolConnection {
    /// Handles the complete requests at the front of `input`, appending replies to `output`.
    pub fn process(
        &mut self,
        input: &mut BytesMut,
        output: &mut BytesMut,
        shared: &Shared,
    ) -> Flow {
        let now = shared.clock.now();
        match self {
            ProtocolConnection::Memcache(connection) => {
                let memcache = &shared.memcache;
                let ctx = sessiond_memcache::Context {
                    engine: &shared.engine,
                    now,
                    limits: &memcache.limits,
                    namespace: memcache.namespace,
                    counters: &memcache.counters,
                    server: &shared.counters,
                };
                connection.process(input, output, &ctx).into()
            }
            ProtocolConnection::Aspnet(connection) => {
                let ctx = sessiond_aspnet::Context {
                    engine: &shared.engine,
                    now,
                    limits: &shared.aspnet.limits,
                    applications: &shared.aspnet.applications,
                };
                connection.process(input, output, &ctx).into()
            }
            ProtocolConnection::Sharedance(connection) => {
                let sharedance = &shared.sharedance;
                let ctx = sessiond_sharedance::Context {
                    engine: &shared.engine,
                    now,
                    limits: &sharedance.limits,
                    namespace: sharedance.namespace,
                    lifetime: sharedance.lifetime,
                };
                connection.process(input, output, &ctx).into()
            }
            ProtocolConnection::Resp(connection) => {
                let ctx = sessiond_resp::Context {
                    engine: &shared.engine,
                    now,
                    shared: &shared.resp,
                };
                connection.process(input, output, &ctx).into()
            }
        }
    }

    /// Where messages for the connection arrive between its requests (a Redis subscriber's
    /// pub/sub messages); `None` for everything else. The loop waits on it beside the socket.
    pub fn inbox(&self) -> Option<&Arc<sessiond_resp::Inbox>> {
        match self {
            ProtocolConnection::Resp(connection) => connection.inbox(),
            _ => None,
        }
    }

    /// Whether the idle timeout spares the connection: a Redis subscriber only receives, and
    /// Redis never times one out.
    pub fn exempt_from_idle(&self) -> bool {
        match self {
            ProtocolConnection::Resp(connection) => connection.subscribed(),
            _ => false,
        }
    }

    /// How many bytes the connection needs buffered before it can make progress, when known.
    pub fn wants(&self, input: &BytesMut) -> Option<usize> {
        match self {
            ProtocolConnection::Memcache(connection) => connection.wants(input),
            ProtocolConnection::Aspnet(connection) => connection.wants(input),
            ProtocolConnection::Sharedance(connection) => connection.wants(input),
            ProtocolConnection::Resp(connection) => connection.wants(input),
        }
    }
}
