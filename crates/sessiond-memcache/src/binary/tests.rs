//! Tests of the framing: partial input, pipelining, memcached's held-back replies, malformed
//! headers, and properties over arbitrary input.

use bytes::BytesMut;
use proptest::prelude::*;
use sessiond_engine::NamespaceId;

use super::header::opcode;
use super::test_support::{
    Harness, Packet, Req, arith_extras, expiry, noop, parse, set, store_extras,
};
use crate::{Connection, Flow};

/// php-memcached's session handler, request for request (see the client trace): open with
/// lock, read, write, unlock, close; then a lazy-write request that only touches.
fn php_session() -> Vec<Vec<u8>> {
    let sid = b"memc.sess.key.1p36sh95ijqhi7rvoocfpd9c2v";
    let lock = b"memc.sess.key.lock.1p36sh95ijqhi7rvoocfpd9c2v";
    let add_lock = || {
        Req::new(opcode::ADD)
            .key(lock)
            .extras(&store_extras(0, 30))
            .value(b"1")
    };
    vec![
        add_lock().opaque(1).bytes(),
        Req::new(opcode::GETK).key(sid).opaque(2).bytes(),
        Req::new(opcode::SET)
            .key(sid)
            .extras(&store_extras(0, 1440))
            .value(b"x|i:1;user|s:5:\"alice\";")
            .opaque(3)
            .bytes(),
        Req::new(opcode::DELETE).key(lock).opaque(4).bytes(),
        add_lock().opaque(5).bytes(),
        add_lock().opaque(6).bytes(),
        Req::new(opcode::GETK).key(sid).opaque(7).bytes(),
        Req::new(opcode::TOUCH)
            .key(sid)
            .extras(&expiry(1440))
            .opaque(8)
            .bytes(),
        Req::new(opcode::DELETE).key(lock).opaque(9).bytes(),
        Req::new(opcode::QUIT).opaque(10).bytes(),
    ]
}

#[test]
fn php_memcached_session_sequence() {
    let h = Harness::new();
    let (replies, flow) = h.run_flow(&php_session().concat());
    assert_eq!(flow, Flow::Close);
    let summary: Vec<(u8, u16, u32)> = replies
        .iter()
        .map(|p| (p.opcode, p.status, p.opaque))
        .collect();
    assert_eq!(
        summary,
        vec![
            (opcode::ADD, 0, 1),
            (opcode::GETK, 1, 2),
            (opcode::SET, 0, 3),
            (opcode::DELETE, 0, 4),
            (opcode::ADD, 0, 5),
            (opcode::ADD, 2, 6),
            (opcode::GETK, 0, 7),
            (opcode::TOUCH, 0, 8),
            (opcode::DELETE, 0, 9),
            (opcode::QUIT, 0, 10),
        ]
    );
    assert_eq!(replies[1].key, b"memc.sess.key.1p36sh95ijqhi7rvoocfpd9c2v");
    assert_eq!(replies[5].value, b"Data exists for key.");
    assert_eq!(replies[6].value, b"x|i:1;user|s:5:\"alice\";");
    assert_eq!(replies[6].cas, replies[2].cas);
    assert_eq!(replies[7].cas, replies[2].cas);
    assert_eq!(replies[7].extras, [0, 0, 0, 0]);
}

