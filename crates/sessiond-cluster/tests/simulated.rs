//! Three-node clusters in one process, on a simulated network the tests control: partitions,
//! isolated leaders, message loss, delays, and clocks that disagree.
//!
//! Every node is the real thing (its `ClusterNode`, Raft log, state machine, journal,
//! engine and leadership following, in its own directory); only the transport is replaced, by
//! a router that hands each Raft message straight to the target's `Raft` unless a fault says
//! otherwise. Clients are simulated as the server runs them: a command runs on the leader's
//! engine at the node's time, and its reply is acknowledged only once the group committed
//! what it recorded.
//!
//! What the tests assert never depends on timing: waits are bounded only so that a broken
//! cluster fails the test instead of hanging it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::future::Future;
use std::io::{self, Seek};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use openraft::error::{RPCError, ReplicationClosed, StreamingError, Timeout, Unreachable};
use openraft::network::v2::RaftNetworkV2;
use openraft::network::{RPCOption, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::{OptionalSend, RPCTypes};
use parking_lot::Mutex;
use sessiond_cluster::journal::{LeadershipLost, take_thread_lsn};
use sessiond_cluster::network::NetworkConfig;
use sessiond_cluster::node::{ClusterNode, NodeConfig};
use sessiond_cluster::state_machine::Snapshot;
use sessiond_cluster::types::{NodeId, NodeInfo, Raft, TypeConfig, Vote};
use sessiond_engine::{
    Apply, Engine, EngineConfig, EngineError, Expiry, Get, GetOutcome, Key, LockCookie, LockInfo,
    NamespaceId, ReadSession, ReadSessionOutcome, ReleaseLock, ReleaseLockOutcome, SHARD_COUNT,
    SnapshotItem, Store, StoreMode, Timestamp, WriteSession, WriteSessionOutcome,
};
use sessiond_storage::FsyncPolicy;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::time::Instant;

type RpcError = RPCError<TypeConfig>;

/// True time when every test starts, in milliseconds since the epoch. The engine's time is
/// simulated (it moves only when a test says so); Raft's timers are real.
const T0: u64 = 1_800_000_000_000;
const MINUTE: u64 = 60_000;
/// Every wait for the cluster to do something gives up after this long.
const PATIENCE: Duration = Duration::from_secs(20);
const NODES: [NodeId; 3] = [1, 2, 3];

// ---------------------------------------------------------------------------------------------
// The simulated network
// ---------------------------------------------------------------------------------------------

/// SplitMix64: seeded, so a failing run's choices of lost messages and delays come from a
/// known seed. (The interleaving with Raft's timers is not reproducible; what is asserted
/// does not depend on it.)
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn percent(&mut self, percent: u32) -> bool {
        self.next() % 100 < u64::from(percent)
    }

    fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 { 0 } else { self.next() % bound }
    }
}

/// What the network does to messages right now.
#[derive(Default)]
struct Faults {
    /// Directed links that carry nothing, `(from, to)`: a request whose link is cut fails at
    /// once (as a refused connection would); one already under way when the link is cut is
    /// lost, as is its reply.
    cut: BTreeSet<(NodeId, NodeId)>,
    /// Nodes whose vote and pre-vote requests nobody hears: they cannot win an election, so a
    /// test can decide which node takes over.
    muted: BTreeSet<NodeId>,
    /// The chance that a request, and separately its reply, is lost.
    loss_percent: u32,
    /// Every message, each way, takes this long plus up to `jitter_ms` more.
    delay_ms: u64,
    jitter_ms: u64,
}

/// What happens to one exchange, drawn when it is sent.
struct Fate {
    request_lost: bool,
    reply_lost: bool,
    request_delay: Duration,
    reply_delay: Duration,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Append,
    Vote,
    Snapshot,
    Transfer,
}

/// Why an exchange produced no answer.
enum Failed {
    Unreachable,
    Timeout,
}

struct NetState {
    rafts: Mutex<BTreeMap<NodeId, Raft>>,
    faults: Mutex<Faults>,
    rng: Mutex<Rng>,
    /// Messages (requests and replies) dropped by `loss_percent`.
    lost: AtomicU64,
    /// Snapshots delivered, by target.
    snapshots: Mutex<BTreeMap<NodeId, usize>>,
}

/// The router every node's Raft sends through.
#[derive(Clone)]
struct Net(Arc<NetState>);

impl Net {
    fn new(seed: u64) -> Net {
        Net(Arc::new(NetState {
            rafts: Mutex::new(BTreeMap::new()),
            faults: Mutex::new(Faults::default()),
            rng: Mutex::new(Rng(seed)),
            lost: AtomicU64::new(0),
            snapshots: Mutex::new(BTreeMap::new()),
        }))
    }

    fn register(&self, id: NodeId, raft: Raft) {
        self.0.rafts.lock().insert(id, raft);
    }

    /// Cuts every link between `group` and the other nodes, both ways.
    fn partition(&self, group: &[NodeId]) {
        let mut faults = self.0.faults.lock();
        for &inside in group {
            for outside in NODES.into_iter().filter(|id| !group.contains(id)) {
                faults.cut.insert((inside, outside));
                faults.cut.insert((outside, inside));
            }
        }
    }

    /// Cuts every link, both ways: no two nodes can talk.
    fn partition_all(&self) {
        let mut faults = self.0.faults.lock();
        for from in NODES {
            for to in NODES.into_iter().filter(|&to| to != from) {
                faults.cut.insert((from, to));
            }
        }
    }

