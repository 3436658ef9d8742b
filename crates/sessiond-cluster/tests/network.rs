//! The cluster network end to end: the handshake against a real listener (right and wrong
//! secrets, impostors, garbage, stalls, the connection limit) and a three-node openraft cluster
//! over loopback TCP, with an in-memory log and state machine whose snapshots are files.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::fs::File;
use std::io::{self, Read, Write};
use std::ops::RangeBounds;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::{Stream, TryStreamExt};
use hmac::{Hmac, Mac};
use openraft::entry::RaftEntry;
use openraft::storage::{EntryResponder, IOFlushed, RaftLogStorage, RaftStateMachine};
use openraft::{EntryPayload, LogState, OptionalSend, RaftLogReader, RaftSnapshotBuilder};
use sessiond_cluster::network::{
    AdminClient, AdminError, AdminFailure, HandshakeError, NetworkConfig, NetworkFactory, Role,
    TransportError, serve,
};
use sessiond_cluster::types::{
    Applied, EffectBatch, Entry, LogId, NodeId, NodeInfo, SnapshotMeta, StoredMembership,
    TypeConfig, Vote,
};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const SECRET: &[u8] = b"correct horse battery staple";
const WAIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------
// Log capture: the server's warnings are part of what is tested.
// ---------------------------------------------------------------------------------------

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Captures log lines (INFO and up) for assertions; `SESSIOND_TEST_LOG=1` also prints them.
fn init_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let echo = std::env::var_os("SESSIOND_TEST_LOG").is_some();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || Capture { echo })
            .try_init();
    });
}

struct Capture {
    echo: bool,
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.echo {
            io::stderr().write_all(buf)?;
        }
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn logged(needle: &str) -> bool {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).contains(needle)
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------
// A minimal in-memory log store.
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct LogInner {
    purged: Option<LogId>,
    log: BTreeMap<u64, Entry>,
    committed: Option<LogId>,
    vote: Option<Vote>,
}

#[derive(Clone, Default)]
struct MemLog(Arc<Mutex<LogInner>>);

impl RaftLogReader<TypeConfig> for MemLog {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let inner = self.0.lock().unwrap();
        Ok(inner.log.range(range).map(|(_, e)| e.clone()).collect())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        Ok(self.0.lock().unwrap().vote)
    }
}

