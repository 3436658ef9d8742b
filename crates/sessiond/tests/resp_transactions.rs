//! Redis transactions (`MULTI`, `EXEC`, `DISCARD`, `WATCH`, `UNWATCH`) over loopback TCP
//! against the `sessiond` binary, compared with a real redis-server (Debian's 7.0): queueing,
//! errors while queueing and while running, watched keys changed by another connection or by
//! expiry, RESP2 and RESP3; then what only sessiond can show: that another client never sees
//! half of a transaction, and its limits.
//!
//! A missing `/usr/bin/redis-server` fails these tests; it never skips them.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use support::Server;
use support::redis::{Client, Reply};
use support::redis_pair::{Pair, compare, mask, mask_id, words};

#[test]
fn queued_commands_and_their_errors_answer_as_redis() {
    let pair = Pair::start();
    // Queued, then run: a runtime error stays in its place and the rest runs.
    pair.same(&[
        "SET s abc",
        "MULTI",
        "SET a 1",
        "INCR a",
        "INCR s",
        "SET b 1 EX -1",
        "SET b 1 EX x",
        "GET a",
        "MGET a s nosuch",
        "DEL s",
        "EXISTS a s",
        "EXEC",
        "GET a",
        "EXISTS s",
    ]);
    // An empty transaction, a discarded one, and the errors of the transaction commands.
    pair.same(&[
        "MULTI",
        "EXEC",
        "MULTI",
        "SET d 1",
        "DISCARD",
        "GET d",
        "EXEC",
        "DISCARD",
        "MULTI",
        "MULTI",
        "WATCH d",
        "PING",
        "EXEC",
        "WATCH",
        "UNWATCH x",
        "MULTI",
        "UNWATCH",
        "EXEC",
    ]);
    // A command refused while queueing (arity, unknown) discards the whole transaction.
    pair.same(&[
        "MULTI",
        "GET",
        "SET e 1",
        "EXEC",
        "GET e",
        "MULTI",
        "nosuch x",
        "SET e 1",
        "EXEC",
        "GET e",
        "MULTI",
        "MULTI x",
        "EXEC",
        "MULTI",
        "DISCARD x",
        "EXEC",
    ]);
    // A refused EXEC discards at once, inside a transaction or not.
    pair.same(&[
        "MULTI", "SET f 1", "EXEC x", "EXEC", "GET f", "WATCH f", "EXEC x", "SET f 2", "MULTI",
        "GET f", "EXEC",
    ]);
    // The connection commands are queued too, and act when they run.
    pair.same(&[
        "MULTI",
        "SELECT 1",
        "SET g in-one",
        "SELECT 0",
        "GET g",
        "ECHO hi",
        "PING",
        "CLIENT SETNAME tx",
        "EXEC",
        "GET g",
        "CLIENT GETNAME",
        "SELECT 1",
        "GET g",
        "SELECT 0",
        "MULTI",
        "AUTH x",
        "GET g",
        "EXEC",
    ]);
    // RESET and QUIT are not queued: they discard.
    pair.same(&["MULTI", "SET h 1", "RESET", "EXEC", "GET h"]);
    pair.same(&["MULTI", "SET h 1", "QUIT"]);
    pair.same(&["GET h"]);
    // Store-wide commands in a transaction.
    pair.same(&[
        "SET i 1", "MULTI", "DBSIZE", "FLUSHDB", "DBSIZE", "SET i 2", "KEYS *", "EXEC",
    ]);
}

#[test]
fn transactions_before_and_after_authentication_answer_as_redis() {
    let pair = Pair::with_password(Some("secret"));
    pair.same(&[
        "EXEC",
        "MULTI",
        "WATCH a",
        "DISCARD",
        "UNWATCH",
        "AUTH secret",
        "MULTI",
        "AUTH wrong",
        "SET a 1",
        "EXEC",
        "MULTI",
        "GET a",
        "RESET",
        "EXEC",
        "MULTI",
    ]);
}

