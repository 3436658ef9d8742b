//! The real redis-server as a reference, and a small RESP client to talk to both it and
//! sessiond.
//!
//! [`Redis`] runs Debian's `redis-server` (7.0) on a free loopback port with nothing kept on
//! disk. [`Reply`] is a reply as read off the wire; [`Client`] sends commands (pipelined or
//! raw bytes) and reads replies, each wait bounded.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Debian's `redis-server`.
pub const REDIS_BIN: &str = "/usr/bin/redis-server";

/// How long a reply may take.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// A running `redis-server` on a free loopback port. Killed on drop.
pub struct Redis {
    child: Child,
    addr: SocketAddr,
}

impl Redis {
    /// Starts one with `extra` arguments (e.g. `["--requirepass", "secret"]`). Panics, never
    /// skips, when redis-server is not installed: the README's test command installs it.
    pub fn start(extra: &[&str]) -> Redis {
        assert!(
            Path::new(REDIS_BIN).exists(),
            "{REDIS_BIN} not found: these tests compare sessiond with the real Redis. Install \
             it with `apt-get install -y redis-server` (scripts/test.sh does this)."
        );
        let mut failures = Vec::new();
        for _ in 0..5 {
            let port = super::free_port();
            let mut child = Command::new(REDIS_BIN)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|error| panic!("spawning {REDIS_BIN}: {error}"));
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    failures.push(format!("redis-server exited with {status}"));
                    break;
                }
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return Redis { child, addr };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    failures.push("redis-server did not accept connections".to_owned());
                    break;
                }
                thread::sleep(Duration::from_millis(10));
            }
        }
        panic!("redis-server did not start: {failures:?}");
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A reply, RESP2 or RESP3.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Vec<u8>),
    /// `$-1`
    NullBulk,
    /// `*-1`
    NullArray,
    /// `_`
    Null,
    Array(Vec<Reply>),
    /// `>`: an out-of-band RESP3 push (pub/sub messages and confirmations).
    Push(Vec<Reply>),
    Map(Vec<(Reply, Reply)>),
    Set(Vec<Reply>),
    Double(String),
    /// `(digits`
    BigNumber(String),
    Boolean(bool),
    Verbatim(String, Vec<u8>),
}

impl Reply {
    /// A bulk string's text (lossy), for assertions.
    pub fn text(&self) -> String {
        match self {
            Reply::Bulk(bytes) | Reply::Verbatim(_, bytes) => {
                String::from_utf8_lossy(bytes).into_owned()
            }
            Reply::Simple(text) | Reply::Error(text) => text.clone(),
            other => format!("{other:?}"),
        }
    }
}

