//! Property tests: what a client encodes parses back, no input panics, the outcome never
//! depends on how the input is split into reads, and replies read back as they were written.

use proptest::prelude::*;
use sessiond_resp::{Access, Encoder, Limits, Version};

use crate::support::{End, Transcript, Value, feed, read_replies};

/// Small limits, so that short random inputs reach every limit.
fn small_limits() -> Limits {
    Limits {
        max_bulk_len: 6,
        max_multibulk_len: 4,
        max_inline_len: 12,
        max_request_len: 48,
        unauthenticated_max_multibulk_len: 2,
        unauthenticated_max_bulk_len: 3,
        max_queued_commands: 4,
        max_transaction_bytes: 256,
        max_atomic_keys: 4,
    }
}

fn access() -> impl Strategy<Value = Access> {
    prop_oneof![Just(Access::Authenticated), Just(Access::Unauthenticated)]
}

fn version() -> impl Strategy<Value = Version> {
    prop_oneof![Just(Version::Resp2), Just(Version::Resp3)]
}

/// Commands as a client library would send them: any arguments, any bytes.
fn commands() -> impl Strategy<Value = Vec<Vec<Vec<u8>>>> {
    prop::collection::vec(
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..6),
        1..6,
    )
}

/// Redis's `sdscatrepr`: `bytes` quoted so that `sdssplitargs` reads them back.
fn repr(bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![b'"'];
    for &byte in bytes {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(byte),
            _ => out.extend_from_slice(format!("\\x{byte:02x}").as_bytes()),
        }
    }
    out.push(b'"');
    out
}

/// Pieces of the protocol, so that random inputs are mostly near-misses of valid requests.
fn fragment() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::sample::select(vec![
            &b"*"[..],
            b"$",
            b"-1",
            b"0",
            b"1",
            b"2",
            b"3",
            b"5",
            b"7",
            b"10",
            b"\r\n",
            b"\r",
            b"\n",
            b"\0",
            b" ",
            b"\t",
            b"\x0b",
            b"\"",
            b"'",
            b"\\",
            b"\\x4",
            b"\\x41",
            b"\\'",
            b"PING",
            b"abc",
            b"*1\r\n",
            b"*2\r\n",
            b"$3\r\nabc\r\n",
            b"$0\r\n\r\n",
        ])
        .prop_map(<[u8]>::to_vec),
        prop::collection::vec(any::<u8>(), 1..4),
    ]
}

fn fragments() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(fragment(), 0..40).prop_map(|pieces| pieces.concat())
}

/// A reply, to write and read back.
#[derive(Clone, Debug)]
enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Vec<u8>),
    Null,
    NullArray,
    Array(Vec<Reply>),
    Map(Vec<(Reply, Reply)>),
    Set(Vec<Reply>),
    Push(Vec<Reply>),
    /// A double and its text.
    Double(f64, &'static str),
    Boolean(bool),
    Verbatim(Vec<u8>),
    BigNumber(String),
}

fn reply() -> impl Strategy<Value = Reply> {
    let leaf = prop_oneof![
        "[ -~]{0,12}".prop_map(Reply::Simple),
        "ERR [ -~]{0,12}".prop_map(Reply::Error),
        any::<i64>().prop_map(Reply::Integer),
        prop::collection::vec(any::<u8>(), 0..20).prop_map(Reply::Bulk),
        Just(Reply::Null),
        Just(Reply::NullArray),
        prop::sample::select(vec![
            (1.5, "1.5"),
            (-2.0, "-2"),
            (0.25, "0.25"),
            (1e300, "1e+300"),
            (f64::INFINITY, "inf"),
        ])
        .prop_map(|(value, text)| Reply::Double(value, text)),
        any::<bool>().prop_map(Reply::Boolean),
        prop::collection::vec(any::<u8>(), 0..20).prop_map(Reply::Verbatim),
        "-?[1-9][0-9]{0,40}".prop_map(Reply::BigNumber),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Reply::Array),
            prop::collection::vec((inner.clone(), inner.clone()), 0..3).prop_map(Reply::Map),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Reply::Set),
            prop::collection::vec(inner, 0..4).prop_map(Reply::Push),
        ]
    })
}

/// Writes `reply` through the encoder.
fn write(encoder: &mut Encoder<'_>, reply: &Reply) {
    match reply {
        Reply::Simple(text) => {
            encoder.simple(text.as_bytes());
        }
        Reply::Error(text) => {
            encoder.error(text.as_bytes());
        }
        Reply::Integer(value) => {
            encoder.integer(*value);
        }
        Reply::Bulk(bytes) => {
            encoder.bulk(bytes);
        }
        Reply::Null => {
            encoder.null();
        }
        Reply::NullArray => {
            encoder.null_array();
        }
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => {
            match reply {
                Reply::Array(_) => encoder.array(items.len()),
                Reply::Set(_) => encoder.set(items.len()),
                _ => encoder.push(items.len()),
            };
            for item in items {
                write(encoder, item);
            }
        }
        Reply::Map(pairs) => {
            encoder.map(pairs.len());
            for (key, value) in pairs {
                write(encoder, key);
                write(encoder, value);
            }
        }
        Reply::Double(value, _) => {
            encoder.double(*value);
        }
        Reply::Boolean(value) => {
            encoder.boolean(*value);
        }
        Reply::Verbatim(text) => {
            encoder.verbatim(*b"txt", text);
        }
        Reply::BigNumber(digits) => {
            encoder.big_number(digits.as_bytes());
        }
    }
}

