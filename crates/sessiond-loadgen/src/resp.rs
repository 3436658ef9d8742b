//! Redis protocol (RESP2): request encoding and reply parsing, so the session mix can run
//! unchanged against Redis for comparison, and request parsing for the floor server
//! ([`crate::floor`]).
//!
//! The workload maps one to one onto the memcached one: a get is `GET key`, a set is
//! `SET key value EX exptime` (the same keys, values and expiry as the text protocol sends),
//! one request in flight per connection unless `--pipeline` says otherwise. Parsers take the
//! bytes received so far and either decode one whole reply from the front or report
//! [`Parsed::Incomplete`]; they never consume partial input.

use crate::proto::{Parsed, ProtocolError};

/// Longest status, error or length line we wait for before declaring the stream broken.
const MAX_LINE: usize = 2048;

/// Reply to `GET`.
#[derive(Debug, PartialEq, Eq)]
pub enum GetReply<'a> {
    /// `$<len>\r\n<data>\r\n`.
    Hit(&'a [u8]),
    /// `$-1\r\n`: no such key.
    Miss,
    /// `-<message>\r\n`: the server refused the request but stays in sync.
    Error(&'a [u8]),
}

/// Reply to `SET`.
#[derive(Debug, PartialEq, Eq)]
pub enum SetReply<'a> {
    /// `+OK\r\n`.
    Ok,
    /// `-<message>\r\n` (for example `-MISCONF` or `-OOM`), or `$-1` (a condition failed).
    Error(&'a [u8]),
}

/// Appends `GET <key>` as a RESP array to `out`.
#[inline]
pub fn encode_get(out: &mut Vec<u8>, key: &[u8]) {
    out.extend_from_slice(b"*2\r\n$3\r\nGET\r\n");
    bulk(out, &[key]);
}

/// Appends `SET <key> <value> EX <exptime>` as a RESP array to `out`, the value given as
/// two slices sent back to back.
#[inline]
pub fn encode_set(out: &mut Vec<u8>, key: &[u8], value: (&[u8], &[u8]), exptime: &[u8]) {
    out.extend_from_slice(b"*5\r\n$3\r\nSET\r\n");
    bulk(out, &[key]);
    bulk(out, &[value.0, value.1]);
    out.extend_from_slice(b"$2\r\nEX\r\n");
    bulk(out, &[exptime]);
}

/// Appends one bulk string made of `parts`.
pub(crate) fn bulk(out: &mut Vec<u8>, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    out.push(b'$');
    push_decimal(out, len);
    out.extend_from_slice(b"\r\n");
    for part in parts {
        out.extend_from_slice(part);
    }
    out.extend_from_slice(b"\r\n");
}

fn push_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Finds the first line; returns it without `\r\n` and the length including it.
fn line(buf: &[u8]) -> Result<Option<(&[u8], usize)>, ProtocolError> {
    match memchr::memchr(b'\n', buf) {
        Some(nl) => {
            if nl == 0 || buf[nl - 1] != b'\r' {
                return Err(ProtocolError::new(
                    "line not terminated by \\r\\n",
                    &buf[..=nl],
                ));
            }
            Ok(Some((&buf[..nl - 1], nl + 1)))
        }
        None if buf.len() > MAX_LINE => Err(ProtocolError::new(
            "no end of line within the line limit",
            buf,
        )),
        None => Ok(None),
    }
}

/// Errors that mean our request was malformed: fatal, as with memcached's `ERROR`.
fn reject_request_errors(message: &[u8]) -> Result<(), ProtocolError> {
    if message.starts_with(b"ERR ") || message.starts_with(b"WRONGTYPE") {
        return Err(ProtocolError::new("server rejected the request", message));
    }
    Ok(())
}

/// Parses the reply to `GET` from the front of `buf`.
pub fn parse_get(buf: &[u8]) -> Result<Parsed<GetReply<'_>>, ProtocolError> {
    let Some((first, first_len)) = line(buf)? else {
        return Ok(Parsed::Incomplete);
    };
    match first.split_first() {
        Some((b'$', b"-1")) => Ok(Parsed::Complete {
            len: first_len,
            reply: GetReply::Miss,
        }),
        Some((b'$', _)) => Ok(match parse_bulk(buf)? {
            Parsed::Complete { len, reply } => Parsed::Complete {
                len,
                reply: GetReply::Hit(reply),
            },
            Parsed::Incomplete => Parsed::Incomplete,
        }),
        Some((b'-', message)) => {
            reject_request_errors(message)?;
            Ok(Parsed::Complete {
                len: first_len,
                reply: GetReply::Error(message),
            })
        }
        _ => Err(ProtocolError::new("unexpected reply to GET", first)),
    }
}

