//! Command-line options.

use std::sync::atomic::AtomicU8;
use std::time::Duration;

use anyhow::{anyhow, ensure};
use clap::Parser;

use crate::conn::{PHASE_WARMUP, Protocol, Shared, Workload};
use crate::keys::{DEFAULT_KEY_PREFIX, DEFAULT_KEY_WIDTH, KeyBuf, ValuePattern};
use crate::runner::RunConfig;

/// Closed-loop load generator for session-store benchmarks: memcached (text or binary
/// protocol), ASP.NET State Server, or sharedance.
///
/// Defaults imitate PHP sessions in memcached: 100,000 keys `memc.sess.key.<id>`,
/// 4 KiB values, one set for every four gets, 50 connections, one request in
/// flight per connection. With `--protocol aspnet` or `sharedance` the unit is a page
/// request instead, a read and a write of one random session as those clients make them;
/// the set/get ratio, key prefix and width do not apply.
#[derive(Parser, Debug, Clone)]
#[command(name = "sessiond-loadgen", version)]
pub struct Args {
    /// Wire protocol. `aspnet`: per page, GET `Exclusive: acquire` then PUT releasing the
    /// lock, on persistent connections. `sharedance`: per page, a fetch then a store, each on a
    /// new TCP connection. `resp`: the text workload as Redis `GET` / `SET ... EX`, to compare
    /// with Redis.
    #[arg(long, value_enum, default_value_t = Protocol::Text)]
    pub protocol: Protocol,
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:11211")]
    pub addr: String,
    /// TCP connections.
    #[arg(long, default_value_t = 50)]
    pub connections: usize,
    /// Client threads, each running a single-threaded runtime with its share of
    /// the connections. One is enough to saturate a server on a small machine and
    /// leaves the most CPU to the server.
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,
    /// Distinct keys; requests pick uniformly at random among them.
    #[arg(long, default_value_t = 100_000)]
    pub keys: u64,
    /// Value size in bytes.
    #[arg(long, default_value_t = 4096)]
    pub value_size: usize,
    /// Sets per `set-ratio + get-ratio` requests.
    #[arg(long, default_value_t = 1)]
    pub set_ratio: u32,
    /// Gets per `set-ratio + get-ratio` requests.
    #[arg(long, default_value_t = 4)]
    pub get_ratio: u32,
    /// Measured time (e.g. 10s, 500ms, 1m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Time to run before measuring.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Requests in flight per connection. Latency is then counted from the write
    /// of the whole batch to each reply.
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,
    /// Store every key once before warm-up, so gets hit.
    #[arg(long)]
    pub prefill: bool,
    /// Sets in flight per connection during prefill (0: as many as fit in about
    /// 256 KiB, at most 64).
    #[arg(long, default_value_t = 0)]
    pub prefill_depth: usize,
    /// PID of the server, to report its CPU time per request (and, with
    /// --rss-per-item, its memory).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Instead of a timed run: prefill all keys and report how much the server's
    /// resident memory grew per stored item. Needs --server-pid.
    #[arg(long)]
    pub rss_per_item: bool,
    /// Print one JSON object line instead of text.
    #[arg(long)]
    pub json: bool,
    /// Free text copied into the JSON output, to tag results.
    #[arg(long)]
    pub label: Option<String>,
    /// Key prefix (php-memcached's default session prefix).
    #[arg(long, default_value = DEFAULT_KEY_PREFIX)]
    pub key_prefix: String,
    /// Digits of the zero-padded key number (26 = PHP's default session id length).
    #[arg(long, default_value_t = DEFAULT_KEY_WIDTH)]
    pub key_width: usize,
    /// Expiry time sent with sets, in seconds.
    #[arg(long, default_value_t = 1440)]
    pub exptime: u32,
    /// Seed of the key and operation choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Give up if connecting, prefill, or finishing after the measured window
    /// takes longer than this.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,
}

