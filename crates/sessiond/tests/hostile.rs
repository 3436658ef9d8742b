//! Hostile input over real loopback TCP against the `sessiond` binary.
//!
//! Every case checks three things:
//! - the attacking connection gets memcached's error reply or a clean close: wherever the
//!   behaviour is memcached's, the same bytes are sent to the real memcached 1.6.18 and the
//!   transcripts must be the same (binary CAS values zeroed, as they must differ);
//! - other clients keep working during the attack (a connection opened before it stores and
//!   reads a value while the attacking connection is still open) and after it (that one and a
//!   brand-new connection);
//! - stored data is unchanged: a key stored before the attack reads back byte-identical
//!   afterwards, over the text and the binary protocol.
//!
//! Each test ends with SIGTERM and expects exit code 0. Every wait is bounded.
//!
//! A missing `/usr/bin/memcached` fails these tests; it never skips them.

mod support;

use std::io::{ErrorKind, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use support::{
    Memcached, Server, binary_request, connect, escape, exchange, exchange_on,
    exchange_until_close, parse_binary_responses, read_until_close, rss_bytes,
    try_read_until_close,
};

// Binary opcodes and statuses used here.
const GET: u8 = 0x00;
const SET: u8 = 0x01;
const DELETE: u8 = 0x04;
const INCREMENT: u8 = 0x05;
const GETQ: u8 = 0x09;
const NOOP: u8 = 0x0a;
const GETK: u8 = 0x0c;
const STATUS_OK: u16 = 0x0000;
const STATUS_E2BIG: u16 = 0x0003;

/// The key every test stores before attacking, and checks afterwards.
const CANARY_KEY: &str = "hostile:canary";
/// The scratch key the attacks write to; its state is compared with memcached's.
const SCRATCH_KEY: &str = "hostile:k";

/// How much the server's resident memory may grow while it refuses a 100 MB value.
const RSS_GROWTH_LIMIT: u64 = 60 << 20;
const HUNDRED_MB: usize = 100 << 20;

/// The canary's value: every byte value, and the byte sequences a framing bug trips over.
fn canary_value() -> Vec<u8> {
    let mut value: Vec<u8> = (0..2048u32).map(|i| (i * 7 % 256) as u8).collect();
    value.extend_from_slice(b"\r\nEND\r\nVALUE x 0 1\r\n\0\x80\x81 tail");
    value
}

fn text_set(key: &str, value: &[u8]) -> Vec<u8> {
    let mut request = format!("set {key} 0 0 {}\r\n", value.len()).into_bytes();
    request.extend_from_slice(value);
    request.extend_from_slice(b"\r\n");
    request
}

/// Zeroes the CAS field of every binary response that parses, since sessiond's CAS values
/// are its own; whatever does not parse (text replies) is left as it is.
fn without_cas(bytes: &[u8]) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    let mut at = 0;
    while at + 24 <= bytes.len() && bytes[at] == 0x81 {
        bytes[at + 16..at + 24].fill(0);
        let body = u32::from_be_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 24 + body;
    }
    bytes
}

/// Stores the canary at `addr`.
fn seed(addr: SocketAddr) {
    let reply = exchange(addr, &text_set(CANARY_KEY, &canary_value()), true);
    assert_eq!(
        escape(&reply),
        "STORED\\r\\n",
        "storing the canary at {addr}"
    );
}

/// The canary reads back byte-identical at `addr`, over text and binary.
fn assert_canary(addr: SocketAddr, after: &str) {
    let value = canary_value();
    let mut expected = format!("VALUE {CANARY_KEY} 0 {}\r\n", value.len()).into_bytes();
    expected.extend_from_slice(&value);
    expected.extend_from_slice(b"\r\nEND\r\n");
    let reply = exchange(addr, format!("get {CANARY_KEY}\r\n").as_bytes(), true);
    assert!(
        reply == expected,
        "after {after}: the canary changed at {addr} (text get): {}",
        escape(&reply)
    );

    let request = binary_request(GET, CANARY_KEY.as_bytes(), &[], &[], 7, None);
    let responses = parse_binary_responses(&exchange(addr, &request, false));
    assert!(
        responses.len() == 1 && responses[0].status == STATUS_OK && responses[0].value == value,
        "after {after}: the canary changed at {addr} (binary get): {responses:?}"
    );
}

/// A client connected before an attack, used during and after it.
struct Bystander {
    stream: TcpStream,
    tag: String,
    round: u32,
}

impl Bystander {
    fn new(addr: SocketAddr, tag: &str) -> Bystander {
        Bystander {
            stream: connect(addr),
            tag: tag.to_string(),
            round: 0,
        }
    }

    /// Stores a fresh value and reads it back.
    fn check(&mut self, context: &str) {
        self.round += 1;
        let key = format!("hostile:bystander:{}:{}", self.tag, self.round);
        let value = format!("round {} of {}, {context}", self.round, self.tag).repeat(3);
        let mut request = text_set(&key, value.as_bytes());
        request.extend_from_slice(format!("get {key}\r\n").as_bytes());
        let reply = exchange_on(&mut self.stream, &request, true);
        let expected = format!(
            "STORED\r\nVALUE {key} 0 {}\r\n{value}\r\nEND\r\n",
            value.len()
        );
        assert_eq!(
            escape(&reply),
            escape(expected.as_bytes()),
            "bystander {} failed {context}",
            self.tag
        );
    }