#[test]
fn a_long_pipelined_transaction_answers_as_redis() {
    let pair = Pair::start();
    let mut commands = vec!["MULTI".to_owned()];
    for i in 0..300 {
        commands.push(format!("SET key:{i} {i}"));
        commands.push(format!("INCR key:{i}"));
    }
    commands.push("MGET key:0 key:150 key:299".to_owned());
    commands.push("DEL key:0 key:1 key:2".to_owned());
    commands.push("EXEC".to_owned());
    commands.push("DBSIZE".to_owned());
    let commands: Vec<&str> = commands.iter().map(String::as_str).collect();
    pair.same(&commands);
}

#[test]
fn resp3_transactions_answer_as_redis() {
    let pair = Pair::start();
    pair.same(&[
        "HELLO 3",
        "SET a 1",
        "MULTI",
        "GET a",
        "GET nosuch",
        "INCR a",
        "EXEC",
        "WATCH a",
        "SET a 5",
        "MULTI",
        "GET a",
        "EXEC",
    ]);
    // A HELLO inside changes the replies after it, within the same EXEC.
    for setup in [
        &["MULTI", "GET nosuch", "HELLO 3", "GET nosuch"][..],
        &["HELLO 3", "MULTI", "GET nosuch", "HELLO 2", "GET nosuch"],
    ] {
        let (expected, got) = pair.both(setup, "EXEC");
        assert_eq!(mask_hello_in(got), mask_hello_in(expected), "{setup:?}");
    }
}

/// An `EXEC` reply with the client id in the replies of the `HELLO`s it ran masked.
fn mask_hello_in(exec: Reply) -> Reply {
    let Reply::Array(replies) = exec else {
        return exec;
    };
    let hello = |reply| match reply {
        Reply::Map(pairs) => Reply::Map(mask_id(pairs)),
        other => mask(&words("HELLO 2"), other),
    };
    Reply::Array(replies.into_iter().map(hello).collect())
}

#[test]
fn watched_keys_answer_as_redis() {
    let pair = Pair::start();
    // Changed by the watching connection itself: EXEC runs nothing.
    pair.same(&[
        "SET w 1", "WATCH w", "SET w 1", "MULTI", "SET w 2", "EXEC", "GET w",
    ]);
    // Created, expired, persisted: each is a change.
    pair.same(&["WATCH x", "SET x 1", "MULTI", "PING", "EXEC"]);
    pair.same(&[
        "SET y 1",
        "WATCH y",
        "EXPIRE y 100",
        "MULTI",
        "PING",
        "EXEC",
    ]);
    pair.same(&[
        "SET z 1 EX 100",
        "WATCH z",
        "PERSIST z",
        "MULTI",
        "PING",
        "EXEC",
    ]);
    pair.same(&["SET d 1", "WATCH d", "DEL d", "MULTI", "PING", "EXEC"]);
    pair.same(&["SET f 1", "WATCH f", "FLUSHDB", "MULTI", "PING", "EXEC"]);
    // What does not change the key does not count.
    pair.same(&[
        "SET q 1",
        "WATCH q nosuch",
        "SETNX q 2",
        "GET q",
        "EXPIRE nosuch 10",
        "SET other 1",
        "MULTI",
        "PING",
        "EXEC",
    ]);
    // UNWATCH, DISCARD and EXEC forget the watched keys.
    pair.same(&[
        "SET u 1", "WATCH u", "UNWATCH", "SET u 2", "MULTI", "GET u", "EXEC", "WATCH u", "MULTI",
        "DISCARD", "SET u 3", "MULTI", "GET u", "EXEC", "WATCH u", "MULTI", "EXEC", "SET u 4",
        "MULTI", "GET u", "EXEC",
    ]);
    // A key watched twice keeps its first state; keys in another database are other keys.
    pair.same(&[
        "SET t 1", "WATCH t", "SET t 2", "WATCH t", "MULTI", "PING", "EXEC", "SELECT 1", "WATCH t",
        "SELECT 0", "SET t 3", "MULTI", "PING", "EXEC",
    ]);
}

