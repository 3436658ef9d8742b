//! The server's configuration: a TOML file, overridden by command-line flags, with defaults
//! that are safe on their own (loopback only, every limit bounded).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod file;

use sessiond_engine::NamespaceId;
pub use sessiond_storage::FsyncPolicy;

use self::file::FileConfig;
use crate::allow::AllowList;
use crate::duration::ConfigDuration;
use crate::listen::Listen;
use crate::size::ByteSize;
pub use crate::tls::{ClientAuth, TlsConfig};

/// Everything the server needs to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Worker threads serving connections.
    pub threads: usize,
    /// The most memory the store may use for items; writes past it are refused, nothing is
    /// evicted.
    pub max_memory: ByteSize,
    /// The most client connections open at once, over all listeners.
    pub max_connections: usize,
    /// Connections idle this long are closed; zero disables the limit.
    pub idle_timeout: Duration,
    /// How long shutdown waits for open connections to finish before closing them.
    pub shutdown_timeout: Duration,
    /// The memcached listener's settings.
    pub memcache: MemcacheConfig,
    /// The ASP.NET State Server listener's settings.
    pub aspnet: AspnetConfig,
    /// The sharedance listener's settings.
    pub sharedance: SharedanceConfig,
    /// The Redis listener's settings.
    pub resp: RespConfig,
    /// Where and how sessions are kept across restarts.
    pub persistence: PersistenceConfig,
    /// Replication: off unless a node id is given.
    pub cluster: ClusterConfig,
    /// TLS: the certificate, key and CA that TLS listeners and the cluster transport use.
    pub tls: TlsConfig,
}

/// Replication settings. A server with a `node_id` is one node of a Raft group: its
/// sessions are on every node, and a write is acknowledged once a majority has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    /// This node's id (a positive integer, unique in the cluster); `None` runs a single
    /// node, which pays nothing for the cluster code.
    pub node_id: Option<u64>,
    /// Where peers and `sessiond cluster` commands reach this node.
    pub listen: SocketAddr,
    /// The address peers should use, when it differs from `listen` (a wildcard listen
    /// address, NAT).
    pub advertise: Option<String>,
    /// The members to start a new cluster with, this node included: `id=host:port` of each
    /// cluster listener. Empty to wait until a running cluster adds this node.
    pub peers: Vec<Peer>,
    /// The shared secret nodes prove to each other; required.
    pub secret: Option<String>,
    /// How often the leader sends heartbeats.
    pub heartbeat: Duration,
    /// A follower that hears nothing from a leader for this long (to twice this long,
    /// randomised) starts an election.
    pub election_timeout: Duration,
    /// How long a client's request waits for a leader before it gets its protocol's error.
    pub leader_wait: Duration,
    /// A snapshot is taken after this many log entries.
    pub snapshot_entries: u64,
    /// Raft runs on the first worker thread, beside client connections (cheaper per write);
    /// false: on the control thread, where a command holding a worker (a long Lua script)
    /// cannot delay the heartbeats.
    pub raft_on_worker: bool,
}

/// One member of a cluster to start: its id and its cluster address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The node's id.
    pub id: u64,
    /// Its cluster listener, `host:port`.
    pub addr: String,
}

impl std::str::FromStr for Peer {
    type Err = String;

    fn from_str(text: &str) -> Result<Peer, String> {
        let (id, addr) = text
            .split_once('=')
            .ok_or_else(|| format!("'{text}' is not id=host:port"))?;
        let id = id
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| format!("'{id}' is not a positive node id"))?;
        let addr = addr.trim();
        if addr
            .rsplit_once(':')
            .is_none_or(|(_, port)| port.parse::<u16>().is_err())
        {
            return Err(format!("'{addr}' is not host:port"));
        }
        Ok(Peer {
            id,
            addr: addr.to_owned(),
        })
    }
}

