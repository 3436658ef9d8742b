//! A server that is one node of a cluster: where each client connection goes (served here
//! while this node leads, sent on to the leader otherwise, refused after a bounded wait when
//! there is none), and the wait that holds replies until the group committed them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sessiond_cluster::journal::ClusterJournal;
use sessiond_cluster::node::{ClusterNode, NodeConfig, Role};
use sessiond_cluster::types::NodeInfo;
use sessiond_engine::Timestamp;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsConnector;

use crate::config::ClusterConfig;
use crate::error::ServerError;
use crate::protocol::Protocol;
use crate::shared::Shared;

/// A cluster node bound but not started: starting needs the runtime `Server::run` has.
#[derive(Debug)]
pub(crate) struct Pending {
    pub config: ClusterConfig,
    pub listener: std::net::TcpListener,
    /// `<data_dir>/raft`.
    pub data_dir: PathBuf,
    pub fsync: sessiond_storage::FsyncPolicy,
    /// The newest leader time applied; the server's clock is held at or after it.
    pub time_floor: Arc<AtomicU64>,
    /// Mutual TLS for the cluster transport, when `[tls]` is configured.
    pub tls: Option<sessiond_cluster::network::ClusterTls>,
}

/// Starts the node, with `clients` (protocol name, bound address) as where clients reach it.
pub(crate) async fn start(
    pending: Pending,
    clients: Vec<(String, SocketAddr)>,
    shared: &Shared,
) -> Result<ClusterShared, ServerError> {
    let Pending {
        config,
        listener,
        data_dir,
        fsync,
        time_floor,
        tls,
    } = pending;
    let id = config.node_id.unwrap_or_default();
    let bound = listener.local_addr().map_err(ServerError::Runtime)?;
    let cluster_addr = config
        .advertise
        .clone()
        .unwrap_or_else(|| bound.to_string());
    // A client listener on a wildcard address is reached at the advertised host.
    let advertised_host = cluster_addr
        .rsplit_once(':')
        .map_or_else(|| bound.ip().to_string(), |(host, _)| host.to_owned());
    let info = NodeInfo {
        cluster: cluster_addr,
        clients: clients
            .into_iter()
            .map(|(protocol, addr)| {
                let addr = if addr.ip().is_unspecified() {
                    format!("{advertised_host}:{}", addr.port())
                } else {
                    addr.to_string()
                };
                (protocol, addr)
            })
            .collect(),
    };
    let initial_members: BTreeMap<_, _> = config
        .peers
        .iter()
        .map(|peer| {
            let member = if peer.id == id {
                info.clone()
            } else {
                NodeInfo {
                    cluster: peer.addr.clone(),
                    clients: BTreeMap::new(),
                }
            };
            (peer.id, member)
        })
        .collect();
    let election_ms = u64::try_from(config.election_timeout.as_millis()).unwrap_or(u64::MAX);
    let node_config = NodeConfig {
        id,
        info,
        initial_members,
        dir: data_dir,
        fsync,
        network: sessiond_cluster::network::NetworkConfig {
            tls,
            ..sessiond_cluster::network::NetworkConfig::new(
                config.secret.clone().unwrap_or_default().into_bytes(),
            )
        },
        heartbeat_ms: u64::try_from(config.heartbeat.as_millis()).unwrap_or(u64::MAX),
        election_ms: (election_ms, election_ms.saturating_mul(2)),
        snapshot_entries: config.snapshot_entries,
        max_in_flight: 64 << 20,
        time_floor: Arc::clone(&time_floor),
    };
    let listener = tokio::net::TcpListener::from_std(listener).map_err(ServerError::Runtime)?;
    let clock = Arc::clone(&shared.clock);
    let now_ms = Arc::new(move || clock.now().as_millis());
    let node =
        ClusterNode::start(node_config, Arc::clone(&shared.engine), listener, now_ms).await?;
    tracing::info!(node = id, cluster = %bound, "cluster node started");
    Ok(ClusterShared {
        id,
        role: node.role(),
        node,
        leader_wait: config.leader_wait,
        time_floor,
    })
}

/// What connections on a cluster node share.
pub(crate) struct ClusterShared {
    /// This node's id.
    id: u64,
    pub node: ClusterNode,
    pub role: watch::Receiver<Role>,
    pub leader_wait: Duration,
    time_floor: Arc<AtomicU64>,
}

impl std::fmt::Debug for ClusterShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterShared")
            .field("role", &*self.role.borrow())
            .finish()
    }
}

/// Where a client connection goes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// This node leads: serve it here.
    Serve,
    /// Send it on to the leader's listener for the same protocol.
    Forward(String),
    /// No leader within the wait: answer with the protocol's error.
    Refuse,
}

impl ClusterShared {
    /// The leader's newest time this node applied, while it does not lead; `None` while it
    /// leads (its own clock, held at or after that time, counts).
    pub fn leader_time(&self) -> Option<Timestamp> {
        if self.role.borrow().serving {
            return None;
        }
        Some(Timestamp::from_millis(
            self.time_floor.load(Ordering::Acquire),
        ))
    }

