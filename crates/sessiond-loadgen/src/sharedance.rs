//! sharedance protocol: request encoding and reply checking.
//!
//! Every request has a TCP connection to itself, as sharedance's PHP client (`sharedance.php`)
//! does it: connect, write the request, read to the end of the stream, close. Lengths are
//! 32-bit big-endian. A reply is everything the server sent before closing, so checking one
//! needs the whole of it.

use crate::keys::ValuePattern;
use crate::proto::{ProtocolError, escape};

/// Characters in a PHP session id (PHP's default `session.sid_length`).
pub const SESSION_ID_LEN: usize = 26;

/// The answer to a successful store.
pub const REPLY_OK: &[u8] = b"OK\n";

/// Appends a fetch of `key` to `out`: `F keylen key`.
#[inline]
pub fn encode_fetch(out: &mut Vec<u8>, key: &[u8]) {
    out.push(b'F');
    // Keys are session ids, far below 4 GiB.
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key);
}

/// Appends a store of the value, given as two slices sent back to back, under `key` to `out`:
/// `S keylen datalen key data`.
#[inline]
pub fn encode_store(out: &mut Vec<u8>, key: &[u8], value: (&[u8], &[u8])) {
    out.push(b'S');
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    // Values are limited to 64 MiB by the command line.
    out.extend_from_slice(&((value.0.len() + value.1.len()) as u32).to_be_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(value.0);
    out.extend_from_slice(value.1);
}

/// What a fetch found.
#[derive(Debug, PartialEq, Eq)]
pub enum Fetched {
    /// The value stored under the key.
    Hit,
    /// Nothing: sharedance answers a missing key by closing without a byte.
    Miss,
}

/// Checks the whole reply to a fetch of `key`.
pub fn check_fetch(
    value: &ValuePattern,
    key: &[u8],
    reply: &[u8],
) -> Result<Fetched, ProtocolError> {
    if reply.is_empty() {
        return Ok(Fetched::Miss);
    }
    if value.matches(key, reply) {
        return Ok(Fetched::Hit);
    }
    let hint = if reply.len() != value.len() {
        " (left over from a run with another --value-size? restart the server)"
    } else {
        ""
    };
    Err(ProtocolError::msg(format!(
        "value of key {} is not what was stored ({} bytes, expected {}){hint}: {}",
        escape(key, 300),
        reply.len(),
        value.len(),
        escape(reply, 80)
    )))
}

/// Checks the whole reply to a store: `Ok(true)` for `OK\n`, `Ok(false)` for a close without
/// a byte, which is how the server refuses a store it cannot take.
pub fn check_store(reply: &[u8]) -> Result<bool, ProtocolError> {
    match reply {
        REPLY_OK => Ok(true),
        [] => Ok(false),
        _ => Err(ProtocolError::new("unexpected reply to a store", reply)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_requests() {
        let mut out = Vec::new();
        encode_fetch(&mut out, b"abc");
        assert_eq!(out, b"F\0\0\0\x03abc");
        out.clear();
        encode_store(&mut out, b"k", (b"xy", b"z"));
        assert_eq!(out, b"S\0\0\0\x01\0\0\0\x03kxyz");
    }

    #[test]
    fn fetch_replies() {
        let v = ValuePattern::new(40);
        let mut writer = crate::keys::ValueWriter::new(0);
        let (a, b) = writer.next(&v, b"key1");
        let stored = [a, b].concat();
        assert_eq!(check_fetch(&v, b"key1", &stored), Ok(Fetched::Hit));
        assert_eq!(check_fetch(&v, b"key1", b""), Ok(Fetched::Miss));
        // Another key's value, a short read, and a value with bytes after it are caught.
        assert!(check_fetch(&v, b"key2", &stored).is_err());
        assert!(check_fetch(&v, b"key1", &stored[..39]).is_err());
        let longer = [&stored[..], b"OK\n"].concat();
        assert!(check_fetch(&v, b"key1", &longer).is_err());
    }

    #[test]
    fn store_replies() {
        assert_eq!(check_store(b"OK\n"), Ok(true));
        assert_eq!(check_store(b""), Ok(false));
        assert!(check_store(b"OK").is_err());
        assert!(check_store(b"OK\nOK\n").is_err());
        assert!(check_store(b"ERR\n").is_err());
    }
}
