//! Damaged snapshots: one that is cut short or has a bad record is never loaded as if whole;
//! an older snapshot is used when the log covers the difference, and recovery stops with an
//! error otherwise. Unfinished snapshots are removed.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{Rng, T0, config, dump, open, workload};
use sessiond_engine::{Engine, EngineConfig};
use sessiond_storage::{FileStatus, FsyncPolicy, StdFs, StorageError, check_data};

fn snapshots(dir: &Path) -> Vec<PathBuf> {
    common::files_with_extension(dir, "snap")
}

fn open_error(dir: &Path) -> StorageError {
    let engine = Engine::new(EngineConfig::default());
    sessiond_storage::open(
        config(dir, FsyncPolicy::EverySec),
        Arc::new(StdFs),
        &engine,
        T0,
    )
    .expect_err("recovery refuses")
}

/// A directory with one snapshot after some writes, and the reference engine.
fn with_snapshot() -> (tempfile::TempDir, Engine, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, storage, _) = open(config(dir.path(), FsyncPolicy::EverySec), T0);
    let mut now = T0;
    workload(&engine, &mut Rng::new(9), 800, &mut now);
    storage.snapshot(&engine, now).expect("snapshot");
    storage.shutdown().expect("shutdown");
    let snapshot = snapshots(dir.path()).pop().expect("a snapshot");
    (dir, engine, snapshot)
}

#[test]
fn a_snapshot_cut_short_is_refused_not_half_loaded() {
    let (dir, _engine, snapshot) = with_snapshot();
    let bytes = std::fs::read(&snapshot).expect("read");
    std::fs::write(&snapshot, &bytes[..bytes.len() - 10]).expect("write");
    // The log before the snapshot is gone, so nothing else holds those records.
    std::fs::remove_file(dir.path().join("wal-00000000000000000001.log")).ok();
    let check = check_data(dir.path()).expect("check");
    assert!(!check.recoverable(), "{check}");
    let error = open_error(dir.path());
    assert!(matches!(error, StorageError::Corrupt { .. }), "{error}");
    assert!(error.to_string().contains("damaged snapshot"), "{error}");
}

#[test]
fn a_bad_record_inside_a_snapshot_stops_recovery() {
    let (dir, _engine, snapshot) = with_snapshot();
    let mut bytes = std::fs::read(&snapshot).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x08;
    std::fs::write(&snapshot, &bytes).expect("write");
    let check = check_data(dir.path()).expect("check");
    assert!(!check.recoverable(), "{check}");
    assert!(
        check
            .files
            .iter()
            .any(|file| file.path == snapshot && matches!(file.status, FileStatus::Corrupt { .. })),
        "{check}"
    );
    let error = open_error(dir.path());
    assert!(
        matches!(&error, StorageError::Corrupt { file, .. } if *file == snapshot),
        "{error}"
    );
}

#[test]
fn a_damaged_newest_snapshot_is_passed_over_when_the_log_covers_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, storage, _) = open(config(dir.path(), FsyncPolicy::EverySec), T0);
    let mut now = T0;
    let mut rng = Rng::new(21);
    workload(&engine, &mut rng, 500, &mut now);
    let older = storage.snapshot(&engine, now).expect("snapshot");
    let kept = std::fs::read(&older.path).expect("read");
    workload(&engine, &mut rng, 500, &mut now);
    let newer = storage.snapshot(&engine, now).expect("snapshot");
    workload(&engine, &mut rng, 500, &mut now);
    storage.shutdown().expect("shutdown");
    // The older snapshot is back (as from a backup); the newer one lost its end.
    std::fs::write(&older.path, kept).expect("write");
    let bytes = std::fs::read(&newer.path).expect("read");
    std::fs::write(&newer.path, &bytes[..bytes.len() / 2]).expect("write");

    engine.expire_due(now, usize::MAX);
    let (recovered, storage, report) = open(config(dir.path(), FsyncPolicy::EverySec), now);
    assert_eq!(report.snapshot_lsn, Some(older.lsn));
    assert_eq!(report.skipped_snapshots, vec![newer.path.clone()]);
    assert_eq!(dump(&recovered), dump(&engine));
    storage.shutdown().expect("shutdown");
}

#[test]
fn an_unfinished_snapshot_is_removed_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let temp = dir.path().join("snapshot-00000000000000000042.snap.tmp");
    std::fs::write(&temp, b"half a snapshot").expect("write");
    let check = check_data(dir.path()).expect("check");
    assert!(check.recoverable(), "{check}");
    let (_engine, storage, report) = open(config(dir.path(), FsyncPolicy::EverySec), T0);
    assert_eq!(report.snapshot_lsn, None);
    assert!(!temp.exists());
    storage.shutdown().expect("shutdown");
}
