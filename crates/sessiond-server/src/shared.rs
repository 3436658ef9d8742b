//! What every connection of the server shares.

use std::sync::Arc;
use std::time::Duration;

use sessiond_engine::{Engine, NamespaceId};
use tokio::sync::Semaphore;

use crate::clock::Clock;
use crate::counters::ServerCounters;

/// The state shared by listeners, workers and connections.
#[derive(Debug)]
pub(crate) struct Shared {
    pub engine: Arc<Engine>,
    pub clock: Arc<dyn Clock>,
    /// The write-ahead log, unless everything is kept in memory only.
    pub journal: Option<Arc<sessiond_storage::WalJournal>>,
    pub memcache: MemcacheShared,
    pub aspnet: AspnetShared,
    pub sharedance: SharedanceShared,
    /// What Redis connections share: settings, databases, the client list.
    pub resp: sessiond_resp::Shared,
    pub counters: ServerCounters,
    /// One permit per connection allowed; a connection holds its permit until it closes.
    pub connection_permits: Arc<Semaphore>,
    pub idle_timeout: Option<Duration>,
    /// This node's part in a cluster, once it started; never set on a single node.
    pub cluster: std::sync::OnceLock<crate::cluster::ClusterShared>,
    /// The `[tls]` settings made ready, when given.
    pub tls: Option<crate::tls::TlsMaterial>,
}

/// What memcached connections share.
#[derive(Debug)]
pub(crate) struct MemcacheShared {
    pub limits: sessiond_memcache::Limits,
    pub namespace: NamespaceId,
    pub counters: sessiond_memcache::ProtocolCounters,
}

/// What ASP.NET State Server connections share.
#[derive(Debug)]
pub(crate) struct AspnetShared {
    pub limits: sessiond_aspnet::Limits,
    pub applications: sessiond_aspnet::Applications,
}

/// What sharedance connections share.
#[derive(Debug)]
pub(crate) struct SharedanceShared {
    pub limits: sessiond_sharedance::Limits,
    pub namespace: NamespaceId,
    pub lifetime: sessiond_sharedance::Lifetime,
    pub timeout: Duration,
}
