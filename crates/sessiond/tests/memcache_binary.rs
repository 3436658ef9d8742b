//! Loopback transcripts of the memcached binary protocol: every request is sent byte for byte
//! to sessiond and to the real memcached (1.6.18, `/usr/bin/memcached`), and the replies must
//! be the same bytes once what must differ is normalised:
//! - CAS values: each distinct value is replaced by the order of its first appearance;
//! - the VERSION body;
//! - STAT: the general and `settings` groups list different figures, so only their shape is
//!   compared.
//!
//! A missing memcached fails these tests; it never skips them.

mod support;

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::thread;
use std::time::Duration;

use support::{
    Memcached, Server, binary_terminator, connect, escape, exchange, exchange_until_close,
};

const GET: u8 = 0x00;
const SET: u8 = 0x01;
const ADD: u8 = 0x02;
const REPLACE: u8 = 0x03;
const DELETE: u8 = 0x04;
const INCREMENT: u8 = 0x05;
const DECREMENT: u8 = 0x06;
const QUIT: u8 = 0x07;
const FLUSH: u8 = 0x08;
const GETQ: u8 = 0x09;
const NOOP: u8 = 0x0a;
const VERSION: u8 = 0x0b;
const GETK: u8 = 0x0c;
const GETKQ: u8 = 0x0d;
const APPEND: u8 = 0x0e;
const PREPEND: u8 = 0x0f;
const STAT: u8 = 0x10;
const SETQ: u8 = 0x11;
const ADDQ: u8 = 0x12;
const REPLACEQ: u8 = 0x13;
const DELETEQ: u8 = 0x14;
const INCREMENTQ: u8 = 0x15;
const DECREMENTQ: u8 = 0x16;
const QUITQ: u8 = 0x17;
const FLUSHQ: u8 = 0x18;
const APPENDQ: u8 = 0x19;
const PREPENDQ: u8 = 0x1a;
const VERBOSITY: u8 = 0x1b;
const TOUCH: u8 = 0x1c;
const GAT: u8 = 0x1d;
const GATQ: u8 = 0x1e;
const SASL_LIST_MECHS: u8 = 0x20;
const SASL_AUTH: u8 = 0x21;
const SASL_STEP: u8 = 0x22;
const GATK: u8 = 0x23;
const GATKQ: u8 = 0x24;

// ---------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------

/// A request packet; `body_len` overrides the true body length when given.
fn packet(
    opcode: u8,
    key: &[u8],
    extras: &[u8],
    value: &[u8],
    opaque: u32,
    cas: u64,
    body_len: Option<u32>,
) -> Vec<u8> {
    let body = body_len.unwrap_or((key.len() + extras.len() + value.len()) as u32);
    let mut bytes = vec![0x80, opcode];
    bytes.extend_from_slice(&(key.len() as u16).to_be_bytes());
    bytes.push(extras.len() as u8);
    bytes.extend_from_slice(&[0, 0, 0]);
    bytes.extend_from_slice(&body.to_be_bytes());
    bytes.extend_from_slice(&opaque.to_be_bytes());
    bytes.extend_from_slice(&cas.to_be_bytes());
    bytes.extend_from_slice(extras);
    bytes.extend_from_slice(key);
    bytes.extend_from_slice(value);
    bytes
}

/// A request with nothing but a header.
fn bare(opcode: u8, opaque: u32) -> Vec<u8> {
    packet(opcode, b"", b"", b"", opaque, 0, None)
}

/// A key-only request (GET family, DELETE).
fn keyed(opcode: u8, key: &str, opaque: u32) -> Vec<u8> {
    packet(opcode, key.as_bytes(), b"", b"", opaque, 0, None)
}

/// SET, ADD or REPLACE (or a quiet form) with flags and expiration.
fn store(opcode: u8, key: &str, flags: u32, exptime: u32, value: &[u8], opaque: u32) -> Vec<u8> {
    store_cas(opcode, key, flags, exptime, value, opaque, 0)
}

fn store_cas(
    opcode: u8,
    key: &str,
    flags: u32,
    exptime: u32,
    value: &[u8],
    opaque: u32,
    cas: u64,
) -> Vec<u8> {
    let extras = [flags.to_be_bytes(), exptime.to_be_bytes()].concat();
    packet(opcode, key.as_bytes(), &extras, value, opaque, cas, None)
}