    /// One `stats` figure, as this connection sees it.
    fn stat(&mut self, name: &str) -> u64 {
        let reply = exchange_on(&mut self.stream, b"stats\r\n", true);
        let text = String::from_utf8_lossy(&reply).into_owned();
        text.lines()
            .find_map(|line| {
                let mut words = line.split_whitespace();
                (words.next() == Some("STAT") && words.next() == Some(name))
                    .then(|| words.next()?.parse().ok())
                    .flatten()
            })
            .unwrap_or_else(|| panic!("no STAT {name} in: {text}"))
    }

    /// Waits (bounded) until `stats` shows `name` at `want`.
    fn wait_for_stat(&mut self, name: &str, want: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.stat(name);
            if got == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "STAT {name} stayed {got}, expected {want}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A brand-new connection stores and reads a value.
fn fresh_client_works(addr: SocketAddr, context: &str) {
    Bystander::new(addr, "fresh").check(context);
}

/// How an attack's reply ends.
#[derive(Clone, Copy, Debug)]
enum Ends {
    /// The connection goes on: a terminator (`mn` or a binary NOOP) follows the request.
    Terminator { text: bool },
    /// The server closes the connection.
    Close,
}

/// A sessiond to attack, a memcached to compare with, and a bystander.
struct Scene {
    server: Server,
    memcached: Memcached,
    bystander: Bystander,
}

impl Scene {
    fn start(extra: &[&str], tag: &str) -> Scene {
        let server = Server::start_with(extra);
        let memcached = Memcached::start();
        seed(server.memcache_addr());
        seed(memcached.addr());
        let bystander = Bystander::new(server.memcache_addr(), tag);
        Scene {
            server,
            memcached,
            bystander,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.server.memcache_addr()
    }

    /// The checks after every attack: the bystander and a new client work, the canary is
    /// unchanged.
    fn after(&mut self, case: &str) {
        let context = format!("after {case}");
        self.bystander.check(&context);
        fresh_client_works(self.addr(), &context);
        assert_canary(self.addr(), case);
    }

    /// Sends `request` to sessiond, lets the bystander work while the attacking connection
    /// is open, and returns the reply.
    fn attack(&mut self, case: &str, request: &[u8], ends: Ends) -> Vec<u8> {
        let mut stream = connect(self.addr());
        match stream.write_all(request) {
            Ok(()) => {}
            // The server may hang up before it has read everything it was sent.
            Err(e)
                if matches!(ends, Ends::Close)
                    && matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) => {}
            Err(e) => panic!("{case}: writing the request: {e}"),
        }
        self.bystander.check(&format!("during {case}"));
        match ends {
            Ends::Terminator { text } => exchange_on(&mut stream, b"", text),
            Ends::Close => try_read_until_close(&mut stream).unwrap_or_else(|(e, received)| {
                panic!(
                    "{case}: sessiond did not close the connection ({e}); received {}",
                    escape(&received)
                )
            }),
        }
    }

    /// Replays `request` against sessiond and memcached; the transcripts must be the same,
    /// and so must the scratch key's state afterwards. Then the usual checks.
    fn compare(&mut self, case: &str, request: &[u8], ends: Ends) {
        let ours = self.attack(case, request, ends);
        let theirs = match ends {
            Ends::Terminator { text } => exchange(self.memcached.addr(), request, text),
            Ends::Close => exchange_until_close(self.memcached.addr(), request),
        };
        assert_eq!(
            escape(&without_cas(&ours)),
            escape(&without_cas(&theirs)),
            "{case}: sessiond (left) and memcached (right) replied differently to {}",
            escape(&request[..request.len().min(300)])
        );
        let probe = format!("get {SCRATCH_KEY}\r\n");
        assert_eq!(
            escape(&exchange(self.addr(), probe.as_bytes(), true)),
            escape(&exchange(self.memcached.addr(), probe.as_bytes(), true)),
            "after {case}: {SCRATCH_KEY} differs between sessiond (left) and memcached (right)"
        );
        assert_canary(self.memcached.addr(), case);
        self.after(case);
    }

    /// [`Scene::compare`] for each case in turn.
    fn compare_each(&mut self, cases: &[(&str, impl AsRef<[u8]>)], ends: Ends) {
        for (case, request) in cases {
            self.compare(case, request.as_ref(), ends);
        }
    }

    /// Final checks, SIGTERM, exit code 0.
    fn finish(mut self) {
        self.after("the last case");
        drop(self.bystander);
        let (status, stderr) = self.server.shutdown();
        assert!(
            status.success(),
            "sessiond exited with {status} after SIGTERM\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "sessiond panicked:\n{stderr}");
    }
}

// ---------------------------------------------------------------------------------------
// Text protocol
// ---------------------------------------------------------------------------------------

#[test]
fn malformed_command_lines_get_memcacheds_replies() {
    let mut scene = Scene::start(&[], "malformed");
    let k = SCRATCH_KEY;
    let c = CANARY_KEY;
    let cases: Vec<(&str, String)> = vec![
        ("garbage bytes", "\x01\x02\x03garbage \u{7f}\r\n".into()),
        ("unknown command", "frobnicate the key\r\n".into()),
        ("unknown single word", "hello\r\n".into()),
        ("empty line", "\r\n".into()),
        ("bare newline", "\n".into()),
        ("only spaces", "      \r\n".into()),
        ("NUL bytes", "\0\0\0\r\n".into()),
        ("set without arguments", "set\r\n".into()),
        ("set missing length", format!("set {k} 0 0\r\n")),
        ("get without key", "get\r\n".into()),
        ("incr missing delta", format!("incr {k}\r\n")),
        ("delete without key", "delete\r\n".into()),
        ("touch missing exptime", format!("touch {k}\r\n")),
        ("cas missing unique", format!("cas {k} 0 0 1\r\nx\r\n")),
        ("non-numeric flags", format!("set {k} abc 0 1\r\nx\r\n")),
        ("negative flags", format!("set {k} -1 0 1\r\nx\r\n")),
        ("non-numeric exptime", format!("set {k} 0 soon 1\r\nx\r\n")),
        ("non-numeric length", format!("set {k} 0 0 many\r\nx\r\n")),
        ("length with junk", format!("set {k} 0 0 1x\r\nx\r\n")),
        ("hex length", format!("set {k} 0 0 0x1\r\nx\r\n")),
        ("negative length", format!("set {k} 0 0 -1\r\nx\r\n")),
        (
            "too many tokens",
            format!("set {k} 0 0 1 noreply a b\r\nx\r\n"),
        ),
        (
            "non-numeric cas unique",
            format!("cas {k} 0 0 1 abc\r\nx\r\n"),
        ),
        ("non-numeric delta", format!("incr {k} abc\r\n")),
        ("flush_all with garbage delay", "flush_all soon\r\n".into()),
        ("verbosity garbage", "verbosity lots\r\n".into()),
        // Bad lines aimed at the canary must leave it alone.
        ("set canary bad flags", format!("set {c} abc 0 1\r\nx\r\n")),
        ("set canary negative length", format!("set {c} 0 0 -1\r\n")),
        ("append canary bad length", format!("append {c} 0 0 x\r\n")),
        (
            "cas canary bad unique",
            format!("cas {c} 0 0 1 notanumber\r\nx\r\n"),
        ),
        ("incr canary", format!("incr {c} 1\r\n")),
        ("delete canary with garbage", format!("delete {c} soon\r\n")),
        ("delete canary with a time", format!("delete {c} 5\r\n")),
    ];
    scene.compare_each(&cases, Ends::Terminator { text: true });
    let all: String = cases.iter().map(|(_, request)| request.as_str()).collect();
    scene.compare(
        "all malformed lines pipelined in one write",
        all.as_bytes(),
        Ends::Terminator { text: true },
    );
    scene.finish();
}

#[test]
fn bad_data_chunks_get_memcacheds_replies() {
    let mut scene = Scene::start(&[], "chunk");
    let k = SCRATCH_KEY;
    let c = CANARY_KEY;
    let cases: Vec<(&str, String)> = vec![
        (
            "value longer than announced",
            format!("set {k} 0 0 3\r\nabcde\r\n"),
        ),
        (
            "value shorter than announced",
            format!("set {k} 0 0 10\r\nabc\r\nget {k}\r\n"),
        ),
        (
            "value followed by LF only",
            format!("set {k} 0 0 3\r\nabc\nget {k}\r\n"),
        ),
        (
            "value followed by the next command",
            format!("set {k} 0 0 3\r\nabcget {k}\r\n"),
        ),
        (
            "bad chunk with noreply",
            format!("set {k} 0 0 3 noreply\r\nabcde\r\n"),
        ),
        ("meta set bad chunk", format!("ms {k} 3\r\nabcde\r\n")),
        (
            "set canary bad chunk",
            format!("set {c} 0 0 3\r\nabcde\r\n"),
        ),
        (
            "cas canary bad chunk",
            format!("cas {c} 0 0 3 1\r\nabcde\r\n"),
        ),
        (
            "append canary bad chunk",
            format!("append {c} 0 0 3\r\nabcde\r\n"),
        ),
        (
            "prepend canary bad chunk",
            format!("prepend {c} 0 0 3\r\nab\n\n\r\n"),
        ),
    ];
    scene.compare_each(&cases, Ends::Terminator { text: true });
    scene.finish();
}

/// Streams `head`, `body_len` filler bytes and `tail` on `stream` in 1 MiB writes, sampling
/// the resident memory of `pid` after each and letting `bystander` work every 16 MiB.
/// Returns the largest growth over the resident memory before the first write.
fn stream_huge(
    stream: &mut TcpStream,
    pid: u32,
    head: &[u8],
    body_len: usize,
    tail: &[u8],
    mut bystander: Option<&mut Bystander>,
) -> u64 {
    let baseline = rss_bytes(pid);
    let mut peak = baseline;
    stream.write_all(head).expect("writing the request head");
    let chunk = vec![b'z'; 1 << 20];
    let mut sent = 0;
    while sent < body_len {
        let n = chunk.len().min(body_len - sent);
        stream
            .write_all(&chunk[..n])
            .unwrap_or_else(|e| panic!("writing the value after {sent} bytes: {e}"));
        sent += n;
        peak = peak.max(rss_bytes(pid));
        if sent % (16 << 20) == 0
            && let Some(bystander) = bystander.as_deref_mut()
        {
            bystander.check(&format!("while {sent} bytes of a huge value were sent"));
        }
    }
    stream.write_all(tail).expect("writing the request tail");
    peak = peak.max(rss_bytes(pid));
    peak.saturating_sub(baseline)
}

/// A 100 MB request streamed to both servers, as [`Scene::stream_huge_to_both`] leaves it.
struct HugeExchange {
    /// sessiond's connection, still open.
    ours: TcpStream,
    /// The growth of sessiond's resident memory while the request streamed.
    growth: u64,
    /// sessiond's replies to the request and the probe.
    reply: Vec<u8>,
    /// memcached's.
    expected: Vec<u8>,
}

impl Scene {
    /// Streams `head`, a 100 MB body and `tail` to sessiond (the bystander working meanwhile),
    /// then to memcached, each on a connection of its own, and sends `probe` after them.
    fn stream_huge_to_both(
        &mut self,
        head: &[u8],
        tail: &[u8],
        probe: &[u8],
        text: bool,
    ) -> HugeExchange {
        let mut ours = connect(self.addr());
        let growth = stream_huge(
            &mut ours,
            self.server.pid(),
            head,
            HUNDRED_MB,
            tail,
            Some(&mut self.bystander),
        );
        let reply = exchange_on(&mut ours, probe, text);

        let mut theirs = connect(self.memcached.addr());
        stream_huge(
            &mut theirs,
            self.memcached.pid(),
            head,
            HUNDRED_MB,
            tail,
            None,
        );
        let expected = exchange_on(&mut theirs, probe, text);
        HugeExchange {
            ours,
            growth,
            reply,
            expected,
        }
    }
}

#[test]
fn a_100_mb_text_value_is_refused_and_swallowed_without_buffering() {
    let mut scene = Scene::start(&[], "big-text");
    let key = "hostile:big";
    let head = format!("set {key} 0 0 {HUNDRED_MB}\r\n").into_bytes();
    let probe = format!("get {key}\r\n").into_bytes();
    let HugeExchange {
        mut ours,
        growth,
        reply,
        expected,
    } = scene.stream_huge_to_both(&head, b"\r\n", &probe, true);

    assert_eq!(
        escape(&reply),
        "SERVER_ERROR object too large for cache\\r\\nEND\\r\\n",
        "sessiond's reply to a 100 MB set, then a get of its key"
    );
    assert_eq!(
        escape(&reply),
        escape(&expected),
        "memcached replied differently"
    );
    assert!(
        growth < RSS_GROWTH_LIMIT,
        "sessiond's resident memory grew by {} MiB while it refused a 100 MB value",
        growth >> 20
    );
    // The connection is still usable.
    scene.bystander.check("after the 100 MB text value");
    let again = exchange_on(&mut ours, &text_set(SCRATCH_KEY, b"ok"), true);
    assert_eq!(escape(&again), "STORED\\r\\n");
    drop(ours);
    scene.finish();
}

#[test]
fn a_100_mb_binary_set_body_is_refused_with_e2big_and_swallowed() {
    let mut scene = Scene::start(&[], "big-binary");
    let key = b"hostile:big";
    let extras = [0u8; 8];
    let body_len = u32::try_from(extras.len() + key.len() + HUNDRED_MB).unwrap();
    let head = binary_request(SET, key, &extras, &[], 0x1234, Some(body_len));
    let probe = binary_request(GET, key, &[], &[], 0x5678, None);
    let HugeExchange {
        ours,
        growth,
        reply,
        expected,
    } = scene.stream_huge_to_both(&head, &[], &probe, false);

    let responses = parse_binary_responses(&reply);
    assert_eq!(responses.len(), 2, "{responses:?}");
    assert_eq!(
        (
            responses[0].opcode,
            responses[0].status,
            responses[0].opaque
        ),
        (SET, STATUS_E2BIG, 0x1234),
        "{responses:?}"
    );
    assert_eq!(
        (responses[1].opcode, responses[1].status),
        (GET, 0x0001),
        "the refused key must not exist: {responses:?}"
    );
    assert_eq!(
        escape(&without_cas(&reply)),
        escape(&without_cas(&expected)),
        "sessiond (left) and memcached (right) replied differently"
    );
    assert!(
        growth < RSS_GROWTH_LIMIT,
        "sessiond's resident memory grew by {} MiB while it refused a 100 MB value",
        growth >> 20
    );
    drop(ours);
    scene.finish();
}

#[test]
fn a_line_without_newline_past_2048_bytes_closes_the_connection() {
    let mut scene = Scene::start(&[], "overlong");
    scene.compare("4096 bytes without a newline", &[b'a'; 4096], Ends::Close);
    let mut padded = format!("set {SCRATCH_KEY} 0 0 1").into_bytes();
    padded.resize(3000, b' ');
    scene.compare("a set line padded past 2048 bytes", &padded, Ends::Close);
    let mut spaced = vec![b' '; 101];
    spaced.extend_from_slice(b"get ");
    spaced.resize(3000, b'k');
    scene.compare("a get after 101 spaces", &spaced, Ends::Close);

    // The same line arriving in three writes, the bystander working in between.
    let pieces = [[b'b'; 1000]; 3];
    let mut ours = connect(scene.addr());
    let mut theirs = connect(scene.memcached.addr());
    for (i, piece) in pieces.iter().enumerate() {
        ours.write_all(piece).expect("writing to sessiond");
        theirs.write_all(piece).expect("writing to memcached");
        scene.bystander.check(&format!(
            "with {} bytes of an unfinished line",
            (i + 1) * 1000
        ));
    }
    let (ours, theirs) = (read_until_close(&mut ours), read_until_close(&mut theirs));
    assert_eq!(escape(&ours), escape(&theirs), "a 3000-byte line in pieces");
    scene.after("a 3000-byte line in pieces");

    // A get line may be longer (multi-gets), but sessiond bounds it at 1 MiB where memcached
    // would buffer without end: it must hang up, without a reply and without keeping it.
    let mut endless = b"get ".to_vec();
    endless.resize(2 << 20, b'k');
    let baseline = rss_bytes(scene.server.pid());
    let reply = scene.attack("a 2 MiB get line", &endless, Ends::Close);
    let growth = rss_bytes(scene.server.pid()).saturating_sub(baseline);
    assert_eq!(escape(&reply), "", "reply to a 2 MiB get line");
    assert!(growth < RSS_GROWTH_LIMIT, "grew {} MiB", growth >> 20);
    scene.after("a 2 MiB get line");
    scene.finish();
}

#[test]
fn keys_of_251_bytes_are_refused() {
    let mut scene = Scene::start(&[], "long-key");
    let long = "k".repeat(251);
    let longest = "k".repeat(250);
    let text_cases: Vec<(&str, String)> = vec![
        ("text set", format!("set {long} 0 0 1\r\nx\r\n")),
        ("text get", format!("get {long}\r\n")),
        ("text multi-get", format!("get {SCRATCH_KEY} {long}\r\n")),
        ("text delete", format!("delete {long}\r\n")),
        ("text touch", format!("touch {long} 0\r\n")),
        ("text incr", format!("incr {long} 1\r\n")),
        ("meta get", format!("mg {long} v\r\n")),
        ("meta set", format!("ms {long} 1\r\nx\r\n")),
        (
            "text set and get, 250 bytes",
            format!("set {longest} 0 0 1\r\nx\r\nget {longest}\r\n"),
        ),
    ];
    scene.compare_each(&text_cases, Ends::Terminator { text: true });

    let key = long.as_bytes();
    let binary_cases: Vec<(&str, Vec<u8>)> = vec![
        ("binary get", binary_request(GET, key, &[], &[], 1, None)),
        ("binary getk", binary_request(GETK, key, &[], &[], 2, None)),
        (
            "binary set",
            binary_request(SET, key, &[0; 8], b"x", 3, None),
        ),
        (
            "binary delete",
            binary_request(DELETE, key, &[], &[], 4, None),
        ),
        (
            "binary get after a valid request",
            [
                binary_request(NOOP, &[], &[], &[], 5, None),
                binary_request(GET, key, &[], &[], 6, None),
            ]
            .concat(),
        ),
    ];
    scene.compare_each(&binary_cases, Ends::Close);
    let request = [
        binary_request(SET, longest.as_bytes(), &[0; 8], b"y", 7, None),
        binary_request(GETK, longest.as_bytes(), &[], &[], 8, None),
    ]
    .concat();
    scene.compare(
        "binary set and get, 250 bytes",
        &request,
        Ends::Terminator { text: false },
    );
    scene.finish();
}

// ---------------------------------------------------------------------------------------
// Binary framing
// ---------------------------------------------------------------------------------------

#[test]
fn binary_frames_with_a_wrong_magic_close_the_connection() {
    let mut scene = Scene::start(&[], "magic");
    let frame_with_magic = |magic: u8| {
        let mut frame = binary_request(NOOP, &[], &[], &[], 9, None);
        frame[0] = magic;
        frame
    };
    // Pseudo-random but fixed bytes.
    let noise: Vec<u8> = (0..24u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 1)
        .collect();
    let miss = binary_request(GET, b"hostile:missing", &[], &[], 1, None);
    let store = binary_request(SET, SCRATCH_KEY.as_bytes(), &[0; 8], b"stored", 2, None);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "response magic 0x81 after a NOOP",
            [
                binary_request(NOOP, &[], &[], &[], 3, None),
                frame_with_magic(0x81),
            ]
            .concat(),
        ),
        (
            "response magic 0x81 after a get miss",
            [miss.clone(), frame_with_magic(0x81)].concat(),
        ),
        (
            "random magic 0x42 after a get miss",
            [miss.clone(), frame_with_magic(0x42)].concat(),
        ),
        (
            "magic 0x00 after a set",
            [store.clone(), frame_with_magic(0x00)].concat(),
        ),
        (
            "24 noise bytes after a get miss",
            [miss.clone(), noise.clone()].concat(),
        ),
        (
            // At least a header's worth: memcached waits for 24 bytes before it looks.
            "a text command after a binary one",
            [
                miss.clone(),
                format!("get {CANARY_KEY} {CANARY_KEY}\r\n").into_bytes(),
            ]
            .concat(),
        ),
        (
            "wrong magic between quiet gets",
            [
                binary_request(GETQ, b"hostile:missing", &[], &[], 4, None),
                frame_with_magic(0x81),
                binary_request(NOOP, &[], &[], &[], 5, None),
            ]
            .concat(),
        ),
    ];
    scene.compare_each(&cases, Ends::Close);
    scene.finish();
}

#[test]
fn binary_headers_with_a_body_shorter_than_key_and_extras_are_refused() {
    let mut scene = Scene::start(&[], "bodylen");
    let k = SCRATCH_KEY.as_bytes();
    let c = CANARY_KEY.as_bytes();
    let short = |opcode: u8, key: &[u8], extras: &[u8], body_len: u32| {
        binary_request(opcode, key, extras, &[], 11, Some(body_len))
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("get, body 2 < key 9", short(GET, k, &[], 2)),
        ("set, body 0 < 8 + 9", short(SET, k, &[0; 8], 0)),
        ("set, body one short", short(SET, k, &[0; 8], 16)),
        ("delete of the canary, body 1", short(DELETE, c, &[], 1)),
        (
            "increment, body 10 < 20 + 9",
            short(INCREMENT, k, &[0; 20], 10),
        ),
        (
            "after a valid set",
            [
                binary_request(SET, k, &[0; 8], b"before", 12, None),
                short(SET, c, &[0; 8], 3),
            ]
            .concat(),
        ),
    ];
    scene.compare_each(&cases, Ends::Close);
    // A get whose body is longer than its key is no better.
    scene.compare(
        "get with a 4 GiB body",
        &binary_request(GET, k, &[], &[], 13, Some(u32::MAX)),
        Ends::Close,
    );
    scene.finish();
}

// ---------------------------------------------------------------------------------------
// Connections that end early
// ---------------------------------------------------------------------------------------

/// Sends `request`, shuts the write side and reads until the server closes.
fn half_close(addr: SocketAddr, request: &[u8], bystander: Option<&mut Bystander>) -> Vec<u8> {
    let mut stream = connect(addr);
    stream.write_all(request).expect("writing the request");
    stream.shutdown(Shutdown::Write).expect("shutdown(Write)");
    if let Some(bystander) = bystander {
        bystander.check("while a half-closed connection was open");
    }
    read_until_close(&mut stream)
}

#[test]
fn half_closed_clients_get_their_replies_then_the_server_closes() {
    let mut scene = Scene::start(&[], "half");
    let c = CANARY_KEY;
    let k = SCRATCH_KEY;
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("text get", format!("get {c}\r\n").into_bytes(), true),
        (
            "text set then get",
            format!("set {k} 0 0 5\r\nhello\r\nget {k} {c}\r\n").into_bytes(),
            true,
        ),
        ("meta noop", b"mn\r\n".to_vec(), true),
        (
            "text value cut short",
            format!("set {k} 0 0 10\r\nabc").into_bytes(),
            false,
        ),
        (
            "binary get",
            binary_request(GET, c.as_bytes(), &[], &[], 21, None),
            true,
        ),
        (
            "binary set then getk",
            [
                binary_request(SET, k.as_bytes(), &[0; 8], b"binary", 22, None),
                binary_request(GETK, k.as_bytes(), &[], &[], 23, None),
            ]
            .concat(),
            true,
        ),
        (
            "binary value cut short",
            binary_request(SET, k.as_bytes(), &[0; 8], b"0123456789", 24, None)[..40].to_vec(),
            false,
        ),
    ];
    for (case, request, answered) in &cases {
        let ours = half_close(scene.addr(), request, Some(&mut scene.bystander));
        let theirs = half_close(scene.memcached.addr(), request, None);
        assert_eq!(
            escape(&without_cas(&ours)),
            escape(&without_cas(&theirs)),
            "{case}: sessiond (left) and memcached (right) differ"
        );
        assert_eq!(!ours.is_empty(), *answered, "{case}: {}", escape(&ours));
        let probe = format!("get {k}\r\n");
        assert_eq!(
            escape(&exchange(scene.addr(), probe.as_bytes(), true)),
            escape(&exchange(scene.memcached.addr(), probe.as_bytes(), true)),
            "after {case}: {k} differs between sessiond (left) and memcached (right)"
        );
        scene.after(case);
    }
    scene.finish();
}

