//! Redis pub/sub and keyspace notifications over loopback TCP against the `sessiond` binary,
//! compared with a real redis-server (Debian's 7.0) started by each test.
//!
//! Pub/sub needs several connections at once, so a comparison here is a script: steps, each
//! a command on one of a few numbered connections. After each step every connection, the
//! acting one first, is sent `PING <marker>` and read up to its answer, so the log holds, per
//! step and connection, exactly what arrived before the marker: the command's replies and the
//! messages it caused, in order. Both servers run the same script; the logs must be the same.
//!
//! Expirations are asynchronous in both servers: those tests wait for the message with a
//! bounded loop and compare what arrived, never how soon.
//!
//! A missing `/usr/bin/redis-server` fails these tests; it never skips them.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use support::Server;
use support::cluster::{cluster, leader};
use support::redis::{Client, Reply};
use support::redis_pair::{Pair, mask, words};

/// How long an asynchronous message (an expiry) may take before a test gives up on it.
const EVENT_WAIT: Duration = Duration::from_secs(15);

#[test]
fn subscribing_and_publishing_in_resp2_answer_as_redis() {
    let pair = Pair::start();
    same_script(
        &pair,
        3,
        &[
            (0, "SUBSCRIBE a b"),
            (0, "PSUBSCRIBE n*"),
            (1, "PUBLISH a hello"),
            (1, "PUBLISH news x"),
            (1, "PUBLISH nobody y"),
            (0, "PING"),
            (0, "PING hi"),
            (0, "PING a b"),
            (0, "GET k"),
            (0, "CLIENT LIST"),
            (0, "CLIENT"),
            (0, "SUBSCRIBE"),
            (0, "SUBSCRIBE a"),
            (0, "PSUBSCRIBE n*"),
            (1, "PUBSUB NUMSUB a b c"),
            (1, "PUBSUB NUMSUB"),
            (1, "PUBSUB NUMPAT"),
            (1, "PUBSUB CHANNELS a*"),
            (1, "PUBSUB CHANNELS nothing*"),
            (1, "PUBSUB CHANNELS x y"),
            (1, "PUBSUB NUMPAT x"),
            (1, "PUBSUB HELP"),
            (1, "PUBSUB FOO"),
            (1, "PUBSUB"),
            (1, "PUBLISH a"),
            (2, "SUBSCRIBE a"),
            (1, "PUBLISH a both"),
            (0, "UNSUBSCRIBE a"),
            (0, "UNSUBSCRIBE nope"),
            (0, "PUNSUBSCRIBE"),
            (0, "PUNSUBSCRIBE n*"),
            (1, "PUBLISH news z"),
            (0, "UNSUBSCRIBE"),
            (0, "UNSUBSCRIBE"),
            (0, "PUNSUBSCRIBE"),
            (0, "PING"),
            (0, "GET k"),
            (0, "PSUBSCRIBE h[ *x*"),
            (1, "PUBLISH h[ 1"),
            (1, "PUBLISH xx 1"),
            (0, "SET k v"),
            (0, "RESET"),
            (1, "PUBSUB NUMPAT"),
            (1, "PUBLISH xx 2"),
            (0, "GET k"),
            (1, "UNSUBSCRIBE"),
            (1, "PUNSUBSCRIBE x"),
            (2, "QUIT"),
            (1, "PUBSUB NUMSUB a"),
            (1, "PUBLISH a gone"),
        ],
    );
}

#[test]
fn subscribing_in_resp3_answers_as_redis() {
    let pair = Pair::start();
    same_script(
        &pair,
        2,
        &[
            (0, "HELLO 3"),
            (0, "SUBSCRIBE a"),
            (0, "PSUBSCRIBE a*"),
            (0, "GET k"),
            (0, "SET k v"),
            (0, "PING"),
            (0, "PUBLISH a to-myself"),
            (1, "PUBLISH a from-another"),
            (1, "PUBLISH ab pattern-only"),
            (0, "UNSUBSCRIBE"),
            (0, "PUNSUBSCRIBE"),
            (0, "UNSUBSCRIBE"),
            (0, "PUNSUBSCRIBE x"),
            (0, "SUBSCRIBE b"),
            (0, "HELLO 2"),
            (0, "GET k"),
            (0, "HELLO 3"),
            (0, "GET k"),
            (0, "RESET"),
            (1, "PUBLISH b nobody"),
        ],
    );
}

