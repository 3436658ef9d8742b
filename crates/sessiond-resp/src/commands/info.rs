//! `INFO [section ...]`: the server's figures in Redis's `field:value` text.
//!
//! Clients parse a few fields: ioredis's ready check reads `loading:`, tools read
//! `redis_version`, `redis_mode`, `connected_clients`, `used_memory`, `maxmemory`, `role` and
//! the keyspace lines. The sections and field names are Redis 7.0's; the values are
//! sessiond's own. Sections about things sessiond does not have (CPU accounting, modules,
//! error statistics) are left out.

use std::fmt::Write;

use sessiond_engine::Engine;

use super::{Call, Outcome};
use crate::{REDIS_VERSION, args};

/// The sections, in Redis's order, and whether `INFO` without arguments (`default`) shows
/// them.
const SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cluster",
    "keyspace",
];

/// Answers the sections asked for (all of them for `INFO`, `INFO all`, `INFO default`,
/// `INFO everything`); an unknown section adds nothing.
pub(crate) fn info(call: &mut Call<'_, '_>) -> Outcome {
    let mut wanted = [call.argc() == 1; SECTIONS.len()];
    for index in 1..call.argc() {
        let arg = call.arg(index);
        if ["all", "default", "everything"]
            .iter()
            .any(|name| args::is(arg, name))
        {
            wanted = [true; SECTIONS.len()];
        } else if let Some(section) = SECTIONS.iter().position(|name| args::is(arg, name)) {
            wanted[section] = true;
        }
    }
    // The figures come from every shard, which a script's atomic block may hold: inside a
    // script, `INFO` is refused.
    let engine = call.store()?;
    let mut text = String::new();
    for (section, _) in SECTIONS
        .iter()
        .enumerate()
        .filter(|(index, _)| wanted[*index])
    {
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        write_section(call, engine, section, &mut text);
    }
    call.reply().verbatim(*b"txt", text.as_bytes());
    Ok(())
}

