//! The cluster network: how nodes (and the `sessiond cluster` admin commands) talk to each
//! other.
//!
//! One TCP port per node carries both Raft's RPCs and administration requests. Every
//! connection starts with a mutual HMAC-SHA256 challenge–response over the cluster secret,
//! so a stranger can neither join nor get a single request served, and a node
//! never talks Raft to an impostor. With [`ClusterTls`] settings, all of it runs inside
//! mutual TLS: each side must present a certificate signed by the cluster's CA. After that, messages are frames: a `u32` big-endian length
//! (at most [`NetworkConfig::max_frame`]) and a postcard payload (the `message` module).
//!
//! - [`NetworkFactory`] is openraft's network factory; each [`PeerClient`] keeps one
//!   connection to its target, so heartbeats, replication and snapshots never queue behind
//!   each other.
//! - [`serve`] answers peers and admin clients from the local Raft, receiving snapshots into
//!   files.
//! - [`AdminClient`] asks a node for its [`ClusterStatus`] or changes the membership,
//!   following `NotLeader` answers to the leader.

mod admin;
mod admin_client;
mod admin_handler;
mod client;
mod config;
mod connection;
mod error;
mod frame;
mod handshake;
mod incoming;
mod message;
mod server;
mod status;
mod tls;

pub use admin::{AdminError, AdminFailure};
pub use admin_client::AdminClient;
pub use client::{NetworkFactory, PeerClient};
pub use config::{
    ConfigError, DEFAULT_MAX_FRAME, DEFAULT_SNAPSHOT_CHUNK, MIN_MAX_FRAME, NetworkConfig,
};
pub use error::{HandshakeError, TransportError};
pub use handshake::PROTOCOL_VERSION;
pub use message::Failure;
pub use server::{ServeError, serve};
pub use status::{ClusterStatus, Role};
pub use tls::ClusterTls;
