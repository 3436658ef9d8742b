//! Framing through the connection: pieces, pipelining, limits, closing, output back-pressure.

use bytes::BytesMut;

use super::{BAD_REQUEST, NOT_FOUND, OK, TARGET, request, response};
use crate::testing::{Bench, Client};
use crate::{Connection, Flow, Limits, OUTPUT_HIGH_WATER};

/// A conversation touching every operation and answer.
fn conversation() -> String {
    [
        request("HEAD", TARGET, &[], ""),
        request("PUT", TARGET, &["Timeout: 10", "ExtraFlags: 1"], "x"),
        request("GET", TARGET, &["Exclusive: acquire"], ""),
        request("GET", TARGET, &[], ""),
        request(
            "PUT",
            TARGET,
            &["Timeout: 10", "LockCookie: 2"],
            "session data",
        ),
        "\r\n".to_string(),
        request("GET", TARGET, &["Exclusive: release", "LockCookie: 2"], ""),
        request("PUT", TARGET, &["Timeout: x"], "refused"),
        request("POST", TARGET, &[], "unknown"),
        request("GET", TARGET, &[], "with a body"),
        request("DELETE", TARGET, &["LockCookie: 1"], ""),
        "HEAD /a HTTP/1.0\n\n".to_string(),
    ]
    .concat()
}

fn whole() -> String {
    Bench::new().once(conversation().as_bytes())
}

#[test]
fn the_conversation_answers_every_request_in_order() {
    let answers = whole();
    assert!(answers.starts_with(NOT_FOUND));
    assert!(answers.ends_with(&format!("{OK}{NOT_FOUND}")));
    assert_eq!(answers.matches("HTTP/1.1 ").count(), 11);
    assert!(answers.contains("\r\n\r\nsession data"));
}

#[test]
fn any_cut_into_two_pieces_gives_the_same_answers() {
    let bytes = conversation().into_bytes();
    let expected = whole();
    for cut in 0..=bytes.len() {
        let bench = Bench::new();
        let mut client = Client::default();
        let mut answers = client.send(&bench, &bytes[..cut]);
        answers.push_str(&client.send(&bench, &bytes[cut..]));
        assert_eq!(answers, expected, "cut at {cut}");
    }
}

#[test]
fn any_piece_size_gives_the_same_answers() {
    let bytes = conversation().into_bytes();
    let expected = whole();
    for piece in 1..=64 {
        let bench = Bench::new();
        assert_eq!(
            Client::default().send_in(&bench, &bytes, piece),
            expected,
            "pieces of {piece}"
        );
    }
}

#[test]
fn wants_asks_for_the_rest_of_the_body() {
    let bench = Bench::new();
    let mut conn = Connection::new();
    let mut output = BytesMut::new();
    let head = format!("PUT {TARGET} HTTP/1.1\r\nContent-Length: 1000\r\n\r\n");
    let mut input = BytesMut::from(head.as_bytes());
    assert_eq!(conn.wants(&input), None);
    input.extend_from_slice(&[b'x'; 10]);
    assert_eq!(
        conn.process(&mut input, &mut output, &bench.ctx()),
        Flow::Continue
    );
    assert!(output.is_empty());
    assert_eq!(conn.wants(&input), Some(head.len() + 1000));
    input.extend_from_slice(&[b'x'; 990]);
    assert_eq!(
        conn.process(&mut input, &mut output, &bench.ctx()),
        Flow::Continue
    );
    assert_eq!(&output[..], OK.as_bytes());
    assert!(input.is_empty());
    assert_eq!(conn.wants(&input), None);
}

#[test]
fn connection_close_answers_then_closes() {
    let bench = Bench::new();
    let mut client = Client::default();
    let sent = format!(
        "{}{}",
        request("HEAD", TARGET, &["Connection: close"], ""),
        request("PUT", TARGET, &[], "never")
    );
    assert_eq!(client.send(&bench, sent.as_bytes()), NOT_FOUND);
    assert!(client.closed);
    assert_eq!(
        bench.once(request("GET", TARGET, &[], "").as_bytes()),
        NOT_FOUND
    );
}

#[test]
fn http_1_0_keeps_the_connection() {
    let bench = Bench::new();
    let mut client = Client::default();
    let sent = format!("PUT {TARGET} HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi");
    assert_eq!(client.send(&bench, sent.as_bytes()), OK);
    assert!(!client.closed);
    let sent = format!("GET {TARGET} HTTP/1.0\r\n\r\n");
    assert_eq!(
        client.send(&bench, sent.as_bytes()),
        response("200 OK", &["Timeout: 20"], "hi")
    );
}

/// Small limits for the limit tests.
const LIMITS: Limits = Limits {
    max_head_size: 256,
    max_headers: 4,
    max_body_size: 100,
};

/// Sends `sent` after a good request on a new connection with [`LIMITS`]: the good request's
/// answer comes first, then 400 and the connection closes.
fn refused(sent: &[u8]) {
    let bench = Bench::with_limits(LIMITS);
    let mut client = Client::default();
    let mut bytes = request("HEAD", "/a", &[], "").into_bytes();
    bytes.extend_from_slice(sent);
    let answers = client.send(&bench, &bytes);
    assert_eq!(
        answers,
        format!("{NOT_FOUND}{BAD_REQUEST}"),
        "{}",
        String::from_utf8_lossy(sent)
    );
    assert!(client.closed, "{}", String::from_utf8_lossy(sent));
}

