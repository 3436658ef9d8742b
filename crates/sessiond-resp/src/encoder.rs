//! Writing replies in RESP2 or RESP3, straight into the connection's output buffer.

use bytes::BufMut;

use crate::double::DoubleText;

/// The protocol version a connection speaks (`HELLO 2` / `HELLO 3`; every connection starts at
/// RESP2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Version {
    /// RESP2: no null, map, set, double, boolean or push types; each is written as the RESP2
    /// reply Redis writes for it.
    #[default]
    Resp2,
    /// RESP3.
    Resp3,
}

/// Writes replies into an output buffer (a `Vec<u8>`, a `BytesMut`, any [`BufMut`]) in the
/// connection's protocol version. Nothing is allocated per reply: numbers are formatted on the
/// stack and bytes are copied once, into the buffer.
///
/// An aggregate is written as its header ([`array`](Self::array), [`map`](Self::map), ...)
/// followed by its elements, each written by the same methods; the caller writes as many
/// elements as the header announced. Methods return the encoder, so a reply can be chained:
/// `encoder.array(2).bulk(b"a").integer(1);`.
///
/// Types RESP2 lacks are written as Redis writes them to a RESP2 client: a map as a flat array
/// of keys and values, a set or a push as an array, a double as a bulk string, a boolean as the
/// integer 1 or 0, a null as the null bulk string (`$-1`) or the null array (`*-1`).
#[derive(Debug)]
pub struct Encoder<'o, B: BufMut = Vec<u8>> {
    out: &'o mut B,
    version: Version,
}

impl<'o, B: BufMut> Encoder<'o, B> {
    /// An encoder appending to `out` in `version`.
    pub fn new(out: &'o mut B, version: Version) -> Self {
        Encoder { out, version }
    }

    /// The protocol version it writes.
    pub fn version(&self) -> Version {
        self.version
    }

    /// A simple string, `+text`. A CR or LF in `text` would end the reply early and is written
    /// as a space, as Redis's `addReplyStatusFormat` does.
    pub fn simple(&mut self, text: &[u8]) -> &mut Self {
        self.out.put_u8(b'+');
        self.line(text)
    }

    /// `+OK`.
    pub fn ok(&mut self) -> &mut Self {
        self.out.put_slice(b"+OK\r\n");
        self
    }

    /// An error, `-message`. The message starts with its code, as in `ERR unknown command` or
    /// `WRONGTYPE Operation against a key holding the wrong kind of value`: clients read the
    /// code (Lettuce falls back to RESP2 on `ERR unknown command`, phpredis retries `EVALSHA`
    /// on `NOSCRIPT`). A CR or LF is written as a space, as Redis's `addReplyErrorFormat` does.
    pub fn error(&mut self, message: &[u8]) -> &mut Self {
        self.out.put_u8(b'-');
        self.line(message)
    }

    /// An integer, `:n`.
    pub fn integer(&mut self, value: i64) -> &mut Self {
        self.out.put_u8(b':');
        self.out
            .put_slice(itoa::Buffer::new().format(value).as_bytes());
        self.crlf()
    }

    /// A bulk string, `$len` and the bytes: any bytes, binary included.
    pub fn bulk(&mut self, bytes: &[u8]) -> &mut Self {
        self.header(b'$', bytes.len() as u128);
        self.out.put_slice(bytes);
        self.crlf()
    }

    /// The null reply for a missing value (`GET` of a missing key): `$-1` in RESP2, `_` in
    /// RESP3.
    pub fn null(&mut self) -> &mut Self {
        self.out.put_slice(match self.version {
            Version::Resp2 => b"$-1\r\n",
            Version::Resp3 => b"_\r\n",
        });
        self
    }

    /// The null reply for a missing aggregate (`LPOP key count` on a missing key, an aborted
    /// `EXEC`): `*-1` in RESP2, `_` in RESP3.
    pub fn null_array(&mut self) -> &mut Self {
        self.out.put_slice(match self.version {
            Version::Resp2 => b"*-1\r\n",
            Version::Resp3 => b"_\r\n",
        });
        self
    }

    /// The header of an array of `len` elements, `*len`.
    pub fn array(&mut self, len: usize) -> &mut Self {
        self.header(b'*', len as u128);
        self
    }

