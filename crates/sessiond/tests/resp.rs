//! The Redis protocol over loopback TCP against the `sessiond` binary, compared with a real
//! redis-server (Debian's 7.0) started by each test.
//!
//! Each transcript is a list of commands sent pipelined (all written at once, then every
//! reply read) on a fresh connection to both servers; the replies must be the same, after
//! masking what must differ (client ids). Where sessiond differs on purpose (listed in the
//! README), the test says so and checks sessiond's answer on its own.
//!
//! A missing `/usr/bin/redis-server` fails these tests; it never skips them.

mod support;

use std::thread;
use std::time::Duration;

use support::redis::{Client, Reply};
use support::redis_pair::{Pair, scan_all};

#[test]
fn connection_commands_answer_as_redis() {
    let pair = Pair::start();
    pair.same(&[
        "PING",
        "ping hello",
        "PING a b",
        "ECHO hi",
        "ECHO",
        "ECHO a b",
        "SELECT 1",
        "SELECT 15",
        "SELECT 16",
        "SELECT -1",
        "SELECT x",
        "SELECT 01",
        "SELECT",
        "nosuch",
        "nosuch a b",
        "NoSuch \u{1}x 'q'",
        "CLIENT",
        "CLIENT FOO",
        "CLIENT SETNAME",
        "CLIENT SETNAME web-1",
        "CLIENT GETNAME",
        "CLIENT SETNAME é",
        "CLIENT SETNAME",
        "CLIENT SETNAME ",
        "CLIENT GETNAME",
        "CLIENT ID",
        "CLIENT ID x",
        "CONFIG",
        "CONFIG FOO",
        "CONFIG GET",
        "CONFIG GET notify-keyspace-events",
        "CONFIG SET notify-keyspace-events Egx",
        "CONFIG GET notify-keyspace-events",
        "CONFIG SET notify-keyspace-events KEA",
        "CONFIG GET NOTIFY-KEYSPACE-EVENTS",
        "CONFIG SET notify-keyspace-events Q",
        "CONFIG SET notify-keyspace-events ",
        "CONFIG SET notify-keyspace-events x notify-keyspace-events x",
        "CONFIG SET nosuch 1",
        "CONFIG SET a 1 b",
        "CONFIG SET notify-keyspace-events",
        "CONFIG GET save",
        "CONFIG GET appendonly",
        "CONFIG GET databases",
        "CONFIG GET maxmemory-policy",
        "CONFIG GET nosuch",
        "COMMAND FOO",
        "COMMAND GETKEYS get",
        "COMMAND GETKEYS get k",
        "COMMAND GETKEYS mset a b c d",
        "COMMAND GETKEYS nosuch a",
        "COMMAND GETKEYS ping x",
        "COMMAND INFO nosuch",
        "HELLO 4",
        "HELLO 1",
        "HELLO x",
        "HELLO 3 FOO",
        "HELLO 3 SETNAME",
        "HELLO 2",
        "HELLO 2 SETNAME named",
        "CLIENT GETNAME",
        "HELLO",
        "AUTH",
        "AUTH x",
        "AUTH a b c",
        "AUTH default any",
        "AUTH nobody any",
        "HELLO 2 AUTH nobody any",
        "RESET",
        "CLIENT GETNAME",
        "QUIT",
    ]);
}

