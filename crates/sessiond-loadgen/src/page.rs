//! Page-request clients: the ASP.NET State Server and sharedance modes.
//!
//! A page request is what one hit on a web page with a writable session costs the session
//! store: a read when the page starts and a write when it ends, on a session picked at random.
//! Each client runs them back to back, closed loop, and times the whole page, which is the
//! latency a web server adds to every page it serves.
//!
//! - ASP.NET: `GET` with `Exclusive: acquire`, then `PUT` with the granted `LockCookie`, on one
//!   persistent connection, one request at a time, as `OutOfProcSessionStateStore` does.
//! - sharedance: a fetch, then a store, each on a new TCP connection, as sharedance's PHP
//!   client does; the connection set-up is part of what is measured.

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::aspnet::{self, Response};
use crate::conn::{ConnStats, Counters, PHASE_MEASURE, PHASE_STOP, RecvBuf, Shared};
use crate::keys::{
    ASPNET_ID_ALPHABET, PHP_ID_ALPHABET, Rng, SessionIdBuf, ValuePattern, ValueWriter,
};
use crate::proto::{Parsed, ProtocolError, escape};
use crate::sharedance::{self, Fetched};

/// Wait before asking again for a session another connection holds locked. .NET waits 500 ms;
/// a benchmark only needs to stay off the CPU while the holder finishes its page.
const LOCK_RETRY: Duration = Duration::from_millis(1);

/// Retries of a locked session before giving up: about ten seconds, far longer than any page
/// holds a lock, so running out means a lock was never released.
const MAX_LOCK_RETRIES: u32 = 10_000;

/// What GetItemExclusive got.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    /// The stored value, now locked with this cookie.
    Hit(i32),
    /// 404: no such session; the page creates it.
    Missing,
    /// 423: another connection holds the lock.
    Locked,
    /// An answer the client would throw on, with the stream still in sync (a 5xx).
    Failed(String),
}

/// Checks the response to GetItemExclusive for the session `id`, whose value embeds `id`.
fn check_get(r: &Response<'_>, value: &ValuePattern, id: &[u8]) -> Result<Got, ProtocolError> {
    match r.status {
        200 => {
            if r.version.is_none() {
                return Err(ProtocolError::msg("200 to a GET without X-AspNet-Version"));
            }
            if r.timeout.is_none() {
                return Err(ProtocolError::msg("200 to a GET without Timeout"));
            }
            let Some(cookie) = r.lock_cookie else {
                return Err(ProtocolError::msg(
                    "200 to an exclusive GET without LockCookie",
                ));
            };
            if !value.matches(id, r.body) {
                let hint = if r.body.len() != value.len() {
                    " (left over from a run with another --value-size? restart the server)"
                } else {
                    ""
                };
                return Err(ProtocolError::msg(format!(
                    "value of session {} is not what was stored ({} bytes, expected {}){hint}: {}",
                    escape(id, 100),
                    r.body.len(),
                    value.len(),
                    escape(r.body, 80)
                )));
            }
            Ok(Got::Hit(cookie))
        }
        404 => Ok(Got::Missing),
        423 => Ok(Got::Locked),
        500..=599 => Ok(Got::Failed(format!(
            "GET: {} {}",
            r.status,
            escape(r.reason, 80)
        ))),
        _ => Err(unexpected("GET", r)),
    }
}

/// Checks the response to SetAndReleaseItemExclusive: `None` when stored, else why not.
fn check_put(r: &Response<'_>) -> Result<Option<String>, ProtocolError> {
    match r.status {
        200 if r.body.is_empty() => Ok(None),
        200 => Err(ProtocolError::new("200 to a PUT with a body", r.body)),
        // 423: our cookie no longer holds the lock (someone released or took it over); 5xx:
        // the server could not store. Either way the stream stays in sync.
        423 | 500..=599 => Ok(Some(format!("PUT: {} {}", r.status, escape(r.reason, 80)))),
        _ => Err(unexpected("PUT", r)),
    }
}

/// A status the client has no use for. 400 means our request was malformed, a bug on one side
/// and not a load effect, so it is fatal like memcached's `CLIENT_ERROR`.
fn unexpected(verb: &str, r: &Response<'_>) -> ProtocolError {
    ProtocolError::msg(format!(
        "unexpected answer to {verb}: {} {} {}",
        r.status,
        escape(r.reason, 80),
        escape(r.body, 200)
    ))
}