    /// Decides where a new connection for `protocol` goes, waiting up to the leader wait
    /// for a leader to be known.
    pub async fn route(&self, protocol: Protocol) -> Route {
        let mut role = self.role.clone();
        let deadline = tokio::time::Instant::now() + self.leader_wait;
        loop {
            if let Some(route) = decide(&role.borrow_and_update(), self.id, protocol.name()) {
                return route;
            }
            match tokio::time::timeout_at(deadline, role.changed()).await {
                Ok(Ok(())) => {}
                _ => return Route::Refuse,
            }
        }
    }
}

/// Where a connection goes given what this node (`me`) knows now; `None`: wait for news.
fn decide(role: &Role, me: u64, protocol: &str) -> Option<Route> {
    if role.serving {
        return Some(Route::Serve);
    }
    // Between winning an election and applying an entry of its own term, this node is the
    // leader but does not serve yet: sent on to itself, the connection would come back here
    // and be sent on again, each hop holding a connection, until the connection limit stops
    // accepting and the whole chain waits for its clients to give up.
    let (leader, info) = role.leader.as_ref()?;
    if *leader == me {
        return None;
    }
    info.clients
        .get(protocol)
        .map(|addr| Route::Forward(addr.clone()))
}

/// Completes once this node does not serve clients (it stopped leading); never on a single
/// node.
pub(crate) async fn deposed(cluster: Option<&ClusterShared>) {
    let Some(cluster) = cluster else {
        return std::future::pending().await;
    };
    let mut role = cluster.role.clone();
    while role.borrow_and_update().serving {
        if role.changed().await.is_err() {
            return;
        }
    }
}

/// Holds a batch's replies until the group committed what they show: the batch's own
/// writes, and the newest record of every shard its commands read (a read must not answer
/// with a change that a failover could still undo). Records of shards the batch did not
/// touch do not hold it: a read of a quiet key answers while other keys' writes replicate.
/// A batch that changed nothing and saw nothing uncommitted confirms leadership instead
/// (free within the leader's lease). False when this node stopped leading: the replies must
/// not be sent. A batch that neither changed anything nor answered anything (an incomplete
/// request) waits for nothing.
pub(crate) async fn settle(cluster: &ClusterShared, replied: bool) -> bool {
    let journal: &Arc<ClusterJournal> = cluster.node.journal();
    let (epoch, lsn) = sessiond_cluster::journal::take_thread_lsn();
    let progress = journal.progress();
    if lsn > 0 && epoch != progress.epoch {
        return false;
    }
    if lsn > progress.committed {
        return journal.wait_committed(lsn, epoch).await.is_ok();
    }
    if !replied && lsn == 0 {
        return true;
    }
    if !journal.is_open() {
        return false;
    }
    cluster.node.confirm_leadership().await
}

/// Handles a connection this node does not serve: relays it to the leader's listener until
/// either side closes, or answers with the protocol's error when there is no leader.
///
/// A client of a TLS listener arrives here with its TLS already ended on this node; `relay`
/// is then given, and the connection to the leader's listener for the same protocol (TLS too:
/// nodes share their settings) is TLS again, with this node's certificate as the client's
/// and the leader's checked against the CA. Without TLS the relay is plain TCP, as the
/// client's own connection is.
pub(crate) async fn serve_elsewhere<S: AsyncRead + AsyncWrite + Unpin>(
    mut client: S,
    route: Route,
    protocol: Protocol,
    relay: Option<&TlsConnector>,
) {
    let Route::Forward(addr) = route else {
        let _ = client.write_all(protocol.unavailable()).await;
        let _ = client.flush().await;
        return;
    };
    let connected = tokio::time::timeout(RELAY_CONNECT_TIMEOUT, async {
        let leader = TcpStream::connect(&addr).await?;
        let _ = leader.set_nodelay(true);
        Ok::<_, std::io::Error>(leader)
    })
    .await;
    let Ok(Ok(leader)) = connected else {
        tracing::debug!(addr, "the leader could not be reached");
        let _ = client.write_all(protocol.unavailable()).await;
        let _ = client.flush().await;
        return;
    };
    match relay {
        None => relay_to(client, leader).await,
        Some(connector) => {
            let name = server_name(&addr);
            let handshake = async {
                let name = name.ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a server name")
                })?;
                connector.connect(name, leader).await
            };
            match tokio::time::timeout(RELAY_CONNECT_TIMEOUT, handshake).await {
                Ok(Ok(leader)) => relay_to(client, leader).await,
                Ok(Err(error)) => {
                    tracing::warn!(addr, %error, "no TLS to the leader's listener");
                    let _ = client.write_all(protocol.unavailable()).await;
                    let _ = client.flush().await;
                }
                Err(_) => {
                    tracing::warn!(addr, "no TLS handshake with the leader's listener in time");
                    let _ = client.write_all(protocol.unavailable()).await;
                    let _ = client.flush().await;
                }
            }
        }
    }
}

/// How long reaching the leader's listener may take, TLS handshake included.
const RELAY_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

async fn relay_to<A, B>(mut client: A, mut leader: B)
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let _ = tokio::io::copy_bidirectional(&mut client, &mut leader).await;
}

/// The TLS server name of `host:port`: the host, an IP address or a DNS name.
fn server_name(addr: &str) -> Option<rustls::pki_types::ServerName<'static>> {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    rustls::pki_types::ServerName::try_from(host.to_owned()).ok()
}
