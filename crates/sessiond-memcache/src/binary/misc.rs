//! The commands that act on no item: FLUSH(Q), NOOP, VERSION, STAT, QUIT(Q), and every opcode
//! memcached does not serve (VERBOSITY, which 1.6 no longer implements in binary, and SASL,
//! which it serves only when started with SASL).

use bytes::BytesMut;
use sessiond_engine::{Expiry, Flush};

use super::header::{Request, Status, opcode};
use super::{Step, Then, protocol_error};
use crate::exptime::expiry_from_binary;
use crate::{Context, ProtocolCounters, VERSION, stats};

/// Whether a request carries nothing but its header, as NOOP, VERSION and QUIT must.
fn is_bare(request: &Request<'_>) -> bool {
    let header = &request.header;
    header.extras_len == 0 && header.key_len == 0 && header.body_len == 0
}

/// FLUSH and FLUSHQ, with an optional 4-byte expiration delaying the flush. Only the
/// namespace memcached clients use is emptied: sessions of other protocols stay.
pub(super) fn flush(request: &Request<'_>, out: &mut BytesMut, ctx: &Context<'_>) -> Step {
    let header = &request.header;
    let valid = header.key_len == 0
        && header.body_len == u32::from(header.extras_len)
        && matches!(header.extras_len, 0 | 4);
    if !valid {
        return protocol_error(request, out);
    }
    let at = match expiry_from_binary(request.extras_u32(0), ctx.now) {
        Expiry::At(at) => Some(at),
        Expiry::Never | Expiry::Sliding(_) => None,
    };
    let command = Flush {
        namespace: Some(ctx.namespace),
        at,
    };
    if let Err(error) = ctx.engine.flush(&command, ctx.now) {
        request.respond_error(out, Status::refused(error));
        return Step::after_head(request, Then::Flush);
    }
    ProtocolCounters::bump(&ctx.counters.cmd_flush);
    if header.opcode == opcode::FLUSH {
        request.respond(out, Status::Ok, 0, &[], &[], &[]);
    }
    Step::after_head(request, Then::Continue)
}

/// NOOP: answered at once, and memcached writes out everything it held back with it, which is
/// why clients end pipelines of quiet requests with one.
pub(super) fn noop(request: &Request<'_>, out: &mut BytesMut) -> Step {
    if !is_bare(request) {
        return protocol_error(request, out);
    }
    request.respond(out, Status::Ok, 0, &[], &[], &[]);
    Step::after_head(request, Then::Flush)
}

/// VERSION: sessiond's version string.
pub(super) fn version(request: &Request<'_>, out: &mut BytesMut) -> Step {
    if !is_bare(request) {
        return protocol_error(request, out);
    }
    request.respond(out, Status::Ok, 0, &[], &[], VERSION.as_bytes());
    Step::after_head(request, Then::Continue)
}

/// QUIT answers and closes; QUITQ just closes.
pub(super) fn quit(request: &Request<'_>, out: &mut BytesMut) -> Step {
    if !is_bare(request) {
        return protocol_error(request, out);
    }
    if request.header.opcode == opcode::QUIT {
        request.respond(out, Status::Ok, 0, &[], &[], &[]);
    }
    Step::after_head(request, Then::Close)
}

/// STAT: one response per statistic, the name as key and the value as value, then an empty
/// response. The group is the key; memcached matches `reset`, `settings` and `detail` as
/// prefixes and the other groups exactly.
pub(super) fn stat(request: &Request<'_>, out: &mut BytesMut, ctx: &Context<'_>) -> Step {
    if request.header.extras_len != 0 {
        return protocol_error(request, out);
    }
    let group = request.key;
    let stat = |out: &mut BytesMut, name: &str, value: &str| {
        request.respond(out, Status::Ok, 0, &[], name.as_bytes(), value.as_bytes());
    };
    if group.is_empty() {
        for (name, value) in stats::general(ctx) {
            stat(out, name, &value);
        }
    } else if group.starts_with(b"reset") {
        // Nothing to reset: the engine's counters are cumulative by design. memcached answers
        // with the terminator alone too.
    } else if group.starts_with(b"settings") {
        for (name, value) in stats::settings(ctx) {
            stat(out, name, &value);
        }
    } else if let Some(detail) = group.strip_prefix(b"detail") {
        if detail.starts_with(b" dump") {
            // sessiond keeps no per-prefix statistics: the dump is memcached's empty one.
            stat(out, "detailed", "END\r\n");
        } else if !(detail.starts_with(b" on") || detail.starts_with(b" off")) {
            request.respond_error(out, Status::KeyNotFound);
            return Step::after_head(request, Then::Flush);
        }
    } else {
        match group {
            // sessiond has no slab classes or item size histogram: the groups exist, empty.
            b"items" | b"slabs" => {}
            b"sizes" => stat(out, "sizes_status", "disabled"),
            _ => {
                request.respond_error(out, Status::KeyNotFound);
                return Step::after_head(request, Then::Flush);
            }
        }
    }
    request.respond(out, Status::Ok, 0, &[], &[], &[]);
    Step::after_head(request, Then::Continue)
}

