//! What every Redis connection of a server shares: the settings, the databases, the clients,
//! the pub/sub hub.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use sessiond_engine::{NamespaceId, Timestamp};

use crate::clients::Clients;
use crate::keyspace::KeyspaceEvents;
use crate::limits::Limits;
use crate::pubsub::{DEFAULT_PUBSUB_LIMIT, Hub};
use crate::script::{MonotonicClock, ScriptLimits, Scripts};

/// How many databases a client can `SELECT` (Redis's default `databases 16`).
pub const DATABASES: usize = 16;

/// The settings of a Redis listener, fixed when the server starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The password of the `default` user (Redis's `requirepass`); `None` lets every client
    /// in without `AUTH`.
    pub password: Option<Vec<u8>>,
    /// Each database's namespace in the engine, database 0 first: databases never see each
    /// other's keys, nor other protocols' keys.
    pub databases: [NamespaceId; DATABASES],
    /// Request limits.
    pub limits: Limits,
    /// The port clients reach, for `INFO` (0 when unknown).
    pub tcp_port: u16,
    /// The most client connections over all listeners, for `CONFIG GET maxclients`.
    pub max_clients: usize,
    /// The process id, for `INFO`.
    pub process_id: u32,
    /// Limits of Lua scripts (time, memory, cache).
    pub scripts: ScriptLimits,
    /// The clock scripts' time limits are read against.
    pub monotonic: MonotonicClock,
    /// How many bytes of messages a subscriber may have waiting before it is disconnected
    /// (Redis's hard `client-output-buffer-limit pubsub`, 32 MiB by default).
    pub pubsub_limit: usize,
    /// `notify-keyspace-events` at start-up (none by default, as in Redis). On a cluster every
    /// node should start with the same: a value set with `CONFIG SET` stays on the node that
    /// ran it, and a new leader would not have it.
    pub keyspace_events: KeyspaceEvents,
}

impl Config {
    /// Settings with databases at consecutive namespaces from `first`, no password and the
    /// default limits.
    pub fn new(first: NamespaceId) -> Self {
        Config {
            password: None,
            databases: std::array::from_fn(|index| {
                NamespaceId(first.0.saturating_add(index as u32))
            }),
            limits: Limits::default(),
            tcp_port: 0,
            max_clients: 10_000,
            process_id: std::process::id(),
            scripts: ScriptLimits::default(),
            monotonic: MonotonicClock::default(),
            pubsub_limit: DEFAULT_PUBSUB_LIMIT,
            keyspace_events: KeyspaceEvents::default(),
        }
    }
}

/// The state all Redis connections share: the settings, the clients, the subscriptions, and
/// what `CONFIG SET` may change while the server runs.
#[derive(Debug)]
pub struct Shared {
    pub(crate) config: Config,
    pub(crate) clients: Arc<Clients>,
    /// Who subscribes to what, over all connections.
    pub(crate) hub: Arc<Hub>,
    /// `notify-keyspace-events`, as Redis's flag bits (`keyspace::class`).
    pub(crate) keyspace_events: AtomicU32,
    /// When the server started, for `INFO`'s uptime.
    pub(crate) started: Timestamp,
    /// The script cache, idle interpreters, running scripts.
    pub(crate) scripts: Scripts,
}

impl Shared {
    /// The shared state of a server started at `started` with `config`.
    pub fn new(config: Config, started: Timestamp) -> Self {
        Shared {
            scripts: Scripts::new(config.scripts),
            hub: Arc::new(Hub::new(config.pubsub_limit)),
            keyspace_events: AtomicU32::new(config.keyspace_events.0),
            config,
            clients: Arc::new(Clients::new()),
            started,
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The connected clients.
    pub fn clients(&self) -> &Clients {
        &self.clients
    }

    /// Whether clients must authenticate.
    pub(crate) fn requires_auth(&self) -> bool {
        self.config.password.is_some()
    }

    pub(crate) fn keyspace_events(&self) -> u32 {
        self.keyspace_events.load(Ordering::Relaxed)
    }

    pub(crate) fn set_keyspace_events(&self, flags: u32) {
        self.keyspace_events.store(flags, Ordering::Relaxed);
    }
}