#[test]
fn keyspace_events_answer_as_redis_for_each_command_and_flag_string() {
    let pair = Pair::start();
    let commands = [
        "SET k v EX 100",
        "SET k v",
        "SET k v KEEPTTL",
        "SET k v NX",
        "SET k w XX GET",
        "GETEX k EX 10",
        "GETEX k PERSIST",
        "GETEX k PERSIST",
        "GETEX k",
        "GETEX k EXAT 1",
        "GETEX k EX 10",
        "SET n 1",
        "INCR n",
        "DECR n",
        "INCRBY n 3",
        "DECRBY n 2",
        "INCR k",
        "APPEND n x",
        "APPEND new-key ",
        "EXPIRE n 100",
        "EXPIRE n 100 NX",
        "PEXPIRE n 100000 XX",
        "EXPIREAT n 4000000000",
        "PERSIST n",
        "PERSIST n",
        "PEXPIREAT n 1",
        "SET a 1",
        "RENAME a b",
        "SET c 1",
        "RENAME b c",
        "RENAME c c",
        "RENAME nothing c",
        "RENAMENX c d",
        "SET e 1",
        "RENAMENX d e",
        "GETDEL d",
        "GETDEL d",
        "MSET x 1 y 2",
        "DEL x y zz",
        "UNLINK e",
        "SETEX s 10 v",
        "PSETEX s 10000 v",
        "SETNX s v",
        "SETNX t v",
        "GETSET t w",
        "EXPIRE nothing 10",
        "HSET hk a 1 b 2",
        "HSET hk a 3",
        "HMSET hk c 4",
        "HSETNX hk a 5",
        "HSETNX hk d 6",
        "HINCRBY hk n 2",
        "HINCRBYFLOAT hk f 1.5",
        "HDEL hk nothing",
        "HDEL hk a b",
        "HDEL hk c d n f",
        "HDEL hk a",
        "SADD sk a b",
        "SADD sk a",
        "SREM sk nothing",
        "SREM sk a",
        "SREM sk b",
        "ZADD zk 1 a 2 b",
        "ZADD zk CH 3 a",
        "ZADD zk NX 1 c",
        "ZADD zk 7 c",
        "ZADD zk 7 c",
        "ZADD zk XX 1 nothing",
        "ZINCRBY zk 2 a",
        "ZADD zk INCR 1 b",
        "ZINCRBY zk 0 a",
        "ZADD zk INCR 0 b",
        "ZADD zk XX INCR 1 nothing",
        "ZREM zk nothing",
        "ZREM zk a",
        "ZREMRANGEBYSCORE zk 100 200",
        "ZREMRANGEBYSCORE zk 0 1",
        "ZREMRANGEBYSCORE zk -inf +inf",
        "FLUSHDB",
        "SELECT 3",
        "SET k v PX 100000",
        "DEL k",
        "SELECT 0",
    ];
    let flags = [
        "KEA", "Egx", "K$", "Eg", "E$x", "Kg", "A", "gE", "AK", "Eh", "Ks", "Ez", "Kgh", "Egsz",
        "KEAnm", "En", "Kn$",
    ];
    same_events(&pair, &flags, &commands);
}

