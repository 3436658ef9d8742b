//! Hashes, sets and sorted sets over the Redis protocol, compared with a real redis-server
//! (Debian's 7.0) started by each test: every command, its options and errors, wrong types,
//! binary fields, in RESP2 and again in RESP3 (`HELLO 3` first), and the sequence Spring
//! Session Data Redis sends.
//!
//! Each transcript runs pipelined on a fresh connection to both servers after a `FLUSHALL`;
//! the replies must be the same, except for the order of `SMEMBERS` replies and of
//! `HGETALL` replies of hashes Redis keeps in a hash table (Spring Session's attribute names
//! are long enough), which Redis takes from its hash tables (sessiond answers in insertion
//! order; the README lists this), so those are compared sorted. Scores are chosen so that Redis 7.0's
//! 17-digit doubles and sessiond's shortest ones are the same text.
//!
//! A missing `/usr/bin/redis-server` fails these tests; it never skips them.

mod support;

use std::net::SocketAddr;

use support::redis::{Client, Reply};
use support::redis_pair::{Pair, compare, scan_all, transcript, words};

/// Runs `commands` (words split on spaces) in RESP2, then again in RESP3, on both servers.
fn same_in_both_versions(pair: &Pair, commands: &[&str]) {
    let commands: Vec<Vec<Vec<u8>>> = commands.iter().map(|command| words(command)).collect();
    same_args_in_both_versions(pair, &commands);
}

/// As [`same_in_both_versions`], with each command's arguments given as bytes.
fn same_args_in_both_versions(pair: &Pair, commands: &[Vec<Vec<u8>>]) {
    same_unordered(pair, commands);
    let mut resp3 = vec![words("HELLO 3")];
    resp3.extend_from_slice(commands);
    same_unordered(pair, &resp3);
}

/// Runs `FLUSHALL` then `commands` on both servers and compares the replies, those whose
/// order is Redis's hash tables' sorted first.
fn same_unordered(pair: &Pair, commands: &[Vec<Vec<u8>>]) {
    let mut all = vec![words("FLUSHALL")];
    all.extend_from_slice(commands);
    let expected = sorted(&all, transcript(pair.redis.addr(), &all));
    let got = sorted(&all, transcript(pair.sessiond_addr(), &all));
    compare(&all, &expected, &got);
}

/// The replies with the elements of unordered ones sorted.
fn sorted(commands: &[Vec<Vec<u8>>], replies: Vec<Reply>) -> Vec<Reply> {
    let by_text = |items: &mut Vec<Reply>| items.sort_by_key(|item| format!("{item:?}"));
    commands
        .iter()
        .zip(replies)
        .map(|(command, reply)| {
            let name = String::from_utf8_lossy(&command[0]).to_ascii_lowercase();
            match (name.as_str(), reply) {
                ("smembers", Reply::Array(mut items)) => {
                    by_text(&mut items);
                    Reply::Array(items)
                }
                ("smembers", Reply::Set(mut items)) => {
                    by_text(&mut items);
                    Reply::Set(items)
                }
                ("hgetall", Reply::Array(items)) if hash_table_encoded(&items) => {
                    let mut pairs: Vec<Vec<Reply>> =
                        items.chunks(2).map(<[Reply]>::to_vec).collect();
                    pairs.sort_by_key(|pair| format!("{pair:?}"));
                    Reply::Array(pairs.concat())
                }
                ("hgetall", Reply::Map(mut pairs)) => {
                    let entries: Vec<Reply> = pairs
                        .iter()
                        .flat_map(|(f, v)| [f.clone(), v.clone()])
                        .collect();
                    if hash_table_encoded(&entries) {
                        pairs.sort_by_key(|pair| format!("{pair:?}"));
                    }
                    Reply::Map(pairs)
                }
                (_, reply) => reply,
            }
        })
        .collect()
}

/// Whether Redis keeps a hash with these fields and values in a hash table, whose order is
/// its own, rather than a listpack, which keeps insertion order: past 128 fields or with a
/// field or value over 64 bytes (`hash-max-listpack-entries`, `hash-max-listpack-value`).
fn hash_table_encoded(entries: &[Reply]) -> bool {
    entries.len() > 2 * 128
        || entries
            .iter()
            .any(|entry| matches!(entry, Reply::Bulk(bytes) if bytes.len() > 64))
}

/// A command from byte arguments.
fn args(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|part| part.to_vec()).collect()
}

