//! A log segment's format, and reading one back: where its good records end and what the
//! bytes after them are (nothing, unused preallocated space, a torn tail, a superseded tail,
//! or corruption).
//!
//! A segment is a 24-byte header, `magic:8 | format_version:u8 | 0:u24 | first_lsn:u64le |
//! crc32:u32le` (the checksum covers the 20 bytes before it), then records with consecutive
//! lsns from `first_lsn` on.
//!
//! The writer preallocates a segment to the segment size when it creates it (so records
//! overwrite zeros instead of extending the file), so a segment that was not filled ends in
//! zeros. Zeros where the next record would start, and only zeros up to the end, are space
//! that was never written: a clean end, not a torn one (a record is never all zeros: its
//! length is not zero). Anything else that is not the next record is judged as before: a
//! record is taken only if it decodes, its checksum matches and its lsn is exactly the next
//! one, so nothing left in a file (a record of another segment, an old lsn) is ever replayed;
//! bytes that are not zeros make a torn tail, or damage if a valid record follows them.
//!
//! A segment may also be a reused one: a file a snapshot retired, given a new header and
//! written over from its start (see [`crate::StorageConfig::recycled_segments`]). After its
//! last new record come the old records' bytes: from the middle of one, or, where the new
//! records happen to end on an old boundary, a whole old record, valid but with a lower lsn
//! than the next one (every old lsn is below the new header's). Neither is ever replayed. In
//! the last segment they make a torn tail that recovery cuts off (with a warning: a partial
//! new record looks the same); in any other they are superseded, as below. A valid record
//! with a *higher* lsn than the next one is still damage, wherever it is.
//!
//! A segment that is followed by another holds the records below the next one's first lsn;
//! anything after those is *superseded*. That is how the writer recovers from a failed fsync:
//! it cannot trust the file's tail any more, so it writes the records that were not yet
//! durable again into a new segment, which then takes precedence over the old tail.

use crate::record::{self, DecodeError, Record};

/// The bytes a segment starts with.
pub const MAGIC: [u8; 8] = *b"SESSDWAL";

/// The length of a segment's header.
pub const HEADER_LEN: usize = 24;

/// The header of a segment whose first record has `first_lsn`.
pub fn header(first_lsn: u64) -> [u8; HEADER_LEN] {
    let mut header = [0; HEADER_LEN];
    header[..8].copy_from_slice(&MAGIC);
    header[8] = record::FORMAT_VERSION;
    header[12..20].copy_from_slice(&first_lsn.to_le_bytes());
    let crc = crc32fast::hash(&header[..20]);
    header[20..].copy_from_slice(&crc.to_le_bytes());
    header
}

/// How a segment's bytes end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SegmentEnd {
    /// After its last record.
    Clean,
    /// After its last record, with zeros up to the end: preallocated space no record was
    /// written into. Harmless; recovery trims it.
    Preallocated {
        /// Where it starts.
        offset: u64,
        /// How many bytes.
        bytes: u64,
    },
    /// With bytes after the records the next segment takes over: left by the writer after a
    /// write or fsync error, harmless.
    Superseded {
        /// Where they start.
        offset: u64,
        /// How many.
        bytes: u64,
    },
    /// With a torn tail (the last segment only): a partial record, a bad record with nothing
    /// valid after it (perhaps followed by preallocated zeros). Recovery cuts it off.
    Torn {
        /// Where the last good record ends: the segment is cut there.
        offset: u64,
        /// How many bytes are cut.
        bytes: u64,
        /// What was found there.
        reason: String,
    },
    /// With damage recovery must not cut off: valid records after a bad one, a bad record in
    /// a segment that is not the last, a gap in lsns, a bad header.
    Corrupt {
        /// Where the damage starts.
        offset: u64,
        /// What is wrong.
        problem: String,
    },
}

