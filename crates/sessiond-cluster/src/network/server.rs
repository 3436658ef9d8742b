//! The cluster listener: accepts peers and admin clients, authenticates them, and serves their
//! requests from the local Raft.

use std::fs::File;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openraft::Snapshot;
use openraft::storage::RaftStateMachine;
use thiserror::Error;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::admin_handler;
use super::config::{ConfigError, NetworkConfig};
use super::connection::Connection;
use super::error::TransportError;
use super::incoming::{self, IncomingSnapshot};
use super::message::{Failure, Request, Response};
use crate::types::{NodeId, SnapshotMeta, TypeConfig, Vote};

/// How long the accept loop pauses after an accept error (out of file descriptors, say)
/// before trying again, so that it does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Why [`serve`] could not start.
#[derive(Debug, Error)]
pub enum ServeError {
    /// The network settings are invalid.
    #[error("invalid network settings: {0}")]
    Config(#[from] ConfigError),
    /// The incoming snapshot directory cannot be prepared.
    #[error("cannot prepare the incoming snapshot directory {dir}: {source}")]
    IncomingDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: io::Error,
    },
}

struct Context<SM: RaftStateMachine<TypeConfig>> {
    raft: openraft::Raft<TypeConfig, SM>,
    config: Arc<NetworkConfig>,
    incoming_dir: PathBuf,
}

/// Serves the cluster protocol on `listener` until `shutdown` completes: Raft RPCs from peers
/// go to `raft`, admin requests are carried out on it. Incoming snapshots are written to
/// `incoming_dir` (e.g. `<data_dir>/raft/incoming`, created if missing; leftovers of
/// interrupted transfers are removed at start) while they arrive.
///
/// Connections beyond `config.max_connections` are closed at once; a failing connection is
/// logged and closed without affecting the others. At shutdown the listener is closed and
/// open connections are dropped (with any snapshot they were receiving); aborting the task
/// running `serve` does the same, so `std::future::pending()` is a fine `shutdown` for a
/// caller that aborts.
pub async fn serve<SM>(
    listener: TcpListener,
    raft: openraft::Raft<TypeConfig, SM>,
    config: impl Into<Arc<NetworkConfig>>,
    incoming_dir: PathBuf,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError>
where
    SM: RaftStateMachine<TypeConfig, SnapshotData = File>,
{
    let config: Arc<NetworkConfig> = config.into();
    config.validate()?;
    incoming::prepare(&incoming_dir).map_err(|source| ServeError::IncomingDir {
        dir: incoming_dir.clone(),
        source,
    })?;
    let max_connections = config.max_connections;
    let context = Arc::new(Context {
        raft,
        config,
        incoming_dir,
    });
    let slots = Arc::new(Semaphore::new(max_connections));
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "cluster listener ready");
    }
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                        tracing::warn!(%peer, limit = max_connections, "cluster connection limit reached, closing a new connection");
                        continue;
                    };
                    let context = Arc::clone(&context);
                    connections.spawn(async move {
                        serve_connection(&context, stream, peer).await;
                        drop(slot);
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cluster listener cannot accept");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(joined) = connections.join_next(), if !connections.is_empty() => {
                if let Err(e) = joined
                    && e.is_panic()
                {
                    tracing::error!(error = %e, "a cluster connection task panicked");
                }
            }
        }
    }
    drop(listener);
    connections.shutdown().await;
    tracing::info!("cluster listener stopped");
    Ok(())
}

/// One connection: authenticate, then serve requests until the peer leaves, goes idle, or
/// breaks the protocol.
async fn serve_connection<SM>(context: &Context<SM>, stream: TcpStream, peer: SocketAddr)
where
    SM: RaftStateMachine<TypeConfig, SnapshotData = File>,
{
    let mut conn = match Connection::accept(stream, peer, &context.config).await {
        Ok(conn) => conn,
        Err(e) => {
            tracing::warn!(%peer, error = %e, "cluster connection refused");
            return;
        }
    };
    tracing::debug!(%peer, "cluster connection authenticated");
    let idle = context.config.idle_timeout;
    loop {
        let request: Request = match conn.recv_within(idle).await {
            Ok(request) => request,
            Err(TransportError::Closed) => {
                tracing::debug!(%peer, "cluster connection closed by the peer");
                return;
            }
            Err(TransportError::Timeout(_)) => {
                tracing::debug!(%peer, "closing an idle cluster connection");
                return;
            }
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing a cluster connection");
                return;
            }
        };
        let (response, keep_open) = match dispatch(context, &mut conn, request).await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing a cluster connection");
                return;
            }
        };
        if let Err(e) = conn.send(&response).await {
            tracing::debug!(%peer, error = %e, "cannot answer on a cluster connection");
            return;
        }
        if !keep_open {
            return;
        }
    }
}