#[test]
fn hash_commands_answer_as_redis() {
    let pair = Pair::start();
    same_in_both_versions(
        &pair,
        &[
            "HSET h a 1 b 2",
            "HSET h a 3 c 4",
            "HSET h",
            "HSET h a",
            "HSET h a 1 b",
            "HMSET h d 5 e 6",
            "HMSET h d",
            "HMSET h",
            "HSETNX h a 9",
            "HSETNX h z 9",
            "HSETNX h z",
            "HSETNX h z 1 2",
            "HGET h a",
            "HGET h nofield",
            "HGET nokey a",
            "HGET h",
            "HMGET h a nofield c",
            "HMGET nokey a b",
            "HMGET h",
            "HGETALL h",
            "HGETALL nokey",
            "HGETALL",
            "HKEYS h",
            "HVALS h",
            "HKEYS nokey",
            "HVALS nokey",
            "HLEN h",
            "HLEN nokey",
            "HLEN h x",
            "HEXISTS h a",
            "HEXISTS h nofield",
            "HEXISTS nokey a",
            "HSTRLEN h a",
            "HSTRLEN h nofield",
            "HSTRLEN nokey a",
            "HDEL h a nofield a",
            "HDEL h",
            "HDEL nokey a",
            "HGETALL h",
            "HSET h a again",
            "HGETALL h",
            "hset h A upper",
            "HgetAll h",
        ],
    );
}

#[test]
fn hash_increments_answer_as_redis() {
    let pair = Pair::start();
    same_in_both_versions(
        &pair,
        &[
            "HINCRBY h n 5",
            "HINCRBY h n -7",
            "HINCRBY h n x",
            "HINCRBY h n 1.5",
            "HINCRBY h n 01",
            "HINCRBY h n",
            "HINCRBY h n 9223372036854775808",
            "HSET h s hello max 9223372036854775807 min -9223372036854775808 sp 1x",
            "HINCRBY h s 1",
            "HINCRBY h sp 1",
            "HINCRBY h max 1",
            "HINCRBY h max -1",
            "HINCRBY h min -1",
            "HINCRBY h min 0",
            "HGET h n",
            "HINCRBYFLOAT h f 10.5",
            "HINCRBYFLOAT h f 0.25",
            "HINCRBYFLOAT h f -10.75",
            "HINCRBYFLOAT h f 3",
            "HINCRBYFLOAT h f -3",
            "HINCRBYFLOAT h f x",
            "HINCRBYFLOAT h f inf",
            "HINCRBYFLOAT h f -inf",
            "HINCRBYFLOAT h f nan",
            "HINCRBYFLOAT h f 1e",
            "HINCRBYFLOAT h f 1e3",
            "HINCRBYFLOAT h f .5",
            "HINCRBYFLOAT h f 0x10",
            "HINCRBYFLOAT h s 1",
            "HINCRBYFLOAT h n 1.5",
            "HSET h e 5.0e3 i inf",
            "HINCRBYFLOAT h e 2.0e2",
            "HINCRBYFLOAT h i 1",
            "HINCRBYFLOAT h",
            "HGETALL h",
            // Redis adds in 80-bit long doubles and writes 17 decimals; so does sessiond.
            "HSET x a 0.1 b 9223372036854775807 c 12345.678 d 1e308 e 1e400 f 1.1e4932 g -1e-18",
            "HINCRBYFLOAT x a 0.2",
            "HINCRBYFLOAT x b 0",
            "HINCRBYFLOAT x b 1",
            "HINCRBYFLOAT x c 0.001",
            "HINCRBYFLOAT x d 1e308",
            "HINCRBYFLOAT x e 0",
            "HINCRBYFLOAT x e 1e400",
            "HINCRBYFLOAT x f -1",
            "HINCRBYFLOAT x f 1e4932",
            "HINCRBYFLOAT x g 0",
            "HINCRBYFLOAT x h 0.000000000000000015",
            "HINCRBYFLOAT x i 0x1p-16445",
            "HINCRBYFLOAT x i 0x1p-16446",
            "HINCRBYFLOAT x i 1e-4951",
            "HINCRBYFLOAT x i 1e5000",
            "HINCRBYFLOAT x j 0.3333333333333333333333333",
            "HINCRBYFLOAT x j 0.3333333333333333333333333",
            "HINCRBYFLOAT new f 2.5",
            "TTL new",
            "HDEL new f",
            "EXISTS new",
        ],
    );
    let spaced = vec![
        args(&[b"HINCRBYFLOAT", b"h", b"f", b" 1"]),
        args(&[b"HINCRBYFLOAT", b"h", b"f", b"1 "]),
        args(&[b"HINCRBYFLOAT", b"h", b"f", b""]),
        args(&[b"HINCRBYFLOAT", b"h", b"f", b"1\0"]),
        args(&[b"HINCRBY", b"h", b"f", b" 1"]),
        args(&[b"HSET", b"h", b"g", b" 1"]),
        args(&[b"HINCRBYFLOAT", b"h", b"g", b"1"]),
        args(&[b"HINCRBY", b"h", b"g", b"1"]),
    ];
    same_args_in_both_versions(&pair, &spaced);
}

