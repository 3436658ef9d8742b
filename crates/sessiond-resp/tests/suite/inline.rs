//! Inline commands: splitting, quoting and escapes as Redis's `sdssplitargs` does them.

use sessiond_resp::{Access, Parser, ProtocolError};

use crate::support::{End, command, read, words};

/// The arguments of the one inline command `line`.
fn args(line: &[u8]) -> Vec<Vec<u8>> {
    let transcript = read(line);
    assert_eq!(transcript.end, End::Waiting(0), "{transcript:?}");
    assert_eq!(transcript.commands.len(), 1, "{transcript:?}");
    transcript.commands.into_iter().next().unwrap_or_default()
}

/// The error `line` ends the connection with.
fn refused(line: &[u8]) -> ProtocolError {
    match read(line).end {
        End::Error(error) => error,
        End::Waiting(_) => panic!("{:?} was not refused", String::from_utf8_lossy(line)),
    }
}

#[test]
fn words_are_split_on_blanks() {
    assert_eq!(args(b"SET k v\r\n"), command(&["SET", "k", "v"]));
    // redis-server 7.0.15: `  ECHO\t x \r\n` answers x.
    assert_eq!(args(b"  ECHO\t x \r\n"), command(&["ECHO", "x"]));
    assert_eq!(args(b"GET k\n"), command(&["GET", "k"]));
    // Blanks are C's isspace between words, so \v and \f separate them too.
    assert_eq!(args(b"a \x0b\x0c b\r\n"), command(&["a", "b"]));
}

#[test]
fn one_cr_before_the_lf_is_dropped_and_others_are_blanks() {
    // redis-server 7.0.15: `PING\r\r\n` answers +PONG.
    assert_eq!(args(b"PING\r\r\n"), command(&["PING"]));
    assert_eq!(args(b"a\rb\r\n"), command(&["a", "b"]));
}

#[test]
fn inside_a_word_only_space_tab_cr_and_lf_end_it() {
    // redis-server 7.0.15: `ECHO a\x0bb` answers the three bytes a, \v, b.
    assert_eq!(
        args(b"ECHO a\x0bb\r\n"),
        vec![b"ECHO".to_vec(), b"a\x0bb".to_vec()]
    );
    assert_eq!(args(b"x\x0cy\r\n"), vec![b"x\x0cy".to_vec()]);
}

#[test]
fn a_blank_line_is_an_empty_command() {
    // Redis's test suite: "Handle an empty query" writes \r\n, then PING works; redis-server
    // 7.0.15 answers only +PONG to `\r\n\n   \r\nPING\r\n`.
    let transcript = read(b"\r\n\n   \r\nPING\r\n");
    assert_eq!(
        transcript.commands,
        vec![vec![], vec![], vec![], command(&["PING"])]
    );
}

#[test]
fn double_quotes_take_escapes() {
    // redis-server 7.0.15: `ECHO "a\x41\n"` answers the three bytes a, A, \n.
    assert_eq!(args(b"ECHO \"a\\x41\\n\"\r\n")[1], b"aA\n");
    assert_eq!(
        args(b"\"\\n\\r\\t\\b\\a\\\\\\\"\"\n")[0],
        b"\n\r\t\x08\x07\\\""
    );
    // Any other escaped character is itself (redis-server 7.0.15: `"\q\\\""` is q\").
    assert_eq!(args(b"\"\\q\\\\\\\"\"\n")[0], b"q\\\"");
    // \x needs two hex digits, of either case; otherwise the x is just escaped
    // (redis-server 7.0.15: `"\x4"` is x4).
    assert_eq!(args(b"\"\\x4\"\n")[0], b"x4");
    assert_eq!(args(b"\"\\xfF\\x00\"\n")[0], b"\xff\x00");
    assert_eq!(args(b"\"\\xzz\"\n")[0], b"xzz");
    assert_eq!(args(b"\"a b\"\n")[0], b"a b");
}

#[test]
fn the_example_from_sdssplitargs() {
    // The example in the comment above sdssplitargs in Redis's sds.c.
    assert_eq!(
        args(b"foo bar \"newline are supported\\n\" and \"\\xff\\x00otherstuff\"\r\n"),
        vec![
            b"foo".to_vec(),
            b"bar".to_vec(),
            b"newline are supported\n".to_vec(),
            b"and".to_vec(),
            b"\xff\x00otherstuff".to_vec(),
        ]
    );
}

#[test]
fn single_quotes_take_only_an_escaped_quote() {
    // redis-server 7.0.15: `ECHO 'it\'s'` answers it's.
    assert_eq!(args(b"ECHO 'it\\'s'\r\n")[1], b"it's");
    assert_eq!(args(b"'a\\nb\\x41'\n")[0], b"a\\nb\\x41");
    assert_eq!(args(b"'say \"hi\"'\n")[0], b"say \"hi\"");
    assert_eq!(args(b"\"it's\"\n")[0], b"it's");
}

