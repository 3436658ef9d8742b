//! Coordinating a run: client threads, phases, and CPU / memory sampling.
//!
//! Each client thread owns a current-thread tokio runtime and a share of the
//! connections, one task per connection. The coordinator (the calling thread)
//! mostly sleeps: it moves all threads through connect -> prefill -> warm-up ->
//! measure -> stop, sampling CPU counters at the edges of the measured window so
//! the samples do not include start-up or prefill work.

use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use tokio::task::JoinSet;

use crate::conn::{
    Conn, ConnStats, Counters, PHASE_MEASURE, PHASE_STOP, PHASE_WARMUP, Protocol, Shared,
};
use crate::page::{AspnetConn, SharedanceClient};
use crate::report::{BenchReport, RssReport};
use crate::stats::{self, CpuTicks};

/// One simulated client of whichever protocol the run speaks.
#[derive(Debug)]
enum Client {
    Memcache(Conn),
    Aspnet(AspnetConn),
    Sharedance(SharedanceClient),
}

impl Client {
    async fn connect(
        index: usize,
        addr: &str,
        shared: &Shared,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        Ok(match shared.workload.protocol {
            Protocol::Text | Protocol::Binary | Protocol::Resp => {
                Client::Memcache(Conn::connect(index, addr, shared, timeout).await?)
            }
            Protocol::Aspnet => {
                Client::Aspnet(AspnetConn::connect(index, addr, shared, timeout).await?)
            }
            Protocol::Sharedance => {
                Client::Sharedance(SharedanceClient::connect(index, addr, shared, timeout).await?)
            }
        })
    }

    async fn prefill(
        &mut self,
        shared: &Shared,
        range: std::ops::Range<u64>,
    ) -> anyhow::Result<Counters> {
        match self {
            Client::Memcache(c) => c.prefill(shared, range).await,
            Client::Aspnet(c) => c.prefill(shared, range).await,
            Client::Sharedance(c) => c.prefill(shared, range).await,
        }
    }

    async fn run(self, shared: Arc<Shared>) -> anyhow::Result<ConnStats> {
        match self {
            Client::Memcache(c) => c.run(shared).await,
            Client::Aspnet(c) => c.run(shared).await,
            Client::Sharedance(c) => c.run(shared).await,
        }
    }
}

/// How to run, beyond the workload itself.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Server address, `HOST:PORT`.
    pub addr: String,
    /// Total connections.
    pub connections: usize,
    /// Client threads (each with its own runtime).
    pub client_threads: usize,
    /// Store every key once before the timed phases.
    pub prefill: bool,
    /// Time to run before measuring.
    pub warmup: Duration,
    /// Measured time.
    pub duration: Duration,
    /// Server process to sample CPU time (and RSS) of.
    pub server_pid: Option<u32>,
    /// Longest wait for connecting, prefill, or for connections to finish after
    /// the stop signal.
    pub timeout: Duration,
}

/// What a client thread reports to the coordinator.
enum Event {
    Connected,
    Prefilled(Counters),
    Done(Box<ConnStats>),
    Failed(anyhow::Error),
}