/// Parses the reply to `SET` from the front of `buf`.
pub fn parse_set(buf: &[u8]) -> Result<Parsed<SetReply<'_>>, ProtocolError> {
    let Some((first, len)) = line(buf)? else {
        return Ok(Parsed::Incomplete);
    };
    let reply = match first.split_first() {
        Some((b'+', b"OK")) => SetReply::Ok,
        Some((b'$', b"-1")) => SetReply::Error(first),
        Some((b'-', message)) => {
            reject_request_errors(message)?;
            SetReply::Error(message)
        }
        _ => return Err(ProtocolError::new("unexpected reply to SET", first)),
    };
    Ok(Parsed::Complete { len, reply })
}

/// A request as the floor server ([`crate::floor`]) answers it.
#[derive(Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// `GET key`.
    Get(&'a [u8]),
    /// Any other command (the session mix sends only `SET`): answered `+OK`.
    Other,
}

/// Parses one request (a RESP array of bulk strings, as every client library sends) from the
/// front of `buf`.
pub fn parse_request(buf: &[u8]) -> Result<Parsed<Request<'_>>, ProtocolError> {
    let Some((first, mut at)) = line(buf)? else {
        return Ok(Parsed::Incomplete);
    };
    let count = match first.split_first() {
        Some((b'*', digits)) => decimal(digits)
            .filter(|&n| (1..=MAX_ARGS).contains(&n))
            .ok_or_else(|| ProtocolError::new("bad request array length", first))?,
        _ => return Err(ProtocolError::new("request is not an array", first)),
    };
    let mut args: [&[u8]; 2] = [b"", b""];
    for index in 0..count {
        match parse_bulk(&buf[at..])? {
            Parsed::Complete { len, reply } => {
                if let Some(arg) = args.get_mut(index) {
                    *arg = reply;
                }
                at += len;
            }
            Parsed::Incomplete => return Ok(Parsed::Incomplete),
        }
    }
    let request = if count == 2 && args[0].eq_ignore_ascii_case(b"GET") {
        Request::Get(args[1])
    } else {
        Request::Other
    };
    Ok(Parsed::Complete {
        len: at,
        reply: request,
    })
}

/// The most arguments a request may have.
const MAX_ARGS: usize = 1024;

/// Parses one bulk string (`$<len>\r\n<data>\r\n`) from the front of `buf`.
fn parse_bulk(buf: &[u8]) -> Result<Parsed<&[u8]>, ProtocolError> {
    let Some((first, first_len)) = line(buf)? else {
        return Ok(Parsed::Incomplete);
    };
    let len = match first.split_first() {
        Some((b'$', digits)) => decimal(digits)
            .filter(|&n| n <= 1 << 30)
            .ok_or_else(|| ProtocolError::new("bad bulk string length", first))?,
        _ => return Err(ProtocolError::new("expected a bulk string", first)),
    };
    let data_end = first_len + len;
    let total = data_end + 2;
    if buf.len() < total {
        return Ok(Parsed::Incomplete);
    }
    if &buf[data_end..total] != b"\r\n" {
        return Err(ProtocolError::new(
            "bulk string not followed by \\r\\n (length mismatch)",
            &buf[data_end..total],
        ));
    }
    Ok(Parsed::Complete {
        len: total,
        reply: &buf[first_len..data_end],
    })
}