/// Key misses (`m`) fire on every read that finds no key, a key of another type being no
/// miss; new keys (`n`) on every write that creates one, `keymiss` first for a read-and-write
/// (`GETSET`, `SET ... GET`).
#[test]
fn key_misses_and_new_keys_are_published_as_redis_publishes_them() {
    let pair = Pair::start();
    let commands = [
        "GET nothing",
        "MGET nothing s nothing-else h",
        "EXISTS nothing s nothing",
        "TYPE nothing",
        "TTL nothing",
        "PTTL nothing",
        "EXPIRETIME nothing",
        "PEXPIRETIME nothing",
        "STRLEN nothing",
        "GETDEL nothing",
        "GETEX nothing",
        "GETEX nothing PERSIST",
        "GETEX nothing EX -1",
        "SET s v GET",
        "SET s w GET",
        "SET s2 v NX GET",
        "SET s3 v XX GET",
        "GETSET s4 v",
        "GETSET s4 w",
        "HSET h f v",
        "HGET h f",
        "HGET h other",
        "HGET nothing f",
        "HMGET nothing a b",
        "HEXISTS nothing f",
        "HSTRLEN nothing f",
        "HGETALL nothing",
        "HKEYS nothing",
        "HVALS nothing",
        "HLEN nothing",
        "HINCRBY h2 n 1",
        "HINCRBYFLOAT h3 n 1.5",
        "HSETNX h4 f v",
        "SMEMBERS nothing",
        "SISMEMBER nothing m",
        "SMISMEMBER nothing m n",
        "SCARD nothing",
        "SADD set m",
        "SISMEMBER set other",
        "ZSCORE nothing m",
        "ZMSCORE nothing m n",
        "ZCARD nothing",
        "ZCOUNT nothing 0 1",
        "ZRANGE nothing 0 -1",
        "ZRANGEBYSCORE nothing 0 1",
        "ZRANGEBYLEX nothing - +",
        "ZREVRANGE nothing 0 -1",
        "ZREVRANGEBYSCORE nothing 1 0",
        "ZADD zset XX 1 m",
        "ZADD zset 1 m",
        "ZINCRBY zset2 1 m",
        "GET h",
        "STRLEN h",
        "HGET s f",
        "INCR counter",
        "INCR counter",
        "APPEND text a",
        "SETNX fresh v",
        "SETNX fresh v",
        "SETEX timed 100 v",
        "PSETEX ptimed 100000 v",
        "MSET s a m1 b m2 c",
        "RENAME m1 m3",
        "RENAME m2 m3",
        "RENAMENX m3 s",
        "DEL s",
        "EXPIRE nothing 10",
        "PERSIST nothing",
        "DEL nothing",
        "RENAME nothing other",
        "EVAL return(redis.call('get',KEYS[1])) 1 nothing",
        "EVAL return(redis.call('set',KEYS[1],'v')) 1 scripted",
        "MULTI",
        "GET nothing",
        "SET queued v",
        "EXEC",
    ];
    same_events(&pair, &["KEAnm", "Em", "Kn", "Emn$", "KA"], &commands);
    // A deadline already past: Redis adds the key and expires it later, sessiond stores
    // nothing, and `new` fires in both (`expired`, which they send at different times, is
    // not selected here). One key in `MSET` runs outside a multi-key step.
    let past = [
        "SET past v EXAT 1",
        "SET past2 v PXAT 1 GET",
        "SET held v",
        "SET held v EXAT 1",
        "MSET single v",
        "MSET single w",
    ];
    same_events(&pair, &["En", "Kn$g", "Emn"], &past);
}

/// For each setting of `notify-keyspace-events` in `flags`, runs `commands` on both servers
/// with a subscriber to every keyspace channel listening, and compares what both hear.
fn same_events(pair: &Pair, flags: &[&str], commands: &[&str]) {
    for flags in flags {
        let mut steps = vec![
            (1, format!("CONFIG SET notify-keyspace-events {flags}")),
            (0, "PSUBSCRIBE __key*__:*".to_owned()),
        ];
        steps.extend(commands.iter().map(|command| (1, (*command).to_owned())));
        steps.push((1, "FLUSHALL".to_owned()));
        let steps: Vec<(usize, &str)> = steps.iter().map(|(who, c)| (*who, c.as_str())).collect();
        same_script(pair, 2, &steps);
    }
}

#[test]
fn channel_subscribers_hear_only_their_own_events() {
    let pair = Pair::start();
    same_script(
        &pair,
        3,
        &[
            (2, "CONFIG SET notify-keyspace-events KEg$"),
            (0, "SUBSCRIBE __keyevent@0__:del __keyspace@0__:session"),
            (1, "SUBSCRIBE __keyevent@1__:set"),
            (2, "SET session 1"),
            (2, "DEL session other"),
            (2, "SET other 1"),
            (2, "DEL other"),
            (2, "SELECT 1"),
            (2, "SET session 1"),
            (2, "DEL session"),
            (2, "PUBLISH __keyevent@0__:del by-hand"),
            (2, "SELECT 0"),
            (2, "MULTI"),
            (2, "SET session 2"),
            (2, "DEL session"),
            (2, "PUBLISH __keyevent@0__:del in-a-transaction"),
            (2, "EXEC"),
            (0, "MULTI"),
            (0, "SUBSCRIBE queued"),
            (0, "EXEC"),
            (2, "PUBLISH queued x"),
            (1, "PUBSUB NUMSUB __keyevent@1__:set __keyevent@0__:del"),
        ],
    );
}