/// One connection to a RESP server.
pub struct Client {
    stream: TcpStream,
    buffer: Vec<u8>,
    addr: SocketAddr,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect_timeout(&addr, REPLY_TIMEOUT)
            .unwrap_or_else(|error| panic!("connecting to {addr}: {error}"));
        stream.set_nodelay(true).expect("nodelay");
        stream
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .expect("read timeout");
        stream
            .set_write_timeout(Some(REPLY_TIMEOUT))
            .expect("write timeout");
        Client {
            stream,
            buffer: Vec::new(),
            addr,
        }
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|error| panic!("writing to {}: {error}", self.addr));
    }

    /// Sends one command as a multibulk request.
    pub fn send(&mut self, args: &[&[u8]]) {
        self.send_raw(&encode(args));
    }

    /// Sends a command and reads its reply.
    pub fn call(&mut self, args: &[&[u8]]) -> Reply {
        self.send(args);
        self.read()
    }

    /// Sends a command given as words split on spaces and reads its reply.
    pub fn cmd(&mut self, words: &str) -> Reply {
        let args: Vec<&[u8]> = words.split(' ').map(str::as_bytes).collect();
        self.call(&args)
    }

    /// Reads one reply; panics on a close or a timeout.
    pub fn read(&mut self) -> Reply {
        self.try_read()
            .unwrap_or_else(|| panic!("{} closed the connection instead of replying", self.addr))
    }

    /// Reads one reply, or `None` when the server closes the connection first.
    pub fn try_read(&mut self) -> Option<Reply> {
        loop {
            if let Some((reply, used)) = parse(&self.buffer) {
                self.buffer.drain(..used);
                return Some(reply);
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) if error.kind() == ErrorKind::ConnectionReset => return None,
                Err(error) => panic!(
                    "reading from {}: {error}; buffered: {:?}",
                    self.addr,
                    String::from_utf8_lossy(&self.buffer)
                ),
            }
        }
    }

    /// Sets how long [`Client::try_read_quiet`] waits before it takes silence for an open
    /// connection with nothing more to say.
    pub fn set_quiet_timeout(&mut self, timeout: Duration) {
        self.stream
            .set_read_timeout(Some(timeout))
            .expect("read timeout");
    }

    /// Reads one reply: `Ok(None)` when the server closed the connection, `Err(())` when it
    /// stayed silent past the read timeout.
    pub fn try_read_quiet(&mut self) -> Result<Option<Reply>, ()> {
        loop {
            if let Some((reply, used)) = parse(&self.buffer) {
                self.buffer.drain(..used);
                return Ok(Some(reply));
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(None),
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) if error.kind() == ErrorKind::ConnectionReset => return Ok(None),
                Err(_) => return Err(()),
            }
        }
    }

    /// Whether the server closes the connection (within a short wait) with nothing more to
    /// say; anything sent instead is returned as an error.
    pub fn closed(&mut self) -> Result<(), Vec<u8>> {
        self.stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        let mut rest = std::mem::take(&mut self.buffer);
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => rest.extend_from_slice(&chunk[..n]),
                Err(error) if error.kind() == ErrorKind::ConnectionReset => break,
                Err(_) => return Err(b"<still open>".to_vec()),
            }
        }
        if rest.is_empty() { Ok(()) } else { Err(rest) }
    }
}

/// A multibulk request.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// One reply from the front of `bytes` and the bytes it took, or `None` while incomplete.
pub fn parse(bytes: &[u8]) -> Option<(Reply, usize)> {
    let end = bytes.windows(2).position(|pair| pair == b"\r\n")?;
    let line = &bytes[1..end];
    let text = || String::from_utf8_lossy(line).into_owned();
    let number = || -> i64 {
        text()
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {:?}", text()))
    };
    let after = end + 2;
    let elements = |count: usize| -> Option<(Vec<Reply>, usize)> {
        let mut at = after;
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let (reply, used) = parse(&bytes[at..])?;
            out.push(reply);
            at += used;
        }
        Some((out, at))
    };
    Some(match *bytes.first()? {
        b'+' => (Reply::Simple(text()), after),
        b'-' => (Reply::Error(text()), after),
        b':' => (Reply::Integer(number()), after),
        b',' => (Reply::Double(text()), after),
        b'(' => (Reply::BigNumber(text()), after),
        b'#' => (Reply::Boolean(line == b"t"), after),
        b'_' => (Reply::Null, after),
        b'$' | b'=' => {
            let len = number();
            if len < 0 {
                return Some((Reply::NullBulk, after));
            }
            let len = len as usize;
            let data = bytes.get(after..after + len)?;
            bytes.get(after + len..after + len + 2)?;
            if bytes[0] == b'$' {
                (Reply::Bulk(data.to_vec()), after + len + 2)
            } else {
                let format = String::from_utf8_lossy(&data[..3]).into_owned();
                (Reply::Verbatim(format, data[4..].to_vec()), after + len + 2)
            }
        }
        b'*' if number() < 0 => (Reply::NullArray, after),
        b'*' => {
            let (items, used) = elements(number() as usize)?;
            (Reply::Array(items), used)
        }
        b'>' => {
            let (items, used) = elements(number() as usize)?;
            (Reply::Push(items), used)
        }
        b'~' => {
            let (items, used) = elements(number() as usize)?;
            (Reply::Set(items), used)
        }
        b'%' => {
            let (items, used) = elements(number() as usize * 2)?;
            let mut pairs = Vec::new();
            let mut items = items.into_iter();
            while let (Some(key), Some(value)) = (items.next(), items.next()) {
                pairs.push((key, value));
            }
            (Reply::Map(pairs), used)
        }
        other => panic!("not a RESP reply: {:?}", String::from_utf8_lossy(&[other])),
    })
}