    /// Restores the links between `a` and `b`, both ways.
    fn connect(&self, a: NodeId, b: NodeId) {
        let mut faults = self.0.faults.lock();
        faults.cut.remove(&(a, b));
        faults.cut.remove(&(b, a));
    }

    fn mute(&self, ids: &[NodeId]) {
        self.0.faults.lock().muted.extend(ids);
    }

    fn set_loss(&self, percent: u32, delay_ms: u64, jitter_ms: u64) {
        let mut faults = self.0.faults.lock();
        faults.loss_percent = percent;
        faults.delay_ms = delay_ms;
        faults.jitter_ms = jitter_ms;
    }

    /// Back to a perfect network.
    fn heal(&self) {
        *self.0.faults.lock() = Faults::default();
    }

    fn lost(&self) -> u64 {
        self.0.lost.load(Ordering::Relaxed)
    }

    fn snapshots_to(&self, id: NodeId) -> usize {
        self.0.snapshots.lock().get(&id).copied().unwrap_or(0)
    }

    fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        self.0.faults.lock().cut.contains(&(from, to))
    }

    /// The target's Raft and the exchange's fate, or `None` when the request cannot leave.
    fn dispatch(&self, from: NodeId, to: NodeId, kind: Kind) -> Option<(Raft, Fate)> {
        let faults = self.0.faults.lock();
        if faults.cut.contains(&(from, to)) {
            return None;
        }
        let raft = self.0.rafts.lock().get(&to).cloned()?;
        let mut rng = self.0.rng.lock();
        let mut delay = || Duration::from_millis(faults.delay_ms + rng.below(faults.jitter_ms + 1));
        let (request_delay, reply_delay) = (delay(), delay());
        let muted = kind == Kind::Vote && faults.muted.contains(&from);
        let request_lost = muted || rng.percent(faults.loss_percent);
        let reply_lost = rng.percent(faults.loss_percent);
        if (request_lost && !muted) || reply_lost {
            self.0.lost.fetch_add(1, Ordering::Relaxed);
        }
        Some((
            raft,
            Fate {
                request_lost,
                reply_lost,
                request_delay,
                reply_delay,
            },
        ))
    }

    /// One request and its reply. The delivery runs on its own task, so a request the sender
    /// gave up on may still arrive late, as on a real network; a lost message looks to the
    /// sender like silence until its time limit.
    async fn call<T, F, Fut>(
        &self,
        from: NodeId,
        to: NodeId,
        kind: Kind,
        limit: Duration,
        deliver: F,
    ) -> Result<T, Failed>
    where
        T: Send + 'static,
        F: FnOnce(Raft) -> Fut + Send + 'static,
        Fut: Future<Output = Option<T>> + Send + 'static,
    {
        let Some((raft, fate)) = self.dispatch(from, to, kind) else {
            return Err(Failed::Unreachable);
        };
        let (reply_tx, reply_rx) = oneshot::channel();
        let net = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(fate.request_delay).await;
            if fate.request_lost || net.is_cut(from, to) {
                return;
            }
            // A Raft that stopped answers nothing.
            let Some(reply) = deliver(raft).await else {
                return;
            };
            if kind == Kind::Snapshot {
                *net.0.snapshots.lock().entry(to).or_default() += 1;
            }
            tokio::time::sleep(fate.reply_delay).await;
            if fate.reply_lost || net.is_cut(to, from) {
                return;
            }
            let _ = reply_tx.send(reply);
        });
        let deadline = Instant::now() + limit;
        match tokio::time::timeout_at(deadline, reply_rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => {
                tokio::time::sleep_until(deadline).await;
                Err(Failed::Timeout)
            }
            Err(_) => Err(Failed::Timeout),
        }
    }
}

/// openraft's network factory for one node.
struct Factory {
    net: Net,
    id: NodeId,
}

impl RaftNetworkFactory<TypeConfig> for Factory {
    type Network = Link;

    async fn new_client(&mut self, target: NodeId, _node: &NodeInfo) -> Link {
        Link {
            net: self.net.clone(),
            from: self.id,
            to: target,
        }
    }
}

/// One node's client to one target.
struct Link {
    net: Net,
    from: NodeId,
    to: NodeId,
}

impl Link {
    fn error(&self, failed: Failed, action: RPCTypes, limit: Duration) -> RpcError {
        match failed {
            Failed::Unreachable => {
                RPCError::Unreachable(Unreachable::new(&io::Error::other("the link is cut")))
            }
            Failed::Timeout => RPCError::Timeout(Timeout {
                action,
                id: self.from,
                target: self.to,
                timeout: limit,
            }),
        }
    }
}

/// A copy of a snapshot's file, as the receiver of a real transfer has.
fn copy_snapshot(mut file: File) -> io::Result<File> {
    let mut copy = tempfile::tempfile()?;
    file.rewind()?;
    io::copy(&mut file, &mut copy)?;
    copy.rewind()?;
    Ok(copy)
}