impl<'de> Deserialize<'de> for Peer {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Where and how sessions are kept across restarts and crashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersistenceConfig {
    /// Keep nothing on disk: every session is lost when the process stops.
    pub in_memory: bool,
    /// The data directory: write-ahead log, snapshots, lock file. Created on first start.
    pub data_dir: PathBuf,
    /// When the log is flushed to stable storage.
    pub fsync: FsyncPolicy,
    /// How often a snapshot is taken, so the log to replay at start-up stays short.
    pub snapshot_interval: Duration,
    /// A snapshot is also taken as soon as the log grows past this, so a heavy write load
    /// cannot fill the disk with log (or make recovery long) between two timed snapshots.
    pub snapshot_log_size: ByteSize,
}

/// The memcached listener's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemcacheConfig {
    /// Where it listens, or `off`.
    pub listen: Listen,
    /// Who may connect.
    pub allow: AllowList,
    /// Whether clients connect with TLS (memcached's `-Z`), with the `[tls]` certificate.
    pub tls: bool,
    /// The largest value a client may store (memcached's `-I`).
    pub max_item_size: ByteSize,
}

/// The ASP.NET State Server listener's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AspnetConfig {
    /// Where it listens, or `off`. Loopback by default, as the State Service without
    /// `AllowRemoteConnection`.
    pub listen: Listen,
    /// Who may connect.
    pub allow: AllowList,
    /// Whether clients connect with TLS (the State Service's clients do not: for a TLS
    /// proxy in front of them).
    pub tls: bool,
    /// The largest session a PUT may carry.
    pub max_body_size: ByteSize,
    /// The largest request line and headers together.
    pub max_head_size: ByteSize,
    /// The most header lines in one request.
    pub max_headers: usize,
    /// Groups of applications that share their sessions (single sign-on).
    pub shared_sessions: Vec<SharedSessions>,
}

/// Applications that read and write the same sessions: a session id means the same session in
/// all of them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedSessions {
    /// The applications' ids (their `AppDomainAppId`, e.g. `/LM/W3SVC/1/ROOT/shop`).
    pub applications: Vec<String>,
}

/// The sharedance listener's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedanceConfig {
    /// Where it listens, or `off`.
    pub listen: Listen,
    /// Who may connect.
    pub allow: AllowList,
    /// Whether clients connect with TLS.
    pub tls: bool,
    /// How long a stored session lives after its last write (sharedance's `--expiration`).
    pub expiration: Duration,
    /// Whether reads extend a session's life too (sharedance's own rule is that they do not).
    pub sliding: bool,
    /// Connections idle this long are closed (sharedance's `--timeout`).
    pub timeout: Duration,
    /// The largest request (sharedance's `--maxreadsize`).
    pub max_request_size: ByteSize,
}

/// The Redis (RESP) listener's settings.
#[derive(Clone, PartialEq, Eq)]
pub struct RespConfig {
    /// Where it listens, or `off`.
    pub listen: Listen,
    /// Who may connect.
    pub allow: AllowList,
    /// Whether clients connect with TLS (Redis's `tls-port`), with the `[tls]` certificate.
    pub tls: bool,
    /// The password of the `default` user (Redis's `requirepass`); none lets every client in.
    pub password: Option<String>,
    /// The largest argument a request may carry (Redis's `proto-max-bulk-len`); larger ones
    /// are a protocol error and a close.
    pub max_bulk_len: ByteSize,
    /// The most buffer one request may take, its arguments together; more closes the
    /// connection (Redis's `client-query-buffer-limit`).
    pub max_request_size: ByteSize,
    /// The most commands one transaction (`MULTI`) may queue; one more aborts it. Redis has
    /// no such limit.
    pub max_queued_commands: usize,
    /// The most bytes one connection's transaction may hold, its queued commands and watched
    /// keys together; more aborts it (or refuses the `WATCH`). Redis has no such limit.
    pub max_transaction_size: ByteSize,
    /// The most distinct keys an `EXEC` locks together to run as one atomic step; a
    /// transaction over more keys runs command after command.
    pub max_atomic_keys: usize,
    /// How long a Lua script may run before it is stopped (Redis's `busy-reply-threshold`).
    pub script_time_limit: Duration,
    /// The most memory one Lua interpreter may use.
    pub script_max_memory: ByteSize,
    /// The most scripts the script cache keeps (the oldest go first).
    pub script_cache_scripts: usize,
    /// The most bytes of scripts the script cache keeps.
    pub script_cache_size: ByteSize,
    /// How many bytes of pub/sub messages a subscriber may have waiting before it is
    /// disconnected (Redis's hard `client-output-buffer-limit pubsub`).
    pub pubsub_buffer_limit: ByteSize,
    /// `notify-keyspace-events` at start-up, in Redis's class letters (`"Egx"` for Spring
    /// Session's expiry events); empty for none. Every node of a cluster should have the same:
    /// a `CONFIG SET` stays on the node that ran it.
    pub notify_keyspace_events: String,
}

