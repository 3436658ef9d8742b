//! Shared helpers for integration tests of the `sessiond` binary.
//!
//! * [`Server`] runs the `sessiond` binary built by Cargo on an ephemeral port.
//! * [`Memcached`] runs the real `/usr/bin/memcached` as a reference implementation.
//! * [`exchange`] / [`exchange_until_close`] send raw protocol bytes and collect the
//!   reply deterministically (no sleeps), so the same request can be replayed against
//!   both servers and the transcripts compared byte for byte.
//!
//! Every wait in here is bounded; running out of time panics with whatever the child
//! process printed, so a hung server shows up as a failed test with a readable cause.

#![allow(dead_code)]

pub mod aspnet;
pub mod cluster;
pub mod php;
pub mod redis;
pub mod redis_pair;
pub mod web;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a server may take to announce its listener.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a graceful shutdown (SIGTERM) may take before the process is killed.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// Read/write timeout on client sockets opened by the helpers.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Substring of the stderr line with which `sessiond` announces its memcache listener.
pub const LISTENING_MARKER: &str = "listening protocol=";
/// The log line sessiond writes once every listener accepts connections.
pub const READY_MARKER: &str = " ready";

/// Path of the reference memcached used by [`Memcached`] (Debian's `memcached` package).
pub const MEMCACHED_BIN: &str = "/usr/bin/memcached";

/// Text-protocol terminator sent by [`exchange`]: the meta no-op.
pub const TEXT_TERMINATOR: &[u8] = b"mn\r\n";
/// memcached's reply to [`TEXT_TERMINATOR`].
pub const TEXT_TERMINATOR_REPLY: &[u8] = b"MN\r\n";
/// Opaque carried by the binary NOOP terminator sent by [`exchange`].
pub const BINARY_TERMINATOR_OPAQUE: u32 = 0xDEAD_BEEF;

const BINARY_HEADER_LEN: usize = 24;
const BINARY_REQUEST_MAGIC: u8 = 0x80;
const BINARY_RESPONSE_MAGIC: u8 = 0x81;
const BINARY_OPCODE_NOOP: u8 = 0x0a;

/// The 24-byte binary-protocol NOOP request with opaque [`BINARY_TERMINATOR_OPAQUE`].
pub fn binary_terminator() -> [u8; BINARY_HEADER_LEN] {
    let mut header = [0u8; BINARY_HEADER_LEN];
    header[0] = BINARY_REQUEST_MAGIC;
    header[1] = BINARY_OPCODE_NOOP;
    header[12..16].copy_from_slice(&BINARY_TERMINATOR_OPAQUE.to_be_bytes());
    header
}

/// The exact 24-byte response memcached sends for [`binary_terminator`].
pub fn binary_terminator_reply() -> [u8; BINARY_HEADER_LEN] {
    let mut header = binary_terminator();
    header[0] = BINARY_RESPONSE_MAGIC;
    header
}

// ---------------------------------------------------------------------------------------
// Captured output of a child process
// ---------------------------------------------------------------------------------------

/// Everything a child wrote to a pipe, collected by a background thread that keeps the
/// pipe drained for the whole life of the child (so it can never block on a full pipe).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    fn push(&self, bytes: &[u8]) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
    }
}

/// Drains `stderr` line by line into `captured`. Every line, with ANSI escapes
/// removed, is also offered to `on_line` until it returns `true` once.
fn drain_lines(
    stderr: ChildStderr,
    captured: Captured,
    mut on_line: impl FnMut(&str) -> bool + Send + 'static,
) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::new(stderr);
        let mut line = Vec::new();
        let mut watching = true;
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    captured.push(&line);
                    if watching {
                        let plain = strip_ansi(&String::from_utf8_lossy(&line));
                        watching = !on_line(&plain);
                    }
                }
            }
        }
    })
}

/// Removes ANSI escape sequences (`ESC [ ... final-byte`), as tracing colours its output.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Extracts the protocol and socket address of a `listening protocol=P addr=A` log line.
pub fn parse_listening_line(line: &str) -> Option<(String, SocketAddr)> {
    let rest = &line[line.find(LISTENING_MARKER)? + LISTENING_MARKER.len()..];
    let mut tokens = rest.split_whitespace();
    let protocol = tokens.next()?.to_string();
    let addr = tokens.next()?.strip_prefix("addr=")?;
    let addr = addr
        .trim_matches(|c| matches!(c, '"' | '\'' | ',' | ';'))
        .parse()
        .ok()?;
    Some((protocol, addr))
}

