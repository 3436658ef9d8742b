//! The Raft side of the network: openraft's factory and per-target clients, sending RPCs over
//! [`Connection`]s.

use std::fs::File;
use std::future::Future;
use std::io::{Read, Seek};
use std::sync::Arc;
use std::time::Duration;

use openraft::entry::RaftEntry;
use openraft::error::{
    NetworkError, RPCError, ReplicationClosed, StreamingError, Timeout, Unreachable,
};
use openraft::network::v2::RaftNetworkV2;
use openraft::network::{RPCOption, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::type_config::alias::SnapshotOf;
use openraft::{OptionalSend, RPCTypes};
use tokio::time::Instant;

use super::config::NetworkConfig;
use super::connection::Connection;
use super::error::TransportError;
use super::message::{Request, Response};
use crate::types::{NodeId, NodeInfo, TypeConfig, Vote};

type RpcError = RPCError<TypeConfig>;

/// openraft's network factory: makes a [`PeerClient`] per target and purpose.
///
/// Every client owns its own connection, so the heartbeat client, the replication client and
/// the snapshot client to one target never queue behind each other: a heartbeat does not wait
/// for a 1 GiB snapshot or a large append to go through.
#[derive(Clone)]
pub struct NetworkFactory {
    local: NodeId,
    config: Arc<NetworkConfig>,
}

impl NetworkFactory {
    /// A factory for node `local` (named in timeout errors) using `config`.
    pub fn new(local: NodeId, config: impl Into<Arc<NetworkConfig>>) -> Self {
        NetworkFactory {
            local,
            config: config.into(),
        }
    }

    fn client(&self, target: NodeId, node: &NodeInfo, purpose: &'static str) -> PeerClient {
        PeerClient {
            local: self.local,
            target,
            addr: node.cluster.clone(),
            purpose,
            config: Arc::clone(&self.config),
            conn: None,
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &NodeInfo) -> PeerClient {
        self.client(target, node, "replication")
    }

    async fn new_heartbeat_client(&mut self, target: NodeId, node: &NodeInfo) -> PeerClient {
        self.client(target, node, "heartbeat")
    }

    async fn new_snapshot_client(&mut self, target: NodeId, node: &NodeInfo) -> PeerClient {
        self.client(target, node, "snapshot")
    }
}

/// A client sending Raft RPCs to one target over one persistent connection, opened on first
/// use and again after any failure.
pub struct PeerClient {
    local: NodeId,
    target: NodeId,
    addr: String,
    purpose: &'static str,
    config: Arc<NetworkConfig>,
    conn: Option<Connection>,
}

impl PeerClient {
    /// The connection to use: the open one, taken out so that an exchange abandoned half-way
    /// (openraft dropping the future at its hard timeout) drops it instead of leaving an
    /// unread answer behind; or a new one.
    async fn take_connection(
        &mut self,
        deadline: Instant,
    ) -> Result<(Connection, bool), TransportError> {
        if let Some(conn) = self.conn.take() {
            return Ok((conn, true));
        }
        let conn = Connection::connect(&self.addr, &self.config, Some(deadline)).await?;
        tracing::debug!(target_node = self.target, addr = %self.addr, purpose = self.purpose, "cluster connection opened");
        Ok((conn, false))
    }

    /// One request and its response. A reused connection that turns out to be stale (the
    /// peer restarted, or closed it while idle) is replaced once: Raft messages are safe to
    /// deliver twice, so resending is harmless.
    async fn exchange(
        &mut self,
        request: &Request,
        deadline: Instant,
    ) -> Result<Response, TransportError> {
        let (mut conn, reused) = self.take_connection(deadline).await?;
        let response = match conn.call(request).await {
            Err(e) if reused && e.is_stale_connection() => {
                tracing::debug!(target_node = self.target, error = %e, "stale cluster connection, reconnecting");
                conn = Connection::connect(&self.addr, &self.config, Some(deadline)).await?;
                conn.call(request).await?
            }
            other => other?,
        };
        self.conn = Some(conn);
        Ok(response)
    }

    /// Sends `request` within the RPC's soft TTL and maps failures to what openraft expects.
    async fn rpc(
        &mut self,
        request: Request,
        action: RPCTypes,
        option: &RPCOption,
    ) -> Result<Response, RpcError> {
        // The soft TTL, not the hard one: openraft may drop the call at the hard TTL, and wants
        // the network to report the timeout itself before that.
        let limit = option.soft_ttl();
        let deadline = Instant::now() + limit;
        match tokio::time::timeout_at(deadline, self.exchange(&request, deadline)).await {
            Ok(Ok(Response::Failed(failure))) => {
                Err(self.unreachable(&TransportError::Remote(failure)))
            }
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => Err(self.unreachable(&e)),
            Err(_) => Err(self.timeout(action, limit)),
        }
    }

    /// Every transport failure is `Unreachable`, so that openraft backs off instead of
    /// hammering a node that is down, partitioned or misconfigured.
    fn unreachable(&self, error: &TransportError) -> RpcError {
        tracing::debug!(target_node = self.target, addr = %self.addr, purpose = self.purpose, %error, "cluster rpc failed");
        RPCError::Unreachable(Unreachable::new(error))
    }

    fn timeout(&self, action: RPCTypes, limit: Duration) -> RpcError {
        RPCError::Timeout(Timeout {
            action,
            id: self.local,
            target: self.target,
            timeout: limit,
        })
    }

    fn unexpected(&self, response: &Response) -> RpcError {
        RPCError::Network(NetworkError::from_string(format!(
            "node {} answered with an unexpected message: {response:?}",
            self.target
        )))
    }

    /// Shrinks an append that would not fit in one frame to the longest prefix that does; the
    /// answer then reports how far it got, and openraft sends the rest next. Returns the last
    /// log id sent when the request was shortened.
    fn fit_append(
        &self,
        rpc: &mut AppendEntriesRequest<TypeConfig>,
    ) -> Result<Option<crate::types::LogId>, RpcError> {
        let target = self.target;
        let max = self.config.max_frame;
        let fits = |rpc: &AppendEntriesRequest<TypeConfig>| {
            append_frame_size(target, rpc).is_some_and(|size| size <= max)
        };
        if fits(rpc) {
            return Ok(None);
        }
        while rpc.entries.len() > 1 {
            let keep = rpc.entries.len() / 2;
            rpc.entries.truncate(keep);
            if fits(rpc) {
                let last = rpc.entries.last().map(|entry| entry.log_id());
                // Never tell the follower that more is committed than what it has been sent
                // in this request: the rest of its log may still be another leader's.
                if let (Some(commit), Some(last)) = (&rpc.leader_commit, &last)
                    && commit > last
                {
                    rpc.leader_commit = Some(*last);
                }
                return Ok(last);
            }
        }
        let error = TransportError::FrameTooLarge {
            len: u64::MAX,
            max: self.config.max_frame,
        };
        tracing::error!(
            target_node = self.target,
            max_frame = self.config.max_frame,
            "a single log entry does not fit in a frame; raise max_frame"
        );
        Err(RPCError::Unreachable(Unreachable::new(&error)))
    }

    /// Streams a snapshot: `SnapshotBegin`, the file in chunks, `SnapshotEnd`, then waits for
    /// the receiver to install it. Each step must make progress within the soft TTL.
    async fn send_snapshot(
        &mut self,
        vote: Vote,
        snapshot: SnapshotOf<TypeConfig, File>,
        limit: Duration,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let (local, target) = (self.local, self.target);
        let step = move |what: &'static str| snapshot_error(local, target, what);
        let deadline = Instant::now() + limit;
        let (mut conn, _) = self
            .take_connection(deadline)
            .await
            .map_err(step("connect"))?;
        let meta = snapshot.meta;
        tracing::info!(target_node = self.target, snapshot = %meta, "sending snapshot");
        let begin = Request::SnapshotBegin {
            target: self.target,
            vote,
            meta,
        };
        within(limit, conn.send(&begin))
            .await
            .map_err(step("begin"))?;

        // The whole file, whatever its position: a snapshot is the file.
        let mut file = snapshot.snapshot;
        let chunk = self.config.effective_chunk();
        let mut len = 0u64;
        let mut first = true;
        loop {
            let (back, data) = read_chunk(file, chunk, first)
                .await
                .map_err(|e| StreamingError::Unreachable(Unreachable::new(&e)))?;
            file = back;
            first = false;
            if data.is_empty() {
                break;
            }
            len += data.len() as u64;
            within(limit, conn.send(&Request::SnapshotChunk(data)))
                .await
                .map_err(step("chunk"))?;
        }
        within(limit, conn.send(&Request::SnapshotEnd { len }))
            .await
            .map_err(step("end"))?;
        let response = conn.recv_within(limit).await.map_err(step("install"))?;
        match response {
            Response::Snapshot(response) => {
                self.conn = Some(conn);
                tracing::info!(target_node = self.target, bytes = len, "snapshot sent");
                Ok(response)
            }
            Response::Failed(failure) => Err(step("install")(TransportError::Remote(failure))),
            other => Err(StreamingError::Network(NetworkError::from_string(format!(
                "node {} answered a snapshot with {other:?}",
                self.target
            )))),
        }
    }
}

/// The payload size of `Request::AppendEntries { target, rpc }`, computed without building
/// (and cloning the entries into) the request: postcard writes a struct variant as its index
/// (one byte for index 0) followed by its fields, exactly as it writes the tuple
/// `(target, rpc)`.
fn append_frame_size(target: NodeId, rpc: &AppendEntriesRequest<TypeConfig>) -> Option<usize> {
    postcard::experimental::serialized_size(&(target, rpc))
        .ok()
        .map(|size| size + 1)
}

/// Maps a failed step of a snapshot transfer to what openraft expects.
fn snapshot_error(
    local: NodeId,
    target: NodeId,
    what: &'static str,
) -> impl Fn(TransportError) -> StreamingError<TypeConfig> {
    move |e| {
        tracing::debug!(target_node = target, error = %e, "snapshot {what} failed");
        match e {
            TransportError::Timeout(t) => StreamingError::Timeout(Timeout {
                action: RPCTypes::InstallSnapshot,
                id: local,
                target,
                timeout: t,
            }),
            other => StreamingError::Unreachable(Unreachable::new(&other)),
        }
    }
}

/// Runs one step of a snapshot transfer with a time limit.
async fn within<T>(
    limit: Duration,
    step: impl Future<Output = Result<T, TransportError>>,
) -> Result<T, TransportError> {
    match tokio::time::timeout(limit, step).await {
        Ok(result) => result,
        Err(_) => Err(TransportError::Timeout(limit)),
    }
}

/// Reads the next chunk of a snapshot file (from its start when `rewind`) on the blocking
/// pool, handing the file back with the bytes; an empty chunk is the end.
async fn read_chunk(
    mut file: File,
    size: usize,
    rewind: bool,
) -> Result<(File, Vec<u8>), std::io::Error> {
    let task = tokio::task::spawn_blocking(move || {
        if rewind {
            file.rewind()?;
        }
        let mut data = Vec::with_capacity(size);
        (&mut file).take(size as u64).read_to_end(&mut data)?;
        Ok((file, data))
    });
    match task.await {
        Ok(result) => result,
        Err(e) => Err(std::io::Error::other(e)),
    }
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = File;

    async fn append_entries(
        &mut self,
        mut rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RpcError> {
        let shortened = self.fit_append(&mut rpc)?;
        let request = Request::AppendEntries {
            target: self.target,
            rpc,
        };
        match self.rpc(request, RPCTypes::AppendEntries, &option).await? {
            Response::AppendEntries(AppendEntriesResponse::Success) if shortened.is_some() => {
                Ok(AppendEntriesResponse::PartialSuccess(shortened))
            }
            Response::AppendEntries(response) => Ok(response),
            other => Err(self.unexpected(&other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RpcError> {
        let request = Request::Vote {
            target: self.target,
            rpc,
        };
        match self.rpc(request, RPCTypes::Vote, &option).await? {
            Response::Vote(response) => Ok(response),
            other => Err(self.unexpected(&other)),
        }
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RpcError> {
        let request = Request::PreVote {
            target: self.target,
            rpc,
        };
        match self.rpc(request, RPCTypes::Vote, &option).await? {
            Response::Vote(response) => Ok(response),
            other => Err(self.unexpected(&other)),
        }
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: SnapshotOf<TypeConfig, File>,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let limit = option.soft_ttl();
        tokio::select! {
            // Cancelled mid-stream, the connection is dropped with the future: the receiver
            // sees it close and discards what it got.
            closed = cancel => Err(StreamingError::Closed(closed)),
            result = self.send_snapshot(vote, snapshot, limit) => result,
        }
    }

    async fn transfer_leader(
        &mut self,
        rpc: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RpcError> {
        let request = Request::TransferLeader {
            target: self.target,
            rpc,
        };
        match self.rpc(request, RPCTypes::TransferLeader, &option).await? {
            Response::TransferLeader(response) => Ok(response),
            other => Err(self.unexpected(&other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use openraft::{Entry, EntryPayload};

    use super::*;
    use crate::network::frame;
    use crate::types::EffectBatch;

    fn entry(index: u64, bytes: usize) -> crate::types::Entry {
        Entry {
            log_id: openraft::testing::log_id::<TypeConfig>(1, 1, index),
            payload: EntryPayload::Normal(EffectBatch {
                time: 1,
                first_lsn: index,
                last_lsn: index,
                records: vec![7; bytes].into(),
            }),
        }
    }

    fn request(entries: Vec<crate::types::Entry>) -> AppendEntriesRequest<TypeConfig> {
        AppendEntriesRequest {
            vote: Vote::new_committed(1, 1),
            prev_log_id: None,
            leader_commit: entries.last().map(|e| e.log_id()),
            entries,
        }
    }

    #[test]
    fn the_size_estimate_is_the_encoded_size() {
        let rpc = request((1..=5).map(|i| entry(i, 300 * i as usize)).collect());
        let expected = append_frame_size(3, &rpc).unwrap();
        let mut buf = Vec::new();
        frame::encode(
            &Request::AppendEntries { target: 3, rpc },
            &mut buf,
            usize::MAX,
        )
        .unwrap();
        assert_eq!(buf.len() - frame::HEADER, expected);
    }

    #[test]
    fn oversized_appends_are_cut_to_a_prefix() {
        let mut config = NetworkConfig::new("s");
        config.max_frame = crate::network::config::MIN_MAX_FRAME;
        let client = NetworkFactory::new(1, config).client(2, &NodeInfo::default(), "test");
        let mut rpc = request((1..=8).map(|i| entry(i, 20 * 1024)).collect());
        let last = client.fit_append(&mut rpc).unwrap();
        assert!(rpc.entries.len() < 8 && !rpc.entries.is_empty());
        assert_eq!(last, rpc.entries.last().map(|e| e.log_id()));
        assert_eq!(rpc.leader_commit, last, "commit clamped to what was sent");
        assert!(append_frame_size(2, &rpc).unwrap() <= client.config.max_frame);

        let mut single = request(vec![entry(1, 100 * 1024)]);
        assert!(matches!(
            client.fit_append(&mut single),
            Err(RPCError::Unreachable(_))
        ));

        let mut small = request(vec![entry(1, 10)]);
        assert_eq!(client.fit_append(&mut small).unwrap(), None);
    }
}