#[test]
fn set_commands_answer_as_redis() {
    let pair = Pair::start();
    same_in_both_versions(
        &pair,
        &[
            "SADD s a b a c",
            "SADD s",
            "SADD s b d",
            "SMEMBERS s",
            "SMEMBERS nokey",
            "SMEMBERS",
            "SCARD s",
            "SCARD nokey",
            "SISMEMBER s a",
            "SISMEMBER s zz",
            "SISMEMBER nokey a",
            "SISMEMBER s",
            "SMISMEMBER s a zz b",
            "SMISMEMBER nokey a b",
            "SMISMEMBER s",
            "SREM s a zz a",
            "SREM s",
            "SREM nokey a",
            "SMEMBERS s",
            "SREM s b c d",
            "EXISTS s",
            "SCARD s",
            "SADD ints 3 1 2 10 -1",
            "SMEMBERS ints",
            "SISMEMBER ints 10",
            "SADD ints x",
            "SMEMBERS ints",
        ],
    );
}

#[test]
fn sorted_set_writes_answer_as_redis() {
    let pair = Pair::start();
    same_in_both_versions(
        &pair,
        &[
            "ZADD z 1 a 2 b 3 c",
            "ZADD z 1.5 a",
            "ZADD z nx 9 a 4 d",
            "ZADD z xx 9 a 5 e",
            "ZADD z xx ch 10 a",
            "ZADD z gt ch 1 a 11 b",
            "ZADD z lt ch 100 a 0.5 c",
            "ZADD z gt xx ch 20 a 20 f",
            "ZADD z lt xx ch 0 a 0 g",
            "ZADD z ch 0 a 0 a",
            "ZADD z CH NX XX 1 a",
            "ZADD z incr 2 a",
            "ZADD z incr 2 newm",
            "ZADD z nx incr 2 a",
            "ZADD z xx incr 1 zz",
            "ZADD z gt incr -1 a",
            "ZADD z lt incr -1 a",
            "ZADD z incr 0 a",
            "ZADD z gt incr 0 a",
            "ZADD z ch incr 1 a",
            "ZADD z nx xx 1 a",
            "ZADD z gt lt 1 a",
            "ZADD z nx gt 1 a",
            "ZADD z nx lt x a",
            "ZADD z incr 1 a 2 b",
            "ZADD z 1 a 2",
            "ZADD z x a",
            "ZADD z 1 a x b",
            "ZADD z nan a",
            "ZADD z 1e400 a",
            "ZADD z inf pinf -inf minf +inf pinf2",
            "ZADD z NX",
            "ZADD z 1",
            "ZADD z incr",
            "ZADD nokey xx 1 a",
            "ZADD nokey xx incr 1 a",
            "EXISTS nokey",
            "ZINCRBY z 1 a",
            "ZINCRBY z -0.5 newer",
            "ZINCRBY z -0 negzero",
            "ZSCORE z negzero",
            "ZINCRBY z x a",
            "ZINCRBY z nx a",
            "ZINCRBY z 1",
            "ZINCRBY z 1 a b",
            "ZINCRBY z inf pinf",
            "ZINCRBY z -inf pinf",
            "ZINCRBY z 1 minf",
            "ZRANGE z 0 -1 WITHSCORES",
            "ZCARD z",
            "ZCARD nokey",
            "ZREM z a nom a",
            "ZREM z",
            "ZREM nokey a",
            "ZREMRANGEBYSCORE z (1 2",
            "ZREMRANGEBYSCORE z x 1",
            "ZREMRANGEBYSCORE z 1 x",
            "ZREMRANGEBYSCORE z 1",
            "ZREMRANGEBYSCORE nokey 0 1",
            "ZRANGE z 0 -1 WITHSCORES",
            "ZREMRANGEBYSCORE z -inf (0",
            "ZREMRANGEBYSCORE z +inf +inf",
            "ZRANGE z 0 -1 WITHSCORES",
            "ZREMRANGEBYSCORE z -inf +inf",
            "EXISTS z",
        ],
    );
}

