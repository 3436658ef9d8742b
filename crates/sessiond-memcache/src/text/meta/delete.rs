//! `md <key> <flag>*`: delete an item, or mark it stale.
//!
//! Replies `HD` (deleted), `NF` (not found) or `EX` (CAS mismatch), with return flags `O` and
//! `k`. Flags: `C` compare-and-swap, `I` invalidate (mark stale, keep the value, hand the
//! recache token to the next reader) with `T` a new expiration time, `q`, `b`.

use bytes::BytesMut;
use sessiond_engine::{Delete, DeleteMode, DeleteOutcome, Key};

use super::{MAX_TOKENS, MetaFlags, OPAQUE_TOO_LONG, opaque_too_long, write_opaque_and_key};
use crate::Context;
use crate::exptime::expiry_from_exptime;
use crate::text::reply::{self, BAD_FORMAT, ERROR};
use crate::text::{Next, Request};

/// Handles `md`.
pub(crate) fn run(request: &Request<'_>, out: &mut BytesMut, ctx: &Context<'_>) -> Next {
    let tokens = &request.tokens;
    if tokens.count() < 3 {
        reply::line(out, ERROR);
        return request.done();
    }
    let raw_key = tokens.get(1);
    if raw_key.len() > ctx.limits.max_key_len {
        reply::line(out, BAD_FORMAT);
        return request.done();
    }
    if tokens.count() > MAX_TOKENS {
        reply::line(out, b"CLIENT_ERROR options flags too long");
        return request.done();
    }
    let flags = &tokens.as_slice()[2..];
    // memcached gives one message for every flag error of `md`.
    let Ok((parsed, key)) = MetaFlags::parse(raw_key, flags) else {
        reply::line(out, b"CLIENT_ERROR invalid or duplicate flag");
        return request.done();
    };
    if opaque_too_long(flags) {
        reply::line(out, OPAQUE_TOO_LONG);
        return request.done();
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
        DeleteOutcome::Deleted if parsed.quiet => return request.done(),
        DeleteOutcome::Deleted => b"HD",
        DeleteOutcome::NotFound => b"NF",
        DeleteOutcome::Exists => b"EX",
    };
    out.extend_from_slice(status);
    write_opaque_and_key(out, flags, &key);
    out.extend_from_slice(b"\r\n");
    request.done()
}
