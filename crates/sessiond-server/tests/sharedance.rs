//! sharedance conformance over loopback TCP: every command byte for byte as sharedance 0.7 and
//! its PHP client exchange them (one request per connection, answer, close; every failure a close
//! without a byte), and expiry with a clock the tests move. The server runs in process.

mod support;

use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;

use support::{InProcess, connect, escape, read_to_close, send};

/// sharedance's default `--expiration`.
const LIFETIME: Duration = Duration::from_secs(1800);

// --- what a client sends -----------------------------------------------------------------------

fn be32(n: usize) -> [u8; 4] {
    u32::try_from(n).expect("length fits in u32").to_be_bytes()
}

/// `S keylen:u32be datalen:u32be key data`.
fn store_request(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut request = vec![b'S'];
    request.extend_from_slice(&be32(key.len()));
    request.extend_from_slice(&be32(data.len()));
    request.extend_from_slice(key);
    request.extend_from_slice(data);
    request
}

/// `F keylen:u32be key`.
fn fetch_request(key: &[u8]) -> Vec<u8> {
    key_request(b'F', key)
}

/// `D keylen:u32be key`.
fn delete_request(key: &[u8]) -> Vec<u8> {
    key_request(b'D', key)
}

fn key_request(opcode: u8, key: &[u8]) -> Vec<u8> {
    let mut request = vec![opcode];
    request.extend_from_slice(&be32(key.len()));
    request.extend_from_slice(key);
    request
}

// --- exchanges ---------------------------------------------------------------------------------

/// Sends `request` in one write on a new connection and returns everything the server sent
/// before it closed the connection.
fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = connect(addr);
    send(&mut stream, request);
    read_to_close(&mut stream)
}

fn store(server: &InProcess, key: &[u8], data: &[u8]) -> Vec<u8> {
    exchange(server.sharedance, &store_request(key, data))
}

fn fetch(server: &InProcess, key: &[u8]) -> Vec<u8> {
    exchange(server.sharedance, &fetch_request(key))
}

fn delete(server: &InProcess, key: &[u8]) -> Vec<u8> {
    exchange(server.sharedance, &delete_request(key))
}

#[track_caller]
fn assert_reply(got: &[u8], want: &[u8], what: &str) {
    assert_eq!(escape(got), escape(want), "{what}");
}

#[track_caller]
fn assert_stored(server: &InProcess, key: &[u8], data: &[u8]) {
    assert_reply(
        &store(server, key, data),
        b"OK\n",
        &format!("store {}", escape(key)),
    );
}

#[track_caller]
fn assert_fetch(server: &InProcess, key: &[u8], want: &[u8], what: &str) {
    assert_reply(
        &fetch(server, key),
        want,
        &format!("fetch {}: {what}", escape(key)),
    );
}

/// What a refused request leaves behind: a connection closed without a byte.
#[track_caller]
fn assert_refused(server: &InProcess, request: &[u8], what: &str) {
    let got = exchange(server.sharedance, request);
    assert!(
        got.is_empty(),
        "{what}: request {} must be refused by a close without a byte; the server sent {}",
        escape(request),
        escape(&got)
    );
}

/// Sends a memcached text request and reads its reply up to and including `END\r\n`.
fn memcache_get(server: &InProcess, key: &str) -> Vec<u8> {
    let mut stream = connect(server.memcache);
    send(&mut stream, format!("get {key}\r\n").as_bytes());
    read_until(&mut stream, b"END\r\n")
}

fn memcache_set(server: &InProcess, key: &str, data: &str) -> Vec<u8> {
    let mut stream = connect(server.memcache);
    send(
        &mut stream,
        format!("set {key} 0 0 {}\r\n{data}\r\n", data.len()).as_bytes(),
    );
    read_until(&mut stream, b"\r\n")
}

