//! A node's view of the cluster, as the `Status` admin call reports it.

use std::collections::BTreeMap;
use std::fmt;

use openraft::ServerState;
use serde::{Deserialize, Serialize};

use crate::types::{NodeId, NodeInfo, RaftMetrics};

/// A node's role in the Raft group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Leads the group: takes writes and replicates them.
    Leader,
    /// A voter following a leader.
    Follower,
    /// A voter asking for votes.
    Candidate,
    /// Receives the log but does not vote (a new node catching up, or a non-member).
    Learner,
    /// Raft is shutting down.
    Shutdown,
}

impl From<ServerState> for Role {
    fn from(state: ServerState) -> Self {
        match state {
            ServerState::Leader => Role::Leader,
            ServerState::Follower => Role::Follower,
            ServerState::Candidate => Role::Candidate,
            ServerState::Learner => Role::Learner,
            ServerState::Shutdown => Role::Shutdown,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Leader => "leader",
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::Learner => "learner",
            Role::Shutdown => "shutdown",
        })
    }
}

/// One node's view of the cluster. Log positions are indexes (`None`: nothing yet).
///
/// Every field is always present (no `skip_serializing_if`): the admin protocol encodes it
/// with postcard, which is not self-describing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// The answering node's id.
    pub id: NodeId,
    /// Its role.
    pub role: Role,
    /// Its current term.
    pub term: u64,
    /// The leader it knows of.
    pub leader: Option<NodeId>,
    /// The index of its last log entry.
    pub last_log_index: Option<u64>,
    /// The last entry it knows to be committed.
    pub committed: Option<u64>,
    /// The last entry its state machine applied.
    pub applied: Option<u64>,
    /// The last entry its newest snapshot covers.
    pub snapshot: Option<u64>,
    /// The last entry it removed from its log (covered by a snapshot).
    pub purged: Option<u64>,
    /// The voters of the membership it uses, with where to reach them.
    pub voters: BTreeMap<NodeId, NodeInfo>,
    /// The learners of that membership.
    pub learners: BTreeMap<NodeId, NodeInfo>,
    /// True while a membership change is under way (a joint configuration of old and new
    /// voters).
    pub joint: bool,
    /// True when that membership is committed.
    pub membership_committed: bool,
    /// On the leader: how far each node's log is known to match the leader's (`None` inside
    /// the map: nothing matched yet). `None` on other nodes.
    pub replication: Option<BTreeMap<NodeId, Option<u64>>>,
}

impl ClusterStatus {
    /// The status openraft's metrics describe.
    pub fn from_metrics(metrics: &RaftMetrics) -> Self {
        let stored = &metrics.membership_config;
        let membership = stored.membership();
        let node = |id: NodeId| membership.get_node(&id).cloned().unwrap_or_default();
        let voters: BTreeMap<NodeId, NodeInfo> =
            membership.voter_ids().map(|id| (id, node(id))).collect();
        let learners = membership.learner_ids().map(|id| (id, node(id))).collect();
        ClusterStatus {
            id: metrics.id,
            role: metrics.state.into(),
            term: metrics.current_term,
            leader: metrics.current_leader,
            last_log_index: metrics.last_log_index,
            committed: metrics.local_committed.as_ref().map(|id| id.index),
            applied: metrics.last_applied.as_ref().map(|id| id.index),
            snapshot: metrics.snapshot.as_ref().map(|id| id.index),
            purged: metrics.purged.as_ref().map(|id| id.index),
            voters,
            learners,
            joint: membership.get_joint_config().len() > 1,
            membership_committed: metrics.membership_config == metrics.committed_membership_config,
            replication: metrics.replication.as_ref().map(|progress| {
                progress
                    .iter()
                    .map(|(id, matched)| (*id, matched.as_ref().map(|log_id| log_id.index)))
                    .collect()
            }),
        }
    }
}

impl fmt::Display for ClusterStatus {
    /// A short human-readable table, for `sessiond cluster status`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn opt(v: Option<u64>) -> String {
            v.map_or_else(|| "-".to_string(), |v| v.to_string())
        }
        writeln!(
            f,
            "node {} {} term {} leader {}",
            self.id,
            self.role,
            self.term,
            opt(self.leader)
        )?;
        writeln!(
            f,
            "log {} committed {} applied {} snapshot {} purged {}",
            opt(self.last_log_index),
            opt(self.committed),
            opt(self.applied),
            opt(self.snapshot),
            opt(self.purged)
        )?;
        if self.joint || !self.membership_committed {
            writeln!(f, "membership change in progress")?;
        }
        writeln!(
            f,
            "{:<8} {:<9} {:<24} {:>8}",
            "id", "role", "cluster", "matched"
        )?;
        let members = self
            .voters
            .iter()
            .map(|(id, info)| (id, "voter", info))
            .chain(self.learners.iter().map(|(id, info)| (id, "learner", info)));
        for (id, role, info) in members {
            let matched = match &self.replication {
                Some(progress) => opt(progress.get(id).copied().flatten()),
                None => "-".to_string(),
            };
            writeln!(
                f,
                "{:<8} {:<9} {:<24} {:>8}",
                id, role, info.cluster, matched
            )?;
        }
        Ok(())
    }
}
