//! Lua scripts (`EVAL`, `EVALSHA`, `SCRIPT`), run as Redis 7.0 runs them: an embedded Lua 5.1
//! with Redis's sandbox and libraries (`cjson`, `cmsgpack`, `struct`, `bit`), `redis.call` running sessiond's own command handlers,
//! Redis's conversions between Lua values and replies, and its error texts.
//!
//! A script runs inside one atomic block of the engine over the keys it declares
//! ([`Engine::atomically`](sessiond_engine::Engine::atomically)): no other client sees half of
//! it, and its commands reach the engine, the journal and the replicas as the ordinary
//! commands they are (effects, never the script). Only the declared keys' shards are held, so
//! other clients go on being served meanwhile; a command on an undeclared key is refused.
//!
//! Every script is bounded: a time limit (checked every few thousand Lua instructions against
//! the monotonic clock the server passes in; past it the script is stopped with the error of a
//! killed script, and no `pcall` can catch that), a memory limit per interpreter, Lua's own
//! bounds on stack and recursion, and a cache of scripts bounded in count and bytes.
//!
//! Interpreters are pooled: one is taken for a run and given back after, with the scripts it
//! compiled, so a script compiles once per interpreter, not once per run.
//!
//! - `cache`: the scripts by SHA-1; `vm`: one interpreter, its sandbox (`setup.lua`,
//!   `wrap.lua`) and running a script in it; `convert`: Lua values to replies and back;
//!   `cjson`, `cmsgpack`, `structs` (`struct`), `bit`: the libraries; `number`: C's `%.17g`.

mod bit;
mod cache;
mod cjson;
mod cmsgpack;
mod convert;
mod number;
mod structs;
mod vm;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

pub(crate) use cache::{Script, sha1_hex};
pub(crate) use vm::{CompileError, Run, Vm};

use cache::Cache;

/// The limits of scripts, set when the server starts (the time limit may change while it runs:
/// `CONFIG SET busy-reply-threshold`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScriptLimits {
    /// How long a script may run before it is stopped (Redis's `busy-reply-threshold`, 5 s).
    pub time_limit: Duration,
    /// The most memory one interpreter may use, its libraries and compiled scripts included.
    pub max_memory: usize,
    /// The most scripts the cache keeps; past it the oldest go.
    pub cache_scripts: usize,
    /// The most bytes of script bodies the cache keeps; past it the oldest go.
    pub cache_bytes: usize,
}

impl Default for ScriptLimits {
    fn default() -> Self {
        ScriptLimits {
            time_limit: Duration::from_secs(5),
            max_memory: 64 << 20,
            cache_scripts: 1000,
            cache_bytes: 16 << 20,
        }
    }
}

/// The monotonic clock scripts' time limits are read against, given by the server (the
/// protocol crate reads no clock of its own).
#[derive(Clone, Copy)]
pub struct MonotonicClock(pub fn() -> Instant);

impl Default for MonotonicClock {
    fn default() -> Self {
        MonotonicClock(Instant::now)
    }
}

impl std::fmt::Debug for MonotonicClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MonotonicClock")
    }
}

/// Clocks are not compared: two settings differ by their limits, not their clocks.
impl PartialEq for MonotonicClock {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for MonotonicClock {}

/// One script running, as `SCRIPT KILL` and the time limit see it.
#[derive(Debug, Default)]
pub(crate) struct Running {
    /// Asked to stop (`SCRIPT KILL`).
    pub(crate) stop: AtomicBool,
    /// Stopped: every `pcall` passes the error on from now on.
    pub(crate) stopped: AtomicBool,
    /// Ran a write command.
    pub(crate) wrote: AtomicBool,
    /// Where in the script it was stopped (source, line), for its error.
    pub(crate) stopped_at: Mutex<Option<(String, i64)>>,
}

/// What the connections share about scripts: the cache, the idle interpreters, the time limit,
/// the scripts running.
#[derive(Debug)]
pub(crate) struct Scripts {
    limits: ScriptLimits,
    cache: Mutex<Cache>,
    /// Bumped by `SCRIPT FLUSH`: interpreters with an older one forget what they compiled.
    generation: AtomicU64,
    idle: Mutex<Vec<Vm>>,
    time_limit_ms: AtomicU64,
    running: Mutex<Vec<Arc<Running>>>,
}

/// What `SCRIPT KILL` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kill {
    /// Scripts were asked to stop.
    Killed,
    /// No script is running.
    NotBusy,
    /// Every running script has written already.
    Unkillable,
}