fn send_sigterm(child: &Child) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits in pid_t");
    // SAFETY: plain kill(2) on a child we spawned and have not reaped yet.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
}

/// Waits for `child` to exit for at most `bound`.
fn wait_bounded(child: &mut Child, bound: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + bound;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            Ok(None) => return None,
            Err(e) => panic!("waiting for pid {}: {e}", child.id()),
        }
    }
}

/// Joins a pipe-draining thread once the pipe has reached end of file, waiting at most
/// one second: a grandchild that inherited the pipe could keep it open forever, and
/// the captured output is readable without the join anyway.
fn join_drain(drain: Option<JoinHandle<()>>) {
    let Some(drain) = drain else { return };
    let deadline = Instant::now() + Duration::from_secs(1);
    while !drain.is_finished() {
        if Instant::now() >= deadline {
            return;
        }
        thread::sleep(Duration::from_millis(5));
    }
    let _ = drain.join();
}

/// SIGTERM, then SIGKILL if the process has not exited within [`SHUTDOWN_TIMEOUT`].
/// Returns the exit status and whether the process had to be killed.
fn terminate(child: &mut Child) -> (ExitStatus, bool) {
    if let Ok(Some(status)) = child.try_wait() {
        return (status, false);
    }
    send_sigterm(child);
    if let Some(status) = wait_bounded(child, SHUTDOWN_TIMEOUT) {
        return (status, false);
    }
    let _ = child.kill();
    (child.wait().expect("wait after SIGKILL"), true)
}

// ---------------------------------------------------------------------------------------
// sessiond
// ---------------------------------------------------------------------------------------

/// A running `sessiond` binary. SIGTERM (then SIGKILL after a bound) on drop.
pub struct Server {
    child: Child,
    listeners: Vec<(String, SocketAddr)>,
    stderr: Captured,
    drain: Option<JoinHandle<()>>,
    /// The data directory the server got when its arguments named none.
    _data_dir: tempfile::TempDir,
}

impl Server {
    /// Arguments every [`Server::start`] / [`Server::start_with`] passes first.
    pub const DEFAULT_ARGS: [&'static str; 10] = [
        "--memcache-listen",
        "127.0.0.1:0",
        "--aspnet-listen",
        "127.0.0.1:0",
        "--sharedance-listen",
        "127.0.0.1:0",
        "--resp-listen",
        "127.0.0.1:0",
        "--threads",
        "2",
    ];

    /// `sessiond` with every listener on a port of its choosing and two threads.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// [`Server::DEFAULT_ARGS`] followed by `extra`.
    pub fn start_with(extra: &[&str]) -> Server {
        let mut args: Vec<&str> = Server::DEFAULT_ARGS.to_vec();
        args.extend_from_slice(extra);
        Server::start_raw(&args)
    }

    /// Exactly `args`; sessiond must start and log its listeners.
    pub fn start_raw(args: &[&str]) -> Server {
        let bin = env!("CARGO_BIN_EXE_sessiond");
        let data_dir = tempfile::tempdir().expect("a temporary data directory");
        let mut child = Command::new(bin)
            .args(args)
            // Keep the log line free of colour codes (they are stripped anyway).
            .env("NO_COLOR", "1")
            // Used only when the arguments name no data directory: parallel tests must not
            // share one (and would be refused by its lock).
            .env("SESSIOND_DATA_DIR", data_dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {bin} {args:?}: {e}"));

        let stderr = Captured::default();
        let (tx, rx) = mpsc::channel();
        let drain = drain_lines(
            child.stderr.take().expect("piped stderr"),
            stderr.clone(),
            {
                let mut listeners = Vec::new();
                move |line| {
                    if let Some(listener) = parse_listening_line(line) {
                        listeners.push(listener);
                    }
                    if line.trim_end().ends_with(READY_MARKER) {
                        let _ = tx.send(std::mem::take(&mut listeners));
                        return true;
                    }
                    false
                }
            },
        );

        match rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(listeners) => Server {
                child,
                listeners,
                stderr,
                drain: Some(drain),
                _data_dir: data_dir,
            },
            Err(err) => {
                let why = match err {
                    mpsc::RecvTimeoutError::Timeout => {
                        format!("no {READY_MARKER:?} line within {STARTUP_TIMEOUT:?}")
                    }
                    mpsc::RecvTimeoutError::Disconnected => {
                        "stderr closed before the ready line".to_string()
                    }
                };
                let (status, _) = terminate(&mut child);
                join_drain(Some(drain));
                panic!(
                    "sessiond {args:?} did not start: {why}; exit status: {status}\n\
                     --- sessiond stderr ---\n{}--- end of stderr ---",
                    stderr.text()
                );
            }
        }
    }