impl RaftNetworkV2<TypeConfig> for Link {
    type SnapshotData = File;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RpcError> {
        let limit = option.soft_ttl();
        let deliver = move |raft: Raft| async move { raft.append_entries(rpc).await.ok() };
        let result = self
            .net
            .call(self.from, self.to, Kind::Append, limit, deliver)
            .await;
        result.map_err(|failed| self.error(failed, RPCTypes::AppendEntries, limit))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RpcError> {
        let limit = option.soft_ttl();
        let deliver = move |raft: Raft| async move { raft.vote(rpc).await.ok() };
        let result = self
            .net
            .call(self.from, self.to, Kind::Vote, limit, deliver)
            .await;
        result.map_err(|failed| self.error(failed, RPCTypes::Vote, limit))
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RpcError> {
        let limit = option.soft_ttl();
        let deliver = move |raft: Raft| async move { raft.pre_vote(rpc).await.ok() };
        let result = self
            .net
            .call(self.from, self.to, Kind::Vote, limit, deliver)
            .await;
        result.map_err(|failed| self.error(failed, RPCTypes::Vote, limit))
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let limit = option.soft_ttl();
        let Snapshot { meta, snapshot } = snapshot;
        let copy = copy_snapshot(snapshot)
            .map_err(|error| StreamingError::Unreachable(Unreachable::new(&error)))?;
        let snapshot = Snapshot {
            meta,
            snapshot: copy,
        };
        let deliver =
            move |raft: Raft| async move { raft.install_full_snapshot(vote, snapshot).await.ok() };
        let send = self
            .net
            .call(self.from, self.to, Kind::Snapshot, limit, deliver);
        tokio::select! {
            closed = cancel => Err(StreamingError::Closed(closed)),
            result = send => result.map_err(|failed| {
                match self.error(failed, RPCTypes::InstallSnapshot, limit) {
                    RPCError::Timeout(timeout) => StreamingError::Timeout(timeout),
                    _ => StreamingError::Unreachable(Unreachable::new(&io::Error::other(
                        "the link is cut",
                    ))),
                }
            }),
        }
    }

    async fn transfer_leader(
        &mut self,
        rpc: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RpcError> {
        let limit = option.soft_ttl();
        let deliver = move |raft: Raft| async move { raft.handle_transfer_leader(rpc).await.ok() };
        let result = self
            .net
            .call(self.from, self.to, Kind::Transfer, limit, deliver)
            .await;
        result.map_err(|failed| self.error(failed, RPCTypes::TransferLeader, limit))
    }
}

// ---------------------------------------------------------------------------------------------
// The cluster
// ---------------------------------------------------------------------------------------------

/// One node with its engine and its clock.
struct Member {
    id: NodeId,
    engine: Arc<Engine>,
    node: ClusterNode,
    /// The newest leader time this node applied (the server's time floor).
    floor: Arc<AtomicU64>,
    /// True time, shared by every node; moved by the tests.
    truth: Arc<AtomicU64>,
    /// How far this node's own clock is from true time, in milliseconds.
    skew: i64,
    _dir: TempDir,
}

/// A node's own clock: true time off by its skew.
fn own_clock(truth: &AtomicU64, skew: i64) -> u64 {
    truth.load(Ordering::Acquire).saturating_add_signed(skew)
}

impl Member {
    /// The time this node runs commands and stamps batches at, as the server's `FloorClock`
    /// gives it: its own clock, never behind the newest leader time it applied.
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(
            own_clock(&self.truth, self.skew).max(self.leader_time().as_millis()),
        )
    }

    /// The newest leader time this node applied: what the server's expiry sweep uses on a
    /// node that does not lead.
    fn leader_time(&self) -> Timestamp {
        Timestamp::from_millis(self.floor.load(Ordering::Acquire))
    }

    fn serving(&self) -> bool {
        self.node.role().borrow().serving
    }

    /// Runs `command` as a connection on this node would, and takes what it recorded (the
    /// epoch and lsn its reply must wait for; lsn 0 when it recorded nothing).
    fn run<C: Apply>(&self, command: &C) -> (C::Outcome, (u64, u64)) {
        let outcome = self.engine.run(command, self.now());
        (outcome, take_thread_lsn())
    }

    /// Holds a reply until what the command recorded is committed, as the server does: true
    /// when the client gets its answer.
    async fn acknowledged(&self, recorded: (u64, u64), within: Duration) -> bool {
        let (epoch, lsn) = recorded;
        let wait = self.node.journal().wait_committed(lsn, epoch);
        lsn > 0 && matches!(tokio::time::timeout(within, wait).await, Ok(Ok(())))
    }

    fn store(&self, key: &str, value: &str) -> (bool, (u64, u64)) {
        let store = Store::new(
            Key::new(NamespaceId(0), key.as_bytes()),
            value.as_bytes(),
            0,
            Expiry::Never,
            StoreMode::Set,
        );
        let (outcome, recorded) = self.run(&store);
        (outcome.is_ok(), recorded)
    }

    /// What a read on this node's engine finds, at its time (replicas are compared this
    /// way; clients read only on the leader).
    fn read(&self, key: &str) -> Option<Vec<u8>> {
        let get = Get::new(Key::new(NamespaceId(0), key.as_bytes()));
        match self.engine.run(&get, self.now()) {
            Ok(GetOutcome::Hit(item)) => Some(item.value.to_vec()),
            _ => None,
        }
    }

    /// The durable state of a key's item, whether or not it is expired by now.
    fn item(&self, namespace: NamespaceId, key: &str) -> Option<SnapshotItem> {
        contents(&self.engine)
            .into_iter()
            .find(|item| item.namespace == namespace && item.key == key.as_bytes())
    }
}

/// Every item in an engine, in key order.
fn contents(engine: &Engine) -> Vec<SnapshotItem> {
    let mut items: Vec<_> = (0..SHARD_COUNT)
        .flat_map(|shard| engine.snapshot_shard(shard).items)
        .collect();
    items.sort_by(|a, b| (a.namespace, &a.key).cmp(&(b.namespace, &b.key)));
    items
}

struct Cluster {
    net: Net,
    truth: Arc<AtomicU64>,
    members: Vec<Member>,
}

impl Cluster {
    /// Three nodes, node `i + 1`'s clock off by `skews_ms[i]`, on a perfect network seeded
    /// with `seed`.
    async fn start(seed: u64, skews_ms: [i64; 3]) -> Cluster {
        let net = Net::new(seed);
        let truth = Arc::new(AtomicU64::new(T0));
        let infos: BTreeMap<NodeId, NodeInfo> = NODES
            .into_iter()
            .map(|id| {
                let info = NodeInfo {
                    cluster: format!("simulated-{id}"),
                    clients: BTreeMap::new(),
                };
                (id, info)
            })
            .collect();
        let mut members = Vec::new();
        for (id, skew) in NODES.into_iter().zip(skews_ms) {
            let dir = tempfile::tempdir().unwrap();
            let engine = Arc::new(Engine::new(EngineConfig::default()));
            let floor = Arc::new(AtomicU64::new(0));
            let config = NodeConfig {
                id,
                info: infos[&id].clone(),
                initial_members: infos.clone(),
                dir: dir.path().to_owned(),
                fsync: FsyncPolicy::No,
                network: NetworkConfig::new("unused: the simulated network"),
                // The server's defaults.
                heartbeat_ms: 100,
                election_ms: (500, 1000),
                // Snapshots far more often than the server's default, so that failovers
                // find one under way.
                snapshot_entries: 50,
                max_in_flight: 64 << 20,
                time_floor: Arc::clone(&floor),
            };
            let clock = {
                let (truth, floor) = (Arc::clone(&truth), Arc::clone(&floor));
                Arc::new(move || own_clock(&truth, skew).max(floor.load(Ordering::Acquire)))
            };
            let factory = Factory {
                net: net.clone(),
                id,
            };
            let node = ClusterNode::start_with_network(config, Arc::clone(&engine), factory, clock)
                .await
                .unwrap();
            net.register(id, node.raft().clone());
            members.push(Member {
                id,
                engine,
                node,
                floor,
                truth: Arc::clone(&truth),
                skew,
                _dir: dir,
            });
        }
        let cluster = Cluster {
            net,
            truth,
            members,
        };
        cluster.settled().await;
        cluster
    }

    /// Waits until every node follows one leader in one term and that leader serves: the
    /// elections of a cluster's start can depose a leader that already serves (candidates
    /// of the same term with higher ids win), and a test must not take it for the leader.
    async fn settled(&self) {
        eventually("one leader everybody follows", || {
            let views: BTreeSet<_> = self
                .members
                .iter()
                .map(|m| {
                    let metrics = m.node.metrics();
                    (metrics.current_leader, metrics.current_term)
                })
                .collect();
            match views.first() {
                Some(&(Some(leader), _)) if views.len() == 1 => self.member(leader).serving(),
                _ => false,
            }
        })
        .await;
    }

    fn member(&self, id: NodeId) -> &Member {
        &self.members[NODES.iter().position(|&n| n == id).unwrap()]
    }

    /// Moves true time on.
    fn advance(&self, by_ms: u64) {
        self.truth.fetch_add(by_ms, Ordering::AcqRel);
    }

    /// The node among `among` that serves clients, once there is one.
    async fn leader(&self, among: &[NodeId]) -> NodeId {
        let mut found = None;
        eventually("a leader serving clients", || {
            found = among.iter().copied().find(|&id| self.member(id).serving());
            found.is_some()
        })
        .await;
        found.unwrap()
    }

    /// Hands leadership to `to` (openraft's leadership transfer, through the network).
    async fn move_leadership(&self, to: NodeId) {
        for _ in 0..10 {
            let from = self.leader(&NODES).await;
            if from == to {
                return;
            }
            let _ = self
                .member(from)
                .node
                .raft()
                .trigger()
                .transfer_leader(to)
                .await;
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if self.member(to).serving() && !self.member(from).serving() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        panic!("leadership did not move to node {to}");
    }

    /// Writes `key` through whichever node of `among` leads until a write is acknowledged,
    /// as a client whose connection failed tries again.
    async fn write(&self, among: &[NodeId], key: &str, value: &str) {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            let leader = self.member(self.leader(among).await);
            let (stored, recorded) = leader.store(key, value);
            if stored && leader.acknowledged(recorded, Duration::from_secs(2)).await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{key} was never acknowledged");
    }

    /// Runs `op` on node `id` while it leads, handing leadership back to it and running `op`
    /// again if leadership moved before `op` was acknowledged (`None`): an election on a
    /// loaded machine is not what these tests are about, and `op` copes with a first attempt
    /// that committed after all.
    async fn on_leader<'a, T, Fut>(&'a self, id: NodeId, mut op: impl FnMut(&'a Member) -> Fut) -> T
    where
        Fut: Future<Output = Option<T>>,
    {
        for _ in 0..10 {
            self.move_leadership(id).await;
            if let Some(done) = op(self.member(id)).await {
                return done;
            }
        }
        panic!("node {id} could not finish what it was asked to do");
    }

    /// Runs `op` on whichever node of `among` leads, again on the next leader if leadership
    /// moved before `op` was acknowledged (`None`).
    async fn on_any_leader<'a, T, Fut>(
        &'a self,
        among: &[NodeId],
        mut op: impl FnMut(&'a Member) -> Fut,
    ) -> T
    where
        Fut: Future<Output = Option<T>>,
    {
        for _ in 0..10 {
            let leader = self.member(self.leader(among).await);
            if let Some(done) = op(leader).await {
                return done;
            }
        }
        panic!("no leader among {among:?} could finish what it was asked to do");
    }

    /// Waits until every node has applied the same log and holds the same items.
    async fn converged(&self) {
        let same = || {
            let applied: BTreeSet<_> = self
                .members
                .iter()
                .map(|m| m.node.metrics().last_applied)
                .collect();
            let first = contents(&self.members[0].engine);
            applied.len() == 1
                && self.members[1..]
                    .iter()
                    .all(|m| contents(&m.engine) == first)
        };
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if same() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for member in &self.members {
            let metrics = member.node.metrics();
            eprintln!(
                "node {}: {:?} applied {:?}, {} items",
                member.id,
                metrics.state,
                metrics.last_applied,
                contents(&member.engine).len()
            );
        }
        panic!("the nodes did not converge");
    }

    async fn shutdown(self) {
        for member in &self.members {
            let stopped = tokio::time::timeout(PATIENCE, member.node.shutdown()).await;
            assert!(stopped.is_ok(), "node {} did not shut down", member.id);
        }
    }
}

/// Polls `check` until it holds, failing the test after [`PATIENCE`].
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what}: not within {PATIENCE:?}");
}

fn others(id: NodeId) -> Vec<NodeId> {
    NODES.into_iter().filter(|&n| n != id).collect()
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

/// A follower cut off from the others misses nothing: every write the leader acknowledged
/// meanwhile reaches it after the partition heals, through a snapshot once the leader has
/// purged the log it would need.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_minority_catches_up_with_every_acknowledged_write() {
    let cluster = Cluster::start(1, [0; 3]).await;
    let leader = cluster.leader(&NODES).await;
    let minority = others(leader)[0];
    let majority = others(minority);
    cluster.write(&NODES, "before", "partition").await;
    cluster.converged().await;

    cluster.net.partition(&[minority]);
    for i in 0..300 {
        cluster
            .write(&majority, &format!("k{i}"), &format!("v{i}"))
            .await;
    }
    let cut_off = cluster.member(minority);
    assert_eq!(
        cut_off.read("k0"),
        None,
        "the minority got a write while cut off"
    );
    assert!(!cut_off.serving(), "a node without a quorum serves clients");

    // Snapshot and purge the log on both nodes of the majority, so that only a snapshot can
    // catch the minority up, whichever of them leads.
    for &id in &majority {
        let member = cluster.member(id);
        let applied = member.node.metrics().last_applied.unwrap().index;
        let deadline = Instant::now() + PATIENCE;
        // A snapshot asked for while one is being built is not taken: ask until one covers
        // everything applied.
        let upto = loop {
            if let Some(snapshot) = member.node.metrics().snapshot
                && snapshot.index >= applied
            {
                break snapshot.index;
            }
            assert!(Instant::now() < deadline, "node {id} took no snapshot");
            member.node.raft().trigger().snapshot().await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        member.node.raft().trigger().purge_log(upto).await.unwrap();
        eventually("the log purged", || {
            member
                .node
                .metrics()
                .purged
                .is_some_and(|p| p.index >= upto)
        })
        .await;
    }

    cluster.net.heal();
    cluster.converged().await;
    assert!(
        cluster.net.snapshots_to(minority) >= 1,
        "no snapshot was sent"
    );
    for member in &cluster.members {
        assert_eq!(member.read("before").as_deref(), Some(&b"partition"[..]));
        for i in 0..300 {
            assert_eq!(
                member.read(&format!("k{i}")),
                Some(format!("v{i}").into_bytes()),
                "node {} lost k{i}",
                member.id
            );
        }
    }
    // And it is a full member again: a write through any leader reaches it.
    cluster.write(&NODES, "after", "heal").await;
    cluster.converged().await;
    assert_eq!(cut_off.read("after").as_deref(), Some(&b"heal"[..]));
    cluster.shutdown().await;
}

/// A leader cut off from the others: they elect a new one; what the old leader ran while
/// isolated is never acknowledged and never appears anywhere; every acknowledged write is
/// on the new leader; back on the network, the old leader undoes its own uncommitted changes
/// and ends up with exactly the others' store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_leaders_writes_are_never_acknowledged_and_vanish() {
    let cluster = Cluster::start(2, [0; 3]).await;
    for i in 0..50 {
        cluster
            .write(&NODES, &format!("a{i}"), &format!("acknowledged {i}"))
            .await;
    }
    let old = cluster.leader(&NODES).await;
    let rest = others(old);
    cluster.net.partition(&[old]);

    // Clients still connected to the old leader: it runs their commands on its engine, but
    // must never answer them.
    let isolated = cluster.member(old);
    let mut stale = Vec::new();
    for i in 0..20 {
        stale.push(isolated.store(&format!("stale{i}"), "never acknowledged"));
    }
    stale.push(isolated.store("a0", "overwritten while isolated"));
    // (A command refused outright recorded nothing and has nothing to wait for.)
    let stale: Vec<_> = stale
        .into_iter()
        .filter_map(|(stored, recorded)| stored.then_some(recorded))
        .collect();
    // Their replies wait while the rest of the test goes on.
    let waits = futures_util::future::join_all(stale.iter().map(|&(epoch, lsn)| async move {
        tokio::time::timeout(PATIENCE, isolated.node.journal().wait_committed(lsn, epoch)).await
    }));
    let (results, ()) = tokio::join!(waits, async {
        for i in 0..50 {
            cluster
                .write(&rest, &format!("b{i}"), &format!("acknowledged {i}"))
                .await;
        }
        let new = cluster.member(cluster.leader(&rest).await);
        for i in 0..50 {
            assert_eq!(
                new.read(&format!("a{i}")),
                Some(format!("acknowledged {i}").into_bytes())
            );
            assert_eq!(
                new.read(&format!("b{i}")),
                Some(format!("acknowledged {i}").into_bytes())
            );
        }
        for i in 0..20 {
            assert_eq!(new.read(&format!("stale{i}")), None);
        }
        cluster.net.heal();
    });
    for result in results {
        assert_eq!(
            result,
            Ok(Err(LeadershipLost)),
            "a write on the isolated leader was not failed once it rejoined"
        );
    }

    eventually("the old leader stops serving", || !isolated.serving()).await;
    cluster.converged().await;
    for member in &cluster.members {
        assert_eq!(member.read("a0").as_deref(), Some(&b"acknowledged 0"[..]));
        for i in 0..20 {
            assert_eq!(
                member.read(&format!("stale{i}")),
                None,
                "node {}",
                member.id
            );
        }
        for i in 0..50 {
            assert_eq!(
                member.read(&format!("b{i}")),
                Some(format!("acknowledged {i}").into_bytes())
            );
        }
    }
    cluster.shutdown().await;
}

/// A fifth of all messages lost, each way, and every message delayed: a stream of writes from
/// several clients at once still commits, and every acknowledged write is on every node once
/// the network is good again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_commit_through_message_loss_and_delays() {
    let cluster = Cluster::start(3, [0; 3]).await;
    cluster.leader(&NODES).await;
    cluster.net.set_loss(20, 1, 8);
    let clients = (0..4).map(|client| {
        let cluster = &cluster;
        async move {
            for i in 0..40 {
                let key = format!("c{client}-{i}");
                cluster.write(&NODES, &key, &format!("v{client}-{i}")).await;
            }
        }
    });
    futures_util::future::join_all(clients).await;
    assert!(cluster.net.lost() > 0, "no message was lost");

    cluster.net.heal();
    cluster.converged().await;
    for member in &cluster.members {
        for client in 0..4 {
            for i in 0..40 {
                assert_eq!(
                    member.read(&format!("c{client}-{i}")),
                    Some(format!("v{client}-{i}").into_bytes()),
                    "node {} lost c{client}-{i}",
                    member.id
                );
            }
        }
    }
    cluster.shutdown().await;
}

const SESSIONS: NamespaceId = NamespaceId(1);
const TWENTY_MINUTES: Duration = Duration::from_secs(20 * 60);
/// How long a step waits for its acknowledgement before it counts as not acknowledged.
const ACK: Duration = Duration::from_secs(5);

fn session(name: &str) -> Key<'_> {
    Key::new(SESSIONS, name.as_bytes())
}