#[test]
fn requests_that_cannot_be_framed_are_400_and_close() {
    for sent in [
        &b"GET\r\n\r\n"[..],
        b"GET /a\r\n\r\n",
        b"GET /a HTTP/1.1 extra\r\n\r\n",
        b"GET /a HTTP/9.9\r\n\r\n",
        b"GET /a b HTTP/1.1\r\n\r\n",
        b"\x00\x01\x02\r\n\r\n",
        b"GET /a HTTP/1.1\r\nNo colon\r\n\r\n",
        b"GET /a HTTP/1.1\r\n folded: header\r\n\r\n",
        b"PUT /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"PUT /a HTTP/1.1\r\nContent-Length: five\r\n\r\nhello",
        b"PUT /a HTTP/1.1\r\nContent-Length: -5\r\n\r\nhello",
        b"PUT /a HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    ] {
        refused(sent);
    }
}

#[test]
fn limits_are_400_and_close() {
    let too_many = request("GET", "/a", &["A: 1", "B: 2", "C: 3", "D: 4"], "");
    refused(too_many.as_bytes());
    let long_head = request("GET", "/a", &[&format!("X: {}", "y".repeat(250))], "");
    refused(long_head.as_bytes());
    // Decided from the head alone: the body is never waited for.
    refused(b"PUT /a HTTP/1.1\r\nContent-Length: 101\r\n\r\n");
    let at_limits = request("PUT", "/a", &["A: 1", "B: 2"], &"z".repeat(100));
    let bench = Bench::with_limits(LIMITS);
    assert_eq!(bench.once(at_limits.as_bytes()), OK);
}

#[test]
fn a_head_without_an_end_is_refused_once_past_the_limit() {
    let bench = Bench::with_limits(LIMITS);
    let mut client = Client::default();
    let line = "GET /a HTTP/1.1\r\nX: ";
    assert_eq!(client.send(&bench, line.as_bytes()), "");
    let filler = "y".repeat(LIMITS.max_head_size - line.len());
    assert_eq!(client.send(&bench, filler.as_bytes()), "");
    assert!(!client.closed, "at the limit: still waiting");
    assert_eq!(client.send(&bench, b"y"), BAD_REQUEST);
    assert!(client.closed);
}

#[test]
fn blank_lines_between_requests_are_dropped() {
    let bench = Bench::with_limits(LIMITS);
    let mut client = Client::default();
    let blank = "\r\n\n".repeat(LIMITS.max_head_size);
    assert_eq!(client.send_in(&bench, blank.as_bytes(), 7), "");
    assert!(client.input.is_empty() && !client.closed);
    let head = format!("\r\n{}", request("HEAD", "/a", &[], ""));
    assert_eq!(client.send_in(&bench, head.as_bytes(), 1), NOT_FOUND);
}

#[test]
fn output_back_pressure_leaves_complete_requests_buffered() {
    let bench = Bench::new();
    let value = "v".repeat(100 * 1024);
    bench.once(request("PUT", TARGET, &[], &value).as_bytes());
    let gets = request("GET", TARGET, &[], "").repeat(5);
    let mut conn = Connection::new();
    let mut input = BytesMut::from(gets.as_bytes());
    let mut output = BytesMut::new();
    assert_eq!(
        conn.process(&mut input, &mut output, &bench.ctx()),
        Flow::Continue
    );
    let one = response("200 OK", &["Timeout: 20"], &value);
    assert_eq!(
        output.len(),
        3 * one.len(),
        "stops once past {OUTPUT_HIGH_WATER}"
    );
    assert_eq!(input.len(), 2 * gets.len() / 5);
    output.clear();
    assert_eq!(
        conn.process(&mut input, &mut output, &bench.ctx()),
        Flow::Continue
    );
    assert_eq!(output.len(), 2 * one.len());
    assert!(input.is_empty());
}

#[test]
fn junk_never_panics() {
    let bench = Bench::with_limits(LIMITS);
    for junk in [
        &b"\r\n\r\n\r\n"[..],
        b"\n\n\n\n",
        b"\r\r\r\r\n\n",
        b"GET % HTTP/1.1\r\n\r\n",
        b"GET %u HTTP/1.1\r\n\r\n",
        b"GET %ud800%u HTTP/1.1\r\n\r\n",
        b"GET + HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET // HTTP/1.1\r\n\r\n",
        b"PUT \xc3\xa9 HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        b"PUT /a HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n",
        b"PUT /a HTTP/1.1\r\nTimeout: \xff\xfe\r\n\r\n",
        b"GET /a HTTP/1.1\r\nExclusive: release\r\nLockCookie: 99999999999\r\n\r\n",
        b"DELETE /a HTTP/1.1\r\nLockCookie: +\r\n\r\n",
        b"\x80\x81\x82\x83",
        b"HTTP/1.1 200 OK\r\n\r\n",
    ] {
        for piece in [1, 3, junk.len()] {
            Client::default().send_in(&bench, junk, piece);
        }
    }
}