#[test]
fn sorted_set_reads_answer_as_redis() {
    let pair = Pair::start();
    same_in_both_versions(
        &pair,
        &[
            "ZADD z 1 a 2 b 2 bb 3 c 4.5 d -2.25 e",
            "ZSCORE z a",
            "ZSCORE z d",
            "ZSCORE z nom",
            "ZSCORE nokey a",
            "ZSCORE z",
            "ZMSCORE z a nom d",
            "ZMSCORE nokey a b",
            "ZMSCORE z",
            "ZRANGE z 0 -1",
            "ZRANGE z 0 -1 WITHSCORES",
            "ZRANGE z -2 -1 withscores",
            "ZRANGE z 5 1",
            "ZRANGE z 0 100",
            "ZRANGE z -100 1",
            "ZRANGE z x 1",
            "ZRANGE z 0 y",
            "ZRANGE z 0 -1 rev",
            "ZRANGE z 0 1 rev withscores",
            "ZRANGE z (1 4.5 byscore",
            "ZRANGE z 4.5 (1 byscore rev withscores",
            "ZRANGE z -inf +inf byscore limit 1 2",
            "ZRANGE z -inf +inf byscore limit 1 2 withscores rev",
            "ZRANGE z -inf +inf byscore limit -1 2",
            "ZRANGE z -inf +inf byscore limit 0 0",
            "ZRANGE z -inf +inf byscore limit 2 -5",
            "ZRANGE z -inf +inf byscore limit 100 1",
            "ZRANGE z 0 -1 limit 0 1",
            "ZRANGE z 0 -1 limit 0 -1",
            "ZRANGE z 0 -1 limit 0",
            "ZRANGE z 0 -1 limit x 1",
            "ZRANGE z 0 -1 limit 0 x",
            "ZRANGE z 0 -1 rev rev",
            "ZRANGE z 0 -1 byscore bylex",
            "ZRANGE z 0 -1 byscore byscore",
            "ZRANGE z 0 -1 nonsense",
            "ZRANGE z - + bylex withscores",
            "ZRANGE z x y byscore",
            "ZRANGE z",
            "ZRANGE nokey 0 -1",
            "ZRANGE nokey 0 -1 withscores",
            "ZREVRANGE z 0 -1",
            "ZREVRANGE z 0 1 withscores",
            "ZREVRANGE z 0 -1 rev",
            "ZREVRANGE z 0 -1 byscore",
            "ZREVRANGE z 0 -1 limit 0 1",
            "ZRANGEBYSCORE z -inf +inf",
            "ZRANGEBYSCORE z (1 3 withscores",
            "ZRANGEBYSCORE z 1 (3",
            "ZRANGEBYSCORE z 2 2",
            "ZRANGEBYSCORE z -inf +inf limit 1 1 withscores",
            "ZRANGEBYSCORE z -inf +inf withscores limit 1 1",
            "ZRANGEBYSCORE z -inf +inf limit 1 1 limit 2 2",
            "ZRANGEBYSCORE z x 1",
            "ZRANGEBYSCORE z 1 y",
            "ZRANGEBYSCORE z ((1 2",
            "ZRANGEBYSCORE z [1 2",
            "ZRANGEBYSCORE z nan 2",
            "ZRANGEBYSCORE z -inf +inf rev",
            "ZRANGEBYSCORE z -inf +inf byscore",
            "ZRANGEBYSCORE z -inf +inf limit 0",
            "ZRANGEBYSCORE z +inf -inf",
            "ZRANGEBYSCORE z (1 (1",
            "ZRANGEBYSCORE z -INF +Inf",
            "ZRANGEBYSCORE z ( 1e400",
            "ZRANGEBYSCORE nokey 0 1",
            "ZREVRANGEBYSCORE z +inf -inf",
            "ZREVRANGEBYSCORE z 3 (1 withscores",
            "ZREVRANGEBYSCORE z +inf -inf limit 0 2",
            "ZREVRANGEBYSCORE z +inf -inf withscores limit 2 10",
            "ZREVRANGEBYSCORE z -inf +inf",
            "ZREVRANGEBYSCORE z x 1",
            "ZCOUNT z -inf +inf",
            "ZCOUNT z (1 3",
            "ZCOUNT z 3 1",
            "ZCOUNT z x 1",
            "ZCOUNT nokey 0 1",
            "ZCOUNT z 0",
            "ZRANGE z -9223372036854775808 9223372036854775807",
            "ZRANGE z 9223372036854775807 -9223372036854775808",
            "ZRANGE z 0 9223372036854775808",
            "ZRANGE z -inf +inf BYSCORE LIMIT 9223372036854775807 9223372036854775807",
            "ZRANGE z -inf +inf BYSCORE LIMIT -9223372036854775808 1",
            "ZRANGE z - + BYLEX LIMIT 9223372036854775807 1",
            "ZREVRANGEBYSCORE z +inf -inf LIMIT 1 9223372036854775807 WITHSCORES",
            "ZRANGEBYSCORE z -1e400 1e400",
            "ZRANGEBYSCORE z (-inf (+inf",
            "ZRANGEBYSCORE z (inf +inf",
        ],
    );
    same_unordered(
        &pair,
        &[
            words("ZADD z 1 a"),
            args(&[b"ZRANGEBYSCORE", b"z", b" 1", b"2"]),
            args(&[b"ZRANGEBYSCORE", b"z", b"", b"2"]),
            args(&[b"ZRANGEBYSCORE", b"z", b"(", b"2"]),
            args(&[b"ZRANGEBYSCORE", b"z", b"1\0junk", b"2"]),
            args(&[b"ZRANGEBYSCORE", b"z", b"1 ", b"2"]),
            args(&[b"ZADD", b"z", b" 1", b"b"]),
            args(&[b"ZADD", b"z", b"0x10", b"b"]),
            args(&[b"ZSCORE", b"z", b"b"]),
        ],
    );
}