/// Handles to the client threads.
struct Clients {
    events: mpsc::Receiver<Event>,
    go: Vec<mpsc::Sender<bool>>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Clients {
    fn start(cfg: &RunConfig, shared: &Arc<Shared>) -> anyhow::Result<Self> {
        let (event_tx, events) = mpsc::channel();
        let mut go = Vec::new();
        let mut threads = Vec::new();
        for t in 0..cfg.client_threads {
            // Round-robin so every thread gets an equal share (within one).
            let conn_ids: Vec<usize> = (t..cfg.connections).step_by(cfg.client_threads).collect();
            let (go_tx, go_rx) = mpsc::channel();
            go.push(go_tx);
            let events = event_tx.clone();
            let shared = Arc::clone(shared);
            let cfg = cfg.clone();
            let handle = thread::Builder::new()
                .name(format!("client-{t}"))
                .spawn(move || {
                    if let Err(e) = client_thread(&cfg, &shared, &conn_ids, &events, &go_rx) {
                        let _ = events.send(Event::Failed(e));
                    }
                })
                .context("spawning a client thread")?;
            threads.push(handle);
        }
        Ok(Self {
            events,
            go,
            threads,
        })
    }

    /// Lets every thread proceed to its next step (`true`) or quit (`false`).
    fn signal(&self, proceed: bool) {
        for g in &self.go {
            let _ = g.send(proceed);
        }
    }

    /// Waits for one event from every thread, failing fast on the first error.
    fn collect(&self, what: &str, timeout: Duration) -> anyhow::Result<Vec<Event>> {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::with_capacity(self.threads.len());
        while got.len() < self.threads.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(Event::Failed(e)) => return Err(e.context(format!("during {what}"))),
                Ok(event) => got.push(event),
                Err(mpsc::RecvTimeoutError::Timeout) => bail!(
                    "{what} did not finish within {timeout:?} ({} of {} client threads done); \
                     is the server stuck? (raise --timeout if it is just slow)",
                    got.len(),
                    self.threads.len()
                ),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    bail!("client threads exited during {what}")
                }
            }
        }
        Ok(got)
    }

    /// Sleeps until `until`, returning early with the error if a thread fails.
    fn sleep_until(&self, until: Instant) -> anyhow::Result<()> {
        let left = until.saturating_duration_since(Instant::now());
        // Nothing but a failure is expected before the coordinator signals the
        // next step, so any message ends the wait.
        match self.events.recv_timeout(left) {
            Ok(Event::Failed(e)) => Err(e),
            Ok(_) => bail!("a client thread reported out of turn"),
            Err(mpsc::RecvTimeoutError::Timeout) => Ok(()),
            Err(mpsc::RecvTimeoutError::Disconnected) => bail!("client threads exited"),
        }
    }

    fn join(self) {
        drop(self.go);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Body of a client thread: runs each step when the coordinator says so.
fn client_thread(
    cfg: &RunConfig,
    shared: &Arc<Shared>,
    conn_ids: &[usize],
    events: &mpsc::Sender<Event>,
    go: &mpsc::Receiver<bool>,
) -> anyhow::Result<()> {
    let proceed = || go.recv().unwrap_or(false);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the client runtime")?;

    let mut conns = rt.block_on(async {
        let mut conns = Vec::with_capacity(conn_ids.len());
        for &i in conn_ids {
            conns.push(Client::connect(i, &cfg.addr, shared, cfg.timeout).await?);
        }
        Ok::<_, anyhow::Error>(conns)
    })?;
    let _ = events.send(Event::Connected);
    if !proceed() {
        return Ok(());
    }

    let mut prefilled = Counters::default();
    if cfg.prefill {
        // Split the key space into one contiguous range per connection, so all
        // connections prefill in parallel and every key is stored exactly once.
        let keys = shared.workload.keys;
        let n = cfg.connections as u64;
        let ranges: Vec<_> = conn_ids
            .iter()
            .map(|&i| (i as u64 * keys / n)..((i as u64 + 1) * keys / n))
            .collect();
        let (back, counters) = rt.block_on(async {
            let mut set = JoinSet::new();
            for (slot, (mut conn, range)) in conns.drain(..).zip(ranges).enumerate() {
                let shared = Arc::clone(shared);
                set.spawn(async move {
                    let c = conn.prefill(&shared, range).await?;
                    Ok::<_, anyhow::Error>((slot, conn, c))
                });
            }
            let mut back = Vec::new();
            let mut total = Counters::default();
            while let Some(res) = set.join_next().await {
                let (slot, conn, c) = res.context("prefill task panicked")??;
                total.merge(&c);
                back.push((slot, conn));
            }
            back.sort_by_key(|(slot, _)| *slot);
            Ok::<_, anyhow::Error>((back, total))
        })?;
        conns = back.into_iter().map(|(_, c)| c).collect();
        prefilled = counters;
    }
    let _ = events.send(Event::Prefilled(prefilled));
    if !proceed() {
        return Ok(());
    }

    let stats = rt.block_on(async {
        let mut set = JoinSet::new();
        for conn in conns {
            set.spawn(conn.run(Arc::clone(shared)));
        }
        let mut total = ConnStats::new();
        while let Some(res) = set.join_next().await {
            total.merge(&res.context("connection task panicked")??);
        }
        Ok::<_, anyhow::Error>(total)
    })?;
    let _ = events.send(Event::Done(Box::new(stats)));
    Ok(())
}

/// Connects and prefills if asked; returns the clients and prefill figures.
fn start_and_prefill(
    cfg: &RunConfig,
    shared: &Arc<Shared>,
    before_prefill: impl FnOnce() -> anyhow::Result<()>,
) -> anyhow::Result<(Clients, Counters, Duration)> {
    let clients = Clients::start(cfg, shared)?;
    clients.collect("connect", cfg.timeout)?;
    before_prefill()?;
    let started = Instant::now();
    clients.signal(true);
    let mut prefilled = Counters::default();
    for event in clients.collect("prefill", cfg.timeout)? {
        if let Event::Prefilled(c) = event {
            prefilled.merge(&c);
        }
    }
    Ok((clients, prefilled, started.elapsed()))
}

fn server_cpu(pid: Option<u32>) -> anyhow::Result<Option<CpuTicks>> {
    pid.map(|p| stats::cpu_ticks(Some(p)).map_err(|e| anyhow!("server CPU time: {e}")))
        .transpose()
}

/// Runs a timed benchmark.
pub fn run_bench(cfg: &RunConfig, shared: &Arc<Shared>) -> anyhow::Result<BenchReport> {
    shared.phase.store(PHASE_WARMUP, Ordering::Relaxed);
    let (clients, prefilled, prefill_time) = start_and_prefill(cfg, shared, || Ok(()))?;
    if cfg.prefill && prefilled.errors > 0 {
        eprintln!(
            "warning: {} of {} prefill sets failed (first: {})",
            prefilled.errors,
            prefilled.sets,
            prefilled.first_error.as_deref().unwrap_or("?")
        );
    }

    clients.signal(true);
    clients.sleep_until(Instant::now() + cfg.warmup)?;

    let ticks_per_sec = stats::clock_ticks_per_sec();
    let server_before = server_cpu(cfg.server_pid)?;
    let client_before = stats::cpu_ticks(None).map_err(anyhow::Error::msg)?;
    let start = Instant::now();
    shared.phase.store(PHASE_MEASURE, Ordering::Relaxed);
    clients.sleep_until(start + cfg.duration)?;
    shared.phase.store(PHASE_STOP, Ordering::Relaxed);
    let elapsed = start.elapsed();
    let server_after = server_cpu(cfg.server_pid)?;
    let client_after = stats::cpu_ticks(None).map_err(anyhow::Error::msg)?;

    let mut total = ConnStats::new();
    for event in clients.collect("the end of the run", cfg.timeout)? {
        if let Event::Done(s) = event {
            total.merge(&s);
        }
    }
    clients.join();

    let server_cpu_us = server_before
        .zip(server_after)
        .map(|(b, a)| b.micros_until(a, ticks_per_sec));
    let client_cpu_us = client_before.micros_until(client_after, ticks_per_sec);
    Ok(BenchReport::new(
        cfg,
        &shared.workload,
        &total,
        elapsed,
        server_cpu_us,
        client_cpu_us,
        prefilled,
        prefill_time,
    ))
}

/// Measures server resident memory per stored item: RSS after connecting,
/// prefill every key, RSS again.
pub fn run_rss(cfg: &RunConfig, shared: &Arc<Shared>) -> anyhow::Result<RssReport> {
    let pid = cfg
        .server_pid
        .ok_or_else(|| anyhow!("--rss-per-item needs --server-pid"))?;
    let rss = || stats::vm_rss_bytes(pid).map_err(|e| anyhow!("server RSS: {e}"));
    let mut before = 0;
    let (clients, prefilled, prefill_time) = start_and_prefill(cfg, shared, || {
        // Sampled after connecting, so per-connection buffers are not charged to
        // the items.
        before = rss()?;
        Ok(())
    })?;
    // Let the server finish any deferred work triggered by the load (memcached's
    // LRU maintainer, lazily sized hash tables) before sampling.
    thread::sleep(Duration::from_millis(500));
    let after = rss()?;
    clients.signal(false);
    clients.join();
    if prefilled.errors > 0 {
        bail!(
            "{} of {} prefill sets failed (first: {}); bytes per item would be meaningless \
             (is the server's memory limit too small?)",
            prefilled.errors,
            prefilled.sets,
            prefilled.first_error.as_deref().unwrap_or("?")
        );
    }
    Ok(RssReport::new(
        &shared.workload,
        before,
        after,
        prefilled.sets,
        prefill_time,
    ))
}
