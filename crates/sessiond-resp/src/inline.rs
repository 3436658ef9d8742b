//! Inline commands: one line of space-separated words, as typed into `telnet`.
//!
//! The words are split by a port of Redis's `sdssplitargs` (`sds.c`), quirks included, since
//! what a line means must not change when the server does:
//! - Blanks between words are C's `isspace` (space, `\t`, `\n`, `\v`, `\f`, `\r`), but inside
//!   an unquoted word only space, `\t`, `\n` and `\r` end it: `a\vb` is one word.
//! - A quote may open in the middle of a word and joins it: `a"b c"` is the one word `ab c`.
//! - In double quotes `\xHH` (two hex digits) is a byte, `\n` `\r` `\t` `\b` `\a` are control
//!   characters, and a backslash before anything else stands for that character (`\"`, `\\`,
//!   and `\x4` as `x4`). In single quotes only `\'` is an escape.
//! - A closing quote must be followed by a blank or the end of the line, and a quote must
//!   close: otherwise the whole line is `unbalanced quotes in request`.
//!
//! The line ends at `\n`, one `\r` before it dropped (Redis's `processInlineBuffer`).

use crate::command::Span;
use crate::error::ProtocolError;
use crate::limits::Limits;
use crate::line::{Line, inline_line};
use crate::parser::Progress;

/// An inline command being read: the first `scanned` bytes hold no `\n` or NUL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Inline {
    scanned: usize,
}

impl Inline {
    /// Reads on from where the last call stopped. On completion the arguments are in `scratch`,
    /// where `spans` point.
    pub(crate) fn resume(
        &mut self,
        input: &[u8],
        scratch: &mut Vec<u8>,
        spans: &mut Vec<Span>,
        limits: &Limits,
    ) -> Result<Progress, ProtocolError> {
        match inline_line(input, self.scanned, limits.max_inline_len) {
            Line::TooLong => Err(ProtocolError::TooBigInlineRequest),
            Line::Incomplete(scanned) => {
                self.scanned = scanned;
                Ok(Progress::Incomplete)
            }
            Line::End(newline) => {
                let line = input.get(..newline).unwrap_or_default();
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                split_args(line, scratch, spans)?;
                Ok(Progress::Complete(newline + 1))
            }
        }
    }

    /// The furthest input index this state relies on.
    pub(crate) fn position(&self) -> usize {
        self.scanned
    }
}

/// Splits `line` into words as `sdssplitargs` does, appending each word to `scratch` and its
/// place there to `spans`. `line` holds no NUL (a NUL hides the line's end, see `line.rs`), so
/// its end is where `sdssplitargs` would meet the C string's terminator.
pub(crate) fn split_args(
    line: &[u8],
    scratch: &mut Vec<u8>,
    spans: &mut Vec<Span>,
) -> Result<(), ProtocolError> {
    let mut at = 0;
    loop {
        while line.get(at).is_some_and(|&byte| is_c_space(byte)) {
            at += 1;
        }
        if at >= line.len() {
            return Ok(());
        }
        let start = scratch.len();
        let mut quote = Quote::None;
        loop {
            let byte = line.get(at).copied();
            let next = line.get(at + 1).copied();
            let mut done = false;
            match (quote, byte) {
                // The line ended inside quotes.
                (Quote::Double | Quote::Single, None) => {
                    return Err(ProtocolError::UnbalancedQuotes);
                }
                (Quote::Double, Some(b'\\')) => match hex_escape(line, at) {
                    Some(value) => {
                        scratch.push(value);
                        at += 3;
                    }
                    None => match next {
                        Some(escaped) => {
                            scratch.push(unescape(escaped));
                            at += 1;
                        }
                        // A backslash last on the line is itself; the quote is then unclosed.
                        None => scratch.push(b'\\'),
                    },
                },
                (Quote::Double, Some(b'"')) | (Quote::Single, Some(b'\'')) => {
                    if next.is_some_and(|byte| !is_c_space(byte)) {
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    done = true;
                }
                (Quote::Single, Some(b'\\')) if next == Some(b'\'') => {
                    scratch.push(b'\'');
                    at += 1;
                }
                (Quote::Double | Quote::Single, Some(byte)) => scratch.push(byte),
                (Quote::None, None | Some(b' ' | b'\n' | b'\r' | b'\t')) => done = true,
                (Quote::None, Some(b'"')) => quote = Quote::Double,
                (Quote::None, Some(b'\'')) => quote = Quote::Single,
                (Quote::None, Some(byte)) => scratch.push(byte),
            }
            // `sdssplitargs` steps past the byte it stands on unless the line has ended there.
            if at < line.len() {
                at += 1;
            }
            if done {
                break;
            }
        }
        spans.push(Span {
            start,
            end: scratch.len(),
        });
    }
}

/// Which quotes the word being read is inside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Quote {
    None,
    Double,
    Single,
}

/// The byte a `\xHH` escape at `at` stands for, when both digits are hex.
fn hex_escape(line: &[u8], at: usize) -> Option<u8> {
    match line.get(at..at + 4)? {
        [b'\\', b'x', high, low] => Some((hex_value(*high)? << 4) | hex_value(*low)?),
        _ => None,
    }
}

/// A hex digit's value.
fn hex_value(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
}

/// The byte a backslash and `escaped` stand for inside double quotes.
fn unescape(escaped: u8) -> u8 {
    match escaped {
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'b' => 0x08,
        b'a' => 0x07,
        other => other,
    }
}

/// C's `isspace` in the C locale.
fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}
