//! Concurrency smoke tests: several threads on overlapping keys, then a consistency check.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use sessiond_engine::{
    Arithmetic, Delete, Direction, Engine, EngineConfig, EngineError, Expiry, Get, GetOutcome, Key,
    LockCookie, NamespaceId, ReadSession, ReadSessionOutcome, ReleaseLock, Store, StoreMode,
    StoreOutcome, Timestamp, Touch, Vivify, WriteSession, WriteSessionOutcome, charge,
};

const THREADS: usize = 4;
const ITERATIONS: u64 = 40_000;
const START: u64 = 1_700_000_000_000;

/// 2 namespaces x 6 keys, so threads collide constantly.
fn keys() -> Vec<(NamespaceId, Vec<u8>)> {
    let mut keys = Vec::new();
    for namespace in [NamespaceId(0), NamespaceId(1)] {
        for i in 0..6 {
            keys.push((namespace, format!("key-{i}").into_bytes()));
        }
    }
    keys
}

/// A small deterministic generator, so a failure can be rerun.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn hammer(engine: &Engine, seed: u64) {
    let keys = keys();
    let mut rng = Rng(seed);
    let values: [&[u8]; 4] = [b"", b"7", b"a medium sized value", &[b'x'; 150]];
    for i in 0..ITERATIONS {
        let now = Timestamp::from_millis(START + i);
        let (namespace, name) = &keys[rng.below(keys.len() as u64) as usize];
        let key = Key::new(*namespace, name);
        let value = values[rng.below(values.len() as u64) as usize];
        // Some items expire during the run; most do not.
        let expiry = match rng.below(4) {
            0 => Expiry::At(Timestamp::from_millis(START + i + rng.below(40))),
            1 => Expiry::Sliding(Duration::from_millis(1 + rng.below(100))),
            _ => Expiry::Never,
        };
        let refused = |result: Result<(), EngineError>| {
            if let Err(error) = result {
                assert_eq!(error, EngineError::OutOfMemory);
            }
        };
        match rng.below(10) {
            0..=2 => {
                let mode = [
                    StoreMode::Set,
                    StoreMode::Add,
                    StoreMode::Replace,
                    StoreMode::Append,
                    StoreMode::Prepend,
                ][rng.below(5) as usize];
                let store = Store::new(key, value, 0, expiry, mode);
                refused(engine.run(&store, now).map(drop));
            }
            3 => {
                // Read-modify-write with compare-and-swap.
                if let Ok(GetOutcome::Hit(view)) = engine.run(&Get::new(key), now) {
                    let store = Store {
                        cas: Some(view.cas),
                        ..Store::new(key, value, 1, expiry, StoreMode::Set)
                    };
                    refused(engine.run(&store, now).map(drop));
                }
            }
            4 => {
                let get = Get {
                    touch: (rng.below(2) == 0).then_some(expiry),
                    ..Get::new(key)
                };
                refused(engine.run(&get, now).map(drop));
            }
            5 => {
                engine
                    .run(&Delete::new(key), now)
                    .expect("no journal refuses it");
            }
            6 => {
                let incr = Arithmetic {
                    vivify: Some(Vivify { initial: 9, expiry }),
                    ..Arithmetic::new(key, Direction::Increment, rng.below(1_000))
                };
                refused(engine.run(&incr, now).map(drop));
            }
            7 => {
                let read = ReadSession {
                    key,
                    exclusive: true,
                };
                if let Ok(ReadSessionOutcome::Found {
                    cookie: Some(cookie),
                    ..
                }) = engine.run(&read, now)
                {
                    let write = WriteSession {
                        key,
                        value,
                        timeout: Some(Duration::from_millis(1 + rng.below(100))),
                        cookie: Some(cookie),
                        uninitialized: false,
                    };
                    match engine.run(&write, now) {
                        Ok(_) => {}
                        Err(_) => {
                            engine
                                .run(&ReleaseLock { key, cookie }, now)
                                .expect("no journal refuses it");
                        }
                    }
                }
            }
            8 => {
                engine
                    .run(&Touch { key, expiry }, now)
                    .expect("no journal refuses it");
            }
            _ => {
                let release = ReleaseLock {
                    key,
                    cookie: LockCookie(rng.below(5) as u32),
                };
                engine.run(&release, now).expect("no journal refuses it");
            }
        }
    }
}

