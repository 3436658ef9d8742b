//! DELETE and DELETEQ: php-memcached's lock release and session destroy.
//!
//! A nonzero CAS deletes only the item with that version. Success answers with CAS 0, as
//! memcached does; DELETEQ answers only errors.

use bytes::BytesMut;
use sessiond_engine::{Delete, DeleteMode, DeleteOutcome, Key};

use super::header::{Request, Status, opcode};
use super::{Step, Then, protocol_error};
use crate::Context;

/// Handles DELETE and DELETEQ.
pub(super) fn handle(request: &Request<'_>, out: &mut BytesMut, ctx: &Context<'_>) -> Step {
    let header = &request.header;
    // memcached 1.6 takes no extras here (older servers took an expiration).
    if !(header.key_len > 0
        && header.extras_len == 0
        && header.body_len == u32::from(header.key_len))
    {
        return protocol_error(request, out);
    }
    let delete = Delete {
        key: Key::new(ctx.namespace, request.key),
        cas: header.cas(),
        mode: DeleteMode::Remove,
    };
    let then = match ctx.engine.run(&delete, ctx.now) {
        Ok(DeleteOutcome::Deleted) if header.opcode == opcode::DELETEQ => Then::Continue,
        Ok(DeleteOutcome::Deleted) => {
            request.respond(out, Status::Ok, 0, &[], &[], &[]);
            Then::Continue
        }
        Ok(DeleteOutcome::NotFound) => {
            request.respond_error(out, Status::KeyNotFound);
            Then::Flush
        }
        Err(error) => {
            request.respond_error(out, Status::refused(error));
            Then::Flush
        }
        Ok(DeleteOutcome::Exists) => {
            request.respond_error(out, Status::KeyExists);
            Then::Flush
        }
    };
    Step::after_head(request, then)
}

#[cfg(test)]
mod tests {
    use super::super::header::opcode;
    use super::super::test_support::{Harness, Packet, Req, noop, set};
    use crate::Flow;

    #[test]
    fn delete_answers_like_memcached() {
        let h = Harness::new();
        let cas = h.run(&set(b"k", b"v", 0))[0].cas;
        h.run(&set(b"q", b"v", 0));
        let replies = h.run(
            &[
                Req::new(opcode::DELETE)
                    .key(b"k")
                    .cas(cas + 1)
                    .opaque(1)
                    .bytes(),
                Req::new(opcode::DELETE)
                    .key(b"k")
                    .cas(cas)
                    .opaque(2)
                    .bytes(),
                Req::new(opcode::DELETE).key(b"k").opaque(3).bytes(),
                Req::new(opcode::DELETEQ).key(b"q").opaque(4).bytes(),
                Req::new(opcode::DELETEQ).key(b"q").opaque(5).bytes(),
                noop(6),
            ]
            .concat(),
        );
        assert_eq!(
            replies,
            vec![
                Packet::error(opcode::DELETE, 1, 2, "Data exists for key."),
                Packet::new(opcode::DELETE, 2, 0),
                Packet::error(opcode::DELETE, 3, 1, "Not found"),
                Packet::error(opcode::DELETEQ, 5, 1, "Not found"),
                Packet::new(opcode::NOOP, 6, 0),
            ]
        );
    }

    #[test]
    fn malformed_deletes_close() {
        let h = Harness::new();
        for request in [
            Req::new(opcode::DELETE),
            Req::new(opcode::DELETE).key(b"k").extras(&[0; 4]),
            Req::new(opcode::DELETEQ).key(b"k").value(b"x"),
        ] {
            let (replies, flow) = h.run_flow(&request.bytes());
            assert_eq!(flow, Flow::Close);
            assert_eq!(replies[0].status, 4, "{request:?}");
        }
    }
}
