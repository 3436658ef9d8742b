//! A cluster node: the Raft instance with its log, state machine and network, and the task
//! that follows leadership: it opens the engine's journal to commands when this node leads
//! (and every earlier entry is applied), proposes the journal's batches, and closes it,
//! rebuilding the engine if needed, when leadership ends.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use openraft::async_runtime::watch::WatchReceiver;
use openraft::network::{NetSnapshot, RaftNetworkFactory};
use openraft::{ReadPolicy, ServerState};
use sessiond_engine::Engine;
use sessiond_storage::FsyncPolicy;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::journal::ClusterJournal;
use crate::log_store::LogStore;
use crate::network::{self, NetworkConfig, NetworkFactory};
use crate::state_machine::StateMachine;
use crate::types::{NodeId, NodeInfo, Raft, RaftMetrics, TypeConfig};

/// How a node is set up.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// This node's id.
    pub id: NodeId,
    /// Where peers and the `sessiond cluster` commands reach this node, and where its
    /// clients connect.
    pub info: NodeInfo,
    /// The members to start a new cluster with (this node included), or empty to wait to
    /// be added to a running one.
    pub initial_members: BTreeMap<NodeId, NodeInfo>,
    /// The directory for the Raft log and snapshots.
    pub dir: PathBuf,
    /// When the Raft log is flushed.
    pub fsync: FsyncPolicy,
    /// The transport's settings, the cluster secret among them.
    pub network: NetworkConfig,
    /// How often the leader sends heartbeats, in milliseconds.
    pub heartbeat_ms: u64,
    /// The election timeout range, in milliseconds.
    pub election_ms: (u64, u64),
    /// A snapshot is taken after this many log entries.
    pub snapshot_entries: u64,
    /// The most bytes of changes the leader holds uncommitted before writers wait.
    pub max_in_flight: usize,
    /// Follows the newest leader time applied, in milliseconds since the epoch: the
    /// server's clock never runs behind it, and a follower expires sessions by it.
    pub time_floor: Arc<AtomicU64>,
}

/// What this node is to the clients that connect to it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Role {
    /// This node leads and runs commands.
    pub serving: bool,
    /// The current leader, if one is known.
    pub leader: Option<(NodeId, NodeInfo)>,
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The log or snapshot directory could not be opened.
    #[error("the cluster data directory {dir}: {source}")]
    Storage {
        /// The directory.
        dir: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// The Raft log could not be opened.
    #[error(transparent)]
    Log(#[from] crate::log_store::LogStoreError),
    /// openraft refused the configuration or failed to start.
    #[error("raft: {0}")]
    Raft(String),
    /// The engine already has a journal.
    #[error("the engine already records its changes elsewhere")]
    JournalTaken,
    /// The cluster listener could not be bound.
    #[error("the cluster listener {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// What failed.
        source: io::Error,
    },
}

/// A running cluster node.
pub struct ClusterNode {
    raft: Raft,
    journal: Arc<ClusterJournal>,
    role: watch::Receiver<Role>,
    tasks: parking_lot::Mutex<Vec<JoinHandle<()>>>,
}

impl ClusterNode {
    /// Starts the node: opens its log and snapshots under `config.dir`, loads them into
    /// `engine` (which must be empty and have no journal), listens for peers on
    /// `listener`, and starts or joins the cluster. `now_ms` is the wall clock.
    pub async fn start(
        config: NodeConfig,
        engine: Arc<Engine>,
        listener: tokio::net::TcpListener,
        now_ms: Arc<dyn Fn() -> u64 + Send + Sync>,
    ) -> Result<ClusterNode, NodeError> {
        let network = NetworkFactory::new(config.id, config.network.clone());
        let serve_config = config.network.clone();
        let incoming = config.dir.join("incoming");
        let node = Self::start_with_network(config, engine, network, now_ms).await?;
        let server = network::serve(
            listener,
            node.raft.clone(),
            serve_config,
            incoming,
            std::future::pending(),
        );
        node.tasks.lock().push(tokio::spawn(async move {
            if let Err(error) = server.await {
                tracing::error!(%error, "the cluster listener stopped");
            }
        }));
        Ok(node)
    }

