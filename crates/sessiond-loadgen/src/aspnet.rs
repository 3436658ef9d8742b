//! ASP.NET State Server protocol ([MS-ASP]): request encoding and response parsing.
//!
//! Only what `OutOfProcSessionStateStore` sends for a page with a writable session is covered:
//! `GET` with `Exclusive: acquire` (GetItemExclusive) and `PUT` with a `LockCookie`
//! (SetAndReleaseItemExclusive). Responses are HTTP/1.1 framed by `Content-Length`; the parser
//! takes the bytes received so far and either decodes one whole response from the front or
//! reports [`Parsed::Incomplete`].

use crate::proto::{Parsed, ProtocolError};

/// The application part of every session key, as an IIS site's session state names it:
/// metabase path, then the Base64 hash of the application in parentheses.
pub const APP_ID: &str = "/LM/W3SVC/1/ROOT/bench(sx01GGAfrT/Xm/AHJShXDlwTYPCa/39Yvs6vMn0QUyE=)/";

/// Characters in an ASP.NET session id.
pub const SESSION_ID_LEN: usize = 24;

/// Session lifetime sent with every `PUT`, in minutes (ASP.NET's default `timeout`).
pub const TIMEOUT_MINUTES: u32 = 20;

/// Largest response head we wait for before declaring the stream broken. The server's own
/// heads are a few hundred bytes.
const MAX_HEAD: usize = 16 << 10;

/// Largest body we are willing to buffer; anything bigger means the length is garbage.
const MAX_BODY: u64 = 64 << 20;

/// `text` URL-encoded as .NET's `HttpUtility.UrlEncode` does it, which is how the .NET 4
/// client turns a session key into a request-target: letters, digits and `-_.!*()` stay,
/// space becomes `+`, everything else `%xx` in lower case.
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3 / 2);
    for &b in text.as_bytes() {
        match b {
            b'a'..=b'z'
            | b'A'..=b'Z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'!'
            | b'*'
            | b'('
            | b')' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 15)]));
            }
        }
    }
    out
}

/// Appends the decimal digits of `n` without going through `fmt`, which would be the only
/// formatting machinery on the request path.
#[inline]
pub fn push_decimal(out: &mut Vec<u8>, n: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut m = n.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[at..]);
}

/// Appends GetItemExclusive for `target` to `out`.
#[inline]
pub fn encode_get(out: &mut Vec<u8>, target: &[u8], host: &[u8]) {
    out.extend_from_slice(b"GET ");
    out.extend_from_slice(target);
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(host);
    out.extend_from_slice(b"\r\nExclusive: acquire\r\n\r\n");
}

/// Appends SetAndReleaseItemExclusive for `target` to `out`: the value, given as two slices
/// sent back to back, stored under the lock `lock_cookie` (0 for an item the page created).
#[inline]
pub fn encode_put(
    out: &mut Vec<u8>,
    target: &[u8],
    host: &[u8],
    lock_cookie: i32,
    value: (&[u8], &[u8]),
) {
    out.extend_from_slice(b"PUT ");
    out.extend_from_slice(target);
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(host);
    out.extend_from_slice(b"\r\nTimeout: ");
    push_decimal(out, i64::from(TIMEOUT_MINUTES));
    out.extend_from_slice(b"\r\nLockCookie: ");
    push_decimal(out, i64::from(lock_cookie));
    out.extend_from_slice(b"\r\nExtraFlags: 0\r\nContent-Length: ");
    push_decimal(out, (value.0.len() + value.1.len()) as i64);
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(value.0);
    out.extend_from_slice(value.1);
}

/// One decoded response, borrowing from the receive buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Response<'a> {
    /// Status code.
    pub status: u16,
    /// Reason phrase after the status code, for error messages.
    pub reason: &'a [u8],
    /// `X-AspNet-Version`, which the .NET client requires on every answer.
    pub version: Option<&'a [u8]>,
    /// `LockCookie`: the lock granted (200) or held by someone else (423).
    pub lock_cookie: Option<i32>,
    /// `Timeout` of the item, in minutes.
    pub timeout: Option<i32>,
    /// The body, as long as `Content-Length` says.
    pub body: &'a [u8],
}

/// Parses a decimal number the way `Int32.Parse` accepts it: optional sign, digits, and
/// surrounding white space already trimmed by the header parser.
fn parse_i32(text: &[u8]) -> Option<i32> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 10 {
        return None;
    }
    let mut n: i64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(b - b'0');
    }
    i32::try_from(if negative { -n } else { n }).ok()
}

fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 19 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(text.iter().fold(0u64, |n, &b| n * 10 + u64::from(b - b'0')))
}

