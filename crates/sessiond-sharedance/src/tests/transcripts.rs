//! Byte transcripts of each command, as a sharedance client sends them and sharedance answers.

use super::{Bench, answered, delete, fetch, store};

#[test]
fn the_reference_example_byte_for_byte() {
    // protocols.md §3.1: store `abc` = `hello`, fetch it, delete it.
    let bench = Bench::new();
    let stored = bench.send(&[
        0x53, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x05, 0x61, 0x62, 0x63, 0x68, 0x65, 0x6c,
        0x6c, 0x6f,
    ]);
    assert_eq!(stored, answered(&[0x4f, 0x4b, 0x0a]));
    let fetched = bench.send(&[0x46, 0x00, 0x00, 0x00, 0x03, 0x61, 0x62, 0x63]);
    assert_eq!(fetched, answered(&[0x68, 0x65, 0x6c, 0x6c, 0x6f]));
    let deleted = bench.send(&[0x44, 0x00, 0x00, 0x00, 0x03, 0x61, 0x62, 0x63]);
    assert_eq!(deleted, answered(&[0x4f, 0x4b, 0x0a]));
    assert_eq!(
        bench.send(&fetch(b"abc")),
        answered(b""),
        "gone after the delete"
    );
}

#[test]
fn the_builders_make_the_reference_bytes() {
    assert_eq!(store(b"abc", b"hello"), b"S\0\0\0\x03\0\0\0\x05abchello");
    assert_eq!(fetch(b"abc"), b"F\0\0\0\x03abc");
    assert_eq!(delete(b"abc"), b"D\0\0\0\x03abc");
}

#[test]
fn a_store_replaces_the_value_and_the_fetch_is_raw_bytes() {
    let bench = Bench::new();
    assert_eq!(bench.send(&store(b"sid", b"first")), answered(b"OK\n"));
    // Binary data, line ends and NULs included, comes back as it went in: no framing.
    let value = b"a:1:{s:1:\"x\";}\r\n\0\xff\n";
    assert_eq!(bench.send(&store(b"sid", value)), answered(b"OK\n"));
    assert_eq!(bench.send(&fetch(b"sid")), answered(value));
}

#[test]
fn a_fetch_of_a_missing_key_sends_nothing() {
    let bench = Bench::new();
    assert_eq!(bench.send(&fetch(b"nobody")), answered(b""));
}

#[test]
fn an_empty_value_is_stored_and_reads_as_a_miss() {
    let bench = Bench::new();
    assert_eq!(bench.send(&store(b"k", b"")), answered(b"OK\n"));
    assert_eq!(bench.value(b"k"), Some(Vec::new()), "stored");
    assert_eq!(bench.send(&fetch(b"k")), answered(b""));
    // It is there to delete, as sharedance's empty file is.
    assert_eq!(bench.send(&delete(b"k")), answered(b"OK\n"));
}

#[test]
fn a_delete_of_a_missing_key_sends_nothing() {
    let bench = Bench::new();
    assert_eq!(bench.send(&delete(b"nobody")), answered(b""));
    bench.send(&store(b"k", b"v"));
    assert_eq!(bench.send(&delete(b"k")), answered(b"OK\n"));
    assert_eq!(
        bench.send(&delete(b"k")),
        answered(b""),
        "the second finds nothing"
    );
}

#[test]
fn keys_live_in_the_connection_namespace() {
    let bench = Bench::new();
    bench.send(&store(b"k", b"v"));
    assert_eq!(bench.value(b"k"), Some(b"v".to_vec()));
    assert_eq!(
        bench.value_in(sessiond_engine::NamespaceId::DEFAULT, b"k"),
        None
    );
}

#[test]
fn every_printable_key_byte_but_dot_and_slash_is_a_key() {
    let bench = Bench::new();
    let key: Vec<u8> = (32..=126u8).filter(|&b| b != b'.' && b != b'/').collect();
    assert_eq!(bench.send(&store(&key, b"v")), answered(b"OK\n"));
    assert_eq!(bench.send(&fetch(&key)), answered(b"v"));
}

#[test]
fn a_key_of_exactly_the_limit_is_accepted() {
    let bench = Bench::new();
    let key = vec![b'k'; bench.limits.max_key_len];
    assert_eq!(bench.send(&store(&key, b"v")), answered(b"OK\n"));
    assert_eq!(bench.send(&fetch(&key)), answered(b"v"));
}

#[test]
fn a_request_of_exactly_the_size_limit_is_handled() {
    let request = store(b"k", &[b'x'; 90]);
    let bench = Bench::with_limits(crate::Limits {
        max_request_size: request.len(),
        ..crate::Limits::default()
    });
    assert_eq!(bench.send(&request), answered(b"OK\n"));
}

#[test]
fn after_the_close_nothing_runs_again() {
    let bench = Bench::new();
    let ctx = bench.ctx();
    let mut conn = crate::Connection::new();
    let mut input = bytes::BytesMut::from(&store(b"k", b"v")[..]);
    let mut output = bytes::BytesMut::new();
    assert_eq!(
        conn.process(&mut input, &mut output, &ctx),
        crate::Flow::Close
    );
    assert!(input.is_empty(), "the request is consumed");
    assert_eq!(&output[..], b"OK\n");
    input.extend_from_slice(&delete(b"k"));
    assert_eq!(
        conn.process(&mut input, &mut output, &ctx),
        crate::Flow::Close
    );
    assert_eq!(&output[..], b"OK\n", "no second reply");
    assert_eq!(bench.value(b"k"), Some(b"v".to_vec()), "no second request");
    assert_eq!(conn.wants(&input), None);
}

#[test]
fn wants_is_the_whole_request_once_the_header_is_in() {
    let bench = Bench::new();
    let ctx = bench.ctx();
    let request = store(b"key", b"0123456789");
    let mut conn = crate::Connection::new();
    let mut input = bytes::BytesMut::new();
    let mut output = bytes::BytesMut::new();
    for (fed, &byte) in request.iter().enumerate().take(request.len() - 1) {
        input.extend_from_slice(&[byte]);
        assert_eq!(
            conn.process(&mut input, &mut output, &ctx),
            crate::Flow::Continue
        );
        let expected = (fed + 1 >= 9).then_some(request.len());
        assert_eq!(conn.wants(&input), expected, "after {} bytes", fed + 1);
    }
}
