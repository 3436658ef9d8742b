//! The encoded form of hashes, sets and sorted sets, and the working forms commands edit.
//!
//! A collection is stored as one value, so the shard, the memory budget, the journal and the
//! record codec treat it exactly as a string's bytes (the item's [`ValueType`] bits say how to
//! read them):
//!
//! ```text
//! count:u32le | entry*
//! hash entry:       field_len:u32le | field | value_len:u32le | value
//! set entry:        member_len:u32le | member
//! sorted set entry: score:f64le | member_len:u32le | member
//! ```
//!
//! Hash and set entries keep insertion order (a field that is updated keeps its place), as
//! Redis's listpack encoding of small collections does; sorted set entries are ordered by
//! (score, member bytes). The count makes cardinality O(1). Every change decodes the entries,
//! edits them and encodes a new value: linear in the collection's size, which is what session
//! data needs and keeps a collection one allocation, like any other value.
//!
//! Decoding never trusts a length: a malformed value (which only a bug could write, the log
//! being checksummed) ends the entries early instead of panicking.
//!
//! [`ValueType`]: crate::ValueType

use std::ops::Range;

use hashbrown::HashMap;

/// One end of a score range. Infinite bounds are `f64::INFINITY` and `f64::NEG_INFINITY`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ScoreBound {
    /// Scores equal to the bound are in the range.
    Inclusive(f64),
    /// Scores equal to the bound are not.
    Exclusive(f64),
}

impl ScoreBound {
    /// Every score is at or above it.
    pub const NEG_INFINITY: ScoreBound = ScoreBound::Inclusive(f64::NEG_INFINITY);
    /// Every score is at or below it.
    pub const INFINITY: ScoreBound = ScoreBound::Inclusive(f64::INFINITY);

    /// Whether `score` is at or above this bound taken as a minimum.
    pub fn admits_from_below(self, score: f64) -> bool {
        match self {
            ScoreBound::Inclusive(min) => score >= min,
            ScoreBound::Exclusive(min) => score > min,
        }
    }

    /// Whether `score` is at or below this bound taken as a maximum.
    pub fn admits_from_above(self, score: f64) -> bool {
        match self {
            ScoreBound::Inclusive(max) => score <= max,
            ScoreBound::Exclusive(max) => score < max,
        }
    }
}

/// Bytes of the count that starts every encoded collection.
const COUNT_LEN: usize = 4;

/// How many entries an encoded collection holds.
pub(crate) fn count(value: &[u8]) -> u64 {
    value.get(..COUNT_LEN).map_or(0, |count| {
        u64::from(u32::from_le_bytes([count[0], count[1], count[2], count[3]]))
    })
}

/// The (field, value) ranges of an encoded hash, in order.
pub(crate) fn pairs(value: &[u8]) -> impl Iterator<Item = (Range<usize>, Range<usize>)> + '_ {
    let mut reader = Reader::new(value);
    std::iter::from_fn(move || {
        let field = reader.bytes()?;
        let value = reader.bytes()?;
        Some((field, value))
    })
}

/// The member ranges of an encoded set, in order.
pub(crate) fn members(value: &[u8]) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut reader = Reader::new(value);
    std::iter::from_fn(move || reader.bytes())
}

/// The (score, member range) entries of an encoded sorted set, in order.
pub(crate) fn scored(value: &[u8]) -> impl Iterator<Item = (f64, Range<usize>)> + '_ {
    let mut reader = Reader::new(value);
    std::iter::from_fn(move || {
        let score = reader.f64()?;
        let member = reader.bytes()?;
        Some((score, member))
    })
}

/// A score as stored: NaN is refused by the commands before this; `-0` becomes `0`, as Redis
/// replies `0` for it, so the two never sort or compare apart.
pub(crate) fn normalize_score(score: f64) -> f64 {
    score + 0.0
}

/// A hash being edited: entries in order, deleted ones left as holes until encoding, and an
/// index from field to position.
pub(crate) struct HashEdit<'a> {
    entries: Vec<Option<(&'a [u8], &'a [u8])>>,
    index: HashMap<&'a [u8], usize>,
    len: usize,
}

impl<'a> HashEdit<'a> {
    /// The hash encoded in `value` (empty for a new hash).
    pub fn decode(value: &'a [u8]) -> Self {
        let mut edit = HashEdit {
            entries: Vec::new(),
            index: HashMap::new(),
            len: 0,
        };
        for (field, data) in pairs(value) {
            edit.set(&value[field], &value[data]);
        }
        edit
    }

