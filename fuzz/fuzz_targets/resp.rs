//! Fuzzes the Redis protocol parser and reply encoder: any bytes, cut into any pieces, must
//! never panic, must parse the same however they are cut, must never leave more buffered than
//! the limits allow, and every command parsed must encode back into a request that parses to
//! the same arguments.
//!
//! The first byte of the input picks the piece size the rest is fed in and whether the peer
//! has authenticated, so the fuzzer explores requests split at every point as well as whole,
//! under both sets of limits.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sessiond_resp::{Access, Close, Encoder, Limits, Parser, ProtocolError, Version};

/// Small limits, so the fuzzer reaches every too-big and too-long path.
const LIMITS: Limits = Limits {
    max_bulk_len: 64,
    max_multibulk_len: 16,
    max_inline_len: 128,
    max_request_len: 512,
    unauthenticated_max_multibulk_len: 3,
    unauthenticated_max_bulk_len: 8,
    max_queued_commands: 4,
    max_transaction_bytes: 256,
    max_atomic_keys: 4,
};

/// The commands a connection runs, and the error that ends it, if one does.
type Transcript = (Vec<Vec<Vec<u8>>>, Option<ProtocolError>);

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let piece = usize::from(first >> 1).max(1);
    let access = if first & 1 == 0 {
        Access::Authenticated
    } else {
        Access::Unauthenticated
    };
    let whole = run(input, access, input.len().max(1));
    let split = run(input, access, piece);
    assert_eq!(
        whole, split,
        "the outcome depends on how the input is split"
    );
});

/// Feeds `input` in pieces of `piece` bytes, as a connection would, checking every step.
fn run(input: &[u8], access: Access, piece: usize) -> Transcript {
    let mut parser = Parser::new(LIMITS);
    let mut buffer = Vec::new();
    let mut commands = Vec::new();
    for chunk in input.chunks(piece) {
        buffer.extend_from_slice(chunk);
        loop {
            match parser.parse(&buffer, access) {
                Ok(Some(command)) => {
                    let consumed = command.consumed();
                    assert!(consumed > 0 && consumed <= buffer.len());
                    let args: Vec<Vec<u8>> = command.args().map(<[u8]>::to_vec).collect();
                    assert_eq!(args.len(), command.len());
                    round_trip(&args);
                    commands.push(args);
                    buffer.drain(..consumed);
                }
                Ok(None) => {
                    let bound = LIMITS.max_request_len + LIMITS.max_inline_len + 1;
                    assert!(buffer.len() <= bound, "{} bytes buffered", buffer.len());
                    if let Some(wants) = parser.wants() {
                        assert!(wants > buffer.len() && wants <= LIMITS.max_request_len);
                    }
                    break;
                }
                Err(error) => {
                    check_reply(error);
                    return (commands, Some(error));
                }
            }
        }
    }
    (commands, None)
}

/// The arguments, encoded as a client sends them (an array of bulk strings, written by the
/// reply encoder in either version), parse back to the same arguments.
fn round_trip(args: &[Vec<u8>]) {
    for version in [Version::Resp2, Version::Resp3] {
        let mut request = Vec::new();
        let mut encoder = Encoder::new(&mut request, version);
        encoder.array(args.len());
        for arg in args {
            encoder.bulk(arg);
        }
        // Encoded arguments may be longer than the fuzzed limits allow: parse with the defaults.
        let mut parser = Parser::default();
        let parsed = parser
            .parse(&request, Access::Authenticated)
            .expect("an encoded request is valid")
            .expect("an encoded request is complete");
        assert_eq!(parsed.consumed(), request.len());
        assert!(parsed.args().eq(args.iter().map(Vec::as_slice)));
    }
}

/// A protocol error's reply is one `-ERR Protocol error: ...` line, or nothing when the
/// connection closes without one.
fn check_reply(error: ProtocolError) {
    let mut reply = Vec::new();
    error.write_reply(&mut reply);
    match error.close() {
        Close::WithoutReply => assert!(reply.is_empty()),
        Close::AfterReply => {
            assert!(reply.starts_with(b"-ERR Protocol error: "));
            assert!(reply.ends_with(b"\r\n"));
            let body = &reply[..reply.len() - 2];
            assert!(!body.contains(&b'\r') && !body.contains(&b'\n'));
        }
    }
}