/// Parses `HTTP/1.x NNN reason`.
fn status_line(line: &[u8]) -> Result<(u16, &[u8]), ProtocolError> {
    let bad = || ProtocolError::new("malformed status line", line);
    let rest = line.strip_prefix(b"HTTP/1.").ok_or_else(bad)?;
    let [minor, b' ', d0, d1, d2, rest @ ..] = rest else {
        return Err(bad());
    };
    if !minor.is_ascii_digit() || ![d0, d1, d2].iter().all(|d| d.is_ascii_digit()) {
        return Err(bad());
    }
    let reason = match rest {
        [] => &[][..],
        [b' ', reason @ ..] => reason,
        _ => return Err(bad()),
    };
    let status = u16::from(d0 - b'0') * 100 + u16::from(d1 - b'0') * 10 + u16::from(d2 - b'0');
    Ok((status, reason))
}

/// Parses the response at the front of `buf`.
pub fn parse_response(buf: &[u8]) -> Result<Parsed<Response<'_>>, ProtocolError> {
    let Some(head_end) = memchr::memmem::find(&buf[..buf.len().min(MAX_HEAD + 4)], b"\r\n\r\n")
    else {
        if buf.len() > MAX_HEAD {
            return Err(ProtocolError::new(
                "no end of the response head within the head size limit",
                buf,
            ));
        }
        return Ok(Parsed::Incomplete);
    };
    let head = &buf[..head_end];
    let mut rest = Some(head);
    let mut next_line = || {
        let r = rest?;
        let line = match memchr::memmem::find(r, b"\r\n") {
            Some(at) => {
                rest = Some(&r[at + 2..]);
                &r[..at]
            }
            None => {
                rest = None;
                r
            }
        };
        Some(match memchr::memchr2(b'\r', b'\n', line) {
            Some(_) => Err(ProtocolError::new(
                "bare CR or LF in the response head",
                line,
            )),
            None => Ok(line),
        })
    };
    let first = next_line().ok_or_else(|| ProtocolError::msg("empty response head"))??;
    let (status, reason) = status_line(first)?;
    let mut resp = Response {
        status,
        reason,
        version: None,
        lock_cookie: None,
        timeout: None,
        body: &[],
    };
    let mut content_length = None;
    while let Some(line) = next_line() {
        let line = line?;
        let Some(colon) = memchr::memchr(b':', line) else {
            return Err(ProtocolError::new("header line without ':'", line));
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if name.is_empty() || name.iter().any(|&b| b <= b' ' || b >= 0x7f) {
            return Err(ProtocolError::new("malformed header name", line));
        }
        let number = |what: &str| {
            parse_i32(value).ok_or_else(|| ProtocolError::new(&format!("bad {what} header"), line))
        };
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_u64(value)
                .filter(|&n| n <= MAX_BODY)
                .ok_or_else(|| ProtocolError::new("bad Content-Length", line))?;
            if content_length.is_some_and(|m| m != n) {
                return Err(ProtocolError::new(
                    "conflicting Content-Length headers",
                    head,
                ));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return Err(ProtocolError::new(
                "Transfer-Encoding in a State Server response",
                line,
            ));
        } else if name.eq_ignore_ascii_case(b"x-aspnet-version") {
            resp.version = Some(value);
        } else if name.eq_ignore_ascii_case(b"lockcookie") {
            resp.lock_cookie = Some(number("LockCookie")?);
        } else if name.eq_ignore_ascii_case(b"timeout") {
            resp.timeout = Some(number("Timeout")?);
        }
    }
    let Some(body_len) = content_length else {
        // Without a length the body would run to the end of the connection, which a
        // persistent State Server connection never reaches.
        return Err(ProtocolError::new("response without Content-Length", head));
    };
    let body_start = head_end + 4;
    // MAX_BODY keeps this far below usize::MAX.
    let total = body_start + body_len as usize;
    if buf.len() < total {
        return Ok(Parsed::Incomplete);
    }
    resp.body = &buf[body_start..total];
    Ok(Parsed::Complete {
        len: total,
        reply: resp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete<T>(p: Parsed<T>) -> (usize, T) {
        match p {
            Parsed::Complete { len, reply } => (len, reply),
            Parsed::Incomplete => panic!("expected a complete response"),
        }
    }

    #[test]
    fn target_is_what_the_net4_client_sends() {
        assert_eq!(
            url_encode(APP_ID),
            "%2fLM%2fW3SVC%2f1%2fROOT%2fbench(sx01GGAfrT%2fXm%2fAHJShXDlwTYPCa%2f39Yvs6vMn0QUyE%3d)%2f"
        );
        assert_eq!(url_encode("a b+c~"), "a+b%2bc%7e");
    }

    #[test]
    fn encodes_requests() {
        let mut out = Vec::new();
        encode_get(&mut out, b"%2fapp%2fid", b"127.0.0.1:42424");
        assert_eq!(
            out,
            b"GET %2fapp%2fid HTTP/1.1\r\nHost: 127.0.0.1:42424\r\nExclusive: acquire\r\n\r\n"
        );
        out.clear();
        encode_put(&mut out, b"t", b"h", -12, (b"ab", b"cde"));
        assert_eq!(
            out,
            &b"PUT t HTTP/1.1\r\nHost: h\r\nTimeout: 20\r\nLockCookie: -12\r\n\
               ExtraFlags: 0\r\nContent-Length: 5\r\n\r\nabcde"[..]
        );
        out.clear();
        push_decimal(&mut out, 0);
        push_decimal(&mut out, i64::MIN);
        assert_eq!(out, b"0-9223372036854775808");
    }

    const GET_OK: &[u8] = b"HTTP/1.1 200 OK\r\nX-AspNet-Version: 4.0.30319\r\n\
        Cache-Control: private\r\nTimeout: 20\r\nLockCookie: 7\r\nActionFlags: 0\r\n\
        Content-Length: 5\r\n\r\nhello";

    #[test]
    fn parses_a_get_response() {
        let mut buf = GET_OK.to_vec();
        buf.extend_from_slice(b"HTTP/1.1 200");
        let (len, r) = complete(parse_response(&buf).unwrap());
        assert_eq!(len, GET_OK.len());
        assert_eq!(
            r,
            Response {
                status: 200,
                reason: b"OK",
                version: Some(b"4.0.30319"),
                lock_cookie: Some(7),
                timeout: Some(20),
                body: b"hello",
            }
        );
    }

    #[test]
    fn every_prefix_is_incomplete() {
        for cut in 0..GET_OK.len() {
            assert_eq!(
                parse_response(&GET_OK[..cut]).unwrap(),
                Parsed::Incomplete,
                "cut {cut}"
            );
        }
    }

    #[test]
    fn header_names_are_case_insensitive_and_values_trimmed() {
        let r = b"HTTP/1.1 200 OK\r\nx-aspnet-version:4.0\r\nLOCKCOOKIE:   +3 \r\n\
                  timeout: 1\r\ncontent-LENGTH: 0\r\n\r\n";
        let (len, r2) = complete(parse_response(r).unwrap());
        assert_eq!(len, r.len());
        assert_eq!(r2.lock_cookie, Some(3));
        assert_eq!(r2.timeout, Some(1));
        assert_eq!(r2.version, Some(&b"4.0"[..]));
        assert_eq!(r2.body, b"");
    }

    #[test]
    fn not_found_and_locked() {
        let r =
            b"HTTP/1.1 404 Not Found\r\nX-AspNet-Version: 4.0.30319\r\nContent-Length: 0\r\n\r\n";
        let (_, r) = complete(parse_response(r).unwrap());
        assert_eq!((r.status, r.reason), (404, &b"Not Found"[..]));
        let r = b"HTTP/1.1 423 Locked\r\nX-AspNet-Version: 4.0.30319\r\nLockDate: 638355968001230000\r\n\
                  LockAge: 3\r\nLockCookie: 9\r\nContent-Length: 0\r\n\r\n";
        let (_, r) = complete(parse_response(r).unwrap());
        assert_eq!((r.status, r.lock_cookie), (423, Some(9)));
        // An empty reason phrase is allowed.
        let r = b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(complete(parse_response(r).unwrap()).1.reason, b"");
    }

    #[test]
    fn malformed_responses_are_protocol_errors() {
        for bad in [
            &b"HTTP/1.1 200 OK\r\n\r\n"[..],
            b"HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 200OK\r\nContent-Length: 0\r\n\r\n",
            b"STORED\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nLockCookie: 99999999999\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTimeout: soon\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nBad Name: 1\r\nContent-Length: 0\r\n\r\n",
        ] {
            assert!(
                parse_response(bad).is_err(),
                "{}",
                crate::proto::escape(bad, 100)
            );
        }
        assert!(parse_response(&[b'x'; MAX_HEAD + 1]).is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_i32(b"2147483647"), Some(i32::MAX));
        assert_eq!(parse_i32(b"-2147483648"), Some(i32::MIN));
        assert_eq!(parse_i32(b"2147483648"), None);
        assert_eq!(parse_i32(b"-"), None);
        assert_eq!(parse_i32(b"1 2"), None);
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b""), None);
    }
}
