//! Connections running commands on a real engine, with the time under the test's control.
//!
//! The replies' exact bytes are checked against a real redis-server by the transcript tests
//! of the `sessiond` binary (`crates/sessiond/tests/resp.rs`); these cover what needs a clock
//! the test moves, the connection's state and the protocol-level flow.

use bytes::BytesMut;
use sessiond_engine::{Engine, EngineConfig, NamespaceId, Timestamp};
use sessiond_resp::{Config, Connection, Context, Flow, OUTPUT_HIGH_WATER, Peer, Shared};

use crate::support::{Value, read_replies};

/// An engine and the shared state of a Redis listener, at a time the test sets.
pub(crate) struct Bench {
    pub(crate) engine: Engine,
    shared: Shared,
    pub(crate) now: Timestamp,
}

impl Bench {
    pub(crate) fn new() -> Bench {
        Bench::with(Config::new(NamespaceId(16)), 1 << 30)
    }

    pub(crate) fn with(config: Config, max_memory: u64) -> Bench {
        let now = Timestamp::from_secs(1_700_000_000);
        Bench {
            engine: Engine::new(EngineConfig { max_memory }),
            shared: Shared::new(config, now),
            now,
        }
    }

    pub(crate) fn connect(&self) -> Connection {
        Connection::new(&self.shared, Peer::default(), self.now)
    }

    /// Sends raw bytes; the replies, whether the connection closes, and what stays buffered.
    pub(crate) fn raw(
        &self,
        connection: &mut Connection,
        bytes: &[u8],
    ) -> (Vec<Value>, Flow, usize) {
        let ctx = Context {
            engine: &self.engine,
            now: self.now,
            shared: &self.shared,
        };
        let mut input = BytesMut::from(bytes);
        let mut output = BytesMut::new();
        // As the server does: call again while the high-water mark left commands buffered.
        let flow = loop {
            let before = input.len();
            let flow = connection.process(&mut input, &mut output, &ctx);
            if flow == Flow::Close || input.is_empty() || input.len() == before {
                break flow;
            }
        };
        (read_replies(&output), flow, input.len())
    }

    /// Sends commands (words split on spaces) pipelined; their replies.
    pub(crate) fn send(&self, connection: &mut Connection, commands: &[&str]) -> Vec<Value> {
        let bytes: Vec<u8> = commands
            .iter()
            .flat_map(|command| encode(command))
            .collect();
        let (replies, _, left) = self.raw(connection, &bytes);
        assert_eq!(left, 0);
        replies
    }

    /// One command's reply.
    pub(crate) fn one(&self, connection: &mut Connection, command: &str) -> Value {
        let mut replies = self.send(connection, &[command]);
        assert_eq!(replies.len(), 1, "{command}: {replies:?}");
        replies.remove(0)
    }

    pub(crate) fn advance(&mut self, millis: u64) {
        self.now = Timestamp::from_millis(self.now.as_millis() + millis);
    }
}

fn encode(command: &str) -> Vec<u8> {
    let words: Vec<&str> = command.split(' ').collect();
    let mut out = format!("*{}\r\n", words.len()).into_bytes();
    for word in words {
        out.extend_from_slice(format!("${}\r\n{word}\r\n", word.len()).as_bytes());
    }
    out
}

pub(crate) fn ok() -> Value {
    Value::Simple(b"OK".to_vec())
}

pub(crate) fn bulk(text: &str) -> Value {
    Value::Bulk(text.as_bytes().to_vec())
}

pub(crate) fn error(text: &str) -> Value {
    Value::Error(text.as_bytes().to_vec())
}

