//! The opcode and lengths at the front of a request: `S keylen datalen`, `F keylen` or
//! `D keylen`, each length a 32-bit big-endian number.

/// What a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Opcode {
    /// `S`: store a value.
    Store,
    /// `F`: fetch a value.
    Fetch,
    /// `D`: delete a value.
    Delete,
}

impl Opcode {
    /// The opcode a request's first byte names, if any.
    pub(crate) fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            b'S' => Some(Opcode::Store),
            b'F' => Some(Opcode::Fetch),
            b'D' => Some(Opcode::Delete),
            _ => None,
        }
    }

    /// The header's length: the opcode and its lengths. The key follows it.
    pub(crate) fn header_len(self) -> usize {
        match self {
            Opcode::Store => 9,
            Opcode::Fetch | Opcode::Delete => 5,
        }
    }
}

/// A request's header, as the client declared it: nothing checked yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// What the request asks for.
    pub(crate) opcode: Opcode,
    /// The key's declared length.
    pub(crate) key_len: u32,
    /// The value's declared length; zero for fetch and delete, which carry none.
    pub(crate) data_len: u32,
}

impl Header {
    /// The whole request's declared length. Two 32-bit lengths and a header cannot overflow a
    /// `u64`, whatever the client sends.
    pub(crate) fn total(&self) -> u64 {
        self.opcode.header_len() as u64 + u64::from(self.key_len) + u64::from(self.data_len)
    }
}

/// What the front of a request says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// Not enough bytes for the header yet (or none at all).
    Incomplete,
    /// The first byte is no opcode.
    Unknown(u8),
    /// The header.
    Header(Header),
}

/// Reads the header at the front of `input`.
pub(crate) fn parse(input: &[u8]) -> Parsed {
    let Some(&first) = input.first() else {
        return Parsed::Incomplete;
    };
    let Some(opcode) = Opcode::from_byte(first) else {
        return Parsed::Unknown(first);
    };
    let Some(header) = input.get(1..opcode.header_len()) else {
        return Parsed::Incomplete;
    };
    let (key_len, rest) = split_u32(header);
    let data_len = match opcode {
        Opcode::Store => split_u32(rest).0,
        Opcode::Fetch | Opcode::Delete => 0,
    };
    Parsed::Header(Header {
        opcode,
        key_len,
        data_len,
    })
}

/// The big-endian number in the first four bytes of `bytes`, and the bytes after it. The
/// caller has checked the length; should it not have, missing bytes read as zero rather than
/// panic.
fn split_u32(bytes: &[u8]) -> (u32, &[u8]) {
    let (number, rest) = bytes.split_at(bytes.len().min(4));
    let mut be = [0u8; 4];
    be[..number.len()].copy_from_slice(number);
    (u32::from_be_bytes(be), rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_opcode_header_big_endian() {
        assert_eq!(
            parse(b"S\x00\x00\x01\x02\x00\x00\x00\x05abc"),
            Parsed::Header(Header {
                opcode: Opcode::Store,
                key_len: 0x102,
                data_len: 5,
            })
        );
        assert_eq!(
            parse(b"F\x01\x00\x00\x03"),
            Parsed::Header(Header {
                opcode: Opcode::Fetch,
                key_len: 0x0100_0003,
                data_len: 0,
            })
        );
        assert_eq!(
            parse(b"D\x00\x00\x00\x03abc"),
            Parsed::Header(Header {
                opcode: Opcode::Delete,
                key_len: 3,
                data_len: 0,
            })
        );
    }

    #[test]
    fn waits_for_the_whole_header_but_not_to_reject_an_opcode() {
        assert_eq!(parse(b""), Parsed::Incomplete);
        assert_eq!(parse(b"S\x00\x00\x00\x03\x00\x00\x00"), Parsed::Incomplete);
        assert_eq!(parse(b"F\x00\x00\x00"), Parsed::Incomplete);
        assert_eq!(parse(b"G"), Parsed::Unknown(b'G'));
        assert_eq!(parse(b"s\x00\x00\x00\x01"), Parsed::Unknown(b's'));
    }

    #[test]
    fn the_largest_declared_lengths_do_not_overflow() {
        let Parsed::Header(header) = parse(b"S\xff\xff\xff\xff\xff\xff\xff\xff") else {
            panic!("a store header");
        };
        assert_eq!(header.total(), 9 + 2 * u64::from(u32::MAX));
    }
}
