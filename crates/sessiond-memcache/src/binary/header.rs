//! The 24-byte binary header: reading requests in place, writing responses, opcodes and
//! status codes.
//!
//! Every field is big-endian. A request header is read straight from the input buffer, never
//! copied; a response header is built on the stack and appended to the output buffer together
//! with its body, so answering a request allocates nothing.

use bytes::BytesMut;

/// Length of every request and response header.
pub(crate) const HEADER_LEN: usize = 24;

/// The first byte of every response.
pub(crate) const RESPONSE_MAGIC: u8 = 0x81;

/// Request opcodes, memcached's numbering.
pub(crate) mod opcode {
    pub const GET: u8 = 0x00;
    pub const SET: u8 = 0x01;
    pub const ADD: u8 = 0x02;
    pub const REPLACE: u8 = 0x03;
    pub const DELETE: u8 = 0x04;
    pub const INCREMENT: u8 = 0x05;
    pub const DECREMENT: u8 = 0x06;
    pub const QUIT: u8 = 0x07;
    pub const FLUSH: u8 = 0x08;
    pub const GETQ: u8 = 0x09;
    pub const NOOP: u8 = 0x0a;
    pub const VERSION: u8 = 0x0b;
    pub const GETK: u8 = 0x0c;
    pub const GETKQ: u8 = 0x0d;
    pub const APPEND: u8 = 0x0e;
    pub const PREPEND: u8 = 0x0f;
    pub const STAT: u8 = 0x10;
    pub const SETQ: u8 = 0x11;
    pub const ADDQ: u8 = 0x12;
    pub const REPLACEQ: u8 = 0x13;
    pub const DELETEQ: u8 = 0x14;
    pub const INCREMENTQ: u8 = 0x15;
    pub const DECREMENTQ: u8 = 0x16;
    pub const QUITQ: u8 = 0x17;
    pub const FLUSHQ: u8 = 0x18;
    pub const APPENDQ: u8 = 0x19;
    pub const PREPENDQ: u8 = 0x1a;
    /// memcached 1.6 no longer serves it: answered as unknown.
    #[allow(dead_code)]
    pub const VERBOSITY: u8 = 0x1b;
    pub const TOUCH: u8 = 0x1c;
    pub const GAT: u8 = 0x1d;
    pub const GATQ: u8 = 0x1e;
    pub const SASL_LIST_MECHS: u8 = 0x20;
    pub const SASL_AUTH: u8 = 0x21;
    pub const SASL_STEP: u8 = 0x22;
    pub const GATK: u8 = 0x23;
    pub const GATKQ: u8 = 0x24;
}

/// Response status codes, with the texts memcached 1.6 puts in error bodies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub(crate) enum Status {
    Ok = 0x00,
    KeyNotFound = 0x01,
    KeyExists = 0x02,
    TooLarge = 0x03,
    InvalidArguments = 0x04,
    NotStored = 0x05,
    NonNumeric = 0x06,
    UnknownCommand = 0x81,
    OutOfMemory = 0x82,
    TemporaryFailure = 0x86,
}

impl Status {
    /// The status of a write the engine refused.
    pub fn refused(error: sessiond_engine::EngineError) -> Status {
        match error {
            sessiond_engine::EngineError::Unavailable => Status::TemporaryFailure,
            _ => Status::OutOfMemory,
        }
    }

    /// The body memcached's `write_bin_error` sends with the status when it has no better text.
    pub fn message(self) -> &'static str {
        match self {
            Status::Ok => "",
            Status::KeyNotFound => "Not found",
            Status::KeyExists => "Data exists for key.",
            Status::TooLarge => "Too large.",
            Status::InvalidArguments => "Invalid arguments",
            Status::NotStored => "Not stored.",
            Status::NonNumeric => "Non-numeric server-side value for incr or decr",
            Status::UnknownCommand => "Unknown command",
            Status::OutOfMemory => "Out of memory",
            Status::TemporaryFailure => "Temporary failure",
        }
    }
}

