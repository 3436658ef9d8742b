//! Every way a request is refused: the connection closes with nothing sent, and the store is
//! unchanged.

use sessiond_engine::{Engine, EngineConfig};

use super::{Bench, answered, delete, fetch, refused, store};
use crate::{Limits, Refusal};

#[test]
fn an_unknown_opcode_is_refused_at_its_first_byte() {
    let bench = Bench::new();
    for first in [b'G', b's', b'f', b'd', 0, 0x80, 0xff, b'\n'] {
        let (exchange, fed) = bench.send_counting(&[&[first], b"\0\0\0\x01k"]);
        assert_eq!(exchange, refused(Refusal::UnknownCommand(first)));
        assert_eq!(fed, 1, "refused before the rest arrives");
    }
    // memcached's and HTTP's first bytes too.
    assert_eq!(
        bench.send(b"get k\r\n"),
        refused(Refusal::UnknownCommand(b'g'))
    );
}

#[test]
fn keys_with_bytes_sharedance_rejects_are_refused_for_every_command() {
    let bench = Bench::new();
    bench.send(&store(b"k", b"v"));
    for key in [
        &b"."[..],
        b"..",
        b"a.b",
        b"/",
        b"../etc/passwd",
        b"a/b",
        b"\x1f",
        b"k\x1f",
        b"\x7f",
        b"k\x7f",
        b"\0",
        b"\x80",
        b"\xff",
        b"k\n",
    ] {
        for request in [store(key, b"v"), fetch(key), delete(key)] {
            assert_eq!(
                bench.send(&request),
                refused(Refusal::InvalidKey),
                "{request:?}"
            );
        }
    }
    assert_eq!(bench.value(b"k"), Some(b"v".to_vec()));
}

#[test]
fn an_invalid_key_is_refused_before_the_data_arrives() {
    let bench = Bench::new();
    let request = store(b"a.b", &[b'x'; 1000]);
    let (header_and_key, data) = request.split_at(9 + 3);
    let (exchange, fed) = bench.send_counting(&[header_and_key, data]);
    assert_eq!(exchange, refused(Refusal::InvalidKey));
    assert_eq!(fed, 1);
}

#[test]
fn an_empty_key_is_refused_once_the_header_is_in() {
    let bench = Bench::new();
    assert_eq!(bench.send(b"F\0\0\0\0"), refused(Refusal::EmptyKey));
    assert_eq!(bench.send(b"D\0\0\0\0"), refused(Refusal::EmptyKey));
    assert_eq!(bench.send(b"S\0\0\0\0\0\0\0\0"), refused(Refusal::EmptyKey));
    // With data following, as a client with an empty session id would send it.
    let (exchange, fed) = bench.send_counting(&[b"S\0\0\0\0\0\0\0\x02", b"vv"]);
    assert_eq!(exchange, refused(Refusal::EmptyKey));
    assert_eq!(fed, 1);
    assert_eq!(bench.value(b""), None);
}

#[test]
fn a_key_over_the_limit_is_refused_from_its_header() {
    let bench = Bench::with_limits(Limits {
        max_key_len: 8,
        ..Limits::default()
    });
    let key = b"123456789";
    for request in [store(key, b"v"), fetch(key), delete(key)] {
        let (head, rest) = request.split_at(if request[0] == b'S' { 9 } else { 5 });
        let (exchange, fed) = bench.send_counting(&[head, rest]);
        assert_eq!(exchange, refused(Refusal::KeyTooLong));
        assert_eq!(fed, 1, "refused before the key arrives");
    }
    assert_eq!(bench.value(key), None);
}

#[test]
fn the_default_key_limit_is_255_bytes() {
    let bench = Bench::new();
    let key = vec![b'k'; 256];
    assert_eq!(bench.send(&store(&key, b"v")), refused(Refusal::KeyTooLong));
    assert_eq!(bench.send(&fetch(&key)), refused(Refusal::KeyTooLong));
}