/// A little of everything, for the chunking tests.
fn mixed_transcript() -> Vec<u8> {
    [
        set(b"a", b"alpha", 1),
        Req::new(opcode::GETK).key(b"a").opaque(1).bytes(),
        Req::new(opcode::GETQ).key(b"missing").bytes(),
        Req::new(opcode::APPENDQ).key(b"a").value(b"bet").bytes(),
        Req::new(opcode::INCREMENT)
            .key(b"n")
            .extras(&arith_extras(1, 40, 0))
            .bytes(),
        Req::new(opcode::INCREMENTQ)
            .key(b"n")
            .extras(&arith_extras(2, 0, 0))
            .bytes(),
        Req::new(opcode::GAT).key(b"a").extras(&expiry(100)).bytes(),
        Req::new(opcode::SET)
            .key(b"big")
            .extras(&store_extras(0, 0))
            .value(&[b'z'; 3000])
            .bytes(),
        Req::new(opcode::GET).key(b"big").bytes(),
        Req::new(opcode::DELETEQ).key(b"nx").opaque(9).bytes(),
        Req::new(opcode::STAT).key(b"settings").bytes(),
        Req::new(0x33).value(b"eaten").bytes(),
        Req::new(opcode::VERSION).bytes(),
        noop(77),
        Req::new(opcode::QUITQ).bytes(),
    ]
    .concat()
}

#[test]
fn byte_by_byte_input_gives_the_same_output() {
    let bytes = mixed_transcript();
    let (whole, whole_flow) = Harness::new().raw(&bytes);
    assert_eq!(whole_flow, Flow::Close);
    assert_eq!(
        parse(&whole).last(),
        Some(&Packet::new(opcode::NOOP, 77, 0))
    );
    for sizes in [&[1][..], &[2, 3, 5, 7], &[24], &[25, 1], &[1000]] {
        let (chunked, flow) = Harness::new().raw_chunked(&bytes, sizes);
        assert_eq!(flow, Flow::Close, "reads of {sizes:?}");
        assert_eq!(chunked, whole, "reads of {sizes:?}");
    }
}

#[test]
fn incomplete_requests_wait_and_wants_says_for_what() {
    let h = Harness::new();
    let mut conn = Connection::new();
    let mut input = BytesMut::new();
    let request = Req::new(opcode::SET)
        .key(b"key")
        .extras(&store_extras(0, 0))
        .value(&[1; 100])
        .bytes();
    let (out, _) = h.feed(&mut conn, &mut input, &request[..10]);
    assert!(out.is_empty());
    assert_eq!(conn.wants(&input), Some(24));
    let (out, _) = h.feed(&mut conn, &mut input, &request[10..30]);
    assert!(out.is_empty());
    assert_eq!(conn.wants(&input), Some(24 + 8 + 3 + 100));
    let (out, _) = h.feed(&mut conn, &mut input, &request[30..134]);
    assert!(out.is_empty());
    assert_eq!(input.len(), 134);
    let (out, _) = h.feed(&mut conn, &mut input, &request[134..]);
    assert_eq!(parse(&out)[0].status, 0);
    assert!(input.is_empty());
    assert_eq!(conn.wants(&input), Some(24));

    // A GET with stray body bytes needs only its head; a refused value needs nothing.
    let get = Req::new(opcode::GET).key(b"k").body_len(1 << 30).bytes();
    input.extend_from_slice(&get);
    assert_eq!(conn.wants(&input), Some(25));
    input.clear();
    let huge = Req::new(opcode::SET)
        .key(b"k")
        .extras(&store_extras(0, 0))
        .body_len(1 << 30)
        .bytes();
    input.extend_from_slice(&huge);
    assert_eq!(conn.wants(&input), Some(24 + 9));
    let (out, _) = h.feed(&mut conn, &mut input, &[]);
    assert_eq!(parse(&out)[0].status, 3);
    assert_eq!(conn.wants(&input), None);
}

