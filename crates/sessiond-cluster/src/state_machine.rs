//! The replicated state machine: the session engine, as the committed log builds it.
//!
//! Followers apply each committed [`EffectBatch`] as assignments ([`Engine::restore`]): they
//! never run a command or read their own clock, so they cannot diverge from the leader. The
//! leader already ran the commands that produced its batches, so it skips them (see
//! [`StateMachine::lead`]); a leader deposed before its batches committed rebuilds its engine
//! from the newest snapshot and the committed log ([`StateMachine::step_down`]).
//!
//! Snapshots are fuzzy, as the single-node ones are: shards are copied one at a time while
//! commands go on, so a copy may hold effects newer than the snapshot's log id; applying the
//! log after that id again only reassigns them. On the leader those newer effects may not be
//! committed yet, so a snapshot is kept only once they are. A copy that spans the end of a
//! leadership is thrown away and taken again once the engine is rebuilt: building never
//! fails for that, since openraft takes a failed build for a broken disk and stops the node.

use std::fs::{self, File};
use std::io::{self, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::{Stream, StreamExt};
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, RaftLogReader};
use parking_lot::Mutex;
use sessiond_engine::Engine;
use sessiond_storage::record;

use crate::journal::ClusterJournal;
use crate::snapshot_file::{self, SnapshotHeader};
use crate::types::{
    Applied, EffectBatch, Entry, LogId, SnapshotMeta, StoredMembership, TypeConfig,
};

/// The committed leader id as log ids carry it.
type CommittedLeaderId = openraft::alias::CommittedLeaderIdOf<TypeConfig>;
/// A snapshot as openraft hands it around: its description and its file.
pub type Snapshot = openraft::alias::SnapshotOf<TypeConfig, File>;

/// The engine as the Raft group drives it.
#[derive(Clone)]
pub struct StateMachine {
    shared: Arc<Shared>,
}

/// What the state machine, its snapshot builders and the node share.
struct Shared {
    engine: Arc<Engine>,
    journal: Arc<ClusterJournal>,
    dir: PathBuf,
    /// The newest leader time applied (milliseconds); see [`EffectBatch::time`]. Shared with
    /// the node's clock, which never runs behind it.
    time: Arc<AtomicU64>,
    state: Mutex<State>,
    /// Held while the engine is replaced wholesale (rebuilt, or loaded from a received
    /// snapshot) and while a snapshot copies it or is put in place: a copy of a half-loaded
    /// engine would lose sessions.
    gate: tokio::sync::Mutex<()>,
}

struct State {
    last_applied: Option<LogId>,
    /// The highest journal lsn applied.
    last_lsn: u64,
    membership: StoredMembership,
    /// The snapshot on disk, if any.
    snapshot: Option<(PathBuf, SnapshotHeader)>,
    /// The leadership whose batches are already in the engine (this node's, while it
    /// leads).
    leading: Option<CommittedLeaderId>,
}