/// Any other opcode: "Unknown command". memcached then discards `body length` bytes counted
/// from the end of the key (so a request with a key or extras eats into the next one), and
/// for SASL, which it checks first, the body after the key.
pub(super) fn unknown(request: &Request<'_>, out: &mut BytesMut) -> Step {
    let header = &request.header;
    let swallow = match header.opcode {
        opcode::SASL_LIST_MECHS if !is_bare(request) => return protocol_error(request, out),
        opcode::SASL_AUTH | opcode::SASL_STEP
            if !(header.extras_len == 0 && header.key_len != 0) =>
        {
            return protocol_error(request, out);
        }
        opcode::SASL_LIST_MECHS | opcode::SASL_AUTH | opcode::SASL_STEP => {
            header.body_len.saturating_sub(u32::from(header.key_len))
        }
        _ => header.body_len,
    };
    request.respond_error(out, Status::UnknownCommand);
    // memcached's byte count is an `int`: zero or (from 2^31 on) negative discards nothing,
    // and then the reply is written out at once.
    let then = match i32::try_from(swallow) {
        Ok(n) if n > 0 => Then::Swallow(swallow),
        _ => Then::Flush,
    };
    Step::after_head(request, then)
}

#[cfg(test)]
mod tests {
    use super::super::header::opcode;
    use super::super::test_support::{Harness, Packet, Req, expiry, noop, set};
    use crate::{Flow, VERSION};

    fn stat_names(replies: &[super::super::test_support::Packet]) -> Vec<String> {
        replies
            .iter()
            .map(|p| String::from_utf8_lossy(&p.key).into_owned())
            .collect()
    }

    #[test]
    fn noop_version_quit() {
        let h = Harness::new();
        assert_eq!(h.run(&noop(5)), vec![Packet::new(opcode::NOOP, 5, 0)]);
        assert_eq!(
            h.run(&Req::new(opcode::VERSION).opaque(2).bytes()),
            vec![Packet {
                value: VERSION.as_bytes().to_vec(),
                ..Packet::new(opcode::VERSION, 2, 0)
            }]
        );
        let (replies, flow) =
            h.run_flow(&[Req::new(opcode::QUIT).opaque(3).bytes(), noop(4)].concat());
        assert_eq!(
            (replies, flow),
            (vec![Packet::new(opcode::QUIT, 3, 0)], Flow::Close)
        );
        let (replies, flow) = h.run_flow(&[Req::new(opcode::QUITQ).bytes(), noop(4)].concat());
        assert_eq!((replies, flow), (vec![], Flow::Close));
    }

    #[test]
    fn bare_commands_with_a_body_close() {
        let h = Harness::new();
        for op in [
            opcode::NOOP,
            opcode::VERSION,
            opcode::QUIT,
            opcode::QUITQ,
            opcode::SASL_LIST_MECHS,
        ] {
            for request in [
                Req::new(op).key(b"k"),
                Req::new(op).extras(&[0; 4]),
                Req::new(op).value(b"v"),
            ] {
                let (replies, flow) = h.run_flow(&request.bytes());
                assert_eq!(flow, Flow::Close);
                assert_eq!(replies, vec![Packet::error(op, 0, 4, "Invalid arguments")]);
            }
        }
    }

    #[test]
    fn flush_empties_now_or_later() {
        let mut h = Harness::new();
        h.run(&set(b"a", b"v", 0));
        let replies = h.run(
            &[
                Req::new(opcode::FLUSHQ).bytes(),
                Req::new(opcode::GET).key(b"a").opaque(1).bytes(),
            ]
            .concat(),
        );
        assert_eq!(replies, vec![Packet::error(opcode::GET, 1, 1, "Not found")]);
        h.run(&set(b"b", b"v", 0));
        let delayed = h.run(
            &Req::new(opcode::FLUSH)
                .extras(&expiry(10))
                .opaque(2)
                .bytes(),
        );
        assert_eq!(delayed, vec![Packet::new(opcode::FLUSH, 2, 0)]);
        assert_eq!(h.run(&Req::new(opcode::GET).key(b"b").bytes())[0].status, 0);
        h.advance_secs(11);
        assert_eq!(h.run(&Req::new(opcode::GET).key(b"b").bytes())[0].status, 1);
        assert_eq!(
            h.counters
                .cmd_flush
                .load(std::sync::atomic::Ordering::Relaxed),
            2
        );
    }

    #[test]
    fn flush_leaves_other_namespaces_alone() {
        let mut h = Harness::new();
        h.run(&set(b"a", b"v", 0));
        let mine = h.namespace;
        h.namespace = sessiond_engine::NamespaceId(mine.0 + 1);
        h.run(&Req::new(opcode::FLUSH).bytes());
        h.namespace = mine;
        assert_eq!(h.run(&Req::new(opcode::GET).key(b"a").bytes())[0].status, 0);
    }

