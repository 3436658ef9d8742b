//! `always`: a write's lsn is durable when its wait returns, and writers that arrive while
//! an fsync runs share the next one.

mod common;

use common::{T0, config, dump, open, open_faulty};
use sessiond_engine::{Expiry, Key, Store, StoreMode};
use sessiond_storage::{FsyncPolicy, StorageConfig, take_thread_lsn};

fn store(engine: &sessiond_engine::Engine, name: &str) {
    let key = Key::default_namespace(name.as_bytes());
    let store = Store::new(key, name.as_bytes(), 0, Expiry::Never, StoreMode::Set);
    engine.run(&store, T0).expect("stored");
}

#[test]
fn every_lsn_a_writer_got_is_durable_when_its_wait_returns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (fs, engine, storage) = open_faulty(config(dir.path(), FsyncPolicy::Always));
    let journal = storage.journal();
    let syncs_before = fs.syncs();
    std::thread::scope(|scope| {
        for thread in 0..8 {
            let (engine, journal) = (&engine, &journal);
            scope.spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .expect("runtime");
                for i in 0..100 {
                    store(engine, &format!("t{thread}-{i}"));
                    let lsn = take_thread_lsn();
                    assert!(lsn > 0);
                    assert_eq!(take_thread_lsn(), 0, "taking forgets");
                    runtime
                        .block_on(journal.wait_durable(lsn))
                        .expect("durable");
                    assert!(journal.durable_lsn() >= lsn);
                }
            });
        }
    });
    let records = journal.next_lsn() - 1;
    assert_eq!(records, 800);
    let syncs = fs.syncs() - syncs_before;
    assert!(syncs <= records, "{syncs} fsyncs for {records} records");
    println!("{records} records in {syncs} fsyncs");
    storage.shutdown().expect("shutdown");

    let (recovered, storage, _) = open(config(dir.path(), FsyncPolicy::Always), T0);
    assert_eq!(dump(&recovered).items.len(), 800);
    storage.shutdown().expect("shutdown");
}

#[test]
fn records_that_arrive_during_an_fsync_share_the_next_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (fs, engine, storage) = open_faulty(config(dir.path(), FsyncPolicy::Always));
    let journal = storage.journal();
    fs.hold_syncs();
    store(&engine, "first");
    let first = take_thread_lsn();
    // The writer is inside the fsync of the first record's batch.
    fs.wait_for_held_syncs(1);
    let syncs_before = fs.syncs();
    for i in 0..10 {
        store(&engine, &format!("waiting-{i}"));
    }
    let last = take_thread_lsn();
    assert_eq!(last, first + 10);
    assert!(journal.durable_lsn() < first);
    fs.release_syncs();
    common::block_on(journal.wait_durable(last)).expect("durable");
    assert_eq!(
        fs.syncs() - syncs_before,
        2,
        "one fsync for the first, one for the ten"
    );
    storage.shutdown().expect("shutdown");
}

/// A record that arrives while the writer switches segments goes into the new one and is
/// flushed there, with no later record to prompt it: under `always` every client may be
/// waiting for that record, so none would come.
#[test]
fn a_record_that_arrives_during_a_segment_switch_is_flushed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = StorageConfig {
        segment_size: 4096,
        ..config(dir.path(), FsyncPolicy::Always)
    };
    let (fs, engine, storage) = open_faulty(config);
    let journal = storage.journal();
    fs.hold_syncs();
    let key = Key::default_namespace(b"fills-the-segment");
    let big = Store::new(key, &[b's'; 8192], 0, Expiry::Never, StoreMode::Set);
    engine.run(&big, T0).expect("stored");
    let first = take_thread_lsn();
    // The writer is inside the flush that ends the full segment.
    fs.wait_for_held_syncs(1);
    store(&engine, "during-the-switch");
    let last = take_thread_lsn();
    assert_eq!(last, first + 1);
    fs.release_syncs();
    common::wait_until("the record written into the new segment is flushed", || {
        journal.durable_lsn() >= last
    });
    storage.shutdown().expect("shutdown");

    let (recovered, storage, _) = open(common::config(dir.path(), FsyncPolicy::Always), T0);
    assert_eq!(dump(&recovered).items.len(), 2);
    storage.shutdown().expect("shutdown");
}
