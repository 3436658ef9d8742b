//! Recovery of a damaged log: a torn tail (cut at every byte offset of the last records,
//! bit flips in the last record) is cut off at the last good record and recovery goes on,
//! also when the segment goes on in preallocated zeros; zeros after the last record alone are
//! unused preallocated space, trimmed without being called torn; damage before the tail
//! stops recovery with an error naming file and offset.

mod common;

use std::path::{Path, PathBuf};

use common::{T0, config, dump, open};
use sessiond_engine::{Expiry, Key, Store, StoreMode};
use sessiond_storage::{FileStatus, FsyncPolicy, StorageError, check_data, record};

/// Where a segment's records start: after its 24-byte header.
const SEGMENT_HEADER: usize = 24;
const RECORDS: usize = 12;
/// Zeros after the written bytes, as a preallocated segment has them.
const PREALLOCATED: usize = 8192;

/// A data directory holding one segment of `RECORDS` stores of `key-<i>`, and where each
/// record starts in it.
fn written_log() -> (tempfile::TempDir, PathBuf, Vec<usize>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, storage, _) = open(config(dir.path(), FsyncPolicy::No), T0);
    for i in 0..RECORDS {
        let name = format!("key-{i}");
        let value = vec![b'v'; 10 + 37 * i];
        let store = Store::new(
            Key::default_namespace(name.as_bytes()),
            &value,
            0,
            Expiry::Never,
            StoreMode::Set,
        );
        engine.run(&store, T0).expect("stored");
    }
    storage.shutdown().expect("shutdown");
    let segment = only_segment(dir.path());
    let bytes = std::fs::read(&segment).expect("read");
    let mut starts = Vec::new();
    let mut at = SEGMENT_HEADER;
    while at < bytes.len() {
        starts.push(at);
        let (_, used) = record::decode(&bytes[at..]).expect("a good record");
        at += used;
    }
    assert_eq!(starts.len(), RECORDS);
    (dir, segment, starts)
}

fn only_segment(dir: &Path) -> PathBuf {
    // Recovery started a fresh (empty) segment; the records are in the first.
    common::segments(dir).remove(0)
}

/// A fresh data directory holding only a segment with `bytes`, named as `segment`.
fn dir_with(segment: &Path, bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(segment.file_name().expect("name"));
    std::fs::write(&path, bytes).expect("write");
    (dir, path)
}

/// The names of the keys in the recovered store of `dir`, recovery's report, and the
/// segment's length afterwards.
fn recover(dir: &Path, segment: &Path) -> (Vec<String>, sessiond_storage::RecoveryReport, u64) {
    let (engine, storage, report) = open(config(dir, FsyncPolicy::No), T0);
    let mut keys: Vec<String> = dump(&engine)
        .items
        .into_iter()
        .map(|item| String::from_utf8(item.key).expect("utf-8"))
        .collect();
    keys.sort_by_key(|key| key[4..].parse::<usize>().expect("number"));
    storage.shutdown().expect("shutdown");
    let len = std::fs::metadata(segment).map_or(0, |meta| meta.len());
    (keys, report, len)
}

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("key-{i}")).collect()
}

#[test]
fn a_cut_at_every_byte_of_the_last_records_loses_only_the_cut_records() {
    let (_original, segment, starts) = written_log();
    let bytes = std::fs::read(&segment).expect("read");
    for cut in starts[RECORDS - 3]..=bytes.len() {
        let (dir, path) = dir_with(&segment, &bytes[..cut]);
        // The records wholly before the cut, and where the last of them ends.
        let whole = (1..=RECORDS)
            .filter(|&n| starts.get(n).copied().unwrap_or(bytes.len()) <= cut)
            .count();
        let boundary = starts.get(whole).copied().unwrap_or(bytes.len());
        let check = check_data(dir.path()).expect("check");
        assert!(check.recoverable(), "cut {cut}: {check}");
        assert_eq!(
            check.would_truncate.as_ref().map(|cut| cut.offset as usize),
            (cut != boundary).then_some(boundary),
            "cut {cut}: {check}"
        );
        let (found, report, len) = recover(dir.path(), &path);
        assert_eq!(found, keys(whole), "cut {cut}");
        assert_eq!(len as usize, boundary, "cut {cut}");
        match report.truncation {
            Some(truncation) => {
                assert_eq!(truncation.offset as usize, boundary);
                assert_eq!(truncation.bytes as usize, cut - boundary);
                assert_eq!(truncation.file, path);
            }
            None => assert_eq!(cut, boundary),
        }
        // The store recovered again, with the tail gone, is the same.
        assert_eq!(
            recover(dir.path(), &path).0,
            keys(whole),
            "cut {cut}, again"
        );
    }
}

#[test]
fn a_flipped_bit_in_the_last_record_is_a_torn_tail() {
    let (_original, segment, starts) = written_log();
    let bytes = std::fs::read(&segment).expect("read");
    let last = starts[RECORDS - 1];
    for at in last..bytes.len() {
        let mut bad = bytes.clone();
        bad[at] ^= 1 << (at % 8);
        let (dir, path) = dir_with(&segment, &bad);
        let (found, report, len) = recover(dir.path(), &path);
        assert_eq!(found, keys(RECORDS - 1), "flip at {at}");
        assert_eq!(len as usize, last);
        assert_eq!(report.truncation.map(|t| t.offset as usize), Some(last));
    }
}

