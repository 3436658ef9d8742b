//! The server: binds listeners, accepts connections, deals them to workers, sweeps expired
//! items and shuts down gracefully.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sessiond_engine::{Engine, EngineConfig};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::allow::AllowList;
use crate::clock::{Clock, FloorClock, SystemClock};
use crate::cluster::Route;
use crate::config::{Config, aspnet_applications, namespaces};
use crate::connection::{Ends, serve};
use crate::counters::ServerCounters;
use crate::error::ServerError;
use crate::listen::Listen;
use crate::persistence::{Persistence, SnapshotTrigger};
use crate::protocol::Protocol;
use crate::shared::{AspnetShared, MemcacheShared, Shared, SharedanceShared};
use crate::workers::{WorkerShutdown, Workers};

/// How often the expiry sweep runs, and how many schedule entries it may look at per shard
/// each time: at most 64 shards x 1024 entries x 10 runs a second, in short lock holds.
const SWEEP_INTERVAL: Duration = Duration::from_millis(100);
const SWEEP_BUDGET_PER_SHARD: usize = 1024;
/// How long a client on a TLS listener may take over its TLS handshake: the connection holds
/// a slot meanwhile, so a client that stalls is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Renewals reach the journal every this many sweep ticks (one second): a crash can cost a
/// session at most that much of its sliding timeout.
const RENEWAL_TICKS: u32 = 10;

/// A started server: listeners bound, workers running, not yet accepting.
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    workers: Workers,
    listeners: Vec<Listener>,
    shutdown_timeout: Duration,
    persistence: Option<Persistence>,
    snapshot_interval: Duration,
    snapshot_log_size: u64,
    /// The cluster node to start before accepting, on a cluster member.
    cluster: Option<crate::cluster::Pending>,
    /// A cluster node's hold on its data directory (a single node's is in `persistence`).
    _dir_lock: Option<sessiond_storage::DirLock>,
    /// A cluster node's snapshot requests (a single node's go to `persistence`).
    cluster_snapshots: SnapshotTrigger,
}

/// One bound listener and what it serves.
#[derive(Debug)]
struct Listener {
    protocol: Protocol,
    socket: std::net::TcpListener,
    allow: AllowList,
    /// Clients connect with TLS.
    tls: bool,
}

impl Server {
    /// Binds every configured listener and starts the workers. A listener that cannot bind
    /// stops start-up with an error naming its setting.
    pub fn bind(config: &Config) -> Result<Server, ServerError> {
        Server::bind_with_clock(config, Arc::new(SystemClock))
    }

    /// As [`Server::bind`], with the engine's time read from `clock` (tests drive expiry and
    /// lock ages with a [`ManualClock`](crate::ManualClock)).
    pub fn bind_with_clock(config: &Config, clock: Arc<dyn Clock>) -> Result<Server, ServerError> {
        Server::bind_with(config, clock, Arc::new(sessiond_storage::StdFs))
    }