/// What a client of `version` reads for `reply`.
fn expected(reply: &Reply, version: Version) -> Value {
    let resp3 = version == Version::Resp3;
    let all = |items: &[Reply]| items.iter().map(|item| expected(item, version)).collect();
    match reply {
        Reply::Simple(text) => Value::Simple(text.clone().into_bytes()),
        Reply::Error(text) => Value::Error(text.clone().into_bytes()),
        Reply::Integer(value) => Value::Integer(*value),
        Reply::Bulk(bytes) => Value::Bulk(bytes.clone()),
        Reply::Null | Reply::NullArray if resp3 => Value::Null,
        Reply::Null => Value::NullBulk,
        Reply::NullArray => Value::NullArray,
        Reply::Array(items) => Value::Array(all(items)),
        Reply::Set(items) if resp3 => Value::Set(all(items)),
        Reply::Push(items) if resp3 => Value::Push(all(items)),
        Reply::Set(items) | Reply::Push(items) => Value::Array(all(items)),
        Reply::Map(pairs) if resp3 => Value::Map(
            pairs
                .iter()
                .map(|(key, value)| (expected(key, version), expected(value, version)))
                .collect(),
        ),
        Reply::Map(pairs) => Value::Array(
            pairs
                .iter()
                .flat_map(|(key, value)| [expected(key, version), expected(value, version)])
                .collect(),
        ),
        Reply::Double(_, text) if resp3 => Value::Double(text.as_bytes().to_vec()),
        Reply::Double(_, text) => Value::Bulk(text.as_bytes().to_vec()),
        Reply::Boolean(value) if resp3 => Value::Boolean(*value),
        Reply::Boolean(value) => Value::Integer(i64::from(*value)),
        Reply::Verbatim(text) if resp3 => Value::Verbatim(*b"txt", text.clone()),
        Reply::Verbatim(text) => Value::Bulk(text.clone()),
        Reply::BigNumber(digits) if resp3 => Value::BigNumber(digits.clone().into_bytes()),
        Reply::BigNumber(digits) => Value::Bulk(digits.clone().into_bytes()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn what_a_client_encodes_parses_back(
        sent in commands(),
        version in version(),
        piece in 1usize..64,
    ) {
        let mut input = Vec::new();
        let mut encoder = Encoder::new(&mut input, version);
        for command in &sent {
            encoder.array(command.len());
            for arg in command {
                encoder.bulk(arg);
            }
        }
        let transcript = feed(&input, Limits::default(), Access::Authenticated, piece);
        prop_assert_eq!(transcript, Transcript { commands: sent, end: End::Waiting(0) });
    }

    #[test]
    fn quoted_inline_commands_parse_back(
        sent in prop::collection::vec(
            prop::collection::vec(prop::collection::vec(any::<u8>(), 0..12), 1..5),
            1..5,
        ),
        blanks in prop::sample::select(vec![&b" "[..], b"  ", b"\t", b" \x0b "]),
        crlf in any::<bool>(),
        piece in 1usize..32,
    ) {
        let mut input = Vec::new();
        for command in &sent {
            let words: Vec<Vec<u8>> = command.iter().map(|arg| repr(arg)).collect();
            input.extend_from_slice(&words.join(blanks));
            input.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
        }
        let transcript = feed(&input, Limits::default(), Access::Authenticated, piece);
        prop_assert_eq!(transcript, Transcript { commands: sent, end: End::Waiting(0) });
    }

    #[test]
    fn any_bytes_parse_the_same_however_they_are_split(
        input in prop::collection::vec(any::<u8>(), 0..300),
        access in access(),
        piece in 1usize..40,
    ) {
        // `feed` also checks what every call may be relied on for (bytes consumed, bytes
        // buffered, `wants`).
        let whole = feed(&input, small_limits(), access, input.len());
        prop_assert_eq!(feed(&input, small_limits(), access, piece), whole);
    }

    #[test]
    fn near_misses_parse_the_same_however_they_are_split(
        input in fragments(),
        access in access(),
        piece in 1usize..16,
    ) {
        let whole = feed(&input, small_limits(), access, input.len());
        prop_assert_eq!(feed(&input, small_limits(), access, piece), whole.clone());
        prop_assert_eq!(feed(&input, Limits::default(), access, piece),
            feed(&input, Limits::default(), access, input.len()));
    }

    #[test]
    fn a_double_reads_back_as_the_same_number(value in any::<f64>()) {
        let mut out = Vec::new();
        Encoder::new(&mut out, Version::Resp3).double(value);
        let text = std::str::from_utf8(&out[1..out.len() - 2]).expect("ASCII");
        let back: f64 = text.parse().expect("a number");
        prop_assert!(back.to_bits() == value.to_bits() || (back.is_nan() && value.is_nan()),
            "{} read back as {}", value, back);
        // RESP2 carries the same text as a bulk string.
        let mut resp2 = Vec::new();
        Encoder::new(&mut resp2, Version::Resp2).double(value);
        prop_assert_eq!(resp2, format!("${}\r\n{}\r\n", text.len(), text).into_bytes());
    }

    #[test]
    fn replies_read_back_as_written(replies in prop::collection::vec(reply(), 1..4)) {
        for version in [Version::Resp2, Version::Resp3] {
            let mut out = Vec::new();
            let mut encoder = Encoder::new(&mut out, version);
            for reply in &replies {
                write(&mut encoder, reply);
            }
            let read = read_replies(&out);
            let wanted: Vec<Value> = replies.iter().map(|reply| expected(reply, version)).collect();
            prop_assert_eq!(read, wanted);
        }
    }
}
