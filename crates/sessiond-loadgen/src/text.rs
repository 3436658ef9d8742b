//! memcached text protocol: request encoding and reply parsing.
//!
//! Only what a PHP session handler sends is covered: single-key `get` and `set`.
//! Parsers take the bytes received so far and either decode one whole reply from
//! the front or report [`Parsed::Incomplete`]; they never consume partial input.

use crate::proto::{Parsed, ProtocolError};

/// Longest reply line we wait for before declaring the stream broken. A `VALUE`
/// line is at most ~300 bytes (250-byte key plus numbers); error lines carry a
/// short message.
const MAX_LINE: usize = 2048;

/// Reply to a single-key `get`.
#[derive(Debug, PartialEq, Eq)]
pub enum GetReply<'a> {
    /// `VALUE <key> <flags> <bytes>\r\n<data>\r\nEND\r\n`.
    Hit {
        /// The key the server says this value belongs to.
        key: &'a [u8],
        /// Client flags stored with the item.
        flags: u32,
        /// The value bytes.
        data: &'a [u8],
    },
    /// `END\r\n` alone: the key is not stored.
    Miss,
    /// `SERVER_ERROR <message>`: the server could not serve the request.
    ServerError(&'a [u8]),
}

/// Reply to a storage command (`set`).
#[derive(Debug, PartialEq, Eq)]
pub enum StoreReply<'a> {
    /// `STORED`.
    Stored,
    /// `NOT_STORED`, `EXISTS` or `NOT_FOUND`: well formed, but the item was not
    /// stored. The line is returned for reporting.
    NotStored(&'a [u8]),
    /// `SERVER_ERROR <message>`.
    ServerError(&'a [u8]),
}

/// Appends `get <key>\r\n` to `out`.
#[inline]
pub fn encode_get(out: &mut Vec<u8>, key: &[u8]) {
    out.extend_from_slice(b"get ");
    out.extend_from_slice(key);
    out.extend_from_slice(b"\r\n");
}

/// Builds the part of a `set` command line after the key:
/// ` <flags> <exptime> <bytes>\r\n`. It is the same for every request of a run,
/// so it is formatted once.
pub fn set_suffix(flags: u32, exptime: u32, len: usize) -> Vec<u8> {
    format!(" {flags} {exptime} {len}\r\n").into_bytes()
}

/// Appends `set <key><suffix><value>\r\n` to `out`, the value given as two slices
/// that are sent back to back. `suffix` comes from [`set_suffix`] and must state
/// the combined value length.
#[inline]
pub fn encode_set(out: &mut Vec<u8>, key: &[u8], suffix: &[u8], value: (&[u8], &[u8])) {
    out.extend_from_slice(b"set ");
    out.extend_from_slice(key);
    out.extend_from_slice(suffix);
    out.extend_from_slice(value.0);
    out.extend_from_slice(value.1);
    out.extend_from_slice(b"\r\n");
}

/// Finds the first line; returns it without `\r\n` and the length including it.
fn line(buf: &[u8]) -> Result<Option<(&[u8], usize)>, ProtocolError> {
    match memchr::memchr(b'\n', buf) {
        Some(nl) => {
            if nl == 0 || buf[nl - 1] != b'\r' {
                return Err(ProtocolError::new(
                    "reply line not terminated by \\r\\n",
                    &buf[..=nl],
                ));
            }
            Ok(Some((&buf[..nl - 1], nl + 1)))
        }
        None if buf.len() > MAX_LINE => Err(ProtocolError::new(
            "no end of line within the reply line limit",
            buf,
        )),
        None => Ok(None),
    }
}

/// Rejects the replies meaning "your request was malformed". They are fatal, not
/// counted: for a well-formed request they are a bug on one side, and after
/// `CLIENT_ERROR bad data chunk` memcached resyncs by treating value bytes as
/// commands, so the replies that follow no longer match our requests.
fn reject_client_errors(line: &[u8]) -> Result<(), ProtocolError> {
    if line == b"ERROR" || line.starts_with(b"ERROR ") || line.starts_with(b"CLIENT_ERROR") {
        return Err(ProtocolError::new("server rejected the request", line));
    }
    Ok(())
}

fn parse_u64(field: &[u8]) -> Option<u64> {
    if field.is_empty() || field.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in field {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// Parses the reply to a single-key `get` from the front of `buf`.
pub fn parse_get(buf: &[u8]) -> Result<Parsed<GetReply<'_>>, ProtocolError> {
    let Some((first, first_len)) = line(buf)? else {
        return Ok(Parsed::Incomplete);
    };
    if first == b"END" {
        return Ok(Parsed::Complete {
            len: first_len,
            reply: GetReply::Miss,
        });
    }
    if let Some(msg) = first.strip_prefix(b"SERVER_ERROR") {
        return Ok(Parsed::Complete {
            len: first_len,
            reply: GetReply::ServerError(msg.trim_ascii_start()),
        });
    }
    reject_client_errors(first)?;
    let Some(rest) = first.strip_prefix(b"VALUE ") else {
        return Err(ProtocolError::new("unexpected reply to get", first));
    };
    // VALUE <key> <flags> <bytes> [<cas unique>]
    let mut fields = rest.split(|&b| b == b' ');
    let (Some(key), Some(flags), Some(bytes)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(ProtocolError::new("VALUE line has too few fields", first));
    };
    let cas = fields.next();
    if fields.next().is_some() || cas.is_some_and(|c| parse_u64(c).is_none()) || key.is_empty() {
        return Err(ProtocolError::new("malformed VALUE line", first));
    }
    let flags = parse_u64(flags)
        .and_then(|f| u32::try_from(f).ok())
        .ok_or_else(|| ProtocolError::new("bad flags in VALUE line", first))?;
    let bytes = parse_u64(bytes)
        .and_then(|b| usize::try_from(b).ok())
        .filter(|&b| b <= 1 << 30)
        .ok_or_else(|| ProtocolError::new("bad length in VALUE line", first))?;
    let data_end = first_len + bytes;
    let total = data_end + b"\r\nEND\r\n".len();
    if buf.len() < total {
        return Ok(Parsed::Incomplete);
    }
    if &buf[data_end..data_end + 2] != b"\r\n" {
        return Err(ProtocolError::new(
            "value not followed by \\r\\n (length mismatch)",
            &buf[data_end..total],
        ));
    }
    if &buf[data_end + 2..total] != b"END\r\n" {
        return Err(ProtocolError::new(
            "single-key get reply not closed by END",
            &buf[data_end + 2..total],
        ));
    }
    Ok(Parsed::Complete {
        len: total,
        reply: GetReply::Hit {
            key,
            flags,
            data: &buf[first_len..data_end],
        },
    })
}

/// Parses the reply to a storage command from the front of `buf`.
pub fn parse_store(buf: &[u8]) -> Result<Parsed<StoreReply<'_>>, ProtocolError> {
    let Some((first, len)) = line(buf)? else {
        return Ok(Parsed::Incomplete);
    };
    let reply = match first {
        b"STORED" => StoreReply::Stored,
        b"NOT_STORED" | b"EXISTS" | b"NOT_FOUND" => StoreReply::NotStored(first),
        _ => {
            if let Some(msg) = first.strip_prefix(b"SERVER_ERROR") {
                StoreReply::ServerError(msg.trim_ascii_start())
            } else {
                reject_client_errors(first)?;
                return Err(ProtocolError::new("unexpected reply to set", first));
            }
        }
    };
    Ok(Parsed::Complete { len, reply })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete<T>(p: Parsed<T>) -> (usize, T) {
        match p {
            Parsed::Complete { len, reply } => (len, reply),
            Parsed::Incomplete => panic!("expected a complete reply"),
        }
    }

    #[test]
    fn encodes_requests() {
        let mut out = Vec::new();
        encode_get(&mut out, b"k1");
        let suffix = set_suffix(0, 1440, 5);
        encode_set(&mut out, b"k2", &suffix, (b"k2", b"abc"));
        assert_eq!(out, b"get k1\r\nset k2 0 1440 5\r\nk2abc\r\n");
    }

    #[test]
    fn get_hit_with_and_without_cas() {
        let r = b"VALUE k1 7 5\r\nhello\r\nEND\r\nEXTRA";
        let (len, reply) = complete(parse_get(r).unwrap());
        assert_eq!(len, r.len() - 5);
        assert_eq!(
            reply,
            GetReply::Hit {
                key: b"k1",
                flags: 7,
                data: b"hello"
            }
        );
        let r = b"VALUE k1 0 2 99\r\nhi\r\nEND\r\n";
        let (len, reply) = complete(parse_get(r).unwrap());
        assert_eq!(len, r.len());
        assert!(matches!(reply, GetReply::Hit { data: b"hi", .. }));
    }

    #[test]
    fn get_value_may_contain_crlf() {
        let r = b"VALUE k 0 7\r\nEND\r\n\r\n\r\nEND\r\n";
        let (len, reply) = complete(parse_get(r).unwrap());
        assert_eq!(len, r.len());
        assert!(matches!(
            reply,
            GetReply::Hit {
                data: b"END\r\n\r\n",
                ..
            }
        ));
    }

    #[test]
    fn get_every_prefix_is_incomplete() {
        let r = b"VALUE memc.sess.key.01 0 10\r\n0123456789\r\nEND\r\n";
        for cut in 0..r.len() {
            assert_eq!(
                parse_get(&r[..cut]).unwrap(),
                Parsed::Incomplete,
                "cut {cut}"
            );
        }
        assert!(matches!(parse_get(r).unwrap(), Parsed::Complete { .. }));
        for cut in 0..5 {
            assert_eq!(parse_get(&b"END\r\n"[..cut]).unwrap(), Parsed::Incomplete);
        }
    }

    #[test]
    fn get_miss_and_server_error() {
        assert_eq!(
            complete(parse_get(b"END\r\n").unwrap()),
            (5, GetReply::Miss)
        );
        assert_eq!(
            complete(parse_get(b"SERVER_ERROR out of memory\r\n").unwrap()),
            (28, GetReply::ServerError(b"out of memory"))
        );
    }

    #[test]
    fn get_protocol_errors() {
        for bad in [
            &b"ERROR\r\n"[..],
            b"CLIENT_ERROR bad command line format\r\n",
            b"STORED\r\n",
            b"VALUE k 0\r\n",
            b"VALUE k x 1\r\nx\r\nEND\r\n",
            b"VALUE k 0 -1\r\n",
            b"VALUE k 0 1 2 3\r\n",
            b"VALUE k 0 2\r\nabc\r\nEND\r\n",
            b"VALUE k 0 1\r\na\r\nVALUE",
            b"END\n",
        ] {
            assert!(
                parse_get(bad).is_err(),
                "{:?}",
                crate::proto::escape(bad, 80)
            );
        }
        assert!(parse_get(&[b'x'; MAX_LINE + 1]).is_err());
    }

    #[test]
    fn store_replies() {
        assert_eq!(
            complete(parse_store(b"STORED\r\n").unwrap()),
            (8, StoreReply::Stored)
        );
        assert_eq!(
            complete(parse_store(b"NOT_STORED\r\n").unwrap()),
            (12, StoreReply::NotStored(b"NOT_STORED"))
        );
        assert_eq!(
            complete(parse_store(b"SERVER_ERROR out of memory storing object\r\n").unwrap()).1,
            StoreReply::ServerError(b"out of memory storing object")
        );
        for cut in 0..8 {
            assert_eq!(
                parse_store(&b"STORED\r\n"[..cut]).unwrap(),
                Parsed::Incomplete
            );
        }
        assert!(parse_store(b"ERROR\r\n").is_err());
        assert!(parse_store(b"CLIENT_ERROR bad data chunk\r\n").is_err());
        assert!(parse_store(b"END\r\n").is_err());
        assert!(parse_store(b"STORED\n").is_err());
    }
}
