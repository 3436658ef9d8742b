//! Helpers shared by the storage tests: opening engines on a data directory, a deterministic
//! command workload, and a dump of an engine's whole durable state for comparisons.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sessiond_engine::{
    Arithmetic, Delete, DeleteMode, Direction, Engine, EngineConfig, Expiry, Flush, Get,
    GetOutcome, Key, LockCookie, NamespaceId, ReadSession, ReadSessionOutcome, ReleaseLock,
    RemoveSession, ResetTimeout, SHARD_COUNT, Store, StoreMode, Timestamp, Touch, Vivify,
    WriteSession,
};
use sessiond_storage::{FaultFs, Fs, FsyncPolicy, RecoveryReport, StdFs, Storage, StorageConfig};

/// The test's start time.
pub const T0: Timestamp = Timestamp::from_secs(1_700_000_000);

/// A config for `dir` with `policy`.
pub fn config(dir: &Path, policy: FsyncPolicy) -> StorageConfig {
    StorageConfig {
        fsync: policy,
        ..StorageConfig::new(dir)
    }
}

/// A fresh engine with the data directory of `config` opened on it.
pub fn open_with(
    config: StorageConfig,
    fs: Arc<dyn Fs>,
    now: Timestamp,
) -> (Engine, Storage, RecoveryReport) {
    let engine = Engine::new(EngineConfig::default());
    let (storage, report) = sessiond_storage::open(config, fs, &engine, now).expect("open");
    (engine, storage, report)
}

/// [`open_with`] on the real file system.
pub fn open(config: StorageConfig, now: Timestamp) -> (Engine, Storage, RecoveryReport) {
    open_with(config, Arc::new(StdFs), now)
}

/// [`open_with`] on the real file system behind a [`FaultFs`], returned to steer its faults.
pub fn open_faulty(config: StorageConfig) -> (FaultFs, Engine, Storage) {
    let fs = FaultFs::new(Arc::new(StdFs));
    let (engine, storage, _) = open_with(config, Arc::new(fs.clone()), T0);
    (fs, engine, storage)
}

/// Runs `future` to completion on a small runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// Waits (polling) until `condition` holds; panics after 20 s, which only a hang reaches.
pub fn wait_until(what: &str, condition: impl Fn() -> bool) {
    for _ in 0..2000 {
        if condition() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("gave up waiting for {what}");
}

/// One item's durable state, owned, comparable.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ItemDump {
    pub namespace: u32,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub flags: u32,
    pub cas: u64,
    pub deadline: Option<Timestamp>,
    pub sliding: Option<Duration>,
    pub cookie: u32,
    pub locked_at: Option<Timestamp>,
    pub bits: u8,
}

/// An engine's whole durable state: every item and every pending delayed flush, sorted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dump {
    pub items: Vec<ItemDump>,
    pub flushes: Vec<(u16, Option<u32>, Timestamp)>,
}

/// Dumps `engine`.
pub fn dump(engine: &Engine) -> Dump {
    let mut dump = Dump {
        items: Vec::new(),
        flushes: Vec::new(),
    };
    for shard in 0..SHARD_COUNT {
        let copy = engine.snapshot_shard(shard);
        for item in &copy.items {
            let state = item.state();
            dump.items.push(ItemDump {
                namespace: state.key.namespace.0,
                key: state.key.name.to_vec(),
                value: state.value.to_vec(),
                flags: state.flags,
                cas: state.cas,
                deadline: state.deadline,
                sliding: state.sliding,
                cookie: state.cookie.0,
                locked_at: state.locked_at,
                bits: state.bits,
            });
        }
        for &(namespace, at) in &copy.pending_flushes {
            dump.flushes.push((copy.shard, namespace.map(|n| n.0), at));
        }
    }
    dump.items.sort();
    dump.flushes.sort();
    dump
}

/// Reads every key of `dump` from `engine` at `now`, as a client would.
pub fn read_all(engine: &Engine, dump: &Dump, now: Timestamp) -> Vec<Option<(Vec<u8>, u32, u64)>> {
    dump.items
        .iter()
        .map(|item| {
            let key = Key::new(NamespaceId(item.namespace), &item.key);
            let get = Get {
                bump: false,
                ..Get::new(key)
            };
            match engine.run(&get, now) {
                Ok(GetOutcome::Hit(view)) => Some((view.value.to_vec(), view.flags, view.cas)),
                _ => None,
            }
        })
        .collect()
}

