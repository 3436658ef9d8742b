//! TLS of the real binary on loopback: the `[tls]` settings and their start-up errors, a
//! memcached client over TLS (with and without a client certificate), garbage on a TLS
//! listener, and a three-node cluster whose transport, admin commands and relayed clients run
//! over TLS. Certificates are made by the tests (rcgen): a CA, node certificates for
//! 127.0.0.1, a client certificate, and a stranger's CA.
//!
//! Every wait is bounded; nothing asserts how long anything took.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use support::{IO_TIMEOUT, Server, connect, free_port, run_to_exit};

const SECRET: &str = "the cluster secret of the TLS tests";
/// How long a start-up that must fail may take.
const FAIL_FAST: Duration = Duration::from_secs(10);

/// A certificate authority and the files it signed, in one temporary directory.
struct Pki {
    dir: tempfile::TempDir,
    ca_der: CertificateDer<'static>,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

/// A certificate and its key, as files and as rustls takes them.
struct Identity {
    cert: PathBuf,
    key: PathBuf,
    der: CertificateDer<'static>,
    key_der: PrivateKeyDer<'static>,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.path().join("ca.pem"), cert.pem()).unwrap();
        Pki {
            dir,
            ca_der: cert.der().clone(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A certificate for 127.0.0.1, for server and client use, written as `name.pem` and
    /// `name.key`.
    fn issue(&self, name: &str) -> Identity {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let (cert_path, key_path) = (
            self.dir.path().join(format!("{name}.pem")),
            self.dir.path().join(format!("{name}.key")),
        );
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        Identity {
            cert: cert_path,
            key: key_path,
            der: cert.der().clone(),
            key_der: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        }
    }
}

fn text(path: &Path) -> &str {
    path.to_str().expect("utf-8 temporary path")
}

/// A TLS client trusting `pki`'s CA, presenting `identity` when given.
fn client_config(pki: &Pki, identity: Option<&Identity>) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        Some(identity) => builder
            .with_client_auth_cert(vec![identity.der.clone()], identity.key_der.clone_key())
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn connect_tls(addr: SocketAddr, config: &Arc<rustls::ClientConfig>) -> TlsStream {
    let name = ServerName::from(addr.ip());
    let connection = rustls::ClientConnection::new(Arc::clone(config), name).unwrap();
    rustls::StreamOwned::new(connection, connect(addr))
}

/// Sends `request` and reads until the reply ends with `end`; the error (or what came before
/// the connection closed) otherwise.
fn ask(stream: &mut impl ReadWrite, request: &[u8], end: &[u8]) -> Result<Vec<u8>, String> {
    stream.write_all(request).map_err(|e| e.to_string())?;
    stream.flush().map_err(|e| e.to_string())?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while !reply.ends_with(end) {
        match stream.read(&mut buf) {
            Ok(0) => {
                return Err(format!(
                    "closed after {:?}",
                    String::from_utf8_lossy(&reply)
                ));
            }
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(reply)
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn set(stream: &mut impl ReadWrite, key: &str, value: &str) -> Result<(), String> {
    let request = format!("set {key} 0 0 {}\r\n{value}\r\n", value.len());
    let reply = ask(stream, request.as_bytes(), b"\r\n")?;
    if reply == b"STORED\r\n" {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&reply).into_owned())
    }
}

fn get(stream: &mut impl ReadWrite, key: &str) -> Result<Option<String>, String> {
    let reply = ask(stream, format!("get {key}\r\n").as_bytes(), b"END\r\n")?;
    let reply = String::from_utf8_lossy(&reply).into_owned();
    Ok(reply
        .strip_prefix(&format!("VALUE {key} 0 "))
        .and_then(|rest| rest.split("\r\n").nth(1))
        .map(str::to_owned))
}

/// Runs sessiond with `args`, which must refuse to start with one line; returns that line.
fn refused(args: &[&str]) -> String {
    let finished = run_to_exit(args, FAIL_FAST);
    assert!(
        !finished.status.success(),
        "sessiond {args:?} started:\n{}",
        finished.stderr
    );
    assert!(
        !finished.stderr.contains("listening") && !finished.stderr.contains("panicked"),
        "{}",
        finished.stderr
    );
    let lines: Vec<&str> = finished
        .stderr
        .lines()
        .filter(|line| line.starts_with("sessiond:") || line.starts_with("error:"))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "one error line expected:\n{}",
        finished.stderr
    );
    lines[0].to_string()
}

#[test]
fn tls_settings_that_cannot_work_stop_start_up_with_one_line_naming_the_setting_and_file() {
    let pki = Pki::new("sessiond test CA");
    let node = pki.issue("node");
    let other = pki.issue("other");
    let stranger = Pki::new("a stranger's CA");
    let garbage = pki.dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let missing = pki.dir.path().join("missing.pem");
    let data = tempfile::tempdir().unwrap();
    let base = [
        "--memcache-listen",
        "127.0.0.1:0",
        "--aspnet-listen",
        "off",
        "--sharedance-listen",
        "off",
        "--resp-listen",
        "off",
        "--threads",
        "1",
    ];
    let cluster = [
        "--node-id",
        "1",
        "--cluster-listen",
        "127.0.0.1:0",
        "--cluster-secret",
        SECRET,
        "--data-dir",
        text(data.path()),
    ];
    let stranger_ca = stranger.ca();
    let cases: Vec<(Vec<&str>, &str, Option<&Path>, &str)> = vec![
        (
            vec!["--tls-cert", text(&missing), "--tls-key", text(&node.key)],
            "tls.cert",
            Some(&missing),
            "No such file",
        ),
        (
            vec!["--tls-cert", text(&garbage), "--tls-key", text(&node.key)],
            "tls.cert",
            Some(&garbage),
            "no certificate",
        ),
        (
            vec!["--tls-cert", text(&node.cert), "--tls-key", text(&garbage)],
            "tls.key",
            Some(&garbage),
            "private key",
        ),
        (
            vec![
                "--tls-cert",
                text(&node.cert),
                "--tls-key",
                text(&other.key),
            ],
            "tls.key",
            Some(&other.key),
            "does not match",
        ),
        (
            vec![
                "--tls-cert",
                text(&node.cert),
                "--tls-key",
                text(&node.key),
                "--tls-ca",
                text(&garbage),
            ],
            "tls.ca",
            Some(&garbage),
            "certificate",
        ),
        (vec!["--tls-cert", text(&node.cert)], "tls.key", None, "key"),
        (vec!["--memcache-tls"], "memcache.tls", None, "[tls]"),
        (
            [
                &["--tls-cert", text(&node.cert), "--tls-key", text(&node.key)][..],
                &cluster[..],
            ]
            .concat(),
            "tls.ca",
            None,
            "CA",
        ),
        // A node whose certificate the cluster's CA did not sign: its peers would refuse it.
        (
            [
                &[
                    "--tls-cert",
                    text(&node.cert),
                    "--tls-key",
                    text(&node.key),
                    "--tls-ca",
                    text(&stranger_ca),
                ][..],
                &cluster[..],
            ]
            .concat(),
            "tls.cert",
            Some(&node.cert),
            "refuse",
        ),
    ];
    for (args, setting, file, says) in cases {
        let args: Vec<&str> = base.iter().copied().chain(args).collect();
        let line = refused(&args);
        assert!(
            line.contains(&format!("{setting}:")),
            "{args:?}: {line:?} does not name {setting}"
        );
        if let Some(file) = file {
            assert!(line.contains(text(file)), "{line:?} does not name {file:?}");
        }
        assert!(line.contains(says), "{line:?} does not say {says:?}");
    }

    // The same from the file.
    let config = pki.dir.path().join("sessiond.toml");
    std::fs::write(
        &config,
        format!(
            "[memcache]\nlisten = \"127.0.0.1:0\"\ntls = true\n[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
            text(&missing),
            text(&node.key)
        ),
    )
    .unwrap();
    let line = refused(&["--config", text(&config)]);
    assert!(
        line.contains("tls.cert:") && line.contains(text(&missing)),
        "{line:?}"
    );
    std::fs::write(
        &config,
        "[tls]\ncert = \"a\"\nkey = \"b\"\nclient_auth = \"sometimes\"\n",
    )
    .unwrap();
    let line = refused(&["--config", text(&config)]);
    assert!(line.contains("sometimes"), "{line:?}");
}

#[test]
fn memcached_clients_over_tls_set_and_get_and_garbage_closes_only_its_own_connection() {
    let pki = Pki::new("sessiond test CA");
    let node = pki.issue("node");
    let server = Server::start_raw(&[
        "--memcache-listen",
        "127.0.0.1:0",
        "--memcache-tls",
        "--aspnet-listen",
        "off",
        "--sharedance-listen",
        "127.0.0.1:0",
        "--resp-listen",
        "127.0.0.1:0",
        "--threads",
        "2",
        "--in-memory",
        "--tls-cert",
        text(&node.cert),
        "--tls-key",
        text(&node.key),
    ]);
    let addr = server.memcache_addr();
    let config = client_config(&pki, None);
    let mut first = connect_tls(addr, &config);
    set(&mut first, "greeting", "hello over tls").unwrap();
    assert_eq!(
        get(&mut first, "greeting").unwrap().as_deref(),
        Some("hello over tls")
    );

    // Bytes that are not TLS: that connection is closed, and nothing else notices.
    let mut garbage = connect(addr);
    garbage
        .write_all(b"get greeting\r\n\x00\xff garbage that is not a TLS hello\r\n")
        .unwrap();
    let mut rest = Vec::new();
    // A close, or a reset after the TLS alert: either way no reply and the end of it.
    let _ = garbage.read_to_end(&mut rest);
    assert!(
        !String::from_utf8_lossy(&rest).contains("VALUE"),
        "{rest:?}"
    );
    // A TLS hello cut short and abandoned.
    let mut half = connect(addr);
    half.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .unwrap();
    drop(half);

    let mut second = connect_tls(addr, &config);
    assert_eq!(
        get(&mut second, "greeting").unwrap().as_deref(),
        Some("hello over tls")
    );
    set(&mut first, "greeting", "still here").unwrap();
    assert_eq!(
        get(&mut second, "greeting").unwrap().as_deref(),
        Some("still here")
    );
    // Other listeners stay plain.
    let mut plain = connect(server.sharedance_addr());
    plain.write_all(b"F\x00\x00\x00\x01k").unwrap();
    drop(plain);
    let (status, stderr) = server.shutdown();
    assert!(status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn with_a_ca_a_tls_listener_requires_client_certificates() {
    let pki = Pki::new("sessiond test CA");
    let node = pki.issue("node");
    let web = pki.issue("web-server");
    let stranger = Pki::new("a stranger's CA");
    let impostor = stranger.issue("impostor");
    let server = Server::start_raw(&[
        "--memcache-listen",
        "127.0.0.1:0",
        "--memcache-tls",
        "--aspnet-listen",
        "off",
        "--sharedance-listen",
        "off",
        "--resp-listen",
        "off",
        "--threads",
        "1",
        "--in-memory",
        "--tls-cert",
        text(&node.cert),
        "--tls-key",
        text(&node.key),
        "--tls-ca",
        text(&pki.ca()),
    ]);
    let addr = server.memcache_addr();
    let mut with_cert = connect_tls(addr, &client_config(&pki, Some(&web)));
    set(&mut with_cert, "k", "v").unwrap();
    // In TLS 1.3 the client finishes first and hears the refusal on its next read.
    let mut without = connect_tls(addr, &client_config(&pki, None));
    assert!(set(&mut without, "k", "x").is_err());
    let mut other_ca = connect_tls(addr, &client_config(&pki, Some(&impostor)));
    assert!(set(&mut other_ca, "k", "y").is_err());
    assert_eq!(get(&mut with_cert, "k").unwrap().as_deref(), Some("v"));
    let (status, stderr) = server.shutdown();
    assert!(status.success(), "{stderr}");
}

/// One node of the TLS cluster.
struct Node {
    cluster: SocketAddr,
    memcache: SocketAddr,
    server: Server,
}

/// `sessiond cluster ... status --json` with `args` (TLS settings, `--config`), parsed; the
/// error line when it fails.
fn status(node: SocketAddr, args: &[&str]) -> Result<serde_json::Value, String> {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sessiond"))
        .args(["cluster", "--node", &node.to_string(), "--json"])
        .args(args)
        .arg("status")
        .env_remove("SESSIOND_CONFIG")
        .env_remove("SESSIOND_CLUSTER_SECRET")
        .output()
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    serde_json::from_slice(&output.stdout).map_err(|e| e.to_string())
}

#[test]
fn a_three_node_cluster_runs_over_tls() {
    let pki = Pki::new("sessiond test CA");
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let peers = ports
        .iter()
        .enumerate()
        .map(|(index, (cluster, _))| format!("{}=127.0.0.1:{cluster}", index + 1))
        .collect::<Vec<_>>()
        .join(",");
    // Each node's data directory comes from the test support (SESSIOND_DATA_DIR); these
    // hold the configuration files.
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut configs = Vec::new();
    let nodes: Vec<Node> = ports
        .iter()
        .enumerate()
        .map(|(index, &(cluster, memcache))| {
            let identity = pki.issue(&format!("node{}", index + 1));
            // Slower heartbeats than the defaults: three nodes share two cores with other
            // tests here, and a starved one should not make the others re-elect.
            let config = dirs[index].path().join("sessiond.toml");
            std::fs::write(
                &config,
                format!(
                    "threads = 1\n\
                     [memcache]\nlisten = \"127.0.0.1:{memcache}\"\ntls = true\n\
                     [aspnet]\nlisten = \"off\"\n[sharedance]\nlisten = \"off\"\n[resp]\nlisten = \"off\"\n\
                     [cluster]\nnode_id = {id}\nlisten = \"127.0.0.1:{cluster}\"\n\
                     peers = [{peers}]\nsecret = \"{SECRET}\"\n\
                     heartbeat = \"200ms\"\nelection_timeout = \"1s\"\nleader_wait = \"20s\"\n\
                     [tls]\ncert = \"{cert}\"\nkey = \"{key}\"\nca = \"{ca}\"\n",
                    id = index + 1,
                    peers = peers
                        .split(',')
                        .map(|p| format!("\"{p}\""))
                        .collect::<Vec<_>>()
                        .join(", "),
                    cert = text(&identity.cert),
                    key = text(&identity.key),
                    ca = text(&pki.ca()),
                ),
            )
            .unwrap();
            configs.push(config.clone());
            Node {
                cluster: ([127, 0, 0, 1], cluster).into(),
                memcache: ([127, 0, 0, 1], memcache).into(),
                server: Server::start_raw(&["--config", text(&config)]),
            }
        })
        .collect();

    // `sessiond cluster status` over TLS, with the flags: a leader is elected.
    let admin = pki.issue("admin");
    let ca = pki.ca();
    let tls_flags = [
        "--secret",
        SECRET,
        "--tls-cert",
        text(&admin.cert),
        "--tls-key",
        text(&admin.key),
        "--tls-ca",
        text(&ca),
    ];
    let deadline = Instant::now() + Duration::from_secs(60);
    let leader = loop {
        let leading = nodes.iter().position(|node| {
            status(node.cluster, &tls_flags).is_ok_and(|status| status["role"] == "leader")
        });
        if let Some(index) = leading {
            break index;
        }
        assert!(Instant::now() < deadline, "no leader within 60 s");
        thread::sleep(Duration::from_millis(100));
    };
    // And with a node's configuration file instead of flags.
    let from_file = status(nodes[0].cluster, &["--config", text(&configs[0])]).unwrap();
    assert_eq!(from_file["voters"].as_object().map(|v| v.len()), Some(3));

    // Without TLS the command is refused, in one line that says why.
    let error = status(nodes[0].cluster, &["--secret", SECRET]).unwrap_err();
    assert!(error.contains("requires TLS"), "{error}");
    assert_eq!(error.lines().count(), 1, "{error}");
    // A node says why it refused a connection.
    let deadline = Instant::now() + IO_TIMEOUT;
    while !nodes[0]
        .server
        .stderr()
        .contains("cluster connection refused")
    {
        assert!(
            Instant::now() < deadline,
            "no refusal logged:\n{}",
            nodes[0].server.stderr()
        );
        thread::sleep(Duration::from_millis(50));
    }

    // Clients over TLS on every node: followers end TLS and relay over TLS to the leader.
    let client = client_config(&pki, Some(&pki.issue("web")));
    let follower = (leader + 1) % 3;
    let write = |node: &Node, key: &str, value: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut stream = connect_tls(node.memcache, &client);
            match set(&mut stream, key, value) {
                Ok(()) => return,
                Err(error) => {
                    // A leader change closes relayed connections: a client reconnects.
                    assert!(Instant::now() < deadline, "{key}: {error}");
                    thread::sleep(Duration::from_millis(100));
                }
            }
        }
    };
    for i in 0..20 {
        write(&nodes[follower], &format!("k{i}"), &format!("v{i}"));
    }
    write(&nodes[leader], "from-leader", "yes");
    for node in &nodes {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut stream = connect_tls(node.memcache, &client);
            match (get(&mut stream, "k19"), get(&mut stream, "from-leader")) {
                (Ok(Some(a)), Ok(Some(b))) => {
                    assert_eq!((a.as_str(), b.as_str()), ("v19", "yes"));
                    break;
                }
                other => {
                    assert!(Instant::now() < deadline, "{other:?}");
                    thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }

    // Every node applied the writes: they were replicated, not only relayed.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let applied: Vec<Option<u64>> = nodes
            .iter()
            .map(|node| {
                status(node.cluster, &tls_flags)
                    .ok()
                    .and_then(|s| s["applied"].as_u64())
            })
            .collect();
        let leader_applied = status(nodes[leader].cluster, &tls_flags)
            .ok()
            .and_then(|s| s["committed"].as_u64());
        if let Some(committed) = leader_applied
            && applied.iter().all(|a| a.is_some_and(|a| a >= committed))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not applied everywhere: {applied:?}, committed {leader_applied:?}"
        );
        thread::sleep(Duration::from_millis(100));
    }
    for node in nodes {
        let (status, stderr) = node.server.shutdown();
        assert!(status.success(), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
