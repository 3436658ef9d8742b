//! The administration protocol: what `sessiond cluster ...` and joining nodes ask a node, and
//! what it answers. It shares the cluster port and its authentication.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::error::TransportError;
use super::status::ClusterStatus;
use crate::types::{NodeId, NodeInfo};

/// An administration request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum AdminRequest {
    /// This node's view of the cluster (any node answers).
    Status,
    /// Add a node as a learner, then, if `voter`, make it a voter (leader only).
    AddNode {
        /// The new node's id.
        id: NodeId,
        /// Where to reach it.
        info: NodeInfo,
        /// Whether it votes.
        voter: bool,
    },
    /// Remove a voter or learner (leader only).
    RemoveNode {
        /// The node to remove.
        id: NodeId,
    },
    /// Initialize a pristine cluster with these members, all voters.
    Initialize {
        /// The founding members.
        members: BTreeMap<NodeId, NodeInfo>,
    },
}

/// The answer to an [`AdminRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum AdminResponse {
    /// The answering node's status.
    Status(ClusterStatus),
    /// The change is done (committed).
    Done,
    /// Only the leader can do this; here is the leader if the node knows it.
    NotLeader {
        /// The leader's id and address.
        leader: Option<(NodeId, NodeInfo)>,
    },
    /// The request was refused or failed.
    Failed(AdminFailure),
}

/// Why a node refused or failed an admin request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Error)]
pub enum AdminFailure {
    /// `Initialize` on a node that is already part of an initialized cluster.
    #[error("the cluster is already initialized")]
    AlreadyInitialized,
    /// `Initialize` whose members do not include the node asked.
    #[error("the node asked to initialize is not among the members")]
    NotInMembers,
    /// `RemoveNode` of a node that is not a member.
    #[error("node {0} is not a member")]
    UnknownNode(NodeId),
    /// Raft refused the membership change (e.g. another change is in progress, or the
    /// change would leave no voter).
    #[error("membership change refused: {0}")]
    Refused(String),
    /// The operation did not finish within the server's admin timeout (a new node that
    /// cannot catch up, a cluster without quorum).
    #[error("the operation did not finish in time on the server")]
    Timeout,
    /// The node's Raft has stopped.
    #[error("raft stopped: {0}")]
    Stopped(String),
}

/// Why an [`AdminClient`](super::AdminClient) call failed.
#[derive(Debug, Error)]
pub enum AdminError {
    /// Connecting, authenticating (a wrong secret shows here, see
    /// [`TransportError::is_auth_failure`]) or exchanging messages failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The call needs the leader and the cluster has none right now (an election is under
    /// way, or there is no quorum).
    #[error("the cluster has no leader right now")]
    NoLeader,
    /// The call was redirected to a leader more often than it makes sense to follow.
    #[error("still not at the leader after {0} redirects")]
    TooManyRedirects(usize),
    /// The node refused or failed the request.
    #[error(transparent)]
    Failed(#[from] AdminFailure),
    /// The node answered something that does not answer the request.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
}

impl fmt::Display for AdminRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminRequest::Status => f.write_str("status"),
            AdminRequest::AddNode { id, info, voter } => {
                let kind = if *voter { "voter" } else { "learner" };
                write!(f, "add {kind} {id} at {}", info.cluster)
            }
            AdminRequest::RemoveNode { id } => write!(f, "remove node {id}"),
            AdminRequest::Initialize { members } => {
                write!(
                    f,
                    "initialize with {:?}",
                    members.keys().collect::<Vec<_>>()
                )
            }
        }
    }
}