    pub fn get(&self, field: &[u8]) -> Option<&'a [u8]> {
        let position = *self.index.get(field)?;
        self.entries[position].map(|(_, value)| value)
    }

    /// Sets `field`, keeping its place if it exists; answers whether it is new.
    pub fn set(&mut self, field: &'a [u8], value: &'a [u8]) -> bool {
        if let Some(&position) = self.index.get(field) {
            self.entries[position] = Some((field, value));
            return false;
        }
        self.index.insert(field, self.entries.len());
        self.entries.push(Some((field, value)));
        self.len += 1;
        true
    }

    /// Deletes `field`; answers whether it was there.
    pub fn delete(&mut self, field: &[u8]) -> bool {
        let Some(position) = self.index.remove(field) else {
            return false;
        };
        self.entries[position] = None;
        self.len -= 1;
        true
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut encoder = Encoder::new(self.len);
        for (field, value) in self.entries.iter().flatten() {
            encoder.bytes(field);
            encoder.bytes(value);
        }
        encoder.finish()
    }
}

/// A set being edited: as [`HashEdit`], members only.
pub(crate) struct SetEdit<'a> {
    entries: Vec<Option<&'a [u8]>>,
    index: HashMap<&'a [u8], usize>,
    len: usize,
}

impl<'a> SetEdit<'a> {
    /// The set encoded in `value` (empty for a new set).
    pub fn decode(value: &'a [u8]) -> Self {
        let mut edit = SetEdit {
            entries: Vec::new(),
            index: HashMap::new(),
            len: 0,
        };
        for member in members(value) {
            edit.add(&value[member]);
        }
        edit
    }

    /// Adds `member`; answers whether it is new.
    pub fn add(&mut self, member: &'a [u8]) -> bool {
        if self.index.contains_key(member) {
            return false;
        }
        self.index.insert(member, self.entries.len());
        self.entries.push(Some(member));
        self.len += 1;
        true
    }

    /// Removes `member`; answers whether it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        let Some(position) = self.index.remove(member) else {
            return false;
        };
        self.entries[position] = None;
        self.len -= 1;
        true
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut encoder = Encoder::new(self.len);
        for member in self.entries.iter().flatten() {
            encoder.bytes(member);
        }
        encoder.finish()
    }
}

/// A sorted set being edited: scores by member; sorted when encoded.
pub(crate) struct SortedSetEdit<'a> {
    scores: HashMap<&'a [u8], f64>,
}

impl<'a> SortedSetEdit<'a> {
    /// The sorted set encoded in `value` (empty for a new one).
    pub fn decode(value: &'a [u8]) -> Self {
        let scores = scored(value)
            .map(|(score, member)| (&value[member], score))
            .collect();
        SortedSetEdit { scores }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).copied()
    }

    /// Gives `member` `score`, adding it if it is new.
    pub fn set(&mut self, member: &'a [u8], score: f64) {
        self.scores.insert(member, normalize_score(score));
    }

    /// Removes `member`; answers whether it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        self.scores.remove(member).is_some()
    }

    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut entries: Vec<(f64, &[u8])> = self
            .scores
            .iter()
            .map(|(&member, &score)| (score, member))
            .collect();
        entries.sort_by(|a, b| compare_scored(*a, *b));
        let mut encoder = Encoder::new(entries.len());
        for (score, member) in entries {
            encoder.f64(score);
            encoder.bytes(member);
        }
        encoder.finish()
    }
}

/// Sorted set order: by score, then by member bytes. Scores are never NaN and never `-0`, so
/// the total order on floats agrees with their numeric order.
pub(crate) fn compare_scored(a: (f64, &[u8]), b: (f64, &[u8])) -> std::cmp::Ordering {
    a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1))
}

/// Writes an encoded collection: the count, then each entry's parts.
struct Encoder {
    buffer: Vec<u8>,
}

impl Encoder {
    fn new(count: usize) -> Self {
        let mut buffer = Vec::with_capacity(64);
        // The engine refuses values anywhere near 4 GiB, so a count always fits.
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        buffer.extend_from_slice(&count.to_le_bytes());
        Encoder { buffer }
    }

    fn bytes(&mut self, bytes: &[u8]) {
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        self.buffer.extend_from_slice(&len.to_le_bytes());
        self.buffer.extend_from_slice(bytes);
    }

    fn f64(&mut self, value: f64) {
        self.buffer.extend_from_slice(&value.to_le_bytes());
    }

    fn finish(self) -> Vec<u8> {
        self.buffer
    }
}