fn exclusive(name: &str) -> ReadSession<'_> {
    ReadSession {
        key: session(name),
        exclusive: true,
    }
}

/// Writes a session with a twenty-minute sliding timeout and releases its lock
/// (`SetAndReleaseItemExclusive` with `cookie`). `None` when not acknowledged: running it
/// again is harmless.
async fn write_session(
    member: &Member,
    name: &str,
    value: &str,
    cookie: Option<LockCookie>,
) -> Option<()> {
    let write = WriteSession {
        key: session(name),
        value: value.as_bytes(),
        timeout: Some(TWENTY_MINUTES),
        cookie,
        uninitialized: false,
    };
    let (outcome, recorded) = member.run(&write);
    match outcome {
        Ok(WriteSessionOutcome::Stored) => member.acknowledged(recorded, ACK).await.then_some(()),
        Err(EngineError::Unavailable) => None,
        other => panic!("writing {name} on node {}: {other:?}", member.id),
    }
}

/// Locks a session (`GetItemExclusive`) and returns the lock. `None` when not acknowledged;
/// run again, it finds the lock of an attempt that was committed after all and returns that.
async fn lock(member: &Member, name: &str) -> Option<LockInfo> {
    let (outcome, recorded) = member.run(&exclusive(name));
    match outcome {
        Ok(ReadSessionOutcome::Found {
            cookie: Some(cookie),
            ..
        }) => {
            if !member.acknowledged(recorded, ACK).await {
                return None;
            }
            let item = member.item(SESSIONS, name)?;
            Some(LockInfo {
                cookie,
                locked_at: item.locked_at?,
            })
        }
        Ok(ReadSessionOutcome::Locked { lock, .. }) => Some(lock),
        Err(EngineError::Unavailable) => None,
        other => panic!("locking {name} on node {}: {other:?}", member.id),
    }
}