/// A server started with the setting publishes without anyone running `CONFIG SET`: what an
/// application that never sets it (or a cluster's new leader) relies on.
#[test]
fn notify_keyspace_events_from_the_command_line_hold_from_the_start() {
    let server = Server::start_with(&["--resp-notify-keyspace-events", "Egx"]);
    let addr = server.listener("resp");
    let mut admin = Client::connect(addr);
    assert_eq!(
        admin.cmd("CONFIG GET notify-keyspace-events"),
        Reply::Array(vec![
            Reply::Bulk(b"notify-keyspace-events".to_vec()),
            Reply::Bulk(b"gxE".to_vec()),
        ])
    );
    let mut listener = Client::connect(addr);
    listener.cmd("PSUBSCRIBE __keyevent@0__:*");
    admin.cmd("SET short v PX 100");
    for event in ["expire", "expired"] {
        let channel = format!("__keyevent@0__:{event}");
        assert_eq!(
            wait_for_message(&mut listener, addr),
            message(&["pmessage", "__keyevent@0__:*", &channel, "short"])
        );
    }
    admin.cmd("SET gone v");
    admin.cmd("DEL gone");
    assert_eq!(
        wait_for_message(&mut listener, addr),
        message(&["pmessage", "__keyevent@0__:*", "__keyevent@0__:del", "gone"])
    );
}

#[test]
fn a_key_nobody_touches_fires_expired_when_its_ttl_runs_out() {
    let pair = Pair::start();
    for addr in [pair.redis.addr(), pair.sessiond_addr()] {
        let mut admin = Client::connect(addr);
        assert_eq!(
            admin.cmd("CONFIG SET notify-keyspace-events Ex"),
            Reply::Simple("OK".into())
        );
        let mut listener = Client::connect(addr);
        listener.cmd("SUBSCRIBE __keyevent@0__:expired");
        let mut in_db5 = Client::connect(addr);
        listener.cmd("PSUBSCRIBE __keyevent@5__:*");
        assert_eq!(in_db5.cmd("SELECT 5"), Reply::Simple("OK".into()));
        admin.cmd("SET untouched v EX 1");
        in_db5.cmd("SET elsewhere v PX 1200");
        let mut heard = vec![
            wait_for_message(&mut listener, addr),
            wait_for_message(&mut listener, addr),
        ];
        heard.sort_by_key(|reply| format!("{reply:?}"));
        assert_eq!(
            heard,
            [
                message(&["message", "__keyevent@0__:expired", "untouched"]),
                message(&[
                    "pmessage",
                    "__keyevent@5__:*",
                    "__keyevent@5__:expired",
                    "elsewhere"
                ]),
            ],
            "{addr}"
        );
        // Met by a read once its time is up: still one `expired` (whether the read or the
        // sweep removed it).
        admin.cmd("SET read-late v PX 200");
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(admin.cmd("GET read-late"), Reply::NullBulk);
        assert_eq!(
            wait_for_message(&mut listener, addr),
            message(&["message", "__keyevent@0__:expired", "read-late"]),
            "{addr}"
        );
    }
}