    /// Starts the node as [`ClusterNode::start`] does, but with `network` carrying its
    /// messages to peers instead of the TCP transport, and no listener: whoever provides
    /// `network` delivers the peers' messages to [`ClusterNode::raft`]. This is how an
    /// in-process cluster runs on a simulated network (partitions, loss, delays) while every
    /// other part of the node is the real one. `config.network` is not used.
    pub async fn start_with_network<N>(
        config: NodeConfig,
        engine: Arc<Engine>,
        network: N,
        now_ms: Arc<dyn Fn() -> u64 + Send + Sync>,
    ) -> Result<ClusterNode, NodeError>
    where
        N: RaftNetworkFactory<TypeConfig>,
        N::Network: NetSnapshot<TypeConfig, SnapshotData = std::fs::File>,
    {
        let journal = Arc::new(ClusterJournal::new(config.max_in_flight));
        engine
            .attach_journal(journal.clone())
            .map_err(|_| NodeError::JournalTaken)?;
        let storage_error = |source| NodeError::Storage {
            dir: config.dir.clone(),
            source,
        };
        let state_machine = StateMachine::open(
            &config.dir.join("snapshots"),
            engine,
            Arc::clone(&journal),
            Arc::clone(&config.time_floor),
        )
        .map_err(storage_error)?;
        let log = LogStore::open(&config.dir.join("log"), config.fsync)?;
        let log_reader = log.reader();
        let raft_config = openraft::Config {
            cluster_name: "sessiond".to_owned(),
            heartbeat_interval: config.heartbeat_ms,
            // While appends flow, each acknowledged one refreshes the follower's lease as a
            // heartbeat would: skipping the heartbeat then saves every node a message and a
            // wake-up per interval.
            heartbeat_min_interval: Some(heartbeat_suppression_ms(
                config.heartbeat_ms,
                config.election_ms.0,
            )),
            election_timeout_min: config.election_ms.0,
            election_timeout_max: config.election_ms.1,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(config.snapshot_entries),
            max_in_snapshot_log_to_keep: 1000,
            enable_pre_vote: Some(true),
            // A leader restarted before the others elected anew would otherwise lead again in
            // its old term at once, with committed entries of that term not yet applied to the
            // new process's engine, and its state machine would take them for batches its
            // engine already ran. Through an election it leads only in a new term, after
            // applying everything before that term's first entry.
            enable_leader_restore: Some(false),
            ..Default::default()
        }
        .validate()
        .map_err(|error| NodeError::Raft(error.to_string()))?;
        let raft = Raft::new(
            config.id,
            Arc::new(raft_config),
            network,
            log,
            state_machine.clone(),
        )
        .await
        .map_err(|error| NodeError::Raft(error.to_string()))?;

        if !config.initial_members.is_empty()
            && !raft
                .is_initialized()
                .await
                .map_err(|error| NodeError::Raft(error.to_string()))?
        {
            // Every listed member may do this: openraft accepts the same membership from
            // each and elects one leader.
            if let Err(error) = raft.initialize(config.initial_members.clone()).await {
                tracing::info!(%error, "cluster already initialized");
            }
        }

        let (role_tx, role) = watch::channel(Role::default());
        let tasks = vec![tokio::spawn(follow_leadership(
            Leadership {
                raft: raft.clone(),
                id: config.id,
                info: config.info.clone(),
                journal: Arc::clone(&journal),
                state_machine,
                log: log_reader,
                now_ms,
            },
            role_tx,
        ))];
        Ok(ClusterNode {
            raft,
            journal,
            role,
            tasks: parking_lot::Mutex::new(tasks),
        })
    }

    /// The Raft instance: a transport given to [`ClusterNode::start_with_network`] delivers
    /// peers' messages to it, and tests steer it (`trigger()`). Commands never go through
    /// it: they run on the engine, whose journal proposes their effects.
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// Follows what this node is to clients.
    pub fn role(&self) -> watch::Receiver<Role> {
        self.role.clone()
    }

