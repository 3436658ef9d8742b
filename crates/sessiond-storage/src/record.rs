//! The record codec: one engine [`Effect`] as bytes, checksummed and versioned.
//!
//! Every record, in the log and in snapshots alike, is
//!
//! ```text
//! len:u32le | crc32:u32le | format_version:u8 | kind:u8 | lsn:u64le | time:u64le | payload
//! ```
//!
//! where `len` counts the bytes after the checksum (version through payload) and the checksum
//! covers exactly those bytes. Payloads by kind:
//!
//! - `Put`: namespace:u32 | key_len:u32 | key | value_len:u32 | value | item tail
//! - `Meta`: namespace:u32 | key_len:u32 | key | item tail (the value is unchanged)
//! - `Remove`: namespace:u32 | key_len:u32 | key
//! - `Flush`: shard:u16 | present:u8 | [namespace:u32] | [at:u64]
//!
//! and the item tail is `flags:u32 | cas:u64 | cookie:u32 | bits:u8 | present:u8 | [deadline:u64]
//! | [sliding_ms:u64] | [locked_at:u64]`, the optional fields written only when their bit in
//! `present` is set. All integers are little-endian; times are milliseconds since the epoch.
//!
//! Decoding never trusts a length before checking it against both the buffer and
//! [`MAX_RECORD_LEN`], so a corrupt length cannot make it allocate or read out of bounds.

use std::time::Duration;

use sessiond_engine::{Change, Effect, ItemState, Key, LockCookie, NamespaceId, Timestamp};

/// The format version written into every record. A reader refuses any other.
pub const FORMAT_VERSION: u8 = 1;

/// Bytes before the checksummed part: the length and the checksum.
pub const PREFIX_LEN: usize = 8;

/// Bytes of a record's fixed header: prefix, version, kind, lsn and time.
pub const HEADER_LEN: usize = PREFIX_LEN + 1 + 1 + 8 + 8;

/// The largest `len` a record may have: a value at the engine's largest useful size (1 GiB)
/// plus room for a key and the fixed fields.
pub const MAX_RECORD_LEN: u32 = (1 << 30) + (1 << 20);

/// The smallest `len`: the checksummed fixed fields with an empty payload.
const MIN_RECORD_LEN: u32 = (HEADER_LEN - PREFIX_LEN) as u32;

/// A decoded record, borrowing its key and value from the bytes it was decoded from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// The log sequence number (in a snapshot: the record's position).
    pub lsn: u64,
    /// The change and its time.
    pub effect: Effect<'a>,
}

/// Why bytes are not a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes end before the record does: a torn write, or more is still to be read.
    #[error("incomplete record: {needed} bytes needed, {available} available")]
    Incomplete {
        /// How many bytes the record needs in all, as far as can be told.
        needed: u64,
        /// How many there are.
        available: u64,
    },
    /// The length field is impossible.
    #[error("impossible record length {0}")]
    BadLength(u32),
    /// The checksum does not match.
    #[error("checksum mismatch")]
    BadChecksum,
    /// The record was written by another format version.
    #[error("unknown record format version {0}")]
    BadVersion(u8),
    /// The kind byte names no kind.
    #[error("unknown record kind {0}")]
    BadKind(u8),
    /// The checksum matched but the payload does not parse: written by a bug, not a crash.
    #[error("malformed payload: {0}")]
    BadPayload(&'static str),
}