fn read_until(stream: &mut std::net::TcpStream, end: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    while !bytes.ends_with(end) {
        match stream.read(&mut chunk) {
            Ok(0) => panic!("connection closed mid-reply: {}", escape(&bytes)),
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(error) => panic!("reading a reply: {error}; so far: {}", escape(&bytes)),
        }
    }
    bytes
}

// --- the commands, byte for byte ---------------------------------------------------------------

/// protocols.md §3.1's example, as bytes on the wire.
#[test]
fn the_reference_transcript_byte_for_byte() {
    let server = InProcess::start();
    let store = b"\x53\x00\x00\x00\x03\x00\x00\x00\x05\x61\x62\x63\x68\x65\x6c\x6c\x6f";
    let fetch = b"\x46\x00\x00\x00\x03\x61\x62\x63";
    let delete = b"\x44\x00\x00\x00\x03\x61\x62\x63";
    assert_eq!(store_request(b"abc", b"hello"), store);
    assert_eq!(fetch_request(b"abc"), fetch);
    assert_eq!(delete_request(b"abc"), delete);

    assert_reply(
        &exchange(server.sharedance, store),
        b"\x4f\x4b\x0a",
        "store abc=hello",
    );
    assert_reply(
        &exchange(server.sharedance, fetch),
        b"\x68\x65\x6c\x6c\x6f",
        "fetch abc",
    );
    assert_reply(
        &exchange(server.sharedance, delete),
        b"\x4f\x4b\x0a",
        "delete abc",
    );
    assert_reply(
        &exchange(server.sharedance, fetch),
        b"",
        "fetch abc after its delete",
    );
    assert_reply(
        &exchange(server.sharedance, delete),
        b"",
        "delete abc once more",
    );
}

#[test]
fn fetch_of_a_key_never_stored_closes_without_a_byte() {
    let server = InProcess::start();
    assert_fetch(&server, b"nothing-here", b"", "never stored");
    assert_reply(
        &delete(&server, b"nothing-here"),
        b"",
        "delete never stored",
    );
}

#[test]
fn a_store_replaces_the_value_last_writer_wins() {
    let server = InProcess::start();
    assert_stored(&server, b"sess1", b"first");
    assert_stored(&server, b"sess1", b"second, longer value");
    assert_fetch(&server, b"sess1", b"second, longer value", "replaced");
    assert_stored(&server, b"sess1", b"3rd");
    assert_fetch(&server, b"sess1", b"3rd", "replaced by a shorter value");
}

/// sharedance cannot tell an empty value from a missing one: fetching it closes with nothing.
#[test]
fn an_empty_value_is_stored_and_fetches_like_a_miss() {
    let server = InProcess::start();
    assert_stored(&server, b"empty", b"");
    assert_fetch(&server, b"empty", b"", "an empty value");
    assert_reply(
        &delete(&server, b"empty"),
        b"OK\n",
        "delete the empty value",
    );
}

/// Values are raw bytes: NUL, newlines, bytes over 127 and PHP's serialized form come back whole.
#[test]
fn values_are_binary_safe() {
    let server = InProcess::start();
    let data: Vec<u8> = (0..=255u8).chain(*b"count|i:2;\r\n\0OK\n").collect();
    assert_stored(&server, b"bin", &data);
    assert_fetch(&server, b"bin", &data, "every byte value");
}

/// A request that arrives a byte at a time, then in three-byte pieces, is answered once complete.
#[test]
fn a_request_sent_in_many_small_writes() {
    let server = InProcess::start();
    let value = b"a value sent in many small writes, byte by byte";

    let mut stream = connect(server.sharedance);
    for byte in store_request(b"drip", value) {
        send(&mut stream, &[byte]);
    }
    assert_reply(
        &read_to_close(&mut stream),
        b"OK\n",
        "store sent byte by byte",
    );

    let mut stream = connect(server.sharedance);
    for piece in fetch_request(b"drip").chunks(3) {
        send(&mut stream, piece);
    }
    assert_reply(
        &read_to_close(&mut stream),
        value,
        "fetch sent in 3-byte pieces",
    );

    let mut stream = connect(server.sharedance);
    for byte in delete_request(b"drip") {
        send(&mut stream, &[byte]);
    }
    assert_reply(
        &read_to_close(&mut stream),
        b"OK\n",
        "delete sent byte by byte",
    );
    assert_fetch(&server, b"drip", b"", "after the delete");
}

