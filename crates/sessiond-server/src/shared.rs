//! What every connection of the server shares.

use std::sync::Arc;
use std::time::Duration;

use sessiond_engine::{Engine, NamespaceId};
use sessiond_memcache::{Limits, ProtocolCounters};
use tokio::sync::Semaphore;

use crate::counters::ServerCounters;

/// The state shared by listeners, workers and connections.
#[derive(Debug)]
pub(crate) struct Shared {
    pub engine: Arc<Engine>,
    pub memcache_limits: Limits,
    pub memcache_namespace: NamespaceId,
    pub protocol_counters: ProtocolCounters,
    pub counters: ServerCounters,
    /// One permit per connection allowed; a connection holds its permit until it closes.
    pub connection_permits: Arc<Semaphore>,
    pub idle_timeout: Option<Duration>,
}
