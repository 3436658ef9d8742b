//! The administration client: what `sessiond cluster ...` and a joining node use to ask a
//! node for its status or to change the membership.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use super::admin::{AdminError, AdminRequest, AdminResponse};
use super::config::NetworkConfig;
use super::connection::Connection;
use super::error::TransportError;
use super::message::{Request, Response};
use super::status::ClusterStatus;
use crate::types::{NodeId, NodeInfo};

/// How many times a call follows `NotLeader` to the node named as leader: once is the normal
/// case, twice covers a leader change while the call was on its way.
const MAX_REDIRECTS: usize = 2;

/// An authenticated admin connection to one node, following `NotLeader` answers to the
/// leader for calls only the leader can serve.
pub struct AdminClient {
    config: NetworkConfig,
    addr: String,
    conn: Option<Connection>,
    timeout: Duration,
}

impl AdminClient {
    /// Connects to the node whose cluster listener is `addr` (`host:port`) and authenticates
    /// with `secret`. `timeout` bounds the connect, the handshake and each call (adding a node
    /// waits for it to catch up, so allow for that).
    pub async fn connect(addr: &str, secret: &[u8], timeout: Duration) -> Result<Self, AdminError> {
        let mut config = NetworkConfig::new(secret);
        config.connect_timeout = timeout;
        config.handshake_timeout = timeout;
        Self::connect_with(addr, config, timeout).await
    }

    /// Like [`connect`](Self::connect), with all the network settings given.
    pub async fn connect_with(
        addr: &str,
        config: NetworkConfig,
        timeout: Duration,
    ) -> Result<Self, AdminError> {
        let conn = Connection::connect(addr, &config, Some(Instant::now() + timeout)).await?;
        Ok(AdminClient {
            config,
            addr: addr.to_string(),
            conn: Some(conn),
            timeout,
        })
    }

    /// The address of the node this client talks to now (the leader's after a redirect).
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The connected node's view of the cluster.
    pub async fn status(&mut self) -> Result<ClusterStatus, AdminError> {
        match self.call(&AdminRequest::Status, false).await? {
            AdminResponse::Status(status) => Ok(status),
            other => Err(unexpected(&other)),
        }
    }

    /// Adds node `id` reachable at `info` as a learner (waiting until it has caught up with
    /// the log) and then, if `voter`, makes it a voter. Done on the leader.
    pub async fn add_node(
        &mut self,
        id: NodeId,
        info: NodeInfo,
        voter: bool,
    ) -> Result<(), AdminError> {
        self.done(AdminRequest::AddNode { id, info, voter }).await
    }

    /// Removes node `id`, voter or learner, from the membership. Done on the leader.
    pub async fn remove_node(&mut self, id: NodeId) -> Result<(), AdminError> {
        self.done(AdminRequest::RemoveNode { id }).await
    }

    /// Initializes a pristine cluster whose voters are `members`; the connected node must be
    /// one of them.
    pub async fn initialize(
        &mut self,
        members: BTreeMap<NodeId, NodeInfo>,
    ) -> Result<(), AdminError> {
        self.done(AdminRequest::Initialize { members }).await
    }

    async fn done(&mut self, request: AdminRequest) -> Result<(), AdminError> {
        match self.call(&request, true).await? {
            AdminResponse::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// Sends `request`, following `NotLeader` when `follow`, and turns `Failed` into an error.
    async fn call(
        &mut self,
        request: &AdminRequest,
        follow: bool,
    ) -> Result<AdminResponse, AdminError> {
        let mut redirects = 0;
        loop {
            let response = self.exchange(request).await?;
            match response {
                AdminResponse::NotLeader { leader } if follow => {
                    let Some((id, info)) = leader else {
                        return Err(AdminError::NoLeader);
                    };
                    if redirects == MAX_REDIRECTS {
                        return Err(AdminError::TooManyRedirects(redirects));
                    }
                    redirects += 1;
                    tracing::debug!(leader = id, addr = %info.cluster, "following the leader");
                    self.conn = None;
                    self.addr = info.cluster;
                }
                AdminResponse::Failed(failure) => return Err(failure.into()),
                other => return Ok(other),
            }
        }
    }

    /// One request and its response on the current connection, reconnecting first if needed,
    /// and once more if a reused connection turns out to have gone stale.
    async fn exchange(&mut self, request: &AdminRequest) -> Result<AdminResponse, AdminError> {
        let deadline = Instant::now() + self.timeout;
        let message = Request::Admin(request.clone());
        let reused = self.conn.is_some();
        let first = self.exchange_once(&message, deadline).await;
        let response = match first {
            Err(e) if reused && e.is_stale_connection() => {
                self.exchange_once(&message, deadline).await?
            }
            other => other?,
        };
        match response {
            Response::Admin(answer) => Ok(answer),
            Response::Failed(failure) => Err(TransportError::Remote(failure).into()),
            other => Err(AdminError::Unexpected(format!("{other:?}"))),
        }
    }

    async fn exchange_once(
        &mut self,
        message: &Request,
        deadline: Instant,
    ) -> Result<Response, TransportError> {
        // The connection is taken out for the exchange: if it fails or the caller gives up
        // half-way, it is dropped instead of leaving an unread answer for the next call.
        let mut conn = match self.conn.take() {
            Some(conn) => conn,
            None => Connection::connect(&self.addr, &self.config, Some(deadline)).await?,
        };
        let response = match tokio::time::timeout_at(deadline, conn.call(message)).await {
            Ok(result) => result?,
            Err(_) => return Err(TransportError::Timeout(self.timeout)),
        };
        self.conn = Some(conn);
        Ok(response)
    }
}

fn unexpected(response: &AdminResponse) -> AdminError {
    AdminError::Unexpected(format!("{response:?}"))
}