#[test]
fn lexicographic_ranges_answer_as_redis() {
    let pair = Pair::start();
    same_in_both_versions(
        &pair,
        &[
            "ZADD l 0 a 0 b 0 c 0 d 0 e",
            "ZRANGE l - + bylex",
            "ZRANGE l [b (d bylex",
            "ZRANGE l (d [b bylex rev",
            "ZRANGE l [b (d bylex rev",
            "ZRANGE l - + bylex limit 1 2",
            "ZRANGE l + - bylex rev limit 1 2",
            "ZRANGE l - + bylex limit -1 2",
            "ZRANGE l + - bylex",
            "ZRANGE l - - bylex",
            "ZRANGE l [c [c bylex",
            "ZRANGE l (c [c bylex",
            "ZRANGE l [bb [cc bylex",
            "ZRANGE l a + bylex",
            "ZRANGE l - +x bylex",
            "ZRANGE nokey - + bylex",
            "ZRANGEBYLEX l - +",
            "ZRANGEBYLEX l [b (d",
            "ZRANGEBYLEX l - + LIMIT 1 2",
            "ZRANGEBYLEX l - + LIMIT 1",
            "ZRANGEBYLEX l - + WITHSCORES",
            "ZRANGEBYLEX l - + BYLEX",
            "ZRANGEBYLEX l - + REV",
            "ZRANGEBYLEX l a +",
            "ZRANGEBYLEX l",
            "ZREVRANGEBYLEX l + -",
            "ZREVRANGEBYLEX l (d [b",
            "ZREVRANGEBYLEX l + - LIMIT 0 3",
            "ZREVRANGEBYLEX l - +",
            "ZADD l 1 z 2 y",
            "ZRANGEBYLEX l - +",
            "ZREVRANGEBYLEX l + -",
            "ZRANGEBYLEX l [a [c",
            "SET str v",
            "ZRANGEBYLEX str - +",
            "ZRANGEBYLEX str x +",
        ],
    );
}

#[test]
fn the_wrong_type_is_refused_and_changes_nothing() {
    let pair = Pair::start();
    same_in_both_versions(
        &pair,
        &[
            "SET str v",
            "HSET h f v",
            "SADD s m",
            "ZADD z 1 m",
            "HSET str a 1",
            "HMSET str a 1",
            "HSETNX str a 1",
            "HGET str a",
            "HMGET str a",
            "HGETALL str",
            "HKEYS str",
            "HVALS str",
            "HLEN str",
            "HEXISTS str a",
            "HSTRLEN str a",
            "HDEL str a",
            "HINCRBY str a 1",
            "HINCRBY str a x",
            "HINCRBYFLOAT str a 1",
            "HINCRBYFLOAT str a x",
            "SADD h m",
            "SREM h m",
            "SMEMBERS h",
            "SISMEMBER h m",
            "SMISMEMBER h m",
            "SCARD h",
            "ZADD s 1 m",
            "ZADD s x m",
            "ZADD s xx 1 m",
            "ZINCRBY s 1 m",
            "ZREM s m",
            "ZSCORE s m",
            "ZMSCORE s m",
            "ZCARD s",
            "ZCOUNT s 0 1",
            "ZCOUNT s x 1",
            "ZRANGE s 0 -1",
            "ZRANGE s x 1",
            "ZREVRANGE s 0 -1",
            "ZRANGEBYSCORE s 0 1",
            "ZREVRANGEBYSCORE s 1 0",
            "ZRANGE s - + bylex",
            "ZREMRANGEBYSCORE s 0 1",
            "HGET z m",
            "SMEMBERS z",
            "GET h",
            "GET s",
            "GET z",
            "APPEND h x",
            "INCR s",
            "STRLEN z",
            "MGET str h s z",
            "GETDEL h",
            "GETEX z",
            "HGETALL h",
            "SMEMBERS s",
            "ZRANGE z 0 -1 withscores",
            "GET str",
            "SET h v",
            "TYPE h",
        ],
    );
}

#[test]
fn binary_fields_members_and_values_answer_as_redis() {
    let pair = Pair::start();
    let binary: &[u8] = b"\x00\xff\r\n \"'\x01";
    same_args_in_both_versions(
        &pair,
        &[
            args(&[b"HSET", b"h", b"", b"", binary, binary, b"\r\n", b"\x00"]),
            args(&[b"HGET", b"h", b""]),
            args(&[b"HGET", b"h", binary]),
            args(&[b"HMGET", b"h", b"\r\n", b"\x00", b""]),
            args(&[b"HGETALL", b"h"]),
            args(&[b"HSTRLEN", b"h", binary]),
            args(&[b"HEXISTS", b"h", b"\x00"]),
            args(&[b"HINCRBY", b"h", b"\x00", b"1"]),
            args(&[b"HDEL", b"h", b""]),
            args(&[b"HKEYS", b"h"]),
            args(&[b"SADD", b"s", b"", binary, b"\x00"]),
            args(&[b"SISMEMBER", b"s", b""]),
            args(&[b"SMISMEMBER", b"s", b"\x00", b"\x00\x00", binary]),
            args(&[b"SMEMBERS", b"s"]),
            args(&[b"ZADD", b"z", b"1", b"", b"2", binary, b"2", b"\x00"]),
            args(&[b"ZSCORE", b"z", binary]),
            args(&[b"ZRANGE", b"z", b"0", b"-1", b"WITHSCORES"]),
            args(&[b"ZRANGE", b"z", b"[\x00", b"+", b"BYLEX"]),
            args(&[b"ZREM", b"z", b""]),
            args(&[b"ZRANGE", b"z", b"0", b"-1"]),
            args(&[b"HSET", binary, b"f", b"v"]),
            args(&[b"TYPE", binary]),
            args(&[b"HGETALL", binary]),
        ],
    );
}

