//! Every protocol error: when it is raised, its exact reply, and how the connection ends.
//!
//! Each reply below is what redis-server 7.0.15 sent for the same input, followed by a close.

use sessiond_resp::{Access, Close, Limits, ProtocolError};

use crate::support::{End, command, every_split, read};

/// The error `input` ends with, read every way it can be split.
fn error_of(input: &[u8]) -> ProtocolError {
    match read(input).end {
        End::Error(error) => error,
        End::Waiting(_) => panic!("{:?} was not refused", String::from_utf8_lossy(input)),
    }
}

/// The bytes the error's reply puts on the wire.
fn reply(error: ProtocolError) -> Vec<u8> {
    let mut out = Vec::new();
    error.write_reply(&mut out);
    out
}

#[test]
fn invalid_multibulk_length() {
    // Redis's test suite: "Out of range multibulk length" (`*3000000000`).
    for input in [
        &b"*x\r\n"[..],
        b"*01\r\n",
        b"*-0\r\n",
        b"*+1\r\n",
        b"* 1\r\n",
        b"*\r\n",
        b"*1 \r\n",
        b"*3000000000\r\n",
        b"*2147483648\r\n",
        b"*99999999999999999999999\r\n",
    ] {
        let error = error_of(input);
        assert_eq!(
            error,
            ProtocolError::InvalidMultibulkLength,
            "{:?}",
            String::from_utf8_lossy(input)
        );
        assert_eq!(
            reply(error),
            b"-ERR Protocol error: invalid multibulk length\r\n"
        );
        assert_eq!(error.close(), Close::AfterReply);
    }
}

#[test]
fn invalid_bulk_length() {
    // Redis's test suite: "Negative multibulk payload length", "Out of range multibulk payload
    // length", "Non-number multibulk payload length".
    for input in [
        &b"*1\r\n$-1\r\n"[..],
        b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n",
        b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n",
        b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\n",
        b"*1\r\n$04\r\nPING\r\n",
        b"*1\r\n$\r\n",
        b"*1\r\n$+4\r\n",
        b"*1\r\n$8388609\r\n",
    ] {
        let error = error_of(input);
        assert_eq!(
            error,
            ProtocolError::InvalidBulkLength,
            "{:?}",
            String::from_utf8_lossy(input)
        );
        assert_eq!(
            reply(error),
            b"-ERR Protocol error: invalid bulk length\r\n"
        );
    }
    // The default limit is 8 MiB; exactly that is accepted.
    assert_eq!(read(b"*1\r\n$8388608\r\n").end, End::Waiting(14));
}

