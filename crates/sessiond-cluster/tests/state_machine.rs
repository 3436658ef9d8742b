//! The replicated state machine: a follower that applies the leader's batches ends up with
//! the leader's store, snapshots carry it whole, and a deposed leader's uncommitted changes
//! are undone by rebuilding.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::sync::Arc;
use std::time::Duration;

use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, RaftLogReader};
use sessiond_cluster::journal::ClusterJournal;
use sessiond_cluster::state_machine::StateMachine;
use sessiond_cluster::types::{EffectBatch, Entry, LogId, TypeConfig, Vote};
use sessiond_engine::{
    Delete, Engine, EngineConfig, Expiry, Get, Key, NamespaceId, SHARD_COUNT, SnapshotItem, Store,
    StoreMode, Timestamp,
};

const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

/// A leader: an engine with an open journal.
struct Leader {
    engine: Arc<Engine>,
    journal: Arc<ClusterJournal>,
    epoch: u64,
}

impl Leader {
    fn new() -> Leader {
        let engine = Arc::new(Engine::new(EngineConfig::default()));
        let journal = Arc::new(ClusterJournal::new(64 << 20));
        engine.attach_journal(journal.clone()).unwrap();
        let epoch = journal.open(0);
        Leader {
            engine,
            journal,
            epoch,
        }
    }

    fn store(&self, key: &str, value: &str, expiry: Expiry) {
        let key = Key::new(NamespaceId(0), key.as_bytes());
        let store = Store::new(key, value.as_bytes(), 7, expiry, StoreMode::Set);
        self.engine.run(&store, NOW).unwrap();
    }

    fn delete(&self, key: &str) {
        let delete = Delete::new(Key::new(NamespaceId(0), key.as_bytes()));
        let _ = self.engine.run(&delete, NOW);
    }

    /// Everything recorded since the last call, as one batch.
    async fn batch(&self) -> EffectBatch {
        self.journal
            .next_batch(self.epoch, || NOW.as_millis())
            .await
            .unwrap()
    }
}

fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(
        openraft::impls::leader_id_adv::LeaderId { term, node_id: 1 },
        index,
    )
}

fn entry(term: u64, index: u64, batch: EffectBatch) -> Entry {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(batch),
    }
}

fn replica(dir: &std::path::Path) -> (StateMachine, Arc<Engine>, Arc<ClusterJournal>) {
    let engine = Arc::new(Engine::new(EngineConfig::default()));
    let journal = Arc::new(ClusterJournal::new(64 << 20));
    engine.attach_journal(journal.clone()).unwrap();
    let machine = StateMachine::open(
        dir,
        Arc::clone(&engine),
        Arc::clone(&journal),
        Default::default(),
    )
    .unwrap();
    (machine, engine, journal)
}

async fn apply(machine: &mut StateMachine, entries: Vec<Entry>) {
    let stream = futures_util::stream::iter(entries.into_iter().map(|entry| Ok((entry, None))));
    machine.apply(stream).await.unwrap();
}

fn contents(engine: &Engine) -> BTreeMap<Vec<u8>, SnapshotItem> {
    (0..SHARD_COUNT)
        .flat_map(|shard| engine.snapshot_shard(shard).items)
        .map(|item| (item.key.to_vec(), item))
        .collect()
}

#[tokio::test]
async fn a_follower_applying_the_leaders_batches_has_the_leaders_store() {
    let leader = Leader::new();
    leader.store("a", "1", Expiry::Never);
    leader.store("b", "2", Expiry::Sliding(Duration::from_secs(1200)));
    let first = leader.batch().await;
    leader.store("a", "3", Expiry::Never);
    leader.delete("b");
    leader.store(
        "c",
        "4",
        Expiry::At(NOW.saturating_add(Duration::from_secs(60))),
    );
    let second = leader.batch().await;
    assert_eq!(second.first_lsn, first.last_lsn + 1);

    let dir = tempfile::tempdir().unwrap();
    let (mut follower, engine, journal) = replica(dir.path());
    apply(&mut follower, vec![entry(1, 1, first), entry(1, 2, second)]).await;
    assert_eq!(contents(&engine), contents(&leader.engine));
    assert_eq!(journal.progress().committed, leader.journal.last_recorded());
    let (applied, _) = follower.applied_state().await.unwrap();
    assert_eq!(applied, Some(log_id(1, 2)));
}