/// Makes `close` of `stream` send a reset instead of a FIN.
fn reset_on_close(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt(2) on a socket we own, with a correctly sized `linger`.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            libc::socklen_t::try_from(std::mem::size_of::<libc::linger>()).unwrap(),
        )
    };
    assert_eq!(rc, 0, "setsockopt(SO_LINGER)");
}

#[test]
fn clients_vanishing_mid_value_leave_nothing_behind() {
    let mut scene = Scene::start(&[], "vanish");
    let value_len = 1_000_000;
    let cases: Vec<(&str, Vec<u8>, usize, bool)> = vec![
        (
            "text, closed",
            format!("set hostile:gone 0 0 {value_len}\r\n").into_bytes(),
            value_len / 3,
            false,
        ),
        (
            "text, reset",
            format!("set hostile:gone 0 0 {value_len}\r\n").into_bytes(),
            value_len / 3,
            true,
        ),
        (
            "text, too large, closed while swallowed",
            format!("set hostile:gone 0 0 {HUNDRED_MB}\r\n").into_bytes(),
            10 << 20,
            false,
        ),
        (
            "binary, closed",
            binary_request(
                SET,
                b"hostile:gone",
                &[0; 8],
                &[],
                31,
                Some(u32::try_from(8 + 12 + value_len).unwrap()),
            ),
            value_len / 3,
            false,
        ),
        (
            "binary, reset",
            binary_request(
                SET,
                b"hostile:gone",
                &[0; 8],
                &[],
                32,
                Some(u32::try_from(8 + 12 + value_len).unwrap()),
            ),
            value_len / 3,
            true,
        ),
    ];
    for (case, head, sent, reset) in &cases {
        let mut stream = connect(scene.addr());
        stream.write_all(head).expect("writing the head");
        stream
            .write_all(&vec![b'v'; *sent])
            .expect("writing part of the value");
        scene.bystander.check(&format!("during {case}"));
        if *reset {
            reset_on_close(&stream);
        }
        drop(stream);
        // Only the bystander is left connected once the server has noticed.
        scene.bystander.wait_for_stat("curr_connections", 1);
        let reply = exchange(scene.addr(), b"get hostile:gone\r\n", true);
        assert_eq!(
            escape(&reply),
            "END\\r\\n",
            "{case}: a partial value was stored"
        );
        scene.after(case);
    }
    scene.finish();
}

