//! `incr` and `decr`: `<command> <key> <delta> [noreply]`.

use bytes::BytesMut;
use sessiond_engine::{Arithmetic, ArithmeticOutcome, Direction, Key};

use super::parse::safe_strtoull;
use super::reply::{self, BAD_FORMAT, NON_NUMERIC, OUT_OF_MEMORY};
use super::{Next, Request};
use crate::Context;

/// memcached's answer to a delta that is not an unsigned 64-bit number.
const INVALID_DELTA: &[u8] = b"CLIENT_ERROR invalid numeric delta argument";

/// Moves a counter: the new value, `NOT_FOUND`, or an error. Increments wrap at 2^64 and
/// decrements stop at 0, as memcached's do.
pub(crate) fn run(
    request: &Request<'_>,
    out: &mut BytesMut,
    ctx: &Context<'_>,
    direction: Direction,
) -> Next {
    let tokens = &request.tokens;
    let noreply = tokens.noreply();
    let name = tokens.get(1);
    if name.len() > ctx.limits.max_key_len {
        reply::line_unless(out, noreply, BAD_FORMAT);
        return request.done();
    }
    let Some(delta) = safe_strtoull(tokens.get(2)) else {
        reply::line_unless(out, noreply, INVALID_DELTA);
        return request.done();
    };
    let command = Arithmetic::new(Key::new(ctx.namespace, name), direction, delta);
    match ctx.engine.run(&command, ctx.now) {
        Ok(ArithmeticOutcome::Updated { value, .. } | ArithmeticOutcome::Created { value, .. }) => {
            if !noreply {
                reply::number(out, value);
                out.extend_from_slice(b"\r\n");
            }
        }
        // Exists needs a CAS, which a classic increment never gives.
        Ok(ArithmeticOutcome::NotFound | ArithmeticOutcome::Exists) => {
            reply::line_unless(out, noreply, b"NOT_FOUND");
        }
        Ok(ArithmeticOutcome::NonNumeric) => reply::line_unless(out, noreply, NON_NUMERIC),
        Err(error) => reply::line_unless(out, noreply, reply::refused(error, OUT_OF_MEMORY)),
    }
    request.done()
}