/// Appends section `index` of [`SECTIONS`].
fn write_section(call: &Call<'_, '_>, engine: &Engine, index: usize, out: &mut String) {
    let shared = call.ctx.shared;
    let config = &shared.config;
    let now = call.now();
    let mut line = |text: std::fmt::Arguments<'_>| {
        let _ = out.write_fmt(text);
        out.push_str("\r\n");
    };
    match SECTIONS.get(index).copied().unwrap_or_default() {
        "server" => {
            let uptime = now.saturating_duration_since(shared.started).as_secs();
            line(format_args!("# Server"));
            line(format_args!("redis_version:{REDIS_VERSION}"));
            line(format_args!("redis_git_sha1:00000000"));
            line(format_args!("redis_git_dirty:0"));
            line(format_args!("redis_build_id:0"));
            line(format_args!("redis_mode:standalone"));
            line(format_args!(
                "sessiond_version:{}",
                env!("CARGO_PKG_VERSION")
            ));
            line(format_args!(
                "os:{} {}",
                std::env::consts::OS,
                std::env::consts::ARCH
            ));
            line(format_args!("arch_bits:{}", usize::BITS));
            line(format_args!("multiplexing_api:epoll"));
            line(format_args!("process_id:{}", config.process_id));
            line(format_args!("process_supervised:no"));
            line(format_args!("tcp_port:{}", config.tcp_port));
            line(format_args!(
                "server_time_usec:{}",
                now.as_millis().saturating_mul(1000)
            ));
            line(format_args!("uptime_in_seconds:{uptime}"));
            line(format_args!("uptime_in_days:{}", uptime / 86_400));
            line(format_args!("hz:10"));
            line(format_args!("configured_hz:10"));
            line(format_args!("executable:"));
            line(format_args!("config_file:"));
            line(format_args!("io_threads_active:0"));
        }
        "clients" => {
            line(format_args!("# Clients"));
            line(format_args!(
                "connected_clients:{}",
                shared.clients.connected()
            ));
            line(format_args!("cluster_connections:0"));
            line(format_args!("maxclients:{}", config.max_clients));
            line(format_args!("client_recent_max_input_buffer:0"));
            line(format_args!("client_recent_max_output_buffer:0"));
            line(format_args!("blocked_clients:0"));
            line(format_args!("tracking_clients:0"));
            line(format_args!("clients_in_timeout_table:0"));
        }
        "memory" => {
            let stats = engine.stats();
            line(format_args!("# Memory"));
            line(format_args!("used_memory:{}", stats.memory_used));
            line(format_args!(
                "used_memory_human:{}",
                human(stats.memory_used)
            ));
            line(format_args!("used_memory_dataset:{}", stats.bytes));
            line(format_args!("maxmemory:{}", stats.limit_maxbytes));
            line(format_args!(
                "maxmemory_human:{}",
                human(stats.limit_maxbytes)
            ));
            // sessiond never evicts: a write past the limit is refused, as Redis's
            // `noeviction` policy refuses it.
            line(format_args!("maxmemory_policy:noeviction"));
            line(format_args!("rejected_writes:{}", stats.rejected_writes));
            line(format_args!("mem_allocator:libc"));
        }
        "persistence" => {
            // Recovery finishes before the first client is accepted: never loading.
            line(format_args!("# Persistence"));
            line(format_args!("loading:0"));
            line(format_args!("async_loading:0"));
            line(format_args!("rdb_bgsave_in_progress:0"));
            line(format_args!("rdb_last_bgsave_status:ok"));
            line(format_args!("aof_enabled:0"));
            line(format_args!("aof_rewrite_in_progress:0"));
            line(format_args!("aof_last_write_status:ok"));
        }
        "stats" => {
            let counters = engine.stats().counters;
            line(format_args!("# Stats"));
            line(format_args!(
                "total_connections_received:{}",
                shared.clients.total()
            ));
            line(format_args!(
                "total_commands_processed:{}",
                shared.clients.commands()
            ));
            line(format_args!("expired_keys:{}", counters.expired));
            line(format_args!("evicted_keys:0"));
            line(format_args!("keyspace_hits:{}", counters.get_hits));
            line(format_args!("keyspace_misses:{}", counters.get_misses));
            line(format_args!(
                "pubsub_channels:{}",
                shared.hub.channel_count()
            ));
            line(format_args!("pubsub_patterns:{}", shared.hub.patterns()));
        }
        "replication" => {
            line(format_args!("# Replication"));
            line(format_args!("role:master"));
            line(format_args!("connected_slaves:0"));
            line(format_args!("master_failover_state:no-failover"));
            line(format_args!("master_repl_offset:0"));
        }
        "cluster" => {
            line(format_args!("# Cluster"));
            line(format_args!("cluster_enabled:0"));
        }
        "keyspace" => {
            line(format_args!("# Keyspace"));
            for (db, &namespace) in config.databases.iter().enumerate() {
                let keys = engine.key_count(namespace);
                if keys > 0 {
                    // The engine does not count keys with an expiry per namespace; 0 rather
                    // than a guess.
                    line(format_args!("db{db}:keys={keys},expires=0,avg_ttl=0"));
                }
            }
        }
        _ => {}
    }
}

/// Bytes as Redis's `bytesToHuman` writes them: `512B`, `1.50K`, `2.00M`.
fn human(bytes: u64) -> String {
    const UNITS: [(&str, u64); 5] = [
        ("P", 1 << 50),
        ("T", 1 << 40),
        ("G", 1 << 30),
        ("M", 1 << 20),
        ("K", 1 << 10),
    ];
    for (unit, size) in UNITS {
        if bytes >= size {
            return format!("{:.2}{unit}", bytes as f64 / size as f64);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn sizes_read_like_redis() {
        assert_eq!(human(0), "0B");
        assert_eq!(human(1023), "1023B");
        assert_eq!(human(1536), "1.50K");
        assert_eq!(human(1 << 30), "1.00G");
    }
}
