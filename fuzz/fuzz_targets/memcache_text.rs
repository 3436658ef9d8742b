//! Fuzzes the memcached text protocol: any bytes, cut into any pieces, must never panic, and a
//! connection must never buffer without bound.
//!
//! The first byte of the input picks the piece size the rest is fed in, so the fuzzer explores
//! requests split at every point as well as whole.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sessiond_engine::{Engine, EngineConfig, NamespaceId, Timestamp};
use sessiond_memcache::{
    Connection, Context, Flow, Limits, ProtocolCounters, ServerInfo, ServerStats,
};

/// Server figures for `stats`.
struct FuzzServer;

impl ServerInfo for FuzzServer {
    fn server_stats(&self) -> ServerStats {
        ServerStats::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&piece, input)) = data.split_first() else {
        return;
    };
    let piece = usize::from(piece).max(1);
    // Small limits, so the fuzzer reaches the too-large, too-long and out-of-memory paths.
    let engine = Engine::new(EngineConfig {
        max_memory: 64 << 10,
    });
    let limits = Limits {
        max_item_size: 1024,
        max_line_len: 256,
        max_get_line_len: 4096,
        ..Limits::default()
    };
    let counters = ProtocolCounters::default();
    let ctx = Context {
        engine: &engine,
        now: Timestamp::from_secs(1_700_000_000),
        limits: &limits,
        namespace: NamespaceId::DEFAULT,
        counters: &counters,
        server: &FuzzServer,
    };
    // Start as text: a leading 0x80 would pick the binary protocol, fuzzed by its own target.
    let mut conn = Connection::new();
    let mut buffer = BytesMut::from(&b"mn\r\n"[..]);
    let mut output = BytesMut::new();
    if conn.process(&mut buffer, &mut output, &ctx) == Flow::Close {
        return;
    }
    for chunk in input.chunks(piece) {
        buffer.extend_from_slice(chunk);
        if conn.process(&mut buffer, &mut output, &ctx) == Flow::Close {
            return;
        }
        // What stays buffered is at most a line being read or a value being waited for.
        let bound = conn
            .wants(&buffer)
            .unwrap_or(0)
            .max(limits.max_get_line_len + piece);
        assert!(buffer.len() <= bound, "{} bytes buffered", buffer.len());
        output.clear();
    }
});