#[test]
fn wrong_magic_closes_and_drops_held_back_replies() {
    let h = Harness::new();
    h.run(&set(b"hit", b"v", 0));
    let garbage = [0u8; 24];
    let hit = Req::new(opcode::GET).key(b"hit").bytes();
    // A hit is held back by memcached and lost with the connection.
    let (out, flow) = h.raw(&[hit.clone(), garbage.to_vec()].concat());
    assert_eq!((out.len(), flow), (0, Flow::Close));
    // An error reply or a NOOP is written at once, and what came before it with it.
    let miss = Req::new(opcode::GET).key(b"miss").bytes();
    let (replies, flow) = h.run_flow(&[hit.clone(), miss, hit.clone(), garbage.to_vec()].concat());
    assert_eq!(flow, Flow::Close);
    assert_eq!(
        replies.iter().map(|p| p.status).collect::<Vec<_>>(),
        vec![0, 1]
    );
    let (replies, _) = h.run_flow(&[hit.clone(), noop(1), hit.clone(), garbage.to_vec()].concat());
    assert_eq!(replies.len(), 2);
    // A GETK miss is not an error reply: held back.
    let getk_miss = Req::new(opcode::GETK).key(b"miss").bytes();
    let (out, _) = h.raw(&[getk_miss, garbage.to_vec()].concat());
    assert!(out.is_empty());
    // Replies written by an earlier read are not taken back.
    let mut conn = Connection::new();
    let mut input = BytesMut::new();
    let (first, _) = h.feed(&mut conn, &mut input, &hit);
    assert_eq!(parse(&first).len(), 1);
    let (second, flow) = h.feed(&mut conn, &mut input, &garbage);
    assert_eq!((second.len(), flow), (0, Flow::Close));
}

#[test]
fn every_twenty_requests_memcached_writes_out_what_it_held_back() {
    let h = Harness::new();
    h.run(&set(b"h", b"v", 0));
    let hit = Req::new(opcode::GET).key(b"h").bytes();
    for (requests, written) in [(20, 0), (21, 21), (22, 21), (40, 21), (41, 41), (45, 41)] {
        let bytes = [hit.repeat(requests), vec![0; 24]].concat();
        let (replies, flow) = h.run_flow(&bytes);
        assert_eq!(flow, Flow::Close);
        assert_eq!(replies.len(), written, "{requests} requests");
    }
}

/// Which replies survive when a wrong magic byte follows `GET hit, <request>, GET hit`, as
/// memcached 1.6.18 answers (each case checked against it).
#[test]
fn replies_memcached_writes_out_before_a_wrong_magic_byte() {
    let h = Harness::with(
        crate::Limits {
            max_item_size: 1 << 20,
            ..crate::Limits::default()
        },
        sessiond_engine::EngineConfig::default(),
    );
    h.run(&set(b"h", b"v", 0));
    let store = |op: u8, key: &[u8], len: usize| {
        Req::new(op)
            .key(key)
            .extras(&store_extras(0, 0))
            .value(&vec![b'y'; len])
    };
    let cases: Vec<(&str, Req, usize)> = vec![
        ("ADDQ exists", store(opcode::ADDQ, b"h", 1), 2),
        ("SET hit", store(opcode::SET, b"h", 1), 0),
        ("SET with wrong CAS", store(opcode::SET, b"h", 1).cas(5), 2),
        (
            "APPEND miss",
            Req::new(opcode::APPEND).key(b"nx").value(b"v"),
            2,
        ),
        ("SET 10 KB", store(opcode::SET, b"x", 10_000), 0),
        ("SET 16300 B", store(opcode::SET, b"x", 16_300), 3),
        ("SET 20 KB", store(opcode::SET, b"x", 20_000), 2),
        ("SET 100 KB", store(opcode::SET, b"x", 100_000), 2),
        (
            "SET too large",
            store(opcode::SET, b"x", (1 << 20) + 100),
            2,
        ),
        (
            "INCR miss",
            Req::new(opcode::INCREMENT)
                .key(b"nx")
                .extras(&arith_extras(1, 1, 0xffff_ffff)),
            2,
        ),
        (
            "INCR non-numeric",
            Req::new(opcode::INCREMENT)
                .key(b"h")
                .extras(&arith_extras(1, 1, 0)),
            2,
        ),
        ("DELETE miss", Req::new(opcode::DELETE).key(b"nx"), 2),
        (
            "GAT miss",
            Req::new(opcode::GAT).key(b"nx").extras(&expiry(0)),
            2,
        ),
        (
            "GATK miss",
            Req::new(opcode::GATK).key(b"nx").extras(&expiry(0)),
            0,
        ),
        (
            "TOUCH miss",
            Req::new(opcode::TOUCH).key(b"nx").extras(&expiry(0)),
            2,
        ),
        (
            "TOUCH hit",
            Req::new(opcode::TOUCH).key(b"h").extras(&expiry(0)),
            0,
        ),
        ("VERSION", Req::new(opcode::VERSION), 0),
        (
            "FLUSH later",
            Req::new(opcode::FLUSH).extras(&expiry(1_000_000)),
            0,
        ),
        ("STAT bogus", Req::new(opcode::STAT).key(b"bogus"), 2),
        ("unknown, no body", Req::new(0x40), 2),
        ("unknown, 3-byte body", Req::new(0x40).value(b"abc"), 0),
        ("unknown, 10 KB body", Req::new(0x40).value(&[1; 10_000]), 0),
        ("unknown, 20 KB body", Req::new(0x40).value(&[1; 20_000]), 2),
        ("SASL_LIST_MECHS", Req::new(opcode::SASL_LIST_MECHS), 2),
        (
            "SASL_AUTH",
            Req::new(opcode::SASL_AUTH).key(b"PLAIN").value(b"xx"),
            0,
        ),
    ];
    let hit = Req::new(opcode::GET).key(b"h").bytes();
    for (name, request, written) in cases {
        let bytes = [hit.clone(), request.bytes(), hit.clone(), vec![0; 24]].concat();
        let (replies, flow) = h.run_flow(&bytes);
        assert_eq!(flow, Flow::Close, "{name}");
        assert_eq!(replies.len(), written, "{name}: {replies:?}");
    }
}

