//! The protocol errors a request can have, worded exactly as Redis words them.

use bytes::BufMut;

/// A request Redis would refuse as a protocol error. Every one ends the connection: Redis
/// marks the client "close after reply" and reads nothing more from it. [`ProtocolError::close`]
/// says whether the error is answered first.
///
/// `Display` gives the reply's text after `-ERR ` for logs (an unprintable byte shown escaped);
/// [`ProtocolError::write_reply`] writes the exact bytes Redis sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// An inline command line over [`Limits::max_inline_len`](crate::Limits::max_inline_len).
    #[error("Protocol error: too big inline request")]
    TooBigInlineRequest,
    /// An inline command whose quotes do not close, or whose closing quote is followed by
    /// something other than a space.
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// A `*N` line over [`Limits::max_inline_len`](crate::Limits::max_inline_len).
    #[error("Protocol error: too big mbulk count string")]
    TooBigMultibulkCount,
    /// A `*N` line that is not a number, or over
    /// [`Limits::max_multibulk_len`](crate::Limits::max_multibulk_len).
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    /// A `*N` line over the limit for a peer that has not authenticated.
    #[error("Protocol error: unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    /// A `$N` line over [`Limits::max_inline_len`](crate::Limits::max_inline_len).
    #[error("Protocol error: too big bulk count string")]
    TooBigBulkCount,
    /// An argument of a multibulk request that does not start with `$`; the byte it starts
    /// with.
    #[error("Protocol error: expected '$', got '{}'", printable(*.0))]
    ExpectedDollar(u8),
    /// A `$N` line that is not a number, is negative, or is over
    /// [`Limits::max_bulk_len`](crate::Limits::max_bulk_len).
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    /// A `$N` line over the limit for a peer that has not authenticated.
    #[error("Protocol error: unauthenticated bulk length")]
    UnauthenticatedBulkLength,
    /// A request that would take more than
    /// [`Limits::max_request_len`](crate::Limits::max_request_len) bytes of buffer.
    #[error("request over the size limit")]
    RequestTooLarge,
}

/// How a connection ends after a [`ProtocolError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Close {
    /// Send the replies written so far and the error's reply, then close (Redis's
    /// `CLIENT_CLOSE_AFTER_REPLY`).
    AfterReply,
    /// Close without a reply to this request, as Redis drops a client over its query buffer
    /// limit.
    WithoutReply,
}

impl ProtocolError {
    /// How the connection ends. Never "go on": after a protocol error the stream cannot be
    /// trusted to be at a request boundary.
    pub fn close(&self) -> Close {
        match self {
            ProtocolError::RequestTooLarge => Close::WithoutReply,
            _ => Close::AfterReply,
        }
    }

    /// Writes the error reply, byte for byte what Redis sends (the same in RESP2 and RESP3),
    /// or nothing when the error is [`Close::WithoutReply`].
    pub fn write_reply<B: BufMut>(&self, out: &mut B) {
        if self.close() == Close::WithoutReply {
            return;
        }
        out.put_slice(b"-ERR ");
        match *self {
            ProtocolError::ExpectedDollar(byte) => {
                out.put_slice(b"Protocol error: expected '$', got '");
                match byte {
                    // Redis formats with `%c` and then replaces CR and LF with spaces, so the
                    // reply stays one line.
                    b'\r' | b'\n' => out.put_u8(b' '),
                    // Any other byte goes out as it is, as Redis sends it. (A NUL never gets
                    // here: Redis reads the line as a C string and waits for more instead.)
                    _ => out.put_u8(byte),
                }
                out.put_slice(b"'");
            }
            // Every other message is fixed ASCII text, so its `Display` is its wire form. (An
            // allocation, but on the way to closing the connection.)
            other => out.put_slice(other.to_string().as_bytes()),
        }
        out.put_slice(b"\r\n");
    }
}

/// A byte as a log line can show it.
fn printable(byte: u8) -> String {
    if byte.is_ascii_graphic() || byte == b' ' {
        char::from(byte).to_string()
    } else {
        format!("\\x{byte:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_matches_the_wire_for_fixed_messages() {
        for error in [
            ProtocolError::TooBigInlineRequest,
            ProtocolError::UnbalancedQuotes,
            ProtocolError::TooBigMultibulkCount,
            ProtocolError::InvalidMultibulkLength,
            ProtocolError::UnauthenticatedMultibulkLength,
            ProtocolError::TooBigBulkCount,
            ProtocolError::InvalidBulkLength,
            ProtocolError::UnauthenticatedBulkLength,
        ] {
            let mut out = Vec::new();
            error.write_reply(&mut out);
            assert_eq!(out, format!("-ERR {error}\r\n").into_bytes());
            assert_eq!(error.close(), Close::AfterReply);
        }
    }

    #[test]
    fn display_escapes_what_the_wire_sends_raw() {
        assert_eq!(
            ProtocolError::ExpectedDollar(b'X').to_string(),
            "Protocol error: expected '$', got 'X'"
        );
        assert_eq!(
            ProtocolError::ExpectedDollar(0xff).to_string(),
            "Protocol error: expected '$', got '\\xff'"
        );
    }

    #[test]
    fn too_large_is_closed_without_a_reply() {
        let mut out = Vec::new();
        ProtocolError::RequestTooLarge.write_reply(&mut out);
        assert!(out.is_empty());
        assert_eq!(ProtocolError::RequestTooLarge.close(), Close::WithoutReply);
    }
}
