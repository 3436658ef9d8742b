//! The cluster transport over mutual TLS, on loopback: three nodes elect a leader and
//! replicate, admin clients reach them with the CA's certificates, and a stranger's
//! certificate or a side without TLS is refused during the handshake with the reason.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sessiond_cluster::journal::take_thread_lsn;
use sessiond_cluster::network::{
    AdminClient, AdminError, ClusterTls, HandshakeError, NetworkConfig, Role, TransportError,
};
use sessiond_cluster::node::{ClusterNode, NodeConfig};
use sessiond_cluster::types::{NodeId, NodeInfo};
use sessiond_engine::{
    Engine, EngineConfig, Expiry, Get, GetOutcome, Key, NamespaceId, Store, StoreMode, Timestamp,
};
use sessiond_storage::FsyncPolicy;

const SECRET: &[u8] = b"a cluster secret for the TLS tests";

/// Handshakes here must fail by what they say, never by running out of time: the timeout is
/// far longer than any of them takes.
const HANDSHAKE: Duration = Duration::from_secs(30);

/// A certificate authority of the tests.
struct Ca {
    der: CertificateDer<'static>,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Ca {
            der: cert.der().clone(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A node certificate for 127.0.0.1, for use as a server and as a client.
    fn leaf(&self) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let key = PrivatePkcs8KeyDer::from(key.serialize_der());
        (cert.der().clone(), key.into())
    }
}

/// TLS with a certificate `signer` signed, trusting only `trusted`: what a node's `[tls]`
/// settings become.
fn tls(signer: &Ca, trusted: &Ca) -> ClusterTls {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.der.clone()).unwrap();
    let roots = Arc::new(roots);
    let (cert, key) = signer.leaf();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        roots.clone(),
        provider.clone(),
    )
    .build()
    .unwrap();
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![cert.clone()], key.clone_key())
        .unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![cert], key)
        .unwrap();
    ClusterTls::new(Arc::new(server), Arc::new(client))
}