/// What reading a segment found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentScan {
    /// The good records.
    pub records: u64,
    /// The lsn of the last good record.
    pub last_lsn: Option<u64>,
    /// How the bytes end.
    pub end: SegmentEnd,
}

/// Reads the segment `bytes`, named for `first_lsn`, calling `each` on every good record in
/// order. `next_first` is the first lsn of the segment after it, `None` for the last segment.
pub fn scan(
    bytes: &[u8],
    first_lsn: u64,
    next_first: Option<u64>,
    mut each: impl FnMut(&Record<'_>),
) -> SegmentScan {
    let mut scan = SegmentScan {
        records: 0,
        last_lsn: None,
        end: SegmentEnd::Clean,
    };
    let is_last = next_first.is_none();
    if let Err(problem) = check_header(bytes, first_lsn) {
        // A crash while the segment was being created leaves a short or zeroed header.
        let blank = bytes.len() < HEADER_LEN || zeros_from(bytes) == 0;
        scan.end = if is_last && blank {
            SegmentEnd::Torn {
                offset: 0,
                bytes: bytes.len() as u64,
                reason: problem,
            }
        } else {
            SegmentEnd::Corrupt { offset: 0, problem }
        };
        return scan;
    }
    let mut at = HEADER_LEN;
    let mut expected = first_lsn;
    loop {
        if next_first == Some(expected) {
            if at < bytes.len() {
                let (offset, rest) = (at as u64, (bytes.len() - at) as u64);
                scan.end = if zeros_from(bytes) <= at {
                    SegmentEnd::Preallocated {
                        offset,
                        bytes: rest,
                    }
                } else {
                    SegmentEnd::Superseded {
                        offset,
                        bytes: rest,
                    }
                };
            }
            return scan;
        }
        if at == bytes.len() {
            if let Some(next) = next_first {
                scan.end = missing(at, expected, next, "the segment ends");
            }
            return scan;
        }
        let rest = &bytes[at..];
        let problem = match record::decode(rest) {
            Ok((record, used)) if record.lsn == expected => {
                each(&record);
                scan.records += 1;
                scan.last_lsn = Some(expected);
                expected += 1;
                at += used;
                continue;
            }
            Ok((record, _)) if record.lsn > expected => {
                scan.end = SegmentEnd::Corrupt {
                    offset: at as u64,
                    problem: format!("expected lsn {expected}, found lsn {}", record.lsn),
                };
                return scan;
            }
            // Where a reused segment's new records end, its old ones can start exactly.
            Ok((record, _)) => format!(
                "a record (lsn {}) left from the file's earlier use",
                record.lsn
            ),
            Err(error) => describe(error),
        };
        // Where the bytes that are not zeros end: past it lies preallocated space that no
        // write reached, and no record can start there.
        let written = zeros_from(bytes);
        if written <= at {
            scan.end = match next_first {
                None => SegmentEnd::Preallocated {
                    offset: at as u64,
                    bytes: rest.len() as u64,
                },
                Some(next) => missing(at, expected, next, "the records give way to zeros"),
            };
            return scan;
        }
        scan.end = match valid_record_after(bytes, at, written, expected) {
            None if is_last => {
                let mut reason = problem;
                if written < bytes.len() {
                    reason.push_str(&format!(
                        " over {} bytes, then {} bytes of preallocated zeros",
                        written - at,
                        bytes.len() - written
                    ));
                }
                SegmentEnd::Torn {
                    offset: at as u64,
                    bytes: rest.len() as u64,
                    reason,
                }
            }
            None => SegmentEnd::Corrupt {
                offset: at as u64,
                problem: format!(
                    "{problem} in a segment that is not the last (records {expected} on are needed)"
                ),
            },
            Some(valid) => SegmentEnd::Corrupt {
                offset: at as u64,
                problem: format!(
                    "{problem}, followed by a valid record (lsn {}) at byte {}",
                    valid.1, valid.0
                ),
            },
        };
        return scan;
    }
}

/// The gap between a segment whose records stop before lsn `expected` (at byte `at`, where
/// `what`) and the next segment, which starts at lsn `next`.
fn missing(at: usize, expected: u64, next: u64, what: &str) -> SegmentEnd {
    SegmentEnd::Corrupt {
        offset: at as u64,
        problem: format!(
            "{what} before lsn {expected} but the next one starts at lsn {next}: records {expected} to {} are missing",
            next - 1
        ),
    }
}

/// Where the run of zeros that ends `bytes` starts (`bytes.len()` if the last byte is not
/// zero). Word by word: a preallocated segment's zero tail can be tens of megabytes.
pub(crate) fn zeros_from(bytes: &[u8]) -> usize {
    const WORD: usize = 64;
    let mut end = bytes.len();
    while end >= WORD && bytes[end - WORD..end].iter().fold(0, |any, &b| any | b) == 0 {
        end -= WORD;
    }
    bytes[..end]
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |last| last + 1)
}

