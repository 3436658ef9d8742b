//! Multibulk requests: framing, pipelines, empty commands, partial input, limits.

use sessiond_resp::{Access, Limits, Parser, ProtocolError};

use crate::support::{End, Transcript, command, every_split, read, words};

#[test]
fn a_command_and_the_bytes_it_took() {
    let input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n";
    let mut parser = Parser::default();
    let parsed = parser
        .parse(input, Access::Authenticated)
        .expect("valid")
        .expect("complete");
    assert_eq!(parsed.len(), 3);
    assert!(!parsed.is_empty());
    assert_eq!(parsed.name(), Some(&b"SET"[..]));
    assert_eq!(parsed.get(1), Some(&b"k"[..]));
    assert_eq!(parsed.get(2), Some(&b"hello"[..]));
    assert_eq!(parsed.get(3), None);
    assert_eq!(parsed.args().next_back(), Some(&b"hello"[..]));
    assert_eq!(parsed.consumed(), input.len());
    assert_eq!(
        format!("{parsed:?}"),
        r#"Command { args: ["SET", "k", "hello"], consumed: 31 }"#
    );
}

#[test]
fn arguments_point_into_the_input() {
    let input = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
    let mut parser = Parser::default();
    let parsed = parser.parse(input, Access::Authenticated).unwrap().unwrap();
    let key = parsed.get(1).unwrap();
    assert!(std::ptr::eq(key.as_ptr(), input[17..].as_ptr()));
}

#[test]
fn arguments_are_binary() {
    let transcript = read(b"*3\r\n$3\r\nSET\r\n$4\r\n\r\n\0\xff\r\n$0\r\n\r\n");
    assert_eq!(
        transcript.commands,
        vec![vec![b"SET".to_vec(), b"\r\n\0\xff".to_vec(), Vec::new()]]
    );
    assert_eq!(transcript.end, End::Waiting(0));
}

#[test]
fn pipelined_commands_come_one_at_a_time() {
    // What phpredis sends for a locked session read, written at once.
    let input = b"*6\r\n$3\r\nSET\r\n$25\r\nPHPREDIS_SESSION:abc_LOCK\r\n$9\r\nhost|1234\r\n\
        $2\r\nNX\r\n$2\r\nPX\r\n$5\r\n30000\r\n*2\r\n$3\r\nGET\r\n$20\r\nPHPREDIS_SESSION:abc\r\n\
        *3\r\n$6\r\nEXPIRE\r\n$20\r\nPHPREDIS_SESSION:abc\r\n$4\r\n1440\r\n*2\r\n$3\r\nGET";
    let transcript = read(input);
    assert_eq!(
        words(&transcript),
        vec![
            vec![
                "SET",
                "PHPREDIS_SESSION:abc_LOCK",
                "host|1234",
                "NX",
                "PX",
                "30000"
            ],
            vec!["GET", "PHPREDIS_SESSION:abc"],
            vec!["EXPIRE", "PHPREDIS_SESSION:abc", "1440"],
        ]
    );
    // The last command's start stays buffered.
    assert_eq!(transcript.end, End::Waiting(11));
}

#[test]
fn multibulk_and_inline_mix_in_one_stream() {
    let transcript = read(b"PING\r\n*1\r\n$4\r\nPING\r\nECHO hi\n*2\r\n$4\r\nECHO\r\n$2\r\nho\r\n");
    assert_eq!(
        words(&transcript),
        vec![
            vec!["PING"],
            vec!["PING"],
            vec!["ECHO", "hi"],
            vec!["ECHO", "ho"]
        ]
    );
}

#[test]
fn a_count_of_zero_or_less_is_an_empty_command() {
    // redis-server 7.0.15: `*-1\r\nPING\r\n` and `*0\r\n*1\r\n$4\r\nPING\r\n` both answer only
    // +PONG; Redis's test suite sends `*-10` ("Negative multibulk length").
    let transcript = read(b"*0\r\n*-1\r\n*-10\r\n*1\r\n$4\r\nPING\r\n*-1\r\nPING\r\n");
    assert_eq!(
        transcript.commands,
        vec![
            vec![],
            vec![],
            vec![],
            command(&["PING"]),
            vec![],
            command(&["PING"])
        ]
    );
    let mut parser = Parser::default();
    let empty = parser
        .parse(b"*0\r\n", Access::Authenticated)
        .unwrap()
        .unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty.name(), None);
    assert_eq!(empty.consumed(), 4);
}