/// Counts a request the server refused while staying in sync.
fn count_failure(c: &mut Counters, msg: String) {
    c.errors += 1;
    if c.first_error.is_none() {
        c.first_error = Some(msg);
    }
}

/// A persistent State Server connection and its reused buffers.
#[derive(Debug)]
struct Io<S> {
    stream: S,
    wbuf: Vec<u8>,
    rbuf: RecvBuf,
    values: ValueWriter,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Io<S> {
    /// Sends the request in `wbuf` and passes its parsed response to `check`.
    async fn exchange<T>(
        &mut self,
        check: impl FnOnce(&Response<'_>) -> Result<T, ProtocolError>,
    ) -> anyhow::Result<T> {
        self.stream.write_all(&self.wbuf).await?;
        loop {
            if let Parsed::Complete { len, reply } = aspnet::parse_response(self.rbuf.data())? {
                let out = check(&reply)?;
                self.rbuf.consume(len);
                return Ok(out);
            }
            self.rbuf.fill(&mut self.stream).await?;
        }
    }

    /// One page request on session `key`: GetItemExclusive, retried while another connection
    /// holds the lock, then SetAndReleaseItemExclusive, or a new item's PUT after a 404.
    async fn page(
        &mut self,
        ids: &mut SessionIdBuf,
        host: &[u8],
        value: &ValuePattern,
        key: u64,
        c: &mut Counters,
    ) -> anyhow::Result<()> {
        ids.format(key);
        let mut retries = 0;
        let cookie = loop {
            self.wbuf.clear();
            aspnet::encode_get(&mut self.wbuf, ids.current(), host);
            let got = self.exchange(|r| check_get(r, value, ids.id())).await?;
            c.gets += 1;
            match got {
                Got::Hit(cookie) => {
                    c.hits += 1;
                    break cookie;
                }
                Got::Missing => {
                    c.misses += 1;
                    // LockCookie 0: no lock is held; the PUT creates the item.
                    break 0;
                }
                Got::Locked => {
                    c.contended += 1;
                    retries += 1;
                    if retries > MAX_LOCK_RETRIES {
                        bail!(
                            "session {} stayed locked through {MAX_LOCK_RETRIES} retries",
                            escape(ids.id(), 100)
                        );
                    }
                    tokio::time::sleep(LOCK_RETRY).await;
                }
                Got::Failed(msg) => {
                    // The page fails before it has a lock, so there is nothing to release.
                    c.pages += 1;
                    count_failure(c, msg);
                    return Ok(());
                }
            }
        };
        self.put(ids, host, value, cookie, c).await?;
        c.pages += 1;
        Ok(())
    }

    /// Stores the value of the session last formatted in `ids` under `cookie`.
    async fn put(
        &mut self,
        ids: &SessionIdBuf,
        host: &[u8],
        value: &ValuePattern,
        cookie: i32,
        c: &mut Counters,
    ) -> anyhow::Result<()> {
        self.wbuf.clear();
        aspnet::encode_put(
            &mut self.wbuf,
            ids.current(),
            host,
            cookie,
            self.values.next(value, ids.id()),
        );
        let failed = self.exchange(check_put).await?;
        c.sets += 1;
        if let Some(msg) = failed {
            count_failure(c, msg);
        }
        Ok(())
    }
}

/// Records one page's latency, from its first write to its last reply.
fn record(stats: &mut ConnStats, started: Instant) {
    let ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    stats.latency_ns.saturating_record(ns);
}

/// A client of the ASP.NET State Server protocol.
#[derive(Debug)]
pub struct AspnetConn {
    /// Global connection number, for error messages and seeding.
    index: usize,
    io: Io<TcpStream>,
    /// URL-encoded application path followed by the session id.
    ids: SessionIdBuf,
    /// `Host` header value.
    host: Vec<u8>,
    rng: Rng,
    stats: ConnStats,
    /// Prefill and warm-up requests: counted so errors can be reported, never timed.
    unmeasured: Counters,
}

impl AspnetConn {
    /// Connects connection number `index` to `addr`.
    pub async fn connect(
        index: usize,
        addr: &str,
        shared: &Shared,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let w = &shared.workload;
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| anyhow!("connecting to {addr}: timed out after {timeout:?}"))?
            .with_context(|| format!("connecting to {addr}"))?;
        // A PUT goes out in one write; Nagle could only hold it behind an unacknowledged GET.
        stream.set_nodelay(true)?;
        let prefix = aspnet::url_encode(aspnet::APP_ID);
        let ids = SessionIdBuf::new(
            prefix.as_bytes(),
            aspnet::SESSION_ID_LEN,
            ASPNET_ID_ALPHABET,
        )
        .map_err(anyhow::Error::msg)?;
        Ok(Self {
            index,
            io: Io {
                stream,
                wbuf: Vec::with_capacity(w.value.len() + 512),
                rbuf: RecvBuf::new((w.value.len() + 1024).max(16 << 10)),
                values: ValueWriter::new(index as u64),
            },
            ids,
            host: addr.as_bytes().to_vec(),
            rng: Rng::new(w.seed.wrapping_add(index as u64)),
            stats: ConnStats::new(),
            unmeasured: Counters::default(),
        })
    }

    /// Stores every session in `range` once, as new items (`LockCookie: 0`).
    pub async fn prefill(
        &mut self,
        shared: &Shared,
        range: Range<u64>,
    ) -> anyhow::Result<Counters> {
        let w = &shared.workload;
        for key in range {
            self.ids.format(key);
            self.io
                .put(&self.ids, &self.host, &w.value, 0, &mut self.unmeasured)
                .await
                .with_context(|| format!("connection {} (prefill)", self.index))?;
        }
        Ok(std::mem::take(&mut self.unmeasured))
    }

    /// Runs page requests until the phase becomes [`PHASE_STOP`]; returns the statistics of
    /// the pages started during [`PHASE_MEASURE`].
    pub async fn run(mut self, shared: Arc<Shared>) -> anyhow::Result<ConnStats> {
        let w = &shared.workload;
        loop {
            let phase = shared.phase.load(Ordering::Relaxed);
            if phase == PHASE_STOP {
                break;
            }
            let key = self.rng.below(w.keys);
            let started = Instant::now();
            let measured = phase == PHASE_MEASURE;
            let counters = if measured {
                &mut self.stats.counters
            } else {
                &mut self.unmeasured
            };
            self.io
                .page(&mut self.ids, &self.host, &w.value, key, counters)
                .await
                .with_context(|| format!("connection {}", self.index))?;
            if measured {
                record(&mut self.stats, started);
            }
        }
        Ok(self.stats)
    }
}

/// A simulated sharedance client: no connection of its own between requests.
#[derive(Debug)]
pub struct SharedanceClient {
    /// Global client number, for error messages and seeding.
    index: usize,
    /// Resolved once, so a request's connect costs no name lookup.
    addr: SocketAddr,
    wbuf: Vec<u8>,
    rbuf: RecvBuf,
    /// Longest reply a correct server can send: the value.
    max_reply: usize,
    values: ValueWriter,
    ids: SessionIdBuf,
    rng: Rng,
    stats: ConnStats,
    /// Prefill and warm-up requests: counted so errors can be reported, never timed.
    unmeasured: Counters,
}

impl SharedanceClient {
    /// Sets up client number `index` of `addr`.
    pub async fn connect(
        index: usize,
        addr: &str,
        shared: &Shared,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let w = &shared.workload;
        let addr = tokio::time::timeout(timeout, tokio::net::lookup_host(addr))
            .await
            .map_err(|_| anyhow!("resolving {addr}: timed out after {timeout:?}"))?
            .with_context(|| format!("resolving {addr}"))?
            .next()
            .ok_or_else(|| anyhow!("{addr} resolves to no address"))?;
        let ids = SessionIdBuf::new(b"", sharedance::SESSION_ID_LEN, PHP_ID_ALPHABET)
            .map_err(anyhow::Error::msg)?;
        Ok(Self {
            index,
            addr,
            wbuf: Vec::with_capacity(w.value.len() + 64),
            rbuf: RecvBuf::new(w.value.len() + 4096),
            values: ValueWriter::new(index as u64),
            max_reply: w.value.len().max(sharedance::REPLY_OK.len()),
            ids,
            rng: Rng::new(w.seed.wrapping_add(index as u64)),
            stats: ConnStats::new(),
            unmeasured: Counters::default(),
        })
    }