#[test]
fn string_commands_answer_as_redis() {
    let pair = Pair::start();
    pair.same(&[
        "GET k",
        "SET k v",
        "GET k",
        "SET k v2 NX",
        "SET k v2 XX",
        "GET k",
        "SET n v NX",
        "SET m v XX",
        "SET k v3 GET",
        "SET nokey v GET",
        "SET k v4 NX GET",
        "SET k v5 XX GET",
        "SET k v NX XX",
        "SET k v XX NX",
        "SET k v EX",
        "SET k v EX 10 PX 100",
        "SET k v EX 10 KEEPTTL",
        "SET k v KEEPTTL EX 10",
        "SET k v PERSIST",
        "SET k v EX 10 EX 20",
        "TTL k",
        "SET k v KEEPTTL",
        "TTL k",
        "SET k v",
        "TTL k",
        "SET k v EX 0",
        "SET k v EX -5",
        "SET k v PX 0",
        "SET k v EX x",
        "SET k v EX 1.5",
        "SET k v EX 9223372036854775807",
        "SET k v EX 9223372036854775",
        "SET k v PX 9223372036854775807",
        "SET k v EXAT 0",
        "SET k v EXAT 1",
        "GET k",
        "SET k v PXAT 1",
        "GET k",
        "SET k v EXAT 99999999999",
        "TTL k",
        "SET k v nx ex 100",
        "SET k v Ex 100 nX",
        "SET k v FOO",
        "SET k",
        "SET",
        "SETNX k v",
        "SETNX fresh v",
        "GET fresh",
        "SETNX k",
        "SETEX k 100 v",
        "TTL k",
        "SETEX k 0 v",
        "SETEX k -1 v",
        "SETEX k x v",
        "SETEX k 100",
        "PSETEX k 100000 v",
        "TTL k",
        "PSETEX k 0 v",
        "PSETEX k x v",
        "GETSET k new",
        "TTL k",
        "GETSET missing new",
        "GETSET k",
        "GETDEL k",
        "GETDEL k",
        "GETDEL",
        "SET k v EX 100",
        "GETEX k",
        "TTL k",
        "GETEX k PERSIST",
        "TTL k",
        "GETEX k EX 50",
        "TTL k",
        "GETEX k PX 50000",
        "TTL k",
        "GETEX k EXAT 99999999999",
        "TTL k",
        "GETEX k EX 0",
        "GETEX k EX x",
        "GETEX missing EX 0",
        "GETEX missing",
        "GETEX k PERSIST EX 10",
        "GETEX k EX 10 PERSIST",
        "GETEX k NX",
        "GETEX k KEEPTTL",
        "GETEX k EX",
        "GETEX k PXAT 1",
        "GET k",
        "MSET a 1 b 2 c 3",
        "MGET a b c nokey",
        "MSET a 1 b",
        "MSET a",
        "MGET",
        "MSET dup 1 dup 2",
        "GET dup",
        "APPEND s hello",
        "APPEND s \" world\"",
        "GET s",
        "STRLEN s",
        "STRLEN nokey",
        "APPEND s",
        "STRLEN",
        "INCR i",
        "INCR i",
        "DECR i",
        "INCRBY i 100",
        "DECRBY i 50",
        "INCRBY i -1000",
        "GET i",
        "INCRBY i x",
        "INCRBY i 1.5",
        "INCRBY i 01",
        "INCRBY i +1",
        "DECRBY i -9223372036854775808",
        "SET max 9223372036854775807",
        "INCR max",
        "SET min -9223372036854775808",
        "DECR min",
        "DECRBY min 1",
        "SET s2 abc",
        "INCR s2",
        "SET s3 \" 1\"",
        "INCR s3",
        "SET s4 007",
        "INCR s4",
        "SET s5 -0",
        "INCR s5",
        "INCR",
        "INCRBY i",
    ]);
}