#[test]
fn key_commands_work_on_every_type() {
    let pair = Pair::start();
    same_in_both_versions(
        &pair,
        &[
            "HSET h a 1",
            "SADD s a",
            "ZADD z 1.5 a",
            "TYPE h",
            "TYPE s",
            "TYPE z",
            "TYPE nokey",
            "EXISTS h s z nokey h",
            "DBSIZE",
            "EXPIRE h 100",
            "TTL h",
            "HSET h b 2",
            "TTL h",
            "HDEL h b",
            "TTL h",
            "PERSIST h",
            "TTL h",
            "PEXPIRE s 100000",
            "TTL s",
            "SADD s b",
            "TTL s",
            "EXPIRE z 100 NX",
            "EXPIRE z 200 GT",
            "TTL z",
            "RENAME h h2",
            "HGETALL h2",
            "HGETALL h",
            "RENAME s s2",
            "SMEMBERS s2",
            "RENAME z z2",
            "ZRANGE z2 0 -1 withscores",
            "TTL z2",
            "RENAME nokey x",
            "SET str v",
            "RENAME str h2",
            "TYPE h2",
            "DEL h2 s2 z2 nokey",
            "DBSIZE",
            "EXPIRE h 0",
            "HSET h a 1",
            "EXPIRE h 0",
            "EXISTS h",
        ],
    );
}

#[test]
fn scan_filters_by_every_type() {
    let pair = Pair::start();
    for addr in [pair.redis.addr(), pair.sessiond_addr()] {
        let mut client = Client::connect(addr);
        for command in [
            "FLUSHALL",
            "SET str v",
            "HSET h1 a 1",
            "HSET h2 a 1",
            "SADD s a",
            "ZADD z1 1 a",
            "ZADD z2 1 a",
            "ZADD z3 1 a",
        ] {
            client.cmd(command);
        }
    }
    for kind in ["hash", "HASH", "set", "zset", "string", "list", "nonsense"] {
        let scanned = |addr| scan_all(addr, &["COUNT", "3", "TYPE", kind]);
        assert_eq!(
            scanned(pair.sessiond_addr()),
            scanned(pair.redis.addr()),
            "SCAN TYPE {kind}"
        );
    }
    assert_eq!(scan_all(pair.sessiond_addr(), &[]).len(), 7);
}

#[test]
fn collections_in_transactions_answer_as_redis() {
    let pair = Pair::start();
    same_in_both_versions(
        &pair,
        &[
            "MULTI",
            "HSET h a 1 b 2",
            "HINCRBYFLOAT h a 0.5",
            "SADD s x y",
            "ZADD z 1 m 2 n",
            "ZADD z xx incr 1 m",
            "HGETALL h",
            // Not SMEMBERS: Redis's order for it is its hash table's (compared sorted
            // elsewhere).
            "SMISMEMBER s x y z",
            "ZRANGE z 0 -1 WITHSCORES",
            "HSET s a 1",
            "EXEC",
            "MULTI",
            "HSET h c 3",
            "HSET h a",
            "EXEC",
            "HGETALL h",
            "WATCH h",
            "HDEL h b",
            "MULTI",
            "HGET h a",
            "EXEC",
            "WATCH z",
            "ZINCRBY z 0 m",
            "MULTI",
            "ZSCORE z m",
            "EXEC",
            "WATCH z",
            "ZADD z 5 m",
            "MULTI",
            "ZSCORE z m",
            "EXEC",
        ],
    );
}

#[test]
fn empty_collections_are_removed() {
    let pair = Pair::start();
    same_in_both_versions(
        &pair,
        &[
            "HSET h a 1 b 2",
            "EXPIRE h 100",
            "HDEL h a b",
            "EXISTS h",
            "TTL h",
            "HSET h a 1",
            "TTL h",
            "SADD s a",
            "SREM s a",
            "EXISTS s",
            "ZADD z 1 a 2 b",
            "ZREM z a b",
            "EXISTS z",
            "ZADD z 1 a 2 b",
            "ZREMRANGEBYSCORE z 1 2",
            "EXISTS z",
            "DBSIZE",
        ],
    );
}

#[test]
fn info_keyspace_counts_every_type() {
    let pair = Pair::start();
    for addr in [pair.redis.addr(), pair.sessiond_addr()] {
        let mut client = Client::connect(addr);
        client.cmd("FLUSHALL");
        client.cmd("SET str v");
        client.cmd("HSET h a 1");
        client.cmd("SADD s a");
        client.cmd("ZADD z 1 a");
        client.cmd("SELECT 3");
        client.cmd("HSET h a 1");
        let info = client.cmd("INFO keyspace").text();
        assert!(
            info.contains("db0:keys=4,") && info.contains("db3:keys=1,"),
            "{addr}: {info}"
        );
    }
}

