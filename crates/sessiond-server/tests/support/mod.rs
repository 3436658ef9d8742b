//! An in-process sessiond on loopback with a clock the test moves, and byte-level exchanges.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use sessiond_engine::Timestamp;
use sessiond_server::{Config, Listen, ManualClock, Overrides, Server};
use sessiond_storage::Fs;
use tokio::sync::oneshot;

/// 2026-11-21T00:00:00Z: tests start their clock here so lock dates are fixed numbers.
pub const START: Timestamp = Timestamp::from_secs(1_795_219_200);

/// How long a test waits for any one reply before failing instead of hanging.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// A server running on its own threads, stopped on drop.
pub struct InProcess {
    pub clock: Arc<ManualClock>,
    pub memcache: SocketAddr,
    pub aspnet: SocketAddr,
    pub sharedance: SocketAddr,
    pub resp: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl InProcess {
    /// Every listener on a free loopback port, one worker thread, default limits.
    pub fn start() -> InProcess {
        InProcess::start_with_file("")
    }

    /// As [`InProcess::start`], with `toml` as the configuration file (its listen addresses
    /// are replaced by free ports).
    pub fn start_with_file(toml: &str) -> InProcess {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sessiond.toml");
        std::fs::write(&path, toml).expect("writing the config file");
        let any: Listen = "127.0.0.1:0".parse().expect("address");
        let overrides = Overrides {
            threads: Some(1),
            memcache_listen: Some(any.clone()),
            aspnet_listen: Some(any.clone()),
            sharedance_listen: Some(any.clone()),
            resp_listen: Some(any),
            in_memory: Some(true),
            ..Overrides::default()
        };
        let config = Config::load(Some(&path), &overrides).expect("config");
        InProcess::start_config(&config)
    }

    /// A server keeping its sessions in `data_dir`, reached through `fs`, with `fsync` as
    /// given (`always`, `everysec`, `no`).
    pub fn start_on_disk(data_dir: &Path, fsync: &str, fs: Arc<dyn Fs>) -> InProcess {
        let any: Listen = "127.0.0.1:0".parse().expect("address");
        let overrides = Overrides {
            threads: Some(1),
            memcache_listen: Some(any.clone()),
            aspnet_listen: Some(any.clone()),
            sharedance_listen: Some(any.clone()),
            resp_listen: Some(any),
            data_dir: Some(data_dir.to_path_buf()),
            fsync: Some(fsync.parse().expect("fsync policy")),
            ..Overrides::default()
        };
        let config = Config::load(None, &overrides).expect("config");
        InProcess::start_with(&config, fs)
    }

    /// A server with exactly `config`.
    pub fn start_config(config: &Config) -> InProcess {
        InProcess::start_with(config, Arc::new(sessiond_storage::StdFs))
    }

    fn start_with(config: &Config, fs: Arc<dyn Fs>) -> InProcess {
        let clock = Arc::new(ManualClock::new(START));
        let server = Server::bind_with(config, clock.clone(), fs).expect("binding");
        let memcache = server.memcache_addr().expect("memcache listener");
        let aspnet = server.aspnet_addr().expect("aspnet listener");
        let sharedance = server.sharedance_addr().expect("sharedance listener");
        let resp = server.resp_addr().expect("resp listener");
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime
                .block_on(server.run(async {
                    let _ = stopped.await;
                }))
                .expect("server run");
        });
        InProcess {
            clock,
            memcache,
            aspnet,
            sharedance,
            resp,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Moves the server's clock forward.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A connected client socket with a read timeout, so a missing reply fails the test.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(REPLY_TIMEOUT))
        .expect("read timeout");
    stream.set_nodelay(true).expect("nodelay");
    stream
}

/// Reads until the peer closes the connection.
pub fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).expect("reading until close");
    bytes
}

/// Sends `bytes` whole.
pub fn send(stream: &mut TcpStream, bytes: &[u8]) {
    stream.write_all(bytes).expect("write");
}

/// Renders bytes for assertions: printable ASCII as is, the rest escaped (`\r\n`, `\x00`).
pub fn escape(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// Reads one HTTP response (head and `Content-Length` body) and returns its raw bytes.
pub fn read_response(stream: &mut TcpStream) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut byte = [0u8; 1];
    while !bytes.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => bytes.push(byte[0]),
            Ok(_) => panic!("connection closed mid-response: {}", escape(&bytes)),
            Err(error) => panic!("reading a response: {error}; so far: {}", escape(&bytes)),
        }
    }
    let head = String::from_utf8_lossy(&bytes).to_string();
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or_else(|| panic!("no Content-Length in {head:?}"));
    let start = bytes.len();
    bytes.resize(start + length, 0);
    stream
        .read_exact(&mut bytes[start..])
        .expect("reading the body");
    bytes
}

/// Sends one request and returns the response, escaped for comparison.
pub fn http(stream: &mut TcpStream, request: &[u8]) -> String {
    send(stream, request);
    escape(&read_response(stream))
}
