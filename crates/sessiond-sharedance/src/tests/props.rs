//! Property tests: no input panics, and no request touches a key other than the one it names.

use proptest::prelude::*;
use sessiond_engine::{Key, NamespaceId, Store, StoreMode};

use super::Bench;
use crate::Limits;

/// Keys stored before each case, each with a value of its own.
const KEYS: [&[u8]; 6] = [b"a", b"b", b"c", b"ab", b"abc", b"ba"];

fn value_of(key: &[u8]) -> Vec<u8> {
    [b"value-", key].concat()
}

/// A request shaped like sharedance's, with lengths that may lie, a key that may be invalid,
/// and bytes that may be missing or extra.
fn request() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(vec![b'S', b'F', b'D', b'X', b's']),
        prop::collection::vec(
            prop::sample::select(vec![b'a', b'b', b'c', b'.', b'/', 0x1f, 0x7f, 0, 0xff]),
            0..4,
        ),
        prop::collection::vec(any::<u8>(), 0..8),
        -1i64..=1,
        -1i64..=1,
        prop::collection::vec(any::<u8>(), 0..3),
        prop::option::of(any::<prop::sample::Index>()),
    )
        .prop_map(|(opcode, key, data, key_lie, data_lie, extra, cut)| {
            let lie = |len: usize, by: i64| {
                let len = i64::try_from(len).unwrap_or(0).saturating_add(by).max(0);
                u32::try_from(len).unwrap_or(0).to_be_bytes()
            };
            let mut bytes = vec![opcode];
            bytes.extend_from_slice(&lie(key.len(), key_lie));
            if opcode == b'S' {
                bytes.extend_from_slice(&lie(data.len(), data_lie));
            }
            bytes.extend_from_slice(&key);
            if opcode == b'S' {
                bytes.extend_from_slice(&data);
            }
            bytes.extend_from_slice(&extra);
            if let Some(cut) = cut {
                bytes.truncate(cut.index(bytes.len() + 1));
            }
            bytes
        })
}

/// The opcode and key of `input` when it is exactly one request by its declared lengths,
/// worked out apart from the crate's own framing, which may refuse it.
fn names(input: &[u8]) -> Option<(u8, &[u8])> {
    let number = |at: usize| -> Option<usize> {
        let bytes: [u8; 4] = input.get(at..at + 4)?.try_into().ok()?;
        usize::try_from(u32::from_be_bytes(bytes)).ok()
    };
    let (opcode, header, data) = match input.first()? {
        b'S' => (b'S', 9, number(5)?),
        &opcode @ (b'F' | b'D') => (opcode, 5, 0),
        _ => return None,
    };
    let key_end = header + number(1)?;
    (key_end + data == input.len()).then(|| (opcode, &input[header..key_end]))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn no_input_panics_or_touches_another_key(
        input in prop_oneof![prop::collection::vec(any::<u8>(), 0..64), request()],
        piece in 1usize..16,
    ) {
        let bench = Bench::with_limits(Limits { max_request_size: 48, max_key_len: 3 });
        for namespace in [bench.namespace, NamespaceId::DEFAULT] {
            for key in KEYS {
                let value = value_of(key);
                let store = Store::new(
                    Key::new(namespace, key),
                    &value,
                    0,
                    sessiond_engine::Expiry::Never,
                    StoreMode::Set,
                );
                prop_assert!(bench.engine.run(&store, bench.now).is_ok());
            }
        }

        let pieces: Vec<&[u8]> = input.chunks(piece).collect();
        let exchange = bench.send_pieces(&pieces);

        // A request runs when a read ends exactly at its end, even if more bytes follow.
        let named = (1..=input.len())
            .filter(|&end| end % piece == 0 || end == input.len())
            .find_map(|end| names(&input[..end]));
        let reply_is_known = exchange.reply.is_empty()
            || exchange.reply == b"OK\n"
            || KEYS.iter().any(|&key| exchange.reply == value_of(key));
        prop_assert!(reply_is_known, "reply {:?}", exchange.reply);
        prop_assert!(exchange.reply.is_empty() || named.is_some(), "a reply to no request");
        for key in KEYS {
            let written = matches!(named, Some((b'S' | b'D', name)) if name == key);
            if !written {
                prop_assert_eq!(bench.value(key), Some(value_of(key)));
            }
            prop_assert_eq!(bench.value_in(NamespaceId::DEFAULT, key), Some(value_of(key)));
        }
    }
}