/// The first `count` fields of the array at `position` in `COMMAND <sub> <name>`'s reply.
fn entry(addr: SocketAddr, sub: &str, name: &str, position: usize, count: usize) -> Vec<Reply> {
    let reply = Client::connect(addr).call(&[b"COMMAND", sub.as_bytes(), name.as_bytes()]);
    match &reply {
        Reply::Array(items) => match items.get(position) {
            Some(Reply::Array(fields)) => fields[..count].to_vec(),
            _ => panic!("COMMAND {sub} {name}: {reply:?}"),
        },
        _ => panic!("COMMAND {sub} {name}: {reply:?}"),
    }
}

#[test]
fn command_info_is_redis_7_0s() {
    let pair = Pair::start();
    for name in [
        "hset",
        "hmset",
        "hsetnx",
        "hget",
        "hmget",
        "hgetall",
        "hdel",
        "hexists",
        "hlen",
        "hincrby",
        "hincrbyfloat",
        "hkeys",
        "hvals",
        "hstrlen",
        "sadd",
        "srem",
        "smembers",
        "sismember",
        "smismember",
        "scard",
        "zadd",
        "zrem",
        "zrangebyscore",
        "zrevrangebyscore",
        "zrange",
        "zrevrange",
        "zscore",
        "zmscore",
        "zcard",
        "zcount",
        "zremrangebyscore",
        "zincrby",
        "zrangebylex",
        "zrevrangebylex",
    ] {
        // Name, arity, flags, key positions and ACL categories; sessiond has no key specs
        // or tips.
        let info = |addr| entry(addr, "INFO", name, 0, 7);
        assert_eq!(
            info(pair.sessiond_addr()),
            info(pair.redis.addr()),
            "COMMAND INFO {name}"
        );
        // COMMAND DOCS: summary, since and group, as Redis 7.0 has them.
        let docs = |addr| entry(addr, "DOCS", name, 1, 6);
        assert_eq!(
            docs(pair.sessiond_addr()),
            docs(pair.redis.addr()),
            "COMMAND DOCS {name}"
        );
    }
}