    /// The engine's journal on this node.
    pub fn journal(&self) -> &Arc<ClusterJournal> {
        &self.journal
    }

    /// The Raft metrics.
    pub fn metrics(&self) -> RaftMetrics {
        self.raft.metrics().borrow_watched().clone()
    }

    /// Confirms this node still leads, so that a read it answers is not stale: openraft's
    /// lease read, free while a quorum acknowledged this leader within the lease, one
    /// heartbeat round otherwise.
    pub async fn confirm_leadership(&self) -> bool {
        self.raft
            .ensure_linearizable(ReadPolicy::LeaseRead)
            .await
            .is_ok()
    }

    /// Asks Raft to build a snapshot now (`sessiond snapshot`); it is written in the
    /// background, into the snapshot directory.
    pub async fn snapshot_now(&self) -> Result<(), NodeError> {
        self.raft
            .trigger()
            .snapshot()
            .await
            .map_err(|error| NodeError::Raft(error.to_string()))
    }

    /// Stops the node: no more commands, Raft shut down, the log flushed.
    pub async fn shutdown(&self) {
        self.journal.close();
        if let Err(error) = self.raft.shutdown().await {
            tracing::warn!(%error, "raft did not shut down cleanly");
        }
        for task in self.tasks.lock().drain(..) {
            task.abort();
        }
    }
}

/// What following leadership works with.
struct Leadership {
    raft: Raft,
    id: NodeId,
    /// This node's addresses, as the membership should record them.
    info: NodeInfo,
    journal: Arc<ClusterJournal>,
    state_machine: StateMachine,
    log: crate::log_store::LogReader,
    now_ms: Arc<dyn Fn() -> u64 + Send + Sync>,
}

/// Opens and closes the journal as leadership comes and goes, and publishes the role.
async fn follow_leadership(leadership: Leadership, role_tx: watch::Sender<Role>) {
    let Leadership {
        raft,
        id,
        info,
        journal,
        state_machine,
        log,
        now_ms,
    } = leadership;
    let mut metrics = raft.metrics();
    let mut leading = None;
    loop {
        let snapshot = metrics.borrow_and_update().clone();
        let ready_as = ready_leadership(&raft, id, &snapshot);
        if leading.is_some() && leading != ready_as.filter(|_| journal.is_open()) {
            // Leadership ended (or changed under us): refuse commands, fail their waits.
            let dirty = journal.close();
            leading = None;
            let mut log = log.clone();
            let machine = state_machine.clone();
            let rebuilt = raft
                .with_state_machine(move |_| {
                    Box::pin(async move { machine.step_down(dirty, &mut log).await })
                })
                .await;
            match rebuilt {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::error!(%error, "rebuilding the engine failed"),
                Err(error) => tracing::error!(%error, "the state machine stopped"),
            }
        }
        if leading.is_none()
            && let Some(leader) = ready_as
        {
            let machine = state_machine.clone();
            let start = leader;
            let committed = raft
                .with_state_machine(move |_| {
                    Box::pin(async move {
                        machine.lead(start);
                        machine.last_lsn()
                    })
                })
                .await;
            if let Ok(committed) = committed {
                let epoch = journal.open(committed);
                tracing::info!(
                    node = id,
                    term = snapshot.current_term,
                    "leading; serving clients"
                );
                tokio::spawn(propose(
                    raft.clone(),
                    Arc::clone(&journal),
                    epoch,
                    leader,
                    Arc::clone(&now_ms),
                ));
                leading = Some(leader);
                // A cluster started from `--peers` knows only its members' cluster
                // addresses: the leader records where its clients connect, so that the
                // other nodes can send clients on to it.
                if snapshot.membership_config.membership().get_node(&id) != Some(&info) {
                    let raft = raft.clone();
                    let nodes = BTreeMap::from([(id, info.clone())]);
                    tokio::spawn(async move {
                        let change = openraft::ChangeMembers::SetNodes(nodes);
                        if let Err(error) = raft.change_membership(change, false).await {
                            tracing::warn!(%error, "could not record this node's client addresses");
                        }
                    });
                }
            }
        }
        let leader = snapshot.current_leader.and_then(|leader| {
            snapshot
                .membership_config
                .membership()
                .get_node(&leader)
                .map(|info| (leader, info.clone()))
        });
        role_tx.send_if_modified(|role| {
            let next = Role {
                serving: journal.is_open(),
                leader,
            };
            let changed = *role != next;
            *role = next;
            changed
        });
        if metrics.changed().await.is_err() {
            journal.close();
            return;
        }
    }
}

