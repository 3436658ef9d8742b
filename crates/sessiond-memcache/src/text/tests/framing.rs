//! Finding requests in the byte stream: partial input, long lines, swallowing, closing.

use bytes::BytesMut;

use crate::text::TextConnection;
use crate::text::testing::{Bench, send};
use crate::{Connection, Flow, Limits};

/// A transcript touching every command family, errors included.
const TRANSCRIPT: &[u8] = b"set a 1 0 3\r\nabc\r\nget a b\r\nadd a 0 0 1\r\nx\r\n\
    append a 0 0 2\r\nde\r\nset n 0 0 1\r\n5\r\nincr n 10\r\ndecr n 3\r\ntouch a 100\r\n\
    gat 50 a\r\nset bad 0 0 2\r\nabcd\r\nmg a v f s k O1\r\nms m 2 T0 F3\r\nhi\r\n\
    md m q\r\nma cnt N0 J7 v\r\nmn\r\ndelete a\r\n\nbogus\r\nversion\r\n\
    set big 0 0 20\r\n01234567890123456789\r\nget big n\r\n";

#[test]
fn byte_by_byte_input_gives_the_same_replies() {
    let whole = {
        let bench = Bench::new();
        bench.client().send(&bench, TRANSCRIPT)
    };
    assert!(
        whole.ends_with(b"VALUE big 0 20\r\n01234567890123456789\r\nVALUE n 0 2\r\n12\r\nEND\r\n")
    );
    for piece in [1, 2, 3, 7, 13] {
        let bench = Bench::new();
        let split = bench.client().send_in(&bench, TRANSCRIPT, piece);
        assert_eq!(
            String::from_utf8_lossy(&split),
            String::from_utf8_lossy(&whole),
            "pieces of {piece}"
        );
    }
}

#[test]
fn a_storage_command_waits_for_its_data_and_says_how_much() {
    let bench = Bench::new();
    let ctx = bench.ctx();
    let mut conn = Connection::new();
    let mut input = BytesMut::from(&b"get x\r\nset a 0 0 10\r\nabc"[..]);
    let mut output = BytesMut::new();
    assert_eq!(conn.process(&mut input, &mut output, &ctx), Flow::Continue);
    assert_eq!(&output[..], b"END\r\n");
    // The line stays buffered; the connection wants line + 10 + 2 bytes.
    assert_eq!(&input[..], b"set a 0 0 10\r\nabc");
    assert_eq!(conn.wants(&input), Some(14 + 12));
    input.extend_from_slice(b"defghij\r");
    assert_eq!(conn.process(&mut input, &mut output, &ctx), Flow::Continue);
    assert_eq!(conn.wants(&input), Some(26));
    input.extend_from_slice(b"\nget a\r\n");
    conn.process(&mut input, &mut output, &ctx);
    assert_eq!(conn.wants(&input), None);
    assert!(input.is_empty());
    assert_eq!(
        &output[..],
        b"END\r\nSTORED\r\nVALUE a 0 10\r\nabcdefghij\r\nEND\r\n"
    );
}

#[test]
fn a_huge_refused_value_is_dropped_as_it_arrives() {
    let bench = Bench::new();
    let ctx = bench.ctx();
    let mut conn = TextConnection::default();
    let size: usize = 100 << 20;
    let mut input = BytesMut::from(format!("set a 0 0 {size}\r\n").as_bytes());
    let mut output = BytesMut::new();
    conn.process(&mut input, &mut output, &ctx);
    assert_eq!(&output[..], b"SERVER_ERROR object too large for cache\r\n");
    assert!(input.is_empty());
    assert_eq!(conn.wants(&input), None);
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..100 {
        input.extend_from_slice(&chunk);
        assert_eq!(conn.process(&mut input, &mut output, &ctx), Flow::Continue);
        // Nothing accumulates.
        assert!(input.is_empty());
    }
    input.extend_from_slice(b"\r\nget a\r\n");
    conn.process(&mut input, &mut output, &ctx);
    assert_eq!(
        &output[..],
        b"SERVER_ERROR object too large for cache\r\nEND\r\n"
    );
}

#[test]
fn a_long_line_without_end_closes_unless_it_is_a_get() {
    let bench = Bench::new();
    let mut client = bench.client();
    assert_eq!(client.send(&bench, &[b'a'; 2048]), b"");
    assert!(!client.closed);
    assert_eq!(client.send(&bench, b"a"), b"");
    assert!(client.closed);

    // `gat` is no exception, and neither is a get after more than 100 spaces.
    for line in ["gat 0 ", &format!("{}get ", " ".repeat(101))] {
        let mut client = bench.client();
        client.send(&bench, format!("{line}{}", "k ".repeat(2000)).as_bytes());
        assert!(client.closed, "{line:?}");
    }

    // A get may go on, and is answered once its line ends.
    let mut client = bench.client();
    let keys = format!("{}get {}", " ".repeat(100), "k ".repeat(3000));
    assert_eq!(client.send_in(&bench, keys.as_bytes(), 1000), b"");
    assert!(!client.closed);
    assert_eq!(client.send(&bench, b"\r\n"), b"END\r\n");

    // A long line that arrives whole is answered.
    assert_eq!(
        send(
            &bench,
            format!("set a 0 0 1{}\r\nx\r\n", " ".repeat(3000)).as_bytes()
        ),
        "STORED\r\n"
    );
}

#[test]
fn a_get_line_has_a_bound_too() {
    let bench = Bench::with_limits(Limits {
        max_get_line_len: 4096,
        ..Limits::default()
    });
    let mut client = bench.client();
    client.send(&bench, format!("get {}", "k ".repeat(2040)).as_bytes());
    assert!(!client.closed);
    client.send(&bench, "k ".repeat(20).as_bytes());
    assert!(client.closed);
}

#[test]
fn quit_and_http_close_after_the_replies_before_them() {
    let bench = Bench::new();
    for (request, reply) in [
        (&b"get a\r\nquit\r\nget a\r\n"[..], &b"END\r\n"[..]),
        (b"get a\r\nquit extra\r\n", b"END\r\n"),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b""),
        (b"POST /x HTTP/1.0\r\n", b""),
    ] {
        let mut client = bench.client();
        assert_eq!(client.send(&bench, request), reply);
        assert!(client.closed, "{}", request.escape_ascii());
    }
    // Only a line that is no command at all.
    assert_eq!(send(&bench, b"get / HTTP/1.1\r\n"), "END\r\n");
    assert_eq!(send(&bench, b"gxx HTTP/1.1\r\nmn\r\n"), "ERROR\r\nMN\r\n");
}

#[test]
fn bare_newlines_and_carriage_returns() {
    let bench = Bench::new();
    assert_eq!(
        send(&bench, b"set a 0 0 1\nx\r\nget a\nget a\r\r\n"),
        // The second get's key is `a\r`: memcached drops only one `\r`.
        "STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nEND\r\n"
    );
}
