//! An authenticated, framed TCP connection (inside TLS when the node has TLS settings): what
//! both the Raft clients and the admin client talk over.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::BufReader;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout, timeout_at};

use super::config::NetworkConfig;
use super::error::{HandshakeError, TransportError};
use super::tls::Stream;
use super::{frame, handshake};

/// Read buffer size: a heartbeat or a vote fits many times over, and a large frame is read
/// straight into its own buffer.
const READ_BUFFER: usize = 64 * 1024;

/// A frame buffer larger than this is freed after use: steady replication of ordinary batches
/// reuses its buffer, while an idle connection does not sit on a snapshot chunk's megabytes.
const KEEP_BUFFER: usize = 4 * 1024 * 1024;

/// One authenticated connection. Requests and responses alternate; the owner must not reuse
/// a connection after an error or after abandoning an exchange half-way (the peer's answer
/// would be read as the next one's), so failed connections are dropped, never pooled.
pub(crate) struct Connection {
    stream: BufReader<Stream>,
    peer: SocketAddr,
    buf: Vec<u8>,
    max_frame: usize,
}

impl Connection {
    /// Connects to `addr` and authenticates, within the config's connect and handshake
    /// timeouts and never past `deadline`.
    pub(crate) async fn connect(
        addr: &str,
        config: &NetworkConfig,
        deadline: Option<Instant>,
    ) -> Result<Self, TransportError> {
        config.validate()?;
        let connect_by = earliest(Instant::now() + config.connect_timeout, deadline);
        let stream = match timeout_at(connect_by, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(source)) => {
                return Err(TransportError::Connect {
                    addr: addr.to_string(),
                    source,
                });
            }
            Err(_) => {
                return Err(TransportError::ConnectTimeout {
                    addr: addr.to_string(),
                    timeout: config.connect_timeout,
                });
            }
        };
        // Raft messages are small and latency-bound; never let Nagle hold a heartbeat back.
        stream.set_nodelay(true)?;
        let peer = stream.peer_addr()?;
        let handshake_by = earliest(Instant::now() + config.handshake_timeout, deadline);
        let handshake = async {
            let stream = match &config.tls {
                None => Stream::Plain(stream),
                Some(tls) => tls.connect(stream, addr).await?,
            };
            let mut stream = BufReader::with_capacity(READ_BUFFER, stream);
            handshake::client(&mut stream, &config.secret).await?;
            Ok(stream)
        };
        let result = match timeout_at(handshake_by, handshake).await {
            Ok(result) => result.map_err(tls_failure),
            Err(_) => Err(HandshakeError::Timeout(config.handshake_timeout)),
        };
        let stream = result.map_err(|source| TransportError::Handshake {
            peer: peer.to_string(),
            source,
        })?;
        Ok(Connection {
            stream,
            peer,
            buf: Vec::new(),
            max_frame: config.max_frame,
        })
    }

    /// Authenticates an accepted connection (the server's side), within the handshake
    /// timeout.
    pub(crate) async fn accept(
        stream: TcpStream,
        peer: SocketAddr,
        config: &NetworkConfig,
    ) -> Result<Self, HandshakeError> {
        stream.set_nodelay(true)?;
        let handshake = async {
            let stream = match &config.tls {
                None => Stream::Plain(stream),
                Some(tls) => tls.accept(stream).await?,
            };
            let mut stream = BufReader::with_capacity(READ_BUFFER, stream);
            handshake::server(&mut stream, &config.secret).await?;
            Ok(stream)
        };
        let stream = match timeout(config.handshake_timeout, handshake).await {
            Ok(result) => result.map_err(tls_failure)?,
            Err(_) => return Err(HandshakeError::Timeout(config.handshake_timeout)),
        };
        Ok(Connection {
            stream,
            peer,
            buf: Vec::new(),
            max_frame: config.max_frame,
        })
    }

    /// The peer's address.
    pub(crate) fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Sends one message.
    pub(crate) async fn send<T: Serialize>(&mut self, msg: &T) -> Result<(), TransportError> {
        frame::write(&mut self.stream, msg, &mut self.buf, self.max_frame).await
    }

    /// Receives one message.
    pub(crate) async fn recv<T: DeserializeOwned>(&mut self) -> Result<T, TransportError> {
        let result = frame::read_msg(&mut self.stream, &mut self.buf, self.max_frame).await;
        self.shrink();
        result
    }

    /// Receives one message, waiting at most `limit` for it.
    pub(crate) async fn recv_within<T: DeserializeOwned>(
        &mut self,
        limit: Duration,
    ) -> Result<T, TransportError> {
        match timeout(limit, self.recv()).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::Timeout(limit)),
        }
    }

    /// Sends a request and reads its response.
    pub(crate) async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &mut self,
        request: &Req,
    ) -> Result<Resp, TransportError> {
        self.send(request).await?;
        self.recv().await
    }

    /// Frees a buffer an unusually large frame left behind.
    fn shrink(&mut self) {
        if self.buf.capacity() > KEEP_BUFFER {
            self.buf = Vec::new();
        }
    }
}

/// An I/O error that TLS raised (an alert from the peer refusing our certificate arrives as
/// the first read after the handshake, in TLS 1.3) is reported as the TLS failure it is.
fn tls_failure(error: HandshakeError) -> HandshakeError {
    match error {
        HandshakeError::Io(e) if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) => {
            HandshakeError::Tls(e)
        }
        other => other,
    }
}

fn earliest(a: Instant, b: Option<Instant>) -> Instant {
    match b {
        Some(b) if b < a => b,
        _ => a,
    }
}
