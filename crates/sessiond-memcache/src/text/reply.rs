//! Writing replies: memcached's fixed reply strings and number formatting into the output.
//!
//! Replies go straight into the connection's output buffer; numbers are formatted with `itoa`
//! on the stack, so no reply allocates.

use bytes::BytesMut;
use sessiond_engine::EngineError;

/// The reply to a write the engine refused: `out_of_memory` at the memory limit.
pub(crate) fn refused(error: EngineError, out_of_memory: &'static [u8]) -> &'static [u8] {
    match error {
        EngineError::Unavailable => UNAVAILABLE,
        _ => out_of_memory,
    }
}

/// Unknown command, or a known one with the wrong number of tokens.
pub(crate) const ERROR: &[u8] = b"ERROR";
/// A malformed request line.
pub(crate) const BAD_FORMAT: &[u8] = b"CLIENT_ERROR bad command line format";
/// A data block not followed by `\r\n`.
pub(crate) const BAD_DATA_CHUNK: &[u8] = b"CLIENT_ERROR bad data chunk";
/// A value over the item size limit; its data block is swallowed.
pub(crate) const TOO_LARGE: &[u8] = b"SERVER_ERROR object too large for cache";
/// A store the memory limit refused.
pub(crate) const OUT_OF_MEMORY_STORING: &[u8] = b"SERVER_ERROR out of memory storing object";
/// An increment or decrement the memory limit refused.
pub(crate) const OUT_OF_MEMORY: &[u8] = b"SERVER_ERROR out of memory";
/// A write refused because the store cannot make it durable now (disk full or failing).
pub(crate) const UNAVAILABLE: &[u8] = b"SERVER_ERROR unable to persist the write, try again later";
/// An expiration time that is not a number.
pub(crate) const INVALID_EXPTIME: &[u8] = b"CLIENT_ERROR invalid exptime argument";
/// An increment or decrement of a value that is not a number.
pub(crate) const NON_NUMERIC: &[u8] =
    b"CLIENT_ERROR cannot increment or decrement non-numeric value";

/// Appends `message` and `\r\n`.
pub(crate) fn line(out: &mut BytesMut, message: &[u8]) {
    out.reserve(message.len() + 2);
    out.extend_from_slice(message);
    out.extend_from_slice(b"\r\n");
}

/// Appends `message` and `\r\n` unless the request asked for `noreply`.
pub(crate) fn line_unless(out: &mut BytesMut, noreply: bool, message: &[u8]) {
    if !noreply {
        line(out, message);
    }
}

/// Appends an unsigned number in decimal.
pub(crate) fn number(out: &mut BytesMut, value: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Appends a signed number in decimal.
pub(crate) fn signed(out: &mut BytesMut, value: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}