/// Checks the segment header against the name's lsn.
fn check_header(bytes: &[u8], first_lsn: u64) -> Result<(), String> {
    let Some(found) = bytes.get(..HEADER_LEN) else {
        return Err(format!(
            "header cut short ({} of {HEADER_LEN} bytes)",
            bytes.len()
        ));
    };
    if found[..8] != MAGIC {
        return Err("not a sessiond log segment (bad magic)".to_owned());
    }
    let crc = u32::from_le_bytes([found[20], found[21], found[22], found[23]]);
    if crc32fast::hash(&found[..20]) != crc {
        return Err("header checksum mismatch".to_owned());
    }
    if found[8] != record::FORMAT_VERSION {
        return Err(format!("unknown segment format version {}", found[8]));
    }
    let mut lsn = [0; 8];
    lsn.copy_from_slice(&found[12..20]);
    let lsn = u64::from_le_bytes(lsn);
    if lsn != first_lsn {
        return Err(format!(
            "header says the first lsn is {lsn}, the file name says {first_lsn}"
        ));
    }
    Ok(())
}

/// The offset and lsn of a valid record at or after `expected` somewhere after the bad one
/// at `at`, if there is one: then the bad record is damage in the middle of the log, not a
/// torn end. The search starts right after the bad record's first byte, not after its
/// claimed length, because a damaged length could jump over the records that follow. (So
/// a value that embeds a well-formed record with a fitting lsn, cut by a crash mid-write,
/// makes recovery refuse rather than cut: a stop with an explanation, never a silent loss.)
/// It stops at `written`, where the zeros that end the segment start: a record's length is
/// never zero, so none starts in them. Records with lower lsns are old ones (never replayed)
/// and do not count.
fn valid_record_after(
    bytes: &[u8],
    at: usize,
    written: usize,
    expected: u64,
) -> Option<(usize, u64)> {
    (at + 1..written).find_map(|offset| {
        let rest = &bytes[offset..];
        if !record::plausible_start(rest) {
            return None;
        }
        match record::decode(rest) {
            Ok((record, _)) if record.lsn >= expected => Some((offset, record.lsn)),
            _ => None,
        }
    })
}

fn describe(error: DecodeError) -> String {
    match error {
        DecodeError::Incomplete { .. } => format!("a partial record ({error})"),
        DecodeError::BadLength(0) => "zeros where a record should start".to_owned(),
        other => format!("a bad record ({other})"),
    }
}

#[cfg(test)]
mod tests {
    use sessiond_engine::{Change, Effect, Key, NamespaceId, Timestamp};

    use super::*;

    fn segment(first: u64, count: u64) -> (Vec<u8>, Vec<usize>) {
        let mut bytes = header(first).to_vec();
        let mut starts = Vec::new();
        for lsn in first..first + count {
            starts.push(bytes.len());
            let name = format!("key-{lsn}");
            let effect = Effect {
                time: Timestamp::from_millis(lsn),
                change: Change::Remove(Key::new(NamespaceId(0), name.as_bytes())),
            };
            record::encode(lsn, &effect, &mut bytes);
        }
        (bytes, starts)
    }