/// The password never reaches a log line through `{:?}`.
impl std::fmt::Debug for RespConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RespConfig")
            .field("listen", &self.listen)
            .field("allow", &self.allow)
            .field("tls", &self.tls)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("max_bulk_len", &self.max_bulk_len)
            .field("max_request_size", &self.max_request_size)
            .field("max_queued_commands", &self.max_queued_commands)
            .field("max_transaction_size", &self.max_transaction_size)
            .field("max_atomic_keys", &self.max_atomic_keys)
            .field("script_time_limit", &self.script_time_limit)
            .field("script_max_memory", &self.script_max_memory)
            .field("script_cache_scripts", &self.script_cache_scripts)
            .field("script_cache_size", &self.script_cache_size)
            .field("pubsub_buffer_limit", &self.pubsub_buffer_limit)
            .field("notify_keyspace_events", &self.notify_keyspace_events)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_memory: ByteSize(1 << 30),
            max_connections: 4096,
            idle_timeout: Duration::from_secs(3600),
            shutdown_timeout: Duration::from_secs(5),
            memcache: MemcacheConfig {
                listen: Listen::On(([127, 0, 0, 1], 11211).into()),
                allow: AllowList::default(),
                tls: false,
                max_item_size: ByteSize(8 << 20),
            },
            aspnet: AspnetConfig {
                listen: Listen::On(([127, 0, 0, 1], 42424).into()),
                allow: AllowList::default(),
                tls: false,
                max_body_size: ByteSize(16 << 20),
                max_head_size: ByteSize(16 << 10),
                max_headers: 64,
                shared_sessions: Vec::new(),
            },
            persistence: PersistenceConfig {
                in_memory: false,
                data_dir: PathBuf::from("sessiond-data"),
                fsync: FsyncPolicy::EverySec,
                snapshot_interval: Duration::from_secs(600),
                snapshot_log_size: ByteSize(1 << 30),
            },
            cluster: ClusterConfig {
                node_id: None,
                listen: ([127, 0, 0, 1], 7420).into(),
                advertise: None,
                peers: Vec::new(),
                secret: None,
                heartbeat: Duration::from_millis(100),
                election_timeout: Duration::from_millis(500),
                leader_wait: Duration::from_secs(5),
                snapshot_entries: 20_000,
                raft_on_worker: true,
            },
            sharedance: SharedanceConfig {
                listen: Listen::On(([127, 0, 0, 1], 1042).into()),
                allow: AllowList::default(),
                tls: false,
                expiration: Duration::from_secs(1800),
                sliding: false,
                timeout: Duration::from_secs(60),
                max_request_size: ByteSize(32 << 20),
            },
            resp: RespConfig {
                listen: Listen::On(([127, 0, 0, 1], 6379).into()),
                allow: AllowList::default(),
                tls: false,
                password: None,
                max_bulk_len: ByteSize(8 << 20),
                max_request_size: ByteSize(16 << 20),
                max_queued_commands: 100_000,
                max_transaction_size: ByteSize(32 << 20),
                max_atomic_keys: 1024,
                script_time_limit: Duration::from_secs(5),
                script_max_memory: ByteSize(64 << 20),
                script_cache_scripts: 1000,
                script_cache_size: ByteSize(16 << 20),
                pubsub_buffer_limit: ByteSize(sessiond_resp::DEFAULT_PUBSUB_LIMIT as u64),
                notify_keyspace_events: String::new(),
            },
            tls: TlsConfig::default(),
        }
    }
}

