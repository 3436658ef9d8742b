//! Results of a run, as human-readable text or one JSON object line.

use std::fmt::Write as _;
use std::time::Duration;

use crate::conn::{ConnStats, Counters, Workload};
use crate::runner::RunConfig;

/// Results of a timed benchmark.
#[derive(Clone, Debug)]
pub struct BenchReport {
    /// Wire protocol name.
    pub protocol: &'static str,
    /// What one op is: `request`, or `page` (a session read and write) for the page
    /// protocols. Rates, CPU per op and latency are per op.
    pub op_unit: &'static str,
    /// Connections used.
    pub connections: usize,
    /// Requests in flight per connection.
    pub pipeline: usize,
    /// Key space size.
    pub keys: u64,
    /// Value size in bytes.
    pub value_size: usize,
    /// Set part of the request mix.
    pub set_ratio: u32,
    /// Get part of the request mix.
    pub get_ratio: u32,
    /// Length of the measured window in seconds.
    pub elapsed_secs: f64,
    /// Counts of the measured requests.
    pub counters: Counters,
    /// Ops per second.
    pub ops_per_sec: f64,
    /// Requests per second (equal to `ops_per_sec` unless ops are pages).
    pub requests_per_sec: f64,
    /// Latency percentiles of an op in microseconds: p50, p90, p99, p99.9, max, mean.
    pub latency_us: Latency,
    /// Server CPU time per op in µs (user + system), if a PID was given.
    pub server_cpu_us_per_op: Option<f64>,
    /// Server CPU time over wall time (1.0 = one core busy), if a PID was given.
    pub server_cpu_cores: Option<f64>,
    /// The load generator's CPU time per op in µs.
    pub client_cpu_us_per_op: f64,
    /// The load generator's CPU time over wall time.
    pub client_cpu_cores: f64,
    /// Sets made by prefill.
    pub prefill_sets: u64,
    /// Prefill sets the server refused.
    pub prefill_errors: u64,
    /// Prefill wall time in seconds.
    pub prefill_secs: f64,
}

/// Latency summary in microseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Slowest request.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
}