    /// As [`Server::bind_with_clock`], with the data directory reached through `fs` (tests
    /// give a [`FaultFs`](sessiond_storage::FaultFs) to fill the disk or fail fsyncs).
    pub fn bind_with(
        config: &Config,
        clock: Arc<dyn Clock>,
        fs: Arc<dyn sessiond_storage::Fs>,
    ) -> Result<Server, ServerError> {
        // The files first: a bad certificate stops start-up before anything is bound.
        let tls = config.tls.load(config.cluster.node_id.is_some())?;
        let mut listeners = Vec::new();
        for (protocol, listen, allow, tls) in [
            (
                Protocol::Memcache,
                &config.memcache.listen,
                &config.memcache.allow,
                config.memcache.tls,
            ),
            (
                Protocol::Aspnet,
                &config.aspnet.listen,
                &config.aspnet.allow,
                config.aspnet.tls,
            ),
            (
                Protocol::Sharedance,
                &config.sharedance.listen,
                &config.sharedance.allow,
                config.sharedance.tls,
            ),
            (
                Protocol::Resp,
                &config.resp.listen,
                &config.resp.allow,
                config.resp.tls,
            ),
        ] {
            if let &Listen::On(addr) = listen {
                listeners.push(Listener {
                    protocol,
                    socket: bind(addr, protocol.listen_setting())?,
                    allow: allow.clone(),
                    tls,
                });
            }
        }
        let engine = Engine::new(EngineConfig {
            max_memory: config.max_memory.0,
        });
        // The values the engine builds itself (a Redis APPEND, a collection) are bounded as a
        // Redis request's argument is.
        engine.set_max_value_size(to_usize(config.resp.max_bulk_len.0));
        let (persistence, cluster, dir_lock, clock) = match config.cluster.node_id {
            None => {
                // Recovery runs before anything is accepted: clients never see a half-loaded
                // store.
                let persistence =
                    Persistence::open(&config.persistence, &engine, clock.as_ref(), fs)?;
                (persistence, None, None, clock)
            }
            Some(_) => {
                // Two nodes on one directory would each take the other's log for its own.
                let data_dir = &config.persistence.data_dir;
                std::fs::create_dir_all(data_dir).map_err(|error| {
                    sessiond_storage::StorageError::io("create", data_dir, error)
                })?;
                let dir_lock = sessiond_storage::DirLock::acquire(data_dir)?;
                // A cluster node keeps its sessions in the Raft log and its snapshots instead.
                let time_floor = Arc::new(AtomicU64::new(0));
                let clock: Arc<dyn Clock> =
                    Arc::new(FloorClock::new(clock, Arc::clone(&time_floor)));
                let pending = crate::cluster::Pending {
                    config: config.cluster.clone(),
                    listener: bind(config.cluster.listen, "cluster.listen")?,
                    data_dir: config.persistence.data_dir.join("raft"),
                    fsync: config.persistence.fsync,
                    time_floor,
                    tls: tls.as_ref().and_then(|tls| tls.cluster().cloned()),
                };
                (None, Some(pending), Some(dir_lock), clock)
            }
        };
        let applications = aspnet_applications(&config.aspnet).map_err(|error| {
            ServerError::Config(crate::ConfigError::Invalid {
                setting: "aspnet.shared_sessions",
                message: error.to_string(),
            })
        })?;
        let sharedance = &config.sharedance;
        let resp_port = listeners
            .iter()
            .find(|listener| listener.protocol == Protocol::Resp)
            .and_then(|listener| listener.socket.local_addr().ok())
            .map_or(0, |addr| addr.port());
        let resp = sessiond_resp::Config {
            password: config.resp.password.clone().map(String::into_bytes),
            limits: sessiond_resp::Limits {
                max_bulk_len: to_usize(config.resp.max_bulk_len.0),
                max_request_len: to_usize(config.resp.max_request_size.0),
                max_queued_commands: config.resp.max_queued_commands,
                max_transaction_bytes: to_usize(config.resp.max_transaction_size.0),
                max_atomic_keys: config.resp.max_atomic_keys,
                ..sessiond_resp::Limits::default()
            },
            tcp_port: resp_port,
            scripts: sessiond_resp::ScriptLimits {
                time_limit: config.resp.script_time_limit,
                max_memory: to_usize(config.resp.script_max_memory.0),
                cache_scripts: config.resp.script_cache_scripts,
                cache_bytes: to_usize(config.resp.script_cache_size.0),
            },
            // The server's one reading of the monotonic clock, for scripts' time limits.
            monotonic: sessiond_resp::MonotonicClock(std::time::Instant::now),
            max_clients: config.max_connections,
            pubsub_limit: to_usize(config.resp.pubsub_buffer_limit.0),
            // Checked with the rest of the configuration.
            keyspace_events: sessiond_resp::KeyspaceEvents::parse(
                &config.resp.notify_keyspace_events,
            )
            .unwrap_or_default(),
            ..sessiond_resp::Config::new(namespaces::RESP_FIRST)
        };
        let started = clock.now();
        let shared = Arc::new(Shared {
            engine: Arc::new(engine),
            clock,
            journal: persistence.as_ref().map(|p| Arc::clone(&p.journal)),
            memcache: MemcacheShared {
                limits: sessiond_memcache::Limits {
                    max_item_size: to_usize(config.memcache.max_item_size.0),
                    ..sessiond_memcache::Limits::default()
                },
                namespace: namespaces::MEMCACHE,
                counters: sessiond_memcache::ProtocolCounters::default(),
            },
            aspnet: AspnetShared {
                limits: sessiond_aspnet::Limits {
                    max_head_size: to_usize(config.aspnet.max_head_size.0),
                    max_headers: config.aspnet.max_headers,
                    max_body_size: to_usize(config.aspnet.max_body_size.0),
                },
                applications,
            },
            sharedance: SharedanceShared {
                limits: sessiond_sharedance::Limits {
                    max_request_size: to_usize(sharedance.max_request_size.0),
                    ..sessiond_sharedance::Limits::default()
                },
                namespace: namespaces::SHAREDANCE,
                lifetime: if sharedance.sliding {
                    sessiond_sharedance::Lifetime::Sliding(sharedance.expiration)
                } else {
                    sessiond_sharedance::Lifetime::Fixed(sharedance.expiration)
                },
                timeout: sharedance.timeout,
            },
            resp: sessiond_resp::Shared::new(resp, started),
            counters: ServerCounters::new(config.threads, config.max_connections),
            connection_permits: Arc::new(Semaphore::new(config.max_connections)),
            idle_timeout: Some(config.idle_timeout).filter(|timeout| !timeout.is_zero()),
            cluster: std::sync::OnceLock::new(),
            tls,
        });
        Ok(Server {
            shared,
            workers: Workers::start(config.threads)?,
            listeners,
            shutdown_timeout: config.shutdown_timeout,
            persistence,
            snapshot_interval: config.persistence.snapshot_interval,
            snapshot_log_size: config.persistence.snapshot_log_size.0,
            cluster,
            _dir_lock: dir_lock,
            cluster_snapshots: SnapshotTrigger::default(),
        })
    }

