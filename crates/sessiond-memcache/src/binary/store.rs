//! SET, ADD, REPLACE, APPEND, PREPEND and their quiet forms.
//!
//! memcached's rules, which php-memcached's locking relies on (ADD of the lock key):
//! - a nonzero CAS turns SET, ADD and REPLACE alike into compare-and-swap: stored only over an
//!   item with that version, KEY_EEXISTS if the version differs, KEY_ENOENT if there is none;
//! - a failed ADD is KEY_EEXISTS, a failed REPLACE KEY_ENOENT, a failed APPEND or PREPEND
//!   NOT_STORED (with a CAS too: memcached's append never answers KEY_ENOENT);
//! - a value over the item size limit is refused with E2BIG before it is read, and discarded
//!   as it arrives instead of being buffered; a refused SET also removes the key, so a stale
//!   value is not served after a write the client believes replaced it.

use bytes::BytesMut;
use sessiond_engine::{Delete, EngineError, Expiry, Key, Store, StoreMode, StoreOutcome};

use super::header::{Request, Status, opcode};
use super::{Step, Then, protocol_error};
use crate::exptime::expiry_from_binary;
use crate::{Context, ProtocolCounters};

/// memcached's text for a store it could not allocate (its "SERVER_ERROR " prefix dropped).
const OUT_OF_MEMORY: &str = "Out of memory allocating item";