#[test]
fn the_bytes_after_a_length_line_or_an_argument_are_not_checked() {
    // redis-server 7.0.15 answers +PONG to both: it skips two bytes where CRLF belongs.
    let transcript = read(b"*1\rx$4\rxPING\r\n*1\r\n$4\r\nPINGxy*1\r\n$4\r\nPING\r\n");
    assert_eq!(
        transcript.commands,
        vec![command(&["PING"]), command(&["PING"]), command(&["PING"])]
    );
}

#[test]
fn every_prefix_waits_and_every_split_agrees() {
    let input = b"*3\r\n$3\r\nSET\r\n$10\r\nsess:abcde\r\n$13\r\n{\"user\":\"al\"}\r\n";
    for end in 0..input.len() {
        let transcript = read(&input[..end]);
        assert_eq!(transcript.commands, Vec::<Vec<Vec<u8>>>::new(), "{end}");
        assert_eq!(transcript.end, End::Waiting(end));
    }
    assert_eq!(
        read(input).commands,
        vec![command(&["SET", "sess:abcde", "{\"user\":\"al\"}"])]
    );
}

#[test]
fn the_parser_says_how_much_a_large_argument_needs() {
    let mut parser = Parser::default();
    let mut input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000\r\nabc".to_vec();
    assert!(
        parser
            .parse(&input, Access::Authenticated)
            .unwrap()
            .is_none()
    );
    let header = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000\r\n".len();
    assert_eq!(parser.wants(), Some(header + 1002));
    input.resize(header + 1001, b'v');
    assert!(
        parser
            .parse(&input, Access::Authenticated)
            .unwrap()
            .is_none()
    );
    assert_eq!(parser.wants(), Some(header + 1002));
    input.push(b'\n');
    let parsed = parser
        .parse(&input, Access::Authenticated)
        .unwrap()
        .unwrap();
    assert_eq!(parsed.get(2).map(<[u8]>::len), Some(1000));
    assert_eq!(parsed.consumed(), input.len());
    assert_eq!(parser.wants(), None);
}

#[test]
fn the_parser_wants_nothing_while_a_line_is_incomplete() {
    let mut parser = Parser::default();
    assert!(
        parser
            .parse(b"*2\r\n$3", Access::Authenticated)
            .unwrap()
            .is_none()
    );
    assert_eq!(parser.wants(), None);
    assert!(
        parser
            .parse(b"PIN", Access::Authenticated)
            .unwrap()
            .is_none()
    );
    assert_eq!(parser.wants(), None);
}

#[test]
fn a_shorter_input_than_before_is_read_from_its_start() {
    let mut parser = Parser::default();
    assert!(
        parser
            .parse(b"*2\r\n$3\r\nGET\r\n$3\r\nke", Access::Authenticated)
            .unwrap()
            .is_none()
    );
    let parsed = parser.parse(b"*1\r\n$4\r\nPING\r\n", Access::Authenticated);
    assert_eq!(
        parsed
            .unwrap()
            .map(|command| command.name().map(<[u8]>::to_vec)),
        Some(Some(b"PING".to_vec()))
    );
}

#[test]
fn the_argument_count_limit() {
    let limits = Limits {
        max_multibulk_len: 3,
        ..Limits::default()
    };
    let three = b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n";
    assert_eq!(
        every_split(three, limits, Access::Authenticated).commands,
        vec![command(&["a", "b", "c"])]
    );
    assert_eq!(
        every_split(b"*4\r\n", limits, Access::Authenticated).end,
        End::Error(ProtocolError::InvalidMultibulkLength)
    );
}

#[test]
fn the_argument_size_limit() {
    let limits = Limits {
        max_bulk_len: 4,
        ..Limits::default()
    };
    assert_eq!(
        every_split(b"*1\r\n$4\r\nPING\r\n", limits, Access::Authenticated).commands,
        vec![command(&["PING"])]
    );
    assert_eq!(
        every_split(b"*1\r\n$5\r\n", limits, Access::Authenticated).end,
        End::Error(ProtocolError::InvalidBulkLength)
    );
}

