//! The cluster network's settings.

use std::fmt;
use std::time::Duration;

use thiserror::Error;

use super::tls::ClusterTls;

/// The largest frame a peer may send unless configured otherwise: big enough for a batch of
/// 4 KiB session values many times over, small enough that a runaway peer cannot make us
/// buffer without bound.
pub const DEFAULT_MAX_FRAME: usize = 64 * 1024 * 1024;

/// The default size of one snapshot chunk: large enough that framing costs nothing, small
/// enough that a chunk's write finishes well inside an RPC timeout.
pub const DEFAULT_SNAPSHOT_CHUNK: usize = 1024 * 1024;

/// The smallest `max_frame` accepted: every control message (votes, admin answers, a
/// snapshot's description) must fit.
pub const MIN_MAX_FRAME: usize = 64 * 1024;

/// What a frame needs besides a snapshot chunk's bytes (message tag, length prefixes).
const CHUNK_OVERHEAD: usize = 64;

/// Settings of the cluster transport, shared by the server and every client of a node.
#[derive(Clone)]
pub struct NetworkConfig {
    /// The cluster secret every node and admin client proves it knows (HMAC-SHA256 key).
    /// Never printed: `Debug` shows its length only.
    pub secret: Vec<u8>,
    /// The largest frame accepted or sent, in bytes. A peer announcing a larger one is a
    /// protocol error and its connection is closed.
    pub max_frame: usize,
    /// How long a TCP connect may take.
    pub connect_timeout: Duration,
    /// How long the authentication handshake may take, on either side. A peer that stalls
    /// is dropped, so strangers cannot hold connection slots.
    pub handshake_timeout: Duration,
    /// The most cluster connections (peers and admin clients, authenticated or not) the
    /// server holds at once; more are closed right after accept.
    pub max_connections: usize,
    /// How long the server keeps a connection on which nothing arrives. Clients reconnect
    /// transparently, so this only reclaims slots of peers that went away.
    pub idle_timeout: Duration,
    /// The size of one snapshot chunk sent by `full_snapshot` (clamped to fit `max_frame`).
    pub snapshot_chunk: usize,
    /// How long the server lets one admin operation run (adding a node waits for it to
    /// catch up with the log).
    pub admin_timeout: Duration,
    /// Mutual TLS around every connection, or `None` for plain TCP. Both ends of a connection
    /// must agree; a mismatch fails the handshake with a reason on both sides.
    pub tls: Option<ClusterTls>,
}

impl NetworkConfig {
    /// Settings with the given cluster secret and the defaults for everything else.
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        NetworkConfig {
            secret: secret.into(),
            max_frame: DEFAULT_MAX_FRAME,
            connect_timeout: Duration::from_secs(3),
            handshake_timeout: Duration::from_secs(5),
            max_connections: 256,
            idle_timeout: Duration::from_secs(600),
            snapshot_chunk: DEFAULT_SNAPSHOT_CHUNK,
            admin_timeout: Duration::from_secs(60),
            tls: None,
        }
    }

    /// Checks the settings; `serve` and the clients refuse invalid ones.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.secret.is_empty() {
            return Err(ConfigError::EmptySecret);
        }
        if self.max_frame < MIN_MAX_FRAME || u32::try_from(self.max_frame).is_err() {
            return Err(ConfigError::MaxFrame(self.max_frame));
        }
        if self.snapshot_chunk == 0 {
            return Err(ConfigError::Zero("snapshot_chunk"));
        }
        if self.max_connections == 0 {
            return Err(ConfigError::Zero("max_connections"));
        }
        for (name, value) in [
            ("connect_timeout", self.connect_timeout),
            ("handshake_timeout", self.handshake_timeout),
            ("idle_timeout", self.idle_timeout),
            ("admin_timeout", self.admin_timeout),
        ] {
            if value.is_zero() {
                return Err(ConfigError::Zero(name));
            }
        }
        Ok(())
    }

    /// The snapshot chunk size actually used: the configured one, shrunk so that a chunk and
    /// its framing fit in `max_frame`.
    pub(crate) fn effective_chunk(&self) -> usize {
        self.snapshot_chunk
            .min(self.max_frame.saturating_sub(CHUNK_OVERHEAD))
            .max(1)
    }
}

impl fmt::Debug for NetworkConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetworkConfig")
            .field("secret", &format_args!("<{} bytes>", self.secret.len()))
            .field("max_frame", &self.max_frame)
            .field("connect_timeout", &self.connect_timeout)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("max_connections", &self.max_connections)
            .field("idle_timeout", &self.idle_timeout)
            .field("snapshot_chunk", &self.snapshot_chunk)
            .field("admin_timeout", &self.admin_timeout)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// An invalid [`NetworkConfig`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// Without a secret anyone could join.
    #[error("the cluster secret is empty")]
    EmptySecret,
    /// `max_frame` is below [`MIN_MAX_FRAME`] or does not fit the 32-bit length prefix.
    #[error("max_frame {0} must be between {MIN_MAX_FRAME} and {max}", max = u32::MAX)]
    MaxFrame(usize),
    /// A setting that must be positive is zero.
    #[error("{0} must not be zero")]
    Zero(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_debug_hides_the_secret() {
        let config = NetworkConfig::new("hunter2hunter2");
        assert_eq!(config.validate(), Ok(()));
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<14 bytes>"), "{shown}");
    }

    #[test]
    fn invalid_settings_are_refused() {
        assert_eq!(
            NetworkConfig::new("").validate(),
            Err(ConfigError::EmptySecret)
        );
        let mut config = NetworkConfig::new("s");
        config.max_frame = 10;
        assert_eq!(config.validate(), Err(ConfigError::MaxFrame(10)));
        let mut config = NetworkConfig::new("s");
        config.handshake_timeout = Duration::ZERO;
        assert_eq!(
            config.validate(),
            Err(ConfigError::Zero("handshake_timeout"))
        );
    }

    #[test]
    fn chunks_fit_in_a_frame() {
        let mut config = NetworkConfig::new("s");
        config.max_frame = MIN_MAX_FRAME;
        config.snapshot_chunk = 10 * MIN_MAX_FRAME;
        assert!(config.effective_chunk() + CHUNK_OVERHEAD <= config.max_frame);
    }
}
