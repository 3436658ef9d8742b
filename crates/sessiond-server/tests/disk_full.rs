//! A disk that fills up or fails under a running server: writes are refused with each
//! protocol's error, reads go on, the server takes writes again by itself once the disk
//! recovers, and nothing acknowledged is lost.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use sessiond_storage::{FaultFs, StdFs};
use support::{InProcess, connect, http};

const UNAVAILABLE: &str = "SERVER_ERROR unable to persist the write, try again later\r\n";

/// Sends one memcached text command and reads one reply line (and, for a hit, its value
/// and `END`).
fn command(reader: &mut BufReader<TcpStream>, request: &str) -> String {
    reader
        .get_mut()
        .write_all(request.as_bytes())
        .expect("write");
    let mut reply = String::new();
    reader.read_line(&mut reply).expect("reply");
    if reply.starts_with("VALUE") {
        for _ in 0..2 {
            reader.read_line(&mut reply).expect("value");
        }
    }
    reply
}

/// Retries `request` until it is answered `expected`, as a client that got the error would;
/// gives up after a bounded number of tries (the writer retries with a backoff of at most 1 s).
fn until(reader: &mut BufReader<TcpStream>, request: &str, expected: &str) {
    for _ in 0..100 {
        let reply = command(reader, request);
        if reply == expected {
            return;
        }
        assert_eq!(reply, UNAVAILABLE, "{request:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{request:?} never answered {expected:?}");
}

#[test]
fn a_full_disk_refuses_writes_keeps_reads_and_recovers_by_itself() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fault = FaultFs::new(Arc::new(StdFs));
    let server = InProcess::start_on_disk(dir.path(), "always", Arc::new(fault.clone()));
    let mut client = BufReader::new(connect(server.memcache));
    assert_eq!(
        command(&mut client, "set kept 0 0 4\r\nsafe\r\n"),
        "STORED\r\n"
    );

    // The disk fills. A write in flight waits for the disk: it is not acknowledged yet.
    fault.fail_writes_after(0);
    let mut waiting = connect(server.memcache);
    waiting
        .write_all(b"set pending 0 0 7\r\nwaiting\r\n")
        .expect("write");
    for _ in 0..100 {
        if fault.failed_writes() > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(fault.failed_writes() > 0, "the log never hit the full disk");
    // Writes are refused with memcached's error, reads go on.
    let refused = command(&mut client, "set refused 0 0 1\r\nx\r\n");
    assert_eq!(refused, UNAVAILABLE);
    assert_eq!(
        command(&mut client, "get kept\r\n"),
        "VALUE kept 0 4\r\nsafe\r\nEND\r\n"
    );
    let mut web = connect(server.aspnet);
    let put = "PUT %2fapp(h)%2fs HTTP/1.1\r\nTimeout: 20\r\nContent-Length: 1\r\n\r\nx";
    let reply = http(&mut web, put.as_bytes());
    assert!(
        reply.starts_with("HTTP/1.1 503 Service Unavailable"),
        "{reply}"
    );

    // Space comes back: the waiting write is acknowledged, new writes are taken again.
    fault.heal();
    let mut waiting = BufReader::new(waiting);
    let mut reply = String::new();
    waiting
        .read_line(&mut reply)
        .expect("the waiting write's reply");
    assert_eq!(reply, "STORED\r\n");
    until(&mut client, "set after 0 0 5\r\nagain\r\n", "STORED\r\n");
    drop(server);

    // Everything acknowledged is there after a restart; what was refused is not.
    let server = InProcess::start_on_disk(dir.path(), "always", Arc::new(StdFs));
    let mut client = BufReader::new(connect(server.memcache));
    for (key, value) in [("kept", "safe"), ("pending", "waiting"), ("after", "again")] {
        let expected = format!("VALUE {key} 0 {}\r\n{value}\r\nEND\r\n", value.len());
        assert_eq!(command(&mut client, &format!("get {key}\r\n")), expected);
    }
    assert_eq!(command(&mut client, "get refused\r\n"), "END\r\n");
}

#[test]
fn failing_fsyncs_refuse_writes_until_the_disk_recovers_and_lose_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fault = FaultFs::new(Arc::new(StdFs));
    let server = InProcess::start_on_disk(dir.path(), "everysec", Arc::new(fault.clone()));
    let mut client = BufReader::new(connect(server.memcache));
    assert_eq!(command(&mut client, "set a 0 0 1\r\n1\r\n"), "STORED\r\n");
    fault.fail_syncs();
    // The next fsync (within a second) fails; from then on writes are refused.
    let mut acknowledged = vec![("a".to_string(), "1".to_string())];
    let mut refused = false;
    for i in 0..100 {
        let value = (i % 10).to_string();
        let reply = command(&mut client, &format!("set k{i} 0 0 1\r\n{value}\r\n"));
        if reply == UNAVAILABLE {
            refused = true;
            break;
        }
        assert_eq!(reply, "STORED\r\n");
        acknowledged.push((format!("k{i}"), value));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(refused, "writes were never refused while fsync failed");
    assert_eq!(
        command(&mut client, "get a\r\n"),
        "VALUE a 0 1\r\n1\r\nEND\r\n"
    );
    fault.heal();
    until(&mut client, "set b 0 0 1\r\n2\r\n", "STORED\r\n");
    acknowledged.push(("b".to_string(), "2".to_string()));
    drop(server);

    // The records whose fsync failed were written again: every acknowledged write is there.
    let server = InProcess::start_on_disk(dir.path(), "everysec", Arc::new(StdFs));
    let mut client = BufReader::new(connect(server.memcache));
    for (key, value) in acknowledged {
        let expected = format!("VALUE {key} 0 1\r\n{value}\r\nEND\r\n");
        assert_eq!(command(&mut client, &format!("get {key}\r\n")), expected);
    }
}