    /// Address of the memcache listener, as logged by the server.
    pub fn memcache_addr(&self) -> SocketAddr {
        self.listener("memcache")
    }

    /// Address of the ASP.NET State Server listener, as logged by the server.
    pub fn aspnet_addr(&self) -> SocketAddr {
        self.listener("aspnet")
    }

    /// Address of the Redis listener, as logged by the server.
    pub fn resp_addr(&self) -> SocketAddr {
        self.listener("resp")
    }

    /// Address of the sharedance listener, as logged by the server.
    pub fn sharedance_addr(&self) -> SocketAddr {
        self.listener("sharedance")
    }

    /// Address of the `protocol` listener, as logged by the server; panics when it is off.
    pub fn listener(&self, protocol: &str) -> SocketAddr {
        self.listeners
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, addr)| *addr)
            .unwrap_or_else(|| {
                panic!(
                    "sessiond logged no {protocol} listener: {:?}",
                    self.listeners
                )
            })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the server has written to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.text()
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit. Panics if it had to be
    /// killed. Returns the exit status and the complete stderr.
    pub fn shutdown(mut self) -> (ExitStatus, String) {
        let (status, killed) = terminate(&mut self.child);
        join_drain(self.drain.take());
        let stderr = self.stderr.text();
        assert!(
            !killed,
            "sessiond ignored SIGTERM for {SHUTDOWN_TIMEOUT:?} and was killed\n\
             --- sessiond stderr ---\n{stderr}--- end of stderr ---"
        );
        (status, stderr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let (status, killed) = terminate(&mut self.child);
        join_drain(self.drain.take());
        if thread::panicking() || killed {
            eprintln!(
                "sessiond (pid {}) exited with {status}{}\n--- sessiond stderr ---\n{}--- end of stderr ---",
                self.child.id(),
                if killed {
                    " after SIGKILL (SIGTERM was ignored)"
                } else {
                    ""
                },
                self.stderr.text()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reference memcached
// ---------------------------------------------------------------------------------------

/// A running `/usr/bin/memcached -U 0 -l 127.0.0.1 -p PORT -t 1 -m 64`. Killed on drop.
pub struct Memcached {
    child: Child,
    addr: SocketAddr,
    stderr: Captured,
    drain: Option<JoinHandle<()>>,
}

impl Memcached {
    const ATTEMPTS: usize = 5;

    pub fn start() -> Memcached {
        Memcached::start_with(&[])
    }

    /// Starts memcached with `extra` arguments appended to the defaults. Panics (never
    /// skips) if `/usr/bin/memcached` is not installed.
    pub fn start_with(extra: &[&str]) -> Memcached {
        assert!(
            Path::new(MEMCACHED_BIN).exists(),
            "{MEMCACHED_BIN} not found: these tests compare sessiond with the real memcached. \
             Install it with `apt-get install -y memcached` (the README's test command does this)."
        );
        let mut failures = Vec::new();
        for _ in 0..Memcached::ATTEMPTS {
            let port = free_port();
            match Memcached::try_start(port, extra) {
                Ok(memcached) => return memcached,
                Err(failure) => failures.push(failure),
            }
        }
        panic!(
            "memcached did not come up in {} attempts:\n{}",
            Memcached::ATTEMPTS,
            failures.join("\n")
        );
    }

    fn try_start(port: u16, extra: &[&str]) -> Result<Memcached, String> {
        let port_arg = port.to_string();
        let mut args = vec![
            "-U",
            "0",
            "-l",
            "127.0.0.1",
            "-p",
            &port_arg,
            "-t",
            "1",
            "-m",
            "64",
        ];
        // memcached refuses to run as root unless told which user to run as.
        // SAFETY: geteuid(2) has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            args.extend(["-u", "root"]);
        }
        args.extend_from_slice(extra);

        let mut child = Command::new(MEMCACHED_BIN)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawning {MEMCACHED_BIN} {args:?}: {e}"))?;
        let stderr = Captured::default();
        let drain = drain_lines(
            child.stderr.take().expect("piped stderr"),
            stderr.clone(),
            |_| true,
        );
        let addr = SocketAddr::from(([127, 0, 0, 1], port));

        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                join_drain(Some(drain));
                return Err(format!(
                    "memcached {args:?} exited with {status}: {}",
                    stderr.text().trim_end()
                ));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(Memcached {
                    child,
                    addr,
                    stderr,
                    drain: Some(drain),
                });
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                join_drain(Some(drain));
                return Err(format!(
                    "memcached {args:?} did not accept connections within {STARTUP_TIMEOUT:?}: {}",
                    stderr.text().trim_end()
                ));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Memcached {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        join_drain(self.drain.take());
        let stderr = self.stderr.text();
        if thread::panicking() && !stderr.is_empty() {
            eprintln!("--- memcached stderr ---\n{stderr}--- end of stderr ---");
        }
    }
}

/// A port on 127.0.0.1 that was free a moment ago, for a server the test starts later (a
/// cluster node's ports are fixed in every node's `--peers`, and kept across restarts).
///
/// Taken below the kernel's ephemeral range when there is room: a port from that range,
/// released, can be taken by any outgoing connection on the machine as its source port
/// before the server binds it (seen in CI: `Address already in use` at a node's start, with
/// the other tests' clients and relays connecting all the while). Below the range only
/// another test's explicit bind can take it; the port is chosen at random and never twice
/// by one process.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let (low, _) = ephemeral_range();
    let floor = 10_000;
    if low > floor + 1_000 {
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        for _ in 0..1_000 {
            let port = floor + (random() % u64::from(low - floor)) as u16;
            if handed_out.contains(&port) {
                continue;
            }
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                handed_out.push(port);
                return port;
            }
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding 127.0.0.1:0")
        .port()
}

/// The kernel's range of ports for outgoing connections and `bind(0)`.
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut bounds = text.split_whitespace().map(|n| n.parse::<u16>().ok());
            Some((bounds.next()??, bounds.next()??))
        })
        .unwrap_or((32_768, 60_999))
}

/// A random number: std's hasher is seeded afresh from the OS for every `RandomState`.
fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

// ---------------------------------------------------------------------------------------
// Raw protocol exchanges
// ---------------------------------------------------------------------------------------

/// Opens a connection with [`IO_TIMEOUT`] on connect, reads and writes.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .expect("set_read_timeout");
    stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .expect("set_write_timeout");
    stream.set_nodelay(true).expect("set_nodelay");
    stream
}

