//! The Raft log store against openraft's conformance suite, under every fsync policy and with
//! segments small enough that the suite's logs span several of them, plus a reopen of a store
//! through the public API.

use std::io;
use std::sync::Arc;

use futures_util::stream::{Stream, TryStreamExt};
use openraft::entry::RaftEntry;
use openraft::storage::{
    EntryResponder, IOFlushed, RaftLogStorage, RaftSnapshotBuilder, RaftStateMachine,
};
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::type_config::TypeConfigExt;
use openraft::{OptionalSend, RaftLogReader, StorageError};
use parking_lot::Mutex;
use sessiond_cluster::log_store::{LogStore, LogStoreConfig};
use sessiond_cluster::types::{
    EffectBatch, Entry, LogId, SnapshotMeta, StoredMembership, TypeConfig, Vote,
};
use sessiond_storage::{FsyncPolicy, StdFs};
use tempfile::TempDir;

type Snapshot = openraft::alias::SnapshotOf<TypeConfig, Vec<u8>>;

/// A state machine that keeps only what the suite looks at: the applied log id, the
/// membership and the current snapshot. (The real one is `state_machine::StateMachine`.)
#[derive(Clone, Default)]
struct MemStateMachine {
    inner: Arc<Mutex<MemInner>>,
}

#[derive(Default)]
struct MemInner {
    applied: Option<LogId>,
    membership: StoredMembership,
    snapshot: Option<(SnapshotMeta, Vec<u8>)>,
}

impl RaftSnapshotBuilder<TypeConfig> for MemStateMachine {
    type SnapshotData = Vec<u8>;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let mut inner = self.inner.lock();
        let meta = SnapshotMeta {
            last_log_id: inner.applied,
            last_membership: inner.membership.clone(),
        };
        inner.snapshot = Some((meta.clone(), Vec::new()));
        Ok(Snapshot {
            meta,
            snapshot: Vec::new(),
        })
    }
}

impl RaftStateMachine<TypeConfig> for MemStateMachine {
    type SnapshotData = Vec<u8>;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        let inner = self.inner.lock();
        Ok((inner.applied, inner.membership.clone()))
    }

    async fn apply<S>(&mut self, mut entries: S) -> Result<(), io::Error>
    where
        S: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        while let Some((entry, responder)) = entries.try_next().await? {
            let mut inner = self.inner.lock();
            inner.applied = Some(entry.log_id());
            if let Some(membership) = entry.get_membership() {
                inner.membership = StoredMembership::new(Some(entry.log_id()), membership);
            }
            drop(inner);
            if let Some(responder) = responder {
                responder.send(sessiond_cluster::types::Applied);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Vec<u8>,
    ) -> Result<(), io::Error> {
        let mut inner = self.inner.lock();
        inner.applied = meta.last_log_id;
        inner.membership = meta.last_membership.clone();
        inner.snapshot = Some((meta.clone(), snapshot));
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        Ok(self
            .inner
            .lock()
            .snapshot
            .clone()
            .map(|(meta, snapshot)| Snapshot { meta, snapshot }))
    }
}

struct Builder {
    config: LogStoreConfig,
}

impl StoreBuilder<TypeConfig, LogStore, MemStateMachine, TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(TempDir, LogStore, MemStateMachine), StorageError<TypeConfig>> {
        let dir =
            tempfile::tempdir().map_err(|e| StorageError::read(TypeConfig::err_from_error(&e)))?;
        let store = LogStore::open_with(&dir.path().join("raft"), self.config, Arc::new(StdFs))
            .map_err(|e| {
                StorageError::read(TypeConfig::err_from_error(&io::Error::other(e.to_string())))
            })?;
        Ok((dir, store, MemStateMachine::default()))
    }
}

fn run_suite(config: LogStoreConfig) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(Suite::test_all(Builder { config }))
        .unwrap();
}

#[test]
fn conformance_suite_with_the_defaults() {
    run_suite(LogStoreConfig::new(FsyncPolicy::EverySec));
}

#[test]
fn conformance_suite_with_tiny_segments_and_no_cache() {
    // Every append starts a segment, and every read goes to the disk. (`everysec` runs
    // with the defaults above; each run costs seconds of fsyncs.)
    for fsync in [FsyncPolicy::Always, FsyncPolicy::No] {
        run_suite(LogStoreConfig {
            fsync,
            segment_size: 1,
            cache_bytes: 0,
        });
    }
}

#[test]
fn conformance_suite_with_a_small_cache() {
    run_suite(LogStoreConfig {
        fsync: FsyncPolicy::No,
        segment_size: 200,
        cache_bytes: 150,
    });
}

fn log_id(term: u64, index: u64) -> LogId {
    openraft::testing::log_id::<TypeConfig>(term, 1, index)
}

fn entry(term: u64, index: u64) -> Entry {
    Entry::new_normal(
        log_id(term, index),
        EffectBatch {
            time: index,
            first_lsn: index,
            last_lsn: index,
            records: vec![index as u8; 100].into(),
        },
    )
}

#[tokio::test]
async fn a_reopened_store_has_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raft");
    {
        let mut store = LogStore::open(&path, FsyncPolicy::Always).unwrap();
        let (tx, rx) = TypeConfig::oneshot();
        store
            .append((0..10).map(|i| entry(1, i)), IOFlushed::signal(tx))
            .await
            .unwrap();
        rx.await.unwrap().unwrap();
        store.save_vote(&Vote::new_committed(1, 1)).await.unwrap();
        store.save_committed(Some(log_id(1, 7))).await.unwrap();
        store.purge(log_id(1, 2)).await.unwrap();
        store.truncate_after(Some(log_id(1, 8))).await.unwrap();
    }
    let mut store = LogStore::open(&path, FsyncPolicy::Always).unwrap();
    let state = store.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 2)));
    assert_eq!(state.last_log_id, Some(log_id(1, 8)));
    assert_eq!(store.read_committed().await.unwrap(), Some(log_id(1, 7)));
    let mut reader = store.reader();
    assert_eq!(
        reader.read_vote().await.unwrap(),
        Some(Vote::new_committed(1, 1))
    );
    let entries = reader.try_get_log_entries(..).await.unwrap();
    assert_eq!(entries, (3..=8).map(|i| entry(1, i)).collect::<Vec<_>>());
}