#[test]
fn spring_sessions_subscription_sequence_works_as_on_redis() {
    let pair = Pair::start();
    let shadow = "spring:session:sessions:expires:5d7e";
    let script = [
        (0, "CONFIG GET notify-keyspace-events".to_owned()),
        (0, "CONFIG SET notify-keyspace-events Egx".to_owned()),
        (
            1,
            "SUBSCRIBE __keyevent@0__:del __keyevent@0__:expired".to_owned(),
        ),
        (1, "PSUBSCRIBE spring:session:event:0:created:*".to_owned()),
        (
            0,
            "PUBLISH spring:session:event:0:created:5d7e \u{ac}\u{ed}serialized".to_owned(),
        ),
        (0, format!("APPEND {shadow} ")),
        (0, format!("PEXPIRE {shadow} 1800000")),
        (0, format!("EXISTS {shadow}")),
        (0, format!("DEL {shadow}")),
        (
            0,
            "RENAME spring:session:sessions:old spring:session:sessions:new".to_owned(),
        ),
    ];
    let steps: Vec<(usize, &str)> = script.iter().map(|(who, c)| (*who, c.as_str())).collect();
    same_script(&pair, 2, &steps);

    // A session that times out: its shadow key expires, and the listener hears it.
    for addr in [pair.redis.addr(), pair.sessiond_addr()] {
        let mut listener = Client::connect(addr);
        listener.cmd("SUBSCRIBE __keyevent@0__:del __keyevent@0__:expired");
        listener.read();
        let mut app = Client::connect(addr);
        app.cmd("CONFIG SET notify-keyspace-events Egx");
        let shadow: &[u8] = b"spring:session:sessions:expires:timed-out";
        app.call(&[b"APPEND", shadow, b""]);
        app.cmd("PEXPIRE spring:session:sessions:expires:timed-out 300");
        assert_eq!(
            wait_for_message(&mut listener, addr),
            message(&[
                "message",
                "__keyevent@0__:expired",
                "spring:session:sessions:expires:timed-out"
            ]),
            "{addr}"
        );
    }
}

#[test]
fn a_subscriber_that_never_reads_is_disconnected_and_nobody_else_waits() {
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), "[resp]\npubsub_buffer_limit = \"1MiB\"\n").unwrap();
    let server = Server::start_with(&["--config", config.path().to_str().unwrap()]);
    let addr = server.listener("resp");

    let mut slow = Client::connect(addr);
    slow.cmd("SUBSCRIBE firehose");
    let mut patient = Client::connect(addr);
    patient.cmd("SUBSCRIBE firehose");
    let mut publisher = Client::connect(addr);
    let mut bystander = Client::connect(addr);
    let payload = vec![b'x'; 64 << 10];

    // 2000 x 64 KiB is far more than the limit and any socket buffers: the slow subscriber
    // must be cut off long before the end, while the publisher is never kept waiting.
    let mut cut_after = None;
    for round in 0..2000 {
        let receivers = publisher.call(&[b"PUBLISH", b"firehose", payload.as_slice()]);
        let message = patient.read();
        assert_eq!(
            message,
            Reply::Array(vec![
                Reply::Bulk(b"message".to_vec()),
                Reply::Bulk(b"firehose".to_vec()),
                Reply::Bulk(payload.clone()),
            ])
        );
        if receivers == Reply::Integer(1) {
            cut_after = Some(round);
            break;
        }
        assert_eq!(receivers, Reply::Integer(2), "round {round}");
    }
    assert!(cut_after.is_some(), "the slow subscriber was never cut off");
    assert_eq!(bystander.cmd("SET k v"), Reply::Simple("OK".into()));
    assert_eq!(bystander.cmd("GET k"), Reply::Bulk(b"v".to_vec()));

    // The slow subscriber's connection is closed: what it reads ends.
    wait_closed(&mut slow, "the slow subscriber's connection");
    let numsub = wait_until(|| {
        let reply = bystander.cmd("PUBSUB NUMSUB firehose");
        (reply == Reply::Array(vec![Reply::Bulk(b"firehose".to_vec()), Reply::Integer(1)]))
            .then_some(reply)
    });
    assert!(numsub.is_some(), "the cut subscriber still counts");
    assert_eq!(
        publisher.cmd("PUBLISH firehose still-here"),
        Reply::Integer(1)
    );
}

#[test]
fn a_subscriber_idle_past_the_idle_timeout_is_kept() {
    let server = Server::start_with(&["--idle-timeout", "1s"]);
    let addr = server.listener("resp");
    let mut listener = Client::connect(addr);
    listener.cmd("SUBSCRIBE quiet");
    let mut idle = Client::connect(addr);
    idle.cmd("PING");
    std::thread::sleep(Duration::from_millis(2500));
    assert!(idle.try_read().is_none(), "an idle client is closed");
    let mut publisher = Client::connect(addr);
    assert_eq!(publisher.cmd("PUBLISH quiet hello"), Reply::Integer(1));
    assert_eq!(
        listener.read(),
        message(&["message", "quiet", "hello"]),
        "a subscriber only receives, and stays"
    );
}

