//! Fuzzes the record codec of the log and snapshots: any bytes must decode or be refused
//! without a panic, and a record that decodes must encode back to exactly the bytes it was
//! decoded from (the format has one encoding per record: unknown option bits and trailing
//! bytes are refused), which decode to the same record.
//!
//! Random bytes almost never carry a matching CRC-32, so the input is also framed the way the
//! writer frames a record (length and checksum computed over it): that sends the fuzzer past
//! the checksum into the payload parser, which a corrupt-but-checksummed record (a bug, not a
//! crash) would reach.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sessiond_storage::record::{self, PREFIX_LEN};

fuzz_target!(|data: &[u8]| {
    // As found on disk.
    round_trip(data);
    let _ = record::plausible_start(data);
    if let Ok(prefix) = <[u8; PREFIX_LEN]>::try_from(data.get(..PREFIX_LEN).unwrap_or(&[])) {
        let _ = record::body_len(prefix);
    }

    // As a checksummed body.
    let mut framed = Vec::with_capacity(PREFIX_LEN + data.len());
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    framed.extend_from_slice(&len.to_le_bytes());
    framed.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    framed.extend_from_slice(data);
    if let Some(used) = round_trip(&framed) {
        assert_eq!(used, framed.len(), "a framed record is taken whole");
    }
});

/// Decodes `bytes`; if they hold a record, checks that encoding it and decoding that gives
/// the same record, and returns how many bytes it took.
fn round_trip(bytes: &[u8]) -> Option<usize> {
    let (decoded, used) = record::decode(bytes).ok()?;
    assert!(used <= bytes.len());
    let mut encoded = Vec::new();
    record::encode(decoded.lsn, &decoded.effect, &mut encoded);
    assert_eq!(
        encoded,
        bytes[..used],
        "a record's encoding is not the bytes it came from"
    );
    let (again, again_used) = record::decode(&encoded).expect("an encoded record decodes");
    assert_eq!(again, decoded);
    assert_eq!(again_used, encoded.len());
    Some(used)
}