impl BenchReport {
    /// Summarises a finished run.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: &RunConfig,
        w: &Workload,
        total: &ConnStats,
        elapsed: Duration,
        server_cpu_us: Option<f64>,
        client_cpu_us: f64,
        prefill: Counters,
        prefill_time: Duration,
    ) -> Self {
        let secs = elapsed.as_secs_f64();
        let ops = total.counters.ops(w.protocol);
        // Guard the divisions: a run against a dead-slow server may finish nothing.
        let per_op = |us: f64| if ops > 0 { us / ops as f64 } else { 0.0 };
        let h = &total.latency_ns;
        let us = |ns: u64| ns as f64 / 1000.0;
        let latency_us = if h.is_empty() {
            Latency::default()
        } else {
            Latency {
                p50: us(h.value_at_quantile(0.5)),
                p90: us(h.value_at_quantile(0.9)),
                p99: us(h.value_at_quantile(0.99)),
                p999: us(h.value_at_quantile(0.999)),
                max: us(h.max()),
                mean: h.mean() / 1000.0,
            }
        };
        Self {
            protocol: w.protocol.name(),
            op_unit: w.protocol.op_unit(),
            connections: cfg.connections,
            pipeline: w.pipeline,
            keys: w.keys,
            value_size: w.value.len(),
            set_ratio: w.set_ratio,
            get_ratio: w.get_ratio,
            elapsed_secs: secs,
            counters: total.counters.clone(),
            ops_per_sec: ops as f64 / secs,
            requests_per_sec: total.counters.requests() as f64 / secs,
            latency_us,
            server_cpu_us_per_op: server_cpu_us.map(per_op),
            server_cpu_cores: server_cpu_us.map(|us| us / 1e6 / secs),
            client_cpu_us_per_op: per_op(client_cpu_us),
            client_cpu_cores: client_cpu_us / 1e6 / secs,
            prefill_sets: prefill.sets,
            prefill_errors: prefill.errors,
            prefill_secs: prefill_time.as_secs_f64(),
        }
    }

    /// One JSON object on one line; `label` is copied into it verbatim.
    pub fn to_json(&self, label: Option<&str>) -> String {
        let c = &self.counters;
        let l = &self.latency_us;
        let mut j = Json::new();
        j.str("mode", "bench");
        if let Some(label) = label {
            j.str("label", label);
        }
        j.str("protocol", self.protocol);
        j.str("op_unit", self.op_unit);
        j.num("connections", self.connections as f64);
        j.num("pipeline", self.pipeline as f64);
        j.num("keys", self.keys as f64);
        j.num("value_size", self.value_size as f64);
        j.num("set_ratio", f64::from(self.set_ratio));
        j.num("get_ratio", f64::from(self.get_ratio));
        j.num("elapsed_s", self.elapsed_secs);
        j.num("ops", self.ops() as f64);
        j.num("requests", c.requests() as f64);
        j.num("pages", c.pages as f64);
        j.num("gets", c.gets as f64);
        j.num("sets", c.sets as f64);
        j.num("hits", c.hits as f64);
        j.num("misses", c.misses as f64);
        j.num("contended", c.contended as f64);
        j.num("errors", c.errors as f64);
        j.opt_str("first_error", c.first_error.as_deref());
        j.num("ops_per_sec", self.ops_per_sec);
        j.num("requests_per_sec", self.requests_per_sec);
        j.num("p50_us", l.p50);
        j.num("p90_us", l.p90);
        j.num("p99_us", l.p99);
        j.num("p999_us", l.p999);
        j.num("max_us", l.max);
        j.num("mean_us", l.mean);
        j.opt_num("server_cpu_us_per_op", self.server_cpu_us_per_op);
        j.opt_num("server_cpu_cores", self.server_cpu_cores);
        j.num("client_cpu_us_per_op", self.client_cpu_us_per_op);
        j.num("client_cpu_cores", self.client_cpu_cores);
        j.num("prefill_sets", self.prefill_sets as f64);
        j.num("prefill_errors", self.prefill_errors as f64);
        j.num("prefill_s", self.prefill_secs);
        j.finish()
    }

    /// Ops counted: pages for the page protocols, requests otherwise.
    pub fn ops(&self) -> u64 {
        if self.op_unit == "page" {
            self.counters.pages
        } else {
            self.counters.requests()
        }
    }

    /// Multi-line human-readable summary.
    pub fn to_text(&self) -> String {
        let c = &self.counters;
        let l = &self.latency_us;
        let mut s = String::new();
        match self.protocol {
            "aspnet" => {
                let _ = writeln!(
                    s,
                    "aspnet protocol, {} connections, {} sessions, {} B values; \
                     one page = GET Exclusive: acquire + PUT releasing the lock",
                    self.connections, self.keys, self.value_size
                );
            }
            "sharedance" => {
                let _ = writeln!(
                    s,
                    "sharedance protocol, {} clients, {} sessions, {} B values; \
                     one page = fetch + store, a new TCP connection each",
                    self.connections, self.keys, self.value_size
                );
            }
            _ => {
                let _ = writeln!(
                    s,
                    "{} protocol, {} connections, pipeline {}, {} keys, {} B values, set:get = {}:{}",
                    self.protocol,
                    self.connections,
                    self.pipeline,
                    self.keys,
                    self.value_size,
                    self.set_ratio,
                    self.get_ratio
                );
            }
        }
        if self.prefill_sets > 0 {
            let _ = writeln!(
                s,
                "prefill:  {} sets in {:.2} s ({} errors)",
                self.prefill_sets, self.prefill_secs, self.prefill_errors
            );
        }
        if self.op_unit == "page" {
            let _ = writeln!(
                s,
                "pages:    {} in {:.2} s = {:.0} pages/s; {} requests = {:.0} requests/s \
                 ({} gets: {} hits, {} misses, {} locked and retried; {} sets; {} errors)",
                c.pages,
                self.elapsed_secs,
                self.ops_per_sec,
                c.requests(),
                self.requests_per_sec,
                c.gets,
                c.hits,
                c.misses,
                c.contended,
                c.sets,
                c.errors
            );
        } else {
            let _ = writeln!(
                s,
                "ops:      {} in {:.2} s = {:.0} ops/s ({} gets: {} hits, {} misses; {} sets; {} errors)",
                c.requests(),
                self.elapsed_secs,
                self.ops_per_sec,
                c.gets,
                c.hits,
                c.misses,
                c.sets,
                c.errors
            );
        }
        if let Some(e) = &c.first_error {
            let _ = writeln!(s, "first error: {e}");
        }
        let unit = if self.op_unit == "page" { "page" } else { "op" };
        let _ = writeln!(
            s,
            "latency:  p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs, \
             mean {:.1} µs (per {unit})",
            l.p50, l.p90, l.p99, l.p999, l.max, l.mean
        );
        if let (Some(per_op), Some(cores)) = (self.server_cpu_us_per_op, self.server_cpu_cores) {
            let _ = writeln!(
                s,
                "server:   {per_op:.2} CPU µs/{unit} ({cores:.2} cores busy)"
            );
        }
        let _ = writeln!(
            s,
            "client:   {:.2} CPU µs/{unit} ({:.2} cores busy)",
            self.client_cpu_us_per_op, self.client_cpu_cores
        );
        s
    }
}