    /// The header of a map of `pairs` key-value pairs, `%pairs`; in RESP2 an array of
    /// `2 × pairs` elements. Write each key, then its value.
    pub fn map(&mut self, pairs: usize) -> &mut Self {
        match self.version {
            Version::Resp2 => self.header(b'*', pairs as u128 * 2),
            Version::Resp3 => self.header(b'%', pairs as u128),
        }
        self
    }

    /// The header of a set of `len` elements, `~len`; in RESP2 an array.
    pub fn set(&mut self, len: usize) -> &mut Self {
        self.aggregate(b'~', len)
    }

    /// The header of an out-of-band push message of `len` elements (pub/sub `message`,
    /// `subscribe`, ...), `>len`; in RESP2 an array, which a RESP2 client in subscribed mode
    /// reads as the message.
    pub fn push(&mut self, len: usize) -> &mut Self {
        self.aggregate(b'>', len)
    }

    /// A double, `,text`; in RESP2 a bulk string of the same text. The text is the shortest
    /// that reads back as `value`, as Redis 7.2 and later write it: `1.5`, `3`, `0.1`, `1e+300`,
    /// `inf`, `-inf`, `nan`.
    pub fn double(&mut self, value: f64) -> &mut Self {
        let text = DoubleText::new(value);
        match self.version {
            Version::Resp2 => self.bulk(text.as_bytes()),
            Version::Resp3 => {
                self.out.put_u8(b',');
                self.out.put_slice(text.as_bytes());
                self.crlf()
            }
        }
    }

    /// A boolean, `#t` or `#f`; in RESP2 the integer 1 or 0.
    pub fn boolean(&mut self, value: bool) -> &mut Self {
        match (self.version, value) {
            (Version::Resp2, true) => self.out.put_slice(b":1\r\n"),
            (Version::Resp2, false) => self.out.put_slice(b":0\r\n"),
            (Version::Resp3, true) => self.out.put_slice(b"#t\r\n"),
            (Version::Resp3, false) => self.out.put_slice(b"#f\r\n"),
        }
        self
    }

    /// A verbatim string, `=len` then `fmt:` and the text (`txt` for plain text, `mkd` for
    /// markdown: what `INFO` and `CLIENT LIST` send a RESP3 client); in RESP2 a bulk string of
    /// the text alone.
    pub fn verbatim(&mut self, format: [u8; 3], text: &[u8]) -> &mut Self {
        match self.version {
            Version::Resp2 => self.bulk(text),
            Version::Resp3 => {
                self.header(b'=', text.len() as u128 + 4);
                self.out.put_slice(&format);
                self.out.put_u8(b':');
                self.out.put_slice(text);
                self.crlf()
            }
        }
    }

    /// A big number, `(digits`; in RESP2 a bulk string of the digits. The digits are the
    /// caller's to get right; a CR or LF among them is written as a space.
    pub fn big_number(&mut self, digits: &[u8]) -> &mut Self {
        match self.version {
            Version::Resp2 => self.bulk(digits),
            Version::Resp3 => {
                self.out.put_u8(b'(');
                self.line(digits)
            }
        }
    }

    /// A RESP3-only aggregate header, written as an array in RESP2.
    fn aggregate(&mut self, resp3_prefix: u8, len: usize) -> &mut Self {
        match self.version {
            Version::Resp2 => self.header(b'*', len as u128),
            Version::Resp3 => self.header(resp3_prefix, len as u128),
        }
        self
    }

    /// `prefix`, a count and CRLF. The count is a `u128` so that a map's doubled count cannot
    /// overflow.
    fn header(&mut self, prefix: u8, count: u128) {
        self.out.put_u8(prefix);
        self.out
            .put_slice(itoa::Buffer::new().format(count).as_bytes());
        self.out.put_slice(b"\r\n");
    }

    /// `text` with CR and LF as spaces, then CRLF.
    fn line(&mut self, text: &[u8]) -> &mut Self {
        if memchr::memchr2(b'\r', b'\n', text).is_none() {
            self.out.put_slice(text);
        } else {
            for &byte in text {
                self.out.put_u8(match byte {
                    b'\r' | b'\n' => b' ',
                    other => other,
                });
            }
        }
        self.crlf()
    }

    fn crlf(&mut self) -> &mut Self {
        self.out.put_slice(b"\r\n");
        self
    }
}
