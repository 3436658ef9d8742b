//! Fuzzes the memcached binary protocol.
//!
//! The input's first byte picks the read size, so partial requests are explored too; the rest
//! follows the binary magic byte on one connection. Whatever the bytes: no panic, the output is
//! a sequence of whole response packets, and an item stored in another namespace (another
//! application's connection) is left exactly as it was.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sessiond_engine::{
    Engine, EngineConfig, Expiry, Get, GetOutcome, Key, NamespaceId, Store, StoreMode, Timestamp,
};
use sessiond_memcache::{
    Connection, Context, Flow, Limits, ProtocolCounters, ServerInfo, ServerStats,
};

struct Server;

impl ServerInfo for Server {
    fn server_stats(&self) -> ServerStats {
        ServerStats::default()
    }
}

/// The victim's value, flags and CAS.
fn snapshot(engine: &Engine, key: Key<'_>, now: Timestamp) -> Option<(Vec<u8>, u32, u64)> {
    match engine.run(&Get::new(key), now) {
        Ok(GetOutcome::Hit(item)) => Some((item.value.to_vec(), item.flags, item.cas)),
        Ok(GetOutcome::Miss) | Err(_) => None,
    }
}

/// Panics unless `output` is whole response packets.
fn check_responses(mut output: &[u8]) {
    while !output.is_empty() {
        assert!(output.len() >= 24, "truncated response header");
        assert_eq!(output[0], 0x81, "response magic");
        let key_len = usize::from(u16::from_be_bytes([output[2], output[3]]));
        let extras_len = usize::from(output[4]);
        let body_len = u32::from_be_bytes([output[8], output[9], output[10], output[11]]) as usize;
        assert!(key_len + extras_len <= body_len, "response lengths");
        assert!(output.len() >= 24 + body_len, "truncated response body");
        output = &output[24 + body_len..];
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&read_size, rest)) = data.split_first() else {
        return;
    };
    let now = Timestamp::from_secs(1_700_000_000);
    // Small limits so the fuzzer reaches the too-large and out-of-memory paths.
    let engine = Engine::new(EngineConfig {
        max_memory: 256 * 1024,
    });
    let limits = Limits {
        max_item_size: 4096,
        ..Limits::default()
    };
    let counters = ProtocolCounters::default();
    let victim = Key::new(NamespaceId(1), b"session");
    let stored = engine.run(
        &Store::new(victim, b"precious", 3, Expiry::Never, StoreMode::Set),
        now,
    );
    assert!(stored.is_ok());
    let before = snapshot(&engine, victim, now);

    let ctx = Context {
        engine: &engine,
        now,
        limits: &limits,
        namespace: NamespaceId(2),
        counters: &counters,
        server: &Server,
    };
    let mut conn = Connection::new();
    let mut input = BytesMut::from(&[0x80u8][..]);
    let mut output = BytesMut::new();
    for piece in rest.chunks(usize::from(read_size).max(1)) {
        input.extend_from_slice(piece);
        let flow = conn.process(&mut input, &mut output, &ctx);
        let _ = conn.wants(&input);
        check_responses(&output);
        output.clear();
        if flow == Flow::Close {
            break;
        }
    }
    assert_eq!(snapshot(&engine, victim, now), before);
});