/// Runs `steps`, each on connection 0 or 1 (fresh connections to `addr`), one after the
/// other, waiting for each reply; the replies, masked as the transcripts mask them.
fn interleaved(addr: SocketAddr, steps: &[(usize, &str)]) -> Vec<Reply> {
    let mut clients = [Client::connect(addr), Client::connect(addr)];
    steps
        .iter()
        .map(|&(client, command)| mask(&words(command), clients[client].cmd(command)))
        .collect()
}

fn same_interleaved(pair: &Pair, steps: &[(usize, &str)]) {
    let commands: Vec<Vec<Vec<u8>>> = steps.iter().map(|(_, command)| words(command)).collect();
    let expected = interleaved(pair.redis.addr(), steps);
    let got = interleaved(pair.sessiond_addr(), steps);
    compare(&commands, &expected, &got);
}

#[test]
fn a_watched_key_changed_by_another_connection_makes_exec_run_nothing() {
    let pair = Pair::start();
    // The optimistic update redis-py users write: WATCH, read, MULTI, write, EXEC.
    same_interleaved(
        &pair,
        &[
            (0, "SET counter 10"),
            (0, "WATCH counter"),
            (0, "GET counter"),
            (1, "SET counter 20"),
            (0, "MULTI"),
            (0, "SET counter 11"),
            (0, "EXEC"),
            (0, "GET counter"),
            (0, "WATCH counter"),
            (0, "GET counter"),
            (1, "GET counter"),
            (0, "MULTI"),
            (0, "SET counter 21"),
            (0, "EXEC"),
            (1, "GET counter"),
            // In RESP3 the aborted EXEC is a null.
            (0, "HELLO 3"),
            (0, "WATCH counter"),
            (1, "INCR counter"),
            (0, "MULTI"),
            (0, "INCR counter"),
            (0, "EXEC"),
            // A change after MULTI counts as much as one before it.
            (0, "WATCH counter"),
            (0, "MULTI"),
            (1, "DEL counter"),
            (0, "INCR counter"),
            (0, "EXEC"),
            (1, "EXISTS counter"),
        ],
    );
}

#[test]
fn a_watched_key_that_expires_makes_exec_run_nothing() {
    let pair = Pair::start();
    let mut expected = Vec::new();
    let mut got = Vec::new();
    for (addr, replies) in [
        (pair.redis.addr(), &mut expected),
        (pair.sessiond_addr(), &mut got),
    ] {
        let mut client = Client::connect(addr);
        for command in ["SET k v PX 150", "WATCH k", "SET gone v PX 50"] {
            replies.push(client.cmd(command));
        }
        thread::sleep(Duration::from_millis(300));
        // `gone` expired before it was watched: watching it changes nothing.
        for command in ["WATCH gone", "MULTI", "SET k w", "EXEC", "GET k"] {
            replies.push(client.cmd(command));
        }
        for command in ["MULTI", "SET gone w", "EXEC", "GET gone"] {
            replies.push(client.cmd(command));
        }
    }
    let commands: Vec<Vec<Vec<u8>>> = [
        "SET k v PX 150",
        "WATCH k",
        "SET gone v PX 50",
        "WATCH gone",
        "MULTI",
        "SET k w",
        "EXEC",
        "GET k",
        "MULTI",
        "SET gone w",
        "EXEC",
        "GET gone",
    ]
    .iter()
    .map(|command| words(command))
    .collect();
    compare(&commands, &expected, &got);
    assert_eq!(
        got[6],
        Reply::NullArray,
        "the expired watched key aborts EXEC"
    );
}