/// APPEND or PREPEND (or a quiet form).
fn concat(opcode: u8, key: &str, value: &[u8], opaque: u32) -> Vec<u8> {
    packet(opcode, key.as_bytes(), b"", value, opaque, 0, None)
}

/// TOUCH or a GAT form.
fn touch(opcode: u8, key: &str, exptime: u32, opaque: u32) -> Vec<u8> {
    packet(
        opcode,
        key.as_bytes(),
        &exptime.to_be_bytes(),
        b"",
        opaque,
        0,
        None,
    )
}

/// INCREMENT or DECREMENT (or a quiet form).
fn arith(opcode: u8, key: &str, delta: u64, initial: u64, exptime: u32, opaque: u32) -> Vec<u8> {
    let extras = [
        &delta.to_be_bytes()[..],
        &initial.to_be_bytes()[..],
        &exptime.to_be_bytes()[..],
    ]
    .concat();
    packet(opcode, key.as_bytes(), &extras, b"", opaque, 0, None)
}

// ---------------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------------

/// A response, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Reply {
    opcode: u8,
    status: u16,
    extras: Vec<u8>,
    key: Vec<u8>,
    value: Vec<u8>,
    opaque: u32,
    cas: u64,
}

/// Decodes whole responses; whatever does not parse is returned as the remainder.
fn parse(mut bytes: &[u8]) -> (Vec<Reply>, Vec<u8>) {
    let mut replies = Vec::new();
    while bytes.len() >= 24 && bytes[0] == 0x81 {
        let key_len = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        let extras_len = usize::from(bytes[4]);
        let body_len = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
        if key_len + extras_len > body_len || bytes.len() < 24 + body_len {
            break;
        }
        let body = &bytes[24..24 + body_len];
        replies.push(Reply {
            opcode: bytes[1],
            status: u16::from_be_bytes([bytes[6], bytes[7]]),
            extras: body[..extras_len].to_vec(),
            key: body[extras_len..extras_len + key_len].to_vec(),
            value: body[extras_len + key_len..].to_vec(),
            opaque: u32::from_be_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]),
            cas: u64::from_be_bytes(bytes[16..24].try_into().unwrap()),
        });
        bytes = &bytes[24 + body_len..];
    }
    (replies, bytes.to_vec())
}

/// One line per reply, with what must differ between the servers normalised: CAS values
/// become their order of first appearance, the VERSION body a placeholder. The whole header
/// is shown (data type included), so equal lines mean equal bytes up to normalisation.
fn normalise(bytes: &[u8]) -> Vec<String> {
    let mut order: HashMap<u64, usize> = HashMap::new();
    let (replies, rest) = parse(bytes);
    let mut lines: Vec<String> = replies
        .iter()
        .map(|reply| {
            let cas = match reply.cas {
                0 => 0,
                cas => {
                    let next = order.len() + 1;
                    *order.entry(cas).or_insert(next)
                }
            };
            let value = if reply.opcode == VERSION && reply.status == 0 {
                "<version>".to_string()
            } else {
                escape(&reply.value)
            };
            format!(
                "op={:#04x} status={:#06x} extras={} key={} value={} opaque={:#x} cas=#{cas}",
                reply.opcode,
                reply.status,
                escape(&reply.extras),
                escape(&reply.key),
                value,
                reply.opaque,
            )
        })
        .collect();
    if !rest.is_empty() {
        lines.push(format!("unparsed: {}", escape(&rest)));
    }
    lines
}

// ---------------------------------------------------------------------------------------
// Both servers
// ---------------------------------------------------------------------------------------

/// sessiond and memcached side by side.
struct Pair {
    sessiond: Server,
    memcached: Memcached,
}

impl Pair {
    fn start() -> Pair {
        Pair::start_with(&[], &[])
    }

    fn start_with(sessiond_args: &[&str], memcached_args: &[&str]) -> Pair {
        Pair {
            memcached: Memcached::start_with(memcached_args),
            sessiond: Server::start_with(sessiond_args),
        }
    }