/// Sends `request` on a fresh connection followed by a terminator, and returns every
/// byte the server sent before the terminator's reply.
///
/// * `text == true`: the terminator is `mn\r\n`, answered by `MN\r\n`. The reply is
///   taken to be complete when the received bytes end with `MN\r\n`, so a request must
///   not make the server send data ending in `MN\r\n` right before a read boundary
///   (for example a value ending in `MN`).
/// * `text == false`: the terminator is a binary NOOP with opaque `0xDEADBEEF`. The
///   responses are walked packet by packet (24-byte header + body length) until the
///   NOOP response carrying that opaque, so arbitrary values are safe.
///
/// Panics, showing what was received, if the connection closes or times out first.
pub fn exchange(addr: SocketAddr, request: &[u8], text: bool) -> Vec<u8> {
    exchange_with(&mut connect(addr), addr, request, text)
}

/// [`exchange`] and [`exchange_on`] on `stream`, connected to `addr`.
fn exchange_with(stream: &mut TcpStream, addr: SocketAddr, request: &[u8], text: bool) -> Vec<u8> {
    let mut out = request.to_vec();
    if text {
        out.extend_from_slice(TEXT_TERMINATOR);
    } else {
        out.extend_from_slice(&binary_terminator());
    }
    write_all_or_panic(stream, addr, &out);

    let mut received = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let end = if text {
            text_reply_end(&received)
        } else {
            binary_reply_end(&received)
        };
        if let Some(end) = end {
            received.truncate(end);
            return received;
        }
        match stream.read(&mut chunk) {
            Ok(0) => panic!(
                "{addr} closed the connection before answering the {} terminator; received {} bytes: {}",
                if text { "text" } else { "binary" },
                received.len(),
                escape(&received)
            ),
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!(
                "reading from {addr} while waiting for the {} terminator: {e}; received {} bytes: {}",
                if text { "text" } else { "binary" },
                received.len(),
                escape(&received)
            ),
        }
    }
}