/// Settings given on the command line, each replacing the file's value when present.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--threads`.
    pub threads: Option<usize>,
    /// `--max-memory`.
    pub max_memory: Option<ByteSize>,
    /// `--max-connections`.
    pub max_connections: Option<usize>,
    /// `--idle-timeout`.
    pub idle_timeout: Option<ConfigDuration>,
    /// `--memcache-listen`.
    pub memcache_listen: Option<Listen>,
    /// `--max-item-size`.
    pub max_item_size: Option<ByteSize>,
    /// `--aspnet-listen`.
    pub aspnet_listen: Option<Listen>,
    /// `--sharedance-listen`.
    pub sharedance_listen: Option<Listen>,
    /// `--sharedance-expiration`.
    pub sharedance_expiration: Option<ConfigDuration>,
    /// `--sharedance-timeout`.
    pub sharedance_timeout: Option<ConfigDuration>,
    /// `--sharedance-sliding`.
    pub sharedance_sliding: Option<bool>,
    /// `--in-memory`.
    pub in_memory: Option<bool>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--fsync`.
    pub fsync: Option<FsyncPolicy>,
    /// `--node-id`.
    pub node_id: Option<u64>,
    /// `--cluster-listen`.
    pub cluster_listen: Option<SocketAddr>,
    /// `--cluster-advertise`.
    pub cluster_advertise: Option<String>,
    /// `--peers`.
    pub peers: Option<Vec<Peer>>,
    /// `--cluster-secret` (or its environment variable).
    pub cluster_secret: Option<String>,
    /// `--tls-cert`.
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key`.
    pub tls_key: Option<PathBuf>,
    /// `--tls-ca`.
    pub tls_ca: Option<PathBuf>,
    /// `--memcache-tls`.
    pub memcache_tls: Option<bool>,
    /// `--resp-listen`.
    pub resp_listen: Option<Listen>,
    /// `--resp-password` (or its environment variable).
    pub resp_password: Option<String>,
    /// `--resp-script-time-limit`.
    pub resp_script_time_limit: Option<ConfigDuration>,
    /// `--resp-notify-keyspace-events`.
    pub resp_notify_keyspace_events: Option<String>,
}

