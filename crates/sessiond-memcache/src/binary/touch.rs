//! TOUCH: php-memcached's session timestamp update (lazy write).
//!
//! memcached answers a hit with the item's flags as extras and its CAS, without key or value,
//! and a miss with "Not found".

use bytes::BytesMut;
use sessiond_engine::{Key, Touch, TouchOutcome};

use super::header::{Request, Status};
use super::{Step, Then, protocol_error};
use crate::Context;
use crate::exptime::expiry_from_binary;

/// Handles TOUCH.
pub(super) fn handle(request: &Request<'_>, out: &mut BytesMut, ctx: &Context<'_>) -> Step {
    let header = &request.header;
    if !(header.extras_len == 4 && header.key_len != 0) {
        return protocol_error(request, out);
    }
    let command = Touch {
        key: Key::new(ctx.namespace, request.key),
        expiry: expiry_from_binary(request.extras_u32(0), ctx.now),
    };
    let then = match ctx.engine.run(&command, ctx.now) {
        Ok(TouchOutcome::Touched { flags, cas }) => {
            request.respond(out, Status::Ok, cas, &flags.to_be_bytes(), &[], &[]);
            Then::Continue
        }
        Ok(TouchOutcome::NotFound) => {
            request.respond_error(out, Status::KeyNotFound);
            Then::Flush
        }
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
    use super::super::test_support::{Harness, Packet, Req, expiry, noop, set};
    use crate::Flow;

    #[test]
    fn touch_answers_flags_and_cas_and_moves_the_expiry() {
        let mut h = Harness::new();
        let cas = h.run(&set(b"k", b"v", 12))[0].cas;
        let touched = h.run(
            &Req::new(opcode::TOUCH)
                .key(b"k")
                .extras(&expiry(60))
                .opaque(3)
                .bytes(),
        );
        assert_eq!(
            touched,
            vec![Packet {
                extras: 12u32.to_be_bytes().to_vec(),
                cas,
                ..Packet::new(opcode::TOUCH, 3, 0)
            }]
        );
        h.advance_secs(61);
        let missed = h.run(
            &Req::new(opcode::TOUCH)
                .key(b"k")
                .extras(&expiry(60))
                .bytes(),
        );
        assert_eq!(
            missed,
            vec![Packet::error(opcode::TOUCH, 0, 1, "Not found")]
        );
    }

    #[test]
    fn stray_body_bytes_are_read_as_the_next_request() {
        // memcached consumes only header, extras and key of a TOUCH.
        let h = Harness::new();
        let request = Req::new(opcode::TOUCH)
            .key(b"k")
            .extras(&expiry(0))
            .value(&noop(7))
            .opaque(1);
        assert_eq!(
            h.run(&request.bytes()),
            vec![
                Packet::error(opcode::TOUCH, 1, 1, "Not found"),
                Packet::new(opcode::NOOP, 7, 0)
            ]
        );
    }

    #[test]
    fn malformed_touch_closes() {
        let h = Harness::new();
        for request in [
            Req::new(opcode::TOUCH).key(b"k"),
            Req::new(opcode::TOUCH).extras(&expiry(1)),
        ] {
            let (replies, flow) = h.run_flow(&request.bytes());
            assert_eq!(flow, Flow::Close);
            assert_eq!(replies[0].status, 4);
        }
    }
}
