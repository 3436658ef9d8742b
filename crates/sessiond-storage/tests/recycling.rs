//! Files a snapshot makes unnecessary are reused instead of removed: up to
//! `recycled_segments` retired log segments are written over as later segments, and the
//! snapshot a newer one replaces is written over by the next snapshot. What is left of the
//! old contents is never replayed, after a clean stop or a crash.

mod common;

use std::path::Path;

use common::{Dump, Rng, T0, config, copy_of, dump, open, segments, wait_until, workload};
use sessiond_engine::{Engine, Timestamp};
use sessiond_storage::{FsyncPolicy, Storage, StorageConfig, check_data};

/// Segments of 16 KiB, so a few hundred commands fill several.
fn small_segments(dir: &Path) -> StorageConfig {
    StorageConfig {
        segment_size: 16 << 10,
        ..config(dir, FsyncPolicy::EverySec)
    }
}

/// Runs `count` workload commands and waits until the log has written them all.
fn run(engine: &Engine, storage: &Storage, rng: &mut Rng, count: usize, now: &mut Timestamp) {
    let journal = storage.journal();
    for _ in 0..count / 100 {
        workload(engine, rng, 100, now);
        wait_until("the writer to catch up", || {
            journal.written_lsn() + 1 == journal.next_lsn()
        });
    }
}

/// What recovery at `now` must give back: the store without what expired by then.
fn expected_at(engine: &Engine, now: Timestamp) -> Dump {
    engine.expire_due(now, usize::MAX);
    dump(engine)
}

fn files_ending(dir: &Path, extension: &str) -> usize {
    common::files_with_extension(dir, extension).len()
}

/// The bytes of the last segment past its last record are not all zeros: it is a reused
/// file with old records behind the new ones.
fn holds_old_bytes(path: &Path) -> bool {
    let bytes = std::fs::read(path).expect("read");
    let mut at = 24;
    while let Ok((_, used)) = sessiond_storage::record::decode(&bytes[at..]) {
        at += used;
    }
    bytes[at..].iter().any(|&b| b != 0)
}

#[test]
fn retired_segments_are_written_over_as_later_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = StorageConfig {
        recycled_segments: 3,
        ..small_segments(dir.path())
    };
    let (engine, storage, _) = open(config.clone(), T0);
    let (mut rng, mut now) = (Rng::new(11), T0);
    run(&engine, &storage, &mut rng, 1000, &mut now);
    let snapshot = storage.snapshot(&engine, now).expect("snapshot");
    assert!(snapshot.removed_segments > 3, "{snapshot:?}");
    assert_eq!(
        files_ending(dir.path(), "wal"),
        3,
        "no more than configured"
    );

    // The next segments take the kept files, one by one.
    let before = segments(dir.path()).len();
    run(&engine, &storage, &mut rng, 300, &mut now);
    let added = segments(dir.path()).len() - before;
    assert!(added >= 1, "the writer moved on to new segments");
    assert_eq!(
        files_ending(dir.path(), "wal"),
        3usize.saturating_sub(added)
    );
    let expected = expected_at(&engine, now);
    storage.shutdown().expect("shutdown");

    let check = check_data(dir.path()).expect("check");
    assert!(check.recoverable(), "{check}");
    assert_eq!(check.would_truncate, None, "{check}");
    let (recovered, storage, report) = open(config, now);
    assert_eq!(report.truncation, None, "{report}");
    assert_eq!(dump(&recovered), expected);
    storage.shutdown().expect("shutdown");
}

