//! The ASP.NET State Server protocol [MS-ASP] for sessiond.
//!
//! CONTRACT STUB: the public API below is what the server wires; the implementation is being
//! written.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use bytes::BytesMut;
use sessiond_engine::{Engine, Key, NamespaceId, Timestamp};

/// The version the server reports in `X-AspNet-Version`; clients refuse servers below major 2.
pub const ASPNET_VERSION: &str = "4.0.30319";

/// Replies a connection may hold before it stops handling buffered requests and lets the
/// server write them out.
pub const OUTPUT_HIGH_WATER: usize = 256 * 1024;

/// Bounds on one request. Violations answer 400 and close the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The request line and all header lines together, in bytes.
    pub max_head_size: usize,
    /// The most header lines in one request.
    pub max_headers: usize,
    /// The largest body (session data) of a PUT, in bytes.
    pub max_body_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_size: 16 * 1024,
            max_headers: 64,
            max_body_size: 16 << 20,
        }
    }
}

/// Which namespace each application's sessions live in.
#[derive(Clone, Debug)]
pub struct Applications {
    separate: NamespaceId,
}

/// Why a sharing group could not be added.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApplicationsError {
    /// An application id is empty.
    #[error("an application id is empty")]
    Empty,
    /// An application id is in two groups.
    #[error("application '{0}' is in more than one shared group")]
    Duplicate(String),
}

impl Applications {
    /// Every application apart, all keys in `separate`.
    pub fn new(separate: NamespaceId) -> Self {
        Applications { separate }
    }

    /// Makes the applications share sessions in `namespace`.
    pub fn share(
        &mut self,
        applications: &[String],
        namespace: NamespaceId,
    ) -> Result<(), ApplicationsError> {
        let _ = (applications, namespace);
        Ok(())
    }

    /// The engine key for a decoded request key.
    pub fn key<'k>(&self, decoded: &'k [u8]) -> Key<'k> {
        Key::new(self.separate, decoded)
    }
}

/// What a request runs with.
pub struct Context<'a> {
    /// The store.
    pub engine: &'a Engine,
    /// The time the request is handled at.
    pub now: Timestamp,
    /// The connection's limits.
    pub limits: &'a Limits,
    /// Where each application's sessions live.
    pub applications: &'a Applications,
}

/// Whether the connection goes on after the bytes processed so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep reading requests.
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

    /// Handles the complete requests at the front of `input`.
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
