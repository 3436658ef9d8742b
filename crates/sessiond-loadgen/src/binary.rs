//! memcached binary protocol: request encoding and response parsing.
//!
//! Gets use GETK (opcode 0x0c) because that is what php-memcached (libmemcached)
//! sends in binary mode; the response echoes the key, which we verify.

use crate::proto::{Parsed, ProtocolError};

/// Magic byte of a request packet.
pub const REQUEST_MAGIC: u8 = 0x80;
/// Magic byte of a response packet.
pub const RESPONSE_MAGIC: u8 = 0x81;
/// Opcode of SET.
pub const OP_SET: u8 = 0x01;
/// Opcode of GETK (get, response includes the key).
pub const OP_GETK: u8 = 0x0c;
/// Length of the fixed packet header.
pub const HEADER_LEN: usize = 24;

/// Status: success.
pub const STATUS_OK: u16 = 0x0000;
/// Status: key not found.
pub const STATUS_KEY_NOT_FOUND: u16 = 0x0001;
/// Status: invalid arguments (our request was malformed).
pub const STATUS_INVALID_ARGUMENTS: u16 = 0x0004;
/// Status: unknown command.
pub const STATUS_UNKNOWN_COMMAND: u16 = 0x0081;

/// Largest body we are willing to buffer; anything bigger means the length field
/// is garbage, and waiting for it would hang the run.
const MAX_BODY: u32 = 64 << 20;

/// One decoded response packet, borrowing from the receive buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Response<'a> {
    /// Opcode the response answers.
    pub opcode: u8,
    /// Status code; see the `STATUS_*` constants.
    pub status: u16,
    /// Copied from the request, used to match responses to requests.
    pub opaque: u32,
    /// Compare-and-swap token of the item.
    pub cas: u64,
    /// Extras (4 bytes of flags for a successful get).
    pub extras: &'a [u8],
    /// Key (GETK echoes it).
    pub key: &'a [u8],
    /// Value, or an error message when `status` is not OK.
    pub value: &'a [u8],
}

fn header(out: &mut Vec<u8>, opcode: u8, key_len: usize, extras_len: u8, body: usize, opaque: u32) {
    // Key length and body length are validated by the caller: keys are at most
    // 250 bytes and values far below 4 GiB.
    out.push(REQUEST_MAGIC);
    out.push(opcode);
    out.extend_from_slice(&(key_len as u16).to_be_bytes());
    out.push(extras_len);
    out.push(0); // data type: raw bytes
    out.extend_from_slice(&0u16.to_be_bytes()); // vbucket
    out.extend_from_slice(&(body as u32).to_be_bytes());
    out.extend_from_slice(&opaque.to_be_bytes());
    out.extend_from_slice(&0u64.to_be_bytes()); // cas: unconditional
}

/// Appends a GETK request for `key` to `out`.
#[inline]
pub fn encode_getk(out: &mut Vec<u8>, key: &[u8], opaque: u32) {
    header(out, OP_GETK, key.len(), 0, key.len(), opaque);
    out.extend_from_slice(key);
}

/// Appends a SET request to `out`; the value is given as two slices sent back to
/// back.
#[inline]
pub fn encode_set(
    out: &mut Vec<u8>,
    key: &[u8],
    flags: u32,
    exptime: u32,
    value: (&[u8], &[u8]),
    opaque: u32,
) {
    let body = 8 + key.len() + value.0.len() + value.1.len();
    header(out, OP_SET, key.len(), 8, body, opaque);
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&exptime.to_be_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(value.0);
    out.extend_from_slice(value.1);
}

