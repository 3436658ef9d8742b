//! Drives a parser the way a connection does, and reads replies back.

use sessiond_resp::{Access, Limits, Parser, ProtocolError};

/// What a connection makes of a byte stream: the commands it runs, then how the stream ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transcript {
    /// Each command's arguments; empty commands (`*0`, blank lines) included, as empty lists.
    pub commands: Vec<Vec<Vec<u8>>>,
    /// How the stream ended.
    pub end: End,
}

/// How a byte stream ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// All bytes read; this many stay buffered, a command not yet complete.
    Waiting(usize),
    /// A protocol error ended the connection.
    Error(ProtocolError),
}

/// Feeds `input` to a parser in pieces of `piece` bytes, as reads would deliver it, running
/// every complete command and dropping its bytes. Checks what any caller may rely on: a
/// command takes at least one byte and no more than are buffered, and an incomplete command
/// never holds more than the limits allow.
pub fn feed(input: &[u8], limits: Limits, access: Access, piece: usize) -> Transcript {
    let mut parser = Parser::new(limits);
    let mut buffer = Vec::new();
    let mut commands = Vec::new();
    for chunk in input.chunks(piece.max(1)) {
        buffer.extend_from_slice(chunk);
        loop {
            match parser.parse(&buffer, access) {
                Ok(Some(command)) => {
                    let consumed = command.consumed();
                    assert!(
                        consumed > 0 && consumed <= buffer.len(),
                        "consumed {consumed}"
                    );
                    assert_eq!(command.args().len(), command.len());
                    commands.push(command.args().map(<[u8]>::to_vec).collect());
                    buffer.drain(..consumed);
                }
                Ok(None) => {
                    let bound = limits.max_request_len + limits.max_inline_len + 1;
                    assert!(buffer.len() <= bound, "{} bytes buffered", buffer.len());
                    if let Some(wants) = parser.wants() {
                        assert!(wants > buffer.len() && wants <= limits.max_request_len);
                    }
                    break;
                }
                Err(error) => {
                    return Transcript {
                        commands,
                        end: End::Error(error),
                    };
                }
            }
        }
    }
    Transcript {
        commands,
        end: End::Waiting(buffer.len()),
    }
}

/// Feeds `input` whole and asserts that every way of splitting it gives the same transcript:
/// pieces of every size up to 8, and every split into two reads. Returns the transcript.
pub fn every_split(input: &[u8], limits: Limits, access: Access) -> Transcript {
    let whole = feed(input, limits, access, input.len());
    for piece in 1..=8 {
        assert_eq!(
            feed(input, limits, access, piece),
            whole,
            "pieces of {piece}"
        );
    }
    for at in 0..=input.len() {
        let mut parser = Parser::new(limits);
        let mut got = Vec::new();
        let mut buffer = Vec::new();
        let mut end = None;
        'reads: for chunk in [&input[..at], &input[at..]] {
            buffer.extend_from_slice(chunk);
            loop {
                match parser.parse(&buffer, access) {
                    Ok(Some(command)) => {
                        let consumed = command.consumed();
                        got.push(command.args().map(<[u8]>::to_vec).collect());
                        buffer.drain(..consumed);
                    }
                    Ok(None) => break,
                    Err(error) => {
                        end = Some(End::Error(error));
                        break 'reads;
                    }
                }
            }
        }
        let split = Transcript {
            commands: got,
            end: end.unwrap_or(End::Waiting(buffer.len())),
        };
        assert_eq!(split, whole, "split at {at}");
    }
    whole
}

/// [`every_split`] with the default limits, for an authenticated peer.
pub fn read(input: &[u8]) -> Transcript {
    every_split(input, Limits::default(), Access::Authenticated)
}

/// Each command's arguments, as text.
pub fn words(transcript: &Transcript) -> Vec<Vec<String>> {
    transcript
        .commands
        .iter()
        .map(|command| {
            command
                .iter()
                .map(|arg| String::from_utf8_lossy(arg).into_owned())
                .collect()
        })
        .collect()
}

/// A command from text words.
pub fn command(words: &[&str]) -> Vec<Vec<u8>> {
    words.iter().map(|word| word.as_bytes().to_vec()).collect()
}

/// A reply as a client reads it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Integer(i64),
    Bulk(Vec<u8>),
    /// `$-1`
    NullBulk,
    /// `*-1`
    NullArray,
    /// `_`
    Null,
    Array(Vec<Value>),
    Map(Vec<(Value, Value)>),
    Set(Vec<Value>),
    Push(Vec<Value>),
    Double(Vec<u8>),
    Boolean(bool),
    Verbatim([u8; 3], Vec<u8>),
    BigNumber(Vec<u8>),
}

/// Reads one reply from the front of `bytes`: the reply and the bytes it took. Panics on
/// anything that is not well-formed RESP2 or RESP3.
pub fn read_reply(bytes: &[u8]) -> (Value, usize) {
    let line_end = bytes
        .windows(2)
        .position(|pair| pair == b"\r\n")
        .expect("a line");
    let line = &bytes[1..line_end];
    let after = line_end + 2;
    let number = || -> i64 {
        std::str::from_utf8(line)
            .expect("ASCII")
            .parse()
            .expect("a number")
    };
    let elements = |count: i64, from: usize| -> (Vec<Value>, usize) {
        let mut at = from;
        let mut values = Vec::new();
        for _ in 0..count {
            let (value, used) = read_reply(&bytes[at..]);
            values.push(value);
            at += used;
        }
        (values, at)
    };
    match bytes[0] {
        b'+' => (Value::Simple(line.to_vec()), after),
        b'-' => (Value::Error(line.to_vec()), after),
        b':' => (Value::Integer(number()), after),
        b',' => (Value::Double(line.to_vec()), after),
        b'(' => (Value::BigNumber(line.to_vec()), after),
        b'#' => (Value::Boolean(line == b"t"), after),
        b'_' => {
            assert!(line.is_empty());
            (Value::Null, after)
        }
        b'$' | b'=' => {
            let len = number();
            if len < 0 {
                assert_eq!(bytes[0], b'$');
                return (Value::NullBulk, after);
            }
            let len = len as usize;
            let data = &bytes[after..after + len];
            assert_eq!(&bytes[after + len..after + len + 2], b"\r\n");
            let value = if bytes[0] == b'$' {
                Value::Bulk(data.to_vec())
            } else {
                assert_eq!(data[3], b':');
                Value::Verbatim([data[0], data[1], data[2]], data[4..].to_vec())
            };
            (value, after + len + 2)
        }
        b'*' if number() < 0 => (Value::NullArray, after),
        b'*' => {
            let (values, end) = elements(number(), after);
            (Value::Array(values), end)
        }
        b'~' => {
            let (values, end) = elements(number(), after);
            (Value::Set(values), end)
        }
        b'>' => {
            let (values, end) = elements(number(), after);
            (Value::Push(values), end)
        }
        b'%' => {
            let (values, end) = elements(number() * 2, after);
            let mut pairs = Vec::new();
            let mut values = values.into_iter();
            while let (Some(key), Some(value)) = (values.next(), values.next()) {
                pairs.push((key, value));
            }
            (Value::Map(pairs), end)
        }
        other => panic!("not a RESP type: {:?}", char::from(other)),
    }
}

/// Reads every reply in `bytes`, which must hold whole replies only.
pub fn read_replies(mut bytes: &[u8]) -> Vec<Value> {
    let mut values = Vec::new();
    while !bytes.is_empty() {
        let (value, used) = read_reply(bytes);
        values.push(value);
        bytes = &bytes[used..];
    }
    values
}
