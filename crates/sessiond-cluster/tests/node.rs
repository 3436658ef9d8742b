//! Three cluster nodes on loopback: the leader's writes reach every engine once committed,
//! and survive the leader's loss and a node's restart.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sessiond_cluster::journal::take_thread_lsn;
use sessiond_cluster::network::NetworkConfig;
use sessiond_cluster::node::{ClusterNode, NodeConfig};
use sessiond_cluster::types::{NodeId, NodeInfo};
use sessiond_engine::{
    Engine, EngineConfig, EngineError, Expiry, Get, GetOutcome, Key, NamespaceId, Store, StoreMode,
    Timestamp,
};
use sessiond_storage::FsyncPolicy;

const SECRET: &[u8] = b"a cluster secret for the tests";

struct Member {
    id: NodeId,
    engine: Arc<Engine>,
    node: ClusterNode,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

async fn start(
    id: NodeId,
    dir: &Path,
    listener: tokio::net::TcpListener,
    members: &BTreeMap<NodeId, NodeInfo>,
) -> Member {
    let engine = Arc::new(Engine::new(EngineConfig::default()));
    let config = NodeConfig {
        id,
        info: members[&id].clone(),
        initial_members: members.clone(),
        dir: dir.to_owned(),
        fsync: FsyncPolicy::No,
        network: NetworkConfig::new(SECRET),
        heartbeat_ms: 50,
        election_ms: (300, 600),
        snapshot_entries: 50,
        max_in_flight: 64 << 20,
        time_floor: Arc::new(AtomicU64::new(0)),
    };
    let node = ClusterNode::start(config, Arc::clone(&engine), listener, Arc::new(now_ms))
        .await
        .unwrap();
    Member { id, engine, node }
}

async fn leader(members: &[Member]) -> usize {
    for _ in 0..400 {
        if let Some(index) = members.iter().position(|m| m.node.role().borrow().serving) {
            return index;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no leader was elected");
}

/// Stores on the leader's engine, as a protocol would, and waits for the commit.
async fn write(member: &Member, key: &str, value: &str) -> Result<(), EngineError> {
    let command = Store::new(
        Key::new(NamespaceId(0), key.as_bytes()),
        value.as_bytes(),
        0,
        Expiry::Never,
        StoreMode::Set,
    );
    member
        .engine
        .run(&command, Timestamp::from_millis(now_ms()))?;
    let (epoch, lsn) = take_thread_lsn();
    member
        .node
        .journal()
        .wait_committed(lsn, epoch)
        .await
        .map_err(|_| EngineError::Unavailable)
}

/// Writes through whichever node leads, again if leadership moves mid-write (as a client
/// whose connection closed would).
async fn write_to_leader(members: &[Member], key: &str, value: &str) {
    for _ in 0..20 {
        let index = leader(members).await;
        if write(&members[index], key, value).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{key} could not be written");
}

fn read(engine: &Engine, key: &str) -> Option<Vec<u8>> {
    let get = Get::new(Key::new(NamespaceId(0), key.as_bytes()));
    match engine.run(&get, Timestamp::from_millis(now_ms())) {
        Ok(GetOutcome::Hit(item)) => Some(item.value.to_vec()),
        _ => None,
    }
}

async fn eventually_everywhere(members: &[Member], key: &str, value: &str) {
    for _ in 0..400 {
        if members
            .iter()
            .all(|m| read(&m.engine, key).as_deref() == Some(value.as_bytes()))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    for member in members {
        eprintln!("node {}: {:?}", member.id, read(&member.engine, key));
    }
    panic!("{key} did not reach every node");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_survive_the_leaders_loss_and_a_restart() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut listeners = Vec::new();
    let mut infos = BTreeMap::new();
    for id in 1..=3u64 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        infos.insert(
            id,
            NodeInfo {
                cluster: listener.local_addr().unwrap().to_string(),
                clients: BTreeMap::new(),
            },
        );
        listeners.push(listener);
    }
    let mut members = Vec::new();
    for (index, listener) in listeners.into_iter().enumerate() {
        let id = index as u64 + 1;
        members.push(start(id, dirs[index].path(), listener, &infos).await);
    }

    for i in 0..100 {
        write_to_leader(&members, &format!("k{i}"), &format!("v{i}")).await;
    }
    eventually_everywhere(&members, "k99", "v99").await;
    let first = leader(&members).await;
    // A follower refuses writes: clients are sent on to the leader instead.
    let follower = (first + 1) % 3;
    assert!(write(&members[follower], "x", "y").await.is_err());

    // The leader goes; another takes over with every acknowledged write.
    let gone = members.remove(first);
    let gone_id = gone.id;
    gone.node.shutdown().await;
    drop(gone);
    let second = leader(&members).await;
    for i in 0..100 {
        assert_eq!(
            read(&members[second].engine, &format!("k{i}")),
            Some(format!("v{i}").into_bytes())
        );
    }
    write_to_leader(&members, "after", "failover").await;
    eventually_everywhere(&members, "after", "failover").await;

    // The old leader comes back from its directory and catches up.
    let dir = dirs[(gone_id - 1) as usize].path();
    let addr = infos[&gone_id].cluster.clone();
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    members.push(start(gone_id, dir, listener, &infos).await);
    eventually_everywhere(&members, "after", "failover").await;
    eventually_everywhere(&members, "k0", "v0").await;
    for member in members {
        member.node.shutdown().await;
    }
}

/// A leader restarted before the others notice never takes up its old term again: it would
/// serve from an engine that lacks its term's last committed entries. Whoever serves next
/// does so in a new term, with every acknowledged write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_restarted_at_once_leads_again_only_in_a_new_term() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut listeners = Vec::new();
    let mut infos = BTreeMap::new();
    for id in 1..=3u64 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        infos.insert(
            id,
            NodeInfo {
                cluster: listener.local_addr().unwrap().to_string(),
                clients: BTreeMap::new(),
            },
        );
        listeners.push(listener);
    }
    let mut members = Vec::new();
    for (index, listener) in listeners.into_iter().enumerate() {
        members.push(start(index as u64 + 1, dirs[index].path(), listener, &infos).await);
    }
    for i in 0..50 {
        write_to_leader(&members, &format!("k{i}"), &format!("v{i}")).await;
    }
    let first = leader(&members).await;
    let old_term = members[first].node.metrics().current_term;

    let gone = members.remove(first);
    let gone_id = gone.id;
    gone.node.shutdown().await;
    drop(gone);
    let addr = infos[&gone_id].cluster.clone();
    // The old listener's task ends a moment after the shutdown.
    let mut listener = None;
    for _ in 0..200 {
        match tokio::net::TcpListener::bind(&addr).await {
            Ok(bound) => {
                listener = Some(bound);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
    let listener = listener.expect("the old leader's address is free again");
    let dir = dirs[(gone_id - 1) as usize].path();
    members.push(start(gone_id, dir, listener, &infos).await);

    let next = leader(&members).await;
    assert!(
        members[next].node.metrics().current_term > old_term,
        "node {} serves in term {}, the term it led before the restart",
        members[next].id,
        old_term
    );
    for i in 0..50 {
        assert_eq!(
            read(&members[next].engine, &format!("k{i}")),
            Some(format!("v{i}").into_bytes()),
            "k{i} on node {}",
            members[next].id
        );
    }
    for member in members {
        member.node.shutdown().await;
    }
}
