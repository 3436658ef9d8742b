//! Shutdown: everything recorded before it is written and flushed whatever the policy; what
//! races it is refused or, if it slipped past the engine's check, never reported durable.

mod common;

use common::{T0, block_on, config, dump, open};
use sessiond_engine::{
    Change, Effect, EngineError, Expiry, Journal, Key, Store, StoreMode, StoreOutcome,
};
use sessiond_storage::{FsyncPolicy, StorageError, take_thread_lsn};

fn store(engine: &sessiond_engine::Engine, name: &str) -> Result<StoreOutcome, EngineError> {
    let key = Key::default_namespace(name.as_bytes());
    engine.run(&Store::new(key, b"v", 0, Expiry::Never, StoreMode::Set), T0)
}

#[test]
fn shutdown_flushes_everything_even_under_no() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, storage, _) = open(config(dir.path(), FsyncPolicy::No), T0);
    for i in 0..100 {
        store(&engine, &format!("k{i}")).expect("stored");
    }
    let journal = storage.journal();
    storage.shutdown().expect("shutdown");
    assert_eq!(journal.durable_lsn(), 100);
    storage.shutdown().expect("a second shutdown does nothing");

    let (recovered, storage, _) = open(config(dir.path(), FsyncPolicy::No), T0);
    assert_eq!(dump(&recovered).items.len(), 100);
    storage.shutdown().expect("shutdown");
}

#[test]
fn after_shutdown_writes_are_refused_and_nothing_passes_as_durable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, storage, _) = open(config(dir.path(), FsyncPolicy::Always), T0);
    let journal = storage.journal();
    storage.shutdown().expect("shutdown");
    assert!(!journal.accepting());
    assert_eq!(store(&engine, "late"), Err(EngineError::Unavailable));
    assert!(matches!(
        storage.snapshot(&engine, T0),
        Err(StorageError::Closed)
    ));

    // A change that got past the engine's check just before shutdown.
    take_thread_lsn();
    let key = Key::default_namespace(b"racing");
    journal.record(&Effect {
        time: T0,
        change: Change::Remove(key),
    });
    let lsn = take_thread_lsn();
    assert!(lsn > journal.durable_lsn());
    assert!(matches!(
        block_on(journal.wait_durable(lsn)),
        Err(StorageError::Closed)
    ));
}
