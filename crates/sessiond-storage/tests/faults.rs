//! A full or failing disk: writes are refused while the log cannot be written, reads go on,
//! and once the disk works again writes are taken again with every record kept. Also the lock
//! file and backpressure.

mod common;

use std::sync::Arc;

use common::{T0, block_on, config, dump, open, open_faulty, wait_until};
use sessiond_engine::{
    EngineError, Expiry, Get, GetOutcome, Journal, Key, Store, StoreMode, StoreOutcome,
};
use sessiond_storage::{FsyncPolicy, StdFs, StorageConfig, StorageError, take_thread_lsn};

fn store(
    engine: &sessiond_engine::Engine,
    name: &str,
    len: usize,
) -> Result<StoreOutcome, EngineError> {
    let key = Key::default_namespace(name.as_bytes());
    let value = vec![b'x'; len];
    engine.run(
        &Store::new(key, &value, 0, Expiry::Never, StoreMode::Set),
        T0,
    )
}

fn present(engine: &sessiond_engine::Engine, name: &str) -> bool {
    let get = Get::new(Key::default_namespace(name.as_bytes()));
    matches!(engine.run(&get, T0), Ok(GetOutcome::Hit(_)))
}

fn segments(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .expect("read dir")
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".log"))
        })
        .count()
}

fn disk_full_then_healed(policy: FsyncPolicy) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (fs, engine, storage) = open_faulty(config(dir.path(), policy));
    let journal = storage.journal();
    for i in 0..10 {
        store(&engine, &format!("before-{i}"), 100).expect("stored");
    }
    wait_until("the writer", || journal.written_lsn() == 10);

    // The disk fills in the middle of the next record.
    fs.fail_writes_after(100);
    store(&engine, "filling", 1000).expect("taken into the buffer");
    let filling = take_thread_lsn();
    wait_until("writes to be refused", || !journal.accepting());
    assert_eq!(store(&engine, "refused", 10), Err(EngineError::Unavailable));
    assert!(present(&engine, "before-3"), "reads go on");
    assert!(present(&engine, "filling"));
    assert!(fs.failed_writes() > 0);

    fs.heal();
    wait_until("writes to be taken again", || journal.accepting());
    block_on(journal.wait_written(filling)).expect("written");
    store(&engine, "after", 10).expect("stored");
    storage.shutdown().expect("shutdown");

    let (recovered, storage, report) = open(config(dir.path(), policy), T0);
    for i in 0..10 {
        assert!(present(&recovered, &format!("before-{i}")), "{report}");
    }
    assert!(present(&recovered, "filling"), "{report}");
    assert!(present(&recovered, "after"), "{report}");
    assert!(!present(&recovered, "refused"));
    assert_eq!(dump(&recovered).items.len(), 12);
    storage.shutdown().expect("shutdown");
    assert!(
        sessiond_storage::check_data(dir.path())
            .expect("check")
            .recoverable()
    );
}

#[test]
fn a_full_disk_refuses_writes_until_space_returns_and_loses_nothing_always() {
    disk_full_then_healed(FsyncPolicy::Always);
}

#[test]
fn a_full_disk_refuses_writes_until_space_returns_and_loses_nothing_everysec() {
    disk_full_then_healed(FsyncPolicy::EverySec);
}

#[test]
fn a_full_disk_refuses_writes_until_space_returns_and_loses_nothing_no() {
    disk_full_then_healed(FsyncPolicy::No);
}

#[test]
fn a_failed_fsync_rewrites_what_was_not_durable_into_a_new_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (fs, engine, storage) = open_faulty(config(dir.path(), FsyncPolicy::Always));
    let journal = storage.journal();
    for i in 0..5 {
        store(&engine, &format!("durable-{i}"), 200).expect("stored");
    }
    block_on(journal.wait_durable(take_thread_lsn())).expect("durable");
    assert_eq!(segments(dir.path()), 1);

    // The fsync fails and the file loses what it got since the last good one.
    fs.fail_syncs();
    store(&engine, "during", 300).expect("taken into the buffer");
    let during = take_thread_lsn();
    wait_until("writes to be refused", || !journal.accepting());
    assert!(fs.failed_syncs() > 0);
    assert!(journal.durable_lsn() < during, "not acknowledged");

    fs.heal();
    block_on(journal.wait_durable(during)).expect("durable after the rewrite");
    wait_until("writes to be taken again", || journal.accepting());
    assert_eq!(segments(dir.path()), 2, "rewritten into a fresh segment");
    store(&engine, "after", 10).expect("stored");
    block_on(journal.wait_durable(take_thread_lsn())).expect("durable");
    storage.shutdown().expect("shutdown");

    let (recovered, storage, report) = open(config(dir.path(), FsyncPolicy::Always), T0);
    assert!(present(&recovered, "during"), "{report}");
    assert!(present(&recovered, "after"));
    assert_eq!(dump(&recovered).items.len(), 7);
    storage.shutdown().expect("shutdown");
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_engine, storage, _) = open(config(dir.path(), FsyncPolicy::EverySec), T0);
    let other = sessiond_engine::Engine::new(sessiond_engine::EngineConfig::default());
    let error = sessiond_storage::open(
        config(dir.path(), FsyncPolicy::EverySec),
        Arc::new(StdFs),
        &other,
        T0,
    )
    .expect_err("locked");
    assert!(
        matches!(&error, StorageError::Locked { dir: locked, .. } if locked == dir.path()),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message}"
    );
    assert!(
        message.contains(&format!("pid {}", std::process::id())),
        "{message}"
    );
    storage.shutdown().expect("shutdown");
    let (_engine, storage, _) = open(config(dir.path(), FsyncPolicy::EverySec), T0);
    storage.shutdown().expect("shutdown");
}

#[test]
fn a_backlog_past_the_high_water_mark_drains_when_the_disk_catches_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let small = StorageConfig {
        max_buffered: 4096,
        ..config(dir.path(), FsyncPolicy::Always)
    };
    let (fs, engine, storage) = open_faulty(small);
    let journal = storage.journal();
    fs.hold_syncs();
    let mut i = 0;
    while !journal.over_high_water() {
        store(&engine, &format!("k{i}"), 1024).expect("stored: backpressure never drops");
        i += 1;
        assert!(i < 100, "the backlog grows while the disk is stuck");
    }
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| block_on(journal.wait_drained()));
        fs.release_syncs();
        waiter.join().expect("waiter");
    });
    assert!(!journal.over_high_water());
    block_on(journal.wait_durable(take_thread_lsn())).expect("durable");
    storage.shutdown().expect("shutdown");
}