#[test]
fn inconsistent_lengths_are_unknown_command_and_close() {
    let h = Harness::new();
    let cases = [
        Req::new(opcode::GET).key(b"k").body_len(0),
        Req::new(opcode::SET)
            .key(b"kk")
            .extras(&store_extras(0, 0))
            .body_len(9),
        Req::new(0x50).extras(&[1, 2]).body_len(1),
    ];
    for request in cases {
        let bytes = [request.bytes(), noop(1)].concat();
        let (replies, flow) = h.run_flow(&bytes);
        assert_eq!(flow, Flow::Close, "{request:?}");
        assert_eq!(
            replies,
            vec![Packet::error(bytes[1], 0, 0x81, "Unknown command")]
        );
    }
}

#[test]
fn keys_over_the_limit_are_invalid_arguments_whatever_the_opcode() {
    let h = Harness::new();
    let long = [b'k'; 251];
    for op in [opcode::GET, opcode::SET, 0x40] {
        let request = Req::new(op).key(&long).opaque(6).bytes();
        let (replies, flow) = h.run_flow(&request);
        assert_eq!(flow, Flow::Close);
        assert_eq!(replies, vec![Packet::error(op, 6, 4, "Invalid arguments")]);
    }
    let at_limit = Req::new(opcode::GET).key(&long[..250]).bytes();
    assert_eq!(h.run(&at_limit)[0].status, 1);
}

#[test]
fn a_head_larger_than_memcacheds_read_buffer_closes_once_it_is_full() {
    let h = Harness::new();
    let miss = Req::new(opcode::GET).key(b"nx").bytes();
    let huge = Req::new(opcode::GET).key(&[b'k'; 20_000]).bytes();
    let mut conn = Connection::new();
    let mut input = BytesMut::new();
    let (out, flow) = h.feed(
        &mut conn,
        &mut input,
        &[miss, huge[..10_000].to_vec()].concat(),
    );
    assert_eq!(flow, Flow::Continue);
    assert_eq!(parse(&out).len(), 1);
    assert_eq!(conn.wants(&input), Some(16 * 1024));
    let (out, flow) = h.feed(&mut conn, &mut input, &huge[10_000..]);
    assert_eq!((out.len(), flow), (0, Flow::Close));
}