    /// Stores every session in `range` once.
    pub async fn prefill(
        &mut self,
        shared: &Shared,
        range: Range<u64>,
    ) -> anyhow::Result<Counters> {
        let w = &shared.workload;
        for key in range {
            self.store(&w.value, key, false)
                .await
                .with_context(|| format!("client {} (prefill)", self.index))?;
        }
        Ok(std::mem::take(&mut self.unmeasured))
    }

    /// Runs page requests until the phase becomes [`PHASE_STOP`]; returns the statistics of
    /// the pages started during [`PHASE_MEASURE`].
    pub async fn run(mut self, shared: Arc<Shared>) -> anyhow::Result<ConnStats> {
        let w = &shared.workload;
        loop {
            let phase = shared.phase.load(Ordering::Relaxed);
            if phase == PHASE_STOP {
                break;
            }
            let key = self.rng.below(w.keys);
            let started = Instant::now();
            let measured = phase == PHASE_MEASURE;
            self.page(&w.value, key, measured)
                .await
                .with_context(|| format!("client {}", self.index))?;
            if measured {
                self.stats.counters.pages += 1;
                record(&mut self.stats, started);
            } else {
                self.unmeasured.pages += 1;
            }
        }
        Ok(self.stats)
    }

    /// One page request: PHP's session handler reads the session when the page starts and
    /// writes it back when the page ends, whether or not the read found it.
    async fn page(&mut self, value: &ValuePattern, key: u64, measured: bool) -> anyhow::Result<()> {
        self.fetch(value, key, measured).await?;
        self.store(value, key, measured).await
    }