#[test]
fn the_default_limits() {
    let limits = Limits::default();
    assert_eq!(limits.max_bulk_len, 8 << 20);
    assert_eq!(limits.max_multibulk_len, 1024 * 1024);
    assert_eq!(limits.max_inline_len, 64 * 1024);
    assert_eq!(limits.max_request_len, 16 << 20);
    assert_eq!(limits.unauthenticated_max_multibulk_len, 10);
    assert_eq!(limits.unauthenticated_max_bulk_len, 16384);
    assert_eq!(Parser::default().limits(), &limits);
    assert_eq!(Parser::new(limits).limits(), &limits);
}

#[test]
fn before_authentication_requests_stay_small() {
    // redis-server 7.0.15 with requirepass set: `*10` waits, `*11` is refused; `$16384` waits,
    // `$16385` is refused; `*-5` is an empty command.
    let unauthenticated =
        |input: &[u8]| every_split(input, Limits::default(), Access::Unauthenticated);
    assert_eq!(unauthenticated(b"*10\r\n").end, End::Waiting(5));
    assert_eq!(
        unauthenticated(b"*11\r\n").end,
        End::Error(ProtocolError::UnauthenticatedMultibulkLength)
    );
    assert_eq!(unauthenticated(b"*1\r\n$16384\r\n").end, End::Waiting(12));
    assert_eq!(
        unauthenticated(b"*1\r\n$16385\r\n").end,
        End::Error(ProtocolError::UnauthenticatedBulkLength)
    );
    assert_eq!(
        unauthenticated(b"*-5\r\n*2\r\n$4\r\nAUTH\r\n$6\r\nsekrit\r\n").commands,
        vec![vec![], command(&["AUTH", "sekrit"])]
    );
    // The general limits are checked first, as Redis checks INT_MAX and proto-max-bulk-len
    // first (redis-server 7.0.15: `*2147483648` unauthenticated is `invalid multibulk length`).
    assert_eq!(
        unauthenticated(b"*2000000\r\n").end,
        End::Error(ProtocolError::InvalidMultibulkLength)
    );
    assert_eq!(
        unauthenticated(b"*1\r\n$9000000\r\n").end,
        End::Error(ProtocolError::InvalidBulkLength)
    );
    // Inline commands have no such limit in Redis.
    let long = format!("AUTH {}\r\n", "x".repeat(20_000));
    let transcript = crate::support::feed(
        long.as_bytes(),
        Limits::default(),
        Access::Unauthenticated,
        4096,
    );
    assert_eq!(transcript.commands.len(), 1);
}

#[test]
fn a_request_over_the_buffer_limit_is_refused_before_its_data_arrives() {
    let limits = Limits {
        max_request_len: 40,
        ..Limits::default()
    };
    // 4 + 9 + 5 + 22 = 40 bytes: just fits.
    let fits = b"*2\r\n$3\r\nSET\r\n$20\r\n01234567890123456789\r\n";
    assert_eq!(fits.len(), 40);
    assert_eq!(
        every_split(fits, limits, Access::Authenticated)
            .commands
            .len(),
        1
    );
    // One byte more is refused as soon as its length line is read.
    let over = b"*2\r\n$3\r\nSET\r\n$21\r\n";
    assert_eq!(
        every_split(over, limits, Access::Authenticated).end,
        End::Error(ProtocolError::RequestTooLarge)
    );
    // Many small arguments add up too.
    let many = format!("*100\r\n{}", "$1\r\nx\r\n".repeat(10));
    assert_eq!(
        every_split(many.as_bytes(), limits, Access::Authenticated).end,
        End::Error(ProtocolError::RequestTooLarge)
    );
}

#[test]
fn a_parser_reads_on_after_each_command() {
    // The driver in `support` drops each command's bytes; here one parser reads a long stream
    // of commands and the arguments of each are its own.
    let mut input = Vec::new();
    for i in 0..200 {
        let key = format!("key{i}");
        input.extend_from_slice(
            format!("*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len()).as_bytes(),
        );
        input.extend_from_slice(format!("GET \"{key}\"\r\n").as_bytes());
    }
    let transcript = crate::support::feed(&input, Limits::default(), Access::Authenticated, 7);
    let expected: Transcript = Transcript {
        commands: (0..200)
            .flat_map(|i| {
                let key = format!("key{i}");
                [command(&["GET", &key]), command(&["GET", &key])]
            })
            .collect(),
        end: End::Waiting(0),
    };
    assert_eq!(transcript, expected);
}
