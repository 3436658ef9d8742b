//! PUT: write a session and release its lock (`SetAndReleaseItemExclusive`), or create it
//! uninitialized (`ExtraFlags: 1`, `CreateUninitializedItem`).
//!
//! Headers are checked in the reference's order: `Timeout` (minutes, 20 when absent, at most a
//! year), `ExtraFlags` (any Int32), then, only when the session exists and the write is not an
//! uninitialized create, `LockCookie`. A locked session is written only with its lock's
//! cookie (423 otherwise); an uninitialized create never replaces a live session (200, nothing
//! changed); the first write of a key ignores the cookie.
//!
//! Deliberate differences from the reference:
//! - Lock cookies stay monotonic per session even when a PUT changes the timeout. The reference
//!   then re-inserts the session with the request's cookie as its current one, so a later
//!   acquisition may hand out a cookie an earlier lock already had.
//! - A real write clears the uninitialized flag. The reference keeps the flag when the timeout
//!   is unchanged, so a later read would still ask the client to initialize written data.
//! - A write the store refuses for lack of memory answers `500 Internal Server Error`: the
//!   protocol has no status for it, and a write must never be acknowledged as done. (The .NET
//!   client ignores a PUT's status other than 400, so the session is lost either way; the
//!   status shows up in traces and counts.)

use bytes::BytesMut;
use sessiond_engine::{ResetTimeout, ResetTimeoutOutcome, WriteSession, WriteSessionOutcome};

use crate::Context;
use crate::dispatch::Request;
use crate::reply::{self, Status};

/// Answers a PUT.
pub(crate) fn run(request: &Request<'_>, out: &mut BytesMut, ctx: &Context<'_>) {
    let headers = request.headers;
    let timeout = match headers.timeout() {
        Ok(timeout) => timeout,
        Err(invalid) => return reply::invalid_header(out, invalid, false),
    };
    let uninitialized = match headers.extra_flags() {
        Ok(flags) => flags & 1 == 1,
        Err(invalid) => return reply::invalid_header(out, invalid, false),
    };
    // The reference reads the cookie only for a write into a live session, so a bad cookie is
    // refused only when the session exists: look it up first, as the reference does (which
    // slides its timeout). Should another client create the session between the look-up and
    // the write, the write goes on without a cookie; the reference has the same window.
    let cookie = if uninitialized {
        None
    } else {
        match headers.lock_cookie() {
            Ok(cookie) => cookie,
            Err(invalid) => {
                let probe = ResetTimeout { key: request.key };
                if ctx.engine.run(&probe, ctx.now) == ResetTimeoutOutcome::Renewed {
                    return reply::invalid_header(out, invalid, false);
                }
                None
            }
        }
    };
    let write = WriteSession {
        key: request.key,
        value: request.body,
        timeout,
        cookie,
        uninitialized,
    };
    match ctx.engine.run(&write, ctx.now) {
        Ok(WriteSessionOutcome::Stored | WriteSessionOutcome::Unchanged) => {
            reply::empty(out, Status::Ok);
        }
        Ok(WriteSessionOutcome::Locked { lock }) => reply::locked(out, lock, false, ctx.now),
        Err(error) => reply::refused(out, error),
    }
}
