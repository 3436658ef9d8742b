//! Fuzzes recovery: a data directory holding a log segment (and perhaps a snapshot) built
//! from the input must be either recovered or refused with an error, never panic; the offline
//! check (`sessiond check-data`) must predict which; and a directory recovery accepted (after
//! cutting a torn tail, say) must open again to the same store.
//!
//! Input: `mode:u8 | first_lsn:u8 | chunks...`, each chunk `len:u8 | bytes`. Each chunk
//! becomes a record body with the next lsn and a valid checksum, so the fuzzer reaches the
//! payload checks, the lsn sequence and the tail logic instead of stopping at the first
//! checksum; whatever is left after the chunks is appended raw (a torn or corrupt tail, or
//! zeros of preallocated space). `mode` bit 0 puts the chunks into a snapshot instead, bit 4
//! into both a snapshot and the segment after it, bit 1 breaks the segment header, bit 2
//! skips an lsn once, bit 5 frames the rest as records too, numbered from 1, as the old
//! records a reused segment holds after its new ones. In a snapshot the raw rest goes
//! between the records and the footer, and bit 3 leaves it out of the footer's checksum, so
//! both a footer that matches damaged records and one that does not are tried.

#![no_main]

mod scratch;

use std::path::Path;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use sessiond_engine::{Engine, EngineConfig, SHARD_COUNT, Timestamp};
use sessiond_storage::record::{FORMAT_VERSION, PREFIX_LEN};
use sessiond_storage::{FsyncPolicy, StdFs, StorageConfig, check_data, open};

/// The record kinds a snapshot's footer counts (see `sessiond_storage::record`).
const KIND_PUT: u8 = 1;
const KIND_FLUSH: u8 = 4;

/// 2023-11-14: a fixed "now", so expiry during recovery is deterministic.
const NOW: Timestamp = Timestamp::from_secs(1_700_000_000);

fuzz_target!(|data: &[u8]| {
    let [mode, first, rest @ ..] = data else {
        return;
    };
    let first_lsn = u64::from(*first) + 1;
    let both = mode & 16 != 0;
    let snapshot = mode & 1 != 0 || both;
    let segment = mode & 1 == 0 || both;
    let skip = mode & 4 != 0;
    let Some(dir) = scratch::dir() else {
        return;
    };
    if snapshot {
        // A snapshot numbers its records from 1. Followed by a segment, it is whole, so that
        // recovery goes on to the segment, which gets the raw rest.
        let (records, tail) = chunks(rest, 1, skip);
        let tail = if both { &[][..] } else { tail };
        write_snapshot(dir.path(), first_lsn, &records, tail, mode & 8 != 0);
    }
    if segment {
        // A segment's records are numbered from its first lsn: after a snapshot at that lsn,
        // they replay the same effects over the snapshot's items, as assignments.
        let (records, tail) = chunks(rest, first_lsn, skip);
        let mut bytes = segment_header(first_lsn);
        if mode & 2 != 0 {
            bytes[9] ^= 0x5a;
        }
        bytes.extend_from_slice(&records);
        if mode & 32 != 0 {
            let (old, tail) = chunks(tail, 1, false);
            bytes.extend_from_slice(&old);
            bytes.extend_from_slice(tail);
        } else {
            bytes.extend_from_slice(tail);
        }
        let name = format!("wal-{first_lsn:020}.log");
        std::fs::write(dir.path().join(name), bytes).expect("write segment");
    }

    let check = check_data(dir.path()).expect("the directory can be listed");
    let first_store = recover(dir.path());
    assert_eq!(
        check.recoverable(),
        first_store.is_some(),
        "check-data and recovery disagree: {check:?}"
    );
    if let Some(first_store) = first_store {
        let second_store = recover(dir.path()).expect("a recovered directory opens again");
        assert_eq!(
            first_store, second_store,
            "a second recovery changed the store"
        );
    }
});