    #[test]
    fn malformed_flush_closes() {
        let h = Harness::new();
        for request in [
            Req::new(opcode::FLUSH).extras(&[0; 8]),
            Req::new(opcode::FLUSH).key(b"k"),
            Req::new(opcode::FLUSHQ).extras(&[0; 4]).value(b"x"),
        ] {
            let (replies, flow) = h.run_flow(&request.bytes());
            assert_eq!(flow, Flow::Close);
            assert_eq!(replies[0].status, 4);
        }
    }

    #[test]
    fn stat_groups() {
        let h = Harness::new();
        let all = h.run(&Req::new(opcode::STAT).opaque(8).bytes());
        let names = stat_names(&all);
        assert_eq!(names.first().map(String::as_str), Some("pid"));
        assert_eq!(names.last().map(String::as_str), Some(""));
        assert!(names.iter().any(|n| n == "curr_items"));
        assert!(
            all.iter()
                .all(|p| p.opcode == opcode::STAT && p.opaque == 8 && p.status == 0)
        );
        assert!(all.last().is_some_and(|p| p.value.is_empty()));

        let settings = h.run(&Req::new(opcode::STAT).key(b"settings").bytes());
        assert!(stat_names(&settings).iter().any(|n| n == "item_size_max"));

        let terminator_only = |group: &[u8]| h.run(&Req::new(opcode::STAT).key(group).bytes());
        for group in [
            &b"reset"[..],
            b"items",
            b"slabs",
            b"detail on",
            b"detail off",
        ] {
            assert_eq!(
                terminator_only(group),
                vec![Packet::new(opcode::STAT, 0, 0)]
            );
        }
        assert_eq!(
            terminator_only(b"sizes"),
            vec![
                Packet {
                    key: b"sizes_status".to_vec(),
                    value: b"disabled".to_vec(),
                    ..Packet::new(opcode::STAT, 0, 0)
                },
                Packet::new(opcode::STAT, 0, 0)
            ]
        );
        assert_eq!(terminator_only(b"detail dump")[0].value, b"END\r\n");
        for group in [&b"bogus"[..], b"detail", b"itemsx"] {
            assert_eq!(
                terminator_only(group),
                vec![Packet::error(opcode::STAT, 0, 1, "Not found")]
            );
        }
        let (replies, flow) = h.run_flow(&Req::new(opcode::STAT).extras(&[0; 4]).bytes());
        assert_eq!((replies[0].status, flow), (4, Flow::Close));
    }

    #[test]
    fn unknown_commands_discard_body_length_bytes_after_the_key() {
        let h = Harness::new();
        // VERBOSITY carries 4 bytes of extras, so memcached discards 4 bytes past it.
        let verbosity = Req::new(opcode::VERBOSITY)
            .extras(&[0, 0, 0, 1])
            .opaque(1)
            .bytes();
        assert_eq!(
            h.run(&[verbosity.clone(), b"xxxx".to_vec(), noop(2)].concat()),
            vec![
                Packet::error(opcode::VERBOSITY, 1, 0x81, "Unknown command"),
                Packet::new(opcode::NOOP, 2, 0)
            ]
        );
        let keyed = Req::new(0x40).key(b"abc").opaque(3).bytes();
        assert_eq!(
            h.run(&[keyed, b"yyy".to_vec(), noop(4)].concat()),
            vec![
                Packet::error(0x40, 3, 0x81, "Unknown command"),
                Packet::new(opcode::NOOP, 4, 0)
            ]
        );
        for op in [0x1f, 0x25, 0x7f, 0xff] {
            assert_eq!(
                h.run(&Req::new(op).bytes()),
                vec![Packet::error(op, 0, 0x81, "Unknown command")]
            );
        }
    }

    #[test]
    fn sasl_is_unknown_without_sasl() {
        let h = Harness::new();
        let auth = Req::new(opcode::SASL_AUTH)
            .key(b"PLAIN")
            .value(b"\0user\0pass")
            .opaque(1);
        assert_eq!(
            h.run(
                &[
                    Req::new(opcode::SASL_LIST_MECHS).bytes(),
                    auth.bytes(),
                    noop(2)
                ]
                .concat()
            ),
            vec![
                Packet::error(opcode::SASL_LIST_MECHS, 0, 0x81, "Unknown command"),
                Packet::error(opcode::SASL_AUTH, 1, 0x81, "Unknown command"),
                Packet::new(opcode::NOOP, 2, 0)
            ]
        );
        let (replies, flow) = h.run_flow(&Req::new(opcode::SASL_STEP).value(b"x").bytes());
        assert_eq!((replies[0].status, flow), (4, Flow::Close));
    }
}