#[test]
fn expected_dollar() {
    // Redis's test suite: "Wrong multibulk payload header", "Multi bulk request not followed by
    // bulk arguments".
    assert_eq!(
        error_of(b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n"),
        ProtocolError::ExpectedDollar(b'f')
    );
    assert_eq!(
        error_of(b"*1\r\nfoo\r\n"),
        ProtocolError::ExpectedDollar(b'f')
    );
    assert_eq!(
        reply(ProtocolError::ExpectedDollar(b'X')),
        b"-ERR Protocol error: expected '$', got 'X'\r\n"
    );
    // redis-server 7.0.15: a CR or LF is sent as a space, any other byte as it is.
    assert_eq!(
        error_of(b"*1\r\n\r\r\n"),
        ProtocolError::ExpectedDollar(b'\r')
    );
    assert_eq!(
        reply(ProtocolError::ExpectedDollar(b'\r')),
        b"-ERR Protocol error: expected '$', got ' '\r\n"
    );
    assert_eq!(
        error_of(b"*1\r\n\n\r\n"),
        ProtocolError::ExpectedDollar(b'\n')
    );
    assert_eq!(
        reply(ProtocolError::ExpectedDollar(b'\n')),
        b"-ERR Protocol error: expected '$', got ' '\r\n"
    );
    assert_eq!(
        error_of(b"*1\r\n\xff\r\n"),
        ProtocolError::ExpectedDollar(0xff)
    );
    assert_eq!(
        reply(ProtocolError::ExpectedDollar(0xff)),
        b"-ERR Protocol error: expected '$', got '\xff'\r\n"
    );
    // A `*` where an argument belongs is not a new request.
    assert_eq!(
        error_of(b"*2\r\n$4\r\nECHO\r\n*1\r\n"),
        ProtocolError::ExpectedDollar(b'*')
    );
}

#[test]
fn a_nul_where_a_length_line_ends_waits() {
    // redis-server 7.0.15 answers nothing to `*1\r\n\0\r\n`: its strchr stops at the NUL.
    assert_eq!(read(b"*1\r\n\0\r\n").end, End::Waiting(7));
    assert_eq!(read(b"*1\0\r\n").end, End::Waiting(5));
}

#[test]
fn unbalanced_quotes() {
    let error = error_of(b"ECHO \"abc\r\n");
    assert_eq!(error, ProtocolError::UnbalancedQuotes);
    assert_eq!(
        reply(error),
        b"-ERR Protocol error: unbalanced quotes in request\r\n"
    );
}

/// `len` bytes of `byte`.
fn bytes(len: usize, byte: u8) -> Vec<u8> {
    vec![byte; len]
}

/// `prefix` followed by `byte`s up to `len` bytes in all.
fn padded(prefix: &[u8], len: usize, byte: u8) -> Vec<u8> {
    let mut out = prefix.to_vec();
    out.resize(len, byte);
    out
}

#[test]
fn too_big_inline_request() {
    // redis-server 7.0.15, fed 1000 bytes at a time: 65536 bytes without LF wait, 65537 are
    // refused; so are 65536 bytes followed by CR.
    let limits = Limits::default();
    let at = |input: &[u8]| crate::support::feed(input, limits, Access::Authenticated, 1000).end;
    assert_eq!(at(&bytes(65536, b'x')), End::Waiting(65536));
    assert_eq!(
        at(&bytes(65537, b'x')),
        End::Error(ProtocolError::TooBigInlineRequest)
    );
    let mut with_cr = bytes(65536, b'x');
    with_cr.push(b'\r');
    assert_eq!(at(&with_cr), End::Error(ProtocolError::TooBigInlineRequest));
    // A line of 65536 bytes before its LF is the longest accepted, however it arrives.
    let mut longest = padded(b"ECHO ", 65536, b'x');
    longest.push(b'\n');
    for piece in [1000, longest.len()] {
        let transcript = crate::support::feed(&longest, limits, Access::Authenticated, piece);
        assert_eq!(transcript.commands.len(), 1);
    }
    let mut over = padded(b"ECHO ", 65537, b'x');
    over.push(b'\n');
    for piece in [1000, over.len()] {
        let transcript = crate::support::feed(&over, limits, Access::Authenticated, piece);
        assert_eq!(
            transcript.end,
            End::Error(ProtocolError::TooBigInlineRequest)
        );
    }
    assert_eq!(
        reply(ProtocolError::TooBigInlineRequest),
        b"-ERR Protocol error: too big inline request\r\n"
    );
}

#[test]
fn too_big_count_strings() {
    // redis-server 7.0.15, fed 1000 bytes at a time: a `*` line of 65536 bytes without CR
    // waits, of 65537 is refused; the same for a `$` line.
    let limits = Limits::default();
    let at = |input: &[u8]| crate::support::feed(input, limits, Access::Authenticated, 1000).end;
    assert_eq!(at(&padded(b"*", 65536, b'1')), End::Waiting(65536));
    assert_eq!(
        at(&padded(b"*", 65537, b'1')),
        End::Error(ProtocolError::TooBigMultibulkCount)
    );
    let mut bulk = b"*1\r\n".to_vec();
    bulk.extend(padded(b"$", 65536, b'1'));
    assert_eq!(at(&bulk), End::Waiting(65540));
    bulk.push(b'1');
    assert_eq!(at(&bulk), End::Error(ProtocolError::TooBigBulkCount));
    assert_eq!(
        reply(ProtocolError::TooBigMultibulkCount),
        b"-ERR Protocol error: too big mbulk count string\r\n"
    );
    assert_eq!(
        reply(ProtocolError::TooBigBulkCount),
        b"-ERR Protocol error: too big bulk count string\r\n"
    );
}

#[test]
fn protocol_desync_regression_tests() {
    // Redis's test suite ("Protocol desync regression test #1-3"): "\x00", "*\x00" or "$\x00"
    // followed by endless 1 KiB lines must end in a protocol error, not an endless wait.
    // redis-server 7.0.15 sends `too big inline request`, `too big mbulk count string`, and
    // `too big inline request` (a `$` at the start is an inline command).
    let mut line = bytes(1024, b'A');
    line.push(b'\n');
    for (start, expected) in [
        (&b"\0"[..], ProtocolError::TooBigInlineRequest),
        (b"*\0", ProtocolError::TooBigMultibulkCount),
        (b"$\0", ProtocolError::TooBigInlineRequest),
    ] {
        let mut input = start.to_vec();
        for _ in 0..70 {
            input.extend_from_slice(&line);
        }
        let transcript =
            crate::support::feed(&input, Limits::default(), Access::Authenticated, 1025);
        assert!(transcript.commands.is_empty());
        assert_eq!(transcript.end, End::Error(expected));
    }
    // The same past a NUL in an argument's length line (redis-server 7.0.15: `*1\r\n$1\0`
    // then 65535 more bytes is `too big bulk count string`).
    let mut input = b"*1\r\n$1\0".to_vec();
    input.extend(bytes(65535, b'x'));
    assert_eq!(
        crate::support::feed(&input, Limits::default(), Access::Authenticated, 1000).end,
        End::Error(ProtocolError::TooBigBulkCount)
    );
}

#[test]
fn unauthenticated_lengths() {
    assert_eq!(
        reply(ProtocolError::UnauthenticatedMultibulkLength),
        b"-ERR Protocol error: unauthenticated multibulk length\r\n"
    );
    assert_eq!(
        reply(ProtocolError::UnauthenticatedBulkLength),
        b"-ERR Protocol error: unauthenticated bulk length\r\n"
    );
}

#[test]
fn a_request_too_large_closes_without_a_reply() {
    let error = ProtocolError::RequestTooLarge;
    assert_eq!(error.close(), Close::WithoutReply);
    assert!(reply(error).is_empty());
    assert_eq!(error.to_string(), "request over the size limit");
}

#[test]
fn replies_already_due_come_before_the_error() {
    // redis-server 7.0.15: `PING\r\n*1\r\nX\r\nPING\r\n` answers +PONG, the error, and closes.
    let transcript = read(b"PING\r\n*1\r\nX\r\nPING\r\n");
    assert_eq!(transcript.commands, vec![command(&["PING"])]);
    assert_eq!(
        transcript.end,
        End::Error(ProtocolError::ExpectedDollar(b'X'))
    );
}

#[test]
fn every_error_is_the_same_however_the_bytes_arrive() {
    // `read` feeds every input in pieces of 1 to 8 bytes and split once at every point.
    for input in [
        &b"*1\r\n$3\r\nabc\r\n*2\r\n$1\r\na\r\n$x\r\n"[..],
        b"PING\nGET 'x\n",
        b"*0\r\n*1\r\n$1\r\nx\r\n*-1\r\n*-2x\r\n",
    ] {
        assert!(matches!(read(input).end, End::Error(_)));
    }
    let limits = Limits {
        max_inline_len: 8,
        ..Limits::default()
    };
    let transcript = every_split(b"PING\r\nPING 12345\r\n", limits, Access::Authenticated);
    assert_eq!(
        transcript.end,
        End::Error(ProtocolError::TooBigInlineRequest)
    );
    assert_eq!(transcript.commands, vec![command(&["PING"])]);
}
