//! The configuration file's shape, and how it and the command line apply over the defaults.

use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

use super::FsyncPolicy;

use super::{ClientAuth, Config, Overrides, Peer, SharedSessions, set};
use crate::allow::AllowList;
use crate::duration::ConfigDuration;
use crate::listen::Listen;
use crate::size::ByteSize;

/// The configuration file: every setting optional, unknown settings refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    threads: Option<usize>,
    max_memory: Option<ByteSize>,
    max_connections: Option<usize>,
    idle_timeout: Option<ConfigDuration>,
    shutdown_timeout: Option<ConfigDuration>,
    in_memory: Option<bool>,
    data_dir: Option<PathBuf>,
    fsync: Option<FileFsync>,
    snapshot_interval: Option<ConfigDuration>,
    snapshot_log_size: Option<ByteSize>,
    pub memcache: Option<FileMemcache>,
    aspnet: Option<FileAspnet>,
    sharedance: Option<FileSharedance>,
    resp: Option<FileResp>,
    cluster: Option<FileCluster>,
    tls: Option<FileTls>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTls {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    ca: Option<PathBuf>,
    client_auth: Option<ClientAuth>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCluster {
    node_id: Option<u64>,
    listen: Option<std::net::SocketAddr>,
    advertise: Option<String>,
    peers: Option<Vec<Peer>>,
    secret: Option<String>,
    heartbeat: Option<ConfigDuration>,
    election_timeout: Option<ConfigDuration>,
    leader_wait: Option<ConfigDuration>,
    snapshot_entries: Option<u64>,
    raft_on_worker: Option<bool>,
}

/// `fsync = "always" | "everysec" | "no"`.
#[derive(Debug)]
struct FileFsync(FsyncPolicy);

impl<'de> Deserialize<'de> for FileFsync {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse()
            .map(FileFsync)
            .map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileMemcache {
    listen: Option<Listen>,
    allow: Option<AllowList>,
    tls: Option<bool>,
    pub max_item_size: Option<ByteSize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAspnet {
    listen: Option<Listen>,
    allow: Option<AllowList>,
    tls: Option<bool>,
    max_body_size: Option<ByteSize>,
    max_head_size: Option<ByteSize>,
    max_headers: Option<usize>,
    shared_sessions: Option<Vec<SharedSessions>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSharedance {
    listen: Option<Listen>,
    allow: Option<AllowList>,
    tls: Option<bool>,
    expiration: Option<ConfigDuration>,
    sliding: Option<bool>,
    timeout: Option<ConfigDuration>,
    max_request_size: Option<ByteSize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileResp {
    listen: Option<Listen>,
    allow: Option<AllowList>,
    tls: Option<bool>,
    password: Option<String>,
    max_bulk_len: Option<ByteSize>,
    max_request_size: Option<ByteSize>,
    max_queued_commands: Option<usize>,
    max_transaction_size: Option<ByteSize>,
    max_atomic_keys: Option<usize>,
    script_time_limit: Option<ConfigDuration>,
    script_max_memory: Option<ByteSize>,
    script_cache_scripts: Option<usize>,
    script_cache_size: Option<ByteSize>,
    pubsub_buffer_limit: Option<ByteSize>,
    notify_keyspace_events: Option<String>,
}

impl FileConfig {
    /// Sets every setting the file gives.
    pub fn apply(self, config: &mut Config) {
        set(&mut config.threads, self.threads);
        set(&mut config.max_memory, self.max_memory);
        set(&mut config.max_connections, self.max_connections);
        set(&mut config.idle_timeout, self.idle_timeout.map(|d| d.0));
        set(
            &mut config.shutdown_timeout,
            self.shutdown_timeout.map(|d| d.0),
        );
        let persistence = &mut config.persistence;
        set(&mut persistence.in_memory, self.in_memory);
        set(&mut persistence.data_dir, self.data_dir);
        set(&mut persistence.fsync, self.fsync.map(|f| f.0));
        set(
            &mut persistence.snapshot_interval,
            self.snapshot_interval.map(|d| d.0),
        );
        set(&mut persistence.snapshot_log_size, self.snapshot_log_size);
        if let Some(file) = self.memcache {
            let memcache = &mut config.memcache;
            set(&mut memcache.listen, file.listen);
            set(&mut memcache.allow, file.allow);
            set(&mut memcache.tls, file.tls);
            set(&mut memcache.max_item_size, file.max_item_size);
        }
        if let Some(file) = self.aspnet {
            let aspnet = &mut config.aspnet;
            set(&mut aspnet.listen, file.listen);
            set(&mut aspnet.allow, file.allow);
            set(&mut aspnet.tls, file.tls);
            set(&mut aspnet.max_body_size, file.max_body_size);
            set(&mut aspnet.max_head_size, file.max_head_size);
            set(&mut aspnet.max_headers, file.max_headers);
            set(&mut aspnet.shared_sessions, file.shared_sessions);
        }
        if let Some(file) = self.cluster {
            let cluster = &mut config.cluster;
            set(&mut cluster.node_id, file.node_id.map(Some));
            set(&mut cluster.listen, file.listen);
            set(&mut cluster.advertise, file.advertise.map(Some));
            set(&mut cluster.peers, file.peers);
            set(&mut cluster.secret, file.secret.map(Some));
            set(&mut cluster.heartbeat, file.heartbeat.map(|d| d.0));
            set(
                &mut cluster.election_timeout,
                file.election_timeout.map(|d| d.0),
            );
            set(&mut cluster.leader_wait, file.leader_wait.map(|d| d.0));
            set(&mut cluster.snapshot_entries, file.snapshot_entries);
            set(&mut cluster.raft_on_worker, file.raft_on_worker);
        }
        if let Some(file) = self.tls {
            let tls = &mut config.tls;
            set(&mut tls.cert, file.cert.map(Some));
            set(&mut tls.key, file.key.map(Some));
            set(&mut tls.ca, file.ca.map(Some));
            set(&mut tls.client_auth, file.client_auth.map(Some));
        }
        if let Some(file) = self.resp {
            let resp = &mut config.resp;
            set(&mut resp.listen, file.listen);
            set(&mut resp.allow, file.allow);
            set(&mut resp.tls, file.tls);
            set(&mut resp.password, file.password.map(Some));
            set(&mut resp.max_bulk_len, file.max_bulk_len);
            set(&mut resp.max_request_size, file.max_request_size);
            set(&mut resp.max_queued_commands, file.max_queued_commands);
            set(&mut resp.max_transaction_size, file.max_transaction_size);
            set(&mut resp.max_atomic_keys, file.max_atomic_keys);
            set(
                &mut resp.script_time_limit,
                file.script_time_limit.map(|d| d.0),
            );
            set(&mut resp.script_max_memory, file.script_max_memory);
            set(&mut resp.script_cache_scripts, file.script_cache_scripts);
            set(&mut resp.script_cache_size, file.script_cache_size);
            set(&mut resp.pubsub_buffer_limit, file.pubsub_buffer_limit);
            set(
                &mut resp.notify_keyspace_events,
                file.notify_keyspace_events,
            );
        }
        if let Some(file) = self.sharedance {
            let sharedance = &mut config.sharedance;
            set(&mut sharedance.listen, file.listen);
            set(&mut sharedance.allow, file.allow);
            set(&mut sharedance.tls, file.tls);
            set(&mut sharedance.expiration, file.expiration.map(|d| d.0));
            set(&mut sharedance.sliding, file.sliding);
            set(&mut sharedance.timeout, file.timeout.map(|d| d.0));
            set(&mut sharedance.max_request_size, file.max_request_size);
        }
    }
}

impl Overrides {
    /// Sets every setting the command line gives.
    pub(super) fn apply(&self, config: &mut Config) {
        set(&mut config.threads, self.threads);
        set(&mut config.max_memory, self.max_memory);
        set(&mut config.max_connections, self.max_connections);
        set(&mut config.idle_timeout, self.idle_timeout.map(|d| d.0));
        set(&mut config.memcache.listen, self.memcache_listen.clone());
        set(&mut config.memcache.max_item_size, self.max_item_size);
        set(&mut config.aspnet.listen, self.aspnet_listen.clone());
        let sharedance = &mut config.sharedance;
        set(&mut sharedance.listen, self.sharedance_listen.clone());
        set(
            &mut sharedance.expiration,
            self.sharedance_expiration.map(|d| d.0),
        );
        set(
            &mut sharedance.timeout,
            self.sharedance_timeout.map(|d| d.0),
        );
        set(&mut sharedance.sliding, self.sharedance_sliding);
        let persistence = &mut config.persistence;
        set(&mut persistence.in_memory, self.in_memory);
        set(&mut persistence.data_dir, self.data_dir.clone());
        set(&mut persistence.fsync, self.fsync);
        let cluster = &mut config.cluster;
        set(&mut cluster.node_id, self.node_id.map(Some));
        set(&mut cluster.listen, self.cluster_listen);
        set(
            &mut cluster.advertise,
            self.cluster_advertise.clone().map(Some),
        );
        set(&mut cluster.peers, self.peers.clone());
        set(&mut cluster.secret, self.cluster_secret.clone().map(Some));
        set(&mut config.memcache.tls, self.memcache_tls);
        set(&mut config.resp.listen, self.resp_listen.clone());
        set(
            &mut config.resp.password,
            self.resp_password.clone().map(Some),
        );
        set(
            &mut config.resp.script_time_limit,
            self.resp_script_time_limit.map(|d| d.0),
        );
        set(
            &mut config.resp.notify_keyspace_events,
            self.resp_notify_keyspace_events.clone(),
        );
        let tls = &mut config.tls;
        set(&mut tls.cert, self.tls_cert.clone().map(Some));
        set(&mut tls.key, self.tls_key.clone().map(Some));
        set(&mut tls.ca, self.tls_ca.clone().map(Some));
    }
}