/// Handles a request of the store family.
pub(super) fn handle(request: &Request<'_>, out: &mut BytesMut, ctx: &Context<'_>) -> Step {
    let header = &request.header;
    let (mode, quiet) = match header.opcode {
        opcode::SET => (StoreMode::Set, false),
        opcode::SETQ => (StoreMode::Set, true),
        opcode::ADD => (StoreMode::Add, false),
        opcode::ADDQ => (StoreMode::Add, true),
        opcode::REPLACE => (StoreMode::Replace, false),
        opcode::REPLACEQ => (StoreMode::Replace, true),
        opcode::APPEND => (StoreMode::Append, false),
        opcode::APPENDQ => (StoreMode::Append, true),
        opcode::PREPEND => (StoreMode::Prepend, false),
        _ => (StoreMode::Prepend, true),
    };
    let concatenates = matches!(mode, StoreMode::Append | StoreMode::Prepend);
    let valid = if concatenates {
        header.key_len > 0 && header.extras_len == 0
    } else {
        header.extras_len == 8
            && header.key_len != 0
            && header.body_len >= u32::from(header.key_len) + 8
    };
    let Some(value_len) = header.value_len().filter(|_| valid) else {
        return protocol_error(request, out);
    };

    let too_large = usize::try_from(value_len).map_or(true, |len| len > ctx.limits.max_item_size);
    if too_large {
        ProtocolCounters::bump(&ctx.counters.store_too_large);
        request.respond_error(out, Status::TooLarge);
        if mode == StoreMode::Set {
            // Refused only while writes cannot be made durable; the old value then stays.
            let _ = ctx
                .engine
                .run(&Delete::new(Key::new(ctx.namespace, request.key)), ctx.now);
        }
        // memcached counts the bytes to discard in an `int`: from 2^31 on the count is
        // negative and it discards nothing, reading the value as further requests.
        let then = if i32::try_from(value_len).is_ok() {
            Then::Swallow(value_len)
        } else {
            Then::Continue
        };
        return Step::after_head(request, then);
    }

    let Some(value) = usize::try_from(value_len)
        .ok()
        .and_then(|len| request.rest.get(..len))
    else {
        return Step::Incomplete;
    };
    let consumed = request.header.head_len() + value.len();

    let cas = header.cas();
    let store = Store {
        key: Key::new(ctx.namespace, request.key),
        value,
        flags: if concatenates {
            0
        } else {
            request.extras_u32(0)
        },
        expiry: if concatenates {
            Expiry::Never
        } else {
            expiry_from_binary(request.extras_u32(4), ctx.now)
        },
        // memcached's compare-and-swap store ignores what the opcode asked for.
        mode: if cas.is_some() && !concatenates {
            StoreMode::Set
        } else {
            mode
        },
        cas,
        invalidate: false,
        vivify: None,
    };
    let then = match ctx.engine.run(&store, ctx.now) {
        Ok(StoreOutcome::Stored { .. }) if quiet => Then::Continue,
        Ok(StoreOutcome::Stored { cas }) => {
            request.respond(out, Status::Ok, cas, &[], &[], &[]);
            Then::Continue
        }
        Ok(outcome) => {
            let status = match (outcome, mode) {
                (StoreOutcome::Exists, _) | (StoreOutcome::NotStored, StoreMode::Add) => {
                    Status::KeyExists
                }
                (StoreOutcome::NotFound, StoreMode::Append | StoreMode::Prepend) => {
                    Status::NotStored
                }
                (StoreOutcome::NotFound, _) | (StoreOutcome::NotStored, StoreMode::Replace) => {
                    Status::KeyNotFound
                }
                _ => Status::NotStored,
            };
            request.respond_error(out, status);
            Then::Flush
        }
        Err(error) => {
            // Unlike memcached, a refused SET leaves the old value in place: sessiond never
            // drops a live session because memory is short (see the `evictions` stat).
            ProtocolCounters::bump(&ctx.counters.store_no_memory);
            match error {
                EngineError::OutOfMemory => {
                    request.respond_error_text(out, Status::OutOfMemory, OUT_OF_MEMORY);
                }
                _ => request.respond_error(out, Status::refused(error)),
            }
            // memcached refuses before reading the value and then discards it, which does
            // not write out held-back replies.
            Then::Continue
        }
    };
    Step::Done { consumed, then }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use bytes::BytesMut;
    use sessiond_engine::EngineConfig;

    use super::super::header::opcode;
    use super::super::test_support::{Harness, Packet, Req, noop, parse, set, store_extras};
    use crate::{Connection, Flow, Limits};

    fn get_value(h: &Harness, key: &[u8]) -> Option<Vec<u8>> {
        let replies = h.run(&Req::new(opcode::GET).key(key).bytes());
        (replies[0].status == 0).then(|| replies[0].value.clone())
    }

    fn store(op: u8, key: &[u8], value: &[u8]) -> Req {
        let request = Req::new(op).key(key).value(value).opaque(u32::from(op));
        if matches!(
            op,
            opcode::APPEND | opcode::APPENDQ | opcode::PREPEND | opcode::PREPENDQ
        ) {
            request
        } else {
            request.extras(&store_extras(5, 0))
        }
    }

    #[test]
    fn set_add_replace_append_prepend() {
        let h = Harness::new();
        let replies = h.run(
            &[
                store(opcode::ADD, b"k", b"b").bytes(),
                store(opcode::ADD, b"k", b"x").bytes(),
                store(opcode::REPLACE, b"nx", b"x").bytes(),
                store(opcode::APPEND, b"k", b"c").bytes(),
                store(opcode::PREPEND, b"k", b"a").bytes(),
                store(opcode::APPEND, b"nx", b"x").bytes(),
                store(opcode::PREPEND, b"nx", b"x").bytes(),
                store(opcode::REPLACE, b"k", b"abc!").bytes(),
                store(opcode::SET, b"k2", b"v").bytes(),
            ]
            .concat(),
        );
        let statuses: Vec<(u8, u16, &[u8])> = replies
            .iter()
            .map(|p| (p.opcode, p.status, &p.value[..]))
            .collect();
        assert_eq!(
            statuses,
            vec![
                (opcode::ADD, 0, &b""[..]),
                (opcode::ADD, 2, b"Data exists for key."),
                (opcode::REPLACE, 1, b"Not found"),
                (opcode::APPEND, 0, b""),
                (opcode::PREPEND, 0, b""),
                (opcode::APPEND, 5, b"Not stored."),
                (opcode::PREPEND, 5, b"Not stored."),
                (opcode::REPLACE, 0, b""),
                (opcode::SET, 0, b""),
            ]
        );
        // Successful stores carry distinct, nonzero CAS; errors carry none.
        assert!(replies.iter().filter(|p| p.status == 0).all(|p| p.cas != 0));
        assert!(replies.iter().filter(|p| p.status != 0).all(|p| p.cas == 0));
        assert_eq!(replies[0].opaque, u32::from(opcode::ADD));
        assert_eq!(get_value(&h, b"k").as_deref(), Some(&b"abc!"[..]));
    }

    #[test]
    fn append_keeps_flags() {
        let h = Harness::new();
        h.run(&set(b"k", b"a", 9));
        h.run(&store(opcode::APPEND, b"k", b"b").bytes());
        let got = h.run(&Req::new(opcode::GET).key(b"k").bytes());
        assert_eq!(got[0].value, b"ab");
        assert_eq!(got[0].extras, 9u32.to_be_bytes());
    }

    #[test]
    fn quiet_stores_answer_only_errors() {
        let h = Harness::new();
        let replies = h.run(
            &[
                store(opcode::SETQ, b"k", b"v").bytes(),
                store(opcode::ADDQ, b"k2", b"v").bytes(),
                store(opcode::APPENDQ, b"k", b"w").bytes(),
                store(opcode::PREPENDQ, b"k", b"u").bytes(),
                store(opcode::REPLACEQ, b"k", b"uvw").bytes(),
                store(opcode::ADDQ, b"k", b"v").bytes(),
                store(opcode::REPLACEQ, b"nx", b"v").bytes(),
                store(opcode::APPENDQ, b"nx", b"v").bytes(),
                noop(9),
            ]
            .concat(),
        );
        assert_eq!(
            replies,
            vec![
                Packet::error(
                    opcode::ADDQ,
                    u32::from(opcode::ADDQ),
                    2,
                    "Data exists for key."
                ),
                Packet::error(
                    opcode::REPLACEQ,
                    u32::from(opcode::REPLACEQ),
                    1,
                    "Not found"
                ),
                Packet::error(
                    opcode::APPENDQ,
                    u32::from(opcode::APPENDQ),
                    5,
                    "Not stored."
                ),
                Packet::new(opcode::NOOP, 9, 0),
            ]
        );
        assert_eq!(get_value(&h, b"k").as_deref(), Some(&b"uvw"[..]));
    }

    #[test]
    fn nonzero_cas_is_compare_and_swap_for_every_store() {
        let h = Harness::new();
        let cas = h.run(&set(b"k", b"v", 0))[0].cas;
        let swap = |op: u8, key: &[u8], cas: u64| h.run(&store(op, key, b"new").cas(cas).bytes());
        assert_eq!(swap(opcode::SET, b"k", cas + 1)[0].status, 2);
        assert_eq!(swap(opcode::SET, b"nx", 1)[0].status, 1);
        assert_eq!(swap(opcode::ADD, b"nx", 1)[0].status, 1);
        assert_eq!(swap(opcode::APPEND, b"nx", 1)[0].status, 5);
        assert_eq!(swap(opcode::APPEND, b"k", cas + 1)[0].status, 2);
        // ADD with the right version replaces the item, as memcached's CAS does.
        let added = swap(opcode::ADD, b"k", cas);
        assert_eq!(added[0].status, 0);
        assert_ne!(added[0].cas, cas);
        assert_eq!(get_value(&h, b"k").as_deref(), Some(&b"new"[..]));
        assert_eq!(swap(opcode::REPLACE, b"k", cas)[0].status, 2);
        assert_eq!(swap(opcode::REPLACE, b"k", added[0].cas)[0].status, 0);
    }

    #[test]
    fn expiration_is_relative_or_absolute() {
        let mut h = Harness::new();
        let with_exptime = |key: &[u8], exptime: u32| {
            Req::new(opcode::SET)
                .key(key)
                .extras(&store_extras(0, exptime))
                .value(b"v")
                .bytes()
        };
        h.run(&with_exptime(b"rel", 10));
        // php-memcached's strict-mode probe: 31 days is an absolute time, long past.
        let probe = h.run(&with_exptime(b"probe", 2_678_400));
        assert_eq!(probe[0].status, 0);
        assert_eq!(get_value(&h, b"probe"), None);
        h.advance_secs(11);
        assert_eq!(get_value(&h, b"rel"), None);
    }

    #[test]
    fn too_large_values_are_refused_and_discarded_without_buffering() {
        let h = Harness::with(
            Limits {
                max_item_size: 1024,
                ..Limits::default()
            },
            EngineConfig::default(),
        );
        h.run(&set(b"k", b"old", 0));
        h.run(&set(b"kept", b"old", 0));
        let value_len: u32 = 100 << 20;
        let mut conn = Connection::new();
        let mut input = BytesMut::new();
        let head = Req::new(opcode::SET)
            .key(b"k")
            .extras(&store_extras(0, 0))
            .body_len(9 + value_len)
            .opaque(5)
            .bytes();
        let (out, flow) = h.feed(&mut conn, &mut input, &head);
        assert_eq!(flow, Flow::Continue);
        assert_eq!(
            parse(&out),
            vec![Packet::error(opcode::SET, 5, 3, "Too large.")]
        );
        let chunk = vec![0x80u8; 64 * 1024];
        let mut left = value_len as usize;
        while left > 0 {
            let n = left.min(chunk.len());
            let (out, flow) = h.feed(&mut conn, &mut input, &chunk[..n]);
            assert!(out.is_empty());
            assert_eq!(flow, Flow::Continue);
            assert!(input.is_empty(), "a refused value is never buffered");
            left -= n;
        }
        let (out, _) = h.feed(&mut conn, &mut input, &noop(6));
        assert_eq!(parse(&out), vec![Packet::new(opcode::NOOP, 6, 0)]);
        assert_eq!(h.counters.store_too_large.load(Ordering::Relaxed), 1);
        // The refused SET removed the old value, as memcached does; an ADD leaves it.
        assert_eq!(get_value(&h, b"k"), None);
        let add = Req::new(opcode::ADD)
            .key(b"kept")
            .extras(&store_extras(0, 0))
            .value(&[b'x'; 1025]);
        assert_eq!(h.run(&add.bytes())[0].status, 3);
        assert_eq!(get_value(&h, b"kept").as_deref(), Some(&b"old"[..]));
        let append = Req::new(opcode::APPENDQ).key(b"kept").value(&[b'x'; 1025]);
        assert_eq!(
            h.run(&[append.bytes(), noop(1)].concat()),
            vec![
                Packet::error(opcode::APPENDQ, 0, 3, "Too large."),
                Packet::new(opcode::NOOP, 1, 0)
            ]
        );
    }

    #[test]
    fn values_at_the_limit_are_stored() {
        let h = Harness::with(
            Limits {
                max_item_size: 1024,
                ..Limits::default()
            },
            EngineConfig::default(),
        );
        assert_eq!(h.run(&set(b"k", &[7; 1024], 0))[0].status, 0);
        assert_eq!(get_value(&h, b"k").map(|v| v.len()), Some(1024));
    }

    #[test]
    fn a_body_of_2_gib_or_more_is_refused_and_not_discarded() {
        let h = Harness::new();
        let head = Req::new(opcode::SET)
            .key(b"k")
            .extras(&store_extras(0, 0))
            .body_len(0x8000_0010)
            .bytes();
        let replies = h.run(&[head, noop(1)].concat());
        assert_eq!(
            replies,
            vec![
                Packet::error(opcode::SET, 0, 3, "Too large."),
                Packet::new(opcode::NOOP, 1, 0)
            ]
        );
    }

    #[test]
    fn out_of_memory_is_enomem_and_keeps_the_old_value() {
        let h = Harness::with(
            Limits::default(),
            EngineConfig {
                max_memory: 64 * 1024,
            },
        );
        h.run(&set(b"k", b"old", 0));
        let mut status = 0;
        for i in 0..100 {
            let reply = h.run(&set(format!("fill{i}").as_bytes(), &[1; 4000], 0));
            status = reply[0].status;
            if status != 0 {
                assert_eq!(
                    reply,
                    vec![Packet::error(
                        opcode::SET,
                        0,
                        0x82,
                        "Out of memory allocating item"
                    )]
                );
                break;
            }
        }
        assert_eq!(status, 0x82);
        assert_eq!(h.run(&set(b"k", &[1; 8000], 0))[0].status, 0x82);
        assert_eq!(get_value(&h, b"k").as_deref(), Some(&b"old"[..]));
        assert_eq!(h.counters.store_no_memory.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn malformed_stores_are_invalid_arguments_and_close() {
        let h = Harness::new();
        let cases = [
            Req::new(opcode::SET).key(b"k").extras(&[0; 4]).value(b"v"),
            Req::new(opcode::SET)
                .extras(&store_extras(0, 0))
                .value(b"v"),
            Req::new(opcode::ADDQ).key(b"k").value(b"v"),
            Req::new(opcode::APPEND)
                .key(b"k")
                .extras(&[0; 4])
                .value(b"v"),
            Req::new(opcode::PREPEND).value(b"v"),
        ];
        for request in cases {
            let (replies, flow) = h.run_flow(&request.bytes());
            assert_eq!(flow, Flow::Close, "{request:?}");
            assert_eq!(
                replies,
                vec![Packet::error(request.bytes()[1], 0, 4, "Invalid arguments")]
            );
        }
    }
}