/// A length: decimal digits only (Rust's parser would also take a leading `+`).
fn decimal(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete<T>(p: Parsed<T>) -> (usize, T) {
        match p {
            Parsed::Complete { len, reply } => (len, reply),
            Parsed::Incomplete => panic!("expected a complete reply"),
        }
    }

    #[test]
    fn encodes_requests() {
        let mut out = Vec::new();
        encode_get(&mut out, b"k1");
        encode_set(&mut out, b"k2", (b"k2", b"abcdefghij"), b"1440");
        assert_eq!(
            out,
            b"*2\r\n$3\r\nGET\r\n$2\r\nk1\r\n\
              *5\r\n$3\r\nSET\r\n$2\r\nk2\r\n$12\r\nk2abcdefghij\r\n$2\r\nEX\r\n$4\r\n1440\r\n"
        );
    }

    #[test]
    fn get_replies() {
        let r = b"$5\r\nhello\r\n+OK";
        assert_eq!(
            complete(parse_get(r).unwrap()),
            (11, GetReply::Hit(b"hello"))
        );
        for cut in 0..11 {
            assert_eq!(
                parse_get(&r[..cut]).unwrap(),
                Parsed::Incomplete,
                "cut {cut}"
            );
        }
        assert_eq!(
            complete(parse_get(b"$-1\r\n").unwrap()),
            (5, GetReply::Miss)
        );
        assert_eq!(
            complete(parse_get(b"$0\r\n\r\n").unwrap()),
            (6, GetReply::Hit(b""))
        );
        assert_eq!(
            complete(parse_get(b"-LOADING Redis is loading\r\n").unwrap()).1,
            GetReply::Error(b"LOADING Redis is loading")
        );
        for bad in [
            &b"+OK\r\n"[..],
            b"$x\r\n",
            b"$2\r\nabc\r\n",
            b"-ERR unknown command\r\n",
            b"$1\n",
        ] {
            assert!(
                parse_get(bad).is_err(),
                "{:?}",
                crate::proto::escape(bad, 80)
            );
        }
    }

    #[test]
    fn set_replies() {
        assert_eq!(complete(parse_set(b"+OK\r\n").unwrap()), (5, SetReply::Ok));
        assert_eq!(
            complete(parse_set(b"-MISCONF disk error\r\n").unwrap()).1,
            SetReply::Error(b"MISCONF disk error")
        );
        for cut in 0..5 {
            assert_eq!(parse_set(&b"+OK\r\n"[..cut]).unwrap(), Parsed::Incomplete);
        }
        assert!(parse_set(b"-ERR syntax error\r\n").is_err());
        assert!(parse_set(b"$5\r\n").is_err());
    }

    #[test]
    fn requests_as_the_load_generator_sends_them() {
        let mut buf = Vec::new();
        encode_get(&mut buf, b"k1");
        let get_len = buf.len();
        encode_set(&mut buf, b"k2", (b"va", b"lue"), b"1440");
        assert_eq!(
            complete(parse_request(&buf).unwrap()),
            (get_len, Request::Get(b"k1"))
        );
        assert_eq!(
            complete(parse_request(&buf[get_len..]).unwrap()),
            (buf.len() - get_len, Request::Other)
        );
        for cut in 0..get_len {
            assert_eq!(parse_request(&buf[..cut]).unwrap(), Parsed::Incomplete);
        }
        for cut in get_len..buf.len() {
            assert_eq!(
                parse_request(&buf[get_len..cut]).unwrap(),
                Parsed::Incomplete
            );
        }
        assert!(parse_request(b"*+1\r\n$3\r\nGET\r\n").is_err());
        assert!(parse_request(b"PING\r\n").is_err());
        assert!(parse_request(b"*0\r\n").is_err());
        assert!(parse_request(b"*1\r\n$3\r\nGETX\r\n").is_err());
        assert!(parse_request(b"*1\r\n:3\r\n").is_err());
    }
}