#[test]
fn a_one_mib_value_round_trips() {
    let server = InProcess::start();
    let value: Vec<u8> = (0..1usize << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert_stored(&server, b"big", &value);

    let got = fetch(&server, b"big");
    assert_eq!(got.len(), value.len(), "length of the 1 MiB value fetched");
    if let Some(at) = got.iter().zip(&value).position(|(a, b)| a != b) {
        panic!(
            "the 1 MiB value differs at byte {at}: got {:#04x}, stored {:#04x}",
            got[at], value[at]
        );
    }
    assert_reply(&delete(&server, b"big"), b"OK\n", "delete the 1 MiB value");
}

/// Every byte sharedance's `validate_key` accepts: 32..=126 but `.` and `/`.
#[test]
fn a_key_of_every_allowed_byte_and_the_longest_key() {
    let server = InProcess::start();
    let every: Vec<u8> = (32..=126u8).filter(|b| *b != b'.' && *b != b'/').collect();
    assert_stored(&server, &every, b"all of them");
    assert_fetch(&server, &every, b"all of them", "key of every allowed byte");
    assert_reply(&delete(&server, &every), b"OK\n", "delete that key");

    let longest = vec![b'k'; 255];
    assert_stored(&server, &longest, b"long key");
    assert_fetch(&server, &longest, b"long key", "a 255-byte key");
    assert_refused(&server, &fetch_request(&[b'k'; 256]), "a 256-byte key");
}

// --- refusals ----------------------------------------------------------------------------------

/// A refused request closes without a byte, changes nothing and leaves other keys alone.
#[test]
fn refusals_close_without_a_byte_and_leave_other_keys_intact() {
    let server = InProcess::start();
    assert_stored(&server, b"keep", b"kept value");
    assert_stored(&server, b"abc", b"abc's value");

    let mut extra_store = store_request(b"abc", b"overwritten?");
    extra_store.push(b'X');
    let mut extra_fetch = fetch_request(b"abc");
    extra_fetch.push(b'F');
    let mut extra_delete = delete_request(b"abc");
    extra_delete.extend_from_slice(&delete_request(b"keep"));

    let refused: Vec<(&str, Vec<u8>)> = vec![
        ("unknown opcode G", b"G\x00\x00\x00\x03abc".to_vec()),
        ("lower-case fetch opcode", b"f\x00\x00\x00\x03abc".to_vec()),
        ("memcached text command", b"get abc\r\n".to_vec()),
        ("key with a dot", fetch_request(b"a.b")),
        ("key with a slash", fetch_request(b"a/b")),
        ("key with a NUL", fetch_request(b"a\0b")),
        ("key with a newline", fetch_request(b"ab\n")),
        ("key with DEL (127)", fetch_request(b"ab\x7f")),
        ("key with a byte over 127", fetch_request(b"ab\xe9")),
        ("store under a key with a dot", store_request(b".abc", b"x")),
        ("delete of a key with a slash", delete_request(b"../abc")),
        ("empty key, fetch", fetch_request(b"")),
        ("empty key, delete", delete_request(b"")),
        ("empty key, store", store_request(b"", b"data")),
        ("a byte after a store", extra_store),
        ("a byte after a fetch", extra_fetch),
        ("a second request after a delete", extra_delete),
    ];
    for (what, request) in &refused {
        assert_refused(&server, request, what);
        assert_fetch(&server, b"keep", b"kept value", &format!("after {what}"));
        assert_fetch(&server, b"abc", b"abc's value", &format!("after {what}"));
    }
}

/// `max_request_size` bounds header, key and data together: a request that fits is served, one
/// whose header declares more is refused without waiting for the data.
#[test]
fn a_request_over_max_request_size_is_refused() {
    let server = InProcess::start_with_file("[sharedance]\nmax_request_size = \"64KiB\"\n");
    let limit = 64 << 10;
    assert_stored(&server, b"keep", b"kept value");

    // 9 header bytes + 3 key bytes + data: exactly the limit.
    let fits = vec![b'v'; limit - 9 - 3];
    assert_stored(&server, b"fit", &fits);
    assert_fetch(
        &server,
        b"fit",
        &fits,
        "a store of exactly max_request_size",
    );

    // One byte more: only the header and key are sent, the declared data never follows.
    let mut header = vec![b'S'];
    header.extend_from_slice(&be32(3));
    header.extend_from_slice(&be32(limit - 9 - 3 + 1));
    header.extend_from_slice(b"big");
    assert_refused(
        &server,
        &header,
        "a store declaring one byte over the limit",
    );

    let mut huge = vec![b'S'];
    huge.extend_from_slice(&be32(3));
    huge.extend_from_slice(&u32::MAX.to_be_bytes());
    huge.extend_from_slice(b"big");
    assert_refused(&server, &huge, "a store declaring 4 GiB");

    let mut long_key = vec![b'F'];
    long_key.extend_from_slice(&u32::MAX.to_be_bytes());
    long_key.extend_from_slice(b"abc");
    assert_refused(&server, &long_key, "a fetch declaring a 4 GiB key");

    assert_fetch(&server, b"big", b"", "the refused store stored nothing");
    assert_fetch(&server, b"keep", b"kept value", "after the refusals");
    assert_fetch(&server, b"fit", &fits, "after the refusals");
}

/// A client that stops in the middle of a request is dropped after `timeout`, and its partial
/// store is not applied. Only the outcome is checked; the read timeout bounds the wait.
#[test]
fn an_idle_partial_request_is_dropped() {
    let server = InProcess::start_with_file("[sharedance]\ntimeout = \"1s\"\n");
    let request = store_request(b"partial", b"never finished");
    let mut stream = connect(server.sharedance);
    send(&mut stream, &request[..request.len() - 3]);
    assert_reply(
        &read_to_close(&mut stream),
        b"",
        "an idle, incomplete store",
    );
    assert_fetch(&server, b"partial", b"", "the incomplete store");
}

// --- expiry ------------------------------------------------------------------------------------

/// sharedance's own rule: a value lives 30 minutes after its last store, however often it is read.
#[test]
fn fixed_lifetime_fetches_do_not_extend_it() {
    let server = InProcess::start();
    assert_stored(&server, b"sess", b"count|i:1;");
    let mut elapsed = 0;
    for at in [1, 600, 1200, 1799] {
        server.advance(Duration::from_secs(at - elapsed));
        elapsed = at;
        assert_fetch(
            &server,
            b"sess",
            b"count|i:1;",
            &format!("{at} s after the store"),
        );
    }
    server.advance(Duration::from_secs(1));
    assert_fetch(&server, b"sess", b"", "1800 s after the store");
    assert_reply(
        &delete(&server, b"sess"),
        b"",
        "delete of the expired value",
    );
}

#[test]
fn a_store_restarts_the_lifetime() {
    let server = InProcess::start();
    assert_stored(&server, b"sess", b"count|i:1;");
    server.advance(Duration::from_secs(1000));
    assert_stored(&server, b"sess", b"count|i:2;");
    // 1799 s after the second store, 2799 s after the first.
    server.advance(Duration::from_secs(1799));
    assert_fetch(&server, b"sess", b"count|i:2;", "1799 s after the re-store");
    server.advance(Duration::from_secs(1));
    assert_fetch(&server, b"sess", b"", "1800 s after the re-store");
}

#[test]
fn the_lifetime_is_per_key() {
    let server = InProcess::start();
    assert_stored(&server, b"old", b"1");
    server.advance(Duration::from_secs(900));
    assert_stored(&server, b"new", b"2");
    server.advance(Duration::from_secs(900));
    assert_fetch(&server, b"old", b"", "1800 s after its store");
    assert_fetch(&server, b"new", b"2", "900 s after its store");
    server.advance(Duration::from_secs(899));
    assert_fetch(&server, b"new", b"2", "1799 s after its store");
    server.advance(Duration::from_secs(1));
    assert_fetch(&server, b"new", b"", "1800 s after its store");
}

#[test]
fn expiration_from_the_config_file() {
    let server = InProcess::start_with_file("[sharedance]\nexpiration = \"10m\"\n");
    assert_stored(&server, b"sess", b"v");
    server.advance(Duration::from_secs(599));
    assert_fetch(&server, b"sess", b"v", "599 s after the store");
    server.advance(Duration::from_secs(1));
    assert_fetch(&server, b"sess", b"", "600 s after the store");
}

/// With `sliding = true` every fetch starts the lifetime again.
#[test]
fn sliding_lifetime_fetches_extend_it() {
    let server = InProcess::start_with_file("[sharedance]\nsliding = true\n");
    assert_stored(&server, b"sess", b"count|i:1;");
    server.advance(Duration::from_secs(1000));
    assert_fetch(&server, b"sess", b"count|i:1;", "1000 s after the store");
    // 2500 s after the store, 1500 s after the fetch.
    server.advance(Duration::from_secs(1500));
    assert_fetch(
        &server,
        b"sess",
        b"count|i:1;",
        "2500 s after the store, 1500 s after a fetch",
    );
    server.advance(Duration::from_secs(1799));
    assert_fetch(
        &server,
        b"sess",
        b"count|i:1;",
        "1799 s after the last fetch",
    );
    server.advance(LIFETIME);
    assert_fetch(&server, b"sess", b"", "1800 s after the last fetch");
}

/// Sliding or not, a missed fetch does not bring anything back and a delete ends the value.
#[test]
fn sliding_lifetime_delete_still_deletes() {
    let server = InProcess::start_with_file("[sharedance]\nsliding = true\n");
    assert_stored(&server, b"sess", b"v");
    server.advance(Duration::from_secs(1799));
    assert_fetch(&server, b"sess", b"v", "1799 s after the store");
    assert_reply(&delete(&server, b"sess"), b"OK\n", "delete");
    assert_fetch(&server, b"sess", b"", "after the delete");
}

// --- namespaces --------------------------------------------------------------------------------

/// The same key over sharedance and memcached names two different values.
#[test]
fn sharedance_keys_are_separate_from_memcached_keys() {
    let server = InProcess::start();
    assert_stored(&server, b"sess42", b"from sharedance");
    assert_reply(
        &memcache_get(&server, "sess42"),
        b"END\r\n",
        "memcached get of a key stored over sharedance",
    );

    assert_reply(
        &memcache_set(&server, "other42", "from memcached"),
        b"STORED\r\n",
        "memcached set",
    );
    assert_fetch(
        &server,
        b"other42",
        b"",
        "sharedance fetch of a key set over memcached",
    );

    assert_reply(
        &memcache_set(&server, "sess42", "memcached's own"),
        b"STORED\r\n",
        "memcached set of the same key",
    );
    assert_fetch(
        &server,
        b"sess42",
        b"from sharedance",
        "after a memcached set of the same key",
    );
    assert_reply(&delete(&server, b"sess42"), b"OK\n", "sharedance delete");
    assert_reply(
        &memcache_get(&server, "sess42"),
        b"VALUE sess42 0 15\r\nmemcached's own\r\nEND\r\n",
        "memcached get after the sharedance delete",
    );
}
