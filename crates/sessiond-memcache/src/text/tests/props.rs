//! Property tests: no input panics, and junk on one connection never touches another's data.

use bytes::BytesMut;
use proptest::prelude::*;

use crate::text::testing::Bench;
use crate::{Flow, Limits};

/// A word that is likely to mean something to the parser.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "get",
            "gets",
            "gat",
            "gats",
            "bget",
            "set",
            "add",
            "replace",
            "append",
            "prepend",
            "cas",
            "touch",
            "delete",
            "incr",
            "decr",
            "flush_all",
            "version",
            "verbosity",
            "stats",
            "settings",
            "quit",
            "shutdown",
            "mg",
            "ms",
            "md",
            "ma",
            "mn",
            "me",
            "noreply",
            "0",
            "1",
            "-1",
            "q",
            "v",
            "k",
            "b",
            "c",
            "t",
            "s",
            "f",
            "h",
            "l",
            "u",
            "I",
            "MA",
            "MP",
            "ME",
            "MR",
            "MS",
            "MD",
            "M+",
            "N0",
            "N30",
            "T0",
            "T-1",
            "R30",
            "J5",
            "D3",
            "C0",
            "F7",
            "O123",
            "HTTP/1.1",
            "bTE=",
            "!",
        ])
        .prop_map(str::to_owned),
        "[a-z]{1,4}",
        "-?[0-9]{1,21}",
        "[A-Za-z][0-9]{0,4}",
    ]
}

/// A request line, sometimes followed by a data block, with a line end or none.
fn line() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(word(), 0..8),
        prop::sample::select(vec!["\r\n", "\n", "", "\r\r\n", " \r\n"]),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..12)),
    )
        .prop_map(|(words, end, data)| {
            let mut bytes = words.join(" ").into_bytes();
            bytes.extend_from_slice(end.as_bytes());
            if let Some(data) = data {
                bytes.extend_from_slice(&data);
                bytes.extend_from_slice(b"\r\n");
            }
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(
        input in prop::collection::vec(any::<u8>(), 0..2048),
        piece in 1usize..64,
    ) {
        let limits = Limits {
            max_line_len: 64,
            max_get_line_len: 256,
            max_item_size: 64,
            ..Limits::default()
        };
        let bench = Bench::with_limits(limits);
        let ctx = bench.ctx();
        let mut conn = crate::Connection::new();
        let mut buffer = BytesMut::new();
        let mut output = BytesMut::new();
        for chunk in input.chunks(piece) {
            buffer.extend_from_slice(chunk);
            if conn.process(&mut buffer, &mut output, &ctx) == Flow::Close {
                break;
            }
            // What stays buffered is a line being read or a value being waited for.
            let bound = conn.wants(&buffer).unwrap_or(0).max(limits.max_get_line_len + piece);
            prop_assert!(buffer.len() <= bound, "{} bytes buffered", buffer.len());
        }
    }

    #[test]
    fn command_shaped_input_never_panics_and_splits_cleanly(
        lines in prop::collection::vec(line(), 0..40),
        piece in 1usize..32,
    ) {
        let input = lines.concat();
        let whole = Bench::new();
        let split = Bench::new();
        let mut one = whole.client();
        let mut many = split.client();
        // Same replies however the input is cut, except that a hang-up drops the replies of
        // the read it came in, as memcached drops those it has not sent.
        let (at_once, in_pieces) = (one.send(&whole, &input), many.send_in(&split, &input, piece));
        prop_assert_eq!(one.closed, many.closed);
        if one.closed {
            prop_assert!(in_pieces.starts_with(&at_once));
        } else {
            prop_assert_eq!(at_once, in_pieces);
        }
    }

    #[test]
    fn junk_on_another_connection_leaves_stored_data_alone(
        junk in prop::collection::vec(any::<u8>(), 0..4096),
        values in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 1..8),
        piece in 1usize..97,
    ) {
        prop_assume!(!junk.windows(9).any(|window| window == b"flush_all"));
        let bench = Bench::new();
        let mut requests = Vec::new();
        for (index, value) in values.iter().enumerate() {
            requests.extend_from_slice(format!("set stable:key:{index} {index} 0 {}\r\n", value.len()).as_bytes());
            requests.extend_from_slice(value);
            requests.extend_from_slice(b"\r\n");
        }
        let mut writer = bench.client();
        let mut vandal = bench.client();
        // The vandal is a text connection, whatever its first byte.
        vandal.send(&bench, b"mn\r\n");
        let mut written = Vec::new();
        for (request, junk) in requests.chunks(piece).zip(junk.chunks(piece).chain(std::iter::repeat(&[][..]))) {
            written.extend(writer.send(&bench, request));
            vandal.send(&bench, junk);
        }
        prop_assert_eq!(written, b"STORED\r\n".repeat(values.len()));

        let mut reader = bench.client();
        for (index, value) in values.iter().enumerate() {
            let mut expected = format!("VALUE stable:key:{index} {index} {}\r\n", value.len()).into_bytes();
            expected.extend_from_slice(value);
            expected.extend_from_slice(b"\r\nEND\r\n");
            prop_assert_eq!(reader.send(&bench, format!("get stable:key:{index}\r\n").as_bytes()), expected);
        }
    }
}