#[test]
fn empty_quotes_are_an_empty_argument() {
    // redis-server 7.0.15: `ECHO ''` and `ECHO ""` both answer $0.
    assert_eq!(args(b"ECHO ''\r\n"), command(&["ECHO", ""]));
    assert_eq!(args(b"ECHO \"\"\r\n"), command(&["ECHO", ""]));
    assert_eq!(args(b"SET \"\" ''\r\n"), command(&["SET", "", ""]));
}

#[test]
fn a_quote_inside_a_word_joins_it() {
    // redis-server 7.0.15: `ECHO a"b c"` answers `ab c`.
    assert_eq!(args(b"ECHO a\"b c\"\r\n"), command(&["ECHO", "ab c"]));
    assert_eq!(args(b"x'y z' w\n"), command(&["xy z", "w"]));
}

#[test]
fn a_closing_quote_must_be_followed_by_a_blank() {
    // redis-server 7.0.15: `ECHO "a"b` and `ECHO 'a'b` are unbalanced quotes; `ECHO "a"\x0b`
    // answers a.
    assert_eq!(refused(b"ECHO \"a\"b\r\n"), ProtocolError::UnbalancedQuotes);
    assert_eq!(refused(b"ECHO 'a'b\r\n"), ProtocolError::UnbalancedQuotes);
    assert_eq!(args(b"ECHO \"a\"\x0b\r\n"), command(&["ECHO", "a"]));
    assert_eq!(args(b"ECHO \"a\"\tb\r\n"), command(&["ECHO", "a", "b"]));
    // The CR before the LF is not part of the line, so a quote may end it.
    assert_eq!(args(b"ECHO \"a\"\r\n"), command(&["ECHO", "a"]));
}

#[test]
fn quotes_must_close() {
    // redis-server 7.0.15: each is `-ERR Protocol error: unbalanced quotes in request` and a
    // close.
    for line in [
        &b"ECHO \"abc\r\n"[..],
        b"ECHO \"a\" \"b\r\n",
        b"ECHO \"a\\\"\r\n",
        b"ECHO 'abc\r\n",
        b"ECHO 'a\\'\r\n",
        b"ECHO \"a\\\r\n",
        // From Redis's test suite ("Unbalanced number of quotes").
        b"set \"\"\"test-key\"\"\" test-value\r\n",
    ] {
        assert_eq!(
            refused(line),
            ProtocolError::UnbalancedQuotes,
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn an_error_ends_the_stream_after_the_commands_before_it() {
    // Redis's test suite writes the unbalanced line and then `ping`: only the error comes back.
    let transcript = read(b"PING\r\nset \"\"\"test-key\"\"\" test-value\r\nping\r\n");
    assert_eq!(transcript.commands, vec![command(&["PING"])]);
    assert_eq!(transcript.end, End::Error(ProtocolError::UnbalancedQuotes));
}

#[test]
fn a_nul_hides_the_end_of_the_line() {
    // redis-server 7.0.15 answers nothing to `ECHO x\0y\r\nPING\r\n`: it reads the line as a C
    // string, never sees the LF, and waits.
    let transcript = read(b"ECHO x\0y\r\nPING\r\n");
    assert!(transcript.commands.is_empty());
    assert_eq!(transcript.end, End::Waiting(16));
    // After the line, a NUL is the next command's business.
    let transcript = read(b"PING\r\n\0");
    assert_eq!(transcript.commands, vec![command(&["PING"])]);
    assert_eq!(transcript.end, End::Waiting(1));
}

#[test]
fn the_arguments_of_each_inline_command_are_its_own() {
    let mut parser = Parser::default();
    let input = b"SET \"a b\" 1\r\nGET 'c'\r\n";
    let first = parser.parse(input, Access::Authenticated).unwrap().unwrap();
    assert_eq!(
        first.args().collect::<Vec<_>>(),
        vec![&b"SET"[..], b"a b", b"1"]
    );
    let consumed = first.consumed();
    assert_eq!(consumed, 13);
    let second = parser
        .parse(&input[consumed..], Access::Authenticated)
        .unwrap()
        .unwrap();
    assert_eq!(second.args().collect::<Vec<_>>(), vec![&b"GET"[..], b"c"]);
    assert_eq!(second.consumed(), 9);
}

#[test]
fn a_long_line_arriving_a_byte_at_a_time_is_searched_once() {
    // Not a timing test: a line of 60 KiB fed one byte at a time finishes (a parser that
    // searched the whole line again after every byte would take 1.8 billion steps).
    let mut line = b"SET k ".to_vec();
    line.resize(60 << 10, b'v');
    line.extend_from_slice(b"\r\n");
    let transcript = crate::support::feed(
        &line,
        sessiond_resp::Limits::default(),
        Access::Authenticated,
        1,
    );
    assert_eq!(transcript.commands.len(), 1);
    assert_eq!(words(&transcript)[0][..2], ["SET", "k"]);
}
