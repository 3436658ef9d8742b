//! A three-node cluster of the real binary on loopback (issue 5): clients write sessions
//! through all three nodes over the memcached protocol while the leader is `kill -9`ed again
//! and again, restarted and rejoined; every write that was acknowledged must be there at the
//! end, nothing deleted may come back, and the cluster heals after every kill.
//!
//! `SESSIOND_CLUSTER_KILLS` sets the number of kills (default 20). Run with `--nocapture`
//! to see each kill and the time from the kill to the first acknowledged write.

mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use support::{Server, free_port};

const SECRET: &str = "the cluster secret of this test";
const WRITERS: usize = 3;

struct Node {
    id: u64,
    memcache: SocketAddr,
    args: Vec<String>,
    server: Option<Server>,
    _dir: tempfile::TempDir,
}

impl Node {
    fn start(&mut self) {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.server = Some(Server::start_raw(&args));
    }

    /// The highest term in which this node said it leads, if it ever did.
    fn led_in(&self) -> Option<u64> {
        let stderr = self.server.as_ref()?.stderr();
        stderr
            .lines()
            .filter(|line| line.contains("leading; serving clients"))
            .filter_map(|line| {
                line.split("term=")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .max()
    }
}

fn cluster() -> Vec<Node> {
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let peers = ports
        .iter()
        .enumerate()
        .map(|(index, (cluster, _))| format!("{}=127.0.0.1:{cluster}", index + 1))
        .collect::<Vec<_>>()
        .join(",");
    ports
        .iter()
        .enumerate()
        .map(|(index, &(cluster, memcache))| {
            let dir = tempfile::tempdir().unwrap();
            let args = [
                "--node-id",
                &(index + 1).to_string(),
                "--cluster-listen",
                &format!("127.0.0.1:{cluster}"),
                "--peers",
                &peers,
                "--cluster-secret",
                SECRET,
                "--memcache-listen",
                &format!("127.0.0.1:{memcache}"),
                "--aspnet-listen",
                "off",
                "--sharedance-listen",
                "off",
                "--threads",
                "1",
                "--data-dir",
                dir.path().to_str().unwrap(),
            ]
            .map(str::to_owned)
            .to_vec();
            Node {
                id: index as u64 + 1,
                memcache: ([127, 0, 0, 1], memcache).into(),
                args,
                server: None,
                _dir: dir,
            }
        })
        .collect()
}

/// What a writer knows about its keys: the last value acknowledged, the last attempted
/// (a write whose reply was lost may or may not have happened), and what it deleted.
#[derive(Default)]
struct Ledger {
    acked: HashMap<String, String>,
    attempted: HashMap<String, String>,
    deleted: Vec<String>,
}

/// One request on a fresh or kept connection; `None` if the connection failed or was
/// closed (the outcome is unknown).
fn request(stream: &mut Option<TcpStream>, addr: SocketAddr, bytes: &[u8]) -> Option<String> {
    if stream.is_none() {
        let connected = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
        connected
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        *stream = Some(connected);
    }
    let connection = stream.as_mut()?;
    let mut reply = Vec::new();
    let ok = connection.write_all(bytes).is_ok() && {
        let mut buffer = [0u8; 4096];
        loop {
            match connection.read(&mut buffer) {
                Ok(0) | Err(_) => break false,
                Ok(n) => {
                    reply.extend_from_slice(&buffer[..n]);
                    if reply.ends_with(b"\r\n") {
                        break true;
                    }
                }
            }
        }
    };
    if !ok || reply.starts_with(b"SERVER_ERROR") || reply.starts_with(b"ERROR") {
        *stream = None;
        return None;
    }
    Some(String::from_utf8_lossy(&reply).into_owned())
}

fn writer(
    index: usize,
    nodes: Vec<SocketAddr>,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
    last_ack: Arc<Mutex<Instant>>,
) {
    let mut stream = None;
    let mut node = index % nodes.len();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let key = format!("w{index}-{}", n % 50);
        let value = format!("v{n}");
        ledger
            .lock()
            .unwrap()
            .attempted
            .insert(key.clone(), value.clone());
        let set = format!("set {key} 0 0 {}\r\n{value}\r\n", value.len());
        match request(&mut stream, nodes[node], set.as_bytes()).as_deref() {
            Some("STORED\r\n") => {
                ledger.lock().unwrap().acked.insert(key.clone(), value);
                *last_ack.lock().unwrap() = Instant::now();
            }
            Some(other) => panic!("unexpected reply to a set: {other:?}"),
            None => {
                // Another node may answer: clients list every node.
                node = (node + 1) % nodes.len();
                thread::sleep(Duration::from_millis(20));
                continue;
            }
        }
        if n.is_multiple_of(7) {
            let gone = format!("w{index}-gone-{n}");
            let set = format!("set {gone} 0 0 1\r\nx\r\n");
            if request(&mut stream, nodes[node], set.as_bytes()).as_deref() == Some("STORED\r\n")
                && request(
                    &mut stream,
                    nodes[node],
                    format!("delete {gone}\r\n").as_bytes(),
                )
                .as_deref()
                    == Some("DELETED\r\n")
            {
                ledger.lock().unwrap().deleted.push(gone);
            }
        }
    }
}

fn get(addr: SocketAddr, key: &str) -> Option<Option<String>> {
    let mut stream = None;
    let reply = request(&mut stream, addr, format!("get {key}\r\n").as_bytes())?;
    let mut reply = reply;
    // A hit spans two lines and ends with END.
    if reply.starts_with("VALUE") && !reply.ends_with("END\r\n") {
        let connection = stream.as_mut()?;
        let mut buffer = [0u8; 4096];
        while !reply.ends_with("END\r\n") {
            let n = connection.read(&mut buffer).ok()?;
            if n == 0 {
                return None;
            }
            reply.push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
    }
    if reply == "END\r\n" {
        return Some(None);
    }
    Some(reply.lines().nth(1).map(str::to_owned))
}

#[test]
fn no_acknowledged_write_is_lost_while_leaders_are_killed() {
    let kills: usize = std::env::var("SESSIOND_CLUSTER_KILLS")
        .ok()
        .and_then(|kills| kills.parse().ok())
        .unwrap_or(20);
    let mut nodes = cluster();
    for node in &mut nodes {
        node.start();
    }
    let addrs: Vec<SocketAddr> = nodes.iter().map(|node| node.memcache).collect();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let last_ack = Arc::new(Mutex::new(Instant::now()));
    let writers: Vec<_> = (0..WRITERS)
        .map(|index| {
            let (addrs, ledger, stop, last_ack) = (
                addrs.clone(),
                ledger.clone(),
                stop.clone(),
                last_ack.clone(),
            );
            thread::spawn(move || writer(index, addrs, ledger, stop, last_ack))
        })
        .collect();

    let mut failovers = Vec::new();
    for kill in 0..kills {
        thread::sleep(Duration::from_millis(300 + (kill as u64 * 137) % 500));
        let leader = nodes
            .iter()
            .enumerate()
            .filter_map(|(index, node)| Some((node.led_in()?, index)))
            .max()
            .map(|(_, index)| index)
            .expect("a leader");
        let killed_at = Instant::now();
        let server = nodes[leader].server.take().expect("running");
        support::send_signal(server.pid(), libc::SIGKILL);
        drop(server);
        // Healing: a write is acknowledged again.
        let deadline = killed_at + Duration::from_secs(30);
        loop {
            if *last_ack.lock().unwrap() > killed_at {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no write acknowledged 30 s after kill {kill}"
            );
            thread::sleep(Duration::from_millis(10));
        }
        let failover = killed_at.elapsed();
        failovers.push(failover);
        eprintln!(
            "kill {kill}: node {} killed, writes resumed after {failover:?}",
            nodes[leader].id
        );
        nodes[leader].start();
    }
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.join().unwrap();
    }

    let ledger = ledger.lock().unwrap();
    assert!(!ledger.acked.is_empty());
    for (key, acked) in &ledger.acked {
        let value = (0..50)
            .find_map(|attempt| {
                thread::sleep(Duration::from_millis(if attempt == 0 { 0 } else { 100 }));
                get(addrs[attempt % 3], key)
            })
            .expect("the cluster answers");
        let attempted = &ledger.attempted[key];
        assert!(
            value.as_ref() == Some(acked) || value.as_ref() == Some(attempted),
            "{key}: acknowledged {acked}, last attempted {attempted}, found {value:?}"
        );
    }
    for key in &ledger.deleted {
        let value = (0..50)
            .find_map(|attempt| get(addrs[attempt % 3], key))
            .expect("the cluster answers");
        assert_eq!(value, None, "{key} was deleted and came back");
    }
    failovers.sort();
    if !failovers.is_empty() {
        eprintln!(
            "failover: median {:?}, max {:?} over {} kills; {} keys checked, {} deletions",
            failovers[failovers.len() / 2],
            failovers[failovers.len() - 1],
            failovers.len(),
            ledger.acked.len(),
            ledger.deleted.len()
        );
    }
}
