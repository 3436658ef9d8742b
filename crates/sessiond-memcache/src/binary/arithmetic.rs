//! INCREMENT, DECREMENT and their quiet forms.
//!
//! Extras are the delta, the initial value and the expiration (8 + 8 + 4 bytes). A miss
//! creates the counter at the initial value (without applying the delta) unless the
//! expiration is `0xffffffff`, which asks for KEY_ENOENT instead. A hit answers the new value
//! as an 8-byte body with the item's new CAS.

use bytes::BytesMut;
use sessiond_engine::{Arithmetic, ArithmeticOutcome, Direction, EngineError, Key, Vivify};

use super::header::{Request, Status, opcode};
use super::{Step, Then, protocol_error};
use crate::exptime::expiry_from_binary;
use crate::{Context, ProtocolCounters};

/// The expiration that means "do not create a missing counter".
const NO_VIVIFY: u32 = 0xffff_ffff;

/// memcached's text when a counter could not be written (its "SERVER_ERROR " prefix
/// dropped). The engine does not say whether the counter existed, so the text of memcached's
/// growing-in-place failure stands for both of its out-of-memory cases.
const OUT_OF_MEMORY: &str = "Out of memory incrementing value";

/// Handles INCREMENT, DECREMENT and their quiet forms.
pub(super) fn handle(request: &Request<'_>, out: &mut BytesMut, ctx: &Context<'_>) -> Step {
    let header = &request.header;
    if !(header.key_len > 0
        && header.extras_len == 20
        && header.body_len == u32::from(header.key_len) + 20)
    {
        return protocol_error(request, out);
    }
    let (direction, quiet) = match header.opcode {
        opcode::INCREMENT => (Direction::Increment, false),
        opcode::INCREMENTQ => (Direction::Increment, true),
        opcode::DECREMENT => (Direction::Decrement, false),
        _ => (Direction::Decrement, true),
    };
    let initial = request.extras_u64(8);
    let exptime = request.extras_u32(16);
    let command = Arithmetic {
        key: Key::new(ctx.namespace, request.key),
        direction,
        delta: request.extras_u64(0),
        cas: header.cas(),
        vivify: (exptime != NO_VIVIFY).then(|| Vivify {
            initial,
            expiry: expiry_from_binary(exptime, ctx.now),
        }),
        touch: None,
    };
    let then = match ctx.engine.run(&command, ctx.now) {
        Ok(ArithmeticOutcome::Updated { .. } | ArithmeticOutcome::Created { .. }) if quiet => {
            Then::Continue
        }
        Ok(
            ArithmeticOutcome::Updated { value, cas, .. }
            | ArithmeticOutcome::Created { value, cas, .. },
        ) => {
            request.respond(out, Status::Ok, cas, &[], &[], &value.to_be_bytes());
            Then::Continue
        }
        Ok(ArithmeticOutcome::NotFound) => {
            request.respond_error(out, Status::KeyNotFound);
            Then::Flush
        }
        Ok(ArithmeticOutcome::NonNumeric) => {
            request.respond_error(out, Status::NonNumeric);
            Then::Flush
        }
        Ok(ArithmeticOutcome::Exists) => {
            request.respond_error(out, Status::KeyExists);
            Then::Flush
        }
        Err(EngineError::OutOfMemory) => {
            ProtocolCounters::bump(&ctx.counters.store_no_memory);
            request.respond_error_text(out, Status::OutOfMemory, OUT_OF_MEMORY);
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
    use super::super::test_support::{Harness, Packet, Req, arith_extras, noop, set};
    use crate::Flow;

    fn arith(op: u8, key: &[u8], delta: u64, initial: u64, exptime: u32) -> Req {
        Req::new(op)
            .key(key)
            .extras(&arith_extras(delta, initial, exptime))
    }

    fn value(packet: &Packet) -> u64 {
        u64::from_be_bytes(packet.value[..].try_into().expect("8-byte value"))
    }

    #[test]
    fn counters_count_like_memcached() {
        let h = Harness::new();
        let replies = h.run(
            &[
                arith(opcode::INCREMENT, b"c", 5, 10, 0).bytes(),
                arith(opcode::INCREMENT, b"c", 5, 10, 0).bytes(),
                arith(opcode::DECREMENT, b"c", 100, 10, 0).bytes(),
                arith(opcode::INCREMENTQ, b"c", 7, 0, 0).bytes(),
                arith(opcode::DECREMENTQ, b"c", 2, 0, 0).bytes(),
                arith(opcode::INCREMENT, b"c", 0, 0, 0).bytes(),
            ]
            .concat(),
        );
        let values: Vec<u64> = replies.iter().map(value).collect();
        assert_eq!(values, vec![10, 15, 0, 5]);
        assert!(
            replies
                .iter()
                .all(|p| p.status == 0 && p.cas != 0 && p.extras.is_empty())
        );
        let get = h.run(&Req::new(opcode::GET).key(b"c").bytes());
        // memcached pads a value that got shorter with spaces; clients see them.
        assert_eq!(get[0].value, b"5 ");
    }

    #[test]
    fn increments_wrap_and_decrements_stop_at_zero() {
        let h = Harness::new();
        h.run(&set(b"c", b"18446744073709551615", 0));
        let replies = h.run(&arith(opcode::INCREMENT, b"c", 2, 0, 0).bytes());
        assert_eq!(value(&replies[0]), 1);
    }

    #[test]
    fn misses_errors_and_quiet_errors() {
        let h = Harness::new();
        let cas = h.run(&set(b"n", b"12", 0))[0].cas;
        h.run(&set(b"text", b"abc", 0));
        let replies = h.run(
            &[
                arith(opcode::INCREMENT, b"nx", 1, 0, 0xffff_ffff)
                    .opaque(1)
                    .bytes(),
                arith(opcode::DECREMENTQ, b"nx", 1, 0, 0xffff_ffff)
                    .opaque(2)
                    .bytes(),
                arith(opcode::INCREMENT, b"text", 1, 0, 0).opaque(3).bytes(),
                arith(opcode::INCREMENTQ, b"n", 1, 0, 0)
                    .cas(cas + 1)
                    .opaque(4)
                    .bytes(),
                arith(opcode::INCREMENT, b"n", 1, 0, 0)
                    .cas(cas)
                    .opaque(5)
                    .bytes(),
                noop(6),
            ]
            .concat(),
        );
        assert_eq!(
            replies[0],
            Packet::error(opcode::INCREMENT, 1, 1, "Not found")
        );
        assert_eq!(
            replies[1],
            Packet::error(opcode::DECREMENTQ, 2, 1, "Not found")
        );
        assert_eq!(
            replies[2],
            Packet::error(
                opcode::INCREMENT,
                3,
                6,
                "Non-numeric server-side value for incr or decr"
            )
        );
        assert_eq!(
            replies[3],
            Packet::error(opcode::INCREMENTQ, 4, 2, "Data exists for key.")
        );
        assert_eq!(value(&replies[4]), 13);
        assert_eq!(replies[5], Packet::new(opcode::NOOP, 6, 0));
    }

    #[test]
    fn malformed_arithmetic_closes() {
        let h = Harness::new();
        for request in [
            Req::new(opcode::INCREMENT).key(b"k").extras(&[0; 16]),
            arith(opcode::DECREMENT, b"", 1, 1, 1),
            arith(opcode::INCREMENT, b"k", 1, 1, 1).value(b"x"),
        ] {
            let (replies, flow) = h.run_flow(&request.bytes());
            assert_eq!(flow, Flow::Close);
            assert_eq!(replies[0].status, 4, "{request:?}");
        }
    }
}
