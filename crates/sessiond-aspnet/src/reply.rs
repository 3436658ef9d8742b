//! Responses, byte for byte.
//!
//! Every response is `HTTP/1.1 <code> <reason>`, then `X-AspNet-Version` (clients refuse a
//! server whose major version is below 2), then the operation's headers in the order the
//! reference appends them, then `Content-Length` (the native server appends it last), an empty
//! line and the body.

use bytes::BytesMut;
use sessiond_engine::{EngineError, LockInfo, Timestamp};

use crate::ASPNET_VERSION;
use crate::headers::InvalidHeader;

/// A response's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// 200: done.
    Ok,
    /// 400: an invalid header, an unknown verb, or a request that cannot be framed.
    BadRequest,
    /// 404: no live session under the key.
    NotFound,
    /// 423: another holder has the session's lock.
    Locked,
    /// 500: the store refused a write (out of memory).
    InternalServerError,
    ServiceUnavailable,
}

impl Status {
    fn line(self) -> &'static [u8] {
        match self {
            Status::Ok => b"HTTP/1.1 200 OK\r\n",
            Status::BadRequest => b"HTTP/1.1 400 Bad Request\r\n",
            Status::NotFound => b"HTTP/1.1 404 Not Found\r\n",
            Status::Locked => b"HTTP/1.1 423 Locked\r\n",
            Status::InternalServerError => b"HTTP/1.1 500 Internal Server Error\r\n",
            Status::ServiceUnavailable => b"HTTP/1.1 503 Service Unavailable\r\n",
        }
    }
}

/// Response header names, as the reference writes them.
pub(crate) const ACTION_FLAGS: &[u8] = b"ActionFlags";
pub(crate) const LOCK_COOKIE: &[u8] = b"LockCookie";
pub(crate) const TIMEOUT: &[u8] = b"Timeout";
const LOCK_DATE: &[u8] = b"LockDate";
const LOCK_AGE: &[u8] = b"LockAge";

/// .NET `DateTime.Ticks` (100 ns units since 0001-01-01) of the Unix epoch.
const UNIX_EPOCH_TICKS: u64 = 621_355_968_000_000_000;

