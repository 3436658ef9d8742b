//! `everysec` and `no`: connections write their own records (`WalJournal::write_through`)
//! while the writer thread flushes, switches segments and recovers from errors; nothing
//! written that way is lost, and an fsync never holds a write up.

mod common;

use std::sync::Arc;

use common::{T0, block_on, config, dump, open, open_faulty, open_with, wait_until};
use sessiond_engine::{Engine, Expiry, Journal, Key, Store, StoreMode};
use sessiond_storage::{FsyncPolicy, StdFs, StorageConfig, take_thread_lsn};

fn store(engine: &Engine, name: &str, len: usize) {
    let key = Key::default_namespace(name.as_bytes());
    let value = vec![b'v'; len];
    let store = Store::new(key, &value, 0, Expiry::Never, StoreMode::Set);
    engine.run(&store, T0).expect("stored");
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

fn assert_recovers(dir: &std::path::Path, policy: FsyncPolicy, items: usize) {
    let (recovered, storage, report) = open(config(dir, policy), T0);
    assert_eq!(dump(&recovered).items.len(), items, "{report}");
    storage.shutdown().expect("shutdown");
    let check = sessiond_storage::check_data(dir).expect("check");
    assert!(check.recoverable(), "{check:?}");
}

#[test]
fn writes_go_on_while_an_fsync_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (fs, engine, storage) = open_faulty(config(dir.path(), FsyncPolicy::EverySec));
    let journal = storage.journal();
    store(&engine, "first", 100);
    let first = take_thread_lsn();
    assert!(journal.write_through(first));
    // The writer's next flush (within a second) stops inside the fsync.
    fs.hold_syncs();
    fs.wait_for_held_syncs(1);
    let mut last = 0;
    for i in 0..200 {
        store(&engine, &format!("during-{i}"), 300);
        last = take_thread_lsn();
        assert!(
            journal.write_through(last),
            "written while the fsync is held"
        );
        assert!(journal.written_lsn() >= last);
    }
    assert!(journal.durable_lsn() < last, "not durable before its fsync");
    fs.release_syncs();
    block_on(journal.wait_durable(last)).expect("durable at the next flush");
    storage.shutdown().expect("shutdown");
    assert_recovers(dir.path(), FsyncPolicy::EverySec, 201);
}

/// Eight threads write their own records while the writer flushes and switches segments
/// (small ones, so it does so often): every lsn is written when its `write_through` returns,
/// and after a restart every record is there.
fn concurrent_writers(policy: FsyncPolicy) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = StorageConfig {
        segment_size: 16 << 10,
        ..config(dir.path(), policy)
    };
    let (engine, storage, _) = open_with(config, Arc::new(StdFs), T0);
    let journal = storage.journal();
    std::thread::scope(|scope| {
        for thread in 0..8 {
            let (engine, journal) = (&engine, &journal);
            scope.spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .expect("runtime");
                for i in 0..150 {
                    store(engine, &format!("t{thread}-{i}"), 500);
                    let lsn = take_thread_lsn();
                    // What a connection does: write, or wait for the writer thread while it
                    // switches segments.
                    if !journal.write_through(lsn) {
                        runtime
                            .block_on(journal.wait_written(lsn))
                            .expect("written");
                    }
                    assert!(journal.written_lsn() >= lsn);
                }
            });
        }
    });
    assert_eq!(journal.next_lsn() - 1, 1200);
    let segments = segments(dir.path());
    println!("{segments} segments");
    assert!(segments > 5, "segments were switched");
    storage.shutdown().expect("shutdown");
    assert_recovers(dir.path(), policy, 1200);
}

#[test]
fn concurrent_writers_and_segment_switches_lose_nothing_everysec() {
    concurrent_writers(FsyncPolicy::EverySec);
}

#[test]
fn concurrent_writers_and_segment_switches_lose_nothing_no() {
    concurrent_writers(FsyncPolicy::No);
}

