//! `touch <key> <exptime> [noreply]`.

use bytes::BytesMut;
use sessiond_engine::{Key, Touch, TouchOutcome};

use super::parse::safe_strtol;
use super::reply::{self, BAD_FORMAT, INVALID_EXPTIME};
use super::{Next, Request};
use crate::Context;
use crate::exptime::expiry_from_exptime;

/// Gives a key a new expiration time: `TOUCHED` or `NOT_FOUND`.
pub(crate) fn run(request: &Request<'_>, out: &mut BytesMut, ctx: &Context<'_>) -> Next {
    let tokens = &request.tokens;
    let noreply = tokens.noreply();
    let name = tokens.get(1);
    if name.len() > ctx.limits.max_key_len {
        reply::line_unless(out, noreply, BAD_FORMAT);
        return request.done();
    }
    let Some(exptime) = safe_strtol(tokens.get(2)) else {
        reply::line_unless(out, noreply, INVALID_EXPTIME);
        return request.done();
    };
    let touch = Touch {
        key: Key::new(ctx.namespace, name),
        expiry: expiry_from_exptime(i64::from(exptime), ctx.now),
    };
    let answer: &[u8] = match ctx.engine.run(&touch, ctx.now) {
        Ok(TouchOutcome::Touched { .. }) => b"TOUCHED",
        Ok(TouchOutcome::NotFound) => b"NOT_FOUND",
        Err(error) => reply::refused(error, reply::UNAVAILABLE),
    };
    reply::line_unless(out, noreply, answer);
    request.done()
}