#[test]
fn subscribing_through_a_follower_hears_what_is_published_anywhere() {
    let (nodes, lead) = running_cluster("the pubsub cluster test's secret");
    let follower = (lead + 1) % nodes.len();
    let other = (lead + 2) % nodes.len();

    let mut listener = Client::connect(nodes[follower].resp);
    let mut app = Client::connect(nodes[other].resp);
    assert_eq!(
        app.cmd("CONFIG SET notify-keyspace-events Egx"),
        Reply::Simple("OK".into())
    );
    listener.cmd("SUBSCRIBE news __keyevent@0__:del __keyevent@0__:expired");
    listener.read();
    listener.read();
    assert_eq!(
        app.cmd("PUBLISH news through-a-follower"),
        Reply::Integer(1)
    );
    assert_eq!(
        listener.read(),
        message(&["message", "news", "through-a-follower"])
    );
    app.cmd("SET session v");
    app.cmd("DEL session");
    assert_eq!(
        listener.read(),
        message(&["message", "__keyevent@0__:del", "session"])
    );
    app.cmd("SET short v PX 300");
    assert_eq!(
        wait_for_message(&mut listener, nodes[follower].resp),
        message(&["message", "__keyevent@0__:expired", "short"])
    );
}

#[test]
fn a_subscriber_of_a_leader_that_steps_down_is_disconnected() {
    let (nodes, old) = running_cluster("the pubsub failover test's secret");
    let mut listener = Client::connect(nodes[old].resp);
    listener.cmd("SUBSCRIBE news");

    // Frozen, the leader loses its place; thawed, it learns so and lets its subscriber go.
    let pid = nodes[old].server.as_ref().expect("running").pid();
    support::send_signal(pid, libc::SIGSTOP);
    let others: Vec<usize> = (0..nodes.len()).filter(|&index| index != old).collect();
    let new = wait_until(|| {
        others
            .iter()
            .copied()
            .find(|&index| nodes[index].leads_in().is_some())
    });
    support::send_signal(pid, libc::SIGCONT);
    let new = new.expect("no new leader while the old one was frozen");
    wait_closed(&mut listener, "the deposed leader's subscriber");

    // Subscribing again through the old leader reaches the new one.
    let mut listener = Client::connect(nodes[old].resp);
    listener.cmd("SUBSCRIBE news");
    let mut publisher = Client::connect(nodes[new].resp);
    assert_eq!(publisher.cmd("PUBLISH news again"), Reply::Integer(1));
    assert_eq!(listener.read(), message(&["message", "news", "again"]));
}

/// Three nodes of the real binary, started, and the index of their leader.
fn running_cluster(secret: &str) -> (Vec<support::cluster::Node>, usize) {
    let mut nodes = cluster(3, secret);
    for node in &mut nodes {
        node.start();
    }
    let lead = leader(&nodes, Duration::from_secs(30));
    (nodes, lead)
}

