//! GET, GETQ, GETK, GETKQ and their get-and-touch forms GAT, GATQ, GATK, GATKQ.
//!
//! A hit answers the item's flags (as extras), the key for the K forms, and the value, with
//! the item's CAS. A miss is silent for the quiet forms, answers the bare key for the K forms
//! (memcached sends no error text there) and "Not found" otherwise.

use bytes::BytesMut;
use sessiond_engine::{Get, GetOutcome, Key};

use super::header::{Request, Status, opcode};
use super::{Step, Then, protocol_error};
use crate::Context;
use crate::exptime::expiry_from_binary;

/// How one opcode of the family behaves.
#[derive(Clone, Copy, Debug)]
struct Form {
    /// Echo the key in hits and misses.
    with_key: bool,
    /// Say nothing on a miss.
    quiet: bool,
    /// Replace the expiry (GAT forms, which carry it as 4 bytes of extras).
    touch: bool,
}

fn form(opcode: u8) -> Form {
    let (with_key, quiet, touch) = match opcode {
        opcode::GETQ => (false, true, false),
        opcode::GETK => (true, false, false),
        opcode::GETKQ => (true, true, false),
        opcode::GAT => (false, false, true),
        opcode::GATQ => (false, true, true),
        opcode::GATK => (true, false, true),
        opcode::GATKQ => (true, true, true),
        _ => (false, false, false),
    };
    Form {
        with_key,
        quiet,
        touch,
    }
}

/// Handles a request of the GET or GAT family.
pub(super) fn handle(request: &Request<'_>, out: &mut BytesMut, ctx: &Context<'_>) -> Step {
    let header = &request.header;
    let form = form(header.opcode);
    let valid = if form.touch {
        header.extras_len == 4 && header.key_len != 0
    } else {
        header.extras_len == 0 && header.body_len == u32::from(header.key_len) && header.key_len > 0
    };
    if !valid {
        return protocol_error(request, out);
    }

    let key = Key::new(ctx.namespace, request.key);
    let command = if form.touch {
        Get::and_touch(key, expiry_from_binary(request.extras_u32(0), ctx.now))
    } else {
        Get::new(key)
    };
    let then = match ctx.engine.run(&command, ctx.now) {
        Ok(GetOutcome::Hit(item)) => {
            let echoed: &[u8] = if form.with_key { request.key } else { &[] };
            request.respond(
                out,
                Status::Ok,
                item.cas,
                &item.flags.to_be_bytes(),
                echoed,
                &item.value,
            );
            Then::Continue
        }
        Ok(GetOutcome::Miss) if form.quiet => Then::Continue,
        Ok(GetOutcome::Miss) if form.with_key => {
            request.respond(out, Status::KeyNotFound, 0, &[], request.key, &[]);
            Then::Continue
        }
        Ok(GetOutcome::Miss) => {
            request.respond_error(out, Status::KeyNotFound);
            Then::Flush
        }
        // A plain read creates nothing, so it cannot run out of memory; answer as memcached
        // answers any allocation failure should the engine ever refuse one.
        Err(error) => {
            request.respond_error(out, Status::refused(error));
            Then::Flush
        }
    };
    Step::after_head(request, then)
}

#[cfg(test)]
mod tests {
    use super::super::header::opcode;
    use super::super::test_support::{Harness, Packet, Req, expiry, set};

    #[test]
    fn hits_carry_flags_and_cas_and_the_key_in_k_forms() {
        let h = Harness::new();
        let stored = h.run(&set(b"k", b"value", 0xdead_beef));
        let cas = stored[0].cas;
        assert_ne!(cas, 0);
        for (op, with_key) in [
            (opcode::GET, false),
            (opcode::GETQ, false),
            (opcode::GETK, true),
            (opcode::GETKQ, true),
        ] {
            let replies = h.run(&Req::new(op).key(b"k").opaque(42).bytes());
            assert_eq!(
                replies,
                vec![Packet {
                    opcode: op,
                    status: 0,
                    extras: 0xdead_beef_u32.to_be_bytes().to_vec(),
                    key: if with_key { b"k".to_vec() } else { Vec::new() },
                    value: b"value".to_vec(),
                    opaque: 42,
                    cas,
                }],
                "opcode {op:#04x}"
            );
        }
    }

    #[test]
    fn misses_follow_memcached() {
        let h = Harness::new();
        let get = h.run(&Req::new(opcode::GET).key(b"nx").opaque(1).bytes());
        assert_eq!(get, vec![Packet::error(opcode::GET, 1, 0x01, "Not found")]);
        let getk = h.run(&Req::new(opcode::GETK).key(b"nx").opaque(2).bytes());
        assert_eq!(
            getk,
            vec![Packet {
                key: b"nx".to_vec(),
                ..Packet::new(opcode::GETK, 2, 0x01)
            }]
        );
        for op in [opcode::GETQ, opcode::GETKQ, opcode::GATQ, opcode::GATKQ] {
            let mut request = Req::new(op).key(b"nx");
            if matches!(op, opcode::GATQ | opcode::GATKQ) {
                request = request.extras(&expiry(10));
            }
            assert_eq!(h.run(&request.bytes()), vec![], "opcode {op:#04x}");
        }
        let gat = h.run(&Req::new(opcode::GAT).key(b"nx").extras(&expiry(10)).bytes());
        assert_eq!(gat, vec![Packet::error(opcode::GAT, 0, 0x01, "Not found")]);
        let gatk = h.run(
            &Req::new(opcode::GATK)
                .key(b"nx")
                .extras(&expiry(10))
                .bytes(),
        );
        assert_eq!(
            gatk,
            vec![Packet {
                key: b"nx".to_vec(),
                ..Packet::new(opcode::GATK, 0, 0x01)
            }]
        );
    }

    #[test]
    fn gat_returns_the_value_and_replaces_the_expiry() {
        let mut h = Harness::new();
        h.run(&set(b"k", b"v", 3));
        for op in [opcode::GAT, opcode::GATQ, opcode::GATK, opcode::GATKQ] {
            let replies = h.run(&Req::new(op).key(b"k").extras(&expiry(100)).bytes());
            assert_eq!(replies.len(), 1, "opcode {op:#04x}");
            assert_eq!(replies[0].value, b"v");
            assert_eq!(replies[0].extras, 3u32.to_be_bytes());
            let with_key = matches!(op, opcode::GATK | opcode::GATKQ);
            assert_eq!(replies[0].key, if with_key { &b"k"[..] } else { &b""[..] });
        }
        h.advance_secs(50);
        assert_eq!(h.run(&Req::new(opcode::GET).key(b"k").bytes())[0].status, 0);
        h.advance_secs(51);
        assert_eq!(h.run(&Req::new(opcode::GET).key(b"k").bytes())[0].status, 1);
    }

    #[test]
    fn malformed_gets_are_invalid_arguments_and_close() {
        let h = Harness::new();
        let cases = [
            Req::new(opcode::GET).key(b"k").extras(&[0; 4]),
            Req::new(opcode::GETK),
            Req::new(opcode::GETQ).key(b"k").value(b"x"),
            Req::new(opcode::GAT).key(b"k"),
            Req::new(opcode::GATK).extras(&expiry(1)),
        ];
        for request in cases {
            let (replies, flow) = h.run_flow(&request.bytes());
            assert_eq!(flow, crate::Flow::Close, "{request:?}");
            assert_eq!(replies.len(), 1);
            assert_eq!(replies[0].status, 0x04);
            assert_eq!(replies[0].value, b"Invalid arguments");
        }
    }
}