#[test]
fn key_commands_answer_as_redis() {
    let pair = Pair::start();
    pair.same(&[
        "MSET a 1 b 2 c 3",
        "DEL a nokey a",
        "DEL",
        "UNLINK b c d",
        "UNLINK",
        "MSET a 1 b 2",
        "EXISTS a b nokey a",
        "EXISTS",
        "TYPE a",
        "TYPE nokey",
        "TYPE",
        "TTL a",
        "PTTL a",
        "TTL nokey",
        "PTTL nokey",
        "EXPIRETIME a",
        "PEXPIRETIME nokey",
        "EXPIRE a 100",
        "TTL a",
        "EXPIRE nokey 100",
        "EXPIRE a 200 NX",
        "EXPIRE b 200 NX",
        "TTL b",
        "EXPIRE a 50 XX",
        "EXPIRE c 50 XX",
        "EXPIRE a 10 GT",
        "EXPIRE a 500 GT",
        "TTL a",
        "EXPIRE a 1000 LT",
        "EXPIRE a 100 LT",
        "TTL a",
        "EXPIRE a 90 XX LT",
        "EXPIRE a 900 XX GT",
        "TTL a",
        "SET p v",
        "EXPIRE p 10 LT",
        "TTL p",
        "SET p v",
        "EXPIRE p 10 GT",
        "EXPIRE p 10 XX LT",
        "EXPIRE a 10 NX XX",
        "EXPIRE a 10 NX GT",
        "EXPIRE a 10 GT LT",
        "EXPIRE a 10 FOO",
        "EXPIRE a x",
        "EXPIRE a x FOO",
        "EXPIRE a 1.0",
        "EXPIRE a 9223372036854775807",
        "EXPIRE a 9223372036854775",
        "EXPIRE a -9223372036854775808",
        "EXPIRE a",
        "PEXPIRE a 100000",
        "TTL a",
        "PEXPIRE a 9223372036854775807",
        "EXPIREAT a 99999999999",
        "EXPIRETIME a",
        "PEXPIREAT a 99999999999000",
        "PEXPIRETIME a",
        "EXPIREAT a 99999999999 LT",
        "EXPIREAT a 1",
        "EXISTS a",
        "SET a v",
        "PEXPIREAT a -5",
        "EXISTS a",
        "SET a v",
        "EXPIRE a 0",
        "EXISTS a",
        "SET a v",
        "EXPIRE a -100",
        "EXISTS a",
        "SET a v EX 100",
        "PERSIST a",
        "PERSIST a",
        "PERSIST nokey",
        "TTL a",
        "PERSIST",
        "RENAME a b",
        "GET b",
        "EXISTS a",
        "RENAME nokey x",
        "RENAME b b",
        "RENAME nokey nokey",
        "SET ttl v EX 100",
        "RENAME ttl moved",
        "TTL moved",
        "SET x 1",
        "RENAMENX b x",
        "RENAMENX b y",
        "RENAMENX b y",
        "RENAMENX nokey z",
        "RENAMENX y y",
        "RENAME a",
        "DBSIZE",
        "DBSIZE x",
        "SELECT 3",
        "DBSIZE",
        "SET only3 v",
        "DBSIZE",
        "FLUSHDB",
        "DBSIZE",
        "SELECT 0",
        "DBSIZE",
        "FLUSHDB ASYNC",
        "FLUSHDB sync",
        "FLUSHDB x",
        "FLUSHDB SYNC ASYNC",
        "FLUSHALL x",
        "DBSIZE",
        "MSET k1 1 k2 2",
        "FLUSHALL",
        "DBSIZE",
        "SCAN x",
        "SCAN 0 COUNT 0",
        "SCAN 0 COUNT x",
        "SCAN 0 MATCH",
        "SCAN 0 FOO bar",
        "SCAN 0",
        "SCAN",
        "KEYS",
        "KEYS *",
    ]);
}

#[test]
fn scan_and_keys_find_the_keys_redis_finds() {
    let pair = Pair::start();
    let mut setup = Vec::new();
    for i in 0..300 {
        let prefix = ["sess:", "user:", "Sess:", "s[x]:"][i % 4];
        setup.push(format!("SET {prefix}{i} v"));
    }
    for addr in [pair.redis.addr(), pair.sessiond_addr()] {
        let mut client = Client::connect(addr);
        for command in &setup {
            assert_eq!(client.cmd(command), Reply::Simple("OK".into()));
        }
    }
    for pattern in [
        "*",
        "sess:*",
        "*:1*",
        "s?ss:*",
        "[sS]ess:2*",
        "[^s]*",
        "s\\[x]:*",
        "*9",
        "nomatch*",
        "sess:[0-9]",
        "sess:[9-0]",
    ] {
        let scanned = |addr| scan_all(addr, &["MATCH", pattern, "COUNT", "7"]);
        assert_eq!(
            scanned(pair.sessiond_addr()),
            scanned(pair.redis.addr()),
            "SCAN MATCH {pattern}"
        );
        let keys = |addr| {
            let Reply::Array(keys) = Client::connect(addr).call(&[b"KEYS", pattern.as_bytes()])
            else {
                panic!("KEYS answers an array");
            };
            let mut keys: Vec<Reply> = keys;
            keys.sort_by_key(Reply::text);
            keys
        };
        assert_eq!(
            keys(pair.sessiond_addr()),
            keys(pair.redis.addr()),
            "KEYS {pattern}"
        );
    }
    for kind in ["string", "STRING", "hash", "list", "nonsense"] {
        let scanned = |addr| scan_all(addr, &["TYPE", kind]);
        assert_eq!(
            scanned(pair.sessiond_addr()),
            scanned(pair.redis.addr()),
            "SCAN TYPE {kind}"
        );
    }
}

