//! The Raft log's bytes: file names, file headers, records and how a file of records is read.
//!
//! Every file (log segment or state file) starts with a 24-byte header
//!
//! ```text
//! magic:[u8; 8] | format_version:u8 | 0:[u8; 3] | first_index:u64le | crc32(bytes 0..20):u32le
//! ```
//!
//! and goes on with records, each
//!
//! ```text
//! len:u32le | crc32:u32le | format_version:u8 | kind:u8 | index:u64le | payload
//! ```
//!
//! where `len` counts the bytes after the checksum and the checksum covers exactly those bytes,
//! as in `sessiond_storage::record`. A segment's records are log entries (`KIND_ENTRY`, the
//! payload is the postcard encoding of the whole [`Entry`](crate::types::Entry)) with indexes
//! counting up from the header's `first_index` without a gap; the state file's records are
//! whole [`State`]s (`KIND_STATE`), the last good one being the current state.
//!
//! Decoding never trusts a length before checking it against the buffer and
//! [`MAX_RECORD_LEN`], so a damaged length cannot make it allocate or read out of bounds.

use std::fmt;
use std::io;

use serde::{Deserialize, Serialize};

use crate::types::{LogId, Vote};

/// The format version written into every header and record. A reader refuses any other.
pub(super) const FORMAT_VERSION: u8 = 1;

/// A log segment's magic.
pub(super) const SEGMENT_MAGIC: [u8; 8] = *b"SDRAFTLG";
/// The state file's magic.
pub(super) const STATE_MAGIC: [u8; 8] = *b"SDRAFTST";

/// Bytes of a file header.
pub(super) const HEADER_LEN: usize = 24;
/// Bytes before a record's checksummed part: the length and the checksum.
const PREFIX_LEN: usize = 8;
/// The smallest `len`: version, kind and index with an empty payload.
const MIN_RECORD_LEN: u32 = 1 + 1 + 8;
/// The largest `len` a record may have. The engine refuses values past 1 GiB; an entry carries
/// a batch of effects, so this leaves room for one such value and its neighbours.
pub(super) const MAX_RECORD_LEN: u32 = (1 << 30) + (1 << 26);

/// A record holding a log entry.
pub(super) const KIND_ENTRY: u8 = 1;
/// A record holding the whole [`State`].
pub(super) const KIND_STATE: u8 = 2;

/// The state file's name.
pub(super) const STATE_NAME: &str = "state";
/// The state file while it is rewritten; never read, removed at start-up.
pub(super) const STATE_TEMP_NAME: &str = "state.tmp";

/// The name of the segment whose first entry has `index`. Twenty digits hold any u64, so
/// names sort in index order.
pub(super) fn segment_name(index: u64) -> String {
    format!("log-{index:020}.seg")
}

/// The first index a segment's name gives, if `name` is a segment's.
pub(super) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("log-")?.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// What the state file keeps: everything about the log that is not an entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct State {
    /// The last vote saved.
    pub vote: Option<Vote>,
    /// The last committed log id saved.
    pub committed: Option<LogId>,
    /// The last purged log id: entries up to its index are gone.
    pub purged: Option<LogId>,
    /// A truncation under way: entries from this index on are being removed. Recovery
    /// finishes it, so a crash in the middle of one leaves no half-truncated log.
    pub truncating: Option<u64>,
}

/// A file header for `magic` and `first_index`.
pub(super) fn header(magic: [u8; 8], first_index: u64) -> [u8; HEADER_LEN] {
    let mut out = [0; HEADER_LEN];
    out[..8].copy_from_slice(&magic);
    out[8] = FORMAT_VERSION;
    out[12..20].copy_from_slice(&first_index.to_le_bytes());
    let crc = crc32fast::hash(&out[..20]);
    out[20..].copy_from_slice(&crc.to_le_bytes());
    out
}