/// Serves one request. The flag says whether the connection can carry on (false after a
/// snapshot was refused half-way: its remaining chunks are still on their way).
async fn dispatch<SM>(
    context: &Context<SM>,
    conn: &mut Connection,
    request: Request,
) -> Result<(Response, bool), TransportError>
where
    SM: RaftStateMachine<TypeConfig, SnapshotData = File>,
{
    let raft = &context.raft;
    let response = match request {
        Request::AppendEntries { target, rpc } => match check_target(context, target) {
            Err(failure) => Response::Failed(failure),
            Ok(()) => match raft.append_entries(rpc).await {
                Ok(response) => Response::AppendEntries(response),
                Err(e) => stopped(e),
            },
        },
        Request::Vote { target, rpc } => match check_target(context, target) {
            Err(failure) => Response::Failed(failure),
            Ok(()) => match raft.vote(rpc).await {
                Ok(response) => Response::Vote(response),
                Err(e) => stopped(e),
            },
        },
        Request::PreVote { target, rpc } => match check_target(context, target) {
            Err(failure) => Response::Failed(failure),
            Ok(()) => match raft.pre_vote(rpc).await {
                Ok(response) => Response::Vote(response),
                Err(e) => stopped(e),
            },
        },
        Request::TransferLeader { target, rpc } => match check_target(context, target) {
            Err(failure) => Response::Failed(failure),
            Ok(()) => match raft.handle_transfer_leader(rpc).await {
                Ok(response) => Response::TransferLeader(response),
                Err(e) => stopped(e),
            },
        },
        Request::SnapshotBegin { target, vote, meta } => {
            if let Err(failure) = check_target(context, target) {
                return Ok((Response::Failed(failure), false));
            }
            return receive_snapshot(context, conn, vote, meta).await;
        }
        Request::SnapshotChunk(_) | Request::SnapshotEnd { .. } => {
            return Err(TransportError::Protocol(
                "snapshot data outside of a snapshot transfer",
            ));
        }
        Request::Admin(request) => Response::Admin(
            admin_handler::handle(raft, request, context.config.admin_timeout).await,
        ),
    };
    Ok((response, true))
}

/// Receives a snapshot's chunks into a temporary file, then installs it.
async fn receive_snapshot<SM>(
    context: &Context<SM>,
    conn: &mut Connection,
    vote: Vote,
    meta: SnapshotMeta,
) -> Result<(Response, bool), TransportError>
where
    SM: RaftStateMachine<TypeConfig, SnapshotData = File>,
{
    let peer = conn.peer();
    tracing::info!(%peer, snapshot = %meta, "receiving a snapshot");
    let storage = |e: io::Error| {
        tracing::warn!(%peer, error = %e, "cannot store an incoming snapshot");
        Ok((Response::Failed(Failure::Storage(e.to_string())), false))
    };
    let mut incoming = match IncomingSnapshot::create(&context.incoming_dir).await {
        Ok(incoming) => incoming,
        Err(e) => return storage(e),
    };
    loop {
        match conn.recv_within(context.config.idle_timeout).await? {
            Request::SnapshotChunk(data) => {
                if let Err(e) = incoming.write(data).await {
                    return storage(e);
                }
            }
            Request::SnapshotEnd { len } if len == incoming.len() => break,
            Request::SnapshotEnd { .. } => {
                return Err(TransportError::Protocol(
                    "snapshot length does not match the chunks sent",
                ));
            }
            _ => return Err(TransportError::Protocol("unexpected message in a snapshot")),
        }
    }
    let file = match incoming.finish().await {
        Ok(file) => file,
        Err(e) => return storage(e),
    };
    let bytes = incoming.len();
    let snapshot = Snapshot {
        meta,
        snapshot: file,
    };
    let response = match context.raft.install_full_snapshot(vote, snapshot).await {
        Ok(response) => {
            tracing::info!(%peer, bytes, "snapshot received");
            Response::Snapshot(response)
        }
        Err(e) => stopped(e),
    };
    // `incoming` is dropped here, removing its file: Raft has installed its own handle.
    drop(incoming);
    Ok((response, true))
}

fn check_target<SM>(context: &Context<SM>, target: NodeId) -> Result<(), Failure>
where
    SM: RaftStateMachine<TypeConfig>,
{
    let actual = *context.raft.node_id();
    if actual == target {
        Ok(())
    } else {
        tracing::warn!(
            expected = target,
            actual,
            "a peer sent a Raft message meant for another node"
        );
        Err(Failure::WrongNode {
            expected: target,
            actual,
        })
    }
}

fn stopped(e: impl std::fmt::Display) -> Response {
    Response::Failed(Failure::Stopped(e.to_string()))
}