/// A small deterministic random number generator (xorshift), so failures reproduce.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Drives `engine` with `count` mixed commands (stores of every mode and expiry, deletes,
/// touches, counters, session locks and writes, delayed and immediate flushes), advancing the
/// time from `*now`. Every so often the sliding renewals are drained into the journal.
pub fn workload(engine: &Engine, rng: &mut Rng, count: usize, now: &mut Timestamp) {
    let mut cookies: Vec<Option<LockCookie>> = vec![None; 40];
    for step in 0..count {
        *now = now.saturating_add(Duration::from_millis(rng.below(400)));
        let t = *now;
        let index = rng.below(40) as usize;
        let namespace = NamespaceId(rng.below(2) as u32);
        let name = format!("key-{index}");
        let key = Key::new(namespace, name.as_bytes());
        let value = vec![b'a' + (step % 26) as u8; rng.below(300) as usize];
        let expiry = match rng.below(4) {
            0 => Expiry::Never,
            1 => Expiry::At(t.saturating_add(Duration::from_secs(rng.below(120)))),
            _ => Expiry::Sliding(Duration::from_secs(1 + rng.below(90))),
        };
        match rng.below(16) {
            0..=3 => {
                let store = Store::new(key, &value, rng.below(5) as u32, expiry, StoreMode::Set);
                let _ = engine.run(&store, t);
            }
            4 => {
                let store = Store::new(key, b"-tail", 0, expiry, StoreMode::Append);
                let _ = engine.run(&store, t);
            }
            5 => {
                let _ = engine.run(&Delete::new(key), t);
            }
            6 => {
                let delete = Delete {
                    mode: DeleteMode::Invalidate { expiry: None },
                    ..Delete::new(key)
                };
                let _ = engine.run(&delete, t);
            }
            7 => {
                let _ = engine.run(&Touch { key, expiry }, t);
            }
            8 => {
                let counter_name = format!("counter-{}", index % 5);
                let counter = Arithmetic {
                    vivify: Some(Vivify {
                        initial: 7,
                        expiry: Expiry::Never,
                    }),
                    ..Arithmetic::new(
                        Key::new(namespace, counter_name.as_bytes()),
                        Direction::Increment,
                        rng.below(10),
                    )
                };
                let _ = engine.run(&counter, t);
            }
            9 => {
                let read = ReadSession {
                    key,
                    exclusive: true,
                };
                if let Ok(ReadSessionOutcome::Found {
                    cookie: Some(cookie),
                    ..
                }) = engine.run(&read, t)
                {
                    cookies[index] = Some(cookie);
                }
            }
            10 => {
                if let Some(cookie) = cookies[index].take() {
                    let _ = engine.run(&ReleaseLock { key, cookie }, t);
                }
            }
            11 => {
                let write = WriteSession {
                    key,
                    value: &value,
                    timeout: Some(Duration::from_secs(20 * 60)),
                    cookie: cookies[index].take(),
                    uninitialized: rng.below(4) == 0,
                };
                let _ = engine.run(&write, t);
            }
            12 => {
                let _ = engine.run(&ResetTimeout { key }, t);
            }
            13 => {
                let remove = RemoveSession {
                    key,
                    cookie: cookies[index].take(),
                };
                let _ = engine.run(&remove, t);
            }
            14 => {
                let _ = engine.run(&Get::new(key), t);
            }
            _ => match rng.below(20) {
                0 => {
                    let flush = Flush {
                        namespace: Some(namespace),
                        at: None,
                    };
                    let _ = engine.flush(&flush, t);
                }
                1 => {
                    let flush = Flush {
                        namespace: Some(namespace),
                        at: Some(t.saturating_add(Duration::from_secs(rng.below(60)))),
                    };
                    let _ = engine.flush(&flush, t);
                }
                _ => engine.drain_renewals(t),
            },
        }
    }
    engine.drain_renewals(*now);
}

/// The files of `dir` whose extension is `extension`, sorted by name (for the log's and
/// snapshots' names, in lsn order).
pub fn files_with_extension(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == extension))
        .collect();
    found.sort();
    found
}

/// The log segments of `dir`, in lsn order.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    files_with_extension(dir, "log")
}

/// A copy of the data files of `dir` as they are now (all but the lock file): what `kill -9`
/// would leave (the page cache survives the process).
pub fn copy_of(dir: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("name");
        if name != "LOCK" {
            std::fs::copy(&path, copy.path().join(name)).expect("copy");
        }
    }
    copy
}