#[tokio::test]
async fn a_snapshot_carries_the_whole_store_to_another_replica_and_across_a_restart() {
    let leader = Leader::new();
    for i in 0..500 {
        leader.store(&format!("key-{i}"), &format!("value-{i}"), Expiry::Never);
    }
    let batch = leader.batch().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut follower, engine, _) = replica(dir.path());
    apply(&mut follower, vec![entry(1, 1, batch)]).await;

    let mut builder = follower.get_snapshot_builder().await;
    let snapshot = builder.build_snapshot().await.unwrap();
    assert_eq!(snapshot.meta.last_log_id, Some(log_id(1, 1)));

    let other_dir = tempfile::tempdir().unwrap();
    let (mut other, other_engine, _) = replica(other_dir.path());
    other
        .install_snapshot(&snapshot.meta, snapshot.snapshot)
        .await
        .unwrap();
    assert_eq!(contents(&other_engine), contents(&engine));
    let (applied, _) = other.applied_state().await.unwrap();
    assert_eq!(applied, Some(log_id(1, 1)));

    // Reopened, the replica starts from its snapshot.
    drop(other);
    let (mut reopened, reopened_engine, _) = replica(other_dir.path());
    assert_eq!(contents(&reopened_engine), contents(&engine));
    assert!(reopened.get_current_snapshot().await.unwrap().is_some());
}

#[tokio::test]
async fn a_leader_skips_its_own_batches_and_a_deposed_one_drops_what_never_committed() {
    let dir = tempfile::tempdir().unwrap();
    let (mut machine, engine, journal) = replica(dir.path());
    let epoch = journal.open(0);
    machine.lead(*log_id(2, 0).committed_leader_id());

    let key = |name: &str| Key::new(NamespaceId(0), name.as_bytes()).name.to_vec();
    let store = |name: &str, value: &str| {
        let command = Store::new(
            Key::new(NamespaceId(0), name.as_bytes()),
            value.as_bytes(),
            0,
            Expiry::Never,
            StoreMode::Set,
        );
        engine.run(&command, NOW).unwrap();
    };
    store("kept", "1");
    let committed = journal.next_batch(epoch, || NOW.as_millis()).await.unwrap();
    store("lost", "2");
    let _never_committed = journal.next_batch(epoch, || NOW.as_millis()).await.unwrap();

    // The committed batch is this leader's own: applying it must not apply it twice (a
    // second application would be harmless here, but it is the leader's store that counts).
    let log = vec![entry(2, 1, committed)];
    apply(&mut machine, log.clone()).await;
    assert_eq!(journal.progress().committed, 1);
    assert!(contents(&engine).contains_key(&key("lost")));

    let dirty = journal.close();
    assert!(dirty, "a change was recorded that never committed");
    let mut reader = VecLog(log);
    machine.step_down(dirty, &mut reader).await.unwrap();
    let after = contents(&engine);
    assert!(after.contains_key(&key("kept")));
    assert!(!after.contains_key(&key("lost")));
}

#[tokio::test]
async fn waits_end_when_leadership_does() {
    let leader = Leader::new();
    leader.store("a", "1", Expiry::Never);
    let (epoch, lsn) = sessiond_cluster::journal::take_thread_lsn();
    assert_eq!((epoch, lsn), (leader.epoch, 1));
    let journal = Arc::clone(&leader.journal);
    let wait = tokio::spawn(async move { journal.wait_committed(lsn, epoch).await });
    leader.journal.close();
    assert!(wait.await.unwrap().is_err());
    assert!(!leader.journal.is_open());
}

#[tokio::test]
async fn a_later_leaders_batch_does_not_answer_this_leaderships_waits() {
    let dir = tempfile::tempdir().unwrap();
    let (mut machine, engine, journal) = replica(dir.path());
    let epoch = journal.open(0);
    machine.lead(*log_id(2, 0).committed_leader_id());
    let command = Store::new(
        Key::new(NamespaceId(0), b"mine"),
        b"never committed",
        0,
        Expiry::Never,
        StoreMode::Set,
    );
    engine.run(&command, NOW).unwrap();
    let (_, lsn) = sessiond_cluster::journal::take_thread_lsn();

    // The next leader numbers its records from its own committed lsn: its first batch
    // carries the same lsn as this node's uncommitted record. This node applies it before it
    // notices it no longer leads.
    let next = Leader::new();
    next.store("theirs", "1", Expiry::Never);
    let batch = next.batch().await;
    assert_eq!(batch.last_lsn, lsn);
    apply(&mut machine, vec![entry(3, 1, batch)]).await;

    assert_eq!(journal.progress().committed, 0);
    assert!(
        futures_util::FutureExt::now_or_never(journal.wait_committed(lsn, epoch)).is_none(),
        "the client's write must not be acknowledged"
    );
    assert!(journal.close());
}

