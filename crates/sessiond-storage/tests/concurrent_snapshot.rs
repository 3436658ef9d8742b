//! Snapshots taken while other threads keep writing: recovery from the snapshot and the log
//! after it gives exactly the store the writers left.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{T0, config, dump, open};
use sessiond_engine::{Delete, Expiry, Key, NamespaceId, Store, StoreMode, Timestamp};
use sessiond_storage::FsyncPolicy;

#[test]
fn a_snapshot_taken_while_writes_go_on_recovers_to_the_final_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, storage, _) = open(config(dir.path(), FsyncPolicy::EverySec), T0);
    let writing = AtomicBool::new(true);
    let mut snapshots = Vec::new();
    let end = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..2u32)
            .map(|writer| {
                let engine = &engine;
                let writing = &writing;
                scope.spawn(move || {
                    let mut now = T0;
                    let mut i = 0u64;
                    // At least a few thousand writes, and on until the snapshots are done.
                    while i < 4000 || writing.load(Ordering::Relaxed) {
                        now = now.saturating_add(Duration::from_millis(1));
                        let name = format!("w{writer}-{}", i % 300);
                        let key = Key::new(NamespaceId(writer), name.as_bytes());
                        if i % 7 == 3 {
                            let _ = engine.run(&Delete::new(key), now);
                        } else {
                            let value = format!("{i}").repeat(1 + (i % 50) as usize);
                            let store = Store::new(
                                key,
                                value.as_bytes(),
                                i as u32,
                                Expiry::Never,
                                StoreMode::Set,
                            );
                            engine.run(&store, now).expect("stored");
                        }
                        i += 1;
                    }
                    now
                })
            })
            .collect();
        // Snapshots start once the writers are well under way, and the writers go on
        // until the last one is done.
        let journal = storage.journal();
        common::wait_until("writes", || journal.next_lsn() > 1000);
        for _ in 0..5 {
            snapshots.push(storage.snapshot(&engine, T0).expect("snapshot"));
        }
        writing.store(false, Ordering::Relaxed);
        writers
            .into_iter()
            .map(|writer| writer.join().expect("writer"))
            .max()
            .unwrap_or(T0)
    });
    let recorded = storage.journal().next_lsn() - 1;
    storage.shutdown().expect("shutdown");
    let last = snapshots.last().expect("snapshots");
    assert!(last.lsn > 1);

    let now: Timestamp = end;
    let expected = dump(&engine);
    let (recovered, storage, report) = open(config(dir.path(), FsyncPolicy::EverySec), now);
    assert_eq!(report.snapshot_lsn, Some(last.lsn));
    assert_eq!(report.records_replayed, recorded + 1 - last.lsn);
    assert_eq!(dump(&recovered), expected, "{report}");
    storage.shutdown().expect("shutdown");
}

/// The size the snapshot thread sizes its log limit by: nothing before the first snapshot,
/// then the newest snapshot's, across a restart too.
#[test]
fn the_newest_snapshots_size_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, storage, _) = open(config(dir.path(), FsyncPolicy::EverySec), T0);
    assert_eq!(storage.snapshot_size().expect("listed"), 0);
    for i in 0..100u32 {
        let name = format!("k{i}");
        let store = Store::new(
            Key::default_namespace(name.as_bytes()),
            &[b'v'; 1000],
            0,
            Expiry::Never,
            StoreMode::Set,
        );
        engine.run(&store, T0).expect("stored");
    }
    let first = storage.snapshot(&engine, T0).expect("snapshot");
    assert_eq!(storage.snapshot_size().expect("listed"), first.bytes);
    assert!(first.bytes > 100_000, "{first:?}");
    engine
        .run(&Delete::new(Key::default_namespace(b"k0")), T0)
        .expect("deleted");
    let second = storage.snapshot(&engine, T0).expect("snapshot");
    assert!(second.bytes < first.bytes, "{second:?}");
    assert_eq!(storage.snapshot_size().expect("listed"), second.bytes);
    storage.shutdown().expect("shutdown");
    drop((engine, storage));
    let (_engine, storage, _) = open(config(dir.path(), FsyncPolicy::EverySec), T0);
    assert_eq!(storage.snapshot_size().expect("listed"), second.bytes);
}