    /// A handle that asks for a snapshot now; `None` when sessions are kept in memory only.
    pub fn snapshot_trigger(&self) -> Option<SnapshotTrigger> {
        match &self.persistence {
            Some(persistence) => Some(persistence.snapshots.clone()),
            None => self
                .cluster
                .is_some()
                .then(|| self.cluster_snapshots.clone()),
        }
    }

    /// The address the memcached listener is bound to, when it is on.
    pub fn memcache_addr(&self) -> Option<SocketAddr> {
        self.addr(Protocol::Memcache)
    }

    /// The address the ASP.NET State Server listener is bound to, when it is on.
    pub fn aspnet_addr(&self) -> Option<SocketAddr> {
        self.addr(Protocol::Aspnet)
    }

    /// The address the sharedance listener is bound to, when it is on.
    pub fn sharedance_addr(&self) -> Option<SocketAddr> {
        self.addr(Protocol::Sharedance)
    }

    /// The address the Redis listener is bound to, when it is on.
    pub fn resp_addr(&self) -> Option<SocketAddr> {
        self.addr(Protocol::Resp)
    }

    fn addr(&self, protocol: Protocol) -> Option<SocketAddr> {
        self.listeners
            .iter()
            .find(|listener| listener.protocol == protocol)
            .and_then(|listener| listener.socket.local_addr().ok())
    }

