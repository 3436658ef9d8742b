//! Keeping sessions across restarts: recovery before the listeners accept, the wait that
//! holds a batch's replies until its writes may be acknowledged, and the snapshot thread.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use sessiond_engine::Engine;
use sessiond_storage::{Fs, FsyncPolicy, Storage, StorageConfig, WalJournal, take_thread_lsn};

use crate::clock::Clock;
use crate::config::PersistenceConfig;
use crate::error::ServerError;

/// The open data directory and its journal.
#[derive(Debug)]
pub(crate) struct Persistence {
    pub storage: Arc<Storage>,
    pub journal: Arc<WalJournal>,
    pub snapshots: SnapshotTrigger,
}

impl Persistence {
    /// Opens the data directory and recovers its sessions into `engine`, whose changes go to
    /// the log from then on. `None` when the configuration keeps everything in memory.
    pub fn open(
        config: &PersistenceConfig,
        engine: &Engine,
        clock: &dyn Clock,
        fs: Arc<dyn Fs>,
    ) -> Result<Option<Persistence>, ServerError> {
        if config.in_memory {
            return Ok(None);
        }
        let storage_config = StorageConfig {
            fsync: config.fsync,
            // As many as the log between two snapshots that the log's size starts, so that
            // in the steady state every new segment is a reused one.
            recycled_segments: usize::try_from(
                config
                    .snapshot_log_size
                    .0
                    .div_ceil(StorageConfig::DEFAULT_SEGMENT_SIZE),
            )
            .unwrap_or(usize::MAX),
            ..StorageConfig::new(&config.data_dir)
        };
        // The storage layer logs what recovery found.
        let (storage, _report) = sessiond_storage::open(storage_config, fs, engine, clock.now())?;
        tracing::info!(
            data_dir = %config.data_dir.display(),
            fsync = %config.fsync,
            "sessions are kept on disk"
        );
        // Recovery attached the journal to the engine before returning.
        let storage = Arc::new(storage);
        let journal = storage.journal();
        Ok(Some(Persistence {
            storage,
            journal,
            snapshots: SnapshotTrigger::default(),
        }))
    }

    /// Starts the thread that takes snapshots every `interval` (unless nothing changed, see
    /// [`timed_snapshot_due`]), when the log grows past [`log_limit`] (looked at every
    /// second), and when asked.
    pub fn start_snapshots(
        &self,
        engine: Arc<Engine>,
        clock: Arc<dyn Clock>,
        interval: Duration,
        max_log_size: u64,
    ) -> Result<JoinHandle<()>, ServerError> {
        let storage = Arc::clone(&self.storage);
        let trigger = self.snapshots.clone();
        let journal = Arc::clone(&self.journal);
        std::thread::Builder::new()
            .name("sessiond-snapshot".into())
            .spawn(move || {
                let mut next = Instant::now() + interval;
                // The log a snapshot left (the segment being written, say): growth is counted
                // from there, so what a snapshot cannot remove never triggers another.
                let mut left = storage.log_size().unwrap_or(0);
                let mut limit = log_limit(max_log_size, storage.snapshot_size().unwrap_or(0));
                // Where the store stood at the last snapshot this thread took.
                let mut taken_at = None;
                loop {
                    let look = (Instant::now() + LOG_SIZE_CHECK).min(next);
                    let requested = match trigger.wait_until(look) {
                        None => break,
                        Some(true) => true,
                        Some(false) if Instant::now() >= next => {
                            let now = StoreMark {
                                next_lsn: journal.next_lsn(),
                                expired: engine.stats().counters.expired,
                            };
                            if !timed_snapshot_due(taken_at, now) {
                                next = Instant::now() + interval;
                                continue;
                            }
                            false
                        }
                        Some(false) => {
                            // A log that cannot be listed is left to the timed snapshot.
                            let size = storage.log_size().unwrap_or(0);
                            if size < left.saturating_add(limit) {
                                continue;
                            }
                            tracing::info!(
                                log_bytes = size,
                                limit,
                                "the log passed snapshot_log_size or the last snapshot's size"
                            );
                            false
                        }
                    };
                    // Read before the copy: an item expiring during it counts as a change
                    // and makes the next timed snapshot due, never the other way round.
                    let expired = engine.stats().counters.expired;
                    match storage.snapshot(&engine, clock.now()) {
                        Ok(report) => {
                            next = Instant::now() + interval;
                            limit = log_limit(max_log_size, report.bytes);
                            taken_at = Some(StoreMark {
                                next_lsn: report.lsn,
                                expired,
                            });
                            tracing::info!(
                                requested,
                                file = %report.path.display(),
                                items = report.items,
                                bytes = report.bytes,
                                elapsed_ms = report.elapsed.as_millis() as u64,
                                removed_segments = report.removed_segments,
                                "snapshot written"
                            );
                        }
                        // The log still holds everything: a failed snapshot costs only a
                        // longer replay. The next try waits a while (a full disk would
                        // otherwise be asked for a whole snapshot every second).
                        Err(error) => {
                            next = Instant::now() + interval.min(RETRY_AFTER_FAILURE);
                            tracing::warn!(%error, "snapshot failed");
                        }
                    }
                    left = storage.log_size().unwrap_or(0);
                }
            })
            .map_err(ServerError::Runtime)
    }