/// Parses one response packet from the front of `buf`.
pub fn parse_response(buf: &[u8]) -> Result<Parsed<Response<'_>>, ProtocolError> {
    if buf.is_empty() {
        return Ok(Parsed::Incomplete);
    }
    // Check the magic before waiting for a whole header, so a text-protocol reply
    // (wrong --protocol) is reported at once instead of stalling.
    if buf[0] != RESPONSE_MAGIC {
        return Err(ProtocolError::new(
            "bad magic in response header (is the server speaking the binary protocol?)",
            buf,
        ));
    }
    if buf.len() < HEADER_LEN {
        return Ok(Parsed::Incomplete);
    }
    let h = &buf[..HEADER_LEN];
    let key_len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let extras_len = usize::from(h[4]);
    let data_type = h[5];
    let status = u16::from_be_bytes([h[6], h[7]]);
    let body_len = u32::from_be_bytes([h[8], h[9], h[10], h[11]]);
    let opaque = u32::from_be_bytes([h[12], h[13], h[14], h[15]]);
    let cas = u64::from_be_bytes([h[16], h[17], h[18], h[19], h[20], h[21], h[22], h[23]]);
    if data_type != 0 {
        return Err(ProtocolError::new("unexpected data type in response", h));
    }
    if body_len > MAX_BODY {
        return Err(ProtocolError::new("response body length out of range", h));
    }
    let body_len = body_len as usize;
    if extras_len + key_len > body_len {
        return Err(ProtocolError::new(
            "extras and key longer than the response body",
            h,
        ));
    }
    let total = HEADER_LEN + body_len;
    if buf.len() < total {
        return Ok(Parsed::Incomplete);
    }
    let body = &buf[HEADER_LEN..total];
    let (extras, rest) = body.split_at(extras_len);
    let (key, value) = rest.split_at(key_len);
    Ok(Parsed::Complete {
        len: total,
        reply: Response {
            opcode: h[1],
            status,
            opaque,
            cas,
            extras,
            key,
            value,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(
        opcode: u8,
        status: u16,
        opaque: u32,
        extras: &[u8],
        key: &[u8],
        value: &[u8],
    ) -> Vec<u8> {
        let mut v = vec![RESPONSE_MAGIC, opcode];
        v.extend_from_slice(&(key.len() as u16).to_be_bytes());
        v.push(extras.len() as u8);
        v.push(0);
        v.extend_from_slice(&status.to_be_bytes());
        v.extend_from_slice(&((extras.len() + key.len() + value.len()) as u32).to_be_bytes());
        v.extend_from_slice(&opaque.to_be_bytes());
        v.extend_from_slice(&7u64.to_be_bytes());
        v.extend_from_slice(extras);
        v.extend_from_slice(key);
        v.extend_from_slice(value);
        v
    }

    #[test]
    fn encodes_requests() {
        let mut out = Vec::new();
        encode_getk(&mut out, b"key", 9);
        assert_eq!(out.len(), HEADER_LEN + 3);
        assert_eq!(&out[..8], &[0x80, 0x0c, 0, 3, 0, 0, 0, 0]);
        assert_eq!(&out[8..16], &[0, 0, 0, 3, 0, 0, 0, 9]);
        assert_eq!(&out[24..], b"key");

        out.clear();
        encode_set(&mut out, b"k", 0, 1440, (b"k", b"vv"), 1);
        assert_eq!(&out[..8], &[0x80, 0x01, 0, 1, 8, 0, 0, 0]);
        assert_eq!(&out[8..12], &12u32.to_be_bytes());
        assert_eq!(&out[24..28], &0u32.to_be_bytes());
        assert_eq!(&out[28..32], &1440u32.to_be_bytes());
        assert_eq!(&out[32..], b"kkvv");
    }

    #[test]
    fn parses_getk_hit() {
        let mut r = response(OP_GETK, STATUS_OK, 42, &[0, 0, 0, 5], b"key", b"value");
        r.extend_from_slice(b"\x81trailing");
        let Parsed::Complete { len, reply } = parse_response(&r).unwrap() else {
            panic!("incomplete");
        };
        assert_eq!(len, HEADER_LEN + 4 + 3 + 5);
        assert_eq!(
            reply,
            Response {
                opcode: OP_GETK,
                status: STATUS_OK,
                opaque: 42,
                cas: 7,
                extras: &[0, 0, 0, 5],
                key: b"key",
                value: b"value"
            }
        );
    }

    #[test]
    fn parses_miss_and_set() {
        let r = response(OP_GETK, STATUS_KEY_NOT_FOUND, 1, &[], b"key", b"");
        let Parsed::Complete { reply, .. } = parse_response(&r).unwrap() else {
            panic!("incomplete");
        };
        assert_eq!(reply.status, STATUS_KEY_NOT_FOUND);
        let r = response(OP_SET, STATUS_OK, 2, &[], b"", b"");
        assert_eq!(
            parse_response(&r).unwrap(),
            Parsed::Complete {
                len: HEADER_LEN,
                reply: Response {
                    opcode: OP_SET,
                    status: 0,
                    opaque: 2,
                    cas: 7,
                    extras: &[],
                    key: &[],
                    value: &[]
                }
            }
        );
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let r = response(
            OP_GETK,
            STATUS_OK,
            3,
            &[0; 4],
            b"memc.sess.key.1",
            &[b'x'; 100],
        );
        for cut in 0..r.len() {
            assert_eq!(
                parse_response(&r[..cut]).unwrap(),
                Parsed::Incomplete,
                "cut {cut}"
            );
        }
        assert!(matches!(
            parse_response(&r).unwrap(),
            Parsed::Complete { .. }
        ));
    }

    #[test]
    fn rejects_garbage() {
        // A text reply on a binary connection.
        assert!(parse_response(b"ERROR\r\n").is_err());
        // Extras + key longer than the body.
        let mut r = response(OP_GETK, STATUS_OK, 0, &[0; 4], b"key", b"");
        r[11] = 2;
        assert!(parse_response(&r).is_err());
        // Absurd body length.
        let mut r = response(OP_SET, STATUS_OK, 0, &[], b"", b"");
        r[8] = 0xff;
        assert!(parse_response(&r).is_err());
        // Non-raw data type.
        let mut r = response(OP_SET, STATUS_OK, 0, &[], b"", b"");
        r[5] = 1;
        assert!(parse_response(&r).is_err());
    }
}
