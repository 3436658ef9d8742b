//! Concurrency smoke tests: several threads on overlapping keys, then a consistency check.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use sessiond_engine::{
    Arithmetic, Delete, Direction, Engine, EngineConfig, EngineError, Expiry, Get, GetOutcome, Key,
    LockCookie, NamespaceId, ReadSession, ReadSessionOutcome, ReleaseLock, Rename, Store,
    StoreMode, StoreOutcome, Timestamp, Touch, Vivify, WriteCondition, WriteSession,
    WriteSessionOutcome, WriteString, WriteStringOutcome, charge,
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

/// The phpredis lock: `SET lock token NX PX`, then a script that deletes the lock only if it
/// still holds the token. The script runs as an atomic block; with it, holders never overlap
/// and every release removes only its own lock.
#[test]
fn a_lock_released_by_an_atomic_get_and_delete_admits_one_holder_at_a_time() {
    const ROUNDS: usize = 2_000;
    let engine = Arc::new(Engine::new(EngineConfig::default()));
    let lock = Key::new(NamespaceId(5), b"session-lock");
    let now = Timestamp::from_millis(START);
    let holders = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            let (engine, holders, barrier) = (engine.clone(), holders.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                let mut acquired = 0;
                let mut round = 0;
                while acquired < ROUNDS {
                    round += 1;
                    let token = format!("{thread}-{round}");
                    let take = WriteString {
                        condition: WriteCondition::IfAbsent,
                        ..WriteString::new(lock, token.as_bytes(), Expiry::Never)
                    };
                    if engine.run(&take, now) != Ok(WriteStringOutcome::Written { previous: None })
                    {
                        // Another holder's token: a release with ours must not remove it.
                        let released = release(&engine, lock, token.as_bytes(), now);
                        assert!(!released, "released someone else's lock");
                        thread::yield_now();
                        continue;
                    }
                    assert_eq!(holders.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                    holders.fetch_sub(1, Ordering::SeqCst);
                    assert!(release(&engine, lock, token.as_bytes(), now));
                    acquired += 1;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("thread panicked");
    }
    assert_eq!(engine.stats().curr_items, 0);
}

/// `if redis.call("get",KEYS[1]) == ARGV[1] then return redis.call("del",KEYS[1]) else
/// return 0 end`
fn release(engine: &Engine, lock: Key<'_>, token: &[u8], now: Timestamp) -> bool {
    let result: Result<bool, EngineError> = engine.atomically(&[lock], now, |block| {
        let Ok(GetOutcome::Hit(view)) = block.run(&Get::new(lock))? else {
            return Ok(false);
        };
        if view.value != token {
            return Ok(false);
        }
        Ok(block.run(&Delete::new(lock))? == Ok(sessiond_engine::DeleteOutcome::Deleted))
    });
    result.expect("the key is declared")
}

/// Renames back and forth between keys of different shards, from several threads: both
/// shards are locked in index order, so opposite renames cannot deadlock, and the item is
/// never lost or duplicated.
#[test]
fn concurrent_renames_neither_deadlock_nor_lose_the_item() {
    const ROUNDS: usize = 5_000;
    let engine = Arc::new(Engine::new(EngineConfig::default()));
    let names: Vec<Vec<u8>> = (0..4).map(|i| format!("name-{i}").into_bytes()).collect();
    let now = Timestamp::from_millis(START);
    let first = Key::new(NamespaceId(5), &names[0]);
    engine
        .run(&WriteString::new(first, b"the item", Expiry::Never), now)
        .unwrap();
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            let (engine, barrier, names) = (engine.clone(), barrier.clone(), names.clone());
            thread::spawn(move || {
                barrier.wait();
                let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ thread as u64);
                for _ in 0..ROUNDS {
                    let from = &names[rng.below(4) as usize];
                    let to = &names[rng.below(4) as usize];
                    let rename = Rename {
                        from: Key::new(NamespaceId(5), from),
                        to: Key::new(NamespaceId(5), to),
                        only_if_absent: rng.below(2) == 0,
                    };
                    engine.rename(&rename, now).expect("no journal refuses it");
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("thread panicked");
    }
    let stats = engine.stats();
    assert_eq!(stats.curr_items, 1);
    assert_eq!(engine.key_count(NamespaceId(5)), 1);
    let held: Vec<_> = names
        .iter()
        .filter_map(|name| {
            let get = Get::new(Key::new(NamespaceId(5), name));
            match engine.run(&get, now) {
                Ok(GetOutcome::Hit(view)) => Some(view.value),
                _ => None,
            }
        })
        .collect();
    assert_eq!(held, [bytes::Bytes::from_static(b"the item")]);
}