    fn lsns(bytes: &[u8], first: u64, next: Option<u64>) -> (Vec<u64>, SegmentEnd) {
        let mut seen = Vec::new();
        let scan = scan(bytes, first, next, |record| seen.push(record.lsn));
        (seen, scan.end)
    }

    #[test]
    fn a_whole_segment_reads_clean() {
        let (bytes, _) = segment(5, 3);
        assert_eq!(lsns(&bytes, 5, None), (vec![5, 6, 7], SegmentEnd::Clean));
        assert_eq!(lsns(&bytes, 5, Some(8)), (vec![5, 6, 7], SegmentEnd::Clean));
    }

    #[test]
    fn every_cut_of_the_last_segment_is_a_torn_tail_at_the_last_whole_record() {
        let (bytes, starts) = segment(1, 4);
        for cut in starts[2]..bytes.len() {
            let (seen, end) = lsns(&bytes[..cut], 1, None);
            let whole = starts.iter().filter(|&&start| start < cut).count() as u64 - 1;
            let whole = if starts.contains(&cut) {
                whole + 1
            } else {
                whole
            };
            assert_eq!(seen, (1..=whole).collect::<Vec<_>>(), "cut at {cut}");
            if starts.contains(&cut) {
                assert_eq!(end, SegmentEnd::Clean);
            } else {
                assert!(
                    matches!(end, SegmentEnd::Torn { offset, .. } if offset as usize == starts[whole as usize]),
                    "cut at {cut}: {end:?}"
                );
            }
        }
    }

    #[test]
    fn trailing_zeros_are_preallocated_space_not_a_torn_tail() {
        let (mut bytes, _) = segment(1, 2);
        let good = bytes.len() as u64;
        bytes.extend_from_slice(&[0; 4096]);
        let preallocated = SegmentEnd::Preallocated {
            offset: good,
            bytes: 4096,
        };
        assert_eq!(lsns(&bytes, 1, None), (vec![1, 2], preallocated.clone()));
        // Followed by another segment, too (one the writer gave up after an error).
        assert_eq!(lsns(&bytes, 1, Some(3)), (vec![1, 2], preallocated));
        // A segment created and never written.
        let mut empty = header(7).to_vec();
        empty.resize(1 << 20, 0);
        assert_eq!(
            lsns(&empty, 7, None),
            (
                vec![],
                SegmentEnd::Preallocated {
                    offset: HEADER_LEN as u64,
                    bytes: (1 << 20) - HEADER_LEN as u64
                }
            )
        );
    }