/// Why the configuration could not be used. Every message names the setting at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML or has a bad value.
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message, which names the setting and line.
        message: String,
    },
    /// A TLS file (certificate, key, CA) cannot be read or used.
    #[error("{setting}: {path}: {message}")]
    Tls {
        /// The setting that names the file.
        setting: &'static str,
        /// The file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// A setting's value is out of range.
    #[error("{setting}: {message}")]
    Invalid {
        /// The setting, as written in the file.
        setting: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

impl Config {
    /// The configuration from `path` (or the defaults without one) with `overrides` applied,
    /// checked.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let file = match path {
            None => FileConfig::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                toml::from_str(&text).map_err(|error| ConfigError::Parse {
                    path: path.display().to_string(),
                    message: parse_message(&text, &error),
                })?
            }
        };
        let item_size_given = overrides.max_item_size.is_some()
            || file
                .memcache
                .as_ref()
                .is_some_and(|m| m.max_item_size.is_some());
        let mut config = Config::default();
        file.apply(&mut config);
        overrides.apply(&mut config);
        if !item_size_given {
            // A small memory limit alone should work: the default item size follows it down.
            config.memcache.max_item_size = config.memcache.max_item_size.min(config.max_memory);
        }
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |setting, message: &str| {
            Err(ConfigError::Invalid {
                setting,
                message: message.to_string(),
            })
        };
        if self.threads == 0 || self.threads > 1024 {
            return invalid("threads", "must be between 1 and 1024");
        }
        if self.max_memory.0 < 1 << 20 {
            return invalid("max_memory", "must be at least 1MiB");
        }
        if self.max_connections == 0 {
            return invalid("max_connections", "must be at least 1");
        }
        let item = self.memcache.max_item_size.0;
        if !(1024..=1 << 30).contains(&item) {
            return invalid("memcache.max_item_size", "must be between 1KiB and 1GiB");
        }
        if item > self.max_memory.0 {
            return invalid(
                "memcache.max_item_size",
                "must not be larger than max_memory",
            );
        }
        let aspnet = &self.aspnet;
        if !(1024..=1 << 30).contains(&aspnet.max_body_size.0) {
            return invalid("aspnet.max_body_size", "must be between 1KiB and 1GiB");
        }
        if !(1024..=1 << 20).contains(&aspnet.max_head_size.0) {
            return invalid("aspnet.max_head_size", "must be between 1KiB and 1MiB");
        }
        if !(8..=1024).contains(&aspnet.max_headers) {
            return invalid("aspnet.max_headers", "must be between 8 and 1024");
        }
        if let Err(error) = aspnet_applications(aspnet) {
            return invalid("aspnet.shared_sessions", &error.to_string());
        }
        let sharedance = &self.sharedance;
        if sharedance.expiration < Duration::from_secs(1) {
            return invalid("sharedance.expiration", "must be at least 1s");
        }
        if sharedance.timeout < Duration::from_secs(1) {
            return invalid("sharedance.timeout", "must be at least 1s");
        }
        if self.persistence.snapshot_interval < Duration::from_secs(1) {
            return invalid("snapshot_interval", "must be at least 1s");
        }
        if self.persistence.snapshot_log_size.0 < 128 << 20 {
            return invalid(
                "snapshot_log_size",
                "must be at least 128MiB (two log segments)",
            );
        }
        if !self.persistence.in_memory && self.persistence.data_dir.as_os_str().is_empty() {
            return invalid("data_dir", "must name a directory (or set in_memory)");
        }
        let cluster = &self.cluster;
        if let Some(id) = cluster.node_id {
            if id == 0 {
                return invalid("cluster.node_id", "must be a positive integer");
            }
            if cluster
                .secret
                .as_deref()
                .is_none_or(|secret| secret.len() < 16)
            {
                return invalid(
                    "cluster.secret",
                    "a cluster needs a shared secret of at least 16 characters \
                     (cluster.secret, --cluster-secret or SESSIOND_CLUSTER_SECRET)",
                );
            }
            if !cluster.peers.is_empty() && !cluster.peers.iter().any(|peer| peer.id == id) {
                return invalid("cluster.peers", "must list this node too");
            }
            if self.persistence.in_memory {
                return invalid(
                    "in_memory",
                    "a cluster node keeps its Raft log in data_dir; in_memory is for a single node",
                );
            }
        }
        if cluster.heartbeat.is_zero() || cluster.election_timeout < cluster.heartbeat * 3 {
            return invalid(
                "cluster.election_timeout",
                "must be at least three heartbeats",
            );
        }
        self.tls.check()?;
        for (setting, tls) in [
            ("memcache.tls", self.memcache.tls),
            ("aspnet.tls", self.aspnet.tls),
            ("sharedance.tls", self.sharedance.tls),
            ("resp.tls", self.resp.tls),
        ] {
            if tls && !self.tls.is_on() {
                return invalid(setting, "a TLS listener needs [tls] cert and key");
            }
        }
        if cluster.node_id.is_some() && self.tls.is_on() && self.tls.ca.is_none() {
            return invalid(
                "tls.ca",
                "a cluster over TLS needs the CA that signed its nodes' certificates",
            );
        }
        if cluster.snapshot_entries == 0 {
            return invalid("cluster.snapshot_entries", "must be at least 1");
        }
        let resp = &self.resp;
        if resp.password.as_deref() == Some("") {
            return invalid(
                "resp.password",
                "must not be empty (leave it out to let clients in without AUTH)",
            );
        }
        if !(1024..=512 << 20).contains(&resp.max_bulk_len.0) {
            return invalid("resp.max_bulk_len", "must be between 1KiB and 512MiB");
        }
        if resp.max_request_size.0 < resp.max_bulk_len.0 + (64 << 10)
            || resp.max_request_size.0 > 1 << 30
        {
            return invalid(
                "resp.max_request_size",
                "must be at least resp.max_bulk_len plus 64KiB, and at most 1GiB",
            );
        }
        if !(1..=1 << 24).contains(&resp.max_queued_commands) {
            return invalid("resp.max_queued_commands", "must be between 1 and 16777216");
        }
        if !(1024..=4 << 30).contains(&resp.max_transaction_size.0) {
            return invalid("resp.max_transaction_size", "must be between 1KiB and 4GiB");
        }
        if !(1..=1 << 20).contains(&resp.max_atomic_keys) {
            return invalid("resp.max_atomic_keys", "must be between 1 and 1048576");
        }
        if resp.script_time_limit.is_zero() || resp.script_time_limit > Duration::from_secs(3600) {
            return invalid(
                "resp.script_time_limit",
                "must be between 1ms and 1h (a script holds its keys while it runs)",
            );
        }
        if !(1 << 20..=1 << 30).contains(&resp.script_max_memory.0) {
            return invalid("resp.script_max_memory", "must be between 1MiB and 1GiB");
        }
        if !(1..=1_000_000).contains(&resp.script_cache_scripts) {
            return invalid("resp.script_cache_scripts", "must be between 1 and 1000000");
        }
        if !(1 << 10..=1 << 30).contains(&resp.script_cache_size.0) {
            return invalid("resp.script_cache_size", "must be between 1KiB and 1GiB");
        }
        if !(64 << 10..=1 << 30).contains(&resp.pubsub_buffer_limit.0) {
            return invalid("resp.pubsub_buffer_limit", "must be between 64KiB and 1GiB");
        }
        if sessiond_resp::KeyspaceEvents::parse(&resp.notify_keyspace_events).is_none() {
            return invalid(
                "resp.notify_keyspace_events",
                "must be Redis's class letters (K E g $ l s h z x e t m d n A), e.g. \"Egx\"",
            );
        }
        if !(10..=1 << 30).contains(&sharedance.max_request_size.0) {
            return invalid(
                "sharedance.max_request_size",
                "must be between 10 bytes and 1GiB",
            );
        }
        Ok(())
    }
}