#[test]
fn strings_expire_by_the_engine_clock() {
    let mut bench = Bench::new();
    let mut c = bench.connect();
    assert_eq!(bench.one(&mut c, "SET k v EX 10"), ok());
    assert_eq!(bench.one(&mut c, "TTL k"), Value::Integer(10));
    bench.advance(4_400);
    assert_eq!(
        bench.one(&mut c, "TTL k"),
        Value::Integer(6),
        "rounded to nearest"
    );
    assert_eq!(bench.one(&mut c, "PTTL k"), Value::Integer(5_600));
    bench.advance(5_600);
    assert_eq!(bench.one(&mut c, "GET k"), Value::NullBulk);
    assert_eq!(bench.one(&mut c, "TTL k"), Value::Integer(-2));
    assert_eq!(bench.one(&mut c, "SET k v"), ok());
    assert_eq!(bench.one(&mut c, "TTL k"), Value::Integer(-1));
    let at = bench.now.as_secs() + 100;
    assert_eq!(
        bench.one(&mut c, &format!("EXPIREAT k {at}")),
        Value::Integer(1)
    );
    assert_eq!(bench.one(&mut c, "EXPIRETIME k"), Value::Integer(at as i64));
    assert_eq!(bench.one(&mut c, "EXPIRE k 50 GT"), Value::Integer(0));
    assert_eq!(bench.one(&mut c, "EXPIRE k 50 LT"), Value::Integer(1));
    assert_eq!(bench.one(&mut c, "EXPIRE k 500 XX LT"), Value::Integer(0));
    assert_eq!(bench.one(&mut c, "EXPIRE k 5 XX LT"), Value::Integer(1));
    assert_eq!(bench.one(&mut c, "PERSIST k"), Value::Integer(1));
    assert_eq!(bench.one(&mut c, "EXPIRE k 5 XX LT"), Value::Integer(0));
    assert_eq!(bench.one(&mut c, "EXPIRE k 5 NX"), Value::Integer(1));
    assert_eq!(bench.one(&mut c, "EXPIRE k -1"), Value::Integer(1));
    assert_eq!(bench.one(&mut c, "EXISTS k"), Value::Integer(0));
}

#[test]
fn a_session_lock_as_phpredis_takes_it() {
    let mut bench = Bench::new();
    let mut a = bench.connect();
    let mut b = bench.connect();
    let lock = "SET PHPREDIS_SESSION:x_LOCK host|1 NX PX 30000";
    assert_eq!(bench.one(&mut a, lock), ok());
    assert_eq!(bench.one(&mut b, lock), Value::NullBulk);
    bench.advance(30_000);
    assert_eq!(bench.one(&mut b, lock), ok(), "the lock expired");
    assert_eq!(
        bench.one(&mut b, "SETEX PHPREDIS_SESSION:x 1440 data"),
        ok()
    );
    assert_eq!(bench.one(&mut a, "GET PHPREDIS_SESSION:x"), bulk("data"));
}

#[test]
fn databases_are_apart() {
    let bench = Bench::new();
    let mut c = bench.connect();
    assert_eq!(
        bench.send(
            &mut c,
            &[
                "SET k zero",
                "SELECT 15",
                "GET k",
                "SET k fifteen",
                "DBSIZE"
            ]
        ),
        vec![ok(), ok(), Value::NullBulk, ok(), Value::Integer(1)]
    );
    let mut other = bench.connect();
    assert_eq!(bench.one(&mut other, "GET k"), bulk("zero"));
    assert_eq!(bench.one(&mut c, "FLUSHDB"), ok());
    assert_eq!(bench.one(&mut other, "GET k"), bulk("zero"));
    assert_eq!(bench.one(&mut c, "SET k again"), ok());
    assert_eq!(bench.one(&mut other, "FLUSHALL"), ok());
    assert_eq!(bench.one(&mut c, "DBSIZE"), Value::Integer(0));
    assert_eq!(
        bench.one(&mut c, "SELECT 16"),
        error("ERR DB index is out of range")
    );
}