    async fn fetch(
        &mut self,
        value: &ValuePattern,
        key: u64,
        measured: bool,
    ) -> anyhow::Result<()> {
        self.wbuf.clear();
        sharedance::encode_fetch(&mut self.wbuf, self.ids.format(key));
        self.request().await?;
        let found = sharedance::check_fetch(value, self.ids.current(), self.rbuf.data())?;
        self.rbuf.consume(self.rbuf.data().len());
        let c = self.counters(measured);
        c.gets += 1;
        match found {
            Fetched::Hit => c.hits += 1,
            Fetched::Miss => c.misses += 1,
        }
        Ok(())
    }

    async fn store(
        &mut self,
        value: &ValuePattern,
        key: u64,
        measured: bool,
    ) -> anyhow::Result<()> {
        self.wbuf.clear();
        let id = self.ids.format(key);
        sharedance::encode_store(&mut self.wbuf, id, self.values.next(value, id));
        self.request().await?;
        let stored = sharedance::check_store(self.rbuf.data())?;
        self.rbuf.consume(self.rbuf.data().len());
        let c = self.counters(measured);
        c.sets += 1;
        if !stored {
            count_failure(c, "store: connection closed without OK".into());
        }
        Ok(())
    }

    fn counters(&mut self, measured: bool) -> &mut Counters {
        if measured {
            &mut self.stats.counters
        } else {
            &mut self.unmeasured
        }
    }