#[test]
fn resp3_replies_are_redis_s() {
    let pair = Pair::start();
    pair.same(&[
        "HELLO 3",
        "GET nokey",
        "SET k v",
        "MGET k nokey",
        "CONFIG GET notify-keyspace-events",
        "CLIENT GETNAME",
        "SET k v GET",
        "SET k2 v NX GET",
        "SET k v NX",
        "GETDEL nokey",
        "GETEX nokey",
        "TYPE k",
        "SCAN 0 MATCH nokey*",
        "COMMAND INFO nosuch",
        "COMMAND DOCS nosuch",
        "EXPIRE k 100",
        "TTL k",
        "HELLO 2",
        "GET nokey",
        "HELLO 3",
        "RESET",
        "GET nokey",
    ]);
    // INFO and CLIENT INFO are verbatim strings in RESP3 and bulk strings in RESP2.
    for (version, info) in [
        ("2", "INFO server"),
        ("3", "INFO server"),
        ("3", "CLIENT INFO"),
    ] {
        let (expected, got) = pair.both(&[&format!("HELLO {version}")], info);
        assert_eq!(
            std::mem::discriminant(&got),
            std::mem::discriminant(&expected),
            "{info} in RESP{version}: {got:?}"
        );
        if let (Reply::Verbatim(expected, _), Reply::Verbatim(got, _)) = (&expected, &got) {
            assert_eq!(got, expected);
        }
    }
}

#[test]
fn authentication_answers_as_redis() {
    let pair = Pair::with_password(Some("s3cret"));
    pair.same(&[
        "PING",
        "GET k",
        "nosuch a",
        "GET",
        "CLIENT ID",
        "SELECT 1",
        "HELLO 3",
        "HELLO 3 SETNAME x",
        "HELLO 4 AUTH default s3cret",
        "HELLO 2 AUTH default wrong",
        "AUTH",
        "AUTH wrong",
        "AUTH default wrong",
        "AUTH nobody s3cret",
        "AUTH a b c",
        "GET k",
        "RESET",
        "AUTH s3cret",
        "GET k",
        "RESET",
        "GET k",
        "AUTH default s3cret",
        "SET k v",
        "AUTH wrong",
        "GET k",
        "QUIT",
    ]);
    pair.same(&[
        "HELLO 3 AUTH default s3cret SETNAME app",
        "CLIENT GETNAME",
        "GET k",
        "RESET",
        "GET k",
    ]);
    // Before authenticating, requests are kept small: more than 10 arguments or a 16 KiB one
    // is a protocol error and a close.
    pair.same_raw(b"*11\r\n");
    pair.same_raw(b"*2\r\n$3\r\nGET\r\n$16385\r\n");
    pair.same_raw(b"*2\r\n$4\r\nAUTH\r\n$6\r\ns3cret\r\n*11\r\n");
    // Once authenticated, the same request is fine (it waits for its arguments).
    pair.same_raw(b"*2\r\n$4\r\nAUTH\r\n$6\r\ns3cret\r\n*11\r\n$3\r\nDEL\r\n");
}

#[test]
fn pipelines_are_answered_in_order() {
    let pair = Pair::start();
    let mut commands = Vec::new();
    for i in 0..2000 {
        commands.push(match i % 5 {
            0 => format!("SET key:{} value-{i}", i % 97),
            1 => format!("GET key:{}", i % 89),
            2 => format!("INCR counter:{}", i % 7),
            3 => format!("EXISTS key:{} key:{}", i % 13, i % 17),
            _ => format!("DEL key:{}", i % 31),
        });
    }
    let commands: Vec<&str> = commands.iter().map(String::as_str).collect();
    pair.same(&commands);
}