impl Args {
    /// Checks option combinations and builds the run description.
    pub fn build(&self) -> anyhow::Result<(RunConfig, Shared)> {
        ensure!(self.connections >= 1, "--connections must be at least 1");
        ensure!(
            (1..=self.connections).contains(&self.client_threads),
            "--client-threads must be between 1 and --connections"
        );
        ensure!(self.keys >= 1, "--keys must be at least 1");
        let key = KeyBuf::new(&self.key_prefix, self.key_width).map_err(|e| anyhow!(e))?;
        ensure!(
            self.keys <= key.capacity(),
            "--keys {} does not fit in --key-width {} digits",
            self.keys,
            self.key_width
        );
        ensure!(
            self.value_size <= 64 << 20,
            "--value-size above 64 MiB is not supported"
        );
        ensure!(
            self.set_ratio > 0 || self.get_ratio > 0,
            "--set-ratio and --get-ratio cannot both be 0"
        );
        ensure!(
            (1..=4096).contains(&self.pipeline),
            "--pipeline must be between 1 and 4096"
        );
        ensure!(
            !self.protocol.is_page() || self.pipeline == 1,
            "--pipeline: the {} client has one request in flight at a time",
            self.protocol.name()
        );
        ensure!(
            !self.rss_per_item || self.server_pid.is_some(),
            "--rss-per-item needs --server-pid"
        );
        ensure!(!self.duration.is_zero(), "--duration must be above 0");
        let prefill_depth = match self.prefill_depth {
            0 => ((256 << 10) / (self.value_size + 100)).clamp(1, 64),
            d => d.min(4096),
        };
        let workload = Workload {
            protocol: self.protocol,
            keys: self.keys,
            key_prefix: self.key_prefix.clone(),
            key_width: self.key_width,
            value: ValuePattern::new(self.value_size),
            set_ratio: self.set_ratio,
            get_ratio: self.get_ratio,
            pipeline: self.pipeline,
            prefill_depth,
            exptime: self.exptime,
            flags: 0,
            seed: self.seed,
        };
        let run = RunConfig {
            addr: self.addr.clone(),
            connections: self.connections,
            client_threads: self.client_threads,
            prefill: self.prefill || self.rss_per_item,
            warmup: self.warmup,
            duration: self.duration,
            server_pid: self.server_pid,
            timeout: self.timeout,
        };
        Ok((
            run,
            Shared {
                workload,
                phase: AtomicU8::new(PHASE_WARMUP),
            },
        ))
    }
}

/// Parses `10s`, `1.5s`, `500ms`, `2m`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (examples: 10s, 500ms, 2m)"))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1e3,
        "us" | "µs" => n / 1e6,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        other => return Err(format!("unknown duration unit {other:?} in {s:?}")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("10parsecs").is_err());
    }

    #[test]
    fn defaults_build() {
        let args = Args::parse_from(["sessiond-loadgen"]);
        let (run, shared) = args.build().unwrap();
        assert_eq!(run.connections, 50);
        assert_eq!(shared.workload.value.len(), 4096);
        assert_eq!(shared.workload.prefill_depth, 62);
        assert!(
            Args::parse_from(["x", "--set-ratio", "0", "--get-ratio", "0"])
                .build()
                .is_err()
        );
        assert!(Args::parse_from(["x", "--rss-per-item"]).build().is_err());
        assert!(
            Args::parse_from(["x", "--protocol", "aspnet", "--pipeline", "2"])
                .build()
                .is_err()
        );
        let (_, shared) = Args::parse_from(["x", "--protocol", "sharedance"])
            .build()
            .unwrap();
        assert_eq!(shared.workload.protocol, Protocol::Sharedance);
        assert_eq!(shared.workload.key_len(), 26);
        assert!(
            Args::parse_from(["x", "--keys", "1000", "--key-width", "3"])
                .build()
                .is_ok()
        );
        assert!(
            Args::parse_from(["x", "--keys", "1001", "--key-width", "3"])
                .build()
                .is_err()
        );
    }
}
