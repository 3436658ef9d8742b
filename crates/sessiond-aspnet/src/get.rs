//! GET: read a session (`GetItem`), read and lock it (`Exclusive: acquire`,
//! `GetItemExclusive`), or release its lock (`Exclusive: release`, `ReleaseItemExclusive`).
//!
//! As in the reference, every variant first looks the session up: a missing session is 404
//! whatever the headers say, and the first read of a session created uninitialized earns
//! `ActionFlags: 1` before any lock check, even on a 423.

use bytes::BytesMut;
use sessiond_engine::{ReadSession, ReadSessionOutcome, ReleaseLock, ReleaseLockOutcome};

use crate::Context;
use crate::dispatch::{NO_LOCK, Request};
use crate::headers::Exclusive;
use crate::reply::{self, Status};

/// Answers a GET.
pub(crate) fn run(request: &Request<'_>, out: &mut BytesMut, ctx: &Context<'_>) {
    match request.headers.exclusive() {
        Exclusive::None => read(request, false, out, ctx),
        Exclusive::Acquire => read(request, true, out, ctx),
        Exclusive::Release => release(request, out, ctx),
    }
}

/// A read, taking the lock when `exclusive`: 200 with the data, its timeout in minutes (0 for
/// a session that never expires) and the new cookie; 423 when someone holds the lock (plain
/// reads too: the holder may be changing the data); 404.
fn read(request: &Request<'_>, exclusive: bool, out: &mut BytesMut, ctx: &Context<'_>) {
    let read = ReadSession {
        key: request.key,
        exclusive,
    };
    match ctx.engine.run(&read, ctx.now) {
        Err(error) => reply::refused(out, error),
        Ok(ReadSessionOutcome::Found {
            value,
            timeout,
            cookie,
            initialize,
        }) => {
            out.reserve(160 + value.len());
            reply::start(out, Status::Ok);
            reply::action_flags(out, initialize);
            if let Some(cookie) = cookie {
                reply::header(out, reply::LOCK_COOKIE, cookie.0);
            }
            let minutes = timeout.map_or(0, |timeout| timeout.as_secs() / 60);
            reply::header(out, reply::TIMEOUT, minutes);
            reply::finish(out, &value);
        }
        Ok(ReadSessionOutcome::Locked { lock, initialize }) => {
            reply::locked(out, lock, initialize, ctx.now);
        }
        Ok(ReadSessionOutcome::NotFound) => reply::empty(out, Status::NotFound),
    }
}

/// A release: 200 when the cookie held the lock or the session was not locked, 423 when
/// another cookie holds it, 404. The cookie is required.
fn release(request: &Request<'_>, out: &mut BytesMut, ctx: &Context<'_>) {
    // The reference reads the cookie only after finding the session and taking its first-read
    // flag. A release that can release nothing does the same here, and then refuses the
    // header, carrying the flag as the reference's 400 does.
    let (cookie, invalid) = match request.headers.required_lock_cookie() {
        Ok(cookie) => (cookie, None),
        Err(invalid) => (NO_LOCK, Some(invalid)),
    };
    let release = ReleaseLock {
        key: request.key,
        cookie,
    };
    let outcome = match ctx.engine.run(&release, ctx.now) {
        Ok(outcome) => outcome,
        Err(error) => return reply::refused(out, error),
    };
    if let Some(invalid) = invalid {
        return match outcome {
            ReleaseLockOutcome::NotFound => reply::empty(out, Status::NotFound),
            ReleaseLockOutcome::Released { initialize }
            | ReleaseLockOutcome::NotLocked { initialize }
            | ReleaseLockOutcome::Locked { initialize, .. } => {
                reply::invalid_header(out, invalid, initialize);
            }
        };
    }
    match outcome {
        ReleaseLockOutcome::Released { initialize }
        | ReleaseLockOutcome::NotLocked { initialize } => {
            reply::start(out, Status::Ok);
            reply::action_flags(out, initialize);
            reply::finish(out, b"");
        }
        ReleaseLockOutcome::Locked { lock, initialize } => {
            reply::locked(out, lock, initialize, ctx.now);
        }
        ReleaseLockOutcome::NotFound => reply::empty(out, Status::NotFound),
    }
}