/// Spring Session Data Redis (`RedisIndexedSessionRepository` with the sorted-set expiration
/// store, over Lettuce, which starts with `HELLO 3`): create a session, save a change, look
/// it up by principal, find expired sessions, change the session id, delete it.
#[test]
fn spring_session_sequence_answers_as_redis() {
    let pair = Pair::start();
    let session = b"spring:session:sessions:7e8383a4-082c-4ffe-a4bc-c40fd3363c5e";
    let renamed = b"spring:session:sessions:1f5b2c8e-4f0b-4a3e-9a57-2d7c6d1d9e11";
    let shadow = b"spring:session:sessions:expires:7e8383a4-082c-4ffe-a4bc-c40fd3363c5e";
    let shadow_renamed = b"spring:session:sessions:expires:1f5b2c8e-4f0b-4a3e-9a57-2d7c6d1d9e11";
    let index = b"spring:session:index:org.springframework.session.\
FindByIndexNameSessionRepository.PRINCIPAL_NAME_INDEX_NAME:alice";
    let bucket = b"spring:session:expirations:1700000040000";
    let next_bucket = b"spring:session:expirations:1700000100000";
    let expirations = b"spring:session:sessions:expirations";
    let id = b"7e8383a4-082c-4ffe-a4bc-c40fd3363c5e";
    let new_id = b"1f5b2c8e-4f0b-4a3e-9a57-2d7c6d1d9e11";
    // Java-serialized attribute values, as Spring's JdkSerializationRedisSerializer writes.
    let long_1: &[u8] = b"\xac\xed\x00\x05sr\x00\x0ejava.lang.Long;\x8b\xe4\x90\xcc\x8f#\xdf\x02\
\x00\x01J\x00\x05valuexr\x00\x10java.lang.Number\x86\xac\x95\x1d\x0b\x94\xe0\x8b\x02\x00\x00xp\
\x00\x00\x01\x8b\xcf\xe5\x02\x00";
    let long_2: &[u8] = b"\xac\xed\x00\x05sr\x00\x0ejava.lang.Long;\x8b\xe4\x90\xcc\x8f#\xdf\x02\
\x00\x01J\x00\x05valuexr\x00\x10java.lang.Number\x86\xac\x95\x1d\x0b\x94\xe0\x8b\x02\x00\x00xp\
\x00\x00\x01\x8b\xcf\xe5\xeb\x60";
    let interval: &[u8] = b"\xac\xed\x00\x05sr\x00\x11java.lang.Integer\x12\xe2\xa0\xa4\xf7\x81\
\x878\x02\x00\x01I\x00\x05valuexr\x00\x10java.lang.Number\x86\xac\x95\x1d\x0b\x94\xe0\x8b\x02\
\x00\x00xp\x00\x00\x07\x08";
    let user: &[u8] = b"\xac\xed\x00\x05t\x00\x05alice";
    let cart: &[u8] = b"\xac\xed\x00\x05t\x00\x0c3 items\r\n\x00end";
    let far_future = b"4102444800000";
    same_args_in_both_versions(
        &pair,
        &[
            // Start-up: keyspace events for expiry.
            args(&[b"CONFIG", b"GET", b"notify-keyspace-events"]),
            args(&[b"CONFIG", b"SET", b"notify-keyspace-events", b"Egx"]),
            // Creating a session.
            args(&[
                b"HMSET",
                session,
                b"creationTime",
                long_1,
                b"lastAccessedTime",
                long_1,
                b"maxInactiveInterval",
                interval,
                b"sessionAttr:org.springframework.session.FindByIndexNameSessionRepository.PRINCIPAL_NAME_INDEX_NAME",
                user,
            ]),
            args(&[b"APPEND", shadow, b""]),
            args(&[b"PEXPIRE", shadow, b"1800000"]),
            args(&[b"SADD", bucket, b"expires:7e8383a4-082c-4ffe-a4bc-c40fd3363c5e"]),
            args(&[b"PEXPIRE", bucket, b"2100000"]),
            args(&[b"PEXPIREAT", session, far_future]),
            args(&[b"SADD", index, id]),
            args(&[b"ZADD", expirations, b"1700000040000", id]),
            // Loading it on the next request, then saving the change.
            args(&[b"HGETALL", session]),
            args(&[b"EXISTS", session]),
            args(&[
                b"HMSET",
                session,
                b"lastAccessedTime",
                long_2,
                b"sessionAttr:cart",
                cart,
            ]),
            args(&[b"SREM", bucket, b"expires:7e8383a4-082c-4ffe-a4bc-c40fd3363c5e"]),
            args(&[b"SADD", next_bucket, b"expires:7e8383a4-082c-4ffe-a4bc-c40fd3363c5e"]),
            args(&[b"PEXPIRE", next_bucket, b"2100000"]),
            args(&[b"ZADD", expirations, b"1700000100000", id]),
            args(&[b"ZADD", expirations, b"1700000010000", b"expired-one"]),
            args(&[b"HGETALL", session]),
            args(&[b"TYPE", session]),
            // Finding sessions by principal.
            args(&[b"SMEMBERS", index]),
            // The cleanup task: sessions whose expiry passed, then each one checked.
            args(&[
                b"ZREVRANGEBYSCORE",
                expirations,
                b"1700000050000",
                b"-inf",
                b"LIMIT",
                b"0",
                b"100",
            ]),
            args(&[b"EXISTS", b"spring:session:sessions:expired-one"]),
            args(&[b"ZREM", expirations, b"expired-one"]),
            args(&[b"SMEMBERS", bucket]),
            args(&[b"DEL", bucket]),
            // Changing the session id (after login).
            args(&[b"RENAME", session, renamed]),
            args(&[b"RENAME", shadow, shadow_renamed]),
            args(&[b"RENAME", shadow, shadow_renamed]),
            args(&[b"SREM", index, id]),
            args(&[b"SADD", index, new_id]),
            args(&[b"ZREM", expirations, id]),
            args(&[b"ZADD", expirations, b"1700000100000", new_id]),
            args(&[b"HGETALL", renamed]),
            args(&[b"HGETALL", session]),
            args(&[b"EXISTS", session, renamed]),
            args(&[b"SMEMBERS", index]),
            args(&[
                b"ZRANGE",
                expirations,
                b"0",
                b"-1",
                b"WITHSCORES",
            ]),
            // Invalidating it.
            args(&[b"DEL", renamed, shadow_renamed]),
            args(&[b"SREM", index, new_id]),
            args(&[b"ZREM", expirations, new_id]),
            args(&[b"HGETALL", renamed]),
            args(&[b"SMEMBERS", index]),
            args(&[b"EXISTS", index, expirations]),
        ],
    );
}

/// `CLIENT LIST` shows a connection in a `MULTI` as Redis does: flag `x` and the number of
/// commands queued, back to `N` and -1 after `EXEC`.
#[test]
fn client_list_shows_a_transaction_under_way() {
    let pair = Pair::start();
    for addr in [pair.redis.addr(), pair.sessiond_addr()] {
        let mut client = Client::connect(addr);
        let mut observer = Client::connect(addr);
        client.cmd("CLIENT SETNAME in-multi");
        let mut line = || {
            let list = observer.cmd("CLIENT LIST").text();
            let line = list.lines().find(|line| line.contains(" name=in-multi "));
            line.unwrap_or_default().to_owned()
        };
        let idle = line();
        assert!(
            idle.contains(" flags=N ") && idle.contains(" multi=-1 "),
            "{addr}: {idle}"
        );
        client.cmd("MULTI");
        client.cmd("SET a 1");
        client.cmd("GET a");
        let queued = line();
        assert!(
            queued.contains(" flags=x ") && queued.contains(" multi=2 "),
            "{addr}: {queued}"
        );
        client.cmd("EXEC");
        let done = line();
        assert!(
            done.contains(" flags=N ") && done.contains(" multi=-1 "),
            "{addr}: {done}"
        );
    }
}
