//! Fuzzes the Redis command layer: sequences of commands built from the input, over the names
//! sessiond knows and arguments that are mostly keys, numbers and option words, run on a small
//! engine through two connections (for `WATCH` and pub/sub across connections) while the clock
//! moves on. No command may panic, the store stays within its memory limit, and every reply
//! is well-formed RESP.
//!
//! The input is read as commands: a control byte (which connection, how far the clock moves),
//! a name byte (an index into `NAMES`), an argument count, then each argument as a kind byte
//! (a word from `WORDS`, a key from a few, a number, or raw bytes that follow).

#![no_main]

use std::time::Duration;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sessiond_engine::{Engine, EngineConfig, NamespaceId, Timestamp};
use sessiond_resp::{
    Config, Connection, Context, Encoder, Flow, Peer, ScriptLimits, Shared, Version,
};

/// The command names sessiond serves, the containers' among them; a few unknown ones too.
const NAMES: &[&str] = &[
    "append",
    "auth",
    "dbsize",
    "decr",
    "decrby",
    "del",
    "discard",
    "echo",
    "eval",
    "eval_ro",
    "evalsha",
    "evalsha_ro",
    "exec",
    "exists",
    "expire",
    "expireat",
    "expiretime",
    "flushall",
    "flushdb",
    "get",
    "getdel",
    "getex",
    "getset",
    "hdel",
    "hello",
    "hexists",
    "hget",
    "hgetall",
    "hincrby",
    "hincrbyfloat",
    "hkeys",
    "hlen",
    "hmget",
    "hmset",
    "hset",
    "hsetnx",
    "hstrlen",
    "hvals",
    "incr",
    "incrby",
    "info",
    "keys",
    "mget",
    "mset",
    "multi",
    "persist",
    "pexpire",
    "pexpireat",
    "pexpiretime",
    "ping",
    "psetex",
    "psubscribe",
    "pttl",
    "publish",
    "punsubscribe",
    "rename",
    "renamenx",
    "reset",
    "sadd",
    "scan",
    "scard",
    "select",
    "set",
    "setex",
    "setnx",
    "sismember",
    "smembers",
    "smismember",
    "srem",
    "strlen",
    "subscribe",
    "ttl",
    "type",
    "unlink",
    "unsubscribe",
    "unwatch",
    "watch",
    "zadd",
    "zcard",
    "zcount",
    "zincrby",
    "zmscore",
    "zrange",
    "zrangebylex",
    "zrangebyscore",
    "zrem",
    "zremrangebyscore",
    "zrevrange",
    "zrevrangebylex",
    "zrevrangebyscore",
    "zscore",
    "client",
    "command",
    "config",
    "pubsub",
    "script",
    "object",
    "lpush",
    "",
];

/// Option words, subcommands, numbers in Redis's many forms, patterns and small scripts.
const WORDS: &[&str] = &[
    "NX",
    "XX",
    "GT",
    "LT",
    "CH",
    "INCR",
    "GET",
    "EX",
    "PX",
    "EXAT",
    "PXAT",
    "KEEPTTL",
    "PERSIST",
    "WITHSCORES",
    "LIMIT",
    "BYSCORE",
    "BYLEX",
    "REV",
    "MATCH",
    "COUNT",
    "TYPE",
    "string",
    "hash",
    "set",
    "zset",
    "0",
    "1",
    "-1",
    "2",
    "10",
    "-10",
    "100",
    "1000000",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "1.5",
    "-0.5",
    "1e308",
    "-1e308",
    "inf",
    "-inf",
    "+inf",
    "nan",
    "(1",
    "[a",
    "(b",
    "-",
    "+",
    "*",
    "a*",
    "h?llo",
    "[a-z]",
    "\\",
    "3",
    "SETNAME",
    "GETNAME",
    "ID",
    "LIST",
    "INFO",
    "SETINFO",
    "LIB-NAME",
    "HELP",
    "DOCS",
    "COUNT",
    "GETKEYS",
    "notify-keyspace-events",
    "KEA",
    "Egx",
    "KEAnm",
    "Emn",
    "maxmemory",
    "busy-reply-threshold",
    "CHANNELS",
    "NUMSUB",
    "NUMPAT",
    "LOAD",
    "EXISTS",
    "FLUSH",
    "KILL",
    "ASYNC",
    "SYNC",
    "return 1",
    "return redis.call('get', KEYS[1])",
    "return redis.call('set', KEYS[1], ARGV[1])",
    "return redis.pcall('incr', KEYS[1])",
    "return {1, 'a', {2}}",
    "return cjson.decode(ARGV[1])",
    "return cmsgpack.unpack(ARGV[1])",
    "error('x')",
    "while true do end",
    "local t = {} for i = 1, 100 do t[i] = i end return unpack(t)",
    "e0e1f9fabfc9d4800c877a703b823ac0578ff8db",
    "__keyevent@0__:*",
    "__keyspace@0__:k",
];

/// The keys commands name: few, so that commands meet each other's keys.
const KEYS: &[&str] = &["k", "h", "s", "z", "n", "{k}", ""];

