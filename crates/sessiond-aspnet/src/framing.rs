//! Request framing: where a request's head ends, what it says, how long its body is.
//!
//! Requests are HTTP/1.x shaped: a request line, header lines, an empty line, then
//! `Content-Length` bytes of body on any verb (none without the header). httparse reads the
//! head; it takes a request-target without a leading `/`, which the .NET client sends
//! (`GET %2fLM%2fW3SVC...`). Everything that makes the request's extent unknown or unbounded is
//! refused from the head alone, before any body is buffered: a malformed head, a head over
//! [`Limits::max_head_size`] bytes or [`Limits::max_headers`] lines, `Transfer-Encoding` (the
//! protocol has no chunked bodies), a `Content-Length` that is not one decimal number, and a
//! body over [`Limits::max_body_size`].

use std::mem::MaybeUninit;

use crate::Limits;
use crate::headers::Headers;

/// A request head, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Head<'a> {
    /// The method, case-sensitive as HTTP's.
    pub(crate) method: &'a str,
    /// The request-target, raw.
    pub(crate) target: &'a [u8],
    /// The protocol's headers.
    pub(crate) headers: Headers<'a>,
    /// The head's length, its final empty line included.
    pub(crate) len: usize,
    /// The body's length.
    pub(crate) body_len: usize,
    /// The request asked for the connection to close after its response.
    pub(crate) close: bool,
}

/// What the input's head parses to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Parsed<'a> {
    /// The head is not complete.
    Partial,
    /// The request cannot be framed or is over a limit.
    Refused,
    /// A complete head.
    Head(Head<'a>),
}

/// Where the head at the start of `input` may end, searching from `from`: just past the first
/// empty line (`\n\n` or `\n\r\n`) at or after `from`. `Err` holds where to resume the search
/// once more input has arrived. The search is cheap, so a head arriving in pieces is searched
/// once, and handed to the parser only when it may be complete.
pub(crate) fn find_end(input: &[u8], from: usize) -> Result<usize, usize> {
    let mut pos = from;
    while let Some(found) = input
        .get(pos..)
        .and_then(|rest| memchr::memchr(b'\n', rest))
    {
        let newline = pos + found;
        match input.get(newline + 1..) {
            Some([b'\n', ..]) => return Ok(newline + 2),
            Some([b'\r', b'\n', ..]) => return Ok(newline + 3),
            // An end may start here once the next bytes arrive.
            Some([] | [b'\r']) => return Err(newline),
            _ => pos = newline + 1,
        }
    }
    Err(input.len())
}

/// How many bytes of blank lines (`\r\n` or `\n`) start `input`. They may come before a
/// request line (RFC 9112 2.2) and are dropped before the head is searched, so that blank lines
/// never look like the end of a head.
pub(crate) fn blank_lines(input: &[u8]) -> usize {
    let mut pos = 0;
    loop {
        match input.get(pos..) {
            Some([b'\n', ..]) => pos += 1,
            Some([b'\r', b'\n', ..]) => pos += 2,
            _ => return pos,
        }
    }
}