#[test]
fn bytes_after_the_request_are_refused_and_nothing_runs() {
    // sharedance's "Request too long": the request is not handled, whatever it was.
    let bench = Bench::new();
    bench.send(&store(b"k", b"v"));
    let mut extra = store(b"k", b"new");
    extra.push(b'!');
    assert_eq!(bench.send(&extra), refused(Refusal::TrailingBytes));
    let mut extra = delete(b"k");
    extra.extend_from_slice(&delete(b"k"));
    assert_eq!(bench.send(&extra), refused(Refusal::TrailingBytes));
    let mut extra = fetch(b"k");
    extra.push(0);
    assert_eq!(bench.send(&extra), refused(Refusal::TrailingBytes));
    assert_eq!(bench.value(b"k"), Some(b"v".to_vec()), "unchanged");
}

#[test]
fn bytes_arriving_after_a_partial_request_complete_it_too_far() {
    let bench = Bench::new();
    let mut request = store(b"k", b"value");
    request.extend_from_slice(b"more");
    let (exchange, fed) = bench.send_counting(&[&request[..12], &request[12..]]);
    assert_eq!(exchange, refused(Refusal::TrailingBytes));
    assert_eq!(fed, 2);
    assert_eq!(bench.value(b"k"), None);
}

#[test]
fn a_declared_length_over_the_limit_is_refused_from_the_header() {
    let bench = Bench::with_limits(Limits {
        max_request_size: 100,
        ..Limits::default()
    });
    let request = store(b"k", &[b'x'; 91]);
    assert_eq!(request.len(), 101);
    let (exchange, fed) = bench.send_counting(&[&request[..9], &request[9..]]);
    assert_eq!(exchange, refused(Refusal::RequestTooLarge));
    assert_eq!(fed, 1, "refused before the data is buffered");
    assert_eq!(bench.value(b"k"), None);
}

#[test]
fn the_largest_declared_lengths_are_refused_without_overflow() {
    let bench = Bench::new();
    assert_eq!(
        bench.send(b"S\xff\xff\xff\xff\xff\xff\xff\xff"),
        refused(Refusal::RequestTooLarge)
    );
    assert_eq!(
        bench.send(b"S\0\0\0\x01\xff\xff\xff\xff"),
        refused(Refusal::RequestTooLarge)
    );
    assert_eq!(
        bench.send(b"F\xff\xff\xff\xff"),
        refused(Refusal::RequestTooLarge)
    );
    // Within the size limit but past the key limit.
    assert_eq!(bench.send(b"D\0\0\x01\0"), refused(Refusal::KeyTooLong));
}

#[test]
fn a_buffer_reaching_the_limit_before_the_header_is_refused() {
    // Only a limit below a header's length can be reached before the header is in; sharedance
    // drops any buffer that reaches its limit.
    let bench = Bench::with_limits(Limits {
        max_request_size: 4,
        ..Limits::default()
    });
    let request = fetch(b"k");
    let pieces: Vec<&[u8]> = request.chunks(1).collect();
    let (exchange, fed) = bench.send_counting(&pieces);
    assert_eq!(exchange, refused(Refusal::RequestTooLarge));
    assert_eq!(fed, 4);
}

#[test]
fn a_store_past_the_memory_limit_gets_no_ok() {
    let bench = Bench {
        engine: Engine::new(EngineConfig { max_memory: 1024 }),
        ..Bench::new()
    };
    assert_eq!(bench.send(&store(b"small", b"v")), answered(b"OK\n"));
    assert_eq!(
        bench.send(&store(b"big", &[b'x'; 4096])),
        refused(Refusal::OutOfMemory)
    );
    assert_eq!(bench.value(b"big"), None);
    // A refused replacement keeps the old value.
    assert_eq!(
        bench.send(&store(b"small", &[b'x'; 4096])),
        refused(Refusal::OutOfMemory)
    );
    assert_eq!(bench.send(&fetch(b"small")), answered(b"v"));
}