impl StateMachine {
    /// Opens the state machine kept in `dir` (created if missing): loads the newest snapshot
    /// there into `engine`, which must be empty. The log after it is applied by Raft. `time`
    /// follows the newest leader time applied, in milliseconds since the epoch.
    pub fn open(
        dir: &Path,
        engine: Arc<Engine>,
        journal: Arc<ClusterJournal>,
        time: Arc<AtomicU64>,
    ) -> io::Result<StateMachine> {
        fs::create_dir_all(dir)?;
        let snapshot = snapshot_file::newest(dir)?;
        let mut state = State {
            last_applied: None,
            last_lsn: 0,
            membership: StoredMembership::default(),
            snapshot: None,
            leading: None,
        };
        if let Some((path, _)) = snapshot {
            let header = snapshot_file::load(&mut File::open(&path)?, &engine)?;
            tracing::info!(
                file = %path.display(),
                items = engine.stats().curr_items,
                "loaded the replica's snapshot"
            );
            state.last_applied = header.last_log_id;
            state.last_lsn = header.last_lsn;
            state.membership = header.membership.clone();
            time.fetch_max(header.time, Ordering::AcqRel);
            state.snapshot = Some((path, header));
        }
        journal.publish_committed(state.last_lsn, 0);
        Ok(StateMachine {
            shared: Arc::new(Shared {
                engine,
                journal,
                dir: dir.to_owned(),
                time,
                state: Mutex::new(state),
                gate: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// The highest journal lsn applied.
    pub fn last_lsn(&self) -> u64 {
        self.shared.state.lock().last_lsn
    }

    /// This node leads as `leader` and every earlier entry is applied: from now on the
    /// batches of this leadership are the engine's own and are not applied again.
    pub fn lead(&self, leader: CommittedLeaderId) {
        self.shared.state.lock().leading = Some(leader);
    }

    /// This node no longer leads. When `dirty` (its engine ran commands the group may
    /// never commit), the engine is rebuilt from the snapshot and the committed log.
    pub async fn step_down<R: RaftLogReader<TypeConfig>>(
        &self,
        dirty: bool,
        log: &mut R,
    ) -> io::Result<()> {
        let (snapshot, last_applied) = {
            let mut state = self.shared.state.lock();
            state.leading = None;
            if !dirty {
                return Ok(());
            }
            (
                state.snapshot.as_ref().map(|(path, _)| path.clone()),
                state.last_applied,
            )
        };
        tracing::warn!("rebuilding the engine: it holds changes the cluster did not commit");
        let _gate = self.shared.gate.lock().await;
        let engine = &self.shared.engine;
        engine.clear();
        let mut from = 0;
        let mut last_lsn = 0;
        if let Some(path) = snapshot {
            let header = snapshot_file::load(&mut File::open(&path)?, engine)?;
            from = header.last_log_id.as_ref().map_or(0, |id| id.index + 1);
            last_lsn = header.last_lsn;
        }
        if let Some(last) = last_applied {
            let entries = log.try_get_log_entries(from..=last.index).await?;
            for entry in &entries {
                if let EntryPayload::Normal(batch) = &entry.payload {
                    restore(engine, batch)?;
                    last_lsn = last_lsn.max(batch.last_lsn);
                }
            }
        }
        self.shared.state.lock().last_lsn = last_lsn;
        self.shared.journal.rebuilt();
        Ok(())
    }

    fn apply_entry(&self, entry: &Entry) -> io::Result<()> {
        let mut state = self.shared.state.lock();
        match &entry.payload {
            EntryPayload::Blank => {}
            EntryPayload::Normal(batch) => {
                let own = state.leading.as_ref() == Some(&entry.log_id.leader_id);
                if !own {
                    restore(&self.shared.engine, batch)?;
                }
                self.shared.time.fetch_max(batch.time, Ordering::AcqRel);
                if batch.last_lsn > 0 {
                    state.last_lsn = state.last_lsn.max(batch.last_lsn);
                }
                // A later leader's batch, applied before this node saw it lose leadership,
                // numbers its records afresh: its lsns must not answer this leadership's
                // waits for records the group may never commit.
                if own || state.leading.is_none() {
                    self.shared
                        .journal
                        .publish_committed(state.last_lsn, batch.records.len());
                }
            }
            EntryPayload::Membership(membership) => {
                state.membership = StoredMembership::new(Some(entry.log_id), membership.clone());
            }
        }
        state.last_applied = Some(entry.log_id);
        Ok(())
    }
}

impl std::fmt::Debug for StateMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.shared.state.lock();
        f.debug_struct("StateMachine")
            .field("last_applied", &state.last_applied)
            .field("last_lsn", &state.last_lsn)
            .finish()
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = File;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        let state = self.shared.state.lock();
        Ok((state.last_applied, state.membership.clone()))
    }

    async fn apply<S>(&mut self, mut entries: S) -> Result<(), io::Error>
    where
        S: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + Send,
    {
        while let Some(next) = entries.next().await {
            let (entry, responder) = next?;
            self.apply_entry(&entry)?;
            if let Some(responder) = responder {
                responder.send(Applied);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        let state = self.shared.state.lock();
        SnapshotBuilder {
            shared: Arc::clone(&self.shared),
            header: SnapshotHeader {
                last_log_id: state.last_applied,
                membership: state.membership.clone(),
                last_lsn: state.last_lsn,
                time: self.shared.time.load(Ordering::Acquire),
            },
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        mut file: File,
    ) -> Result<(), io::Error> {
        let shared = &self.shared;
        let _gate = shared.gate.lock().await;
        let header = snapshot_file::read_header(&mut file)?;
        if header.last_log_id != meta.last_log_id {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the snapshot received does not match its description",
            ));
        }
        // Keep it as this replica's own snapshot: copy it into place under its name.
        let path = shared
            .dir
            .join(snapshot_file::file_name(header.last_log_id.as_ref()));
        // Not `write`'s temporary name: a copy of this node's own may be waiting under it.
        let temporary = path.with_extension(snapshot_file::RECEIVED);
        {
            let mut out = File::create(&temporary)?;
            file.seek(io::SeekFrom::Start(0))?;
            io::copy(&mut file, &mut out)?;
            out.sync_all()?;
        }
        fs::rename(&temporary, &path)?;
        File::open(&shared.dir)?.sync_all()?;
        shared.engine.clear();
        let header = snapshot_file::load(&mut File::open(&path)?, &shared.engine)?;
        snapshot_file::remove_others(&shared.dir, &path)?;
        shared.time.fetch_max(header.time, Ordering::AcqRel);
        let mut state = shared.state.lock();
        state.last_applied = header.last_log_id;
        state.last_lsn = header.last_lsn;
        state.membership = header.membership.clone();
        state.leading = None;
        shared.journal.publish_committed(header.last_lsn, 0);
        state.snapshot = Some((path, header));
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        let current = self.shared.state.lock().snapshot.clone();
        match current {
            None => Ok(None),
            Some((path, header)) => Ok(Some(Snapshot {
                meta: header.meta(),
                snapshot: File::open(path)?,
            })),
        }
    }
}

/// Builds a snapshot of the engine as of the last applied entry when it was created.
pub struct SnapshotBuilder {
    shared: Arc<Shared>,
    header: SnapshotHeader,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = File;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        loop {
            if let Some(snapshot) = self.try_build().await? {
                return Ok(snapshot);
            }
            // Leadership ended while the engine was copied: copy it again once it holds
            // only what the group committed.
            self.shared.journal.wait_rebuilt().await;
        }
    }
}

impl SnapshotBuilder {
    /// Copies the engine and keeps the copy; `None` when leadership changed meanwhile, so
    /// the copy may hold changes the group never committed.
    async fn try_build(&self) -> io::Result<Option<Snapshot>> {
        let shared = &self.shared;
        let journal = &shared.journal;
        let gate = shared.gate.lock().await;
        let start = journal.progress();
        if start.rebuilding {
            return Ok(None);
        }
        let copier = Arc::clone(shared);
        let header = self.header.clone();
        let (temporary, captured) = tokio::task::spawn_blocking(move || {
            let temporary = snapshot_file::write(&copier.dir, &header, &copier.engine)?;
            // Everything the copy may hold was recorded by now.
            Ok::<_, io::Error>((temporary, copier.journal.last_recorded()))
        })
        .await
        .map_err(io::Error::other)??;
        drop(gate);
        // A follower's engine changes only by applying committed entries. On the leader the
        // copy may hold effects not yet committed: it may only be kept once they are. Lsns
        // restart with each leadership, so a copy taken across a change of epoch is never
        // kept, even when the new epoch's committed lsn is numerically past it.
        let committed = journal.epoch() == start.epoch
            && (!start.leading
                || journal.progress().committed >= captured
                || journal.wait_committed(captured, start.epoch).await.is_ok());
        let _gate = shared.gate.lock().await;
        if !committed || journal.epoch() != start.epoch {
            let _ = fs::remove_file(&temporary);
            return Ok(None);
        }
        let mut state = shared.state.lock();
        if let Some((path, current)) = &state.snapshot
            && current.last_log_id >= self.header.last_log_id
        {
            // A snapshot received from the leader meanwhile is newer: keep it.
            let _ = fs::remove_file(&temporary);
            return Ok(Some(Snapshot {
                meta: current.meta(),
                snapshot: File::open(path)?,
            }));
        }
        let path = snapshot_file::keep(&shared.dir, &temporary)?;
        snapshot_file::remove_others(&shared.dir, &path)?;
        let file = File::open(&path)?;
        state.snapshot = Some((path, self.header.clone()));
        Ok(Some(Snapshot {
            meta: self.header.meta(),
            snapshot: file,
        }))
    }
}

/// Applies a batch's records to the engine.
fn restore(engine: &Engine, batch: &EffectBatch) -> io::Result<()> {
    let mut rest = &batch.records[..];
    while !rest.is_empty() {
        let (decoded, used) = record::decode(rest).map_err(|error| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a log entry's record: {error}"),
            )
        })?;
        engine.restore(&decoded.effect);
        rest = &rest[used..];
    }
    Ok(())
}