/// Parses the head at the start of `input`.
pub(crate) fn parse<'a>(input: &'a [u8], limits: &Limits) -> Parsed<'a> {
    // httparse's header slots: on the stack for the default limit, so parsing a head does not
    // allocate; a larger configured limit pays an allocation per parse.
    const STACK_HEADERS: usize = 64;
    let mut stack = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_HEADERS];
    let mut heap = Vec::new();
    let slots = match stack.get_mut(..limits.max_headers) {
        Some(slots) => slots,
        None => {
            heap.resize_with(limits.max_headers, MaybeUninit::uninit);
            &mut heap[..]
        }
    };
    let mut request = httparse::Request::new(&mut []);
    let len = match request.parse_with_uninit_headers(input, slots) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        // Malformed, or more header lines than there are slots.
        Err(_) => return Parsed::Refused,
    };
    let (Some(method), Some(target)) = (request.method, request.path) else {
        return Parsed::Refused;
    };
    if len > limits.max_head_size {
        return Parsed::Refused;
    }
    let mut headers = Headers::default();
    let mut content_length = None;
    let mut close = false;
    for header in request.headers.iter() {
        if headers.add(header.name, header.value) {
            continue;
        }
        if header.name.eq_ignore_ascii_case("Content-Length") {
            let Some(length) = decimal(header.value) else {
                return Parsed::Refused;
            };
            // A repeated Content-Length is allowed only when all copies agree (RFC 9112 6.3).
            if content_length.is_some_and(|earlier| earlier != length) {
                return Parsed::Refused;
            }
            content_length = Some(length);
        } else if header.name.eq_ignore_ascii_case("Transfer-Encoding") {
            return Parsed::Refused;
        } else if header.name.eq_ignore_ascii_case("Connection") {
            close |= header
                .value
                .split(|&byte| byte == b',')
                .any(|option| option.trim_ascii().eq_ignore_ascii_case(b"close"));
        }
    }
    let body_len = match content_length {
        None => 0,
        Some(length) => match usize::try_from(length) {
            Ok(length) if length <= limits.max_body_size => length,
            _ => return Parsed::Refused,
        },
    };
    Parsed::Head(Head {
        method,
        target: target.as_bytes(),
        headers,
        len,
        body_len,
        close,
    })
}

