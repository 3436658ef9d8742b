//! One framed request: its verb picks the operation, its target the session.

use bytes::BytesMut;
use sessiond_engine::{Key, LockCookie};

use crate::framing::Head;
use crate::headers::Headers;
use crate::reply::{self, Status};
use crate::{Context, delete, get, head, key, put};

/// A request as the operations see it.
pub(crate) struct Request<'a> {
    /// The session's engine key.
    pub(crate) key: Key<'a>,
    /// The protocol's headers.
    pub(crate) headers: &'a Headers<'a>,
    /// The body (session data, for a PUT).
    pub(crate) body: &'a [u8],
}

/// A cookie no session's lock ever has: cookies start at 1 and wrap to 2. Releasing with it
/// looks a session up exactly as a release does (sliding its timeout and taking its first-read
/// flag) without ever releasing the lock.
pub(crate) const NO_LOCK: LockCookie = LockCookie(0);

/// Answers one request whose head is `parsed` and body `body`. `scratch` holds decoded keys.
pub(crate) fn run(
    parsed: &Head<'_>,
    body: &[u8],
    scratch: &mut Vec<u8>,
    out: &mut BytesMut,
    ctx: &Context<'_>,
) {
    let operation: fn(&Request<'_>, &mut BytesMut, &Context<'_>) = match parsed.method {
        "GET" => get::run,
        "PUT" => put::run,
        "DELETE" => delete::run,
        "HEAD" => head::run,
        // The reference's answer to any other verb: 400, no page.
        _ => return reply::empty(out, Status::BadRequest),
    };
    let decoded = key::decode(parsed.target, scratch);
    let key = ctx.applications.key(decoded);
    // A decoded target is never empty, but a shared key is the session id alone, which is
    // empty when the target ends with `/`: that names no session.
    if key.name.is_empty() {
        return reply::empty(out, Status::BadRequest);
    }
    let request = Request {
        key,
        headers: &parsed.headers,
        body,
    };
    operation(&request, out, ctx);
}
