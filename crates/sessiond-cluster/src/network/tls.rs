//! TLS on cluster connections: when a node has TLS settings, every connection to and from it
//! (Raft RPCs, snapshots, admin requests) runs inside mutual TLS, and the cluster-secret
//! handshake runs inside that.
//!
//! A TLS listener first sends a five-byte plaintext preamble, `"SDCL"` and
//! [`TLS_FOLLOWS`](super::handshake), and only then expects the client's TLS hello. It tells
//! the two halves of a misconfigured pair apart at once instead of after a timeout: a client
//! without TLS reads it where it expects the plain greeting and stops ("the node requires
//! TLS"), and a TLS client that reads the plain greeting instead stops too ("the node has no
//! TLS"). The preamble is not authenticated and carries no choice: each side's mode comes from
//! its own settings, so rewriting it in transit can only make a connection fail, never
//! downgrade it.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::error::HandshakeError;
use super::handshake::{self, Greeting};

/// The TLS side of the cluster transport: how this node accepts connections (its
/// certificate, and the CA that must have signed every peer's) and how it connects (its
/// certificate as the client's, and the CA that must have signed the server's).
#[derive(Clone)]
pub struct ClusterTls {
    acceptor: TlsAcceptor,
    connector: TlsConnector,
}

impl ClusterTls {
    /// TLS with these rustls settings. `server` should require client certificates signed by
    /// the cluster's CA (what makes it mutual), and `client` should present this node's
    /// certificate and trust only that CA.
    pub fn new(server: Arc<rustls::ServerConfig>, client: Arc<rustls::ClientConfig>) -> Self {
        ClusterTls {
            acceptor: TlsAcceptor::from(server),
            connector: TlsConnector::from(client),
        }
    }

    /// The server's side: the preamble, then the TLS handshake.
    pub(crate) async fn accept(&self, mut tcp: TcpStream) -> Result<Stream, HandshakeError> {
        tcp.write_all(&handshake::TLS_PREAMBLE).await?;
        tcp.flush().await?;
        match self.acceptor.accept(tcp).await {
            Ok(stream) => Ok(Stream::Server(Box::new(stream))),
            // A node without TLS reads the preamble, says why it cannot go on, and closes.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(HandshakeError::TlsClosed),
            Err(e) => Err(HandshakeError::Tls(e)),
        }
    }

    /// The client's side: the server's preamble must announce TLS, then the TLS handshake,
    /// verifying that the server's certificate names `addr`'s host.
    pub(crate) async fn connect(
        &self,
        mut tcp: TcpStream,
        addr: &str,
    ) -> Result<Stream, HandshakeError> {
        match handshake::read_preamble(&mut tcp).await? {
            Greeting::Tls => {}
            Greeting::Plain => return Err(HandshakeError::PeerWithoutTls),
        }
        let name = server_name(addr)?;
        match self.connector.connect(name, tcp).await {
            Ok(stream) => Ok(Stream::Client(Box::new(stream))),
            Err(e) => Err(HandshakeError::Tls(e)),
        }
    }
}

impl fmt::Debug for ClusterTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterTls")
    }
}

/// The name the server's certificate must carry: the host of `host:port` (an IP address or a
/// DNS name, IPv6 in brackets).
fn server_name(addr: &str) -> Result<ServerName<'static>, HandshakeError> {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    ServerName::try_from(host.to_owned()).map_err(|_| HandshakeError::ServerName(host.to_owned()))
}

/// A cluster connection's byte stream: plain TCP, or TLS on either side. An enum rather than a
/// trait object: the cluster's traffic is not the hot path, but this costs nothing either.
pub(crate) enum Stream {
    /// No TLS configured.
    Plain(TcpStream),
    /// We connected.
    Client(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// We accepted.
    Server(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Client(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Server(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Client(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Server(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Client(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Server(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Client(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Server(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_come_from_the_host() {
        assert_eq!(
            server_name("127.0.0.1:7420").unwrap(),
            ServerName::try_from("127.0.0.1").unwrap()
        );
        assert_eq!(
            server_name("[::1]:7420").unwrap(),
            ServerName::try_from("::1").unwrap()
        );
        assert_eq!(
            server_name("node-1.example:7420").unwrap(),
            ServerName::try_from("node-1.example").unwrap()
        );
        assert!(matches!(
            server_name("bad name:7420"),
            Err(HandshakeError::ServerName(_))
        ));
    }
}