#[test]
fn authentication_gates_commands() {
    let mut config = Config::new(NamespaceId(16));
    config.password = Some(b"secret".to_vec());
    let bench = Bench::with(config, 1 << 30);
    let mut c = bench.connect();
    assert_eq!(
        bench.one(&mut c, "GET k"),
        error("NOAUTH Authentication required.")
    );
    // Unknown commands and arity errors come before the authentication check.
    assert!(
        matches!(bench.one(&mut c, "NOPE"), Value::Error(text) if text.starts_with(b"ERR unknown command"))
    );
    assert_eq!(
        bench.one(&mut c, "AUTH wrong"),
        error("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(bench.one(&mut c, "AUTH default secret"), ok());
    assert_eq!(bench.one(&mut c, "GET k"), Value::NullBulk);
    assert_eq!(bench.one(&mut c, "RESET"), Value::Simple(b"RESET".to_vec()));
    assert_eq!(
        bench.one(&mut c, "GET k"),
        error("NOAUTH Authentication required.")
    );
    // HELLO authenticates and switches protocol in one step.
    let Value::Map(fields) = bench.one(&mut c, "HELLO 3 AUTH default secret SETNAME web1") else {
        panic!("HELLO 3 answers a map");
    };
    assert_eq!(fields[2], (bulk("proto"), Value::Integer(3)));
    assert_eq!(bench.one(&mut c, "GET k"), Value::Null, "RESP3 null");
    assert_eq!(bench.one(&mut c, "CLIENT GETNAME"), bulk("web1"));
    // Before authentication, requests are kept small, as Redis keeps them.
    let mut late = bench.connect();
    let (replies, flow, _) = bench.raw(&mut late, b"*11\r\n");
    assert_eq!(
        replies,
        vec![error(
            "ERR Protocol error: unauthenticated multibulk length"
        )]
    );
    assert_eq!(flow, Flow::Close);
}

#[test]
fn no_password_means_auth_is_a_mistake() {
    let bench = Bench::new();
    let mut c = bench.connect();
    assert_eq!(
        bench.one(&mut c, "AUTH x"),
        error(
            "ERR AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?"
        )
    );
    // The default user has no password: any is accepted with its name.
    assert_eq!(bench.one(&mut c, "AUTH default anything"), ok());
    assert_eq!(
        bench.one(&mut c, "AUTH someone anything"),
        error("WRONGPASS invalid username-password pair or user is disabled.")
    );
}

#[test]
fn pipelined_commands_are_answered_in_order_and_quit_closes() {
    let bench = Bench::new();
    let mut c = bench.connect();
    let mut bytes = Vec::new();
    for i in 0..100 {
        bytes.extend(encode(&format!("INCR counter{}", i % 3)));
    }
    bytes.extend_from_slice(b"PING\r\nQUIT\r\nGET never\r\n");
    let (replies, flow, _) = bench.raw(&mut c, &bytes);
    assert_eq!(replies.len(), 102);
    assert_eq!(replies[99], Value::Integer(34));
    assert_eq!(replies[100], Value::Simple(b"PONG".to_vec()));
    assert_eq!(replies[101], ok());
    assert_eq!(flow, Flow::Close);
}

#[test]
fn a_protocol_error_answers_what_came_before_then_closes() {
    let bench = Bench::new();
    let mut c = bench.connect();
    let (replies, flow, _) = bench.raw(&mut c, b"PING\r\n*1\r\n$x\r\n");
    assert_eq!(
        replies,
        vec![
            Value::Simple(b"PONG".to_vec()),
            error("ERR Protocol error: invalid bulk length")
        ]
    );
    assert_eq!(flow, Flow::Close);
}

#[test]
fn large_replies_stop_at_the_high_water_mark() {
    let bench = Bench::new();
    let mut c = bench.connect();
    let value = "x".repeat(100_000);
    assert_eq!(bench.one(&mut c, &format!("SET big {value}")), ok());
    let ctx = Context {
        engine: &bench.engine,
        now: bench.now,
        shared: &bench.shared,
    };
    let gets: Vec<u8> = (0..10).flat_map(|_| encode("GET big")).collect();
    let mut input = BytesMut::from(&gets[..]);
    let mut output = BytesMut::new();
    assert_eq!(c.process(&mut input, &mut output, &ctx), Flow::Continue);
    assert!(output.len() >= OUTPUT_HIGH_WATER && output.len() < OUTPUT_HIGH_WATER + 200_000);
    assert!(
        !input.is_empty(),
        "the rest waits for the output to be written"
    );
}

#[test]
fn the_memory_limit_answers_oom() {
    let bench = Bench::with(Config::new(NamespaceId(16)), 4096);
    let mut c = bench.connect();
    let value = "x".repeat(5000);
    assert_eq!(
        bench.one(&mut c, &format!("SET k {value}")),
        error("OOM command not allowed when used memory > 'maxmemory'.")
    );
    assert_eq!(bench.one(&mut c, "SET k small"), ok());
}

#[test]
fn scan_walks_every_key_once_and_filters() {
    let bench = Bench::new();
    let mut c = bench.connect();
    for i in 0..250 {
        let key = if i % 2 == 0 { "sess" } else { "other" };
        assert_eq!(bench.one(&mut c, &format!("SET {key}:{i} v")), ok());
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor = "0".to_owned();
    let mut pages = 0;
    loop {
        let Value::Array(reply) =
            bench.one(&mut c, &format!("SCAN {cursor} MATCH sess:* COUNT 20"))
        else {
            panic!("SCAN answers an array");
        };
        let [Value::Bulk(next), Value::Array(keys)] = &reply[..] else {
            panic!("{reply:?}");
        };
        for key in keys {
            let Value::Bulk(key) = key else { panic!() };
            assert!(key.starts_with(b"sess:"));
            assert!(seen.insert(key.clone()), "returned twice");
        }
        cursor = String::from_utf8(next.clone()).unwrap();
        pages += 1;
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 125);
    assert!(pages > 1);
    let Value::Array(keys) = bench.one(&mut c, "KEYS other:1?") else {
        panic!()
    };
    assert_eq!(keys.len(), 5, "other:11, 13, 15, 17, 19");
}

#[test]
fn client_list_shows_every_connection() {
    let bench = Bench::new();
    let mut a = bench.connect();
    let b = bench.connect();
    assert_eq!(bench.one(&mut a, "CLIENT SETNAME first"), ok());
    let Value::Bulk(list) = bench.one(&mut a, "CLIENT LIST") else {
        panic!()
    };
    let list = String::from_utf8(list).unwrap();
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(list.contains(&format!("id={} ", a.id())));
    assert!(list.contains(&format!("id={} ", b.id())));
    assert!(list.contains("name=first "));
    assert!(list.contains("cmd=client|list "));
    drop(b);
    let Value::Bulk(list) = bench.one(&mut a, "CLIENT LIST") else {
        panic!()
    };
    assert_eq!(String::from_utf8(list).unwrap().lines().count(), 1);
    assert_eq!(
        bench.one(&mut a, "CLIENT SETNAME has space"),
        error("ERR wrong number of arguments for 'client|setname' command")
    );
}

#[test]
fn string_commands_refuse_another_type_as_redis_does() {
    let bench = Bench::new();
    // No hash command in this slice: the hash is made through the engine, in database 0.
    let key = sessiond_engine::Key::new(NamespaceId(16), b"h");
    let write = sessiond_engine::HashWrite {
        key,
        fields: &[(&b"field"[..], &b"value"[..])],
        only_if_absent: false,
    };
    bench.engine.run(&write, bench.now).unwrap();
    let mut c = bench.connect();
    let wrongtype = error("WRONGTYPE Operation against a key holding the wrong kind of value");
    for command in [
        "GET h",
        "GETSET h v",
        "SET h v GET",
        "GETDEL h",
        "GETEX h",
        "GETEX h EX x",
        "APPEND h v",
        "STRLEN h",
        "INCR h",
        "DECRBY h 2",
    ] {
        assert_eq!(bench.one(&mut c, command), wrongtype, "{command}");
    }
    assert_eq!(
        bench.send(
            &mut c,
            &[
                "MGET h nokey",
                "TYPE h",
                "EXISTS h",
                "TTL h",
                "EXPIRE h 10",
                "TTL h"
            ]
        ),
        vec![
            Value::Array(vec![Value::NullBulk, Value::NullBulk]),
            Value::Simple(b"hash".to_vec()),
            Value::Integer(1),
            Value::Integer(-1),
            Value::Integer(1),
            Value::Integer(10),
        ]
    );
    let Value::Array(scan) = bench.one(&mut c, "SCAN 0 TYPE hash") else {
        panic!()
    };
    assert_eq!(scan[1], Value::Array(vec![bulk("h")]));
    // A plain SET replaces a value of any type, and a rename moves it with its type.
    assert_eq!(bench.one(&mut c, "RENAME h h2"), ok());
    assert_eq!(
        bench.one(&mut c, "TYPE h2"),
        Value::Simple(b"hash".to_vec())
    );
    assert_eq!(bench.one(&mut c, "SET h2 v"), ok());
    assert_eq!(bench.one(&mut c, "GET h2"), bulk("v"));
}