/// Starts a response: its status line and `X-AspNet-Version`.
pub(crate) fn start(out: &mut BytesMut, status: Status) {
    out.extend_from_slice(status.line());
    out.extend_from_slice(b"X-AspNet-Version: ");
    out.extend_from_slice(ASPNET_VERSION.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends a header with a number for its value.
pub(crate) fn header(out: &mut BytesMut, name: &[u8], value: impl itoa::Integer) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `ActionFlags: 1` when the request is the first read of an uninitialized session: the client
/// must initialize it.
pub(crate) fn action_flags(out: &mut BytesMut, initialize: bool) {
    if initialize {
        header(out, ACTION_FLAGS, 1);
    }
}

/// Ends a response: `Content-Length`, the empty line, the body.
pub(crate) fn finish(out: &mut BytesMut, body: &[u8]) {
    header(out, b"Content-Length", body.len());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// A response with no headers of its own and no body.
/// The answer to a write the store refused: 500 at the memory limit (the protocol has no status
/// for it, and a refused write must never look done), 503 while writes cannot be made durable.
pub(crate) fn refused(out: &mut BytesMut, error: EngineError) {
    let status = match error {
        EngineError::Unavailable => Status::ServiceUnavailable,
        _ => Status::InternalServerError,
    };
    empty(out, status);
}

pub(crate) fn empty(out: &mut BytesMut, status: Status) {
    start(out, status);
    finish(out, b"");
}

/// 423: the lock another holder has.
///
/// The body is empty: the reference notes that the original (RTM) client leaks memory when this
/// response carries one. `LockDate` is the lock time as .NET ticks; the reference converts it to
/// the server's local time, sessiond reports UTC. Clients use `LockAge` and fall back to
/// `LockDate` only when the age is not below one year, which happens only for a lock held that
/// long on a session that never expires.
pub(crate) fn locked(out: &mut BytesMut, lock: LockInfo, initialize: bool, now: Timestamp) {
    start(out, Status::Locked);
    action_flags(out, initialize);
    let ticks = lock
        .locked_at
        .as_millis()
        .saturating_mul(10_000)
        .saturating_add(UNIX_EPOCH_TICKS);
    header(out, LOCK_DATE, ticks);
    header(
        out,
        LOCK_AGE,
        now.saturating_duration_since(lock.locked_at).as_secs(),
    );
    header(out, LOCK_COOKIE, lock.cookie.0);
    finish(out, b"");
}

/// 400 for a header value the reference refuses, with the reference's page naming the header.
/// `initialize` carries the `ActionFlags` a release had already earned when its cookie was found
/// invalid.
pub(crate) fn invalid_header(out: &mut BytesMut, header: InvalidHeader, initialize: bool) {
    start(out, Status::BadRequest);
    action_flags(out, initialize);
    const BEFORE: &str = "<html><head><title>Bad Request</title></head>\r\n\
                          <body><h1>Http/1.1 400 Bad Request</h1>Invalid header <b>";
    const AFTER: &str = "</b></body></html>";
    let length = BEFORE.len() + header.0.len() + AFTER.len();
    self::header(out, b"Content-Length", length);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(BEFORE.as_bytes());
    out.extend_from_slice(header.0.as_bytes());
    out.extend_from_slice(AFTER.as_bytes());
}

#[cfg(test)]
mod tests {
    use sessiond_engine::LockCookie;

    use super::*;

    fn text(out: &BytesMut) -> &str {
        std::str::from_utf8(out).unwrap()
    }

    #[test]
    fn statuses() {
        for (status, line) in [
            (Status::Ok, "HTTP/1.1 200 OK"),
            (Status::BadRequest, "HTTP/1.1 400 Bad Request"),
            (Status::NotFound, "HTTP/1.1 404 Not Found"),
            (Status::Locked, "HTTP/1.1 423 Locked"),
            (
                Status::InternalServerError,
                "HTTP/1.1 500 Internal Server Error",
            ),
        ] {
            let mut out = BytesMut::new();
            empty(&mut out, status);
            assert_eq!(
                text(&out),
                format!("{line}\r\nX-AspNet-Version: 4.0.30319\r\nContent-Length: 0\r\n\r\n")
            );
        }
    }

    #[test]
    fn locked_reports_ticks_age_and_cookie() {
        let mut out = BytesMut::new();
        let lock = LockInfo {
            cookie: LockCookie(7),
            locked_at: Timestamp::from_millis(1_700_000_000_123),
        };
        locked(
            &mut out,
            lock,
            true,
            Timestamp::from_millis(1_700_000_003_999),
        );
        assert_eq!(
            text(&out),
            "HTTP/1.1 423 Locked\r\nX-AspNet-Version: 4.0.30319\r\nActionFlags: 1\r\n\
             LockDate: 638355968001230000\r\nLockAge: 3\r\nLockCookie: 7\r\n\
             Content-Length: 0\r\n\r\n"
        );
        // A lock "taken" after now (a clock step back) is zero seconds old.
        let mut out = BytesMut::new();
        locked(&mut out, lock, false, Timestamp::from_secs(0));
        assert!(text(&out).contains("\r\nLockAge: 0\r\n"));
        // The end of time saturates instead of overflowing.
        let mut out = BytesMut::new();
        let lock = LockInfo {
            locked_at: Timestamp::from_millis(u64::MAX),
            ..lock
        };
        locked(&mut out, lock, false, Timestamp::from_secs(0));
        assert!(text(&out).contains("\r\nLockDate: 18446744073709551615\r\n"));
    }

    #[test]
    fn invalid_header_is_the_reference_page() {
        let mut out = BytesMut::new();
        invalid_header(&mut out, InvalidHeader("Http_Timeout"), false);
        let body = "<html><head><title>Bad Request</title></head>\r\n<body><h1>Http/1.1 400 Bad Request</h1>Invalid header <b>Http_Timeout</b></body></html>";
        assert_eq!(
            text(&out),
            format!(
                "HTTP/1.1 400 Bad Request\r\nX-AspNet-Version: 4.0.30319\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
        );
    }
}