/// The namespaces each protocol's keys live in. Protocols never see each other's keys: a
/// memcached key and a sharedance key with the same bytes are different sessions.
pub mod namespaces {
    use sessiond_engine::NamespaceId;

    /// memcached keys.
    pub const MEMCACHE: NamespaceId = NamespaceId::DEFAULT;
    /// ASP.NET sessions of applications that share with no other.
    pub const ASPNET: NamespaceId = NamespaceId(1);
    /// sharedance keys.
    pub const SHAREDANCE: NamespaceId = NamespaceId(2);
    /// Redis database 0; database `i` is this plus `i`, up to 15.
    pub const RESP_FIRST: NamespaceId = NamespaceId(16);
    /// The first namespace of the ASP.NET shared-session groups; group `i` is this plus `i`.
    pub const ASPNET_SHARED_FIRST: NamespaceId = NamespaceId(1 << 16);
}

/// Where each ASP.NET application's sessions live, from the shared-session groups.
pub fn aspnet_applications(
    config: &AspnetConfig,
) -> Result<sessiond_aspnet::Applications, sessiond_aspnet::ApplicationsError> {
    let mut applications = sessiond_aspnet::Applications::new(namespaces::ASPNET);
    for (index, group) in config.shared_sessions.iter().enumerate() {
        let offset = u32::try_from(index).unwrap_or(u32::MAX);
        let namespace = NamespaceId(namespaces::ASPNET_SHARED_FIRST.0.saturating_add(offset));
        applications.share(&group.applications, namespace)?;
    }
    Ok(applications)
}