/// Renews a session as ASP.NET's `GetItemExclusive` + `ReleaseItemExclusive` do (each a
/// journaled change, stamped with the node's time).
async fn renew(member: &Member, name: &str) -> Option<()> {
    let lock = lock(member, name).await?;
    let release = ReleaseLock {
        key: session(name),
        cookie: lock.cookie,
    };
    let (outcome, recorded) = member.run(&release);
    match outcome {
        Ok(ReleaseLockOutcome::Released { .. }) => {
            member.acknowledged(recorded, ACK).await.then_some(())
        }
        Err(EngineError::Unavailable) => None,
        other => panic!("releasing {name} on node {}: {other:?}", member.id),
    }
}

fn deadline(member: &Member, name: &str) -> Option<u64> {
    member
        .item(SESSIONS, name)
        .and_then(|item| item.deadline)
        .map(Timestamp::as_millis)
}

/// Node 2's clock is ten minutes slow, node 3's three minutes fast. Expiry follows the
/// leader's stamped times: followers expire by the newest leader time they applied, not by
/// their own clocks; a slow node that takes over runs at that time instead of its own, so it
/// neither shortens a session it renews nor brings back one that expired; a fast node that
/// takes over expires by its own clock (ARCHITECTURE promises nothing against a fast clock:
/// sessions end early by up to its skew), and what it answered expired stays expired when the
/// slow node takes over again, though nothing else was written after the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_follows_the_leaders_stamped_time_across_skewed_clocks() {
    let cluster = Cluster::start(4, [0, -10 * MINUTE as i64, 3 * MINUTE as i64]).await;
    let (good, slow, fast) = (cluster.member(1), cluster.member(2), cluster.member(3));

    // Written at true time T0 through the node with the right clock.
    cluster
        .on_leader(1, |m| write_session(m, "s", "cart", None))
        .await;
    assert_eq!(good.now().as_millis(), T0);
    cluster.converged().await;
    for member in &cluster.members {
        assert_eq!(member.leader_time().as_millis(), T0, "node {}", member.id);
        assert_eq!(deadline(member, "s"), Some(T0 + 20 * MINUTE));
    }

    // Eighteen minutes on, the fast follower's own clock is past the deadline; by the leader
    // time it applied, which is what a follower's sweep uses, the session lives.
    cluster.advance(18 * MINUTE);
    assert!(own_clock(&fast.truth, fast.skew) > T0 + 20 * MINUTE);
    for follower in [slow, fast] {
        follower.engine.expire_due(follower.leader_time(), 1024);
        assert!(
            follower.item(SESSIONS, "s").is_some(),
            "node {}",
            follower.id
        );
    }
    // The leader renews it at T0 + 18 min; every node applies the stamped time.
    cluster.on_leader(1, |m| renew(m, "s")).await;
    cluster.converged().await;
    for member in &cluster.members {
        assert_eq!(member.leader_time().as_millis(), T0 + 18 * MINUTE);
        assert_eq!(deadline(member, "s"), Some(T0 + 38 * MINUTE));
    }

    // The slow node takes over at true time T0 + 20 min, when its own clock reads T0 + 10 min:
    // it runs at the newest time it applied instead, so a renewal does not pull the deadline
    // back (by its own clock it would be T0 + 30 min).
    cluster.advance(2 * MINUTE);
    cluster.move_leadership(2).await;
    assert_eq!(own_clock(&slow.truth, slow.skew), T0 + 10 * MINUTE);
    assert_eq!(slow.now().as_millis(), T0 + 18 * MINUTE);
    cluster.on_leader(2, |m| renew(m, "s")).await;
    cluster.converged().await;
    for member in &cluster.members {
        assert_eq!(deadline(member, "s"), Some(T0 + 38 * MINUTE));
    }

    // The fast node takes over at true time T0 + 33 min (its clock: T0 + 36 min): the
    // session lives, and its renewal counts from the fast clock.
    cluster.advance(13 * MINUTE);
    cluster.move_leadership(3).await;
    assert_eq!(fast.now().as_millis(), T0 + 36 * MINUTE);
    cluster.on_leader(3, |m| renew(m, "s")).await;
    assert_eq!(deadline(fast, "s"), Some(T0 + 56 * MINUTE));
    // By its clock the session ends at T0 + 56 min (true time T0 + 53 min).
    cluster.advance(20 * MINUTE);
    let read = ReadSession {
        key: session("s"),
        exclusive: false,
    };
    // Finding it expired records its removal, stamped with the leader's time, and the answer
    // waits for that to commit, as a write's does: with nothing else written after the
    // deadline, a slower leader could otherwise find the session alive again.
    let (outcome, recorded) = fast.run(&read);
    assert_eq!(outcome, Ok(ReadSessionOutcome::NotFound));
    assert!(fast.acknowledged(recorded, ACK).await);
    eventually("the followers apply the removal", || {
        [good, slow].iter().all(|m| {
            m.leader_time().as_millis() == T0 + 56 * MINUTE && m.item(SESSIONS, "s").is_none()
        })
    })
    .await;

    // The slow node takes over again (its own clock: T0 + 43 min, before the deadline): the
    // session stays expired.
    cluster.move_leadership(2).await;
    assert!(own_clock(&slow.truth, slow.skew) < T0 + 56 * MINUTE);
    assert_eq!(slow.now().as_millis(), T0 + 56 * MINUTE);
    assert_eq!(slow.run(&read).0, Ok(ReadSessionOutcome::NotFound));
    fast.engine.expire_due(fast.leader_time(), 1024);
    cluster.converged().await;
    for member in &cluster.members {
        assert_eq!(member.item(SESSIONS, "s"), None, "node {}", member.id);
    }
    cluster.shutdown().await;
}