#[tokio::test]
async fn a_snapshot_copied_while_leadership_ends_is_taken_again_from_the_rebuilt_engine() {
    let dir = tempfile::tempdir().unwrap();
    let (mut machine, engine, journal) = replica(dir.path());
    let epoch = journal.open(0);
    machine.lead(*log_id(2, 0).committed_leader_id());
    let store = |name: &str| {
        let key = Key::new(NamespaceId(0), name.as_bytes());
        let command = Store::new(key, b"value", 0, Expiry::Never, StoreMode::Set);
        engine.run(&command, NOW).unwrap();
    };
    store("kept");
    let committed = journal.next_batch(epoch, || NOW.as_millis()).await.unwrap();
    let log = vec![entry(2, 1, committed)];
    apply(&mut machine, log.clone()).await;
    store("lost");

    // The copy holds "lost", so it waits for that to commit; leadership ends instead.
    let mut builder = machine.get_snapshot_builder().await;
    let build = tokio::spawn(async move { builder.build_snapshot().await });
    while !has_file_ending(dir.path(), ".tmp") {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let dirty = journal.close();
    assert!(dirty);
    machine.step_down(dirty, &mut VecLog(log)).await.unwrap();
    let snapshot = build.await.unwrap().expect("building must not fail");

    assert_eq!(snapshot.meta.last_log_id, Some(log_id(2, 1)));
    let other_dir = tempfile::tempdir().unwrap();
    let (mut other, other_engine, _) = replica(other_dir.path());
    other
        .install_snapshot(&snapshot.meta, snapshot.snapshot)
        .await
        .unwrap();
    let names: Vec<Vec<u8>> = contents(&other_engine).into_keys().collect();
    assert_eq!(names, [Key::new(NamespaceId(0), b"kept").name.to_vec()]);
    assert!(!has_file_ending(dir.path(), ".tmp"));
}

fn has_file_ending(dir: &std::path::Path, suffix: &str) -> bool {
    std::fs::read_dir(dir).unwrap().any(|entry| {
        entry
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(suffix)
    })
}

/// A log held in memory, for the rebuild.
struct VecLog(Vec<Entry>);

impl RaftLogReader<TypeConfig> for VecLog {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        Ok(self
            .0
            .iter()
            .filter(|entry| range.contains(&entry.log_id.index))
            .cloned()
            .collect())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        Ok(None)
    }
}

#[tokio::test]
async fn a_read_waits_only_for_the_uncommitted_records_of_the_shards_it_read() {
    let leader = Leader::new();
    let get = |name: &str| {
        let key = Key::new(NamespaceId(0), name.as_bytes());
        let _ = leader.engine.run(&Get::new(key), NOW);
        sessiond_cluster::journal::take_thread_lsn()
    };
    leader.store("written", "1", Expiry::Never);
    assert_eq!(
        sessiond_cluster::journal::take_thread_lsn(),
        (leader.epoch, 1)
    );

    // Reading the written key shows an uncommitted write: the reply must wait for it. Keys
    // on the other shards show nothing uncommitted and hold no reply.
    assert_eq!(get("written"), (leader.epoch, 1));
    let quiet: Vec<String> = (0..200)
        .map(|i| format!("quiet-{i}"))
        .filter(|name| get(name) == (0, 0))
        .collect();
    assert!(
        quiet.len() > 150,
        "most of 200 keys are on one of the 63 other shards: {}",
        quiet.len()
    );

    // Once the group commits it, the mark stays but no longer delays: the caller sees it
    // committed. A later leadership ignores the earlier one's marks altogether.
    leader.journal.publish_committed(1, 0);
    assert_eq!(get("written"), (leader.epoch, 1));
    assert!(leader.journal.progress().committed >= 1);
    leader.journal.close();
    let epoch = leader.journal.open(1);
    assert_eq!(get("written"), (0, 0));

    // A delete is a record of its shard like a write: a read of the deleted key waits for it.
    leader.delete("written");
    assert_eq!(sessiond_cluster::journal::take_thread_lsn(), (epoch, 2));
    assert_eq!(get("written"), (epoch, 2));
    assert_eq!(get(&quiet[0]), (0, 0));
}