// ---------------------------------------------------------------------------------------
// Limits on connections
// ---------------------------------------------------------------------------------------

const TOO_MANY: &str = "ERROR Too many open connections\r\n";

#[test]
fn connections_past_max_connections_are_refused_and_the_others_keep_working() {
    const LIMIT: usize = 8;
    const EXTRA: u64 = 5;
    let server = Server::start_with(&["--max-connections", "8"]);
    let addr = server.memcache_addr();
    seed(addr);
    // The seeding connection may not have been released yet.
    let mut bystander = Bystander::new(addr, "limit");
    bystander.check("first");
    bystander.wait_for_stat("curr_connections", 1);

    let mut held: Vec<TcpStream> = (1..LIMIT)
        .map(|i| {
            let mut stream = connect(addr);
            let reply = exchange_on(&mut stream, b"", true);
            assert_eq!(escape(&reply), "", "connection {i} of {LIMIT}");
            stream
        })
        .collect();
    bystander.wait_for_stat("curr_connections", LIMIT as u64);

    for extra in 0..EXTRA {
        let mut stream = connect(addr);
        let reply = read_until_close(&mut stream);
        let reply = String::from_utf8_lossy(&reply).into_owned();
        assert!(
            reply == TOO_MANY || reply.is_empty(),
            "connection {} past the limit got {reply:?}",
            LIMIT as u64 + extra + 1
        );
    }
    // A burst of connections at once.
    let burst: Vec<TcpStream> = (0..20).map(|_| connect(addr)).collect();
    for mut stream in burst {
        let reply = read_until_close(&mut stream);
        let reply = String::from_utf8_lossy(&reply).into_owned();
        assert!(reply == TOO_MANY || reply.is_empty(), "burst: {reply:?}");
    }

    for (i, stream) in held.iter_mut().enumerate() {
        let reply = exchange_on(stream, format!("get {CANARY_KEY}\r\n").as_bytes(), true);
        assert!(
            reply.starts_with(format!("VALUE {CANARY_KEY} ").as_bytes()),
            "held connection {i}: {}",
            escape(&reply)
        );
    }
    bystander.check("at the limit");
    assert_eq!(bystander.stat("rejected_connections"), EXTRA + 20);
    assert_eq!(bystander.stat("curr_connections"), LIMIT as u64);

    // Once one leaves, a newcomer is served.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut newcomer = loop {
        let mut stream = connect(addr);
        stream.write_all(b"mn\r\n").expect("writing mn");
        let mut reply = [0u8; 4];
        match std::io::Read::read_exact(&mut stream, &mut reply) {
            Ok(()) if &reply == b"MN\r\n" => break stream,
            Ok(()) if reply.starts_with(b"ERRO") => {}
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset
                ) => {}
            other => panic!("newcomer: {other:?} {}", escape(&reply)),
        }
        assert!(
            Instant::now() < deadline,
            "no slot freed up after a client left"
        );
        thread::sleep(Duration::from_millis(20));
    };
    let reply = exchange_on(&mut newcomer, &text_set("hostile:newcomer", b"in"), true);
    assert_eq!(escape(&reply), "STORED\\r\\n");

    drop(newcomer);
    held.clear();
    bystander.wait_for_stat("curr_connections", 1);
    fresh_client_works(addr, "after the connection limit");
    assert_canary(addr, "the connection limit");
    drop(bystander);
    let (status, stderr) = server.shutdown();
    assert!(status.success(), "exit status {status}\n{stderr}");
}

