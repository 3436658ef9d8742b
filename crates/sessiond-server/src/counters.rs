//! Server-level figures: connections, bytes moved, CPU time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use sessiond_memcache::{ServerInfo, ServerStats};

/// Counters the server keeps outside the engine.
#[derive(Debug)]
pub struct ServerCounters {
    started: Instant,
    threads: u64,
    max_connections: u64,
    /// Open client connections.
    pub curr_connections: AtomicU64,
    /// Connections accepted since start.
    pub total_connections: AtomicU64,
    /// Connections refused at the connection limit.
    pub rejected_connections: AtomicU64,
    /// Bytes moved, one slot per worker so workers never contend for a cache line.
    workers: Box<[WorkerBytes]>,
}

#[derive(Debug, Default)]
#[repr(align(128))]
struct WorkerBytes {
    read: AtomicU64,
    written: AtomicU64,
}

impl ServerCounters {
    /// Counters for a server with `threads` workers and a connection limit.
    pub fn new(threads: usize, max_connections: usize) -> Self {
        ServerCounters {
            started: Instant::now(),
            threads: threads as u64,
            max_connections: max_connections as u64,
            curr_connections: AtomicU64::new(0),
            total_connections: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            workers: (0..threads).map(|_| WorkerBytes::default()).collect(),
        }
    }

    /// Adds bytes moved by a connection on `worker`.
    pub fn add_bytes(&self, worker: usize, read: u64, written: u64) {
        if let Some(slot) = self.workers.get(worker) {
            slot.read.fetch_add(read, Ordering::Relaxed);
            slot.written.fetch_add(written, Ordering::Relaxed);
        }
    }
}

impl ServerInfo for ServerCounters {
    fn server_stats(&self) -> ServerStats {
        let (user, system) = process_cpu_micros().unwrap_or((0, 0));
        ServerStats {
            pid: std::process::id(),
            uptime_secs: self.started.elapsed().as_secs(),
            rusage_user_micros: user,
            rusage_system_micros: system,
            max_connections: self.max_connections,
            curr_connections: self.curr_connections.load(Ordering::Relaxed),
            total_connections: self.total_connections.load(Ordering::Relaxed),
            rejected_connections: self.rejected_connections.load(Ordering::Relaxed),
            bytes_read: self
                .workers
                .iter()
                .map(|w| w.read.load(Ordering::Relaxed))
                .sum(),
            bytes_written: self
                .workers
                .iter()
                .map(|w| w.written.load(Ordering::Relaxed))
                .sum(),
            threads: self.threads,
        }
    }
}

/// The process's user and system CPU time in microseconds, from `/proc/self/stat`. Linux
/// reports them in clock ticks, which are 100 per second on every architecture Linux ships
/// (`USER_HZ`); reading the figure from `sysconf` would need unsafe code for no gain.
fn process_cpu_micros() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may contain spaces and parentheses; fields start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |index: usize| fields.get(index)?.parse::<u64>().ok();
    const MICROS_PER_TICK: u64 = 10_000;
    Some((ticks(11)? * MICROS_PER_TICK, ticks(12)? * MICROS_PER_TICK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_cpu_time() {
        assert!(process_cpu_micros().is_some());
    }
}