/// A request header, decoded. The data type and vbucket fields are not kept: memcached
/// ignores them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RequestHeader {
    pub magic: u8,
    pub opcode: u8,
    pub key_len: u16,
    pub extras_len: u8,
    pub body_len: u32,
    /// Echoed in every response to the request.
    pub opaque: u32,
    pub cas: u64,
}

impl RequestHeader {
    /// Decodes the first 24 bytes of a request.
    pub fn parse(bytes: &[u8; HEADER_LEN]) -> Self {
        let [
            magic,
            opcode,
            k0,
            k1,
            extras_len,
            _datatype,
            _vb0,
            _vb1,
            b0,
            b1,
            b2,
            b3,
            o0,
            o1,
            o2,
            o3,
            c0,
            c1,
            c2,
            c3,
            c4,
            c5,
            c6,
            c7,
        ] = *bytes;
        RequestHeader {
            magic,
            opcode,
            key_len: u16::from_be_bytes([k0, k1]),
            extras_len,
            body_len: u32::from_be_bytes([b0, b1, b2, b3]),
            opaque: u32::from_be_bytes([o0, o1, o2, o3]),
            cas: u64::from_be_bytes([c0, c1, c2, c3, c4, c5, c6, c7]),
        }
    }

    /// Bytes from the start of the request to the end of its key: what memcached reads
    /// before it acts on a request (a value, if any, is read afterwards).
    pub fn head_len(&self) -> usize {
        HEADER_LEN + usize::from(self.extras_len) + usize::from(self.key_len)
    }

    /// The body bytes after extras and key, when the lengths are consistent.
    pub fn value_len(&self) -> Option<u32> {
        self.body_len
            .checked_sub(u32::from(self.key_len))?
            .checked_sub(u32::from(self.extras_len))
    }

    /// The header's CAS field as an optional compare-and-swap version: zero means none.
    pub fn cas(&self) -> Option<u64> {
        (self.cas != 0).then_some(self.cas)
    }
}

/// A request whose header, extras and key are in the input buffer, borrowed from it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Request<'a> {
    pub header: RequestHeader,
    pub extras: &'a [u8],
    pub key: &'a [u8],
    /// Whatever follows the key in the input buffer: the value, once it has arrived, and
    /// possibly further requests.
    pub rest: &'a [u8],
}

impl<'a> Request<'a> {
    /// Splits `input` (which starts with the request) into extras, key and the rest, or
    /// `None` when the head of the request has not all arrived.
    pub fn split(header: RequestHeader, input: &'a [u8]) -> Option<Self> {
        let after_header = input.get(HEADER_LEN..)?;
        let (extras, after_extras) =
            after_header.split_at_checked(usize::from(header.extras_len))?;
        let (key, rest) = after_extras.split_at_checked(usize::from(header.key_len))?;
        Some(Request {
            header,
            extras,
            key,
            rest,
        })
    }

    /// Reads the extras as a big-endian u32 at `offset`, zero if they are too short (the
    /// callers check extras lengths first; this never indexes out of bounds).
    pub fn extras_u32(&self, offset: usize) -> u32 {
        self.extras
            .get(offset..)
            .and_then(<[u8]>::first_chunk::<4>)
            .map_or(0, |bytes| u32::from_be_bytes(*bytes))
    }

    /// Reads the extras as a big-endian u64 at `offset`, zero if they are too short.
    pub fn extras_u64(&self, offset: usize) -> u64 {
        self.extras
            .get(offset..)
            .and_then(<[u8]>::first_chunk::<8>)
            .map_or(0, |bytes| u64::from_be_bytes(*bytes))
    }

    /// Appends a response to this request: the header echoes the opcode and opaque, and the
    /// body is `extras`, `key` and `value` in that order.
    pub fn respond(
        &self,
        out: &mut BytesMut,
        status: Status,
        cas: u64,
        extras: &[u8],
        key: &[u8],
        value: &[u8],
    ) {
        respond(
            out,
            self.header.opcode,
            self.header.opaque,
            status,
            cas,
            extras,
            key,
            value,
        );
    }

    /// Appends an error response whose body is `status`'s standard text.
    pub fn respond_error(&self, out: &mut BytesMut, status: Status) {
        self.respond_error_text(out, status, status.message());
    }