/// Checks a file header against `magic` and the `first_index` its name gives.
pub(super) fn check_header(bytes: &[u8], magic: [u8; 8], first_index: u64) -> Result<(), String> {
    let Some(found) = bytes.get(..HEADER_LEN) else {
        return Err(format!(
            "header cut short ({} of {HEADER_LEN} bytes)",
            bytes.len()
        ));
    };
    if found[..8] != magic {
        return Err("not a sessiond raft log file of this kind (bad magic)".to_owned());
    }
    let crc = u32::from_le_bytes([found[20], found[21], found[22], found[23]]);
    if crc32fast::hash(&found[..20]) != crc {
        return Err("header checksum mismatch".to_owned());
    }
    if found[8] != FORMAT_VERSION {
        return Err(format!("unknown format version {}", found[8]));
    }
    let mut index = [0; 8];
    index.copy_from_slice(&found[12..20]);
    let index = u64::from_le_bytes(index);
    if index != first_index {
        return Err(format!(
            "header says the first index is {index}, the file name says {first_index}"
        ));
    }
    Ok(())
}

/// Appends a record of `kind` and `index` whose payload is the postcard encoding of `value`.
pub(super) fn encode_record<T: Serialize>(
    kind: u8,
    index: u64,
    value: &T,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let start = out.len();
    out.extend_from_slice(&[0; PREFIX_LEN]);
    out.push(FORMAT_VERSION);
    out.push(kind);
    out.extend_from_slice(&index.to_le_bytes());
    if let Err(error) = postcard::to_io(value, &mut *out) {
        out.truncate(start);
        return Err(io::Error::new(io::ErrorKind::InvalidInput, error));
    }
    let len = match u32::try_from(out.len() - start - PREFIX_LEN) {
        Ok(len) if len <= MAX_RECORD_LEN => len,
        _ => {
            let bytes = out.len() - start;
            out.truncate(start);
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a raft log record of {bytes} bytes is past the limit of {MAX_RECORD_LEN}"),
            ));
        }
    };
    let crc = crc32fast::hash(&out[start + PREFIX_LEN..]);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// A record whose frame (length, checksum, version, kind) checked out.
#[derive(Clone, Copy, Debug)]
pub(super) struct Frame<'a> {
    /// What it holds.
    pub kind: u8,
    /// The entry's index (0 in the state file).
    pub index: u64,
    /// The postcard bytes.
    pub payload: &'a [u8],
    /// How many bytes the record takes, prefix included.
    pub len: usize,
}

/// Why bytes are not a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FrameError {
    /// The bytes end before the record does.
    Incomplete { needed: u64, available: u64 },
    /// The length field is impossible.
    BadLength(u32),
    /// The checksum does not match.
    BadChecksum,
    /// Another format version.
    BadVersion(u8),
    /// The kind byte names no kind.
    BadKind(u8),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Incomplete { needed, available } => write!(
                f,
                "a partial record ({needed} bytes needed, {available} available)"
            ),
            FrameError::BadLength(0) => f.write_str("zeros where a record should start"),
            FrameError::BadLength(len) => write!(f, "a record with the impossible length {len}"),
            FrameError::BadChecksum => f.write_str("a record whose checksum does not match"),
            FrameError::BadVersion(version) => {
                write!(f, "a record of unknown format version {version}")
            }
            FrameError::BadKind(kind) => write!(f, "a record of unknown kind {kind}"),
        }
    }
}

/// Decodes the record frame at the start of `buf`.
pub(super) fn decode_frame(buf: &[u8]) -> Result<Frame<'_>, FrameError> {
    let available = buf.len() as u64;
    let Some(prefix) = buf.get(..PREFIX_LEN) else {
        return Err(FrameError::Incomplete {
            needed: PREFIX_LEN as u64,
            available,
        });
    };
    let len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    if !(MIN_RECORD_LEN..=MAX_RECORD_LEN).contains(&len) {
        return Err(FrameError::BadLength(len));
    }
    let total = PREFIX_LEN + len as usize;
    let Some(body) = buf.get(PREFIX_LEN..total) else {
        return Err(FrameError::Incomplete {
            needed: total as u64,
            available,
        });
    };
    let crc = u32::from_le_bytes([prefix[4], prefix[5], prefix[6], prefix[7]]);
    if crc32fast::hash(body) != crc {
        return Err(FrameError::BadChecksum);
    }
    if body[0] != FORMAT_VERSION {
        return Err(FrameError::BadVersion(body[0]));
    }
    let kind = body[1];
    if kind != KIND_ENTRY && kind != KIND_STATE {
        return Err(FrameError::BadKind(kind));
    }
    let mut index = [0; 8];
    index.copy_from_slice(&body[2..10]);
    Ok(Frame {
        kind,
        index: u64::from_le_bytes(index),
        payload: &body[10..],
        len: total,
    })
}