    #[test]
    fn a_write_torn_anywhere_in_preallocated_space_is_a_torn_tail_at_the_record() {
        let (full, starts) = segment(1, 3);
        let last = starts[2];
        for cut in last..full.len() {
            // What a crash in the middle of writing the last record leaves: its first bytes,
            // then the zeros that were there.
            let mut bytes = full[..cut].to_vec();
            bytes.resize(full.len() + 8192, 0);
            let (seen, end) = lsns(&bytes, 1, None);
            assert_eq!(seen, vec![1, 2], "cut at {cut}");
            let rest = (bytes.len() - last) as u64;
            if full[last..cut].iter().all(|&b| b == 0) {
                // Nothing of it got written, as far as anyone can tell.
                assert_eq!(
                    end,
                    SegmentEnd::Preallocated {
                        offset: last as u64,
                        bytes: rest
                    },
                    "cut at {cut}"
                );
            } else {
                assert!(
                    matches!(&end, SegmentEnd::Torn { offset, bytes, reason }
                        if *offset == last as u64 && *bytes == rest && reason.contains("preallocated")),
                    "cut at {cut}: {end:?}"
                );
            }
            // Not the last segment: the records after it are missing.
            assert!(
                matches!(lsns(&bytes, 1, Some(4)).1, SegmentEnd::Corrupt { offset, .. } if offset == last as u64),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn zeros_before_a_valid_record_are_damage_not_an_end() {
        // A page of the middle of the log that never reached the disk, later ones that did.
        let (mut bytes, starts) = segment(1, 4);
        bytes[starts[1]..starts[2]].fill(0);
        bytes.resize(bytes.len() + 4096, 0);
        let (seen, end) = lsns(&bytes, 1, None);
        assert_eq!(seen, vec![1]);
        assert!(
            matches!(&end, SegmentEnd::Corrupt { offset, problem }
                if *offset == starts[1] as u64 && problem.contains("lsn 3")),
            "{end:?}"
        );
    }

    #[test]
    fn old_records_left_after_the_last_one_are_never_replayed() {
        // Records of an older segment (lower lsns) where record 103 belongs, whole, as a
        // reused segment has them where its new records end on an old boundary: the end of
        // the last segment's records, cut off...
        let (mut bytes, _) = segment(100, 3);
        let (old, old_starts) = segment(1, 5);
        let end_of_new = bytes.len();
        bytes.extend_from_slice(&old[old_starts[0]..]);
        let (seen, end) = lsns(&bytes, 100, None);
        assert_eq!(seen, vec![100, 101, 102]);
        assert!(
            matches!(&end, SegmentEnd::Torn { offset, bytes: cut, reason }
                if *offset == end_of_new as u64
                    && *cut == (bytes.len() - end_of_new) as u64
                    && reason.contains("(lsn 1) left from the file's earlier use")),
            "{end:?}"
        );
        // ...superseded in a segment the next one follows on from...
        assert_eq!(
            lsns(&bytes, 100, Some(103)),
            (
                vec![100, 101, 102],
                SegmentEnd::Superseded {
                    offset: end_of_new as u64,
                    bytes: (bytes.len() - end_of_new) as u64
                }
            )
        );
        // ...and damage in one the next one does not: records 103 and 104 are missing.
        assert!(
            matches!(lsns(&bytes, 100, Some(105)).1, SegmentEnd::Corrupt { offset, .. }
                if offset == end_of_new as u64),
        );
        // ...or from the middle of one of them: a torn tail, cut; the old records after it
        // are not "valid records after the damage", their lsns are too low.
        let mut bytes = bytes[..end_of_new].to_vec();
        bytes.extend_from_slice(&old[old_starts[0] + 10..]);
        bytes.resize(bytes.len() + 4096, 0);
        let (seen, end) = lsns(&bytes, 100, None);
        assert_eq!(seen, vec![100, 101, 102]);
        assert!(
            matches!(end, SegmentEnd::Torn { offset, .. } if offset == end_of_new as u64),
            "{end:?}"
        );
        // A write of record 103 torn in the middle of the old records: the same.
        let (next, next_starts) = segment(103, 1);
        let record = &next[next_starts[0]..];
        let mut bytes = bytes[..end_of_new].to_vec();
        bytes.extend_from_slice(&record[..record.len() / 2]);
        bytes.extend_from_slice(&old[old_starts[1]..]);
        let (seen, end) = lsns(&bytes, 100, None);
        assert_eq!(seen, vec![100, 101, 102]);
        assert!(
            matches!(end, SegmentEnd::Torn { offset, .. } if offset == end_of_new as u64),
            "{end:?}"
        );
    }

    #[test]
    fn a_valid_record_with_a_later_lsn_after_garbage_is_damage() {
        // An unrelated record whose lsn is not below the one expected could be a record of
        // this log after damage: recovery must stop, not cut it off.
        let (mut bytes, _) = segment(100, 2);
        let end_of_new = bytes.len();
        bytes.extend_from_slice(&[0xA5; 37]);
        let (later, later_starts) = segment(500, 1);
        bytes.extend_from_slice(&later[later_starts[0]..]);
        bytes.resize(bytes.len() + 4096, 0);
        let (seen, end) = lsns(&bytes, 100, None);
        assert_eq!(seen, vec![100, 101]);
        assert!(
            matches!(&end, SegmentEnd::Corrupt { offset, problem }
                if *offset == end_of_new as u64 && problem.contains("lsn 500")),
            "{end:?}"
        );
    }

    #[test]
    fn zeros_from_finds_where_the_trailing_zeros_start() {
        for len in [0, 1, 63, 64, 65, 200, 4096] {
            assert_eq!(zeros_from(&vec![0; len]), 0, "{len} zeros");
            for one in 0..len {
                let mut bytes = vec![0; len];
                bytes[one] = 1;
                assert_eq!(zeros_from(&bytes), one + 1, "a one at {one} of {len}");
                bytes[0] = 7;
                assert_eq!(zeros_from(&bytes), one + 1, "and at 0, of {len}");
            }
        }
    }

    #[test]
    fn a_bad_record_followed_by_good_ones_is_corruption() {
        let (mut bytes, starts) = segment(1, 4);
        bytes[starts[1] + 20] ^= 0x10;
        let (seen, end) = lsns(&bytes, 1, None);
        assert_eq!(seen, vec![1]);
        assert!(matches!(end, SegmentEnd::Corrupt { offset, .. } if offset as usize == starts[1]));
    }

    #[test]
    fn a_bad_last_record_is_corruption_when_a_segment_follows() {
        let (mut bytes, starts) = segment(1, 3);
        bytes[starts[2] + 20] ^= 0x10;
        assert!(matches!(lsns(&bytes, 1, None).1, SegmentEnd::Torn { .. }));
        assert!(matches!(
            lsns(&bytes, 1, Some(4)).1,
            SegmentEnd::Corrupt { .. }
        ));
    }

    #[test]
    fn records_the_next_segment_took_over_are_superseded() {
        let (mut bytes, starts) = segment(1, 4);
        bytes.truncate(starts[3] + 7);
        let (seen, end) = lsns(&bytes, 1, Some(3));
        assert_eq!(seen, vec![1, 2]);
        assert!(
            matches!(end, SegmentEnd::Superseded { offset, .. } if offset as usize == starts[2])
        );
    }

    #[test]
    fn a_segment_ending_before_the_next_one_starts_is_a_gap() {
        let (bytes, _) = segment(1, 2);
        assert!(matches!(
            lsns(&bytes, 1, Some(5)).1,
            SegmentEnd::Corrupt { problem, .. } if problem.contains("missing")
        ));
    }

    #[test]
    fn a_blank_or_short_header_of_the_last_segment_is_torn() {
        assert!(matches!(
            lsns(&[], 1, None).1,
            SegmentEnd::Torn { offset: 0, .. }
        ));
        assert!(matches!(
            lsns(&header(1)[..10], 1, None).1,
            SegmentEnd::Torn { offset: 0, .. }
        ));
        assert!(matches!(
            lsns(&[0; 100], 1, None).1,
            SegmentEnd::Torn { offset: 0, .. }
        ));
        assert!(matches!(
            lsns(&header(2), 1, None).1,
            SegmentEnd::Corrupt { offset: 0, .. }
        ));
        assert!(matches!(
            lsns(&[0; 100], 1, Some(3)).1,
            SegmentEnd::Corrupt { offset: 0, .. }
        ));
    }

    #[test]
    fn a_record_with_the_wrong_lsn_is_corruption() {
        let (mut bytes, _) = segment(1, 2);
        let (other, starts) = segment(9, 1);
        bytes.extend_from_slice(&other[starts[0]..]);
        assert!(
            matches!(lsns(&bytes, 1, None).1, SegmentEnd::Corrupt { problem, .. } if problem.contains("expected lsn 3"))
        );
    }
}