/// A session locked through the leader (`GetItemExclusive`) is still locked, under the same
/// cookie and lock time, after the leader is cut off and another takes over: the holder can
/// write and release it there, a wrong cookie cannot, and the next lock takes the next
/// cookie. A lock taken on the cut-off leader never existed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_taken_through_the_old_leader_survives_failover_with_its_cookie() {
    let cluster = Cluster::start(5, [0; 3]).await;
    for name in ["locked", "other"] {
        cluster
            .on_any_leader(&NODES, |m| write_session(m, name, "cart", None))
            .await;
    }
    let held = cluster.on_any_leader(&NODES, |m| lock(m, "locked")).await;

    let old = cluster.member(cluster.leader(&NODES).await);
    let rest = others(old.id);
    cluster.net.partition(&[old.id]);
    // A client still talking to the cut-off leader locks another session there.
    let (_, stale_lock) = old.run(&exclusive("other"));

    // The lock is on the new leader, with its cookie and lock time.
    let new = cluster.member(cluster.leader(&rest).await);
    assert_eq!(
        new.run(&exclusive("locked")).0,
        Ok(ReadSessionOutcome::Locked {
            lock: held,
            initialize: false,
        })
    );
    let wrong = ReleaseLock {
        key: session("locked"),
        cookie: held.cookie.next(),
    };
    assert!(matches!(
        new.run(&wrong).0,
        Ok(ReleaseLockOutcome::Locked { lock, .. }) if lock == held
    ));
    // The holder writes and releases it on the new leader (`SetAndReleaseItemExclusive`);
    // the next lock takes the next cookie.
    cluster
        .on_any_leader(&rest, |m| {
            write_session(m, "locked", "cart, one more item", Some(held.cookie))
        })
        .await;
    let next = cluster.on_any_leader(&rest, |m| lock(m, "locked")).await;
    assert_eq!(next.cookie, held.cookie.next());
    // The lock taken on the cut-off leader is not there.
    let new = cluster.member(cluster.leader(&rest).await);
    let item = new.item(SESSIONS, "other").unwrap();
    assert_eq!((item.locked_at, item.cookie), (None, LockCookie::INITIAL));

    cluster.net.heal();
    eventually("the old leader stops serving", || !old.serving()).await;
    let (epoch, lsn) = stale_lock;
    if lsn > 0 {
        assert_eq!(
            old.node.journal().wait_committed(lsn, epoch).await,
            Err(LeadershipLost)
        );
    }
    cluster.converged().await;
    for member in &cluster.members {
        let item = member.item(SESSIONS, "locked").unwrap();
        assert_eq!(item.value, &b"cart, one more item"[..]);
        assert_eq!((item.cookie, item.locked_at.is_some()), (next.cookie, true));
        let other = member.item(SESSIONS, "other").unwrap();
        assert_eq!(other.locked_at, None, "node {}", member.id);
    }
    cluster.shutdown().await;
}