    /// Connects, sends `wbuf`, and reads the reply into `rbuf` until the server closes.
    async fn request(&mut self) -> anyhow::Result<()> {
        let mut stream = TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("connecting to {}", self.addr))?;
        stream.set_nodelay(true)?;
        stream.write_all(&self.wbuf).await?;
        while self.rbuf.fill_or_eof(&mut stream).await? {
            if self.rbuf.data().len() > self.max_reply {
                return Err(ProtocolError::new(
                    "reply longer than any stored value",
                    self.rbuf.data(),
                )
                .into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    fn parse(bytes: &[u8]) -> Response<'_> {
        match aspnet::parse_response(bytes).unwrap() {
            Parsed::Complete { reply, .. } => reply,
            Parsed::Incomplete => panic!("incomplete"),
        }
    }

    fn ok_get(cookie: i32, body: &[u8]) -> Vec<u8> {
        let mut r = format!(
            "HTTP/1.1 200 OK\r\nX-AspNet-Version: 4.0.30319\r\nCache-Control: private\r\n\
             Timeout: 20\r\nLockCookie: {cookie}\r\nActionFlags: 0\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    }

    const NOT_FOUND: &[u8] =
        b"HTTP/1.1 404 Not Found\r\nX-AspNet-Version: 4.0.30319\r\nContent-Length: 0\r\n\r\n";
    const LOCKED: &[u8] = b"HTTP/1.1 423 Locked\r\nX-AspNet-Version: 4.0.30319\r\n\
        LockDate: 638355968001230000\r\nLockAge: 0\r\nLockCookie: 3\r\nContent-Length: 0\r\n\r\n";
    const PUT_OK: &[u8] =
        b"HTTP/1.1 200 OK\r\nX-AspNet-Version: 4.0.30319\r\nContent-Length: 0\r\n\r\n";

    fn value_of(v: &ValuePattern, id: &[u8]) -> Vec<u8> {
        let mut writer = ValueWriter::new(0);
        let (a, b) = writer.next(v, id);
        [a, b].concat()
    }

    #[test]
    fn get_responses() {
        let v = ValuePattern::new(64);
        let id = b"abcdefghijklmnopqrstuvwx";
        let body = value_of(&v, id);
        assert_eq!(
            check_get(&parse(&ok_get(5, &body)), &v, id).unwrap(),
            Got::Hit(5)
        );
        assert_eq!(check_get(&parse(NOT_FOUND), &v, id).unwrap(), Got::Missing);
        assert_eq!(check_get(&parse(LOCKED), &v, id).unwrap(), Got::Locked);
        let err = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n";
        assert!(matches!(
            check_get(&parse(err), &v, id).unwrap(),
            Got::Failed(_)
        ));
        // Another session's value, a 200 without a cookie, a 400: fatal.
        assert!(check_get(&parse(&ok_get(5, &body)), &v, b"other-session-id-0000000").is_err());
        let no_cookie =
            b"HTTP/1.1 200 OK\r\nX-AspNet-Version: 4\r\nTimeout: 20\r\nContent-Length: 0\r\n\r\n";
        assert!(check_get(&parse(no_cookie), &v, id).is_err());
        let bad = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nbad";
        assert!(check_get(&parse(bad), &v, id).is_err());
    }

    #[test]
    fn put_responses() {
        assert_eq!(check_put(&parse(PUT_OK)).unwrap(), None);
        assert!(check_put(&parse(LOCKED)).unwrap().is_some());
        assert!(check_put(&parse(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx")).is_err());
        assert!(check_put(&parse(NOT_FOUND)).is_err());
    }

    /// Reads one request (head, then the body its Content-Length announces) from `s`.
    async fn read_request(s: &mut tokio::io::DuplexStream, buf: &mut Vec<u8>) -> Vec<u8> {
        loop {
            if let Some(end) = memchr::memmem::find(buf, b"\r\n\r\n") {
                let head = String::from_utf8(buf[..end].to_vec()).unwrap();
                let body_len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .map_or(0, |n| n.parse::<usize>().unwrap());
                if buf.len() >= end + 4 + body_len {
                    return buf.drain(..end + 4 + body_len).collect();
                }
            }
            let mut chunk = [0u8; 4096];
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "client closed");
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Writes `bytes` a few at a time, so the client sees split reads.
    async fn write_split(s: &mut tokio::io::DuplexStream, bytes: &[u8]) {
        for chunk in bytes.chunks(7) {
            s.write_all(chunk).await.unwrap();
            s.flush().await.unwrap();
            tokio::task::yield_now().await;
        }
    }

    #[test]
    fn aspnet_page_retries_locks_and_creates_missing_items() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let v = ValuePattern::new(100);
            let (client, mut server) = tokio::io::duplex(1 << 16);
            let mut io = Io {
                stream: client,
                wbuf: Vec::new(),
                rbuf: RecvBuf::new(64),
                values: ValueWriter::new(0),
            };
            let prefix = aspnet::url_encode(aspnet::APP_ID);
            let mut ids = SessionIdBuf::new(prefix.as_bytes(), 24, ASPNET_ID_ALPHABET).unwrap();
            ids.format(42);
            let target = ids.current().to_vec();
            let body = value_of(&v, ids.id());
            let fake = tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut requests = Vec::new();
                // Page 1: locked once, then granted with cookie 77.
                for answer in [LOCKED.to_vec(), ok_get(77, &body), PUT_OK.to_vec()] {
                    requests.push(read_request(&mut server, &mut buf).await);
                    write_split(&mut server, &answer).await;
                }
                // Page 2: the session is new.
                for answer in [NOT_FOUND, PUT_OK] {
                    requests.push(read_request(&mut server, &mut buf).await);
                    write_split(&mut server, answer).await;
                }
                requests
            });
            let mut c = Counters::default();
            io.page(&mut ids, b"h:1", &v, 42, &mut c).await.unwrap();
            io.page(&mut ids, b"h:1", &v, 42, &mut c).await.unwrap();
            let requests = fake.await.unwrap();
            assert_eq!(
                (
                    c.pages,
                    c.gets,
                    c.sets,
                    c.hits,
                    c.misses,
                    c.contended,
                    c.errors
                ),
                (2, 3, 2, 1, 1, 1, 0)
            );
            let get = [
                b"GET ",
                &target[..],
                b" HTTP/1.1\r\nHost: h:1\r\nExclusive: acquire\r\n\r\n",
            ]
            .concat();
            assert_eq!(requests[0], get);
            assert_eq!(requests[1], get);
            // The connection's writes, in order: each value differs from the last.
            let mut writer = ValueWriter::new(0);
            let mut put = |cookie: &str| {
                let (a, b) = writer.next(&v, &target[target.len() - 24..]);
                [
                    b"PUT ",
                    &target[..],
                    b" HTTP/1.1\r\nHost: h:1\r\nTimeout: 20\r\nLockCookie: ",
                    cookie.as_bytes(),
                    b"\r\nExtraFlags: 0\r\nContent-Length: 100\r\n\r\n",
                    a,
                    b,
                ]
                .concat()
            };
            assert_eq!(requests[2], put("77"));
            assert_eq!(requests[3], get);
            assert_eq!(requests[4], put("0"));
        });
    }

    #[test]
    fn aspnet_close_mid_response_is_an_error() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let v = ValuePattern::new(10);
            let (client, mut server) = tokio::io::duplex(1 << 16);
            let mut io = Io {
                stream: client,
                wbuf: Vec::new(),
                rbuf: RecvBuf::new(64),
                values: ValueWriter::new(0),
            };
            let mut ids = SessionIdBuf::new(b"", 24, ASPNET_ID_ALPHABET).unwrap();
            let fake = tokio::spawn(async move {
                let mut buf = Vec::new();
                read_request(&mut server, &mut buf).await;
                server.write_all(&PUT_OK[..20]).await.unwrap();
            });
            let mut c = Counters::default();
            let err = io.page(&mut ids, b"h", &v, 1, &mut c).await.unwrap_err();
            fake.await.unwrap();
            assert!(format!("{err:#}").contains("closed"), "{err:#}");
        });
    }