#[test]
fn memory_and_item_counts_stay_consistent_under_concurrent_writers() {
    // Small enough that writes are refused along the way.
    let limit = 1_800;
    let engine = Arc::new(Engine::new(EngineConfig { max_memory: limit }));
    let done = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for thread in 0..THREADS {
        let engine = Arc::clone(&engine);
        let done = Arc::clone(&done);
        handles.push(thread::spawn(move || {
            hammer(&engine, 0x9e37_79b9_7f4a_7c15 ^ (thread as u64 + 1));
            done.fetch_add(1, Ordering::SeqCst);
        }));
    }
    // A sweeper alongside, as the server runs one.
    let sweeper = {
        let engine = Arc::clone(&engine);
        let done = Arc::clone(&done);
        thread::spawn(move || {
            let mut now = START;
            while done.load(Ordering::SeqCst) < THREADS {
                engine.expire_due(Timestamp::from_millis(now), 4);
                assert!(engine.stats().memory_used <= limit);
                now += 10;
                thread::yield_now();
            }
        })
    };
    for handle in handles {
        handle.join().expect("writer panicked");
    }
    sweeper.join().expect("sweeper panicked");

    let stats = engine.stats();
    assert!(
        stats.rejected_writes > 0,
        "the limit was never reached: {stats:?}"
    );
    assert!(stats.memory_used <= limit);

    // Reading every key removes the expired ones, so what is left is exactly what is readable.
    let end = Timestamp::from_millis(START + ITERATIONS + 1_000);
    let mut readable = 0;
    let mut memory = 0;
    let mut bytes = 0;
    for (namespace, name) in keys() {
        let get = Get {
            bump: false,
            ..Get::new(Key::new(namespace, &name))
        };
        if let Ok(GetOutcome::Hit(view)) = engine.run(&get, end) {
            readable += 1;
            memory += charge(name.len(), view.value.len());
            bytes += (name.len() + view.value.len()) as u64;
        }
    }
    let stats = engine.stats();
    assert_eq!(stats.curr_items, readable);
    assert_eq!(stats.memory_used, memory);
    assert_eq!(stats.bytes, bytes);

    // And a flush gives everything back.
    engine
        .flush(
            &sessiond_engine::Flush {
                namespace: None,
                at: None,
            },
            end,
        )
        .expect("no journal refuses it");
    let stats = engine.stats();
    assert_eq!(
        (stats.curr_items, stats.memory_used, stats.bytes),
        (0, 0, 0)
    );
}

#[test]
fn a_session_lock_admits_one_holder_at_a_time() {
    const ROUNDS: usize = 2_000;
    let engine = Arc::new(Engine::new(EngineConfig::default()));
    let key = Key::new(NamespaceId(5), b"session");
    let now = Timestamp::from_millis(START);
    let write = WriteSession {
        key,
        value: b"0",
        timeout: Some(Duration::from_secs(3_600)),
        cookie: None,
        uninitialized: false,
    };
    engine.run(&write, now).unwrap();

    let holders = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (engine, holders, barrier) = (engine.clone(), holders.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                let mut cookies = Vec::new();
                let mut rounds = 0;
                while rounds < ROUNDS {
                    let read = ReadSession {
                        key,
                        exclusive: true,
                    };
                    let Ok(ReadSessionOutcome::Found {
                        value,
                        cookie: Some(cookie),
                        ..
                    }) = engine.run(&read, now)
                    else {
                        thread::yield_now();
                        continue;
                    };
                    assert_eq!(
                        holders.fetch_add(1, Ordering::SeqCst),
                        0,
                        "two lock holders"
                    );
                    let count: u64 = std::str::from_utf8(&value).unwrap().parse().unwrap();
                    let next = (count + 1).to_string();
                    holders.fetch_sub(1, Ordering::SeqCst);
                    let write = WriteSession {
                        key,
                        value: next.as_bytes(),
                        timeout: Some(Duration::from_secs(3_600)),
                        cookie: Some(cookie),
                        uninitialized: false,
                    };
                    assert_eq!(engine.run(&write, now), Ok(WriteSessionOutcome::Stored));
                    cookies.push(cookie.0);
                    rounds += 1;
                }
                cookies
            })
        })
        .collect();
    let mut cookies: Vec<u32> = handles
        .into_iter()
        .flat_map(|handle| handle.join().expect("thread panicked"))
        .collect();

    // Every increment happened under the lock, so none was lost.
    let total = THREADS * ROUNDS;
    let Ok(ReadSessionOutcome::Found { value, .. }) = engine.run(
        &ReadSession {
            key,
            exclusive: false,
        },
        now,
    ) else {
        panic!("the session is gone");
    };
    assert_eq!(&value[..], total.to_string().as_bytes());
    // Each acquisition took the next cookie: 2, 3, ... with none handed out twice.
    cookies.sort_unstable();
    let expected: Vec<u32> = (2..2 + total as u32).collect();
    assert_eq!(cookies, expected);
    let store = Store::new(key, b"", 0, Expiry::Never, StoreMode::Add);
    assert_eq!(engine.run(&store, now), Ok(StoreOutcome::NotStored));
}