/// A leader that can reach nobody keeps its leadership (its followers cannot stand for
/// election here) but its quorum lease runs out, and openraft refuses what it proposes
/// meanwhile. A client write made then must not be acknowledged unless it is committed: once
/// the links are back and the leader commits again, the write is either acknowledged and on
/// every node, or failed and on none. (The proposer used to drop a refused batch and go on;
/// the next committed batch then acknowledged the dropped records, which stayed in the
/// leader's engine only.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_refused_while_the_leader_lost_its_quorum_is_never_acknowledged() {
    let cluster = Cluster::start(6, [0; 3]).await;
    cluster.write(&NODES, "before", "partition").await;
    let leader = cluster.member(cluster.leader(&NODES).await);
    cluster.net.mute(&others(leader.id));
    cluster.net.partition_all();
    // Well past the lease (the longest election timeout).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (stored, (epoch, lsn)) = leader.store("during", "partition");
    assert!(stored, "the leader still runs commands");

    let waiting = tokio::time::timeout(PATIENCE, leader.node.journal().wait_committed(lsn, epoch));
    let (during, ()) = tokio::join!(waiting, async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        for (a, b) in [(1, 2), (1, 3), (2, 3)] {
            cluster.net.connect(a, b);
        }
        cluster.write(&[leader.id], "after", "partition").await;
    });
    cluster.converged().await;
    let acknowledged = matches!(during, Ok(Ok(())));
    for member in &cluster.members {
        assert_eq!(
            member.read("during").is_some(),
            acknowledged,
            "node {}: acknowledged {acknowledged}",
            member.id
        );
    }
    cluster.shutdown().await;
}

/// A leader cut off with a change it will never commit starts a snapshot (which waits until
/// what the copy holds is committed), then a new leader is elected and the links come back.
/// The old leader must follow the new one and converge. (A build that failed here once
/// stopped the node's Raft for good: openraft takes it for a storage failure.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_under_way_when_leadership_is_lost_does_not_stop_the_node() {
    let cluster = Cluster::start(7, [0; 3]).await;
    cluster.write(&NODES, "before", "isolation").await;
    let old = cluster.member(cluster.leader(&NODES).await);
    let rest = others(old.id);
    cluster.net.partition(&[old.id]);
    let (stored, _) = old.store("uncommitted", "never");
    assert!(stored);
    old.node.raft().trigger().snapshot().await.unwrap();
    cluster.write(&rest, "after", "failover").await;

    cluster.net.heal();
    cluster.converged().await;
    assert_eq!(old.node.metrics().state, openraft::ServerState::Follower);
    for member in &cluster.members {
        assert_eq!(member.read("uncommitted"), None);
        assert_eq!(member.read("after").as_deref(), Some(&b"failover"[..]));
    }
    cluster.shutdown().await;
}
