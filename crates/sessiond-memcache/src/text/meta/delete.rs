//! `md <key> <flag>*`: delete an item, or mark it stale.
//!
//! Replies `HD` (deleted), `NF` (not found) or `EX` (CAS mismatch), with return flags `O` and
//! `k`. Flags: `C` compare-and-swap, `I` invalidate (mark stale, keep the value, hand the
//! recache token to the next reader) with `T` a new expiration time, `q`, `b`.

use bytes::BytesMut;
use sessiond_engine::{Delete, DeleteMode, DeleteOutcome, Key};

use super::{
    INVALID_OR_DUPLICATE_FLAG, OPAQUE_TOO_LONG, Syntax, opaque_too_long, refuse,
    write_opaque_and_key,
};
use crate::Context;
use crate::exptime::expiry_from_exptime;

use crate::text::{Next, Request, reply};

/// `md`'s line: its flags follow the key, and memcached gives one message for every flag error.
const SYNTAX: Syntax = Syntax {
    flags_at: 2,
    too_many_tokens: b"CLIENT_ERROR options flags too long",
    flag_error: Some(INVALID_OR_DUPLICATE_FLAG),
};

/// Handles `md`.
pub(crate) fn run(request: &Request<'_>, out: &mut BytesMut, ctx: &Context<'_>) -> Next {
    let (flags, parsed, key) = match SYNTAX.read(request, ctx) {
        Ok(line) => line,
        Err(message) => return refuse(request, out, message),
    };
    if opaque_too_long(flags) {
        return refuse(request, out, OPAQUE_TOO_LONG);
    }
    let mode = if parsed.invalidate {
        DeleteMode::Invalidate {
            expiry: parsed
                .ttl
                .map(|exptime| expiry_from_exptime(i64::from(exptime), ctx.now)),
        }
    } else {
        DeleteMode::Remove
    };
    let delete = Delete {
        key: Key::new(ctx.namespace, key.bytes()),
        cas: parsed.cas,
        mode,
    };
    let status: &[u8] = match ctx.engine.run(&delete, ctx.now) {
        Ok(DeleteOutcome::Deleted) if parsed.quiet => return request.done(),
        Ok(DeleteOutcome::Deleted) => b"HD",
        Ok(DeleteOutcome::NotFound) => b"NF",
        Ok(DeleteOutcome::Exists) => b"EX",
        Err(error) => {
            reply::line(out, reply::refused(error, reply::UNAVAILABLE));
            return request.done();
        }
    };
    out.extend_from_slice(status);
    write_opaque_and_key(out, flags, &key);
    out.extend_from_slice(b"\r\n");
    request.done()
}