    /// The engine the server serves, for in-process tests and tools.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.shared.engine
    }

    /// Serves until `shutdown` completes, then stops accepting, lets open connections finish
    /// what they are doing (up to the shutdown timeout) and returns. Must run inside a tokio
    /// runtime; the workers run on their own threads.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
        if let Some(pending) = self.cluster.take() {
            let clients = self
                .listeners
                .iter()
                .filter_map(|listener| {
                    let addr = listener.socket.local_addr().ok()?;
                    Some((listener.protocol.name().to_owned(), addr))
                })
                .collect();
            // Raft runs on the first worker's runtime, beside that worker's connections: a
            // write there is proposed, replicated and committed, and its connection woken,
            // without crossing threads (each crossing is a futex wake and, on a virtual
            // machine, an inter-processor interrupt). With one worker, nothing crosses.
            // Unless configured otherwise: then on this, the control thread's, runtime.
            let cluster = if pending.config.raft_on_worker {
                let shared = Arc::clone(&self.shared);
                self.workers
                    .first()
                    .spawn(async move { crate::cluster::start(pending, clients, &shared).await })
                    .await
                    .map_err(|error| ServerError::Runtime(std::io::Error::other(error)))??
            } else {
                crate::cluster::start(pending, clients, &self.shared).await?
            };
            let _ = self.shared.cluster.set(cluster);
            let (shared, snapshots) = (Arc::clone(&self.shared), self.cluster_snapshots.clone());
            tokio::spawn(async move {
                loop {
                    snapshots.requested().await;
                    let Some(cluster) = shared.cluster.get() else {
                        return;
                    };
                    if let Err(error) = cluster.node.snapshot_now().await {
                        tracing::warn!(%error, "no snapshot");
                    }
                }
            });
        }
        let mut accept_tasks = Vec::new();
        for listener in std::mem::take(&mut self.listeners) {
            let Listener {
                protocol,
                socket,
                allow,
                tls,
            } = listener;
            let addr = socket.local_addr().ok();
            let socket = TcpListener::from_std(socket).map_err(ServerError::Runtime)?;
            if let Some(addr) = addr {
                tracing::info!(protocol = %protocol.name(), addr = %addr, tls, "listening");
            }
            let shared = Arc::clone(&self.shared);
            let workers = &self.workers;
            accept_tasks.push(accept_loop(socket, protocol, allow, tls, shared, workers));
        }
        let snapshot_thread = match &self.persistence {
            Some(persistence) => Some(persistence.start_snapshots(
                Arc::clone(&self.shared.engine),
                Arc::clone(&self.shared.clock),
                self.snapshot_interval,
                self.snapshot_log_size,
            )?),
            None => None,
        };
        // Tools and tests wait for this line: every listener above is accepting from here on.
        tracing::info!("ready");
        let sweeper = sweep(Arc::clone(&self.shared));
        tokio::select! {
            _ = shutdown => {}
            _ = run_all(accept_tasks) => {}
            _ = sweeper => {}
        }

        tracing::info!("shutting down");
        self.workers.begin_shutdown();
        let deadline = tokio::time::Instant::now() + self.shutdown_timeout;
        while self
            .shared
            .counters
            .curr_connections
            .load(Ordering::Relaxed)
            > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Raft stops first: it runs on the first worker, whose runtime stopping would drop it
        // without flushing its log.
        if let Some(cluster) = self.shared.cluster.get() {
            cluster.node.shutdown().await;
        }
        self.workers.stop();
        if let Some(persistence) = &self.persistence {
            self.shared.engine.drain_renewals(self.shared.clock.now());
            persistence.close(snapshot_thread);
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Accepts connections forever, dealing each to the next worker.
async fn accept_loop(
    listener: TcpListener,
    protocol: Protocol,
    allow: AllowList,
    tls: bool,
    shared: Arc<Shared>,
    workers: &Workers,
) {
    // Shown to Redis clients in `CLIENT LIST` as the address they reached.
    let local = listener.local_addr().ok();
    // Configuration checks make sure a TLS listener has its certificate.
    let acceptor = shared
        .tls
        .as_ref()
        .filter(|_| tls)
        .map(|tls| tls.listener.clone());
    loop {
        let (mut stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if !allow.permits(peer.ip()) {
            // Closed before a byte is read: a client outside the allow-list learns nothing.
            tracing::debug!(protocol = %protocol.name(), peer = %peer, "connection refused by allow-list");
            continue;
        }
        let Ok(permit) = Arc::clone(&shared.connection_permits).try_acquire_owned() else {
            shared
                .counters
                .rejected_connections
                .fetch_add(1, Ordering::Relaxed);
            // A TLS client would take plain words for a broken handshake: it is closed silently
            // rather than served a TLS handshake on the accepting thread.
            if acceptor.is_none() {
                let _ = stream.write_all(protocol.refusal()).await;
            }
            continue;
        };
        shared
            .counters
            .total_connections
            .fetch_add(1, Ordering::Relaxed);
        shared
            .counters
            .curr_connections
            .fetch_add(1, Ordering::Relaxed);
        let std_stream = match stream.into_std() {
            Ok(std_stream) => std_stream,
            Err(_) => {
                shared
                    .counters
                    .curr_connections
                    .fetch_sub(1, Ordering::Relaxed);
                continue;
            }
        };
        let (index, handle, shutdown) = workers.pick();
        let connection = Accepted {
            protocol,
            ends: Ends {
                peer: Some(peer),
                local,
            },
            shared: Arc::clone(&shared),
            worker: index,
            shutdown: Arc::clone(shutdown),
            permit,
        };
        // Two tasks of their own shapes: a plain connection's task holds nothing of TLS.
        match &acceptor {
            None => {
                handle.spawn(connection.plain(std_stream));
            }
            Some(acceptor) => {
                handle.spawn(connection.tls(std_stream, acceptor.clone(), peer));
            }
        }
    }
}

/// A connection handed to a worker, before it is served or relayed.
struct Accepted {
    protocol: Protocol,
    ends: Ends,
    shared: Arc<Shared>,
    worker: usize,
    shutdown: Arc<WorkerShutdown>,
    permit: OwnedSemaphorePermit,
}

impl Accepted {
    /// Serves a plain TCP connection.
    async fn plain(self, std_stream: std::net::TcpStream) {
        if let Some(stream) = self.adopt(std_stream) {
            self.run(stream).await;
        }
    }

    /// Runs the TLS handshake, then serves the connection over it. The handshake runs on the
    /// worker, as the connection will: the accepting thread never waits on a client.
    async fn tls(self, std_stream: std::net::TcpStream, acceptor: TlsAcceptor, peer: SocketAddr) {
        let Some(stream) = self.adopt(std_stream) else {
            return;
        };
        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => self.run(stream).await,
            Ok(Err(error)) => self.refuse(peer, &error.to_string()),
            Err(_) => self.refuse(peer, "no TLS handshake within the limit"),
        }
    }

    /// Moves the socket to the worker's own reactor (this runs on the worker); `None`, the
    /// connection counted out, when it cannot be.
    fn adopt(&self, std_stream: std::net::TcpStream) -> Option<TcpStream> {
        match TcpStream::from_std(std_stream) {
            Ok(stream) => {
                // Replies are written whole, one write per batch of requests: Nagle would
                // only delay them.
                let _ = stream.set_nodelay(true);
                Some(stream)
            }
            Err(_) => {
                self.shared
                    .counters
                    .curr_connections
                    .fetch_sub(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Serves the connection here, or relays it to the cluster leader. Generic over the
    /// stream, so the plain path is compiled for `TcpStream` with nothing in between.
    async fn run<S: AsyncRead + AsyncWrite + Unpin>(self, stream: S) {
        let Accepted {
            protocol,
            ends,
            shared,
            worker,
            shutdown,
            permit,
        } = self;
        let route = match shared.cluster.get() {
            None => Route::Serve,
            Some(cluster) => cluster.route(protocol).await,
        };
        if route == Route::Serve {
            serve(stream, protocol, ends, shared, worker, shutdown, permit).await;
        } else {
            let relay = shared.tls.as_ref().and_then(|tls| tls.relay.as_ref());
            crate::cluster::serve_elsewhere(stream, route, protocol, relay).await;
            shared
                .counters
                .curr_connections
                .fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Drops a connection whose TLS handshake failed.
    fn refuse(self, peer: SocketAddr, reason: &str) {
        tracing::debug!(protocol = %self.protocol.name(), %peer, reason, "TLS handshake failed");
        self.shared
            .counters
            .curr_connections
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// Removes expired items in the background, a bounded amount per tick, and once a second
/// hands the journal the sessions that reads renewed. Each tick also hands the Redis
/// databases' expired keys (swept, or met by a command) to the Redis protocol, which
/// publishes them as keyspace events; the engine collects them only while a Redis client
/// could hear of them.
async fn sweep(shared: Arc<Shared>) {
    let mut interval = tokio::time::interval(SWEEP_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks = 0u32;
    let mut expired = Vec::new();
    loop {
        interval.tick().await;
        // A cluster node that does not lead expires sessions by the leader's time only: by
        // its own clock it could drop a session the leader still keeps.
        let (now, leading) = match shared.cluster.get() {
            None => (shared.clock.now(), true),
            Some(cluster) => match cluster.leader_time() {
                None => (shared.clock.now(), true),
                Some(time) => (time, false),
            },
        };
        shared.resp.follow_expiry(&shared.engine);
        shared.engine.expire_due(now, SWEEP_BUDGET_PER_SHARD);
        shared.engine.drain_expired(&mut expired);
        if !expired.is_empty() {
            shared.resp.deliver_expired(&expired);
            expired.clear();
        }
        ticks = ticks.wrapping_add(1);
        if leading && ticks.is_multiple_of(RENEWAL_TICKS) {
            shared.engine.drain_renewals(now);
        }
    }
}

/// Runs all the futures at once (the accept loops, which never end) and never completes.
/// Hand-written because the one crate that has it (`futures`) is not otherwise needed.
async fn run_all<F: Future<Output = ()>>(futures: Vec<F>) {
    let mut running: Vec<Option<std::pin::Pin<Box<F>>>> =
        futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    std::future::poll_fn(move |cx| {
        for slot in &mut running {
            if let Some(future) = slot
                && future.as_mut().poll(cx).is_ready()
            {
                *slot = None;
            }
        }
        std::task::Poll::<()>::Pending
    })
    .await
}

fn to_usize(bytes: u64) -> usize {
    usize::try_from(bytes).unwrap_or(usize::MAX)
}

fn bind(addr: SocketAddr, setting: &'static str) -> Result<std::net::TcpListener, ServerError> {
    let error = |source| ServerError::Bind {
        setting,
        addr,
        source,
    };
    let listener = std::net::TcpListener::bind(addr).map_err(error)?;
    listener.set_nonblocking(true).map_err(error)?;
    Ok(listener)
}