impl Scripts {
    /// No scripts yet, with `limits`.
    pub(crate) fn new(limits: ScriptLimits) -> Self {
        Scripts {
            limits,
            cache: Mutex::new(Cache::default()),
            generation: AtomicU64::new(0),
            idle: Mutex::new(Vec::new()),
            time_limit_ms: AtomicU64::new(
                u64::try_from(limits.time_limit.as_millis()).unwrap_or(u64::MAX),
            ),
            running: Mutex::new(Vec::new()),
        }
    }

    /// The cached script named `sha` (any case).
    pub(crate) fn get(&self, sha: &[u8]) -> Option<Arc<Script>> {
        self.cache.lock().get(sha)
    }

    /// Whether `sha` (any case) is cached.
    pub(crate) fn contains(&self, sha: &[u8]) -> bool {
        self.cache.lock().contains(sha)
    }

    /// Caches a script that compiled.
    pub(crate) fn insert(&self, script: Arc<Script>) {
        self.cache
            .lock()
            .insert(script, self.limits.cache_scripts, self.limits.cache_bytes);
    }

    /// `SCRIPT FLUSH`: forgets every script.
    pub(crate) fn flush(&self) {
        self.cache.lock().clear();
        self.generation.fetch_add(1, Ordering::Relaxed);
        self.idle.lock().clear();
    }

    /// An interpreter: an idle one, or a new one.
    pub(crate) fn take_vm(&self) -> Result<Vm, String> {
        let generation = self.generation.load(Ordering::Relaxed);
        let idle = self.idle.lock().pop();
        match idle {
            Some(mut vm) => {
                if vm.generation != generation {
                    vm.forget(generation);
                }
                Ok(vm)
            }
            None => Vm::new(self.limits.max_memory, generation)
                .map_err(|error| format!("cannot start a Lua interpreter: {error}")),
        }
    }

    /// Gives an interpreter back for the next script. At most as many wait as ever ran at
    /// once, which the worker threads bound.
    pub(crate) fn give_back(&self, vm: Vm) {
        if vm.generation == self.generation.load(Ordering::Relaxed) {
            self.idle.lock().push(vm);
        }
    }

    /// The time limit now.
    pub(crate) fn time_limit(&self) -> Duration {
        Duration::from_millis(self.time_limit_ms.load(Ordering::Relaxed))
    }