#[test]
fn idle_timeout_closes_idle_connections_but_not_busy_ones() {
    let server = Server::start_with(&["--idle-timeout", "1s"]);
    let addr = server.memcache_addr();
    seed(addr);

    // An idle connection, and one that stalls in the middle of a value.
    let watch = |request: Vec<u8>| {
        let mut stream = connect(addr);
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("set_read_timeout");
        thread::spawn(move || {
            let reply = exchange_on(&mut stream, &request, true);
            let idle_since = Instant::now();
            let rest = read_until_close(&mut stream);
            (reply, rest, idle_since.elapsed())
        })
    };
    let idle = watch(Vec::new());
    let stalled = {
        let mut stream = connect(addr);
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("set_read_timeout");
        stream
            .write_all(b"set hostile:slow 0 0 100\r\n0123456789")
            .expect("writing part of a value");
        thread::spawn(move || {
            let since = Instant::now();
            let rest = read_until_close(&mut stream);
            (Vec::new(), rest, since.elapsed())
        })
    };

    // A busy connection: a request every 100 ms until both others are closed and at least
    // three idle timeouts have passed.
    let mut busy = Bystander::new(addr, "busy");
    let start = Instant::now();
    while !(idle.is_finished() && stalled.is_finished()) || start.elapsed() < Duration::from_secs(3)
    {
        busy.check("while others idle");
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "idle connections were not closed within 30 s"
        );
        thread::sleep(Duration::from_millis(100));
    }
    for (name, watcher) in [("idle", idle), ("stalled", stalled)] {
        let (reply, rest, idle_for) = watcher.join().expect("watcher thread");
        assert_eq!(escape(&reply), "", "{name}");
        assert_eq!(
            escape(&rest),
            "",
            "{name}: the server said something before closing"
        );
        assert!(
            idle_for >= Duration::from_millis(800),
            "{name}: closed after {idle_for:?}, before the 1 s idle timeout"
        );
    }
    busy.check("after the idle ones were closed");
    let reply = exchange(addr, b"get hostile:slow\r\n", true);
    assert_eq!(escape(&reply), "END\\r\\n", "the stalled value was stored");
    assert_canary(addr, "idle timeouts");
    drop(busy);
    let (status, stderr) = server.shutdown();
    assert!(status.success(), "exit status {status}\n{stderr}");
}