    fn addrs(&self) -> [(&'static str, SocketAddr); 2] {
        [
            ("sessiond", self.sessiond.memcache_addr()),
            ("memcached", self.memcached.addr()),
        ]
    }

    /// Sends `request` (then the NOOP terminator) to both on fresh connections and asserts the
    /// normalised replies are equal; returns sessiond's.
    fn same(&self, name: &str, request: &[u8]) -> Vec<Reply> {
        self.same_built(name, |_| request.to_vec())
    }

    /// As `same`, with the request built for each server (to use its own CAS values).
    fn same_built(&self, name: &str, build: impl Fn(SocketAddr) -> Vec<u8>) -> Vec<Reply> {
        parse(&self.same_bytes(name, |addr| exchange(addr, &build(addr), false))).0
    }

    /// Sends `request` to both and reads until each closes the connection.
    fn same_until_close(&self, name: &str, request: &[u8]) -> Vec<Reply> {
        parse(&self.same_bytes(name, |addr| exchange_until_close(addr, request))).0
    }

    /// Sends `request` in writes of `piece` bytes, pausing between them so each arrives on its
    /// own, then the terminator; compares the replies.
    fn same_in_pieces(&self, name: &str, request: &[u8], piece: usize) {
        self.same_bytes(name, |addr| exchange_in_pieces(addr, request, piece));
    }

    /// Runs `exchange` against sessiond, then memcached, and asserts the replies are equal;
    /// returns sessiond's bytes.
    fn same_bytes(&self, name: &str, exchange: impl Fn(SocketAddr) -> Vec<u8>) -> Vec<u8> {
        let [(_, ours), (_, theirs)] = self.addrs();
        let got = exchange(ours);
        let want = exchange(theirs);
        compare(name, &got, &want);
        got
    }
}

/// Asserts sessiond's reply bytes equal memcached's up to normalisation. With
/// `SHOW_TRANSCRIPTS` set, prints them too.
fn compare(name: &str, got: &[u8], want: &[u8]) {
    let (got, want) = (normalise(got), normalise(want));
    if std::env::var_os("SHOW_TRANSCRIPTS").is_some() {
        eprintln!("--- {name}\n{}", got.join("\n"));
    }
    assert_eq!(got, want, "{name}: sessiond (left) vs memcached (right)");
}

/// The CAS of `key` on the server at `addr`.
fn cas_of(addr: SocketAddr, key: &str) -> u64 {
    let (replies, _) = parse(&exchange(addr, &keyed(GETK, key, 0), false));
    assert_eq!(replies.len(), 1, "GETK {key} on {addr}");
    replies[0].cas
}

/// Like `support::exchange` for binary, but writing the request in pieces.
fn exchange_in_pieces(addr: SocketAddr, request: &[u8], piece: usize) -> Vec<u8> {
    let mut stream = connect(addr);
    for chunk in request.chunks(piece.max(1)) {
        stream.write_all(chunk).unwrap();
        stream.flush().unwrap();
        thread::sleep(Duration::from_millis(2));
    }
    stream.write_all(&binary_terminator()).unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let (replies, _) = parse(&received);
        let terminator = replies
            .iter()
            .position(|r| r.opcode == NOOP && r.opaque == 0xDEAD_BEEF);
        if let Some(at) = terminator {
            let end: usize = replies[..at]
                .iter()
                .map(|r| 24 + r.extras.len() + r.key.len() + r.value.len())
                .sum();
            received.truncate(end);
            return received;
        }
        match stream.read(&mut buf) {
            Ok(0) => panic!("{addr} closed early; received {}", escape(&received)),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("reading from {addr}: {e}; received {}", escape(&received)),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Transcripts
// ---------------------------------------------------------------------------------------

/// php-memcached's session handler, exactly as the client trace records it.
#[test]
fn php_memcached_session_handler() {
    let pair = Pair::start();
    let sid = "memc.sess.key.0123456789abcdefghijklmnop";
    let lock = "memc.sess.key.lock.0123456789abcdefghijklmnop";
    let data1 = b"x|i:1;user|s:5:\"alice\";";
    let data2 = b"x|i:2;user|s:5:\"alice\";held|i:1;";
    let add_lock = |opaque| store(ADD, lock, 0, 30, b"1", opaque);
    // A request after the first: lock, read, `step` (write, touch or destroy), unlock, quit.
    let locked_request = |step: Vec<u8>| {
        [
            add_lock(1),
            keyed(GETK, sid, 2),
            step,
            keyed(DELETE, lock, 4),
            bare(QUIT, 5),
        ]
        .concat()
    };

    // New session: create it, lock, read, write, unlock, quit.
    let replies = pair.same_until_close(
        "new session",
        &[
            store(ADD, sid, 0, 30, b"", 1),
            add_lock(2),
            keyed(GETK, sid, 3),
            store(SET, sid, 0, 1440, data1, 4),
            keyed(DELETE, lock, 5),
            bare(QUIT, 6),
        ]
        .concat(),
    );
    assert!(replies.iter().all(|r| r.status == 0), "{replies:?}");

    // Read-only request with lazy write: TOUCH instead of SET.
    let replies = pair.same_until_close("read", &locked_request(touch(TOUCH, sid, 1440, 3)));
    assert_eq!(replies[1].value, data1);

    // Lock contention: one request holds the lock while another retries ADD.
    pair.same(
        "hold the lock",
        &[add_lock(1), keyed(GETK, sid, 2)].concat(),
    );
    pair.same("contend", &[add_lock(1), add_lock(2)].concat());
    pair.same_until_close(
        "write and release",
        &[
            store(SET, sid, 0, 1440, data2, 1),
            keyed(DELETE, lock, 2),
            bare(QUIT, 3),
        ]
        .concat(),
    );
    let replies = pair.same_until_close(
        "acquire after release",
        &locked_request(touch(TOUCH, sid, 1440, 3)),
    );
    assert_eq!(replies[1].value, data2);

    // Regenerate and destroy: delete the session and its lock; the next read misses.
    pair.same_until_close("destroy", &locked_request(keyed(DELETE, sid, 3)));
    let replies = pair.same_until_close(
        "read destroyed",
        &locked_request(store(SET, sid, 0, 1440, b"", 3)),
    );
    assert_eq!(replies[1].status, 1);

    // Strict mode: the existence probe stores with 31 days, an absolute time long past.
    let unknown = "memc.sess.key.unknown0000000000000000000";
    pair.same_until_close(
        "strict mode probe",
        &[
            store(ADD, unknown, 0, 2_678_400, b"", 1),
            keyed(GETK, unknown, 2),
            bare(QUIT, 3),
        ]
        .concat(),
    );
}

#[test]
fn retrieval_and_touch() {
    let pair = Pair::start();
    pair.same(
        "setup",
        &[
            store(SET, "r:a", 0xdead_beef, 0, b"alpha", 1),
            store(SET, "r:e", 0, 0, b"", 2),
        ]
        .concat(),
    );
    for (name, op) in [
        ("GET", GET),
        ("GETQ", GETQ),
        ("GETK", GETK),
        ("GETKQ", GETKQ),
    ] {
        pair.same(
            name,
            &[
                keyed(op, "r:a", 1),
                keyed(op, "r:e", 2),
                keyed(op, "r:missing", 3),
                bare(NOOP, 4),
            ]
            .concat(),
        );
    }
    for (name, op) in [
        ("GAT", GAT),
        ("GATQ", GATQ),
        ("GATK", GATK),
        ("GATKQ", GATKQ),
        ("TOUCH", TOUCH),
    ] {
        pair.same(
            name,
            &[
                touch(op, "r:a", 3600, 1),
                touch(op, "r:missing", 10, 2),
                bare(NOOP, 3),
            ]
            .concat(),
        );
    }
    // A touch into the past ends the item.
    pair.same(
        "touch into the past",
        &[touch(TOUCH, "r:e", 1_000_000_000, 1), keyed(GET, "r:e", 2)].concat(),
    );
    // Stray body bytes after a TOUCH are read as the next request.
    pair.same(
        "touch with trailing body",
        &packet(
            TOUCH,
            b"r:a",
            &0u32.to_be_bytes(),
            &bare(NOOP, 9),
            1,
            0,
            None,
        ),
    );
}

#[test]
fn storage_commands() {
    let pair = Pair::start();
    pair.same(
        "set add replace",
        &[
            store(ADD, "s:a", 1, 0, b"one", 1),
            store(ADD, "s:a", 1, 0, b"two", 2),
            store(REPLACE, "s:missing", 1, 0, b"x", 3),
            store(REPLACE, "s:a", 2, 0, b"three", 4),
            store(SET, "s:b", 3, 3600, b"bee", 5),
            keyed(GETK, "s:a", 6),
            keyed(GETK, "s:b", 7),
        ]
        .concat(),
    );
    pair.same(
        "append prepend",
        &[
            concat(APPEND, "s:a", b"-tail", 1),
            concat(PREPEND, "s:a", b"head-", 2),
            concat(APPEND, "s:missing", b"x", 3),
            concat(PREPEND, "s:missing", b"x", 4),
            keyed(GET, "s:a", 5),
        ]
        .concat(),
    );
    pair.same(
        "quiet stores",
        &[
            store(SETQ, "s:q", 0, 0, b"q", 1),
            store(ADDQ, "s:q", 0, 0, b"q", 2),
            store(ADDQ, "s:q2", 0, 0, b"q", 3),
            store(REPLACEQ, "s:q", 0, 0, b"r", 4),
            store(REPLACEQ, "s:missing", 0, 0, b"r", 5),
            concat(APPENDQ, "s:q", b"+", 6),
            concat(PREPENDQ, "s:q", b"+", 7),
            concat(APPENDQ, "s:missing", b"+", 8),
            concat(PREPENDQ, "s:missing", b"+", 9),
            keyed(GETK, "s:q", 10),
            bare(NOOP, 11),
        ]
        .concat(),
    );
    pair.same(
        "expired at once",
        &[
            store(SET, "s:past", 0, 2_678_400, b"gone", 1),
            keyed(GET, "s:past", 2),
            store(ADD, "s:past", 0, 0, b"back", 3),
        ]
        .concat(),
    );
    pair.same(
        "binary values",
        &[
            store(SET, "s:bin", 7, 0, &(0..=255).collect::<Vec<u8>>(), 1),
            keyed(GETK, "s:bin", 2),
        ]
        .concat(),
    );
}

#[test]
fn compare_and_swap() {
    let pair = Pair::start();
    pair.same(
        "setup",
        &[
            store(SET, "c:a", 0, 0, b"v", 1),
            store(SET, "c:n", 0, 0, b"5", 2),
        ]
        .concat(),
    );
    pair.same(
        "wrong versions",
        &[
            store_cas(SET, "c:a", 0, 0, b"x", 1, 0xffff_ffff_ffff),
            store_cas(SET, "c:missing", 0, 0, b"x", 2, 1),
            store_cas(ADD, "c:missing", 0, 0, b"x", 3, 1),
            store_cas(REPLACE, "c:missing", 0, 0, b"x", 4, 1),
            packet(APPEND, b"c:missing", b"", b"x", 5, 1, None),
            packet(APPEND, b"c:a", b"", b"x", 6, 0xffff_ffff_ffff, None),
            packet(DELETE, b"c:a", b"", b"", 7, 0xffff_ffff_ffff, None),
            keyed(GET, "c:a", 8),
        ]
        .concat(),
    );
    for (name, op) in [("SET", SET), ("ADD", ADD), ("REPLACE", REPLACE)] {
        pair.same_built(&format!("{name} with the right version"), |addr| {
            let cas = cas_of(addr, "c:a");
            [
                store_cas(op, "c:a", 9, 0, name.as_bytes(), 1, cas),
                keyed(GETK, "c:a", 2),
            ]
            .concat()
        });
    }
    pair.same_built("APPEND with the right version", |addr| {
        let cas = cas_of(addr, "c:a");
        [
            packet(APPEND, b"c:a", b"", b"+", 1, cas, None),
            keyed(GETK, "c:a", 2),
        ]
        .concat()
    });
    pair.same_built("INCREMENT with the right version", |addr| {
        let cas = cas_of(addr, "c:n");
        let mut incr = arith(INCREMENT, "c:n", 1, 0, 0, 2);
        incr[16..24].copy_from_slice(&cas.to_be_bytes());
        [incr, keyed(GETK, "c:n", 3)].concat()
    });
    pair.same_built("DELETE with the right version", |addr| {
        let cas = cas_of(addr, "c:a");
        [
            packet(DELETE, b"c:a", b"", b"", 1, cas, None),
            keyed(GET, "c:a", 2),
        ]
        .concat()
    });
}

#[test]
fn delete_and_arithmetic() {
    let pair = Pair::start();
    pair.same(
        "delete",
        &[
            store(SET, "d:a", 0, 0, b"v", 1),
            store(SET, "d:b", 0, 0, b"v", 2),
            keyed(DELETE, "d:a", 3),
            keyed(DELETE, "d:a", 4),
            keyed(DELETEQ, "d:b", 5),
            keyed(DELETEQ, "d:b", 6),
            bare(NOOP, 7),
        ]
        .concat(),
    );
    pair.same(
        "increment and decrement",
        &[
            arith(INCREMENT, "a:n", 5, 10, 0, 1),
            arith(INCREMENT, "a:n", 5, 10, 0, 2),
            arith(DECREMENT, "a:n", 100, 0, 0, 3),
            arith(INCREMENTQ, "a:n", 7, 0, 0, 4),
            arith(DECREMENTQ, "a:n", 2, 0, 0, 5),
            keyed(GETK, "a:n", 6),
            arith(INCREMENT, "a:miss", 1, 0, 0xffff_ffff, 7),
            arith(DECREMENTQ, "a:miss", 1, 0, 0xffff_ffff, 8),
            arith(DECREMENT, "a:new", 1, 42, 3600, 9),
            keyed(GETK, "a:new", 10),
            bare(NOOP, 11),
        ]
        .concat(),
    );
    pair.same(
        "counter edge cases",
        &[
            store(SET, "a:max", 0, 0, b"18446744073709551615", 1),
            arith(INCREMENT, "a:max", 2, 0, 0, 2),
            keyed(GET, "a:max", 3),
            store(SET, "a:text", 0, 0, b"abc", 4),
            arith(INCREMENT, "a:text", 1, 0, 0, 5),
            arith(INCREMENTQ, "a:text", 1, 0, 0, 6),
            store(SET, "a:empty", 0, 0, b"", 7),
            arith(DECREMENT, "a:empty", 1, 0, 0, 8),
            bare(NOOP, 9),
        ]
        .concat(),
    );
}

#[test]
fn misc_commands() {
    let pair = Pair::start();
    pair.same(
        "noop and version",
        &[bare(NOOP, 1), bare(VERSION, 2), bare(NOOP, 3)].concat(),
    );
    pair.same_until_close("quit", &[bare(QUIT, 1), bare(NOOP, 2)].concat());
    pair.same_until_close("quitq", &[bare(QUITQ, 1), bare(NOOP, 2)].concat());
    pair.same(
        "flush",
        &[
            store(SET, "f:a", 0, 0, b"v", 1),
            bare(FLUSH, 2),
            keyed(GET, "f:a", 3),
            store(SET, "f:b", 0, 0, b"v", 4),
            bare(FLUSHQ, 5),
            keyed(GET, "f:b", 6),
            store(SET, "f:c", 0, 0, b"v", 7),
            packet(FLUSH, b"", &3600u32.to_be_bytes(), b"", 8, 0, None),
            keyed(GET, "f:c", 9),
            packet(FLUSHQ, b"", &0u32.to_be_bytes(), b"", 10, 0, None),
            keyed(GET, "f:c", 11),
        ]
        .concat(),
    );
    pair.same(
        "stat groups answered alike",
        &[
            keyed(STAT, "detail dump", 1),
            keyed(STAT, "reset", 2),
            keyed(STAT, "sizes", 3),
            keyed(STAT, "detail on", 4),
            keyed(STAT, "detail off", 5),
            keyed(STAT, "bogus", 6),
            keyed(STAT, "detailx", 7),
        ]
        .concat(),
    );
    // The general and settings groups list different figures: compare their shape.
    for group in ["", "settings"] {
        let [(_, ours), (_, theirs)] = pair.addrs();
        for addr in [ours, theirs] {
            let (replies, rest) = parse(&exchange(addr, &keyed(STAT, group, 0x55), false));
            assert!(rest.is_empty(), "STAT {group:?} from {addr}");
            let (last, stats) = replies.split_last().expect("a terminator");
            assert_eq!(
                last.key.len() + last.value.len(),
                0,
                "STAT {group:?} from {addr}"
            );
            assert!(!stats.is_empty(), "STAT {group:?} from {addr}");
            for reply in &replies {
                assert_eq!(
                    (reply.opcode, reply.status, reply.opaque, reply.cas),
                    (STAT, 0, 0x55, 0)
                );
                assert!(reply.extras.is_empty());
            }
            if group.is_empty() {
                let names: Vec<&[u8]> = stats.iter().map(|r| &r.key[..]).collect();
                for name in [
                    &b"pid"[..],
                    b"uptime",
                    b"version",
                    b"curr_items",
                    b"cmd_get",
                ] {
                    assert!(
                        names.contains(&name),
                        "STAT from {addr} lacks {}",
                        escape(name)
                    );
                }
            }
        }
    }
}

#[test]
fn unknown_commands_and_sasl() {
    let pair = Pair::start();
    pair.same(
        "unknown opcodes",
        &[bare(0x1f, 1), bare(0x25, 2), bare(0x7f, 3), bare(0xff, 4)].concat(),
    );
    // memcached discards `body length` bytes counted from the end of the key or extras.
    pair.same(
        "VERBOSITY eats four bytes past itself",
        &[
            packet(VERBOSITY, b"", &1u32.to_be_bytes(), b"", 1, 0, None),
            b"xxxx".to_vec(),
        ]
        .concat(),
    );
    pair.same(
        "unknown with a key",
        &[packet(0x40, b"abc", b"", b"", 1, 0, None), b"yyy".to_vec()].concat(),
    );
    pair.same(
        "unknown with a body",
        &packet(0x41, b"", b"", b"some body", 1, 0, None),
    );
    pair.same(
        "SASL without SASL",
        &[
            bare(SASL_LIST_MECHS, 1),
            packet(SASL_AUTH, b"PLAIN", b"", b"\0user\0password", 2, 0, None),
            packet(SASL_STEP, b"PLAIN", b"", b"", 3, 0, None),
        ]
        .concat(),
    );
}

#[test]
fn malformed_requests() {
    let pair = Pair::start();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "GET with extras",
            packet(GET, b"k", &[0; 4], b"", 1, 0, None),
        ),
        ("GET without key", bare(GET, 1)),
        (
            "GETK with a value",
            packet(GETK, b"k", b"", b"v", 1, 0, None),
        ),
        (
            "SET with 4 bytes of extras",
            packet(SET, b"k", &[0; 4], b"v", 1, 0, None),
        ),
        (
            "SET without key",
            packet(SET, b"", &[0; 8], b"v", 1, 0, None),
        ),
        (
            "APPEND with extras",
            packet(APPEND, b"k", &[0; 4], b"v", 1, 0, None),
        ),
        (
            "DELETE with extras",
            packet(DELETE, b"k", &[0; 4], b"", 1, 0, None),
        ),
        (
            "DELETE with a value",
            packet(DELETEQ, b"k", b"", b"v", 1, 0, None),
        ),
        (
            "INCREMENT with short extras",
            packet(INCREMENT, b"k", &[0; 16], b"", 1, 0, None),
        ),
        ("TOUCH without extras", keyed(TOUCH, "k", 1)),
        (
            "GAT without key",
            packet(GAT, b"", &[0; 4], b"", 1, 0, None),
        ),
        (
            "FLUSH with 8 bytes of extras",
            packet(FLUSH, b"", &[0; 8], b"", 1, 0, None),
        ),
        ("FLUSH with a key", keyed(FLUSH, "k", 1)),
        ("NOOP with a body", packet(NOOP, b"", b"", b"x", 1, 0, None)),
        ("VERSION with a key", keyed(VERSION, "k", 1)),
        ("QUIT with a body", packet(QUIT, b"", b"", b"x", 1, 0, None)),
        (
            "STAT with extras",
            packet(STAT, b"", &[0; 4], b"", 1, 0, None),
        ),
        (
            "SASL_STEP without key",
            packet(SASL_STEP, b"", b"", b"x", 1, 0, None),
        ),
        ("key of 251 bytes", keyed(GET, &"k".repeat(251), 1)),
        (
            "key of 251 bytes, unknown opcode",
            keyed(0x40, &"k".repeat(251), 1),
        ),
        (
            "key longer than the body",
            packet(GET, b"k", b"", b"", 1, 0, Some(0)),
        ),
        (
            "key and extras longer than the body",
            packet(SET, b"kk", &[0; 8], b"", 1, 0, Some(9)),
        ),
    ];
    for (name, request) in cases {
        let replies = pair.same_until_close(name, &[request, bare(NOOP, 2)].concat());
        assert_eq!(replies.len(), 1, "{name}");
    }
    pair.same("key of 250 bytes", &keyed(GET, &"k".repeat(250), 1));
    pair.same_until_close(
        "header larger than memcached's read buffer",
        &[keyed(GET, "miss", 1), keyed(GET, &"k".repeat(20_000), 2)].concat(),
    );
}

#[test]
fn wrong_magic_closes_and_drops_held_back_replies() {
    let pair = Pair::start();
    pair.same("setup", &store(SET, "m:h", 0, 0, b"v", 1));
    let hit = keyed(GET, "m:h", 7);
    let garbage = vec![0u8; 24];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("hits only", hit.repeat(3)),
        (
            "a miss writes out",
            [hit.clone(), keyed(GET, "m:miss", 1), hit.clone()].concat(),
        ),
        (
            "a NOOP writes out",
            [hit.clone(), bare(NOOP, 1), hit.clone()].concat(),
        ),
        (
            "GETK miss does not",
            [hit.clone(), keyed(GETK, "m:miss", 1), hit.clone()].concat(),
        ),
        ("21 requests", hit.repeat(21)),
        ("45 requests", hit.repeat(45)),
        (
            "a 100 KB value",
            [
                hit.clone(),
                store(SET, "m:big", 0, 0, &[b'v'; 100_000], 1),
                hit.clone(),
            ]
            .concat(),
        ),
        (
            "quiet errors",
            [hit.clone(), store(ADDQ, "m:h", 0, 0, b"v", 1), hit.clone()].concat(),
        ),
    ];
    for (name, request) in cases {
        pair.same_until_close(name, &[request, garbage.clone()].concat());
    }
}