#[test]
fn binary_keys_and_values_are_kept_byte_for_byte() {
    let pair = Pair::start();
    let key: Vec<u8> = vec![0xff, 0xfe, 0x00, b'\r', b'\n', 0x80, b' '];
    let value: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let commands = vec![
        vec![b"SET".to_vec(), key.clone(), value.clone()],
        vec![b"GET".to_vec(), key.clone()],
        vec![b"STRLEN".to_vec(), key.clone()],
        vec![b"EXISTS".to_vec(), key.clone()],
        vec![b"APPEND".to_vec(), key.clone(), b"\x00\xff".to_vec()],
        vec![b"GETDEL".to_vec(), key.clone()],
        vec![b"SET".to_vec(), Vec::new(), Vec::new()],
        vec![b"GET".to_vec(), Vec::new()],
        vec![b"KEYS".to_vec(), b"*".to_vec()],
        vec![b"KEYS".to_vec(), b"\xff*".to_vec()],
        vec![vec![0xff, 0x00, b'x'], b"a".to_vec()],
        vec![
            b"SET".to_vec(),
            b"k".to_vec(),
            b"v".to_vec(),
            b"n\x00x".to_vec(),
        ],
    ];
    pair.same_args(&commands);
}

#[test]
fn malformed_requests_get_redis_s_error_and_a_close() {
    let pair = Pair::start();
    for bytes in [
        &b"*1\r\n$3\r\nGET\r\n"[..],
        b"*abc\r\n",
        b"*-5\r\nPING\r\n",
        b"*1\r\n$-1\r\n",
        b"*1\r\n$abc\r\n",
        b"*1\r\n+PING\r\n",
        b"*2\r\n$4\r\nPING\r\n:1\r\n",
        b"*1\r\n$4\r\nPINGxx\r\n",
        b"*3000000000\r\n",
        b"*1\r\n$9999999999999\r\n",
        b"\"unbalanced\r\n",
        b"PING \"a\"b\r\n",
        b"SET k \"\\x41\\x\" \r\nGET k\r\n",
        b"ping\r\n\r\n\r\nPING\r\n",
        b"*0\r\n*-1\r\nPING\r\n",
        b"PING\r\n*1\r\n$4\r\nPI",
        b"\x00\x01\x02\r\n",
        b"GET\xff\xfe k\r\n",
    ] {
        pair.same_raw(bytes);
    }
    // A line past 64 KiB without its end.
    let mut long = b"PING ".to_vec();
    long.extend(std::iter::repeat_n(b'a', 70 * 1024));
    pair.same_raw(&long);
}

#[test]
fn hostile_clients_leave_others_working() {
    let pair = Pair::start();
    let addr = pair.sessiond_addr();
    let mut bystander = Client::connect(addr);
    assert_eq!(
        bystander.cmd("SET canary alive"),
        Reply::Simple("OK".into())
    );
    // A request announcing more than sessiond buffers: closed without a word (Redis would
    // wait for its 1 GiB query buffer limit).
    let mut big = Client::connect(addr);
    big.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$9000000\r\n");
    let reply = big.try_read();
    assert!(
        matches!(&reply, Some(Reply::Error(text)) if text == "ERR Protocol error: invalid bulk length"),
        "{reply:?}"
    );
    let mut many = Client::connect(addr);
    many.send_raw(b"*2000000\r\n");
    assert!(matches!(many.try_read(), Some(Reply::Error(_))));
    // A client that half-sends a request and stalls holds nothing up.
    let mut stalled = Client::connect(addr);
    stalled.send_raw(b"*2\r\n$3\r\nGET\r\n$100\r\nabc");
    // A flood of garbage.
    let mut garbage = Client::connect(addr);
    let noise: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    garbage.send_raw(&noise);
    assert_eq!(bystander.cmd("GET canary"), Reply::Bulk(b"alive".to_vec()));
    let mut fresh = Client::connect(addr);
    assert_eq!(fresh.cmd("GET canary"), Reply::Bulk(b"alive".to_vec()));
    drop(stalled);
    thread::sleep(Duration::from_millis(50));
    assert_eq!(fresh.cmd("PING"), Reply::Simple("PONG".into()));
}