/// Where the reply to the requests proper ends, if the `MN\r\n` reply has arrived.
fn text_reply_end(received: &[u8]) -> Option<usize> {
    received
        .ends_with(TEXT_TERMINATOR_REPLY)
        .then(|| received.len() - TEXT_TERMINATOR_REPLY.len())
}

/// Where the reply to the requests proper ends, if the terminator's NOOP response has
/// arrived. Walks whole binary packets; if the stream does not parse as binary
/// responses, falls back to looking for the exact reply bytes at the end.
fn binary_reply_end(received: &[u8]) -> Option<usize> {
    let reply = binary_terminator_reply();
    let mut at = 0;
    while received.len() >= at + BINARY_HEADER_LEN {
        let header = &received[at..at + BINARY_HEADER_LEN];
        if header[0] != BINARY_RESPONSE_MAGIC {
            return received
                .ends_with(&reply)
                .then(|| received.len() - reply.len());
        }
        if header[1] == BINARY_OPCODE_NOOP
            && header[12..16] == BINARY_TERMINATOR_OPAQUE.to_be_bytes()
        {
            return Some(at);
        }
        let body = u32::from_be_bytes(header[8..12].try_into().unwrap()) as usize;
        at += BINARY_HEADER_LEN + body;
    }
    None
}

/// Sends `request` on a fresh connection and reads until the server closes it (for
/// `quit` and friends). A connection reset counts as a close. Panics, showing what was
/// received, if the server keeps the connection open for [`IO_TIMEOUT`].
pub fn exchange_until_close(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = connect(addr);
    write_all_or_panic(&mut stream, addr, request);
    try_read_until_close(&mut stream).unwrap_or_else(|(e, received)| {
        panic!(
            "{addr} did not close the connection ({e}); received {} bytes: {}",
            received.len(),
            escape(&received)
        )
    })
}

fn write_all_or_panic(stream: &mut TcpStream, addr: SocketAddr, bytes: &[u8]) {
    stream
        .write_all(bytes)
        .and_then(|()| stream.flush())
        .unwrap_or_else(|e| panic!("writing {} bytes to {addr}: {e}", bytes.len()));
}

/// Printable rendering of protocol bytes (`\r`, `\n`, `\xNN`), for assertion messages.
pub fn escape(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

// ---------------------------------------------------------------------------------------
// Helpers added for hostile.rs and cli.rs
// ---------------------------------------------------------------------------------------

impl Server {
    /// Sends `signal` (for example `libc::SIGINT`) and waits (bounded) for the process to
    /// exit. Panics, with the server's stderr, if it had to be killed. Returns the exit
    /// status and the complete stderr.
    pub fn stop_with(self, signal: libc::c_int) -> (ExitStatus, String) {
        send_signal(self.child.id(), signal);
        self.wait_for_exit()
    }

    /// Waits (at most [`SHUTDOWN_TIMEOUT`]) for the process to exit by itself, after a
    /// signal sent with [`send_signal`]. Panics, with the server's stderr, if it does not.
    /// Returns the exit status and the complete stderr.
    pub fn wait_for_exit(mut self) -> (ExitStatus, String) {
        let status = wait_bounded(&mut self.child, SHUTDOWN_TIMEOUT);
        join_drain(self.drain.take());
        let stderr = self.stderr.text();
        let Some(status) = status else {
            panic!(
                "sessiond did not exit within {SHUTDOWN_TIMEOUT:?}\n\
                 --- sessiond stderr ---\n{stderr}--- end of stderr ---"
            );
        };
        (status, stderr)
    }
}

/// Sends `signal` to process `pid` (one this test spawned).
pub fn send_signal(pid: u32, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("pid fits in pid_t");
    // SAFETY: plain kill(2) on a child the test spawned and has not reaped yet.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// The resident set size of process `pid` in bytes, from `/proc/PID/status` (`VmRSS`).
pub fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("reading /proc/{pid}/status: {e}"));
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status:\n{status}"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse().ok())
        .unwrap_or_else(|| panic!("cannot parse {line:?}"));
    kib * 1024
}