/// A `Content-Length` value: one or more decimal digits, white space around them allowed.
fn decimal(value: &[u8]) -> Option<u64> {
    let digits = value.trim_ascii();
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |number, &digit| {
        if !digit.is_ascii_digit() {
            return None;
        }
        number.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::Exclusive;

    fn head(input: &[u8]) -> Head<'_> {
        match parse(input, &Limits::default()) {
            Parsed::Head(head) => head,
            other => panic!("expected a head, got {other:?}"),
        }
    }

    #[test]
    fn the_net4_client_target_has_no_leading_slash() {
        let input = b"GET %2fLM%2fW3SVC%2f1%2fROOT%2fshop(sx01GGAfrT%2fXm%2fAHJShXDlwTYPCa%2f39Yvs6vMn0QUyE%3d)%2f2bxkcwnmq1yqhqv1ozrcc5x0 HTTP/1.1\r\nHost: 127.0.0.1:42424\r\nExclusive: acquire\r\n\r\n";
        let head = head(input);
        assert_eq!(head.method, "GET");
        assert_eq!(
            head.target,
            &b"%2fLM%2fW3SVC%2f1%2fROOT%2fshop(sx01GGAfrT%2fXm%2fAHJShXDlwTYPCa%2f39Yvs6vMn0QUyE%3d)%2f2bxkcwnmq1yqhqv1ozrcc5x0"[..]
        );
        assert_eq!(head.headers.exclusive(), Exclusive::Acquire);
        assert_eq!(
            (head.len, head.body_len, head.close),
            (input.len(), 0, false)
        );
    }

    #[test]
    fn bodies_are_content_length_long_on_any_verb() {
        let put = head(b"PUT /a/b HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
        assert_eq!((put.len, put.body_len), (40, 5));
        let get = head(b"GET /a/b HTTP/1.1\r\ncontent-length:  3 \r\n\r\n");
        assert_eq!(get.body_len, 3);
        let none = head(b"PUT /a/b HTTP/1.1\r\n\r\n");
        assert_eq!(none.body_len, 0);
        let repeated = head(b"PUT /a HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n");
        assert_eq!(repeated.body_len, 2);
    }

    #[test]
    fn http_1_0_bare_newlines_and_leading_blank_lines_are_accepted() {
        let old = head(b"HEAD /a/b HTTP/1.0\n\n");
        assert_eq!((old.method, old.len), ("HEAD", 20));
        let blank = head(b"\r\nDELETE x HTTP/1.1\r\n\r\n");
        assert_eq!(blank.target, b"x");
    }

    #[test]
    fn connection_close_is_seen_in_any_case_and_list() {
        assert!(head(b"GET /a HTTP/1.1\r\nConnection: close\r\n\r\n").close);
        assert!(head(b"GET /a HTTP/1.1\r\nconnection: TE, Close\r\n\r\n").close);
        assert!(!head(b"GET /a HTTP/1.1\r\nConnection: keep-alive\r\n\r\n").close);
        assert!(!head(b"GET /a HTTP/1.0\r\n\r\n").close);
    }

    #[test]
    fn refused_heads() {
        let limits = Limits {
            max_head_size: 64,
            max_headers: 2,
            max_body_size: 10,
        };
        for input in [
            &b"GET\r\n\r\n"[..],
            b"GET /a\r\n\r\n",
            b"GET /a HTTP/2.0\r\n\r\n",
            b"GET  /a HTTP/1.1\r\n\r\n",
            b"GET /a HTTP/1.1\r\nBad Header: x\r\n\r\n",
            b"GET /a HTTP/1.1\r\n: x\r\n\r\n",
            b"GET /\xff HTTP/1.1\r\n\r\n",
            b"GET /a HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
            b"GET /a HTTP/1.1\r\nX-Padding: 0123456789012345678901234567890123456789\r\n\r\n",
            b"PUT /a HTTP/1.1\r\nContent-Length: 11\r\n\r\n",
            b"PUT /a HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            b"PUT /a HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n",
            b"PUT /a HTTP/1.1\r\nContent-Length: \r\n\r\n",
            b"PUT /a HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            b"PUT /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"PUT /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"PUT /a HTTP/1.1\r\ntransfer-encoding: identity\r\n\r\n",
        ] {
            assert_eq!(
                parse(input, &limits),
                Parsed::Refused,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        let at_limit = b"PUT /a HTTP/1.1\r\nA: 1\r\nContent-Length: 10\r\n\r\n";
        assert!(matches!(parse(at_limit, &limits), Parsed::Head(_)));
    }

    #[test]
    fn more_header_slots_than_the_stack_holds() {
        let limits = Limits {
            max_headers: 100,
            ..Limits::default()
        };
        let mut input = b"GET /a HTTP/1.1\r\n".to_vec();
        for n in 0..100 {
            input.extend_from_slice(format!("X-{n}: {n}\r\n").as_bytes());
        }
        input.extend_from_slice(b"\r\n");
        assert!(matches!(parse(&input, &limits), Parsed::Head(_)));
        assert_eq!(parse(&input, &Limits::default()), Parsed::Refused);
    }

    #[test]
    fn partial_heads_wait() {
        let whole = b"PUT /a HTTP/1.1\r\nTimeout: 5\r\n\r\n";
        for cut in 0..whole.len() {
            assert_eq!(
                parse(&whole[..cut], &Limits::default()),
                Parsed::Partial,
                "{cut}"
            );
        }
    }

    #[test]
    fn head_ends_are_found_across_pieces() {
        let input = b"GET /a HTTP/1.1\r\nA: 1\r\n\r\nbody";
        assert_eq!(find_end(input, 0), Ok(25));
        assert_eq!(find_end(b"GET /a HTTP/1.1\n\nx", 0), Ok(17));
        for cut in 0..25 {
            let resume = find_end(&input[..cut], 0).unwrap_err();
            assert!(resume <= cut);
            assert_eq!(find_end(input, resume), Ok(25), "cut at {cut}");
        }
        assert_eq!(find_end(b"", 0), Err(0));
        assert_eq!(find_end(b"abc", 7), Err(3));
    }

    #[test]
    fn blank_lines_are_counted() {
        assert_eq!(blank_lines(b""), 0);
        assert_eq!(blank_lines(b"GET"), 0);
        assert_eq!(blank_lines(b"\r\n\n\r\nGET"), 5);
        assert_eq!(blank_lines(b"\n\r"), 1, "a lone \\r waits for its \\n");
        assert_eq!(blank_lines(b"\r\rx"), 0);
    }
}