#[test]
fn trailing_zeros_are_preallocated_space_trimmed_without_a_warning() {
    let (_original, segment, _) = written_log();
    let mut bytes = std::fs::read(&segment).expect("read");
    let good = bytes.len();
    bytes.resize(good + PREALLOCATED, 0);
    let (dir, path) = dir_with(&segment, &bytes);
    let check = check_data(dir.path()).expect("check");
    assert!(check.recoverable(), "{check}");
    assert_eq!(check.would_truncate, None, "{check}");
    assert_eq!(
        check.files[0].status,
        FileStatus::PreallocatedTail {
            offset: good as u64,
            bytes: PREALLOCATED as u64
        }
    );
    assert!(check.to_string().contains("preallocated space"), "{check}");
    let (found, report, len) = recover(dir.path(), &path);
    assert_eq!(found, keys(RECORDS));
    assert_eq!(len as usize, good, "trimmed");
    assert_eq!(report.truncation, None, "not a torn tail");
}

#[test]
fn a_write_torn_into_preallocated_space_loses_only_that_record() {
    let (_original, segment, starts) = written_log();
    let bytes = std::fs::read(&segment).expect("read");
    let last = starts[RECORDS - 1];
    for cut in last..=bytes.len() {
        // A crash while the last record was being written over the zeros.
        let mut torn = bytes[..cut].to_vec();
        torn.resize(bytes.len() + PREALLOCATED, 0);
        let (dir, path) = dir_with(&segment, &torn);
        // A record that ends in zeros is whole once its last non-zero byte is written.
        let (whole, boundary) = if bytes[cut..].iter().all(|&b| b == 0) {
            (RECORDS, bytes.len())
        } else {
            (RECORDS - 1, last)
        };
        // Whether any of the record's bytes reached the file: if so, it is a torn tail.
        let written = torn[boundary..].iter().any(|&b| b != 0);
        let check = check_data(dir.path()).expect("check");
        assert!(check.recoverable(), "cut {cut}: {check}");
        assert_eq!(
            check.would_truncate.as_ref().map(|cut| cut.offset as usize),
            written.then_some(boundary),
            "cut {cut}: {check}"
        );
        let (found, report, len) = recover(dir.path(), &path);
        assert_eq!(found, keys(whole), "cut {cut}");
        assert_eq!(len as usize, boundary, "cut {cut}");
        assert_eq!(
            report
                .truncation
                .map(|t| (t.offset as usize, t.bytes as usize)),
            written.then_some((boundary, torn.len() - boundary)),
            "cut {cut}"
        );
    }
}

#[test]
fn a_flipped_bit_in_the_last_record_before_preallocated_zeros_is_a_torn_tail() {
    let (_original, segment, starts) = written_log();
    let bytes = std::fs::read(&segment).expect("read");
    let last = starts[RECORDS - 1];
    for at in last..bytes.len() {
        let mut bad = bytes.clone();
        bad[at] ^= 1 << (at % 8);
        bad.resize(bytes.len() + PREALLOCATED, 0);
        let (dir, path) = dir_with(&segment, &bad);
        let (found, report, len) = recover(dir.path(), &path);
        assert_eq!(found, keys(RECORDS - 1), "flip at {at}");
        assert_eq!(len as usize, last);
        assert_eq!(report.truncation.map(|t| t.offset as usize), Some(last));
    }
}

#[test]
fn damage_before_the_tail_stops_recovery_and_changes_nothing() {
    let (_original, segment, starts) = written_log();
    let bytes = std::fs::read(&segment).expect("read");
    for (record, padding) in [
        (0, 0),
        (4, PREALLOCATED),
        (RECORDS - 2, 0),
        (RECORDS - 2, PREALLOCATED),
    ] {
        for at in [starts[record], starts[record] + 5, starts[record] + 30] {
            let mut bad = bytes.clone();
            bad[at] ^= 0x40;
            bad.resize(bytes.len() + padding, 0);
            let (dir, path) = dir_with(&segment, &bad);
            let check = check_data(dir.path()).expect("check");
            assert!(!check.recoverable(), "flip at {at}: {check}");
            let engine = sessiond_engine::Engine::new(sessiond_engine::EngineConfig::default());
            let error = sessiond_storage::open(
                config(dir.path(), FsyncPolicy::No),
                std::sync::Arc::new(sessiond_storage::StdFs),
                &engine,
                T0,
            )
            .expect_err("corruption stops recovery");
            let StorageError::Corrupt { file, offset, .. } = &error else {
                panic!("flip at {at}: {error}");
            };
            assert_eq!((file, *offset as usize), (&path, starts[record]));
            let message = error.to_string();
            assert!(message.contains("sessiond check-data"), "{message}");
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert_eq!(std::fs::read(&path).expect("read"), bad, "nothing cut");
        }
    }
}

#[test]
fn a_bad_record_at_the_end_of_a_segment_that_is_not_the_last_is_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    for round in 0..2 {
        let (engine, storage, _) = open(config(dir.path(), FsyncPolicy::No), T0);
        let name = format!("round-{round}");
        let store = Store::new(
            Key::default_namespace(name.as_bytes()),
            b"v",
            0,
            Expiry::Never,
            StoreMode::Set,
        );
        engine.run(&store, T0).expect("stored");
        storage.shutdown().expect("shutdown");
    }
    let first = only_segment(dir.path());
    let mut bytes = std::fs::read(&first).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&first, &bytes).expect("write");
    let engine = sessiond_engine::Engine::new(sessiond_engine::EngineConfig::default());
    let error = sessiond_storage::open(
        config(dir.path(), FsyncPolicy::No),
        std::sync::Arc::new(sessiond_storage::StdFs),
        &engine,
        T0,
    )
    .expect_err("not the last segment");
    assert!(
        matches!(&error, StorageError::Corrupt { file, .. } if *file == first),
        "{error}"
    );
}