/// Like [`exchange`], but on an already open connection, which stays open: sends
/// `request` and the terminator and returns what came before the terminator's reply.
pub fn exchange_on(stream: &mut TcpStream, request: &[u8], text: bool) -> Vec<u8> {
    let addr = stream.peer_addr().expect("peer_addr");
    exchange_with(stream, addr, request, text)
}

/// Reads from an open connection until the peer closes it (a reset counts as a close) and
/// returns what arrived. Panics, showing what was received, if the peer keeps it open
/// past the stream's read timeout.
pub fn read_until_close(stream: &mut TcpStream) -> Vec<u8> {
    try_read_until_close(stream).unwrap_or_else(|(e, received)| {
        panic!(
            "the peer did not close the connection ({e}); received {} bytes: {}",
            received.len(),
            escape(&received)
        )
    })
}

/// [`read_until_close`], returning the error and what was received instead of panicking.
pub fn try_read_until_close(stream: &mut TcpStream) -> Result<Vec<u8>, (std::io::Error, Vec<u8>)> {
    let mut received = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(received),
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(received),
            Err(e) => return Err((e, received)),
        }
    }
}

/// A binary-protocol request: header with `opcode`, `opaque` and a body length of
/// extras + key + value unless `body_len` overrides it, followed by extras, key, value.
pub fn binary_request(
    opcode: u8,
    key: &[u8],
    extras: &[u8],
    value: &[u8],
    opaque: u32,
    body_len: Option<u32>,
) -> Vec<u8> {
    let key_len = u16::try_from(key.len()).expect("key length fits in u16");
    let extras_len = u8::try_from(extras.len()).expect("extras length fits in u8");
    let body_len = body_len.unwrap_or_else(|| {
        u32::try_from(key.len() + extras.len() + value.len()).expect("body fits in u32")
    });
    let mut packet = Vec::with_capacity(BINARY_HEADER_LEN + extras.len() + key.len() + value.len());
    packet.push(BINARY_REQUEST_MAGIC);
    packet.push(opcode);
    packet.extend_from_slice(&key_len.to_be_bytes());
    packet.push(extras_len);
    packet.push(0); // data type
    packet.extend_from_slice(&[0, 0]); // vbucket
    packet.extend_from_slice(&body_len.to_be_bytes());
    packet.extend_from_slice(&opaque.to_be_bytes());
    packet.extend_from_slice(&[0; 8]); // cas
    packet.extend_from_slice(extras);
    packet.extend_from_slice(key);
    packet.extend_from_slice(value);
    packet
}

/// One binary-protocol response, as split by [`parse_binary_responses`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinaryResponse {
    pub opcode: u8,
    pub status: u16,
    pub opaque: u32,
    pub cas: u64,
    pub extras: Vec<u8>,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// Splits `bytes` into binary responses. Panics if they do not parse as whole responses.
pub fn parse_binary_responses(mut bytes: &[u8]) -> Vec<BinaryResponse> {
    let all = bytes;
    let mut responses = Vec::new();
    while !bytes.is_empty() {
        assert!(
            bytes.len() >= BINARY_HEADER_LEN && bytes[0] == BINARY_RESPONSE_MAGIC,
            "not a binary response at byte {}: {}",
            all.len() - bytes.len(),
            escape(all)
        );
        let be16 = |at: usize| u16::from_be_bytes([bytes[at], bytes[at + 1]]);
        let key_len = usize::from(be16(2));
        let extras_len = usize::from(bytes[4]);
        let body_len = u32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize;
        assert!(
            bytes.len() >= BINARY_HEADER_LEN + body_len && body_len >= key_len + extras_len,
            "truncated binary response: {}",
            escape(all)
        );
        let body = &bytes[BINARY_HEADER_LEN..BINARY_HEADER_LEN + body_len];
        responses.push(BinaryResponse {
            opcode: bytes[1],
            status: be16(6),
            opaque: u32::from_be_bytes(bytes[12..16].try_into().unwrap()),
            cas: u64::from_be_bytes(bytes[16..24].try_into().unwrap()),
            extras: body[..extras_len].to_vec(),
            key: body[extras_len..extras_len + key_len].to_vec(),
            value: body[extras_len + key_len..].to_vec(),
        });
        bytes = &bytes[BINARY_HEADER_LEN + body_len..];
    }
    responses
}