    /// Appends an error response with its own text, as memcached's out-of-memory paths have.
    pub fn respond_error_text(&self, out: &mut BytesMut, status: Status, text: &str) {
        self.respond(out, status, 0, &[], &[], text.as_bytes());
    }
}

/// Appends one response packet. Lengths come from the slices; keys are at most a request
/// key's length and values at most the item size limit, so the casts only saturate on
/// impossible inputs.
#[allow(clippy::too_many_arguments)]
pub(crate) fn respond(
    out: &mut BytesMut,
    opcode: u8,
    opaque: u32,
    status: Status,
    cas: u64,
    extras: &[u8],
    key: &[u8],
    value: &[u8],
) {
    let body_len = extras.len() + key.len() + value.len();
    let key_len = u16::try_from(key.len()).unwrap_or(u16::MAX).to_be_bytes();
    let body = u32::try_from(body_len).unwrap_or(u32::MAX).to_be_bytes();
    let status = (status as u16).to_be_bytes();
    let opaque = opaque.to_be_bytes();
    let cas = cas.to_be_bytes();
    let header: [u8; HEADER_LEN] = [
        RESPONSE_MAGIC,
        opcode,
        key_len[0],
        key_len[1],
        u8::try_from(extras.len()).unwrap_or(u8::MAX),
        0, // data type: raw bytes
        status[0],
        status[1],
        body[0],
        body[1],
        body[2],
        body[3],
        opaque[0],
        opaque[1],
        opaque[2],
        opaque[3],
        cas[0],
        cas[1],
        cas[2],
        cas[3],
        cas[4],
        cas[5],
        cas[6],
        cas[7],
    ];
    out.reserve(HEADER_LEN + body_len);
    out.extend_from_slice(&header);
    out.extend_from_slice(extras);
    out.extend_from_slice(key);
    out.extend_from_slice(value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_are_big_endian() {
        let bytes: [u8; HEADER_LEN] = [
            0x80, 0x01, 0x00, 0x05, 0x08, 0x00, 0x12, 0x34, 0x00, 0x00, 0x01, 0x02, 0xde, 0xad,
            0xbe, 0xef, 0, 0, 0, 0, 0, 0, 0x01, 0x00,
        ];
        let header = RequestHeader::parse(&bytes);
        assert_eq!(header.magic, 0x80);
        assert_eq!(header.opcode, opcode::SET);
        assert_eq!(header.key_len, 5);
        assert_eq!(header.extras_len, 8);
        assert_eq!(header.body_len, 0x0102);
        assert_eq!(header.opaque, 0xdead_beef);
        assert_eq!(header.cas, 0x100);
        assert_eq!(header.head_len(), 24 + 8 + 5);
        assert_eq!(header.value_len(), Some(0x0102 - 13));
    }

    #[test]
    fn inconsistent_lengths_have_no_value_length() {
        let mut bytes = [0u8; HEADER_LEN];
        bytes[0] = 0x80;
        bytes[3] = 4; // key 4
        bytes[11] = 3; // body 3
        assert_eq!(RequestHeader::parse(&bytes).value_len(), None);
    }

    #[test]
    fn responses_echo_opcode_and_opaque() {
        let mut out = BytesMut::new();
        respond(
            &mut out,
            opcode::GETK,
            7,
            Status::Ok,
            9,
            &[0, 0, 0, 1],
            b"k",
            b"v",
        );
        assert_eq!(
            &out[..],
            &[
                0x81, 0x0c, 0, 1, 4, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0,
                0, 1, b'k', b'v'
            ]
        );
    }

    #[test]
    fn split_needs_the_whole_head() {
        let mut bytes = vec![0x80, 0x00, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 2];
        bytes.extend_from_slice(&[0; 12]);
        let header = RequestHeader::parse(bytes.first_chunk().expect("24 bytes"));
        bytes.push(b'a');
        assert!(Request::split(header, &bytes).is_none());
        bytes.push(b'b');
        let request = Request::split(header, &bytes).expect("whole head");
        assert_eq!(request.key, b"ab");
        assert!(request.rest.is_empty());
    }
}
