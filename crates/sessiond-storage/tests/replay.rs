//! Recovery gives back exactly the store the commands built: from the log alone, from a
//! snapshot and the log after it, from a snapshot alone, across several restarts.

mod common;

use std::time::Duration;

use common::{Rng, T0, block_on, config, dump, open, read_all, workload};
use sessiond_engine::{Expiry, Get, GetOutcome, Journal, Key, Store, StoreMode, Timestamp};
use sessiond_storage::{FsyncPolicy, take_thread_lsn};

/// Recovers `dir` at `now` and checks the result against `reference` (the engine the
/// commands ran on), item by item and read by read.
fn assert_recovers_to(
    reference: &sessiond_engine::Engine,
    dir: &std::path::Path,
    policy: FsyncPolicy,
    now: Timestamp,
) -> sessiond_storage::RecoveryReport {
    reference.expire_due(now, usize::MAX);
    let expected = dump(reference);
    let (recovered, storage, report) = open(config(dir, policy), now);
    let got = dump(&recovered);
    assert_eq!(got.items.len(), expected.items.len(), "{report}");
    assert_eq!(got, expected, "{report}");
    assert_eq!(
        read_all(&recovered, &expected, now),
        read_all(reference, &expected, now)
    );
    storage.shutdown().expect("shutdown");
    report
}

#[test]
fn the_log_alone_rebuilds_the_store_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, storage, report) = open(config(dir.path(), FsyncPolicy::EverySec), T0);
    assert_eq!((report.snapshot_lsn, report.next_lsn), (None, 1));
    let mut now = T0;
    workload(&engine, &mut Rng::new(7), 3000, &mut now);
    let recorded = storage.journal().next_lsn() - 1;
    assert!(recorded > 1000, "the workload changed the store");
    storage.shutdown().expect("shutdown");

    let report = assert_recovers_to(&engine, dir.path(), FsyncPolicy::EverySec, now);
    assert_eq!(report.records_replayed, recorded);
    assert_eq!(report.truncation, None);
}

#[test]
fn a_snapshot_and_the_log_after_it_rebuild_the_store_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, storage, _) = open(config(dir.path(), FsyncPolicy::No), T0);
    let mut now = T0;
    let mut rng = Rng::new(11);
    workload(&engine, &mut rng, 1500, &mut now);
    let snapshot = storage.snapshot(&engine, now).expect("snapshot");
    assert!(snapshot.items > 0);
    workload(&engine, &mut rng, 1500, &mut now);
    let recorded = storage.journal().next_lsn() - 1;
    storage.shutdown().expect("shutdown");

    let report = assert_recovers_to(&engine, dir.path(), FsyncPolicy::No, now);
    assert_eq!(report.snapshot_lsn, Some(snapshot.lsn));
    assert_eq!(report.items_loaded, snapshot.items);
    assert_eq!(report.records_replayed, recorded - snapshot.lsn + 1);
}

#[test]
fn a_snapshot_alone_rebuilds_the_store_and_the_log_it_covers_goes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let small = sessiond_storage::StorageConfig {
        segment_size: 16 << 10,
        ..config(dir.path(), FsyncPolicy::EverySec)
    };
    let (engine, storage, _) = common::open(small.clone(), T0);
    let mut now = T0;
    let journal = storage.journal();
    let mut rng = Rng::new(3);
    // In steps, so the writer sees many batches: it rotates between batches.
    for _ in 0..20 {
        workload(&engine, &mut rng, 100, &mut now);
        common::wait_until("the writer to catch up", || {
            journal.written_lsn() + 1 == journal.next_lsn()
        });
    }
    let segments_before = count(dir.path(), "log");
    assert!(segments_before > 3, "small segments rotate");
    let snapshot = storage.snapshot(&engine, now).expect("snapshot");
    assert!(snapshot.removed_segments > 0);
    assert_eq!(
        count(dir.path(), "log"),
        segments_before - snapshot.removed_segments
    );
    // Out of the log, kept for the writer to write over (up to 16 by default).
    assert_eq!(count(dir.path(), "wal"), snapshot.removed_segments.min(16));
    workload(&engine, &mut rng, 10, &mut now);
    let second = storage.snapshot(&engine, now).expect("snapshot");
    assert_eq!(second.removed_snapshots, 1);
    // The replaced one is kept under another name, for the next snapshot to write over.
    assert_eq!(count(dir.path(), "snap"), 2);
    assert!(dir.path().join("recycled.snap").exists());
    storage.shutdown().expect("shutdown");

    let report = assert_recovers_to(&engine, dir.path(), FsyncPolicy::EverySec, now);
    assert_eq!(report.snapshot_lsn, Some(second.lsn));
    assert_eq!(report.records_replayed, 0);
    assert!(
        sessiond_storage::check_data(dir.path())
            .expect("check")
            .recoverable()
    );
}

#[test]
fn the_store_survives_many_restarts_with_snapshots_in_between() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut now = T0;
    let mut rng = Rng::new(5);
    let mut last_next_lsn = 1;
    let mut expected = None;
    for round in 0..5 {
        let (engine, storage, report) = open(config(dir.path(), FsyncPolicy::EverySec), now);
        assert!(report.next_lsn >= last_next_lsn, "lsns never go back");
        if let Some(expected) = expected.take() {
            assert_eq!(dump(&engine), expected, "round {round}: {report}");
        }
        workload(&engine, &mut rng, 600, &mut now);
        if round % 2 == 1 {
            storage.snapshot(&engine, now).expect("snapshot");
            workload(&engine, &mut rng, 100, &mut now);
        }
        last_next_lsn = storage.journal().next_lsn();
        storage.shutdown().expect("shutdown");
        engine.expire_due(now, usize::MAX);
        expected = Some(dump(&engine));
    }
}

#[test]
fn expired_items_stay_expired() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, storage, _) = open(config(dir.path(), FsyncPolicy::Always), T0);
    let key = |name: &'static [u8]| Key::default_namespace(name);
    for (name, expiry) in [
        (
            &b"fixed"[..],
            Expiry::At(T0.saturating_add(Duration::from_secs(10))),
        ),
        (b"sliding", Expiry::Sliding(Duration::from_secs(5))),
        (b"forever", Expiry::Never),
    ] {
        let store = Store::new(key(name), b"v", 0, expiry, StoreMode::Set);
        engine.run(&store, T0).expect("stored");
    }
    block_on(storage.journal().wait_durable(take_thread_lsn())).expect("durable");
    storage.shutdown().expect("shutdown");

    let later = T0.saturating_add(Duration::from_secs(60));
    let (recovered, storage, report) = open(config(dir.path(), FsyncPolicy::Always), later);
    assert_eq!(report.expired, 2);
    let hit = |name| {
        matches!(
            recovered.run(&Get::new(key(name)), later),
            Ok(GetOutcome::Hit(_))
        )
    };
    assert!(!hit(b"fixed"));
    assert!(!hit(b"sliding"));
    assert!(hit(b"forever"));
    // Writes after recovery go on in the same log.
    assert!(storage.journal().accepting());
    storage.shutdown().expect("shutdown");
}

fn count(dir: &std::path::Path, extension: &str) -> usize {
    common::files_with_extension(dir, extension).len()
}