/// What a `sessiond` run that was expected to end by itself came to.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// How long the process ran.
    pub elapsed: Duration,
}

/// Runs `sessiond args` to completion, waiting at most `bound` (then kills it and panics).
/// `SESSIOND_CONFIG` and `RUST_LOG` are removed from its environment.
pub fn run_to_exit(args: &[&str], bound: Duration) -> Finished {
    let mut process = Spawned::start(args);
    let status = process.wait(bound);
    Finished {
        status,
        stdout: process.stdout(),
        stderr: process.stderr(),
        elapsed: process.started.elapsed(),
    }
}

/// A `sessiond` process started with arbitrary arguments, stdout and stderr captured.
/// Unlike [`Server`] it waits for nothing at start. Killed on drop.
pub struct Spawned {
    child: Child,
    /// As [`Server`]'s.
    _data_dir: tempfile::TempDir,
    stdout: Captured,
    stderr: Captured,
    drains: Vec<JoinHandle<()>>,
    lines: mpsc::Receiver<String>,
    started: Instant,
}

impl Spawned {
    /// Starts `sessiond args` without `SESSIOND_CONFIG` and `RUST_LOG` in its environment.
    pub fn start(args: &[&str]) -> Spawned {
        let bin = env!("CARGO_BIN_EXE_sessiond");
        let started = Instant::now();
        let data_dir = tempfile::tempdir().expect("a temporary data directory");
        let mut child = Command::new(bin)
            .args(args)
            .env("NO_COLOR", "1")
            .env("SESSIOND_DATA_DIR", data_dir.path())
            .env_remove("SESSIOND_CONFIG")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {bin} {args:?}: {e}"));
        let stdout = Captured::default();
        let stderr = Captured::default();
        let (tx, lines) = mpsc::channel();
        let mut stdout_pipe = child.stdout.take().expect("piped stdout");
        let stdout_sink = stdout.clone();
        let stdout_drain = thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = stdout_pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                stdout_sink.push(&chunk[..n]);
            }
        });
        let stderr_drain = drain_lines(
            child.stderr.take().expect("piped stderr"),
            stderr.clone(),
            move |line| tx.send(line.to_string()).is_err(),
        );
        Spawned {
            child,
            stdout,
            stderr,
            drains: vec![stdout_drain, stderr_drain],
            lines,
            started,
            _data_dir: data_dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (at most `bound`) for a stderr line containing `needle` and returns it,
    /// ANSI escapes removed. Panics, with the stderr so far, if none comes.
    pub fn wait_for_line(&mut self, needle: &str, bound: Duration) -> String {
        let deadline = Instant::now() + bound;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!(
                    "no stderr line containing {needle:?} within {bound:?}; exit status: {:?}\n\
                     --- sessiond stderr ---\n{}--- end of stderr ---",
                    self.child.try_wait().ok().flatten(),
                    self.stderr.text()
                ),
            }
        }
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: libc::c_int) {
        send_signal(self.child.id(), signal);
    }

    /// Waits at most `bound` for the process to exit; kills it and panics if it does not.
    pub fn wait(&mut self, bound: Duration) -> ExitStatus {
        match wait_bounded(&mut self.child, bound) {
            Some(status) => {
                for drain in self.drains.drain(..) {
                    join_drain(Some(drain));
                }
                status
            }
            None => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "sessiond did not exit within {bound:?}\n\
                     --- sessiond stderr ---\n{}--- end of stderr ---",
                    self.stderr.text()
                );
            }
        }
    }

    pub fn stdout(&self) -> String {
        self.stdout.text()
    }

    pub fn stderr(&self) -> String {
        self.stderr.text()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        for drain in self.drains.drain(..) {
            join_drain(Some(drain));
        }
        if thread::panicking() {
            eprintln!(
                "--- sessiond (pid {}) stderr ---\n{}--- end of stderr ---",
                self.child.id(),
                self.stderr.text()
            );
        }
    }
}