/// Small limits, so the fuzzer reaches the too-large paths.
fn config() -> Config {
    let mut config = Config::new(NamespaceId(1));
    config.limits.max_bulk_len = 4096;
    config.limits.max_multibulk_len = 64;
    config.limits.max_request_len = 16 << 10;
    config.limits.max_queued_commands = 8;
    config.limits.max_transaction_bytes = 4096;
    config.limits.max_atomic_keys = 4;
    config.scripts = ScriptLimits {
        // An endless script costs this much of the fuzzer's time, each run.
        time_limit: Duration::from_millis(5),
        max_memory: 4 << 20,
        cache_scripts: 8,
        cache_bytes: 4096,
    };
    config.pubsub_limit = 64 << 10;
    config
}

fuzz_target!(|data: &[u8]| {
    let engine = Engine::new(EngineConfig {
        max_memory: 256 << 10,
    });
    let start = Timestamp::from_secs(1_700_000_000);
    let shared = Shared::new(config(), start);
    let mut now = start.as_millis();
    let mut connections = [
        Some(Connection::new(&shared, Peer::default(), start)),
        Some(Connection::new(&shared, Peer::default(), start)),
    ];
    let mut input = data;
    while let Some(command) = next_command(&mut input) {
        let (control, args) = command;
        now += u64::from(control >> 1) * 250;
        let ctx = Context {
            engine: &engine,
            now: Timestamp::from_millis(now),
            shared: &shared,
        };
        let slot = usize::from(control & 1);
        let Some(connection) = connections[slot].as_mut() else {
            continue;
        };
        let mut request = BytesMut::from(&encode(&args)[..]);
        let mut output = BytesMut::new();
        let flow = connection.process(&mut request, &mut output, &ctx);
        check_replies(&output);
        if flow == Flow::Close {
            connections[slot] = None;
        }
        engine.expire_due(ctx.now, 64);
        let stats = engine.stats();
        assert!(
            stats.memory_used <= stats.limit_maxbytes,
            "the store passed its memory limit"
        );
    }
});

/// The next command of the input, with its control byte; `None` at the end.
fn next_command(input: &mut &[u8]) -> Option<(u8, Vec<Vec<u8>>)> {
    let (&control, rest) = input.split_first()?;
    let (&name, rest) = rest.split_first()?;
    let (&argc, mut rest) = rest.split_first()?;
    let mut args = vec![NAMES[usize::from(name) % NAMES.len()].as_bytes().to_vec()];
    for _ in 0..argc % 9 {
        let Some((&kind, after)) = rest.split_first() else {
            break;
        };
        rest = after;
        let arg = match kind % 4 {
            0 => WORDS[usize::from(kind / 4) % WORDS.len()]
                .as_bytes()
                .to_vec(),
            1 => KEYS[usize::from(kind / 4) % KEYS.len()].as_bytes().to_vec(),
            2 => (i64::from(kind / 4) - 32).to_string().into_bytes(),
            _ => {
                let len = usize::from(kind / 4).min(rest.len());
                let (bytes, after) = rest.split_at(len);
                rest = after;
                bytes.to_vec()
            }
        };
        args.push(arg);
    }
    *input = rest;
    Some((control, args))
}

/// A request as a client sends it: an array of bulk strings, written by the crate's own
/// encoder.
fn encode(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = Encoder::new(&mut out, Version::Resp2);
    encoder.array(args.len());
    for arg in args {
        encoder.bulk(arg);
    }
    out
}

/// Every byte of `output` belongs to a well-formed RESP2 or RESP3 reply.
fn check_replies(output: &[u8]) {
    let mut at = 0;
    while at < output.len() {
        at = reply_end(output, at, 0)
            .unwrap_or_else(|| panic!("malformed reply: {:?}", String::from_utf8_lossy(output)));
    }
}

/// Where the reply starting at `at` ends; `None` if it is not well-formed.
fn reply_end(output: &[u8], at: usize, depth: usize) -> Option<usize> {
    if depth > 64 {
        return None;
    }
    let kind = *output.get(at)?;
    let line_end = at + output.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
    // Any bytes but CR and LF: an error may quote a client's bytes, as Redis's do.
    let line = output.get(at + 1..line_end)?;
    let after_line = line_end + 2;
    match kind {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => {
            (!line.contains(&b'\r') && !line.contains(&b'\n')).then_some(after_line)
        }
        b'$' | b'=' | b'!' => {
            if line == b"-1" {
                return Some(after_line);
            }
            let len: usize = std::str::from_utf8(line).ok()?.parse().ok()?;
            let end = after_line.checked_add(len)?;
            (output.get(end..end + 2)? == b"\r\n").then_some(end + 2)
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            if line == b"-1" {
                return Some(after_line);
            }
            let count: usize = std::str::from_utf8(line).ok()?.parse().ok()?;
            let count = if matches!(kind, b'%' | b'|') {
                count.checked_mul(2)?
            } else {
                count
            };
            let mut next = after_line;
            for _ in 0..count {
                next = reply_end(output, next, depth + 1)?;
            }
            Some(next)
        }
        _ => None,
    }
}