#[test]
fn a_failed_write_hands_the_log_to_the_writer_thread_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (fs, engine, storage) = open_faulty(config(dir.path(), FsyncPolicy::EverySec));
    let journal = storage.journal();
    let mut before = 0;
    for i in 0..10 {
        store(&engine, &format!("before-{i}"), 100);
        before = take_thread_lsn();
        assert!(journal.write_through(before));
    }
    block_on(journal.wait_durable(before)).expect("durable");

    // The disk fills in the middle of the next record, written by its connection.
    fs.fail_writes_after(100);
    store(&engine, "filling", 1000);
    let filling = take_thread_lsn();
    assert!(!journal.write_through(filling), "the write failed");
    assert!(fs.failed_writes() > 0);
    assert!(!journal.accepting(), "writes are refused at once");
    assert!(journal.written_lsn() < filling);
    // Until the writer thread has recovered, connections wait for it instead of writing.
    assert!(!journal.write_through(filling));

    fs.heal();
    block_on(journal.wait_written(filling)).expect("written by the writer thread");
    wait_until("writes to be taken again", || journal.accepting());
    store(&engine, "after", 10);
    let after = take_thread_lsn();
    wait_until("connections to write again", || {
        journal.write_through(after)
    });
    storage.shutdown().expect("shutdown");
    assert_eq!(
        segments(dir.path()),
        2,
        "written again into a fresh segment"
    );
    assert_recovers(dir.path(), FsyncPolicy::EverySec, 12);
}

#[test]
fn a_failed_fsync_while_connections_write_rewrites_everything_held() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (fs, engine, storage) = open_faulty(config(dir.path(), FsyncPolicy::EverySec));
    let journal = storage.journal();
    store(&engine, "durable", 100);
    let durable = take_thread_lsn();
    assert!(journal.write_through(durable));
    block_on(journal.wait_durable(durable)).expect("durable");

    // The next fsync fails, and the file loses what it got since the last good one, records
    // written while the fsync ran included.
    fs.hold_syncs();
    store(&engine, "before-the-fsync", 100);
    assert!(journal.write_through(take_thread_lsn()));
    fs.wait_for_held_syncs(1);
    fs.fail_syncs();
    store(&engine, "during-the-fsync", 100);
    let during = take_thread_lsn();
    assert!(journal.write_through(during));
    fs.release_syncs();
    wait_until("writes to be refused", || !journal.accepting());
    assert!(journal.durable_lsn() < during);

    fs.heal();
    block_on(journal.wait_durable(during)).expect("durable after the rewrite");
    wait_until("writes to be taken again", || journal.accepting());
    storage.shutdown().expect("shutdown");
    assert_recovers(dir.path(), FsyncPolicy::EverySec, 3);
}

#[test]
fn records_nobody_writes_through_are_written_by_the_writer_thread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, storage, _) = open(config(dir.path(), FsyncPolicy::EverySec), T0);
    let journal = storage.journal();
    for i in 0..3 {
        // As the expiry sweep records its removals: nobody waits for them.
        store(&engine, &format!("straggler-{i}"), 100);
        let lsn = take_thread_lsn();
        wait_until("the writer thread", || journal.written_lsn() >= lsn);
        block_on(journal.wait_durable(lsn)).expect("flushed within a second");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    storage.shutdown().expect("shutdown");
    assert_recovers(dir.path(), FsyncPolicy::EverySec, 3);
}

#[test]
fn under_always_connections_leave_the_writing_to_the_writer_thread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, storage, _) = open(config(dir.path(), FsyncPolicy::Always), T0);
    let journal = storage.journal();
    store(&engine, "a", 10);
    let lsn = take_thread_lsn();
    // Either the writer thread already wrote it, or the connection must wait for it.
    if !journal.write_through(lsn) {
        block_on(journal.wait_durable(lsn)).expect("durable");
    }
    assert!(journal.written_lsn() >= lsn);
    storage.shutdown().expect("shutdown");
}

#[test]
fn a_read_waits_for_the_newest_record_of_the_shard_it_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, storage, _) = open(config(dir.path(), FsyncPolicy::Always), T0);
    store(&engine, "written", 100);
    let lsn = take_thread_lsn();
    assert!(lsn > 0);
    let read = |name: &str| {
        let get = sessiond_engine::Get::new(Key::default_namespace(name.as_bytes()));
        let _ = engine.run(&get, T0);
        take_thread_lsn()
    };
    // The reply to a read of the written key shows the write: it waits for the same record
    // (here, until it is on disk). Keys on the other shards wait for nothing.
    assert_eq!(read("written"), lsn);
    let quiet = (0..200)
        .filter(|i| read(&format!("quiet-{i}")) == 0)
        .count();
    assert!(
        quiet > 150,
        "most keys are on one of the 63 other shards: {quiet}"
    );
    block_on(storage.journal().wait_durable(lsn)).expect("durable");
    storage.shutdown().expect("shutdown");
}