impl RaftLogStorage<TypeConfig> for MemLog {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let inner = self.0.lock().unwrap();
        let last = inner.log.values().next_back().map(|e| e.log_id());
        Ok(LogState {
            last_purged_log_id: inner.purged,
            last_log_id: last.or(inner.purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        self.0.lock().unwrap().vote = Some(*vote);
        Ok(())
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        self.0.lock().unwrap().committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(self.0.lock().unwrap().committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        {
            let mut inner = self.0.lock().unwrap();
            for entry in entries {
                inner.log.insert(entry.index(), entry);
            }
        }
        callback.io_completed(Ok(()));
        Ok(())
    }

    async fn truncate_after(&mut self, last: Option<LogId>) -> Result<(), io::Error> {
        let from = last.map_or(0, |id| id.index() + 1);
        self.0.lock().unwrap().log.split_off(&from);
        Ok(())
    }

    async fn purge(&mut self, upto: LogId) -> Result<(), io::Error> {
        let mut inner = self.0.lock().unwrap();
        let keep = inner.log.split_off(&(upto.index() + 1));
        inner.log = keep;
        inner.purged = Some(upto);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// A minimal state machine: the applied batches' bytes, snapshots as files.
// ---------------------------------------------------------------------------------------

struct SmInner {
    applied: Option<LogId>,
    membership: StoredMembership,
    /// (log index, records) of every applied batch.
    data: Vec<(u64, Vec<u8>)>,
    snapshot: Option<(SnapshotMeta, PathBuf)>,
    installs: usize,
    dir: PathBuf,
}

#[derive(Clone)]
struct MemSm(Arc<Mutex<SmInner>>);

impl MemSm {
    fn new(dir: PathBuf) -> Self {
        std::fs::create_dir_all(&dir).unwrap();
        MemSm(Arc::new(Mutex::new(SmInner {
            applied: None,
            membership: StoredMembership::default(),
            data: Vec::new(),
            snapshot: None,
            installs: 0,
            dir,
        })))
    }

    fn data(&self) -> Vec<(u64, Vec<u8>)> {
        self.0.lock().unwrap().data.clone()
    }

    fn installs(&self) -> usize {
        self.0.lock().unwrap().installs
    }
}

impl RaftSnapshotBuilder<TypeConfig> for MemSm {
    type SnapshotData = File;

    async fn build_snapshot(
        &mut self,
    ) -> Result<openraft::alias::SnapshotOf<TypeConfig, File>, io::Error> {
        let mut inner = self.0.lock().unwrap();
        let meta = SnapshotMeta {
            last_log_id: inner.applied,
            last_membership: inner.membership.clone(),
        };
        let index = inner.applied.as_ref().map_or(0, |id| id.index());
        let path = inner.dir.join(format!("snapshot-{index}"));
        let bytes = postcard::to_stdvec(&inner.data).map_err(io::Error::other)?;
        std::fs::write(&path, bytes)?;
        inner.snapshot = Some((meta.clone(), path.clone()));
        Ok(openraft::Snapshot {
            meta,
            snapshot: File::open(&path)?,
        })
    }
}

impl RaftStateMachine<TypeConfig> for MemSm {
    type SnapshotData = File;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        let inner = self.0.lock().unwrap();
        Ok((inner.applied, inner.membership.clone()))
    }

    async fn apply<S>(&mut self, mut entries: S) -> Result<(), io::Error>
    where
        S: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        while let Some((entry, responder)) = entries.try_next().await? {
            {
                let mut inner = self.0.lock().unwrap();
                inner.applied = Some(entry.log_id());
                match &entry.payload {
                    EntryPayload::Blank => {}
                    EntryPayload::Normal(batch) => {
                        inner.data.push((entry.index(), batch.records.to_vec()));
                    }
                    EntryPayload::Membership(membership) => {
                        inner.membership =
                            StoredMembership::new(Some(entry.log_id()), membership.clone());
                    }
                }
            }
            if let Some(responder) = responder {
                responder.send(Applied);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        mut file: File,
    ) -> Result<(), io::Error> {
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let data: Vec<(u64, Vec<u8>)> = postcard::from_bytes(&bytes).map_err(io::Error::other)?;
        let mut inner = self.0.lock().unwrap();
        let index = meta.last_log_id.as_ref().map_or(0, |id| id.index());
        // The network removes its file after the install: keep a copy as our snapshot.
        let path = inner.dir.join(format!("installed-{index}"));
        std::fs::write(&path, &bytes)?;
        inner.data = data;
        inner.applied = meta.last_log_id;
        inner.membership = meta.last_membership.clone();
        inner.snapshot = Some((meta.clone(), path));
        inner.installs += 1;
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<openraft::alias::SnapshotOf<TypeConfig, File>>, io::Error> {
        let inner = self.0.lock().unwrap();
        match &inner.snapshot {
            None => Ok(None),
            Some((meta, path)) => Ok(Some(openraft::Snapshot {
                meta: meta.clone(),
                snapshot: File::open(path)?,
            })),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Nodes.
// ---------------------------------------------------------------------------------------

type Raft = openraft::Raft<TypeConfig, MemSm>;

struct Node {
    id: NodeId,
    raft: Raft,
    log: MemLog,
    sm: MemSm,
    addr: String,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), sessiond_cluster::network::ServeError>>>,
    dir: tempfile::TempDir,
}

impl Node {
    fn info(&self) -> NodeInfo {
        info(&self.addr)
    }

    async fn stop(&mut self) {
        let _ = self.raft.shutdown().await;
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }

    fn metrics(&self) -> sessiond_cluster::types::RaftMetrics {
        use openraft::async_runtime::watch::WatchReceiver;
        self.raft.metrics().borrow_watched().clone()
    }
}

fn info(addr: &str) -> NodeInfo {
    NodeInfo {
        cluster: addr.to_string(),
        clients: BTreeMap::from([("memcache".to_string(), "127.0.0.1:1".to_string())]),
    }
}

fn network_config() -> NetworkConfig {
    let mut config = NetworkConfig::new(SECRET);
    // Small chunks so that a snapshot of a few dozen kilobytes takes many frames.
    config.snapshot_chunk = 4096;
    config.handshake_timeout = Duration::from_millis(500);
    config.connect_timeout = Duration::from_millis(500);
    config
}

async fn start_node(id: NodeId, network: NetworkConfig) -> Node {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sm = MemSm::new(dir.path().join("sm"));
    run_node(id, network, listener, MemLog::default(), sm, dir).await
}

/// Starts `node` again after `stop`, with the log and state machine it had (as a restarted
/// process would find them on disk) and at the same address.
async fn restart(node: Node) -> Node {
    let listener = TcpListener::bind(&node.addr).await.unwrap();
    run_node(
        node.id,
        network_config(),
        listener,
        node.log,
        node.sm,
        node.dir,
    )
    .await
}

async fn run_node(
    id: NodeId,
    network: NetworkConfig,
    listener: TcpListener,
    log: MemLog,
    sm: MemSm,
    dir: tempfile::TempDir,
) -> Node {
    init_logs();
    let addr = listener.local_addr().unwrap().to_string();
    let raft_config = openraft::Config {
        cluster_name: "test".into(),
        heartbeat_interval: 50,
        election_timeout_min: 300,
        election_timeout_max: 600,
        install_snapshot_timeout: 2000,
        // Snapshots only when a test asks, and purged logs are gone for good, so that a
        // lagging node can only catch up through a snapshot.
        snapshot_policy: openraft::SnapshotPolicy::Never,
        max_in_snapshot_log_to_keep: 0,
        purge_batch_size: 1,
        enable_pre_vote: Some(true),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let raft = Raft::new(
        id,
        Arc::new(raft_config),
        NetworkFactory::new(id, network.clone()),
        log.clone(),
        sm.clone(),
    )
    .await
    .unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        raft.clone(),
        network,
        dir.path().join("raft").join("incoming"),
        async move {
            let _ = stopped.await;
        },
    ));
    Node {
        id,
        raft,
        log,
        sm,
        addr,
        stop: Some(stop),
        server: Some(server),
        dir,
    }
}

/// Snapshots on `leader` and purges its log up to `last`, so that whoever lags behind it
/// can only catch up by snapshot.
async fn snapshot_and_purge(leader: &Node, last: u64) {
    leader.raft.trigger().snapshot().await.unwrap();
    leader
        .raft
        .wait(Some(WAIT))
        .metrics(
            |m| m.snapshot.as_ref().is_some_and(|id| id.index() >= last),
            "snapshot built",
        )
        .await
        .unwrap();
    leader.raft.trigger().purge_log(last).await.unwrap();
    eventually("the leader's log to be purged", || {
        leader.metrics().purged.map(|id| id.index()) == Some(last)
    })
    .await;
}

async fn admin(addr: &str) -> AdminClient {
    AdminClient::connect(addr, SECRET, Duration::from_secs(10))
        .await
        .unwrap()
}

fn batch(i: u64) -> EffectBatch {
    EffectBatch {
        time: 1_000 + i,
        first_lsn: i,
        last_lsn: i,
        // Arbitrary bytes, a kilobyte each, so that snapshots span many chunks.
        records: (0..1024).map(|b| (b as u64 * 31 + i) as u8).collect(),
    }
}

async fn leader_of(nodes: &[&Node]) -> NodeId {
    let start = Instant::now();
    loop {
        for node in nodes {
            let m = node.metrics();
            if m.state == openraft::ServerState::Leader {
                return node.id;
            }
        }
        assert!(start.elapsed() < WAIT, "no leader elected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Writes on `node`, retrying while a new leader's lease is not established yet.
async fn write(node: &Node, i: u64) -> u64 {
    let start = Instant::now();
    loop {
        match node.raft.client_write(batch(i)).await {
            Ok(response) => return response.log_id.index(),
            Err(e) => {
                assert!(
                    start.elapsed() < WAIT,
                    "write {i} on node {} failed: {e}",
                    node.id
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

async fn wait_applied(node: &Node, index: u64) {
    node.raft
        .wait(Some(WAIT))
        .applied_index_at_least(Some(index), "applied")
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------------
// A hand-written handshake client, from the wire format in the module's documentation.
// ---------------------------------------------------------------------------------------

fn mac(secret: &[u8], label: &[u8], a: &[u8], b: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(label);
    mac.update(a);
    mac.update(b);
    mac.finalize().into_bytes().into()
}

/// Authenticates on a raw stream; returns the status byte the server answered.
async fn raw_handshake(stream: &mut TcpStream, secret: &[u8]) -> u8 {
    let mut greeting = [0u8; 37];
    stream.read_exact(&mut greeting).await.unwrap();
    assert_eq!(&greeting[..4], b"SDCL");
    assert_eq!(greeting[4], sessiond_cluster::network::PROTOCOL_VERSION);
    let server_nonce = &greeting[5..];
    let client_nonce = [9u8; 32];
    let mut answer = Vec::new();
    answer.extend_from_slice(b"SDCL");
    answer.push(1);
    answer.extend_from_slice(&client_nonce);
    answer.extend_from_slice(&mac(
        secret,
        b"sessiond-cluster v1 client",
        server_nonce,
        &client_nonce,
    ));
    stream.write_all(&answer).await.unwrap();
    let mut status = [0u8; 1];
    stream.read_exact(&mut status).await.unwrap();
    if status[0] == 0 {
        let mut proof = [0u8; 32];
        stream.read_exact(&mut proof).await.unwrap();
        assert_eq!(
            proof,
            mac(
                secret,
                b"sessiond-cluster v1 server",
                &client_nonce,
                server_nonce
            )
        );
    }
    status[0]
}

/// True when the server closes the connection (reads reach the end) within `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut sink = [0u8; 256];
    let read_to_end = async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, read_to_end).await.is_ok()
}

// ---------------------------------------------------------------------------------------
// Handshake tests against a real listener.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn right_secret_is_served_and_wrong_secret_is_refused_on_both_sides() {
    let mut node = start_node(1, network_config()).await;

    // The right secret: a status from the (uninitialized) node.
    let status = admin(&node.addr).await.status().await.unwrap();
    assert_eq!(status.id, 1);
    assert_eq!(status.role, Role::Learner);
    assert!(status.voters.is_empty());

    // A client with the wrong secret gets a typed authentication error.
    let refused = AdminClient::connect(&node.addr, b"wrong", Duration::from_secs(5)).await;
    match refused {
        Err(AdminError::Transport(e)) => {
            assert!(e.is_auth_failure(), "{e}");
            assert!(
                matches!(
                    e,
                    TransportError::Handshake {
                        source: HandshakeError::Rejected,
                        ..
                    }
                ),
                "{e}"
            );
        }
        Err(other) => panic!("expected an auth failure, got {other}"),
        Ok(_) => panic!("a wrong secret was accepted"),
    }

    // On the wire: the server answers REJECTED, closes, and logs a warning naming the peer.
    let mut stream = TcpStream::connect(&node.addr).await.unwrap();
    let local = stream.local_addr().unwrap().to_string();
    assert_eq!(raw_handshake(&mut stream, b"wrong").await, 1);
    assert!(closed_within(&mut stream, Duration::from_secs(2)).await);
    eventually("the refusal's warning", || {
        logged(&local) && logged("cluster connection refused")
    })
    .await;

    // The right secret by hand, and then a frame: the documented format is the real one.
    // `Request::Admin(AdminRequest::Status)` is variants 7 and 0; the answer starts with
    // `Response::Admin(AdminResponse::Status(..))`, variants 4 and 0, then the node id.
    let mut stream = TcpStream::connect(&node.addr).await.unwrap();
    assert_eq!(raw_handshake(&mut stream, SECRET).await, 0);
    stream.write_all(&[0, 0, 0, 2, 7, 0]).await.unwrap();
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await.unwrap();
    let mut payload = vec![0u8; u32::from_be_bytes(len) as usize];
    stream.read_exact(&mut payload).await.unwrap();
    assert_eq!(&payload[..3], &[4, 0, 1]);

    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_impostor_server_is_detected_by_the_client() {
    init_logs();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let impostor = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut greeting = Vec::from(*b"SDCL");
        greeting.push(1);
        greeting.extend_from_slice(&[4u8; 32]);
        stream.write_all(&greeting).await.unwrap();
        let mut answer = [0u8; 69];
        stream.read_exact(&mut answer).await.unwrap();
        // Accepts anyone, and cannot prove it knows the secret.
        let mut reply = vec![0u8];
        reply.extend_from_slice(&[5u8; 32]);
        stream.write_all(&reply).await.unwrap();
        stream
    });
    let result = AdminClient::connect(&addr, SECRET, Duration::from_secs(5)).await;
    match result {
        Err(AdminError::Transport(TransportError::Handshake {
            source: HandshakeError::ServerUnauthenticated,
            ..
        })) => {}
        Err(other) => panic!("expected ServerUnauthenticated, got {other}"),
        Ok(_) => panic!("the impostor was trusted"),
    }
    drop(impostor.await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn garbage_huge_frames_and_stalls_close_the_connection_and_others_are_served() {
    let mut config = network_config();
    config.handshake_timeout = Duration::from_millis(300);
    let mut node = start_node(1, config).await;
    let mut client = admin(&node.addr).await;

    // Garbage instead of the answer.
    let mut garbage = TcpStream::connect(&node.addr).await.unwrap();
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(closed_within(&mut garbage, Duration::from_secs(2)).await);

    // An authenticated peer announcing a frame over the limit.
    let mut huge = TcpStream::connect(&node.addr).await.unwrap();
    assert_eq!(raw_handshake(&mut huge, SECRET).await, 0);
    huge.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
    assert!(closed_within(&mut huge, Duration::from_secs(2)).await);
    eventually("the oversized frame's warning", || {
        logged("exceeds the limit of 67108864")
    })
    .await;

    // Undecodable frame.
    let mut bad = TcpStream::connect(&node.addr).await.unwrap();
    assert_eq!(raw_handshake(&mut bad, SECRET).await, 0);
    bad.write_all(&[0, 0, 0, 3, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    assert!(closed_within(&mut bad, Duration::from_secs(2)).await);

    // A stall in the handshake is cut off by the handshake timeout, while others are served.
    let mut slow = TcpStream::connect(&node.addr).await.unwrap();
    let started = Instant::now();
    let status = client.status().await.unwrap();
    assert_eq!(status.id, 1);
    assert!(closed_within(&mut slow, Duration::from_secs(3)).await);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(250), "closed after {took:?}");

    // The first client's connection survived all of that.
    assert_eq!(client.status().await.unwrap().id, 1);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connections_beyond_the_limit_are_closed_at_once() {
    let mut config = network_config();
    config.max_connections = 2;
    config.handshake_timeout = Duration::from_secs(2);
    let mut node = start_node(1, config).await;

    let _a = TcpStream::connect(&node.addr).await.unwrap();
    let _b = TcpStream::connect(&node.addr).await.unwrap();
    // Let the server accept both before the third arrives.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut c = TcpStream::connect(&node.addr).await.unwrap();
    let mut first = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(1), c.read(&mut first)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    eventually("the limit's warning", || {
        logged("cluster connection limit reached")
    })
    .await;

    // Once the first two are gone, there is room again.
    drop((_a, _b));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(admin(&node.addr).await.status().await.unwrap().id, 1);
    node.stop().await;
}

// ---------------------------------------------------------------------------------------
// A real cluster over loopback TCP.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn a_three_node_cluster_replicates_fails_over_and_ships_snapshots() {
    let mut nodes = Vec::new();
    for id in 1..=3 {
        nodes.push(start_node(id, network_config()).await);
    }
    let members: BTreeMap<NodeId, NodeInfo> = nodes.iter().map(|n| (n.id, n.info())).collect();

    // Initialize through the admin protocol; a second initialize is refused.
    admin(&nodes[0].addr)
        .await
        .initialize(members.clone())
        .await
        .unwrap();
    let all: Vec<&Node> = nodes.iter().collect();
    let leader = leader_of(&all).await;
    let leader_node = nodes.iter().find(|n| n.id == leader).unwrap();
    let again = admin(&leader_node.addr)
        .await
        .initialize(members.clone())
        .await;
    assert!(
        matches!(
            again,
            Err(AdminError::Failed(AdminFailure::AlreadyInitialized))
        ),
        "{again:?}"
    );

    // Writes replicate to every node.
    let mut last = 0;
    for i in 1..=30 {
        last = write(leader_node, i).await;
    }
    for node in &nodes {
        wait_applied(node, last).await;
    }
    let expected = leader_node.sm.data();
    assert_eq!(expected.len(), 30);
    for node in &nodes {
        assert_eq!(node.sm.data(), expected, "node {}", node.id);
    }

    // Status from a follower and from the leader.
    let follower = nodes.iter().find(|n| n.id != leader).unwrap();
    let status = admin(&follower.addr).await.status().await.unwrap();
    assert_eq!(status.id, follower.id);
    assert_eq!(status.role, Role::Follower);
    assert_eq!(status.leader, Some(leader));
    assert_eq!(status.voters, members);
    assert!(status.learners.is_empty());
    assert_eq!(status.applied, Some(last));
    assert_eq!(status.replication, None);
    let status = admin(&leader_node.addr).await.status().await.unwrap();
    assert_eq!(status.role, Role::Leader);
    let table = status.to_string();
    assert!(
        table.contains("leader") && table.contains(&leader_node.addr),
        "{table}"
    );
    let replication = status.replication.expect("the leader reports replication");
    assert_eq!(
        replication.keys().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([1, 2, 3])
    );
    assert!(replication.values().all(Option::is_some), "{replication:?}");

    // The leader snapshots and purges its log: a new node can only catch up by snapshot.
    snapshot_and_purge(leader_node, last).await;

    // Node 4 joins as a learner, asked through a follower (NotLeader is followed).
    let learner = start_node(4, network_config()).await;
    let mut via_follower = admin(&follower.addr).await;
    via_follower
        .add_node(4, learner.info(), false)
        .await
        .unwrap();
    assert_eq!(
        via_follower.addr(),
        leader_node.addr,
        "followed to the leader"
    );
    wait_applied(&learner, last).await;
    assert!(
        learner.sm.installs() >= 1,
        "node 4 caught up through a snapshot"
    );
    assert_eq!(learner.sm.data(), expected);
    // The received snapshot's temporary file is gone.
    let incoming = learner.dir.path().join("raft").join("incoming");
    eventually("the incoming directory to be empty", || {
        std::fs::read_dir(&incoming).unwrap().count() == 0
    })
    .await;
    nodes.push(learner);

    // A follower goes down, misses writes the leader then purges, and comes back at the same
    // address: the leader's clients reconnect and it catches up through a snapshot.
    let index = nodes
        .iter()
        .position(|n| n.id != leader && n.id != 4)
        .unwrap();
    let mut lagging = nodes.remove(index);
    let lagging_id = lagging.id;
    lagging.stop().await;
    let installs_before = lagging.sm.installs();
    let leader_node = nodes.iter().find(|n| n.id == leader).unwrap();
    for i in 31..=35 {
        last = write(leader_node, i).await;
    }
    snapshot_and_purge(leader_node, last).await;
    let lagging = restart(lagging).await;
    wait_applied(&lagging, last).await;
    assert!(
        lagging.sm.installs() > installs_before,
        "node {lagging_id} caught up through a snapshot"
    );
    assert_eq!(lagging.sm.data(), leader_node.sm.data());
    nodes.push(lagging);

    // Kill the leader: the other two voters elect a new one, which keeps replicating to all.
    let old_leader = leader;
    let index = nodes.iter().position(|n| n.id == old_leader).unwrap();
    let mut dead = nodes.remove(index);
    dead.stop().await;
    let voters: Vec<&Node> = nodes.iter().filter(|n| n.id != 4).collect();
    let leader = leader_of(&voters).await;
    assert_ne!(leader, old_leader);
    let leader_node = nodes.iter().find(|n| n.id == leader).unwrap();
    for i in 36..=40 {
        last = write(leader_node, i).await;
    }
    for node in &nodes {
        wait_applied(node, last).await;
    }
    let expected = leader_node.sm.data();
    assert_eq!(expected.len(), 40);
    for node in &nodes {
        assert_eq!(node.sm.data(), expected, "node {}", node.id);
    }

    // Membership changes through the learner (NotLeader followed): remove the dead node,
    // promote node 4.
    let learner = nodes.iter().find(|n| n.id == 4).unwrap();
    let mut via_learner = admin(&learner.addr).await;
    via_learner.remove_node(old_leader).await.unwrap();
    via_learner.add_node(4, learner.info(), true).await.unwrap();
    let status = via_learner.status().await.unwrap();
    assert_eq!(status.role, Role::Leader);
    let expected_voters: BTreeSet<NodeId> = nodes.iter().map(|n| n.id).collect();
    assert_eq!(
        status.voters.keys().copied().collect::<BTreeSet<_>>(),
        expected_voters
    );
    assert!(status.learners.is_empty());
    assert_eq!(status.voters[&4], learner.info());

    // Removing a node that is not a member is refused.
    let unknown = via_learner.remove_node(99).await;
    assert!(
        matches!(
            unknown,
            Err(AdminError::Failed(AdminFailure::UnknownNode(99)))
        ),
        "{unknown:?}"
    );

    for node in &mut nodes {
        node.stop().await;
    }
}
