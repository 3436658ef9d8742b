//! A Redis subscriber's keyspace event leaves only once the write that caused it would
//! survive a crash, as the write's own reply does (Redis sends a turn's messages after its
//! append-only file write): a client that saw `set k` can count on `k` after a restart.

mod support;

use std::io::{ErrorKind, Read};
use std::sync::Arc;
use std::time::Duration;

use sessiond_storage::{FaultFs, StdFs};
use support::{InProcess, connect, escape, send};

/// Reads exactly `len` bytes.
fn read_exact(stream: &mut std::net::TcpStream, len: usize) -> String {
    let mut bytes = vec![0; len];
    stream.read_exact(&mut bytes).expect("reply");
    escape(&bytes)
}

#[test]
fn a_keyspace_event_waits_for_its_write_to_be_on_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fault = FaultFs::new(Arc::new(StdFs));
    let server = InProcess::start_on_disk(dir.path(), "always", Arc::new(fault.clone()));

    let mut subscriber = connect(server.resp);
    send(&mut subscriber, b"CONFIG SET notify-keyspace-events E$\r\n");
    assert_eq!(read_exact(&mut subscriber, 5), "+OK\\r\\n");
    send(&mut subscriber, b"SUBSCRIBE __keyevent@0__:set\r\n");
    let subscribed = "*3\r\n$9\r\nsubscribe\r\n$18\r\n__keyevent@0__:set\r\n:1\r\n";
    assert_eq!(
        read_exact(&mut subscriber, subscribed.len()),
        escape(subscribed.as_bytes())
    );

    // The write's fsync is held: neither its reply nor its event may leave.
    fault.hold_syncs();
    let mut writer = connect(server.resp);
    send(&mut writer, b"SET k v\r\n");
    fault.wait_for_held_syncs(1);
    subscriber
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("read timeout");
    let mut early = [0u8; 64];
    let early_read = subscriber.read(&mut early);
    // Released before anything is asserted: a server stopping with an fsync held would
    // never finish stopping.
    fault.release_syncs();
    match early_read {
        Ok(count) => panic!(
            "the event left before its write was on disk: {}",
            escape(&early[..count])
        ),
        Err(error) => assert!(
            matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "{error}"
        ),
    }
    assert_eq!(read_exact(&mut writer, 5), "+OK\\r\\n");
    subscriber
        .set_read_timeout(Some(support::REPLY_TIMEOUT))
        .expect("read timeout");
    let event = "*3\r\n$7\r\nmessage\r\n$18\r\n__keyevent@0__:set\r\n$1\r\nk\r\n";
    assert_eq!(
        read_exact(&mut subscriber, event.len()),
        escape(event.as_bytes())
    );
}