/// The parser's message with the line it is about, so it names the setting in one line:
/// `line 2 (max_memory = "x"): 'x' is not a size ...`.
fn parse_message(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim();
    let Some(span) = error.span() else {
        return message.to_string();
    };
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let number = text[..line_start].matches('\n').count() + 1;
    format!(
        "line {number} ({}): {message}",
        text[line_start..line_end].trim()
    )
}

pub(crate) fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn load_text(text: &str, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        Config::load(Some(file.path()), overrides)
    }

    #[test]
    fn defaults_listen_on_loopback_only() {
        let config = Config::load(None, &Overrides::default()).unwrap();
        let Listen::On(addr) = config.memcache.listen else {
            panic!("memcache listener off by default");
        };
        assert!(addr.ip().is_loopback());
        assert_eq!(addr.port(), 11211);
    }

    #[test]
    fn flags_override_the_file() {
        let overrides = Overrides {
            threads: Some(3),
            memcache_listen: Some(Listen::Off),
            ..Overrides::default()
        };
        let config = load_text(
            "threads = 1\nmax_memory = \"64MiB\"\n[memcache]\nlisten = \"127.0.0.1:1\"\n",
            &overrides,
        )
        .unwrap();
        assert_eq!(config.threads, 3);
        assert_eq!(config.max_memory, ByteSize(64 << 20));
        assert_eq!(config.memcache.listen, Listen::Off);
    }

    #[test]
    fn the_log_size_that_triggers_a_snapshot_is_read_and_bounded() {
        let config = Config::load(None, &Overrides::default()).unwrap();
        assert_eq!(config.persistence.snapshot_log_size, ByteSize(1 << 30));
        let config = load_text("snapshot_log_size = \"256MiB\"\n", &Overrides::default()).unwrap();
        assert_eq!(config.persistence.snapshot_log_size, ByteSize(256 << 20));
        let error = load_text("snapshot_log_size = \"64MiB\"\n", &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("snapshot_log_size: "), "{error}");
    }

    #[test]
    fn raft_runs_beside_the_clients_unless_the_file_says_otherwise() {
        let config = Config::load(None, &Overrides::default()).unwrap();
        assert!(config.cluster.raft_on_worker);
        let config =
            load_text("[cluster]\nraft_on_worker = false\n", &Overrides::default()).unwrap();
        assert!(!config.cluster.raft_on_worker);
        let error = load_text(
            "[cluster]\nraft_on_worker = \"no\"\n",
            &Overrides::default(),
        );
        assert!(error.is_err());
    }

    #[test]
    fn a_small_memory_limit_brings_the_default_item_size_down() {
        let overrides = Overrides {
            max_memory: Some(ByteSize(2 << 20)),
            ..Overrides::default()
        };
        let config = Config::load(None, &overrides).unwrap();
        assert_eq!(config.memcache.max_item_size, ByteSize(2 << 20));
    }

    #[test]
    fn the_redis_listener_takes_its_section_and_flags() {
        let config = Config::load(None, &Overrides::default()).unwrap();
        assert_eq!(
            config.resp.listen,
            Listen::On(([127, 0, 0, 1], 6379).into())
        );
        assert_eq!(config.resp.password, None);
        let config = load_text(
            "[resp]\nlisten = \"off\"\npassword = \"s3cret\"\nallow = [\"10.0.0.0/8\"]\n\
             max_bulk_len = \"1MiB\"\nmax_request_size = \"2MiB\"\n\
             max_queued_commands = 50\nmax_transaction_size = \"1MiB\"\nmax_atomic_keys = 8\n",
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(config.resp.listen, Listen::Off);
        assert_eq!(config.resp.max_queued_commands, 50);
        assert_eq!(config.resp.max_transaction_size, ByteSize(1 << 20));
        assert_eq!(config.resp.max_atomic_keys, 8);
        assert_eq!(config.resp.password.as_deref(), Some("s3cret"));
        assert_eq!(config.resp.max_bulk_len, ByteSize(1 << 20));
        assert!(
            !format!("{config:?}").contains("s3cret"),
            "the password stays out of logs"
        );
        let overrides = Overrides {
            resp_password: Some("other".into()),
            ..Overrides::default()
        };
        let config = load_text("[resp]\npassword = \"s3cret\"\n", &overrides).unwrap();
        assert_eq!(config.resp.password.as_deref(), Some("other"));
        let error = load_text("[resp]\npassword = \"\"\n", &Overrides::default()).unwrap_err();
        assert!(error.to_string().starts_with("resp.password: "), "{error}");
        let error = load_text(
            "[resp]\nmax_bulk_len = \"8MiB\"\nmax_request_size = \"8MiB\"\n",
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(
            error.to_string().starts_with("resp.max_request_size: "),
            "{error}"
        );
        let error = load_text("[resp]\nmax_atomic_keys = 0\n", &Overrides::default()).unwrap_err();
        assert!(
            error.to_string().starts_with("resp.max_atomic_keys: "),
            "{error}"
        );
    }

    #[test]
    fn resp_script_limits_come_from_the_file_and_the_flag() {
        let config = Config::load(None, &Overrides::default()).unwrap();
        assert_eq!(config.resp.script_time_limit, Duration::from_secs(5));
        assert_eq!(config.resp.script_max_memory, ByteSize(64 << 20));
        let text = "[resp]\nscript_time_limit = \"250ms\"\nscript_max_memory = \"8MiB\"\n\
                    script_cache_scripts = 10\nscript_cache_size = \"1MiB\"\n\
                    notify_keyspace_events = \"Egx\"\n";
        let config = load_text(text, &Overrides::default()).unwrap();
        assert_eq!(config.resp.script_time_limit, Duration::from_millis(250));
        assert_eq!(config.resp.script_max_memory, ByteSize(8 << 20));
        assert_eq!(config.resp.script_cache_scripts, 10);
        assert_eq!(config.resp.script_cache_size, ByteSize(1 << 20));
        assert_eq!(config.resp.notify_keyspace_events, "Egx");
        let overrides = Overrides {
            resp_script_time_limit: Some(ConfigDuration(Duration::from_secs(2))),
            ..Overrides::default()
        };
        let config = load_text(text, &overrides).unwrap();
        assert_eq!(config.resp.script_time_limit, Duration::from_secs(2));
        for (text, setting) in [
            (
                "[resp]\nscript_time_limit = 0\n",
                "resp.script_time_limit: ",
            ),
            (
                "[resp]\nnotify_keyspace_events = \"Ez\\u0001\"\n",
                "resp.notify_keyspace_events: ",
            ),
            (
                "[resp]\nscript_max_memory = \"1KiB\"\n",
                "resp.script_max_memory: ",
            ),
            (
                "[resp]\nscript_cache_scripts = 0\n",
                "resp.script_cache_scripts: ",
            ),
            (
                "[resp]\nscript_cache_size = 0\n",
                "resp.script_cache_size: ",
            ),
        ] {
            let error = load_text(text, &Overrides::default()).unwrap_err();
            assert!(error.to_string().starts_with(setting), "{error}");
        }
    }

    #[test]
    fn bad_values_name_the_setting() {
        let error = load_text("max_memory = \"lots\"\n", &Overrides::default()).unwrap_err();
        assert!(
            error.to_string().contains("line 1 (max_memory = \"lots\")"),
            "{error}"
        );
        assert!(!error.to_string().contains('\n'), "{error}");
        let error = load_text("threads = 0\n", &Overrides::default()).unwrap_err();
        assert_eq!(error.to_string(), "threads: must be between 1 and 1024");
        let error = load_text("thread = 2\n", &Overrides::default()).unwrap_err();
        assert!(error.to_string().contains("thread"), "{error}");
    }
}
