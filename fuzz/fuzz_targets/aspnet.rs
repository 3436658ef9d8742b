//! Fuzzes the ASP.NET State Server protocol: any bytes, cut into any pieces, must never panic,
//! and a connection must never buffer without bound.
//!
//! The first byte of the input picks the piece size the rest is fed in, so the fuzzer explores
//! requests split at every point as well as whole.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sessiond_aspnet::{Applications, Connection, Context, Flow, Limits};
use sessiond_engine::{Engine, EngineConfig, NamespaceId, Timestamp};

fuzz_target!(|data: &[u8]| {
    let Some((&piece, input)) = data.split_first() else {
        return;
    };
    let piece = usize::from(piece).max(1);
    // Small limits, so the fuzzer reaches the too-large, too-many and out-of-memory paths.
    let engine = Engine::new(EngineConfig {
        max_memory: 64 << 10,
    });
    let limits = Limits {
        max_head_size: 1024,
        max_headers: 16,
        max_body_size: 4096,
    };
    // One shared group, so the application matching is fuzzed too.
    let mut applications = Applications::new(NamespaceId(1));
    let group = ["/LM/W3SVC/1/ROOT/shop".to_string(), "/app".to_string()];
    if applications.share(&group, NamespaceId(1 << 16)).is_err() {
        return;
    }
    let ctx = Context {
        engine: &engine,
        now: Timestamp::from_secs(1_700_000_000),
        limits: &limits,
        applications: &applications,
    };
    let mut conn = Connection::new();
    let mut buffer = BytesMut::new();
    let mut output = BytesMut::new();
    for chunk in input.chunks(piece) {
        buffer.extend_from_slice(chunk);
        if conn.process(&mut buffer, &mut output, &ctx) == Flow::Close {
            return;
        }
        // What stays buffered is at most a head being read or a body being waited for.
        let bound = conn.wants(&buffer).unwrap_or(0).max(limits.max_head_size);
        assert!(buffer.len() <= bound, "{} bytes buffered", buffer.len());
        output.clear();
    }
});
