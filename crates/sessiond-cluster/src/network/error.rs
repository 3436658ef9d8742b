//! What can go wrong on a cluster connection.

use std::io;
use std::time::Duration;

use thiserror::Error;

use super::config::ConfigError;
use super::message::Failure;

/// Why the authentication handshake failed.
#[derive(Debug, Error)]
pub enum HandshakeError {
    /// The peer's greeting is not the cluster protocol's (a stranger, a port scanner, a
    /// client of another protocol).
    #[error("the peer does not speak the sessiond cluster protocol")]
    NotCluster,
    /// Both sides speak the protocol but in different versions.
    #[error("protocol version mismatch: we speak {ours}, the peer {theirs}")]
    Version {
        /// Our version.
        ours: u8,
        /// The peer's version.
        theirs: u8,
    },
    /// The server refused our proof: our cluster secret differs from the server's.
    #[error("the server refused our credentials (wrong cluster secret)")]
    Rejected,
    /// The client's proof is wrong (server side): it does not know the cluster secret.
    #[error("the client failed authentication (wrong cluster secret)")]
    ClientUnauthenticated,
    /// The server's proof is wrong (client side): whoever answered does not know the
    /// cluster secret, so it is not a member of our cluster.
    #[error("the server failed to prove it knows the cluster secret")]
    ServerUnauthenticated,
    /// The listener requires TLS and we have no TLS settings.
    #[error(
        "the node requires TLS; give this side the cluster's TLS settings ([tls] cert, key and ca)"
    )]
    TlsRequired,
    /// We connect with TLS and the listener has none.
    #[error("the node has no TLS; give it the cluster's TLS settings or remove them here")]
    PeerWithoutTls,
    /// A client closed the connection where its TLS hello should have been: a node or admin
    /// client without TLS settings, or a port scanner.
    #[error(
        "the peer closed the connection instead of starting TLS (does it lack the TLS settings?)"
    )]
    TlsClosed,
    /// A client closed the connection on reading our plain greeting: a node or admin client
    /// with TLS settings (it says why on its side), or a port probe.
    #[error(
        "the peer closed the connection on our greeting (does it have TLS settings this node lacks?)"
    )]
    ClosedAfterGreeting,
    /// A TLS client sent its hello to this node, which has no TLS settings.
    #[error("the peer speaks TLS and this node has no TLS settings")]
    UnexpectedTls,
    /// The TLS handshake failed: a certificate not signed by the cluster's CA, not naming the
    /// host, expired; or a peer that does not speak TLS.
    #[error("TLS: {0}")]
    Tls(io::Error),
    /// The host of the address we connect to cannot be a TLS server name.
    #[error("'{0}' cannot be checked against a certificate (not a DNS name or an IP address)")]
    ServerName(String),
    /// The handshake did not finish in time.
    #[error("the handshake did not finish within {0:?}")]
    Timeout(Duration),
    /// The operating system could not give us random bytes for the nonce.
    #[error("no randomness for the nonce: {0}")]
    Random(getrandom::Error),
    /// The connection failed during the handshake.
    #[error("i/o during the handshake: {0}")]
    Io(#[from] io::Error),
}

/// A failure on a cluster connection, as a client or the server sees it.
#[derive(Debug, Error)]
pub enum TransportError {
    /// The settings are invalid.
    #[error("invalid network settings: {0}")]
    Config(#[from] ConfigError),
    /// The TCP connection could not be made.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// Where we tried to connect.
        addr: String,
        /// Why it failed.
        source: io::Error,
    },
    /// The TCP connection was not made in time.
    #[error("connecting to {addr} took longer than {timeout:?}")]
    ConnectTimeout {
        /// Where we tried to connect.
        addr: String,
        /// The limit.
        timeout: Duration,
    },
    /// Authentication failed.
    #[error("handshake with {peer} failed: {source}")]
    Handshake {
        /// The peer's address.
        peer: String,
        /// Why it failed.
        source: HandshakeError,
    },
    /// Reading or writing failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The peer closed the connection between messages.
    #[error("the peer closed the connection")]
    Closed,
    /// A frame larger than `max_frame` was announced or would have been sent.
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    FrameTooLarge {
        /// The frame's length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A message could not be encoded.
    #[error("cannot encode a message: {0}")]
    Encode(postcard::Error),
    /// A frame did not hold a valid message.
    #[error("undecodable message: {0}")]
    Decode(postcard::Error),
    /// The peer sent a message that makes no sense at this point of the conversation.
    #[error("protocol violation: {0}")]
    Protocol(&'static str),
    /// The peer answered with an error of its own.
    #[error("the peer failed: {0}")]
    Remote(Failure),
    /// The exchange did not finish in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

impl TransportError {
    /// True for failures that mean a reused connection had gone stale (the peer restarted or
    /// dropped it while idle) before our request reached it: such a request may be sent again
    /// on a fresh connection.
    pub(crate) fn is_stale_connection(&self) -> bool {
        match self {
            TransportError::Closed => true,
            TransportError::Io(e) => matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::UnexpectedEof
            ),
            _ => false,
        }
    }

    /// True when the handshake failed on credentials (either side's secret is wrong).
    pub fn is_auth_failure(&self) -> bool {
        matches!(
            self,
            TransportError::Handshake {
                source: HandshakeError::Rejected
                    | HandshakeError::ServerUnauthenticated
                    | HandshakeError::ClientUnauthenticated,
                ..
            }
        )
    }
}