#[test]
fn a_crash_in_a_reused_segment_loses_no_written_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, storage, _) = open(small_segments(dir.path()), T0);
    let (mut rng, mut now) = (Rng::new(12), T0);
    run(&engine, &storage, &mut rng, 1000, &mut now);
    storage.snapshot(&engine, now).expect("snapshot");
    // Into reused segments, the last one part written.
    let mut crashed = Vec::new();
    for _ in 0..6 {
        run(&engine, &storage, &mut rng, 100, &mut now);
        let last = segments(dir.path()).pop().expect("a segment");
        if holds_old_bytes(&last) {
            let copy = copy_of(dir.path());
            crashed.push((copy, expected_at(&engine, now), now));
        }
    }
    assert!(!crashed.is_empty(), "the last segment was a reused one");
    storage.shutdown().expect("shutdown");

    for (copy, expected, now) in crashed {
        // `check-data` and recovery agree: the old bytes are a tail to cut, nothing is lost.
        let check = check_data(copy.path()).expect("check");
        assert!(check.recoverable(), "{check}");
        let (recovered, storage, report) = open(small_segments(copy.path()), now);
        assert_eq!(dump(&recovered), expected, "{report}");
        let cut = report.truncation.as_ref().expect("the old bytes were cut");
        assert_eq!(check.would_truncate.as_ref(), Some(cut), "{check}");
        storage.shutdown().expect("shutdown");
        let (again, storage, report) = open(small_segments(copy.path()), now);
        assert_eq!(report.truncation, None, "{report}");
        assert_eq!(dump(&again), expected);
        storage.shutdown().expect("shutdown");
    }
}

#[test]
fn the_replaced_snapshot_is_written_over_by_the_next_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, storage, _) = open(small_segments(dir.path()), T0);
    let (mut rng, mut now) = (Rng::new(13), T0);
    let spare = dir.path().join("recycled.snap");
    run(&engine, &storage, &mut rng, 500, &mut now);
    storage.snapshot(&engine, now).expect("first snapshot");
    assert!(!spare.exists());
    run(&engine, &storage, &mut rng, 500, &mut now);
    let second = storage.snapshot(&engine, now).expect("second snapshot");
    assert!(spare.exists(), "the first kept");
    // Fewer items than the spare held: the new snapshot must not keep the old one's end.
    for shard in 0..sessiond_engine::SHARD_COUNT {
        for item in engine.snapshot_shard(shard).items.iter().step_by(2) {
            let state = item.state();
            let _ = engine.run(&sessiond_engine::Delete::new(state.key), now);
        }
    }
    let third = storage.snapshot(&engine, now).expect("third snapshot");
    assert!(third.bytes < second.bytes, "{third:?} {second:?}");
    assert!(spare.exists(), "the second kept in its turn");
    assert_eq!(files_ending(dir.path(), "snap"), 2);
    // A crash now: the newest snapshot alone rebuilds the store.
    let copy = copy_of(dir.path());
    let expected = expected_at(&engine, now);
    storage.shutdown().expect("shutdown");

    let (recovered, storage, report) = open(small_segments(copy.path()), now);
    assert_eq!(report.snapshot_lsn, Some(third.lsn));
    assert_eq!(dump(&recovered), expected);
    storage.shutdown().expect("shutdown");
}

#[test]
fn with_recycling_off_nothing_is_kept_and_what_was_kept_goes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, storage, _) = open(small_segments(dir.path()), T0);
    let (mut rng, mut now) = (Rng::new(14), T0);
    run(&engine, &storage, &mut rng, 800, &mut now);
    storage.snapshot(&engine, now).expect("snapshot");
    run(&engine, &storage, &mut rng, 100, &mut now);
    storage.snapshot(&engine, now).expect("snapshot");
    assert!(files_ending(dir.path(), "wal") > 0);
    assert!(dir.path().join("recycled.snap").exists());
    let expected = expected_at(&engine, now);
    storage.shutdown().expect("shutdown");

    let off = StorageConfig {
        recycled_segments: 0,
        ..small_segments(dir.path())
    };
    let (recovered, storage, _) = open(off, now);
    assert_eq!(dump(&recovered), expected);
    assert_eq!(files_ending(dir.path(), "wal"), 0, "removed at the start");
    assert!(!dir.path().join("recycled.snap").exists());
    run(&recovered, &storage, &mut rng, 800, &mut now);
    storage.snapshot(&recovered, now).expect("snapshot");
    storage.snapshot(&recovered, now).expect("snapshot");
    assert_eq!(files_ending(dir.path(), "wal"), 0);
    assert_eq!(files_ending(dir.path(), "snap"), 1);
    storage.shutdown().expect("shutdown");
}
