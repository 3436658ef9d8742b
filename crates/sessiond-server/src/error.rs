//! Errors that stop the server from starting or running.

use std::net::SocketAddr;

/// Why the server could not start or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A listener could not bind its address.
    #[error("{setting}: cannot listen on {addr}: {source}")]
    Bind {
        /// The setting that names the address.
        setting: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration is not usable (for callers that skipped [`Config::load`]'s checks).
    ///
    /// [`Config::load`]: crate::Config::load
    #[error(transparent)]
    Config(#[from] crate::ConfigError),
    /// The data directory could not be opened or recovered.
    #[error(transparent)]
    Storage(#[from] sessiond_storage::StorageError),
    /// The cluster node could not start.
    #[error(transparent)]
    Cluster(#[from] sessiond_cluster::node::NodeError),
    /// A runtime or thread could not be started.
    #[error("cannot start worker runtime: {0}")]
    Runtime(std::io::Error),
}