/// The leadership this node holds, once an entry of its term is applied (so every earlier
/// entry is in the engine too).
fn ready_leadership(
    raft: &Raft,
    id: NodeId,
    metrics: &RaftMetrics,
) -> Option<openraft::alias::CommittedLeaderIdOf<crate::types::TypeConfig>> {
    if metrics.state != ServerState::Leader || metrics.current_leader != Some(id) {
        return None;
    }
    let leader = raft.as_leader().ok()?.to_committed_leader_id();
    let applied = metrics.last_applied.as_ref()?;
    (applied.leader_id == leader).then_some(leader)
}

/// Proposes the journal's batches while `epoch` lasts, one at a time, each until it is
/// committed. A batch openraft refuses (its leader lease ran out while cut off, say) is
/// proposed again, never skipped: were a later batch committed instead, the committed lsn
/// would pass the refused batch's records and acknowledge writes the group never had. While
/// one batch commits the next gathers everything recorded meanwhile, so concurrent clients
/// still share a round.
async fn propose(
    raft: Raft,
    journal: Arc<ClusterJournal>,
    epoch: u64,
    leader: openraft::alias::CommittedLeaderIdOf<crate::types::TypeConfig>,
    now_ms: Arc<dyn Fn() -> u64 + Send + Sync>,
) {
    while let Some(batch) = journal.next_batch(epoch, || now_ms()).await {
        loop {
            let (responder, committed) = openraft::impls::ProgressResponder::complete_only();
            let proposed = raft
                .write(batch.clone())
                .with_leader(leader)
                .responder(responder)
                .await;
            if proposed.is_err() {
                // Raft stopped: the epoch's waits end with the node.
                return;
            }
            if matches!(committed.await, Ok(Ok(_))) {
                break;
            }
            // Refused, or leadership moved (then following leadership ends the epoch).
            if journal.epoch() != epoch {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(RETRY_MS)).await;
        }
    }
}

/// openraft's `heartbeat_min_interval` for `heartbeat_ms` and the shortest election timeout:
/// as long as a heartbeat, but short enough that a suppressed heartbeat still goes out (at the
/// tick after `heartbeat_ms + min_interval`; ticks come every `heartbeat_ms * 13 / 64`) before
/// a follower's election timeout. 0 (no suppression) when there is no such room.
fn heartbeat_suppression_ms(heartbeat_ms: u64, election_min_ms: u64) -> u64 {
    let tick = heartbeat_ms * 13 / 64 + 1;
    let room = election_min_ms.saturating_sub(heartbeat_ms.saturating_add(tick) + 1);
    heartbeat_ms.min(room)
}

/// How long the proposer waits before offering a refused batch again.
const RETRY_MS: u64 = 50;

#[cfg(test)]
mod tests {
    use super::heartbeat_suppression_ms;

    #[test]
    fn suppressed_heartbeats_still_come_before_an_election() {
        assert_eq!(heartbeat_suppression_ms(100, 500), 100);
        // 50 + 11 + 1: room for 237.
        assert_eq!(heartbeat_suppression_ms(50, 300), 50);
        assert_eq!(heartbeat_suppression_ms(100, 150), 28);
        assert_eq!(heartbeat_suppression_ms(100, 100), 0);
        for (heartbeat, election) in [(100, 500), (50, 300), (100, 150), (10, 30), (1, 3)] {
            let min = heartbeat_suppression_ms(heartbeat, election);
            assert!(min == 0 || heartbeat + min + heartbeat * 13 / 64 < election);
        }
    }
}
