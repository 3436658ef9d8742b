//! The messages a cluster connection carries after the handshake. Each is one postcard frame;
//! the client sends a request and reads one response, except for a snapshot, which is sent as
//! `SnapshotBegin`, any number of `SnapshotChunk`s and `SnapshotEnd`, answered once.
//!
//! postcard encodes enum variants by position: append variants, never reorder them, and bump
//! [`PROTOCOL_VERSION`](super::handshake::PROTOCOL_VERSION) when a message changes shape.

use std::fmt;

use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};

use super::admin::{AdminRequest, AdminResponse};
use crate::types::{NodeId, SnapshotMeta, TypeConfig, Vote};

/// A request from a client (a peer's Raft or an admin client) to a node.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Request {
    /// Raft AppendEntries (also the heartbeat).
    AppendEntries {
        /// The node the sender means to reach: a node that is not it refuses, so a reused
        /// address never delivers Raft messages to the wrong member.
        target: NodeId,
        /// The request.
        rpc: AppendEntriesRequest<TypeConfig>,
    },
    /// Raft RequestVote.
    Vote {
        /// See `AppendEntries::target`.
        target: NodeId,
        /// The request.
        rpc: VoteRequest<TypeConfig>,
    },
    /// Raft Pre-Vote.
    PreVote {
        /// See `AppendEntries::target`.
        target: NodeId,
        /// The request.
        rpc: VoteRequest<TypeConfig>,
    },
    /// Leadership transfer notice.
    TransferLeader {
        /// See `AppendEntries::target`.
        target: NodeId,
        /// The request.
        rpc: TransferLeaderRequest<TypeConfig>,
    },
    /// The start of a snapshot: chunks follow, then `SnapshotEnd`.
    SnapshotBegin {
        /// See `AppendEntries::target`.
        target: NodeId,
        /// The sending leader's vote, which the receiver checks when installing.
        vote: Vote,
        /// What the snapshot holds.
        meta: SnapshotMeta,
    },
    /// The next bytes of the snapshot file.
    SnapshotChunk(#[serde(with = "serde_bytes")] Vec<u8>),
    /// The end of the snapshot, with its total length as a check.
    SnapshotEnd {
        /// The number of bytes sent in chunks.
        len: u64,
    },
    /// A cluster administration request.
    Admin(AdminRequest),
}

/// A node's answer to a [`Request`].
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Response {
    /// Answer to `AppendEntries`.
    AppendEntries(AppendEntriesResponse<TypeConfig>),
    /// Answer to `Vote` and `PreVote`.
    Vote(VoteResponse<TypeConfig>),
    /// Answer to `TransferLeader`.
    TransferLeader(TransferLeaderResponse<TypeConfig>),
    /// Answer to a complete snapshot.
    Snapshot(SnapshotResponse<TypeConfig>),
    /// Answer to `Admin`.
    Admin(AdminResponse),
    /// The request could not be served.
    Failed(Failure),
}

/// Why a node could not serve a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Failure {
    /// The request was meant for another node id than the one listening at this address.
    WrongNode {
        /// The node the sender meant.
        expected: NodeId,
        /// The node that answered.
        actual: NodeId,
    },
    /// The node's Raft has stopped (shut down or failed).
    Stopped(String),
    /// The node could not store an incoming snapshot.
    Storage(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::WrongNode { expected, actual } => write!(
                f,
                "request for node {expected} reached node {actual} (stale address?)"
            ),
            Failure::Stopped(e) => write!(f, "raft stopped: {e}"),
            Failure::Storage(e) => write!(f, "cannot store the snapshot: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use openraft::{Entry, EntryPayload, Membership};

    use super::*;
    use crate::network::frame;
    use crate::types::{EffectBatch, LogId, NodeInfo};

    fn log_id(term: u64, node: NodeId, index: u64) -> LogId {
        openraft::testing::log_id::<TypeConfig>(term, node, index)
    }

    #[test]
    fn raft_messages_survive_postcard() {
        let mut nodes = BTreeMap::new();
        nodes.insert(
            1,
            NodeInfo {
                cluster: "10.0.0.1:7000".into(),
                clients: BTreeMap::from([("memcache".into(), "10.0.0.1:11211".into())]),
            },
        );
        nodes.insert(2, NodeInfo::default());
        let membership =
            Membership::new(vec![BTreeSet::from([1, 2])], nodes).expect("a valid membership");
        let rpc = AppendEntriesRequest::<TypeConfig> {
            vote: Vote::new_committed(3, 1),
            prev_log_id: Some(log_id(2, 1, 9)),
            entries: vec![
                Entry {
                    log_id: log_id(3, 1, 10),
                    payload: EntryPayload::Blank,
                },
                Entry {
                    log_id: log_id(3, 1, 11),
                    payload: EntryPayload::Normal(EffectBatch {
                        time: 5,
                        first_lsn: 1,
                        last_lsn: 2,
                        records: vec![1, 2, 3].into(),
                    }),
                },
                Entry {
                    log_id: log_id(3, 1, 12),
                    payload: EntryPayload::Membership(membership.clone()),
                },
            ],
            leader_commit: Some(log_id(3, 1, 10)),
        };
        let stored = crate::types::StoredMembership::new(Some(log_id(3, 1, 12)), membership);
        let requests = [
            Request::AppendEntries { target: 2, rpc },
            Request::Vote {
                target: 2,
                rpc: VoteRequest::new(Vote::new(4, 2), Some(log_id(3, 1, 12))),
            },
            Request::SnapshotBegin {
                target: 2,
                vote: Vote::new_committed(3, 1),
                meta: SnapshotMeta {
                    last_log_id: Some(log_id(3, 1, 40)),
                    last_membership: stored,
                },
            },
            Request::SnapshotChunk(vec![0, 1, 2, 255]),
            Request::SnapshotEnd { len: 4 },
        ];
        for request in requests {
            let mut buf = Vec::new();
            frame::encode(&request, &mut buf, 1 << 20).expect("encodes");
            let back: Request = frame::decode(&buf[frame::HEADER..]).expect("decodes");
            assert_eq!(format!("{request:?}"), format!("{back:?}"));
        }
    }
}