    /// Changes the time limit (`CONFIG SET busy-reply-threshold`).
    pub(crate) fn set_time_limit(&self, limit: Duration) {
        self.time_limit_ms.store(
            u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Notes a script starting; [`Scripts::finish`] it when it ends.
    pub(crate) fn start(&self) -> Arc<Running> {
        let running = Arc::new(Running::default());
        self.running.lock().push(Arc::clone(&running));
        running
    }

    /// Notes a script ending.
    pub(crate) fn finish(&self, running: &Arc<Running>) {
        self.running
            .lock()
            .retain(|other| !Arc::ptr_eq(other, running));
    }

    /// `SCRIPT KILL`: asks every running script that has not written to stop.
    pub(crate) fn kill(&self) -> Kill {
        let running = self.running.lock();
        if running.is_empty() {
            return Kill::NotBusy;
        }
        let mut killed = false;
        for script in running.iter() {
            if !script.wrote.load(Ordering::Relaxed) {
                script.stop.store(true, Ordering::Relaxed);
                killed = true;
            }
        }
        if killed {
            Kill::Killed
        } else {
            Kill::Unkillable
        }
    }
}

/// A script made of its body, its `#!lua` line read; Redis's error for a bad one.
pub(crate) fn parse(body: &[u8]) -> Result<Script, String> {
    let mut script = Script {
        sha: sha1_hex(body),
        body: body.to_vec(),
        code_start: 0,
        no_writes: false,
    };
    if !body.starts_with(b"#!") {
        return Ok(script);
    }
    let Some(line_end) = memchr::memchr(b'\n', body) else {
        return Err("Invalid script shebang".into());
    };
    let line = &body[..line_end];
    let mut parts = line.split(|&byte| byte == b' ');
    let engine = parts.next().unwrap_or_default();
    if engine != b"#!lua" {
        return Err(format!(
            "Unexpected engine in script shebang: {}",
            String::from_utf8_lossy(engine)
        ));
    }
    for part in parts {
        let Some(flags) = part.strip_prefix(b"flags=") else {
            return Err(format!(
                "Unknown lua shebang option: {}",
                String::from_utf8_lossy(part)
            ));
        };
        for flag in flags
            .split(|&byte| byte == b',')
            .filter(|flag| !flag.is_empty())
        {
            match flag {
                b"no-writes" => script.no_writes = true,
                b"allow-oom" | b"allow-stale" | b"no-cluster" | b"allow-cross-slot-keys" => {}
                other => {
                    return Err(format!(
                        "Unexpected flag in script shebang: {}",
                        String::from_utf8_lossy(other)
                    ));
                }
            }
        }
    }
    script.code_start = line_end;
    Ok(script)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shebang_line_is_read_as_redis_reads_it() {
        let script = parse(b"#!lua flags=no-writes,allow-oom\nreturn 1").unwrap();
        assert!(script.no_writes);
        assert_eq!(&script.body[script.code_start..], b"\nreturn 1");
        assert!(!parse(b"return 1").unwrap().no_writes);
        let error = |body: &[u8]| parse(body).unwrap_err();
        assert_eq!(error(b"#!lua"), "Invalid script shebang");
        assert_eq!(
            error(b"#!py\n"),
            "Unexpected engine in script shebang: #!py"
        );
        assert_eq!(error(b"#!lua x=1\n"), "Unknown lua shebang option: x=1");
        assert_eq!(
            error(b"#!lua flags=bogus\n"),
            "Unexpected flag in script shebang: bogus"
        );
    }

    #[test]
    fn compiling_answers_lua_s_message_and_caches_per_interpreter() {
        let mut vm = Vm::new(8 << 20, 0).unwrap();
        let bad = parse(b"return +").unwrap();
        let error = vm.function(&bad).unwrap_err();
        assert_eq!(error.0, "user_script:1: unexpected symbol near '+'");
        let good = parse(b"return 1").unwrap();
        let first = vm.function(&good).unwrap();
        assert_eq!(vm.function(&good).unwrap(), first);
        vm.forget(1);
        assert_eq!(vm.generation, 1);
    }

    #[test]
    fn script_kill_stops_only_scripts_that_have_not_written() {
        let scripts = Scripts::new(ScriptLimits::default());
        assert_eq!(scripts.kill(), Kill::NotBusy);
        let writer = scripts.start();
        writer.wrote.store(true, Ordering::Relaxed);
        assert_eq!(scripts.kill(), Kill::Unkillable);
        let reader = scripts.start();
        assert_eq!(scripts.kill(), Kill::Killed);
        assert!(reader.stop.load(Ordering::Relaxed));
        assert!(!writer.stop.load(Ordering::Relaxed));
        scripts.finish(&reader);
        scripts.finish(&writer);
        assert_eq!(scripts.kill(), Kill::NotBusy);
        scripts.set_time_limit(Duration::from_millis(250));
        assert_eq!(scripts.time_limit(), Duration::from_millis(250));
    }
}
