//! The ASP.NET State Server protocol [MS-ASP] for sessiond: the server side of what
//! `aspnet_state.exe` speaks on port 42424 to ASP.NET's `StateServer` session mode.
//!
//! This crate turns bytes into engine commands and engine outcomes into bytes. It does no I/O:
//! the server reads into a buffer, calls [`Connection::process`], and writes what it appended
//! to the output buffer.
//!
//! Requests are HTTP/1.x shaped, on persistent connections, answered in order. The request's
//! target, percent-decoded, names the session; the verb and a few headers pick the operation,
//! which behaves as the reference server's (the managed half of `aspnet_state.exe`,
//! `System.Web/State/StateRuntime.cs` in the .NET reference source):
//!
//! | request | engine command | answers |
//! |---|---|---|
//! | `GET` | `ReadSession` | 200 + data, 423, 404 |
//! | `GET` + `Exclusive: acquire` | `ReadSession { exclusive }` | 200 + data + `LockCookie`, 423, 404 |
//! | `GET` + `Exclusive: release` + `LockCookie` | `ReleaseLock` | 200, 423, 404 |
//! | `PUT` + `Timeout`, `LockCookie`, `ExtraFlags` + data | `WriteSession` | 200, 423 |
//! | `DELETE` + `LockCookie` | `RemoveSession` | 200, 423, 404 |
//! | `HEAD` | `ResetTimeout` | 200, 404 |
//!
//! Any other verb and any invalid header value answer 400. Lock cookies on the wire are the
//! engine's, monotonic per session. Where sessiond deliberately differs from the reference, the
//! module that handles the request says so (`put` chiefly).
//!
//! # Layout
//! - `framing`: where a request ends, its limits; `headers`: the headers the protocol reads;
//!   `key`: the request-target decoded into the session key; [`Applications`]: the namespace a
//!   key lives in, shared by configured groups of applications.
//! - `get`, `put`, `delete`, `head`: one operation each; `reply`: responses, byte for byte.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod applications;
mod connection;
mod delete;
mod dispatch;
mod framing;
mod get;
mod head;
mod headers;
mod int32;
mod key;
mod put;
mod reply;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

use sessiond_engine::{Engine, Timestamp};

pub use applications::{Applications, ApplicationsError};
pub use connection::Connection;

/// The version the server reports in `X-AspNet-Version`; clients refuse servers below major 2.
pub const ASPNET_VERSION: &str = "4.0.30319";

/// Replies a connection may hold before it stops handling buffered requests and lets the
/// server write them out. A client that pipelines many reads of a large session without
/// reading the replies then costs the server at most this much memory, not the sum of the
/// sessions.
pub const OUTPUT_HIGH_WATER: usize = 256 * 1024;

/// Bounds on one request, checked from its head before its body is buffered. Violations answer
/// 400 and close the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The request line and all header lines together, in bytes.
    pub max_head_size: usize,
    /// The most header lines in one request.
    pub max_headers: usize,
    /// The largest body (session data, for a PUT; any verb's body is bounded), in bytes.
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
