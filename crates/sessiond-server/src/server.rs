//! The server: binds listeners, accepts connections, deals them to workers, sweeps expired
//! items and shuts down gracefully.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use sessiond_engine::{Engine, EngineConfig, NamespaceId};
use sessiond_memcache::{Limits, ProtocolCounters};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::clock;
use crate::config::Config;
use crate::connection::serve_memcache;
use crate::counters::ServerCounters;
use crate::error::ServerError;
use crate::listen::Listen;
use crate::shared::Shared;
use crate::workers::Workers;

/// How often the expiry sweep runs, and how many schedule entries it may look at per shard
/// each time: at most 64 shards x 1024 entries x 10 runs a second, in short lock holds.
const SWEEP_INTERVAL: Duration = Duration::from_millis(100);
const SWEEP_BUDGET_PER_SHARD: usize = 1024;

/// A started server: listeners bound, workers running, not yet accepting.
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    workers: Workers,
    memcache: Option<std::net::TcpListener>,
    shutdown_timeout: Duration,
}

impl Server {
    /// Binds every configured listener and starts the workers. A listener that cannot bind
    /// stops start-up with an error naming its setting.
    pub fn bind(config: &Config) -> Result<Server, ServerError> {
        let memcache = match config.memcache.listen {
            Listen::Off => None,
            Listen::On(addr) => Some(bind(addr, "memcache_listen")?),
        };
        let engine = Engine::new(EngineConfig {
            max_memory: config.max_memory.0,
        });
        let shared = Arc::new(Shared {
            engine: Arc::new(engine),
            memcache_limits: Limits {
                max_item_size: usize::try_from(config.memcache.max_item_size.0)
                    .unwrap_or(usize::MAX),
                ..Limits::default()
            },
            memcache_namespace: NamespaceId::DEFAULT,
            protocol_counters: ProtocolCounters::default(),
            counters: ServerCounters::new(config.threads, config.max_connections),
            connection_permits: Arc::new(Semaphore::new(config.max_connections)),
            idle_timeout: Some(config.idle_timeout).filter(|timeout| !timeout.is_zero()),
        });
        Ok(Server {
            shared,
            workers: Workers::start(config.threads)?,
            memcache,
            shutdown_timeout: config.shutdown_timeout,
        })
    }

    /// The address the memcached listener is bound to, when it is on.
    pub fn memcache_addr(&self) -> Option<SocketAddr> {
        self.memcache.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The engine the server serves, for in-process tests and tools.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.shared.engine
    }

    /// Serves until `shutdown` completes, then stops accepting, lets open connections finish
    /// what they are doing (up to the shutdown timeout) and returns. Must run inside a tokio
    /// runtime; the workers run on their own threads.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
        let mut accept_tasks = Vec::new();
        if let Some(listener) = self.memcache.take() {
            let addr = listener.local_addr().ok();
            let listener = TcpListener::from_std(listener).map_err(ServerError::Runtime)?;
            if let Some(addr) = addr {
                tracing::info!(protocol = %"memcache", addr = %addr, "listening");
            }
            let shared = Arc::clone(&self.shared);
            let workers = &self.workers;
            accept_tasks.push(accept_loop(listener, shared, workers));
        }
        let sweeper = sweep(Arc::clone(&self.shared.engine));
        tokio::select! {
            _ = shutdown => {}
            _ = futures_all(accept_tasks) => {}
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
        self.workers.stop();
        tracing::info!("stopped");
        Ok(())
    }
}

/// Accepts connections forever, dealing each to the next worker.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, workers: &Workers) {
    loop {
        let (mut stream, _peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&shared.connection_permits).try_acquire_owned() else {
            shared
                .counters
                .rejected_connections
                .fetch_add(1, Ordering::Relaxed);
            // memcached's words when it is at its connection limit.
            let _ = stream
                .write_all(b"ERROR Too many open connections\r\n")
                .await;
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
        let shared = Arc::clone(&shared);
        let shutdown = Arc::clone(shutdown);
        handle.spawn(async move {
            // The socket moves to the worker's own reactor here.
            match tokio::net::TcpStream::from_std(std_stream) {
                Ok(stream) => serve_memcache(stream, shared, index, shutdown, permit).await,
                Err(_) => {
                    shared
                        .counters
                        .curr_connections
                        .fetch_sub(1, Ordering::Relaxed);
                }
            }
        });
    }
}

/// Removes expired items in the background, a bounded amount per tick.
async fn sweep(engine: Arc<Engine>) {
    let mut interval = tokio::time::interval(SWEEP_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        engine.expire_due(clock::now(), SWEEP_BUDGET_PER_SHARD);
    }
}

/// Waits for all the futures; with none, waits forever.
async fn futures_all<F: Future<Output = ()>>(futures: Vec<F>) {
    let mut set = Vec::with_capacity(futures.len());
    for future in futures {
        set.push(Box::pin(future));
    }
    for future in set {
        future.await;
    }
    std::future::pending::<()>().await;
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