/// Frames each chunk as a record body with the next lsn; returns the records and what is
/// left of the input after the last whole chunk.
fn chunks(mut rest: &[u8], first_lsn: u64, skip_one: bool) -> (Vec<u8>, &[u8]) {
    let mut out = Vec::new();
    let mut lsn = first_lsn;
    while let Some((&len, after)) = rest.split_first() {
        let len = usize::from(len);
        let Some(chunk) = after.get(..len) else {
            break;
        };
        let Some((&kind, payload)) = chunk.split_first() else {
            // A zero-length chunk ends the records: the rest is the tail.
            rest = after;
            break;
        };
        let mut body = vec![FORMAT_VERSION, kind % 5];
        body.extend_from_slice(&lsn.to_le_bytes());
        body.extend_from_slice(payload);
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        out.extend_from_slice(&body);
        lsn += if skip_one && lsn == first_lsn + 1 {
            2
        } else {
            1
        };
        rest = &after[len..];
    }
    (out, rest)
}

/// A segment header (`magic | version | 0:u24 | first_lsn | crc32`).
fn segment_header(first_lsn: u64) -> Vec<u8> {
    let mut header = Vec::with_capacity(24);
    header.extend_from_slice(b"SESSDWAL");
    header.extend_from_slice(&[FORMAT_VERSION, 0, 0, 0]);
    header.extend_from_slice(&first_lsn.to_le_bytes());
    let crc = crc32fast::hash(&header);
    header.extend_from_slice(&crc.to_le_bytes());
    header
}

/// A snapshot at `lsn` holding `records` and then `tail`, its footer counting the `Put`
/// records as items and the `Flush` records as flushes, as the writer counts them, with the
/// checksum of the records and, unless `tail_unsummed`, the tail.
fn write_snapshot(dir: &Path, lsn: u64, records: &[u8], tail: &[u8], tail_unsummed: bool) {
    let mut file = Vec::new();
    file.extend_from_slice(b"SESSDSNP");
    file.extend_from_slice(&[FORMAT_VERSION, 0, 0, 0]);
    file.extend_from_slice(&lsn.to_le_bytes());
    file.extend_from_slice(&NOW.as_millis().to_le_bytes());
    let crc = crc32fast::hash(&file);
    file.extend_from_slice(&crc.to_le_bytes());
    file.extend_from_slice(records);
    file.extend_from_slice(tail);
    let mut summed = crc32fast::Hasher::new();
    summed.update(records);
    if !tail_unsummed {
        summed.update(tail);
    }
    let (mut items, mut flushes) = (0u64, 0u64);
    let mut at = 0;
    while let Some(prefix) = records.get(at..at + PREFIX_LEN + 2) {
        match prefix[PREFIX_LEN + 1] {
            KIND_PUT => items += 1,
            KIND_FLUSH => flushes += 1,
            _ => {}
        }
        let len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        at += PREFIX_LEN + len as usize;
    }
    let mut footer = Vec::new();
    footer.extend_from_slice(b"SESSDEND");
    footer.extend_from_slice(&items.to_le_bytes());
    footer.extend_from_slice(&flushes.to_le_bytes());
    footer.extend_from_slice(&summed.finalize().to_le_bytes());
    let crc = crc32fast::hash(&footer);
    footer.extend_from_slice(&crc.to_le_bytes());
    file.extend_from_slice(&footer);
    let name = format!("snapshot-{lsn:020}.snap");
    std::fs::write(dir.join(name), file).expect("write snapshot");
}

/// A recovered item or pending delayed flush, everything recovery restores, as the log
/// would record it.
type Item = String;

/// Every item and pending flush, sorted, after recovering `dir`; `None` when recovery
/// refused it.
fn recover(dir: &Path) -> Option<Vec<Item>> {
    let engine = Engine::new(EngineConfig::default());
    let config = StorageConfig {
        fsync: FsyncPolicy::No,
        ..StorageConfig::new(dir)
    };
    let (storage, _) = open(config, Arc::new(StdFs), &engine, NOW).ok()?;
    storage.shutdown().expect("shutdown");
    let mut items = Vec::new();
    for shard in 0..SHARD_COUNT {
        let copy = engine.snapshot_shard(shard);
        for item in &copy.items {
            items.push(format!("{:?}", item.state()));
        }
        for (namespace, at) in &copy.pending_flushes {
            items.push(format!("flush {shard} {namespace:?} {at:?}"));
        }
    }
    items.sort();
    Some(items)
}
