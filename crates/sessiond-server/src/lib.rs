//! The sessiond server: it moves bytes between sockets and the protocol crates, and owns the
//! listeners, worker threads, configuration, stats and shutdown. It knows nothing of any
//! protocol's requests: memcached, ASP.NET State Server and sharedance each live in their crate.
//!
//! # Layout
//! - [`config`]: the TOML file, command-line overrides, defaults and checks.
//! - [`Server`]: binds listeners, accepts, deals connections to workers, sweeps expiry.
//! - workers: one single-threaded runtime per worker thread.
//! - connection: the per-connection read / process / write loop, and protocol: what it calls
//!   for each protocol.
//! - [`Clock`]: where the engine's time comes from.
//! - tls: the `[tls]` files made into rustls settings ([`TlsConfig::load`]) for TLS
//!   listeners, the cluster transport and relays to the leader.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod allow;
mod clock;
mod cluster;
pub mod config;
mod connection;
mod counters;
mod duration;
mod error;
mod listen;
mod persistence;
mod protocol;
mod server;
mod shared;
mod size;
mod tls;
mod units;
mod workers;

pub use allow::{AllowError, AllowList};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{
    AspnetConfig, ClientAuth, ClusterConfig, Config, ConfigError, FsyncPolicy, MemcacheConfig,
    Overrides, Peer, PersistenceConfig, SharedSessions, SharedanceConfig, TlsConfig,
};
pub use duration::ConfigDuration;
pub use error::ServerError;
pub use listen::Listen;
pub use persistence::SnapshotTrigger;
pub use server::Server;
pub use sessiond_storage::{CheckReport, check_data};
pub use size::ByteSize;
pub use tls::TlsMaterial;
