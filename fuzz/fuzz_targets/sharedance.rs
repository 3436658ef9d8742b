//! Fuzzes the sharedance protocol: any bytes, cut into any pieces, must never panic, a
//! connection must never buffer past its size limit, and nothing is answered before the close.
//!
//! The first byte of the input picks the piece size the rest is fed in, so the fuzzer explores
//! requests split at every point as well as whole, and the lifetime, fixed or sliding.

#![no_main]

use std::time::Duration;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sessiond_engine::{Engine, EngineConfig, NamespaceId, Timestamp};
use sessiond_sharedance::{Connection, Context, Flow, Lifetime, Limits, REPLY_OK};

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let piece = usize::from(first >> 1).max(1);
    let lifetime = if first & 1 == 0 {
        Lifetime::Fixed(Duration::from_secs(1800))
    } else {
        Lifetime::Sliding(Duration::from_secs(1800))
    };
    // Small limits, so the fuzzer reaches the too-large, too-long and out-of-memory paths.
    let engine = Engine::new(EngineConfig {
        max_memory: 16 << 10,
    });
    let limits = Limits {
        max_request_size: 4096,
        max_key_len: 32,
    };
    let ctx = Context {
        engine: &engine,
        now: Timestamp::from_secs(1_700_000_000),
        limits: &limits,
        namespace: NamespaceId::DEFAULT,
        lifetime,
    };
    // A value for fetches and deletes to find; the fuzzer can learn its key from the dictionary
    // of compared bytes.
    let mut setup = Connection::new();
    let mut request = BytesMut::from(&b"S\0\0\0\x03\0\0\0\x05abchello"[..]);
    let mut output = BytesMut::new();
    assert_eq!(setup.process(&mut request, &mut output, &ctx), Flow::Close);
    assert_eq!(&output[..], REPLY_OK);

    let mut conn = Connection::new();
    let mut buffer = BytesMut::new();
    output.clear();
    for chunk in input.chunks(piece) {
        buffer.extend_from_slice(chunk);
        if conn.process(&mut buffer, &mut output, &ctx) == Flow::Close {
            // One request per connection: once closed, nothing more runs or is sent.
            let sent = output.len();
            buffer.extend_from_slice(b"D\0\0\0\x03abc");
            assert_eq!(conn.process(&mut buffer, &mut output, &ctx), Flow::Close);
            assert_eq!(output.len(), sent);
            return;
        }
        assert!(output.is_empty(), "a reply before the request is complete");
        assert!(
            buffer.len() < limits.max_request_size,
            "{} bytes buffered",
            buffer.len()
        );
        if let Some(total) = conn.wants(&buffer) {
            assert!(total > buffer.len() && total <= limits.max_request_size);
        }
    }
});