#[test]
fn too_large_values_are_refused_and_discarded() {
    // sessiond allows 8 MiB by default and memcached 1 MiB: 9 MiB is too large for both.
    let pair = Pair::start();
    let huge = vec![b'z'; 9 << 20];
    pair.same(
        "too large",
        &[
            store(SET, "t:set", 0, 0, b"old", 1),
            store(SET, "t:add", 0, 0, b"old", 2),
            store(SET, "t:set", 0, 0, &huge, 3),
            store(ADD, "t:add", 0, 0, &huge, 4),
            store(SETQ, "t:other", 0, 0, &huge, 5),
            concat(APPENDQ, "t:add", &huge, 6),
            keyed(GET, "t:set", 7),
            keyed(GET, "t:add", 8),
        ]
        .concat(),
    );
    pair.same(
        "a body of 2 GiB or more is refused and not discarded",
        &[
            packet(SET, b"t:neg", &[0; 8], b"", 1, 0, Some(0x8000_0010)),
            bare(NOOP, 2),
        ]
        .concat(),
    );
}

#[test]
fn requests_split_across_reads() {
    let pair = Pair::start();
    let small = [
        store(SET, "p:a", 3, 0, b"alpha", 1),
        keyed(GETK, "p:a", 2),
        keyed(GETQ, "p:missing", 3),
        arith(INCREMENT, "p:n", 1, 40, 0, 4),
        touch(GAT, "p:a", 100, 5),
    ]
    .concat();
    // One byte at a time over the network is slow: the small requests only.
    pair.same_in_pieces("one byte at a time", &small, 1);
    let transcript = [
        small,
        store(SET, "p:big", 0, 0, &[b'b'; 5000], 6),
        keyed(GET, "p:big", 7),
        keyed(DELETE, "p:a", 8),
        bare(NOOP, 9),
    ]
    .concat();
    for piece in [7, 24, 1000] {
        pair.same_in_pieces(&format!("{piece}-byte writes"), &transcript, piece);
    }
}
