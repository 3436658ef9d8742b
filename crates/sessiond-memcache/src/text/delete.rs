//! `delete <key> [0] [noreply]`.

use bytes::BytesMut;
use sessiond_engine::{Delete, DeleteOutcome, Key};

use super::reply::{self, BAD_FORMAT};
use super::{Next, Request};
use crate::Context;

/// memcached's answer to a delete with arguments it no longer takes (a hold time other than 0).
const USAGE: &[u8] = b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]";

/// Deletes a key: `DELETED` or `NOT_FOUND`.
///
/// memcached still accepts the legacy hold time when it is `0`; any other third token that is
/// not `noreply` is a usage error (silenced, like every reply, by a trailing `noreply`).
pub(crate) fn run(request: &Request<'_>, out: &mut BytesMut, ctx: &Context<'_>) -> Next {
    let tokens = &request.tokens;
    let count = tokens.count();
    let noreply = tokens.noreply();
    if count > 3 {
        let hold_is_zero = tokens.get(2) == b"0";
        let valid =
            (count == 4 && (hold_is_zero || noreply)) || (count == 5 && hold_is_zero && noreply);
        if !valid {
            reply::line_unless(out, noreply, USAGE);
            return request.done();
        }
    }
    let name = tokens.get(1);
    if name.len() > ctx.limits.max_key_len {
        reply::line_unless(out, noreply, BAD_FORMAT);
        return request.done();
    }
    let answer: &[u8] = match ctx
        .engine
        .run(&Delete::new(Key::new(ctx.namespace, name)), ctx.now)
    {
        Ok(DeleteOutcome::Deleted) => b"DELETED",
        // Exists needs a CAS, which a classic delete never gives.
        Ok(DeleteOutcome::NotFound | DeleteOutcome::Exists) => b"NOT_FOUND",
        Err(error) => reply::refused(error, reply::UNAVAILABLE),
    };
    reply::line_unless(out, noreply, answer);
    request.done()
}