/// Appends the record of `effect` with sequence number `lsn` to `out`.
pub fn encode(lsn: u64, effect: &Effect<'_>, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; PREFIX_LEN]);
    out.push(FORMAT_VERSION);
    out.push(kind_of(&effect.change));
    out.extend_from_slice(&lsn.to_le_bytes());
    out.extend_from_slice(&effect.time.as_millis().to_le_bytes());
    match &effect.change {
        Change::Put(state) => {
            put_key(out, state.key);
            put_bytes(out, state.value);
            put_item_tail(out, state);
        }
        Change::Meta(state) => {
            put_key(out, state.key);
            put_item_tail(out, state);
        }
        Change::Remove(key) => put_key(out, *key),
        Change::Flush {
            shard,
            namespace,
            at,
        } => {
            out.extend_from_slice(&shard.to_le_bytes());
            out.push(u8::from(namespace.is_some()) | u8::from(at.is_some()) << 1);
            if let Some(namespace) = namespace {
                out.extend_from_slice(&namespace.0.to_le_bytes());
            }
            if let Some(at) = at {
                out.extend_from_slice(&at.as_millis().to_le_bytes());
            }
        }
    }
    // The engine refuses values anywhere near 4 GiB, so the length always fits; saturating
    // keeps an impossible one detectable (a reader rejects it) instead of wrapping.
    let len = u32::try_from(out.len() - start - PREFIX_LEN).unwrap_or(u32::MAX);
    let crc = crc32fast::hash(&out[start + PREFIX_LEN..]);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Decodes the record at the start of `buf`, returning it and how many bytes it took.
pub fn decode(buf: &[u8]) -> Result<(Record<'_>, usize), DecodeError> {
    let total = checked_len(buf)?;
    let body = &buf[PREFIX_LEN..total];
    let stored_crc = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
    if crc32fast::hash(body) != stored_crc {
        return Err(DecodeError::BadChecksum);
    }
    let mut reader = Reader { buf: body };
    let version = reader.u8()?;
    if version != FORMAT_VERSION {
        return Err(DecodeError::BadVersion(version));
    }
    let kind = reader.u8()?;
    let lsn = reader.u64()?;
    let time = Timestamp::from_millis(reader.u64()?);
    let change = match kind {
        KIND_PUT => {
            let key = reader.key()?;
            let value = reader.bytes()?;
            Change::Put(reader.item_tail(key, value)?)
        }
        KIND_META => {
            let key = reader.key()?;
            Change::Meta(reader.item_tail(key, &[])?)
        }
        KIND_REMOVE => Change::Remove(reader.key()?),
        KIND_FLUSH => {
            let shard = reader.u16()?;
            let present = reader.u8()?;
            if present & !0b11 != 0 {
                return Err(DecodeError::BadPayload("unknown flush option bits"));
            }
            let namespace = if present & 1 != 0 {
                Some(NamespaceId(reader.u32()?))
            } else {
                None
            };
            let at = if present & 2 != 0 {
                Some(Timestamp::from_millis(reader.u64()?))
            } else {
                None
            };
            Change::Flush {
                shard,
                namespace,
                at,
            }
        }
        other => return Err(DecodeError::BadKind(other)),
    };
    if !reader.buf.is_empty() {
        return Err(DecodeError::BadPayload("trailing bytes after the payload"));
    }
    let effect = Effect { time, change };
    Ok((Record { lsn, effect }, total))
}

/// The whole length (prefix included) of the record at the start of `buf`, checked against
/// the limits and against `buf`, without reading anything past the prefix.
pub fn checked_len(buf: &[u8]) -> Result<usize, DecodeError> {
    let Some(prefix) = buf.get(..PREFIX_LEN) else {
        return Err(DecodeError::Incomplete {
            needed: PREFIX_LEN as u64,
            available: buf.len() as u64,
        });
    };
    let len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    if !(MIN_RECORD_LEN..=MAX_RECORD_LEN).contains(&len) {
        return Err(DecodeError::BadLength(len));
    }
    let total = PREFIX_LEN + len as usize;
    if buf.len() < total {
        return Err(DecodeError::Incomplete {
            needed: total as u64,
            available: buf.len() as u64,
        });
    }
    Ok(total)
}

/// The length field of a record prefix, when it is possible: how many bytes to read after
/// the prefix. For readers that stream records instead of holding them all.
pub fn body_len(prefix: [u8; PREFIX_LEN]) -> Result<usize, DecodeError> {
    let len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    if !(MIN_RECORD_LEN..=MAX_RECORD_LEN).contains(&len) {
        return Err(DecodeError::BadLength(len));
    }
    Ok(len as usize)
}

/// Whether a record could plausibly start at the start of `buf`: a cheap filter run before
/// the checksum when looking for valid records after a bad one.
pub fn plausible_start(buf: &[u8]) -> bool {
    checked_len(buf).is_ok()
        && buf[PREFIX_LEN] == FORMAT_VERSION
        && (KIND_PUT..=KIND_FLUSH).contains(&buf[PREFIX_LEN + 1])
}

const KIND_PUT: u8 = 1;
const KIND_META: u8 = 2;
const KIND_REMOVE: u8 = 3;
const KIND_FLUSH: u8 = 4;

const HAS_DEADLINE: u8 = 1;
const HAS_SLIDING: u8 = 2;
const HAS_LOCKED_AT: u8 = 4;

fn kind_of(change: &Change<'_>) -> u8 {
    match change {
        Change::Put(_) => KIND_PUT,
        Change::Meta(_) => KIND_META,
        Change::Remove(_) => KIND_REMOVE,
        Change::Flush { .. } => KIND_FLUSH,
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
}

fn put_key(out: &mut Vec<u8>, key: Key<'_>) {
    out.extend_from_slice(&key.namespace.0.to_le_bytes());
    put_bytes(out, key.name);
}

fn put_item_tail(out: &mut Vec<u8>, state: &ItemState<'_>) {
    out.extend_from_slice(&state.flags.to_le_bytes());
    out.extend_from_slice(&state.cas.to_le_bytes());
    out.extend_from_slice(&state.cookie.0.to_le_bytes());
    out.push(state.bits);
    let mut present = 0;
    if state.deadline.is_some() {
        present |= HAS_DEADLINE;
    }
    if state.sliding.is_some() {
        present |= HAS_SLIDING;
    }
    if state.locked_at.is_some() {
        present |= HAS_LOCKED_AT;
    }
    out.push(present);
    if let Some(deadline) = state.deadline {
        out.extend_from_slice(&deadline.as_millis().to_le_bytes());
    }
    if let Some(sliding) = state.sliding {
        let millis = u64::try_from(sliding.as_millis()).unwrap_or(u64::MAX);
        out.extend_from_slice(&millis.to_le_bytes());
    }
    if let Some(locked_at) = state.locked_at {
        out.extend_from_slice(&locked_at.as_millis().to_le_bytes());
    }
}

/// A cursor over a checksummed body. Running out is a payload error: the checksum matched,
/// so the length was written as it is.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::BadPayload("payload shorter than its fields"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    fn key(&mut self) -> Result<Key<'a>, DecodeError> {
        let namespace = NamespaceId(self.u32()?);
        Ok(Key::new(namespace, self.bytes()?))
    }

    fn item_tail(&mut self, key: Key<'a>, value: &'a [u8]) -> Result<ItemState<'a>, DecodeError> {
        let flags = self.u32()?;
        let cas = self.u64()?;
        let cookie = LockCookie(self.u32()?);
        let bits = self.u8()?;
        let present = self.u8()?;
        if present & !(HAS_DEADLINE | HAS_SLIDING | HAS_LOCKED_AT) != 0 {
            return Err(DecodeError::BadPayload("unknown item option bits"));
        }
        let deadline = if present & HAS_DEADLINE != 0 {
            Some(Timestamp::from_millis(self.u64()?))
        } else {
            None
        };
        let sliding = if present & HAS_SLIDING != 0 {
            Some(Duration::from_millis(self.u64()?))
        } else {
            None
        };
        let locked_at = if present & HAS_LOCKED_AT != 0 {
            Some(Timestamp::from_millis(self.u64()?))
        } else {
            None
        };
        Ok(ItemState {
            key,
            value,
            flags,
            cas,
            deadline,
            sliding,
            cookie,
            locked_at,
            bits,
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn key_strategy() -> impl Strategy<Value = (u32, Vec<u8>)> {
        (any::<u32>(), proptest::collection::vec(any::<u8>(), 0..40))
    }

    fn millis() -> impl Strategy<Value = Option<u64>> {
        proptest::option::of(any::<u64>())
    }

    /// An owned effect, so strategies can produce them and tests borrow from them.
    #[derive(Clone, Debug)]
    enum Owned {
        Put(OwnedItem),
        Meta(OwnedItem),
        Remove(u32, Vec<u8>),
        Flush(u16, Option<u32>, Option<u64>),
    }

    #[derive(Clone, Debug)]
    struct OwnedItem {
        namespace: u32,
        key: Vec<u8>,
        value: Vec<u8>,
        flags: u32,
        cas: u64,
        deadline: Option<u64>,
        sliding: Option<u64>,
        cookie: u32,
        locked_at: Option<u64>,
        bits: u8,
    }

    impl OwnedItem {
        fn state(&self) -> ItemState<'_> {
            ItemState {
                key: Key::new(NamespaceId(self.namespace), &self.key),
                value: &self.value,
                flags: self.flags,
                cas: self.cas,
                deadline: self.deadline.map(Timestamp::from_millis),
                sliding: self.sliding.map(Duration::from_millis),
                cookie: LockCookie(self.cookie),
                locked_at: self.locked_at.map(Timestamp::from_millis),
                bits: self.bits,
            }
        }
    }

    impl Owned {
        fn effect(&self, time: u64) -> Effect<'_> {
            let change = match self {
                Owned::Put(item) => Change::Put(item.state()),
                Owned::Meta(item) => Change::Meta(ItemState {
                    value: &[],
                    ..item.state()
                }),
                Owned::Remove(namespace, name) => {
                    Change::Remove(Key::new(NamespaceId(*namespace), name))
                }
                Owned::Flush(shard, namespace, at) => Change::Flush {
                    shard: *shard,
                    namespace: namespace.map(NamespaceId),
                    at: at.map(Timestamp::from_millis),
                },
            };
            Effect {
                time: Timestamp::from_millis(time),
                change,
            }
        }
    }

    fn item_strategy() -> impl Strategy<Value = OwnedItem> {
        (
            key_strategy(),
            proptest::collection::vec(any::<u8>(), 0..300),
            any::<(u32, u64, u32, u8)>(),
            (millis(), millis(), millis()),
        )
            .prop_map(
                |(
                    (namespace, key),
                    value,
                    (flags, cas, cookie, bits),
                    (deadline, sliding, locked_at),
                )| {
                    OwnedItem {
                        namespace,
                        key,
                        value,
                        flags,
                        cas,
                        deadline,
                        sliding,
                        cookie,
                        locked_at,
                        bits,
                    }
                },
            )
    }

    fn owned_strategy() -> impl Strategy<Value = Owned> {
        prop_oneof![
            item_strategy().prop_map(Owned::Put),
            item_strategy().prop_map(Owned::Meta),
            key_strategy().prop_map(|(namespace, key)| Owned::Remove(namespace, key)),
            (any::<u16>(), proptest::option::of(any::<u32>()), millis())
                .prop_map(|(shard, namespace, at)| Owned::Flush(shard, namespace, at)),
        ]
    }

    /// A log of records and where each starts.
    fn log_of(owned: &[Owned]) -> (Vec<u8>, Vec<usize>) {
        let mut log = Vec::new();
        let mut starts = Vec::new();
        for (i, effect) in owned.iter().enumerate() {
            starts.push(log.len());
            encode(i as u64 + 1, &effect.effect(i as u64 * 7), &mut log);
        }
        (log, starts)
    }

    /// Decodes records from the start of `log` until one does not decode; returns them and
    /// the error that stopped it (if any).
    fn decode_all(log: &[u8]) -> (Vec<Record<'_>>, Option<DecodeError>) {
        let mut records = Vec::new();
        let mut at = 0;
        while at < log.len() {
            match decode(&log[at..]) {
                Ok((record, used)) => {
                    records.push(record);
                    at += used;
                }
                Err(error) => return (records, Some(error)),
            }
        }
        (records, None)
    }

    proptest! {
        #[test]
        fn every_kind_round_trips(owned in owned_strategy(), lsn in any::<u64>(), time in any::<u64>()) {
            let effect = owned.effect(time);
            let mut buf = vec![0xAA; 3];
            encode(lsn, &effect, &mut buf);
            let (record, used) = decode(&buf[3..]).expect("decodes");
            prop_assert_eq!(used, buf.len() - 3);
            prop_assert_eq!(record.lsn, lsn);
            prop_assert_eq!(record.effect, effect);
        }

        #[test]
        fn a_cut_anywhere_in_the_last_records_is_incomplete_never_wrong(
            owned in proptest::collection::vec(owned_strategy(), 1..6),
        ) {
            let (log, starts) = log_of(&owned);
            let (full, error) = decode_all(&log);
            prop_assert!(error.is_none());
            prop_assert_eq!(full.len(), owned.len());
            let ends: Vec<usize> = starts[1..].iter().copied().chain([log.len()]).collect();
            // Every byte offset from the start of the second-to-last record on.
            let from = starts[starts.len().saturating_sub(2)];
            for cut in from..log.len() {
                let (records, error) = decode_all(&log[..cut]);
                // Only the records wholly before the cut come back, exactly as written.
                let whole = ends.iter().filter(|&&end| end <= cut).count();
                prop_assert_eq!(&records[..], &full[..whole]);
                if cut == 0 || ends.contains(&cut) {
                    prop_assert!(error.is_none());
                } else {
                    prop_assert!(
                        matches!(error, Some(DecodeError::Incomplete { .. })),
                        "cut at {} gave {:?}", cut, error
                    );
                }
            }
        }

        #[test]
        fn a_flipped_bit_in_the_last_records_is_detected(
            owned in proptest::collection::vec(owned_strategy(), 1..4),
            seed in any::<u64>(),
        ) {
            let (log, starts) = log_of(&owned);
            let (full, _) = decode_all(&log);
            let from = starts[starts.len().saturating_sub(2)];
            // Every byte of the last records, one bit each (which bit varies with the seed).
            for at in from..log.len() {
                let mut bad = log.clone();
                bad[at] ^= 1 << ((seed as usize).wrapping_add(at) % 8);
                let (records, error) = decode_all(&bad);
                let damaged = starts.iter().rposition(|&start| start <= at).unwrap_or(0);
                // Everything before the damaged record decodes as written; the damaged one
                // never decodes (a flipped length may make it look torn, never valid).
                prop_assert_eq!(&records[..], &full[..damaged], "flip at {}", at);
                prop_assert!(error.is_some());
            }
        }
    }

    #[test]
    fn a_huge_length_is_refused_without_allocating() {
        let mut buf = Vec::new();
        buf.extend_from_slice(&(MAX_RECORD_LEN + 1).to_le_bytes());
        buf.extend_from_slice(&[0; 40]);
        assert_eq!(
            decode(&buf),
            Err(DecodeError::BadLength(MAX_RECORD_LEN + 1))
        );
        // A possible length beyond the buffer only asks for more.
        buf[..4].copy_from_slice(&MAX_RECORD_LEN.to_le_bytes());
        assert!(matches!(decode(&buf), Err(DecodeError::Incomplete { .. })));
    }

    #[test]
    fn zeros_are_not_a_record() {
        assert_eq!(decode(&[0; 64]), Err(DecodeError::BadLength(0)));
        assert!(!plausible_start(&[0; 64]));
    }

    #[test]
    fn a_valid_checksum_over_a_bad_payload_is_a_payload_error() {
        let key = Key::new(NamespaceId(1), b"k");
        let effect = Effect {
            time: Timestamp::from_millis(5),
            change: Change::Remove(key),
        };
        let mut buf = Vec::new();
        encode(9, &effect, &mut buf);
        // Claim a longer key than the payload holds, and fix the checksum up.
        buf[HEADER_LEN + 4] = 200;
        let crc = crc32fast::hash(&buf[PREFIX_LEN..]);
        buf[4..8].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(decode(&buf), Err(DecodeError::BadPayload(_))));
    }
}