/// Results of `--rss-per-item`.
#[derive(Clone, Debug)]
pub struct RssReport {
    /// Items stored.
    pub items: u64,
    /// Value size in bytes.
    pub value_size: usize,
    /// Key length in bytes.
    pub key_len: usize,
    /// Server RSS before prefill, bytes.
    pub rss_before: u64,
    /// Server RSS after prefill, bytes.
    pub rss_after: u64,
    /// (after - before) / items.
    pub bytes_per_item: f64,
    /// Prefill wall time in seconds.
    pub prefill_secs: f64,
}

impl RssReport {
    /// Summarises an RSS measurement.
    pub fn new(w: &Workload, before: u64, after: u64, items: u64, prefill: Duration) -> Self {
        let grown = after.saturating_sub(before) as f64;
        Self {
            items,
            value_size: w.value.len(),
            key_len: w.key_len(),
            rss_before: before,
            rss_after: after,
            bytes_per_item: if items > 0 { grown / items as f64 } else { 0.0 },
            prefill_secs: prefill.as_secs_f64(),
        }
    }

    /// Bytes per item beyond key and value.
    pub fn overhead_per_item(&self) -> f64 {
        self.bytes_per_item - (self.value_size + self.key_len) as f64
    }

    /// One JSON object on one line; `label` is copied into it verbatim.
    pub fn to_json(&self, label: Option<&str>) -> String {
        let mut j = Json::new();
        j.str("mode", "rss");
        if let Some(label) = label {
            j.str("label", label);
        }
        j.num("items", self.items as f64);
        j.num("value_size", self.value_size as f64);
        j.num("key_len", self.key_len as f64);
        j.num("rss_before_bytes", self.rss_before as f64);
        j.num("rss_after_bytes", self.rss_after as f64);
        j.num("bytes_per_item", self.bytes_per_item);
        j.num("overhead_per_item", self.overhead_per_item());
        j.num("prefill_s", self.prefill_secs);
        j.finish()
    }

    /// Multi-line human-readable summary.
    pub fn to_text(&self) -> String {
        format!(
            "stored {} items of {} B (keys {} B) in {:.2} s\n\
             server RSS {:.1} MiB -> {:.1} MiB: {:.0} bytes per item ({:.0} beyond key + value)\n",
            self.items,
            self.value_size,
            self.key_len,
            self.prefill_secs,
            self.rss_before as f64 / 1048576.0,
            self.rss_after as f64 / 1048576.0,
            self.bytes_per_item,
            self.overhead_per_item()
        )
    }
}

/// Minimal JSON object writer: our output is flat numbers and short strings, which
/// does not justify a serde dependency.
struct Json {
    out: String,
}

impl Json {
    fn new() -> Self {
        Self {
            out: String::from("{"),
        }
    }

    fn key(&mut self, k: &str) {
        if self.out.len() > 1 {
            self.out.push(',');
        }
        self.string(k);
        self.out.push(':');
    }

    fn string(&mut self, s: &str) {
        self.out.push('"');
        for ch in s.chars() {
            match ch {
                '"' => self.out.push_str("\\\""),
                '\\' => self.out.push_str("\\\\"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(self.out, "\\u{:04x}", c as u32);
                }
                c => self.out.push(c),
            }
        }
        self.out.push('"');
    }

    fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        self.string(v);
    }

    fn opt_str(&mut self, k: &str, v: Option<&str>) {
        match v {
            Some(v) => self.str(k, v),
            None => {
                self.key(k);
                self.out.push_str("null");
            }
        }
    }

    fn num(&mut self, k: &str, v: f64) {
        self.key(k);
        if !v.is_finite() {
            self.out.push_str("null");
        } else if v.fract() == 0.0 && v.abs() < 1e15 {
            let _ = write!(self.out, "{}", v as i64);
        } else {
            let _ = write!(self.out, "{v:.3}");
        }
    }

    fn opt_num(&mut self, k: &str, v: Option<f64>) {
        match v {
            Some(v) => self.num(k, v),
            None => {
                self.key(k);
                self.out.push_str("null");
            }
        }
    }

    fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_writer() {
        let mut j = Json::new();
        j.str("a", "x\"y\\z\n");
        j.num("n", 3.0);
        j.num("f", 1.23456);
        j.opt_num("none", None);
        j.num("inf", f64::INFINITY);
        assert_eq!(
            j.finish(),
            r#"{"a":"x\"y\\z\u000a","n":3,"f":1.235,"none":null,"inf":null}"#
        );
    }
}
