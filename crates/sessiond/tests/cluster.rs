//! A three-node cluster of the real binary on loopback (issue 5): clients write sessions
//! through all three nodes over the memcached protocol while the leader is `kill -9`ed again
//! and again, restarted and rejoined; every write that was acknowledged must be there at the
//! end, nothing deleted may come back, and the cluster heals after every kill. Meanwhile an
//! ASP.NET client locks and releases sessions through all three nodes: a lock it was granted
//! survives a failover with the same cookie, and each session's cookies only grow.
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

use support::cluster::{cluster, leader};
use support::free_port;

const SECRET: &str = "the cluster secret of this test";
const WRITERS: usize = 3;

/// What a writer knows about its keys: the last value acknowledged, the values written since
/// whose replies were lost (each may or may not have happened: the key may hold any of them),
/// and what it deleted.
#[derive(Default)]
struct Ledger {
    acked: HashMap<String, String>,
    uncertain: HashMap<String, Vec<String>>,
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
            .uncertain
            .entry(key.clone())
            .or_default()
            .push(value.clone());
        let set = format!("set {key} 0 0 {}\r\n{value}\r\n", value.len());
        match request(&mut stream, nodes[node], set.as_bytes()).as_deref() {
            Some("STORED\r\n") => {
                let mut ledger = ledger.lock().unwrap();
                ledger.uncertain.remove(&key);
                ledger.acked.insert(key.clone(), value);
                drop(ledger);
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

/// What the locker saw: grants, and locks found still held with their cookie after a failure.
#[derive(Default)]
struct LockTally {
    granted: u64,
    carried_across_failures: u64,
}

/// One ASP.NET request; `None` if the connection failed, closed, or the node answered 503
/// (no leader): the outcome is unknown.
fn aspnet(
    stream: &mut Option<TcpStream>,
    addr: SocketAddr,
    verb: &str,
    id: &str,
    headers: &[(&str, String)],
) -> Option<(u16, Option<u32>)> {
    if stream.is_none() {
        let connected = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
        connected
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        *stream = Some(connected);
    }
    let target = support::aspnet::url_encode(&format!("/LM/W3SVC/1/ROOT/shop(aGFzaA==)/{id}"));
    let mut request = format!("{verb} {target} HTTP/1.1\r\nHost: sessiond\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if verb == "PUT" {
        request.push_str("Content-Length: 0\r\n");
    }
    request.push_str("\r\n");
    let connection = stream.as_mut()?;
    let response = connection
        .write_all(request.as_bytes())
        .ok()
        .and_then(|()| support::aspnet::try_read_response(connection));
    match response {
        Some(response) if response.status != 503 => {
            let cookie = response
                .header("LockCookie")
                .and_then(|cookie| cookie.parse().ok());
            Some((response.status, cookie))
        }
        _ => {
            *stream = None;
            None
        }
    }
}

/// Locks and releases sessions through every node in turn, holding each lock a little while
/// (so that kills find locks held), and checks each answer against what it was told before:
/// a cookie it was granted is never granted again nor lost while it holds the lock.
fn locker(nodes: Vec<SocketAddr>, stop: Arc<AtomicBool>, tally: Arc<Mutex<LockTally>>) {
    const SESSIONS: usize = 5;
    // Per session: the newest cookie it was granted (or found), and the lock it holds with
    // whether its release was sent (then the lock may be gone even without an answer).
    let mut newest = [0u32; SESSIONS];
    let mut held: [Option<(u32, bool)>; SESSIONS] = [None; SESSIONS];
    let mut failed = false;
    let mut stream = None;
    let mut node = 0;
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let session = n % SESSIONS;
        let id = format!("lockedsession{session}");
        let addr = nodes[node];
        let answer = match held[session] {
            // After a failure, first ask: a lock granted and not released must still be
            // there, with its cookie.
            Some((cookie, false)) if failed || n.is_multiple_of(3) => {
                let exclusive = [("Exclusive", "acquire".to_owned())];
                aspnet(&mut stream, addr, "GET", &id, &exclusive).map(|(status, found)| {
                    assert_eq!(
                        (status, found),
                        (423, Some(cookie)),
                        "{id}: the lock granted with cookie {cookie} is not held"
                    );
                    if failed {
                        tally.lock().unwrap().carried_across_failures += 1;
                    }
                })
            }
            Some((cookie, _)) => {
                held[session] = Some((cookie, true));
                let release = [
                    ("Exclusive", "release".to_owned()),
                    ("LockCookie", cookie.to_string()),
                ];
                aspnet(&mut stream, addr, "GET", &id, &release).map(|(status, _)| {
                    assert_eq!(status, 200, "{id}: releasing cookie {cookie}");
                    held[session] = None;
                })
            }
            None => {
                let exclusive = [("Exclusive", "acquire".to_owned())];
                aspnet(&mut stream, addr, "GET", &id, &exclusive).map(|(status, cookie)| {
                    match (status, cookie) {
                        (200, Some(cookie)) | (423, Some(cookie)) => {
                            // 423: a lock granted to a request whose answer was lost.
                            assert!(
                                cookie > newest[session],
                                "{id}: cookie {cookie} after {}",
                                newest[session]
                            );
                            newest[session] = cookie;
                            held[session] = Some((cookie, false));
                            if status == 200 {
                                tally.lock().unwrap().granted += 1;
                            }
                        }
                        (404, _) => {
                            let create = [
                                ("Timeout", "20".to_owned()),
                                ("LockCookie", "0".to_owned()),
                                ("ExtraFlags", "1".to_owned()),
                            ];
                            let _ = aspnet(&mut stream, addr, "PUT", &id, &create);
                        }
                        other => panic!("{id}: unexpected answer to an acquire: {other:?}"),
                    }
                })
            }
        };
        failed = answer.is_none();
        if failed {
            node = (node + 1) % nodes.len();
            thread::sleep(Duration::from_millis(20));
        } else {
            thread::sleep(Duration::from_millis(5));
        }
    }
}

#[test]
fn no_acknowledged_write_is_lost_while_leaders_are_killed() {
    let kills: usize = std::env::var("SESSIOND_CLUSTER_KILLS")
        .ok()
        .and_then(|kills| kills.parse().ok())
        .unwrap_or(20);
    let mut nodes = cluster(3, SECRET);
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
    let tally = Arc::new(Mutex::new(LockTally::default()));
    let locker = {
        let (addrs, stop, tally) = (
            nodes.iter().map(|node| node.aspnet).collect(),
            stop.clone(),
            tally.clone(),
        );
        thread::spawn(move || locker(addrs, stop, tally))
    };

    let mut failovers = Vec::new();
    for kill in 0..kills {
        thread::sleep(Duration::from_millis(300 + (kill as u64 * 137) % 500));
        let leader = leader(&nodes, Duration::from_secs(30));
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
    locker.join().unwrap();
    let tally = tally.lock().unwrap();
    assert!(tally.granted > 0, "no lock was granted");

    let ledger = ledger.lock().unwrap();
    assert!(!ledger.acked.is_empty());
    for (key, acked) in &ledger.acked {
        let value = (0..50)
            .find_map(|attempt| {
                thread::sleep(Duration::from_millis(if attempt == 0 { 0 } else { 100 }));
                get(addrs[attempt % 3], key)
            })
            .expect("the cluster answers");
        let uncertain = ledger.uncertain.get(key).map_or(&[][..], Vec::as_slice);
        assert!(
            value.as_ref() == Some(acked) || value.as_ref().is_some_and(|v| uncertain.contains(v)),
            "{key}: acknowledged {acked}, unanswered since {uncertain:?}, found {value:?}"
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
            "failover: median {:?}, max {:?} over {} kills; {} keys checked, {} deletions; \
             {} locks granted, {} found held with their cookie after a failed request",
            failovers[failovers.len() / 2],
            failovers[failovers.len() - 1],
            failovers.len(),
            ledger.acked.len(),
            ledger.deleted.len(),
            tally.granted,
            tally.carried_across_failures
        );
    }
}

/// A cluster node holds its data directory as a single node does (a second sessiond on it is
/// refused), and `sessiond snapshot` makes it write a Raft snapshot instead of killing it.
#[test]
fn a_cluster_node_holds_its_data_directory_and_snapshots_on_request() {
    let mut nodes = cluster(3, SECRET);
    nodes.truncate(1);
    let node = &mut nodes[0];
    // A cluster of one: its only peer is itself.
    let peers = node.args.iter().position(|arg| arg == "--peers").unwrap() + 1;
    node.args[peers] = format!("1={}", node.cluster);
    node.start();
    leader(&nodes, Duration::from_secs(30));
    let node = &nodes[0];
    let mut stream = None;
    for i in 0..20 {
        let set = format!("set kept-{i} 0 0 1\r\n{}\r\n", i % 10);
        assert_eq!(
            request(&mut stream, node.memcache, set.as_bytes()).as_deref(),
            Some("STORED\r\n")
        );
    }
    let dir = node.args[node
        .args
        .iter()
        .position(|arg| arg == "--data-dir")
        .unwrap()
        + 1]
    .clone();

    let mut second = node.args.clone();
    for (flag, port) in [
        ("--cluster-listen", free_port()),
        ("--memcache-listen", free_port()),
        ("--aspnet-listen", free_port()),
        ("--resp-listen", free_port()),
    ] {
        let at = second.iter().position(|arg| arg == flag).unwrap() + 1;
        second[at] = format!("127.0.0.1:{port}");
    }
    let second: Vec<&str> = second.iter().map(String::as_str).collect();
    let refused = support::run_to_exit(&second, Duration::from_secs(30));
    assert!(!refused.status.success(), "{}", refused.stderr);
    assert!(
        refused.stderr.contains(&dir),
        "the refusal does not name the data directory {dir}:\n{}",
        refused.stderr
    );

    let snapshot = support::run_to_exit(&["snapshot", "--data-dir", &dir], Duration::from_secs(60));
    assert!(
        snapshot.status.success(),
        "sessiond snapshot: {}\n{}{}",
        snapshot.status,
        snapshot.stdout,
        snapshot.stderr
    );
    assert!(
        snapshot.stdout.contains("snapshot written"),
        "{}",
        snapshot.stdout
    );
    // Still serving.
    assert_eq!(
        get(node.memcache, "kept-13"),
        Some(Some("3".to_owned())),
        "{}",
        node.server.as_ref().unwrap().stderr()
    );
}