/// Whether a well-formed record of `kind` starts anywhere after `at`: then the bad record at
/// `at` is damage in the middle of the file, not a torn end. The search starts right after
/// the bad record's first byte, not after its claimed length, because a damaged length could
/// jump over the records that follow. Cheap checks (length in bounds, version and kind bytes)
/// come before the checksum, so the search costs little over garbage.
pub(super) fn valid_record_after(bytes: &[u8], at: usize, kind: u8) -> Option<usize> {
    (at + 1..bytes.len()).find(|&offset| {
        let rest = &bytes[offset..];
        let plausible = rest.len() >= PREFIX_LEN + MIN_RECORD_LEN as usize && {
            let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
            (MIN_RECORD_LEN..=MAX_RECORD_LEN).contains(&len)
                && PREFIX_LEN + len as usize <= rest.len()
                && rest[PREFIX_LEN] == FORMAT_VERSION
                && rest[PREFIX_LEN + 1] == kind
        };
        plausible && matches!(decode_frame(rest), Ok(frame) if frame.kind == kind)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_sort_in_index_order() {
        assert_eq!(segment_name(42), "log-00000000000000000042.seg");
        assert_eq!(parse_segment_name(&segment_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_segment_name("log-12.seg"), None);
        assert_eq!(parse_segment_name(STATE_NAME), None);
        assert!(segment_name(9) < segment_name(10));
    }

    #[test]
    fn headers_check_magic_checksum_and_index() {
        let bytes = header(SEGMENT_MAGIC, 7);
        assert_eq!(check_header(&bytes, SEGMENT_MAGIC, 7), Ok(()));
        assert!(check_header(&bytes, STATE_MAGIC, 7).is_err());
        assert!(check_header(&bytes, SEGMENT_MAGIC, 8).is_err());
        assert!(check_header(&bytes[..10], SEGMENT_MAGIC, 7).is_err());
        let mut flipped = bytes;
        flipped[13] ^= 1;
        assert!(check_header(&flipped, SEGMENT_MAGIC, 7).is_err());
    }

    #[test]
    fn records_round_trip_and_every_damage_is_caught() {
        let mut out = Vec::new();
        encode_record(KIND_STATE, 0, &State::default(), &mut out).unwrap();
        encode_record(KIND_ENTRY, 5, &vec![1u8, 2, 3], &mut out).unwrap();
        let first = decode_frame(&out).unwrap();
        assert_eq!((first.kind, first.index), (KIND_STATE, 0));
        let second = decode_frame(&out[first.len..]).unwrap();
        assert_eq!((second.kind, second.index), (KIND_ENTRY, 5));
        assert_eq!(
            postcard::from_bytes::<Vec<u8>>(second.payload).unwrap(),
            vec![1, 2, 3]
        );
        assert_eq!(first.len + second.len, out.len());
        for cut in 0..first.len {
            assert!(matches!(
                decode_frame(&out[..cut]),
                Err(FrameError::Incomplete { .. })
            ));
        }
        for at in 4..first.len {
            let mut bad = out.clone();
            bad[at] ^= 0x40;
            assert!(decode_frame(&bad).is_err(), "flip at {at}");
        }
        assert_eq!(valid_record_after(&out, 0, KIND_ENTRY), Some(first.len));
        assert_eq!(valid_record_after(&out, 0, KIND_STATE), None);
    }
}