    #[test]
    fn sharedance_requests_read_to_eof() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap().to_string();
            let w = crate::conn::Workload {
                protocol: crate::conn::Protocol::Sharedance,
                keys: 10,
                key_prefix: String::new(),
                key_width: 0,
                value: ValuePattern::new(5000),
                set_ratio: 1,
                get_ratio: 1,
                pipeline: 1,
                prefill_depth: 1,
                exptime: 0,
                flags: 0,
                seed: 1,
            };
            let value = w.value.clone();
            let shared = Shared {
                workload: w,
                phase: std::sync::atomic::AtomicU8::new(PHASE_MEASURE),
            };
            let mut ids = SessionIdBuf::new(b"", 26, PHP_ID_ALPHABET).unwrap();
            let stored = value_of(&value, ids.format(3));
            // A miss (close at once), a hit in several writes, an OK, a refused store.
            let fake = tokio::spawn(async move {
                let mut got = Vec::new();
                for answer in [&b""[..], &stored, b"OK\n", b""] {
                    let (mut s, _) = listener.accept().await.unwrap();
                    let mut req = vec![0u8; 5];
                    s.read_exact(&mut req).await.unwrap();
                    let key_len = u32::from_be_bytes(req[1..5].try_into().unwrap()) as usize;
                    let data_len = if req[0] == b'S' {
                        let mut n = [0u8; 4];
                        s.read_exact(&mut n).await.unwrap();
                        u32::from_be_bytes(n) as usize
                    } else {
                        0
                    };
                    let mut rest = vec![0u8; key_len + data_len];
                    s.read_exact(&mut rest).await.unwrap();
                    got.push((req[0], rest.len()));
                    for chunk in answer.chunks(1500) {
                        s.write_all(chunk).await.unwrap();
                        tokio::task::yield_now().await;
                    }
                }
                got
            });
            let mut client = SharedanceClient::connect(0, &addr, &shared, Duration::from_secs(5))
                .await
                .unwrap();
            client.fetch(&value, 3, true).await.unwrap();
            client.fetch(&value, 3, true).await.unwrap();
            client.store(&value, 3, true).await.unwrap();
            client.store(&value, 3, true).await.unwrap();
            let got = fake.await.unwrap();
            assert_eq!(got, [(b'F', 26), (b'F', 26), (b'S', 5026), (b'S', 5026)]);
            let c = &client.stats.counters;
            assert_eq!(
                (c.gets, c.hits, c.misses, c.sets, c.errors),
                (2, 1, 1, 2, 1)
            );
        });
    }
}
