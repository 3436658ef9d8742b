//! The server's side of the administration protocol: admin requests carried out on the local
//! Raft.

use std::collections::BTreeSet;
use std::time::Duration;

use openraft::ChangeMembers;
use openraft::async_runtime::watch::WatchReceiver;
use openraft::error::{ClientWriteError, ForwardToLeader, InitializeError, RaftError};
use openraft::storage::RaftStateMachine;

use super::admin::{AdminFailure, AdminRequest, AdminResponse};
use super::status::ClusterStatus;
use crate::types::{NodeId, TypeConfig};

type Raft<SM> = openraft::Raft<TypeConfig, SM>;

/// Carries out `request` on `raft`, bounded by `limit`.
pub(crate) async fn handle<SM>(
    raft: &Raft<SM>,
    request: AdminRequest,
    limit: Duration,
) -> AdminResponse
where
    SM: RaftStateMachine<TypeConfig>,
{
    let described = request.to_string();
    let result = tokio::time::timeout(limit, run(raft, request)).await;
    let response = result.unwrap_or(AdminResponse::Failed(AdminFailure::Timeout));
    match &response {
        AdminResponse::Failed(failure) => {
            tracing::warn!(request = %described, error = %failure, "cluster admin request failed");
        }
        AdminResponse::Done => tracing::info!(request = %described, "cluster admin request done"),
        _ => {}
    }
    response
}

async fn run<SM>(raft: &Raft<SM>, request: AdminRequest) -> AdminResponse
where
    SM: RaftStateMachine<TypeConfig>,
{
    match request {
        AdminRequest::Status => AdminResponse::Status(ClusterStatus::from_metrics(
            &raft.metrics().borrow_watched(),
        )),
        AdminRequest::AddNode { id, info, voter } => {
            // A learner first, caught up before it counts: adding a voter that is far behind
            // would stall commits until it caught up.
            if let Err(e) = raft.add_learner(id, info, true).await {
                return write_failure(raft, e);
            }
            if voter {
                let change = ChangeMembers::AddVoterIds(BTreeSet::from([id]));
                if let Err(e) = raft.change_membership(change, false).await {
                    return write_failure(raft, e);
                }
            }
            AdminResponse::Done
        }
        AdminRequest::RemoveNode { id } => {
            let (is_voter, is_learner) = {
                let metrics = raft.metrics();
                let metrics = metrics.borrow_watched();
                let membership = metrics.membership_config.membership();
                (
                    membership.voter_ids().any(|v| v == id),
                    membership.learner_ids().any(|l| l == id),
                )
            };
            let change = if is_voter {
                // `retain: false` below also drops the removed voter from the node list, so
                // it is gone for good rather than demoted to a learner.
                ChangeMembers::RemoveVoters(BTreeSet::from([id]))
            } else if is_learner {
                ChangeMembers::RemoveNodes(BTreeSet::from([id]))
            } else if raft.is_leader() {
                return AdminResponse::Failed(AdminFailure::UnknownNode(id));
            } else {
                // Our membership may be stale; the leader decides.
                return not_leader(raft, None);
            };
            match raft.change_membership(change, false).await {
                Ok(_) => AdminResponse::Done,
                Err(e) => write_failure(raft, e),
            }
        }
        AdminRequest::Initialize { members } => match raft.initialize(members).await {
            Ok(()) => AdminResponse::Done,
            Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {
                AdminResponse::Failed(AdminFailure::AlreadyInitialized)
            }
            Err(RaftError::APIError(InitializeError::NotInMembers(_))) => {
                AdminResponse::Failed(AdminFailure::NotInMembers)
            }
            Err(RaftError::Fatal(e)) => AdminResponse::Failed(AdminFailure::Stopped(e.to_string())),
        },
    }
}

fn write_failure<SM>(
    raft: &Raft<SM>,
    error: RaftError<TypeConfig, ClientWriteError<TypeConfig>>,
) -> AdminResponse
where
    SM: RaftStateMachine<TypeConfig>,
{
    match error {
        RaftError::APIError(ClientWriteError::ForwardToLeader(forward)) => {
            not_leader(raft, Some(forward))
        }
        // The entry was lost to a leader change: the new leader decides, and every admin
        // change is safe to ask for again.
        RaftError::APIError(ClientWriteError::LogEntryDiscarded(forward)) => {
            not_leader(raft, Some(forward))
        }
        RaftError::APIError(other) => {
            AdminResponse::Failed(AdminFailure::Refused(other.to_string()))
        }
        RaftError::Fatal(e) => AdminResponse::Failed(AdminFailure::Stopped(e.to_string())),
    }
}

/// `NotLeader`, naming the leader with its address: from openraft's forward if it has them,
/// else from our metrics and membership.
fn not_leader<SM>(raft: &Raft<SM>, forward: Option<ForwardToLeader<TypeConfig>>) -> AdminResponse
where
    SM: RaftStateMachine<TypeConfig>,
{
    let metrics = raft.metrics();
    let metrics = metrics.borrow_watched();
    let leader_id: Option<NodeId> = forward
        .as_ref()
        .and_then(|f| f.leader_id)
        .or(metrics.current_leader)
        // A node naming itself would send the client in circles.
        .filter(|id| *id != metrics.id);
    let leader = leader_id.and_then(|id| {
        let node = forward
            .as_ref()
            .filter(|f| f.leader_id == Some(id))
            .and_then(|f| f.leader_node.clone())
            .or_else(|| {
                metrics
                    .membership_config
                    .membership()
                    .get_node(&id)
                    .cloned()
            });
        node.map(|node| (id, node))
    });
    AdminResponse::NotLeader { leader }
}
