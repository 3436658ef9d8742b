//! The figures `stats` reports, in memcached's names and order, for both protocols.

use std::sync::atomic::Ordering;

use crate::{Context, VERSION};

/// Figures only the server knows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// The server's process id.
    pub pid: u32,
    /// Seconds since the server started.
    pub uptime_secs: u64,
    /// User CPU time of the process, in microseconds.
    pub rusage_user_micros: u64,
    /// System CPU time of the process, in microseconds.
    pub rusage_system_micros: u64,
    /// The connection limit.
    pub max_connections: u64,
    /// Open client connections.
    pub curr_connections: u64,
    /// Connections accepted since start.
    pub total_connections: u64,
    /// Connections refused because the limit was reached.
    pub rejected_connections: u64,
    /// Bytes read from clients.
    pub bytes_read: u64,
    /// Bytes written to clients.
    pub bytes_written: u64,
    /// Worker threads.
    pub threads: u64,
}

/// The general statistics as (name, value) pairs, in the order memcached prints them.
pub fn general(ctx: &Context<'_>) -> Vec<(&'static str, String)> {
    let server = ctx.server.server_stats();
    let engine = ctx.engine.stats();
    let c = engine.counters;
    let p = ctx.counters;
    let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed).to_string();
    vec![
        ("pid", server.pid.to_string()),
        ("uptime", server.uptime_secs.to_string()),
        ("time", ctx.now.as_secs().to_string()),
        ("version", VERSION.to_string()),
        ("pointer_size", (usize::BITS).to_string()),
        ("rusage_user", micros_as_secs(server.rusage_user_micros)),
        ("rusage_system", micros_as_secs(server.rusage_system_micros)),
        ("max_connections", server.max_connections.to_string()),
        ("curr_connections", server.curr_connections.to_string()),
        ("total_connections", server.total_connections.to_string()),
        (
            "rejected_connections",
            server.rejected_connections.to_string(),
        ),
        ("cmd_get", c.cmd_get.to_string()),
        ("cmd_set", c.cmd_set.to_string()),
        ("cmd_flush", load(&p.cmd_flush)),
        ("cmd_touch", c.cmd_touch.to_string()),
        ("cmd_meta", load(&p.cmd_meta)),
        ("get_hits", c.get_hits.to_string()),
        ("get_misses", c.get_misses.to_string()),
        ("get_expired", c.get_expired.to_string()),
        ("get_flushed", c.get_flushed.to_string()),
        ("delete_misses", c.delete_misses.to_string()),
        ("delete_hits", c.delete_hits.to_string()),
        ("incr_misses", c.incr_misses.to_string()),
        ("incr_hits", c.incr_hits.to_string()),
        ("decr_misses", c.decr_misses.to_string()),
        ("decr_hits", c.decr_hits.to_string()),
        ("cas_misses", c.cas_misses.to_string()),
        ("cas_hits", c.cas_hits.to_string()),
        ("cas_badval", c.cas_badval.to_string()),
        ("touch_hits", c.touch_hits.to_string()),
        ("touch_misses", c.touch_misses.to_string()),
        ("store_too_large", load(&p.store_too_large)),
        ("store_no_memory", load(&p.store_no_memory)),
        ("auth_cmds", "0".to_string()),
        ("auth_errors", "0".to_string()),
        ("bytes_read", server.bytes_read.to_string()),
        ("bytes_written", server.bytes_written.to_string()),
        ("limit_maxbytes", engine.limit_maxbytes.to_string()),
        ("accepting_conns", "1".to_string()),
        ("threads", server.threads.to_string()),
        ("bytes", engine.bytes.to_string()),
        ("curr_items", engine.curr_items.to_string()),
        ("total_items", c.total_items.to_string()),
        ("expired_unfetched", c.expired_unfetched.to_string()),
        ("evicted_unfetched", "0".to_string()),
        // sessiond never evicts: a write past the memory limit is refused instead, and counted
        // below, so operators see the pressure without users being logged out.
        ("evictions", "0".to_string()),
        ("reclaimed", c.expired.to_string()),
        ("rejected_writes", engine.rejected_writes.to_string()),
        ("memory_used", engine.memory_used.to_string()),
        ("session_locks_acquired", c.lock_acquired.to_string()),
        ("session_locks_contended", c.lock_contended.to_string()),
    ]
}

/// The `settings` statistics group: the limits clients may want to know.
pub fn settings(ctx: &Context<'_>) -> Vec<(&'static str, String)> {
    let engine = ctx.engine.stats();
    let server = ctx.server.server_stats();
    vec![
        ("maxbytes", engine.limit_maxbytes.to_string()),
        ("maxconns", server.max_connections.to_string()),
        ("evictions", "off".to_string()),
        ("num_threads", server.threads.to_string()),
        ("cas_enabled", "yes".to_string()),
        ("item_size_max", ctx.limits.max_item_size.to_string()),
        ("binding_protocol", "auto-negotiate".to_string()),
    ]
}

/// memcached prints CPU times as `seconds.microseconds`.
fn micros_as_secs(micros: u64) -> String {
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}