    /// Writes out and flushes the log, after the connections are gone.
    pub fn close(&self, snapshot_thread: Option<JoinHandle<()>>) {
        self.snapshots.stop();
        if let Some(thread) = snapshot_thread {
            let _ = thread.join();
        }
        if let Err(error) = self.storage.shutdown() {
            tracing::error!(%error, "the log could not be written out at shutdown");
        }
    }
}

/// How much the log may grow before a snapshot is taken: `snapshot_log_size`, or the size of
/// the last snapshot if that is larger. A snapshot rewrites the whole store, so with a store
/// larger than `snapshot_log_size` a fixed limit would write more snapshot than log (a 4 GB
/// store under a 1 GiB limit: four bytes of snapshot for each byte logged). With this limit the
/// snapshots the log's growth starts write at most one byte per byte logged, as Redis's
/// `auto-aof-rewrite-percentage 100` does, and recovery replays at most about a store's worth
/// of log after the snapshot (the timed snapshot every `snapshot_interval` comes on top).
fn log_limit(snapshot_log_size: u64, last_snapshot_bytes: u64) -> u64 {
    snapshot_log_size.max(last_snapshot_bytes)
}

/// Where the store stands, for telling whether it changed since a snapshot: the journal's
/// next lsn (every recorded change) and the count of items that expired (expiry is not
/// recorded: recovery recomputes it, but only a snapshot drops expired items from the disk).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct StoreMark {
    next_lsn: u64,
    expired: u64,
}

/// Whether the timed snapshot is worth taking: not when nothing was recorded and nothing
/// expired since the last snapshot this process took, since it would write the very same
/// store again. A large store on a quiet server would otherwise be rewritten whole every
/// `snapshot_interval` (4 GB every ten minutes is 576 GB a day of disk writes). The first one
/// after a start is always taken: it compacts what recovery replayed.
fn timed_snapshot_due(taken_at: Option<StoreMark>, now: StoreMark) -> bool {
    taken_at != Some(now)
}

/// How often the snapshot thread looks at the log's size.
const LOG_SIZE_CHECK: Duration = Duration::from_secs(1);

/// How long after a failed snapshot the next is tried, at the latest.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);

/// Holds a batch's replies until they may be sent: until the records the batch wrote are on
/// disk with `fsync = always`, and until they are at least written to the kernel with the other
/// policies, so that no acknowledged write is lost when the process dies (as with Redis's
/// `appendfsync everysec`, only a power failure can cost the last second). Under `always` the
/// writer thread takes everything pending at once, so concurrent connections share each
/// fsync. Under `everysec` and `no` the connection writes its records (and whatever else is
/// pending) itself, as Redis writes its append-only file from its event loop: that costs one
/// `write`, where a handoff to the writer thread and back cost two wake-ups per batch. Before
/// it writes, it yields once, so that the other connections its worker already woke run their
/// commands first: the first of them back writes all their records with one `write`, and the
/// others find theirs written (Redis too writes once per event-loop turn, before it sends the
/// turn's replies). On the session mix under `everysec` that gave 14% more throughput at 14%
/// less CPU per operation in paired runs (BENCHMARKS.md, Durability). While the writer thread
/// switches segments or recovers from a disk error, the connection waits for it instead. Also
/// waits while the log's buffer is over its high-water mark, so a disk slower than the clients
/// cannot make memory grow without bound. False when the log closed before
/// the batch's records got there: the replies must not be sent, since they would acknowledge
/// writes that may not survive.
pub(crate) async fn settle(journal: &WalJournal) -> bool {
    let lsn = take_thread_lsn();
    if lsn > 0 {
        let waited = match journal.policy() {
            FsyncPolicy::Always => journal.wait_durable(lsn).await,
            FsyncPolicy::EverySec | FsyncPolicy::No => {
                if journal.written_lsn() < lsn {
                    // Behind the connections already woken: tokio runs a yielded task again
                    // after the others queued and a look at the sockets.
                    tokio::task::yield_now().await;
                }
                if journal.write_through(lsn) {
                    Ok(())
                } else {
                    journal.wait_written(lsn).await
                }
            }
        };
        if waited.is_err() {
            return false;
        }
    }
    if journal.over_high_water() {
        journal.wait_drained().await;
    }
    true
}

/// Asks for a snapshot now (SIGUSR1, `sessiond snapshot`): of the snapshot thread on a single
/// node, of Raft on a cluster node.
#[derive(Clone, Debug, Default)]
pub struct SnapshotTrigger {
    inner: Arc<(Mutex<TriggerState>, Condvar)>,
    /// Wakes a task that waits in a runtime (a cluster node) rather than on a thread.
    task: Arc<tokio::sync::Notify>,
}