/// Reads entries' parts, as ranges of the encoded value, checking every length.
struct Reader<'a> {
    value: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    fn new(value: &'a [u8]) -> Self {
        Reader {
            value,
            position: COUNT_LEN.min(value.len()),
        }
    }

    fn take(&mut self, len: usize) -> Option<Range<usize>> {
        let end = self.position.checked_add(len)?;
        if end > self.value.len() {
            return None;
        }
        let range = self.position..end;
        self.position = end;
        Some(range)
    }

    fn u32(&mut self) -> Option<u32> {
        let range = self.take(4)?;
        let bytes = &self.value[range];
        Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn f64(&mut self) -> Option<f64> {
        let range = self.take(8)?;
        let mut bytes = [0; 8];
        bytes.copy_from_slice(&self.value[range]);
        Some(f64::from_le_bytes(bytes))
    }

    fn bytes(&mut self) -> Option<Range<usize>> {
        let len = self.u32()?;
        self.take(usize::try_from(len).ok()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_of(value: &[u8]) -> Vec<(&[u8], &[u8])> {
        pairs(value)
            .map(|(field, data)| (&value[field], &value[data]))
            .collect()
    }

    #[test]
    fn a_hash_keeps_insertion_order_and_an_updated_field_keeps_its_place() {
        let mut edit = HashEdit::decode(b"");
        assert!(edit.set(b"a", b"1"));
        assert!(edit.set(b"b", b"2"));
        assert!(edit.set(b"c", b"3"));
        assert!(!edit.set(b"a", b"9"));
        assert!(edit.delete(b"b"));
        assert!(!edit.delete(b"b"));
        let encoded = edit.encode();
        assert_eq!(count(&encoded), 2);
        assert_eq!(hash_of(&encoded), [(&b"a"[..], &b"9"[..]), (b"c", b"3")]);
        let mut again = HashEdit::decode(&encoded);
        assert!(again.set(b"b", b""));
        assert_eq!(again.get(b"a"), Some(&b"9"[..]));
        let encoded = again.encode();
        assert_eq!(
            hash_of(&encoded),
            [(&b"a"[..], &b"9"[..]), (b"c", b"3"), (b"b", b"")]
        );
        // count, then two length-prefixed parts per entry
        assert_eq!(encoded.len(), 4 + 3 * 8 + 3 + 2);
    }

    #[test]
    fn a_set_keeps_insertion_order() {
        let mut edit = SetEdit::decode(b"");
        assert!(edit.add(b"x"));
        assert!(edit.add(b"y"));
        assert!(!edit.add(b"x"));
        assert!(edit.remove(b"x"));
        assert!(edit.add(b"x"));
        let encoded = edit.encode();
        let members: Vec<&[u8]> = members(&encoded).map(|m| &encoded[m]).collect();
        assert_eq!(members, [&b"y"[..], b"x"]);
        assert_eq!((count(&encoded), edit.len()), (2, 2));
    }

    #[test]
    fn a_sorted_set_orders_by_score_then_member() {
        let mut edit = SortedSetEdit::decode(b"");
        edit.set(b"b", 2.0);
        edit.set(b"a", 2.0);
        edit.set(b"c", -1.5);
        edit.set(b"z", f64::NEG_INFINITY);
        edit.set(b"zero", -0.0);
        let encoded = edit.encode();
        let entries: Vec<(f64, &[u8])> = scored(&encoded).map(|(s, m)| (s, &encoded[m])).collect();
        assert_eq!(
            entries,
            [
                (f64::NEG_INFINITY, &b"z"[..]),
                (-1.5, b"c"),
                (0.0, b"zero"),
                (2.0, b"a"),
                (2.0, b"b")
            ]
        );
        assert!(entries[2].0.is_sign_positive(), "-0 is stored as 0");
        let again = SortedSetEdit::decode(&encoded);
        assert_eq!(again.score(b"c"), Some(-1.5));
        assert_eq!(again.len(), 5);
    }

    #[test]
    fn malformed_values_end_early_instead_of_panicking() {
        let mut edit = HashEdit::decode(b"");
        edit.set(b"field", b"value");
        let encoded = edit.encode();
        for cut in 0..encoded.len() {
            let truncated = &encoded[..cut];
            assert!(pairs(truncated).count() == 0);
            let _ = HashEdit::decode(truncated);
            let _ = SortedSetEdit::decode(truncated);
            let _ = SetEdit::decode(truncated);
        }
        let huge_length = [1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, b'x'];
        assert_eq!(members(&huge_length).count(), 0);
        assert_eq!(count(b"ab"), 0);
    }

    #[test]
    fn score_bounds_include_or_exclude_their_end() {
        assert!(ScoreBound::Inclusive(1.0).admits_from_below(1.0));
        assert!(!ScoreBound::Exclusive(1.0).admits_from_below(1.0));
        assert!(ScoreBound::Inclusive(1.0).admits_from_above(1.0));
        assert!(!ScoreBound::Exclusive(1.0).admits_from_above(1.0));
        assert!(ScoreBound::NEG_INFINITY.admits_from_below(f64::NEG_INFINITY));
        assert!(ScoreBound::INFINITY.admits_from_above(f64::INFINITY));
        assert!(!ScoreBound::Exclusive(f64::INFINITY).admits_from_above(f64::INFINITY));
    }
}
