//! DELETE: remove a session (`RemoveItem`, `Session.Abandon`).

use bytes::BytesMut;
use sessiond_engine::{RemoveSession, RemoveSessionOutcome, ResetTimeout, ResetTimeoutOutcome};

use crate::Context;
use crate::dispatch::Request;
use crate::reply::{self, Status};

/// Answers a DELETE: 200 when removed, 423 when the session is locked and the request's
/// `LockCookie` is missing or another, 404 when there is no session.
pub(crate) fn run(request: &Request<'_>, out: &mut BytesMut, ctx: &Context<'_>) {
    let cookie = match request.headers.lock_cookie() {
        Ok(cookie) => cookie,
        Err(invalid) => {
            // The reference reads the cookie after finding the session: a missing session is
            // 404 whatever the cookie, and the look-up slides a live one's timeout.
            let probe = ResetTimeout { key: request.key };
            return match ctx.engine.run(&probe, ctx.now) {
                ResetTimeoutOutcome::Renewed => reply::invalid_header(out, invalid, false),
                ResetTimeoutOutcome::NotFound => reply::empty(out, Status::NotFound),
            };
        }
    };
    let remove = RemoveSession {
        key: request.key,
        cookie,
    };
    match ctx.engine.run(&remove, ctx.now) {
        Ok(RemoveSessionOutcome::Removed) => reply::empty(out, Status::Ok),
        Ok(RemoveSessionOutcome::Locked { lock }) => reply::locked(out, lock, false, ctx.now),
        Ok(RemoveSessionOutcome::NotFound) => reply::empty(out, Status::NotFound),
        Err(error) => reply::refused(out, error),
    }
}