#[derive(Debug, Default)]
struct TriggerState {
    requested: bool,
    stopped: bool,
}

impl SnapshotTrigger {
    /// Requests a snapshot as soon as the thread is free.
    pub fn request(&self) {
        let (state, wake) = &*self.inner;
        state.lock().requested = true;
        wake.notify_one();
        self.task.notify_one();
    }

    /// Waits, in a runtime, for the next request.
    pub(crate) async fn requested(&self) {
        self.task.notified().await;
        self.inner.0.lock().requested = false;
    }

    fn stop(&self) {
        let (state, wake) = &*self.inner;
        state.lock().stopped = true;
        wake.notify_one();
    }

    /// Waits for a request or `deadline`: `Some(true)` when requested, `Some(false)` when the
    /// time came, `None` when stopped.
    fn wait_until(&self, deadline: Instant) -> Option<bool> {
        let (state, wake) = &*self.inner;
        let mut state = state.lock();
        loop {
            if state.stopped {
                return None;
            }
            if state.requested {
                state.requested = false;
                return Some(true);
            }
            if wake.wait_until(&mut state, deadline).timed_out() {
                return (!state.stopped).then_some(false);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sessiond_engine::{Engine, EngineConfig, Expiry, Key, Store, StoreMode, Timestamp};
    use sessiond_storage::{FaultFs, FsyncPolicy, StdFs, StorageConfig};

    use super::{StoreMark, log_limit, settle, timed_snapshot_due};

    /// The timed snapshot is taken the first time (what recovery replayed may be compacted),
    /// after any recorded change and after any expiry, and skipped while nothing happened.
    #[test]
    fn the_timed_snapshot_is_skipped_while_nothing_changed() {
        let mark = |next_lsn, expired| StoreMark { next_lsn, expired };
        assert!(timed_snapshot_due(None, mark(1, 0)));
        assert!(timed_snapshot_due(None, mark(500, 7)));
        assert!(!timed_snapshot_due(Some(mark(500, 7)), mark(500, 7)));
        assert!(timed_snapshot_due(Some(mark(500, 7)), mark(501, 7)));
        assert!(timed_snapshot_due(Some(mark(500, 7)), mark(500, 8)));
    }

    /// A store smaller than `snapshot_log_size` is snapshotted at that limit; a larger one
    /// once the log has grown by the store's size, so snapshots never write more than the log.
    #[test]
    fn the_log_may_grow_by_the_larger_of_the_limit_and_the_last_snapshot() {
        const GIB: u64 = 1 << 30;
        assert_eq!(log_limit(GIB, 0), GIB);
        assert_eq!(log_limit(GIB, 420 << 20), GIB);
        assert_eq!(log_limit(GIB, 4 * GIB), 4 * GIB);
    }

    /// Connections woken in one turn of the event loop hand their records to the kernel with
    /// one `write` between them, and each is answered only once its own record is written.
    #[test]
    fn connections_woken_together_share_one_write() {
        const CONNECTIONS: usize = 8;
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = FaultFs::new(Arc::new(StdFs));
        let engine = Arc::new(Engine::new(EngineConfig::default()));
        let now = Timestamp::from_secs(1_700_000_000);
        let config = StorageConfig {
            fsync: FsyncPolicy::EverySec,
            ..StorageConfig::new(dir.path())
        };
        let (storage, _) = sessiond_storage::open(config, Arc::new(fs.clone()), &engine, now)
            .expect("open the data directory");
        let journal = storage.journal();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let writes_before = fs.writes();
        let settled = runtime.block_on(async {
            let connections: Vec<_> = (0..CONNECTIONS)
                .map(|i| {
                    let engine = Arc::clone(&engine);
                    let journal = Arc::clone(&journal);
                    tokio::spawn(async move {
                        let name = format!("session-{i}");
                        let key = Key::default_namespace(name.as_bytes());
                        let store = Store::new(key, b"cart", 0, Expiry::Never, StoreMode::Set);
                        // One thread: the record gets the next lsn.
                        let own = journal.next_lsn();
                        engine.run(&store, now).expect("stored");
                        let answered = settle(&journal).await;
                        answered && journal.written_lsn() >= own
                    })
                })
                .collect();
            let mut settled = Vec::new();
            for connection in connections {
                settled.push(connection.await.expect("connection task"));
            }
            settled
        });
        assert_eq!(settled, vec![true; CONNECTIONS]);
        assert_eq!(journal.written_lsn(), journal.next_lsn() - 1);
        let writes = fs.writes() - writes_before;
        // Without the yield, one write per connection. The writer thread writes what no
        // connection wrote within 10 ms, so on a machine that stalls the test it may take
        // part of the records first.
        assert!(
            writes <= CONNECTIONS as u64 / 2,
            "{writes} writes for the records of {CONNECTIONS} connections"
        );
        storage.shutdown().expect("shut down");
    }
}