fn network(tls: Option<ClusterTls>) -> NetworkConfig {
    NetworkConfig {
        tls,
        handshake_timeout: HANDSHAKE,
        ..NetworkConfig::new(SECRET)
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

struct Member {
    engine: Arc<Engine>,
    node: ClusterNode,
    addr: String,
}

async fn start(
    id: NodeId,
    dir: &Path,
    listener: tokio::net::TcpListener,
    members: &BTreeMap<NodeId, NodeInfo>,
    network: NetworkConfig,
) -> Member {
    let engine = Arc::new(Engine::new(EngineConfig::default()));
    let addr = listener.local_addr().unwrap().to_string();
    let config = NodeConfig {
        id,
        info: members[&id].clone(),
        initial_members: members.clone(),
        dir: dir.to_owned(),
        fsync: FsyncPolicy::No,
        network,
        heartbeat_ms: 50,
        election_ms: (300, 600),
        snapshot_entries: 1000,
        max_in_flight: 64 << 20,
        time_floor: Arc::new(AtomicU64::new(0)),
    };
    let node = ClusterNode::start(config, Arc::clone(&engine), listener, Arc::new(now_ms))
        .await
        .unwrap();
    Member { engine, node, addr }
}

/// Starts `count` nodes forming one cluster, each with the network settings `network` gives
/// for its index.
async fn cluster(
    dirs: &[tempfile::TempDir],
    network: impl Fn(usize) -> NetworkConfig,
) -> Vec<Member> {
    let mut listeners = Vec::new();
    let mut infos = BTreeMap::new();
    for id in 1..=dirs.len() as u64 {
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
        members.push(start(id, dirs[index].path(), listener, &infos, network(index)).await);
    }
    members
}

async fn leader(members: &[Member]) -> usize {
    for _ in 0..800 {
        if let Some(index) = members.iter().position(|m| m.node.role().borrow().serving) {
            return index;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no leader was elected");
}

/// Stores on the leader's engine, as a protocol would, and waits for the commit; again if
/// leadership moves mid-write.
async fn write_to_leader(members: &[Member], key: &str, value: &str) {
    for _ in 0..20 {
        let member = &members[leader(members).await];
        let command = Store::new(
            Key::new(NamespaceId(0), key.as_bytes()),
            value.as_bytes(),
            0,
            Expiry::Never,
            StoreMode::Set,
        );
        if member
            .engine
            .run(&command, Timestamp::from_millis(now_ms()))
            .is_ok()
        {
            let (epoch, lsn) = take_thread_lsn();
            if member
                .node
                .journal()
                .wait_committed(lsn, epoch)
                .await
                .is_ok()
            {
                return;
            }
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
    for _ in 0..800 {
        if members
            .iter()
            .all(|m| read(&m.engine, key).as_deref() == Some(value.as_bytes()))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{key} did not reach every node");
}

/// The handshake failure an admin client met, or a panic saying what happened instead.
async fn refused(addr: &str, network: NetworkConfig) -> HandshakeError {
    match AdminClient::connect_with(addr, network, HANDSHAKE).await {
        Ok(_) => panic!("an admin client was let in"),
        Err(AdminError::Transport(TransportError::Handshake { source, .. })) => source,
        Err(other) => panic!("refused, but not in the handshake: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_over_tls_elect_a_leader_replicate_and_refuse_strangers() {
    let ca = Ca::new("sessiond test CA");
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let members = cluster(&dirs, |_| network(Some(tls(&ca, &ca)))).await;

    for i in 0..20 {
        write_to_leader(&members, &format!("k{i}"), &format!("v{i}")).await;
    }
    eventually_everywhere(&members, "k19", "v19").await;

    // The admin protocol over TLS, as `sessiond cluster status` uses it.
    let leading = leader(&members).await;
    let mut admin = AdminClient::connect_with(
        &members[leading].addr,
        network(Some(tls(&ca, &ca))),
        HANDSHAKE,
    )
    .await
    .unwrap();
    let status = admin.status().await.unwrap();
    assert_eq!(status.voters.len(), 3);
    assert!(status.leader.is_some());
    let other = &members[(leading + 1) % 3].addr;
    let status = AdminClient::connect_with(other, network(Some(tls(&ca, &ca))), HANDSHAKE)
        .await
        .unwrap()
        .status()
        .await
        .unwrap();
    assert!(matches!(status.role, Role::Follower), "{status:?}");

    // Without TLS: told at once that the node requires it.
    let error = refused(other, network(None)).await;
    assert!(matches!(error, HandshakeError::TlsRequired), "{error}");

    // A certificate another CA signed: the node refuses it, whatever CA the stranger trusts.
    let stranger = Ca::new("a stranger's CA");
    let error = refused(other, network(Some(tls(&stranger, &ca)))).await;
    assert!(matches!(error, HandshakeError::Tls(_)), "{error}");
    // And a member never talks to a node whose certificate the CA did not sign.
    let error = refused(other, network(Some(tls(&ca, &stranger)))).await;
    assert!(
        matches!(&error, HandshakeError::Tls(e) if e.to_string().contains("certificate")),
        "{error}"
    );

    // The right certificate with the wrong secret is still refused by the secret.
    let wrong_secret = NetworkConfig {
        secret: b"not the cluster's secret".to_vec(),
        ..network(Some(tls(&ca, &ca)))
    };
    let error = refused(other, wrong_secret).await;
    assert!(matches!(error, HandshakeError::Rejected), "{error}");

    // The cluster goes on after all of that.
    write_to_leader(&members, "after", "strangers").await;
    eventually_everywhere(&members, "after", "strangers").await;
    for member in members {
        member.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_client_is_told_a_node_has_no_tls() {
    let ca = Ca::new("sessiond test CA");
    let dirs: Vec<_> = (0..1).map(|_| tempfile::tempdir().unwrap()).collect();
    let members = cluster(&dirs, |_| network(None)).await;
    leader(&members).await;
    let error = refused(&members[0].addr, network(Some(tls(&ca, &ca)))).await;
    assert!(matches!(error, HandshakeError::PeerWithoutTls), "{error}");
    // It still serves its own kind.
    let status = AdminClient::connect_with(&members[0].addr, network(None), HANDSHAKE)
        .await
        .unwrap()
        .status()
        .await
        .unwrap();
    assert!(matches!(status.role, Role::Leader), "{status:?}");
    for member in members {
        member.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_a_certificate_from_another_ca_cannot_join() {
    let ca = Ca::new("sessiond test CA");
    let stranger = Ca::new("a stranger's CA");
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    // Node 3's certificate is the stranger's (it trusts the cluster's CA): the other two
    // refuse it, and it cannot stop them electing a leader and committing with each other.
    let members = cluster(&dirs, |index| {
        let signer = if index == 2 { &stranger } else { &ca };
        network(Some(tls(signer, &ca)))
    })
    .await;
    let (good, rogue) = members.split_at(2);
    write_to_leader(good, "k", "v").await;
    eventually_everywhere(good, "k", "v").await;
    assert_eq!(read(&rogue[0].engine, "k"), None);
    assert!(!rogue[0].node.role().borrow().serving);
    for member in members {
        member.node.shutdown().await;
    }
}
