//! The Raft group's types: what a log entry carries, what a node is, and openraft's type
//! configuration. Every openraft type the rest of sessiond sees is named here.

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A node's id in the cluster, as `--node-id` gives it.
pub type NodeId = u64;

/// One log entry's data: a run of the engine's effects, encoded as the write-ahead log's
/// records (`sessiond_storage::record`: lsn, the leader's time, the change, a checksum).
///
/// The leader runs every command on its own engine, whose journal hands the effects to the
/// proposer; a batch is everything recorded since the last proposal, so concurrent clients
/// share one entry and one round of replication (as they share one fsync in single-node
/// mode). Followers apply the records as assignments (`Engine::restore`), so they never read
/// their own clock and cannot diverge from the leader.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectBatch {
    /// The leader's clock when it proposed the batch, in milliseconds since the epoch. Nodes
    /// never let their own time run behind the newest time they applied, so a new leader
    /// whose clock is slow neither shortens nor ages locks and sessions backwards.
    pub time: u64,
    /// The journal lsn of the first record (0 for an empty batch).
    pub first_lsn: u64,
    /// The journal lsn of the last record (0 for an empty batch).
    pub last_lsn: u64,
    /// The encoded records, `first_lsn..=last_lsn` in order. Shared, not copied, when openraft
    /// clones the entry (once per follower it replicates to, once to apply it); encoded as
    /// the byte string `serde_bytes` wrote before.
    pub records: Bytes,
}

impl fmt::Debug for EffectBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EffectBatch")
            .field("time", &self.time)
            .field("first_lsn", &self.first_lsn)
            .field("last_lsn", &self.last_lsn)
            .field("bytes", &self.records.len())
            .finish()
    }
}

impl fmt::Display for EffectBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "effects {}..={} ({} bytes)",
            self.first_lsn,
            self.last_lsn,
            self.records.len()
        )
    }
}

/// What applying an entry answers. The leader's replies come from its own engine, so
/// there is nothing to carry back.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied;

/// A cluster member: where its peers reach it, and where clients reach it, so that a node
/// that is not the leader can send a client's connection on to the one that is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The cluster listener, `host:port`.
    pub cluster: String,
    /// Client listeners by protocol name (`memcache`, `aspnet`, `sharedance`): `host:port`.
    pub clients: BTreeMap<String, String>,
}

impl fmt::Display for NodeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.cluster)
    }
}

openraft::declare_raft_types!(
    /// sessiond's Raft type configuration.
    pub TypeConfig:
        D = EffectBatch,
        R = Applied,
        NodeId = NodeId,
        Node = NodeInfo,
);

/// The Raft instance sessiond runs.
pub type Raft = openraft::Raft<TypeConfig, crate::state_machine::StateMachine>;
/// A log entry.
pub type Entry = openraft::alias::EntryOf<TypeConfig>;
/// A log id (leader and index).
pub type LogId = openraft::alias::LogIdOf<TypeConfig>;
/// A vote.
pub type Vote = openraft::alias::VoteOf<TypeConfig>;
/// A membership as the state machine stores it.
pub type StoredMembership = openraft::alias::StoredMembershipOf<TypeConfig>;
/// A snapshot's description.
pub type SnapshotMeta = openraft::alias::SnapshotMetaOf<TypeConfig>;
/// The metrics openraft publishes.
pub type RaftMetrics = openraft::RaftMetrics<TypeConfig>;