/// Runs `steps` on both servers and asserts their logs are the same.
fn same_script(pair: &Pair, connections: usize, steps: &[(usize, &str)]) {
    let expected = script(pair.redis.addr(), connections, steps);
    let got = script(pair.sessiond_addr(), connections, steps);
    let mut differences = String::new();
    for index in 0..expected.len().max(got.len()) {
        let (redis, sessiond) = (expected.get(index), got.get(index));
        if redis != sessiond {
            differences.push_str(&format!(
                "\n  redis:    {redis:?}\n  sessiond: {sessiond:?}"
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "the logs differ (first differences first):{differences}"
    );
}

/// Runs `steps` (connection, command) on `connections` fresh connections to `addr`: the log
/// of what each connection received after each step, up to its marker.
fn script(addr: SocketAddr, connections: usize, steps: &[(usize, &str)]) -> Vec<String> {
    let mut clients: Vec<Option<Client>> = (0..connections)
        .map(|_| Some(Client::connect(addr)))
        .collect();
    let mut log = Vec::new();
    // Connections inside `MULTI`: a marker would be queued, so they get none; their commands
    // answer `QUEUED` at once.
    let mut queuing = vec![false; connections];
    for (step, &(who, command)) in steps.iter().enumerate() {
        let args = words(command);
        let Some(client) = clients[who].as_mut() else {
            panic!("step {step}: connection {who} was closed");
        };
        let borrowed: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        client.send(&borrowed);
        if args[0].eq_ignore_ascii_case(b"QUIT") {
            log.push(format!("{step} {command} [{who}]: {:?}", client.read()));
            assert_eq!(client.closed(), Ok(()), "{addr} did not close after QUIT");
            clients[who] = None;
        }
        let marker = format!("marker-{step}");
        // The acting connection first: once its marker is back, its command is done, and
        // whatever it published is in the others' queues before their markers.
        let order = std::iter::once(who).chain((0..connections).filter(|&index| index != who));
        let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
        if queuing[who]
            && !matches!(name.as_str(), "EXEC" | "DISCARD")
            && let Some(client) = clients[who].as_mut()
        {
            log.push(format!("{step} {command} [{who}]: {:?}", client.read()));
        }
        let was_queuing = queuing[who];
        queuing[who] = match name.as_str() {
            "MULTI" => true,
            "EXEC" | "DISCARD" => false,
            _ => queuing[who],
        };
        for index in order {
            let Some(client) = clients[index].as_mut() else {
                continue;
            };
            if queuing[index] {
                if index == who && !was_queuing {
                    log.push(format!("{step} {command} [{who}]: {:?}", client.read()));
                }
                continue;
            }
            client.send(&[b"PING", marker.as_bytes()]);
            loop {
                let reply = client.read();
                if is_marker(&reply, &marker) {
                    break;
                }
                let reply = if index == who {
                    mask(&args, reply)
                } else {
                    reply
                };
                log.push(format!("{step} {command} [{index}]: {reply:?}"));
            }
        }
    }
    log
}

/// Whether `reply` answers `PING marker`: the marker itself, or `pong` and the marker for a
/// RESP2 subscriber.
fn is_marker(reply: &Reply, marker: &str) -> bool {
    let bulk = Reply::Bulk(marker.as_bytes().to_vec());
    match reply {
        Reply::Array(items) => {
            items.len() == 2 && items[0] == Reply::Bulk(b"pong".to_vec()) && items[1] == bulk
        }
        other => *other == bulk,
    }
}

/// A RESP2 pub/sub message of these bulk strings.
fn message(parts: &[&str]) -> Reply {
    Reply::Array(
        parts
            .iter()
            .map(|part| Reply::Bulk(part.as_bytes().to_vec()))
            .collect(),
    )
}

/// The next message a subscriber receives, waiting at most [`EVENT_WAIT`] for it.
fn wait_for_message(client: &mut Client, addr: SocketAddr) -> Reply {
    client.set_quiet_timeout(Duration::from_millis(200));
    let deadline = Instant::now() + EVENT_WAIT;
    loop {
        match client.try_read_quiet() {
            Ok(Some(reply)) => return reply,
            Ok(None) => panic!("{addr} closed the subscriber's connection"),
            Err(()) => assert!(
                Instant::now() < deadline,
                "{addr}: no message within {EVENT_WAIT:?}"
            ),
        }
    }
}

/// Reads (and drops) whatever `client` still receives until the server closes it, for at
/// most [`EVENT_WAIT`].
fn wait_closed(client: &mut Client, what: &str) {
    client.set_quiet_timeout(Duration::from_secs(1));
    let deadline = Instant::now() + EVENT_WAIT;
    loop {
        assert!(
            Instant::now() < deadline,
            "{what} was not closed within {EVENT_WAIT:?}"
        );
        if let Ok(None) = client.try_read_quiet() {
            return;
        }
    }
}

/// Retries `check` every 50 ms until it answers, for at most [`EVENT_WAIT`].
fn wait_until<T>(mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + EVENT_WAIT;
    while Instant::now() < deadline {
        if let Some(found) = check() {
            return Some(found);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}