#[test]
fn data_type_and_vbucket_are_ignored() {
    let h = Harness::new();
    let mut request = set(b"k", b"v", 0);
    request[5] = 0x7f;
    request[6] = 0x12;
    request[7] = 0x34;
    assert_eq!(h.run(&request)[0].status, 0);
}

/// Stores `value` under `key` in `namespace` through its own connection; the reply's CAS.
fn store_in(h: &mut Harness, namespace: NamespaceId, key: &[u8], value: &[u8]) -> u64 {
    let mine = h.namespace;
    h.namespace = namespace;
    let cas = h.run(&set(key, value, 3))[0].cas;
    h.namespace = mine;
    cas
}

fn read_in(h: &mut Harness, namespace: NamespaceId, key: &[u8]) -> Packet {
    let mine = h.namespace;
    h.namespace = namespace;
    let reply = h.run(&Req::new(opcode::GET).key(key).bytes());
    h.namespace = mine;
    reply.into_iter().next().unwrap_or_default()
}

/// A valid request, for the chunking property.
fn any_request() -> impl Strategy<Value = Vec<u8>> {
    let key = prop::sample::select(vec![&b"a"[..], b"b", b"counter", b"session"]);
    let value = prop::collection::vec(any::<u8>(), 0..64);
    (0u8..12, key, value, any::<u32>(), 0u64..3).prop_map(|(kind, key, value, opaque, cas)| {
        let request = match kind {
            0 => Req::new(opcode::SET)
                .key(key)
                .extras(&store_extras(1, 0))
                .value(&value),
            1 => Req::new(opcode::ADDQ)
                .key(key)
                .extras(&store_extras(2, 100))
                .value(&value),
            2 => Req::new(opcode::GETK).key(key),
            3 => Req::new(opcode::GETKQ).key(key),
            4 => Req::new(opcode::DELETE).key(key),
            5 => Req::new(opcode::APPENDQ).key(key).value(&value),
            6 => Req::new(opcode::INCREMENT)
                .key(key)
                .extras(&arith_extras(3, 7, 0)),
            7 => Req::new(opcode::TOUCH).key(key).extras(&expiry(50)),
            8 => Req::new(opcode::GATQ).key(key).extras(&expiry(0)),
            9 => Req::new(opcode::NOOP),
            10 => Req::new(opcode::REPLACE)
                .key(key)
                .extras(&store_extras(0, 0))
                .value(&value),
            _ => Req::new(opcode::STAT).key(b"settings"),
        };
        let request = request.opaque(opaque);
        if kind != 9 && kind != 11 {
            request.cas(cas).bytes()
        } else {
            request.bytes()
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic_or_touch_other_connections_data(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        sizes in prop::collection::vec(1usize..300, 1..8),
    ) {
        let mut h = Harness::new();
        let other = NamespaceId(1);
        let cas = store_in(&mut h, other, b"session", b"precious");
        let input = [&[0x80][..], &bytes].concat();
        let _ = h.raw_chunked(&input, &sizes);
        let _ = h.raw(&input);
        let after = read_in(&mut h, other, b"session");
        prop_assert_eq!(after.value, b"precious".to_vec());
        prop_assert_eq!(after.cas, cas);
        prop_assert_eq!(after.extras, 3u32.to_be_bytes().to_vec());
    }

    #[test]
    fn valid_pipelines_answer_the_same_whatever_the_reads(
        requests in prop::collection::vec(any_request(), 1..40),
        sizes in prop::collection::vec(1usize..100, 1..6),
    ) {
        let bytes = requests.concat();
        let (whole, _) = Harness::new().raw(&bytes);
        let (chunked, _) = Harness::new().raw_chunked(&bytes, &sizes);
        prop_assert_eq!(chunked, whole);
    }
}
