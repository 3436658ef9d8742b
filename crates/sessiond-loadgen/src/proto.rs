//! Types shared by the text and binary protocol parsers.

use std::fmt;

/// Result of trying to parse one reply from the front of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<T> {
    /// The buffer holds only part of a reply; read more and try again.
    Incomplete,
    /// A whole reply of `len` bytes starts the buffer.
    Complete {
        /// Bytes the reply occupies; the caller drops them from its buffer.
        len: usize,
        /// The decoded reply, borrowing from the buffer.
        reply: T,
    },
}

/// The server sent something that is not a valid reply to the request we made.
///
/// These are fatal: after one, the reply stream can no longer be trusted to line
/// up with our requests, and a benchmark built on a misbehaving server is
/// meaningless. Server-side refusals that keep the stream in sync (for example
/// `SERVER_ERROR out of memory`) are not protocol errors; they are counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    msg: String,
}

impl ProtocolError {
    /// Builds an error from `what` went wrong and the bytes it was found in.
    pub fn new(what: &str, bytes: &[u8]) -> Self {
        Self {
            msg: format!("{what}: {}", escape(bytes, 80)),
        }
    }

    /// Builds an error with no bytes to show.
    pub fn msg(what: impl Into<String>) -> Self {
        Self { msg: what.into() }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "protocol error: {}", self.msg)
    }
}

impl std::error::Error for ProtocolError {}

/// Renders up to `max` bytes as an escaped, quoted string for error messages.
pub fn escape(bytes: &[u8], max: usize) -> String {
    let shown = &bytes[..bytes.len().min(max)];
    let mut s = String::with_capacity(shown.len() + 8);
    s.push('"');
    for chunk in shown.escape_ascii().map(char::from) {
        s.push(chunk);
    }
    s.push('"');
    if bytes.len() > max {
        s.push_str(&format!("... ({} bytes)", bytes.len()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_truncates() {
        assert_eq!(escape(b"ab\r\n", 10), "\"ab\\r\\n\"");
        assert_eq!(escape(b"abcdef", 2), "\"ab\"... (6 bytes)");
        assert_eq!(
            ProtocolError::new("bad", b"x").to_string(),
            "protocol error: bad: \"x\""
        );
    }
}
