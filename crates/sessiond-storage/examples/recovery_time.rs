//! Measures recovery: fills a data directory with `N` sessions of `SIZE` bytes (as ASP.NET
//! session writes), then recovers it into a fresh engine and prints the recovery report.
//!
//! ```text
//! cargo run --release -p sessiond-storage --example recovery_time -- [N] [SIZE] [snapshot|log] [DIR]
//! ```
//!
//! With `snapshot` (the default) a snapshot is taken after the writes, so recovery loads it;
//! with `log` recovery replays every record. DIR defaults to a temporary directory; an
//! existing one is recovered first (so `N = 0` just measures recovering it, twice).

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sessiond_engine::{Engine, EngineConfig, Key, NamespaceId, Timestamp, WriteSession};
use sessiond_storage::{FsyncPolicy, StdFs, StorageConfig};

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().map_or(Ok(100_000), |n| n.parse())?;
    let size: usize = args.next().map_or(Ok(4096), |n| n.parse())?;
    let snapshot = args.next().is_none_or(|mode| mode != "log");
    let temp = tempfile::tempdir()?;
    let dir = args
        .next()
        .map_or_else(|| temp.path().to_path_buf(), Into::into);
    let config = StorageConfig {
        fsync: FsyncPolicy::EverySec,
        ..StorageConfig::new(&dir)
    };
    let now = Timestamp::from_millis(u64::try_from(
        SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis(),
    )?);
    let unlimited = EngineConfig {
        max_memory: u64::MAX,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;

    let engine = Engine::new(unlimited);
    let (storage, report) = sessiond_storage::open(config.clone(), Arc::new(StdFs), &engine, now)?;
    if report.next_lsn > 1 {
        // An existing directory: this first recovery is a measurement too.
        println!("{report}");
    }
    let journal = storage.journal();
    let value = vec![b's'; size];
    let started = Instant::now();
    for i in 0..count {
        let id = format!("{i:024x}");
        let write = WriteSession {
            key: Key::new(NamespaceId(1), id.as_bytes()),
            value: &value,
            timeout: Some(Duration::from_secs(20 * 60)),
            cookie: None,
            uninitialized: false,
        };
        engine.run(&write, now)?;
        if journal.over_high_water() {
            runtime.block_on(journal.wait_drained());
        }
    }
    if snapshot {
        let report = storage.snapshot(&engine, now)?;
        println!(
            "snapshot: {} items, {} bytes in {:.2?}",
            report.items, report.bytes, report.elapsed
        );
    }
    storage.shutdown()?;
    println!(
        "wrote {count} sessions of {size} bytes in {:.2?}",
        started.elapsed()
    );
    drop(engine);

    let engine = Engine::new(unlimited);
    let (storage, report) = sessiond_storage::open(config, Arc::new(StdFs), &engine, now)?;
    println!("{report}");
    storage.shutdown()?;
    Ok(())
}