#[test]
fn info_client_list_and_command_have_what_clients_parse() {
    let pair = Pair::start();
    let addr = pair.sessiond_addr();
    let mut client = Client::connect(addr);
    client.cmd("SET a 1");
    client.cmd("SELECT 2");
    client.cmd("SET b 2");
    client.cmd("CLIENT SETNAME probe");
    client.cmd("CLIENT SETINFO LIB-NAME redis-py");
    client.cmd("CLIENT SETINFO lib-ver 5.0.1");
    let info = client.cmd("INFO").text();
    for field in [
        "redis_version:7.0.15\r\n",
        "redis_mode:standalone\r\n",
        "loading:0\r\n",
        "role:master\r\n",
        "connected_clients:1\r\n",
        "maxmemory_policy:noeviction\r\n",
        "db0:keys=1,expires=0,avg_ttl=0\r\n",
        "db2:keys=1,expires=0,avg_ttl=0\r\n",
        "# Server\r\n",
        "\r\n\r\n# Clients\r\n",
    ] {
        assert!(info.contains(field), "INFO lacks {field:?}:\n{info}");
    }
    assert!(info.contains("used_memory:") && info.contains("maxmemory:"));
    assert_eq!(
        client.cmd("INFO keyspace").text(),
        "# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\ndb2:keys=1,expires=0,avg_ttl=0\r\n"
    );
    assert_eq!(client.cmd("INFO nosuch").text(), "");
    let list = client.cmd("CLIENT LIST").text();
    assert!(list.ends_with('\n'), "{list:?}");
    assert!(
        list.contains(" name=probe ") && list.contains(" db=2 "),
        "{list}"
    );
    assert!(list.contains(" lib-name=redis-py lib-ver=5.0.1"), "{list}");
    assert!(list.contains(" cmd=client|list "), "{list}");
    let Reply::Integer(id) = client.cmd("CLIENT ID") else {
        panic!()
    };
    assert!(
        list.starts_with(&format!("id={id} addr=127.0.0.1:")),
        "{list}"
    );
    assert_eq!(
        client.cmd("CLIENT SETINFO LIB-NAME a\u{1}b"),
        Reply::Error("ERR LIB-NAME cannot contain spaces, newlines or special characters.".into())
    );
    assert_eq!(
        client.cmd("CLIENT SETINFO color red"),
        Reply::Error("ERR Unrecognized option 'color'".into())
    );
    // COMMAND INFO of the commands sessiond has: as Redis's, but for key specs and tips.
    for name in [
        "get",
        "set",
        "setex",
        "del",
        "mget",
        "mset",
        "expire",
        "pexpireat",
        "scan",
        "hello",
        "auth",
        "client|setname",
        "config|get",
        "rename",
        "exists",
    ] {
        let info = |addr| match Client::connect(addr).call(&[b"COMMAND", b"INFO", name.as_bytes()])
        {
            Reply::Array(mut infos) => match infos.remove(0) {
                Reply::Array(fields) => fields[..7].to_vec(),
                other => panic!("{name}: {other:?}"),
            },
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(info(addr), info(pair.redis.addr()), "COMMAND INFO {name}");
    }
    let Reply::Integer(count) = client.cmd("COMMAND COUNT") else {
        panic!()
    };
    let Reply::Array(all) = client.cmd("COMMAND") else {
        panic!()
    };
    assert_eq!(all.len() as i64, count);
    let Reply::Array(docs) = client.cmd("COMMAND DOCS get") else {
        panic!()
    };
    assert_eq!(docs[0], Reply::Bulk(b"get".to_vec()));
}

#[test]
fn keys_expire_in_real_time() {
    let pair = Pair::start();
    for addr in [pair.redis.addr(), pair.sessiond_addr()] {
        let mut client = Client::connect(addr);
        assert_eq!(client.cmd("SET short v PX 150"), Reply::Simple("OK".into()));
        assert_eq!(
            client.cmd("SET lock v NX PX 150"),
            Reply::Simple("OK".into())
        );
        assert_eq!(client.cmd("SET lock v NX PX 150"), Reply::NullBulk);
        let Reply::Integer(left) = client.cmd("PTTL short") else {
            panic!()
        };
        assert!((1..=150).contains(&left), "{addr}: PTTL {left}");
    }
    thread::sleep(Duration::from_millis(300));
    pair.same(&[
        "GET short",
        "EXISTS short lock",
        "SET lock v NX PX 150",
        "DBSIZE",
    ]);
}