#[test]
fn another_client_never_sees_half_of_a_transaction() {
    let server = Server::start();
    let addr = server.resp_addr();
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let done = Arc::clone(&done);
        thread::spawn(move || {
            let mut client = Client::connect(addr);
            for round in 0..2000 {
                let value = round.to_string();
                // Commands between the two writes, so that a reader running between them
                // (were the transaction not one step) would have time to see it.
                let mut commands: Vec<Vec<&[u8]>> =
                    vec![vec![b"MULTI"], vec![b"SET", b"pair:a", value.as_bytes()]];
                commands.extend((0..30).map(|_| vec![&b"INCR"[..], b"pair:between"]));
                commands.push(vec![b"SET", b"pair:b", value.as_bytes()]);
                commands.push(vec![b"EXEC"]);
                for command in &commands {
                    client.send(command);
                }
                for _ in 1..commands.len() {
                    client.read();
                }
                let exec = client.read();
                assert!(
                    matches!(&exec, Reply::Array(replies) if replies.len() == 32),
                    "{exec:?}"
                );
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let mut reads = 0u64;
    let mut mget = Client::connect(addr);
    let mut multi = Client::connect(addr);
    while !done.load(Ordering::SeqCst) {
        let Reply::Array(values) = mget.cmd("MGET pair:a pair:b") else {
            panic!("MGET answered no array")
        };
        assert_eq!(values[0], values[1], "MGET saw half a transaction");
        // Read through a transaction of its own, too.
        multi.send(&[b"MULTI"]);
        multi.send(&[b"GET", b"pair:a"]);
        multi.send(&[b"GET", b"pair:b"]);
        multi.send(&[b"EXEC"]);
        for _ in 0..3 {
            multi.read();
        }
        let Reply::Array(values) = multi.read() else {
            panic!("EXEC answered no array")
        };
        assert_eq!(values[0], values[1], "EXEC saw half a transaction");
        reads += 1;
    }
    writer.join().expect("the writer finished");
    assert!(reads > 0);
}

#[test]
fn transaction_limits_are_configurable() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("sessiond.toml");
    std::fs::write(
        &path,
        "[resp]\nmax_queued_commands = 3\nmax_transaction_size = \"2KiB\"\n",
    )
    .expect("the configuration written");
    let server = Server::start_with(&["--config", path.to_str().expect("a UTF-8 path")]);
    let mut client = Client::connect(server.resp_addr());
    assert_eq!(client.cmd("MULTI"), Reply::Simple("OK".into()));
    for command in ["SET a 1", "SET b 2", "SET c 3"] {
        assert_eq!(
            client.cmd(command),
            Reply::Simple("QUEUED".into()),
            "{command}"
        );
    }
    assert_eq!(
        client.cmd("SET d 4"),
        Reply::Error("ERR transaction discarded: more than 3 queued commands".into())
    );
    assert_eq!(client.cmd("SET e 5"), Reply::Simple("QUEUED".into()));
    assert_eq!(
        client.cmd("EXEC"),
        Reply::Error("EXECABORT Transaction discarded because of previous errors.".into())
    );
    assert_eq!(client.cmd("EXISTS a b c d e"), Reply::Integer(0));
    let big = vec![b'x'; 4096];
    assert_eq!(client.cmd("MULTI"), Reply::Simple("OK".into()));
    assert_eq!(
        client.call(&[b"SET", b"big", &big]),
        Reply::Error("ERR transaction discarded: more than 2048 bytes queued".into())
    );
    assert_eq!(
        client.cmd("EXEC"),
        Reply::Error("EXECABORT Transaction discarded because of previous errors.".into())
    );
    // A pipelined transaction within the limits.
    for command in ["MULTI", "SET a 1", "INCR a", "EXEC"] {
        client.send(&words(command).iter().map(Vec::as_slice).collect::<Vec<_>>());
    }
    let replies: Vec<Reply> = (0..4).map(|_| client.read()).collect();
    assert_eq!(
        replies[3],
        Reply::Array(vec![Reply::Simple("OK".into()), Reply::Integer(2)])
    );
}