// ---------------------------------------------------------------------------------------
// Reply amplification
// ---------------------------------------------------------------------------------------

/// A client that pipelines many gets of a large value and never reads the replies must not
/// make the server hold them all: memcached answers from its item memory, a few replies at
/// a time, and its resident memory does not move (checked with 1.6.18).
fn unread_replies_stay_bounded(tag: &str, request_one: &[u8], copies: usize) {
    let mut scene = Scene::start(&[], tag);
    let value = vec![b'L'; 1 << 20];
    let reply = exchange(scene.addr(), &text_set("hostile:large", &value), true);
    assert_eq!(escape(&reply), "STORED\\r\\n");

    let baseline = rss_bytes(scene.server.pid());
    let mut attacker = connect(scene.addr());
    attacker
        .write_all(&request_one.repeat(copies))
        .expect("writing the gets");
    let mut peak = baseline;
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        peak = peak.max(rss_bytes(scene.server.pid()));
        if peak - baseline >= RSS_GROWTH_LIMIT {
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    scene.bystander.check("while replies pile up");
    drop(attacker);
    scene.bystander.wait_for_stat("curr_connections", 1);
    assert!(
        peak - baseline < RSS_GROWTH_LIMIT,
        "{copies} pipelined gets of a 1 MiB value ({} bytes of requests) that the client \
         never reads grew sessiond's resident memory by at least {} MiB (memcached: no growth)",
        request_one.len() * copies,
        (peak - baseline) >> 20
    );
    scene.finish();
}

#[test]
fn unread_text_get_replies_do_not_pile_up_in_memory() {
    unread_replies_stay_bounded("amplify-text", b"get hostile:large\r\n", 150);
}

#[test]
fn unread_binary_get_replies_do_not_pile_up_in_memory() {
    let get = binary_request(GET, b"hostile:large", &[], &[], 0, None);
    unread_replies_stay_bounded("amplify-binary", &get, 150);
}
