//! One memcached client connection: encoding requests, reading and validating
//! replies, and the closed-loop request cycle; also the types every mode shares
//! (protocol, workload, phases, counters). The page-request modes are in `page`.
//!
//! The cycle is: encode a batch (one request unless `--pipeline` is above 1) into
//! a reused buffer, send it with one write, read replies into a reused buffer
//! until every request of the batch is answered, record latencies, repeat. After
//! warm-up nothing on this path allocates.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::binary;
use crate::keys::{KeyBuf, Rng, ValuePattern, ValueWriter};
use crate::proto::{Parsed, ProtocolError, escape};
use crate::resp;
use crate::text;

/// Wire protocol spoken to the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// memcached ASCII protocol (`get` / `set`).
    Text,
    /// memcached binary protocol (GETK / SET).
    Binary,
    /// ASP.NET State Server protocol: page requests of GET `Exclusive: acquire` then PUT
    /// with the lock cookie, on persistent connections.
    Aspnet,
    /// sharedance: page requests of a fetch then a store, each on a new TCP connection.
    Sharedance,
    /// Redis protocol (RESP2): `GET` / `SET key value EX exptime`, the same workload as
    /// `text`, for comparing with Redis.
    Resp,
}

impl Protocol {
    /// Lower-case name, as accepted on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Text => "text",
            Protocol::Binary => "binary",
            Protocol::Aspnet => "aspnet",
            Protocol::Sharedance => "sharedance",
            Protocol::Resp => "resp",
        }
    }

    /// Whether the unit of work is a page request (a read and a write of one session) rather
    /// than a single request.
    pub fn is_page(self) -> bool {
        matches!(self, Protocol::Aspnet | Protocol::Sharedance)
    }

    /// What one "op" of the reports is.
    pub fn op_unit(self) -> &'static str {
        if self.is_page() { "page" } else { "request" }
    }
}

/// Workload parameters shared by all connections; immutable during a run.
#[derive(Debug)]
pub struct Workload {
    /// Wire protocol.
    pub protocol: Protocol,
    /// Number of distinct keys; requests pick uniformly from `0..keys`.
    pub keys: u64,
    /// Key prefix (see [`KeyBuf`]).
    pub key_prefix: String,
    /// Digits in the zero-padded key index.
    pub key_width: usize,
    /// Contents of every stored value.
    pub value: ValuePattern,
    /// Sets in each `set_ratio + get_ratio` requests.
    pub set_ratio: u32,
    /// Gets in each `set_ratio + get_ratio` requests.
    pub get_ratio: u32,
    /// Requests in flight per connection during measurement.
    pub pipeline: usize,
    /// Requests in flight per connection during prefill.
    pub prefill_depth: usize,
    /// Expiry time sent with every set, in seconds (PHP's default
    /// `session.gc_maxlifetime` is 1440).
    pub exptime: u32,
    /// Client flags sent with every set and expected back on every hit.
    pub flags: u32,
    /// Base seed; connection `i` uses a generator seeded from `seed + i`.
    pub seed: u64,
}

impl Workload {
    /// Length of the keys the server stores, for per-item memory figures.
    pub fn key_len(&self) -> usize {
        match self.protocol {
            Protocol::Text | Protocol::Binary | Protocol::Resp => {
                self.key_prefix.len() + self.key_width
            }
            // The server keys an ASP.NET session by its decoded request-target.
            Protocol::Aspnet => crate::aspnet::APP_ID.len() + crate::aspnet::SESSION_ID_LEN,
            Protocol::Sharedance => crate::sharedance::SESSION_ID_LEN,
        }
    }
}

/// The run is in warm-up: requests are made but not recorded.
pub const PHASE_WARMUP: u8 = 0;
/// The run is being measured.
pub const PHASE_MEASURE: u8 = 1;
/// Connections finish their current batch and stop.
pub const PHASE_STOP: u8 = 2;

/// State shared between the coordinator and all connections.
#[derive(Debug)]
pub struct Shared {
    /// What to send.
    pub workload: Workload,
    /// One of the `PHASE_*` constants; read once per batch, so a relaxed atomic
    /// costs nothing measurable.
    pub phase: AtomicU8,
}

/// Request and reply counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Gets answered.
    pub gets: u64,
    /// Sets answered.
    pub sets: u64,
    /// Gets that returned the expected value.
    pub hits: u64,
    /// Gets for which the server had no item.
    pub misses: u64,
    /// Requests the server answered with an error it could keep serving after
    /// (`SERVER_ERROR`, `NOT_STORED`, a binary error status).
    pub errors: u64,
    /// The first such error, for the report.
    pub first_error: Option<String>,
    /// Page requests done (page protocols only); a page's gets and sets are counted above too.
    pub pages: u64,
    /// Exclusive gets answered "locked by another connection" and retried (ASP.NET only).
    pub contended: u64,
}

impl Counters {
    /// Requests answered (gets, including retried ones, and sets).
    pub fn requests(&self) -> u64 {
        self.gets + self.sets
    }

    /// Units of work done: page requests for the page protocols, requests otherwise.
    pub fn ops(&self, protocol: Protocol) -> u64 {
        if protocol.is_page() {
            self.pages
        } else {
            self.requests()
        }
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Counters) {
        self.gets += other.gets;
        self.sets += other.sets;
        self.hits += other.hits;
        self.misses += other.misses;
        self.errors += other.errors;
        self.pages += other.pages;
        self.contended += other.contended;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }
}

/// Counters plus a latency histogram (nanoseconds).
#[derive(Clone, Debug)]
pub struct ConnStats {
    /// Request and reply counts.
    pub counters: Counters,
    /// Latency of each request in nanoseconds, from the write of its batch to the
    /// complete parse of its reply.
    pub latency_ns: Histogram<u64>,
}

impl ConnStats {
    /// Empty statistics.
    pub fn new() -> Self {
        // 100 ns .. 100 s at 3 significant digits: 0.1% resolution everywhere.
        let latency_ns = Histogram::new_with_bounds(100, 100_000_000_000, 3)
            .expect("constant histogram bounds are valid");
        Self {
            counters: Counters::default(),
            latency_ns,
        }
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &ConnStats) {
        self.counters.merge(&other.counters);
        self.latency_ns
            .add(&other.latency_ns)
            .expect("histograms with equal bounds always merge");
    }
}

impl Default for ConnStats {
    fn default() -> Self {
        Self::new()
    }
}

/// One request in flight.
#[derive(Clone, Copy, Debug)]
struct Op {
    is_set: bool,
    key: u64,
    opaque: u32,
}

/// What a validated reply meant.
enum Outcome {
    Stored,
    Hit,
    Miss,
    /// The server refused the request but the stream stays in sync.
    Failed(String),
}

/// Receive buffer: bytes in `buf[start..end]` are received but not yet parsed.
#[derive(Debug)]
pub(crate) struct RecvBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl RecvBuf {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            buf: vec![0; capacity],
            start: 0,
            end: 0,
        }
    }

    pub(crate) fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub(crate) fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            // The common case with one request in flight: the buffer empties after
            // every reply, so reads always start at the front and never need
            // compaction.
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads more bytes, making room first if the buffer is full. The end of the stream is an
    /// error: callers wait for replies framed by their own lengths, which the server cut short.
    pub(crate) async fn fill<R: AsyncRead + Unpin>(&mut self, reader: &mut R) -> io::Result<()> {
        if self.fill_or_eof(reader).await? {
            return Ok(());
        }
        let pending = self.end - self.start;
        Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "server closed the connection{}",
                if pending > 0 {
                    format!(" in the middle of a reply ({pending} bytes received)")
                } else {
                    String::new()
                }
            ),
        ))
    }

    /// Reads more bytes, making room first if the buffer is full. Returns `false` at the end
    /// of the stream, for replies framed by the server closing the connection.
    pub(crate) async fn fill_or_eof<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut R,
    ) -> io::Result<bool> {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                // A single reply is larger than the buffer.
                self.buf.resize(self.buf.len() * 2, 0);
            }
        }
        let n = reader.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n > 0)
    }
}

/// The sending half of a connection's state.
#[derive(Debug)]
struct Sender {
    wbuf: Vec<u8>,
    key: KeyBuf,
    rng: Rng,
    next_opaque: u32,
    /// ` <flags> <exptime> <bytes>\r\n`, for text sets.
    text_set_suffix: Vec<u8>,
    /// The expiry in seconds as decimal text, for RESP sets.
    resp_exptime: Vec<u8>,
    values: ValueWriter,
}

impl Sender {
    #[inline]
    fn encode(&mut self, w: &Workload, is_set: bool, key_index: u64) -> Op {
        let opaque = self.next_opaque;
        self.next_opaque = self.next_opaque.wrapping_add(1);
        let key = self.key.format(key_index);
        match (w.protocol, is_set) {
            (Protocol::Text, false) => text::encode_get(&mut self.wbuf, key),
            (Protocol::Text, true) => text::encode_set(
                &mut self.wbuf,
                key,
                &self.text_set_suffix,
                self.values.next(&w.value, key),
            ),
            (Protocol::Binary, false) => binary::encode_getk(&mut self.wbuf, key, opaque),
            (Protocol::Binary, true) => binary::encode_set(
                &mut self.wbuf,
                key,
                w.flags,
                w.exptime,
                self.values.next(&w.value, key),
                opaque,
            ),
            (Protocol::Resp, false) => resp::encode_get(&mut self.wbuf, key),
            (Protocol::Resp, true) => {
                let value = self.values.next(&w.value, key);
                resp::encode_set(&mut self.wbuf, key, value, &self.resp_exptime)
            }
            // The runner gives page protocols their own clients (`crate::page`).
            (Protocol::Aspnet | Protocol::Sharedance, _) => {
                debug_assert!(false, "memcached connection used for a page protocol");
            }
        }
        Op {
            is_set,
            key: key_index,
            opaque,
        }
    }
}

/// The receiving half of a connection's state.
#[derive(Debug)]
struct Receiver {
    rbuf: RecvBuf,
    /// Re-formats the key of the request being answered, for validation.
    key: KeyBuf,
    pending: Vec<Op>,
    /// Measured requests.
    stats: ConnStats,
    /// Prefill and warm-up requests: counted so errors can be reported, never
    /// timed.
    unmeasured: Counters,
}

impl Receiver {
    /// Reads and validates the replies to every request in `pending`, in order.
    /// `sent` is when the batch was written; `None` means don't record.
    async fn read_replies<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut R,
        w: &Workload,
        sent: Option<Instant>,
    ) -> anyhow::Result<()> {
        for i in 0..self.pending.len() {
            let op = self.pending[i];
            let (len, outcome) = loop {
                if let Some(done) = parse_reply(w, &op, &mut self.key, self.rbuf.data())? {
                    break done;
                }
                self.rbuf.fill(reader).await?;
            };
            self.rbuf.consume(len);
            let counters = match sent {
                Some(sent) => {
                    let ns = u64::try_from(sent.elapsed().as_nanos()).unwrap_or(u64::MAX);
                    self.stats.latency_ns.saturating_record(ns);
                    &mut self.stats.counters
                }
                None => &mut self.unmeasured,
            };
            if op.is_set {
                counters.sets += 1;
            } else {
                counters.gets += 1;
            }
            match outcome {
                Outcome::Stored => {}
                Outcome::Hit => counters.hits += 1,
                Outcome::Miss => counters.misses += 1,
                Outcome::Failed(msg) => {
                    counters.errors += 1;
                    if counters.first_error.is_none() {
                        counters.first_error = Some(msg);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Parses and validates the reply to `op` at the front of `buf`. Returns the
/// reply length and its meaning, or `None` if more bytes are needed.
#[inline]
fn parse_reply(
    w: &Workload,
    op: &Op,
    key_buf: &mut KeyBuf,
    buf: &[u8],
) -> Result<Option<(usize, Outcome)>, ProtocolError> {
    let key = key_buf.format(op.key);
    let check_hit = |got_key: &[u8], flags: u32, data: &[u8]| {
        if got_key != key {
            return Err(ProtocolError::msg(format!(
                "asked for key {} but got key {}",
                escape(key, 300),
                escape(got_key, 300)
            )));
        }
        if flags != w.flags {
            return Err(ProtocolError::msg(format!(
                "key {} came back with flags {flags}, stored {}",
                escape(key, 300),
                w.flags
            )));
        }
        if !w.value.matches(key, data) {
            let hint = if data.len() != w.value.len() {
                " (left over from a run with another --value-size? restart the server)"
            } else {
                ""
            };
            return Err(ProtocolError::msg(format!(
                "value of key {} is not what was stored ({} bytes, expected {}){hint}: {}",
                escape(key, 300),
                data.len(),
                w.value.len(),
                escape(data, 80)
            )));
        }
        Ok(Outcome::Hit)
    };
    match w.protocol {
        Protocol::Text if op.is_set => match text::parse_store(buf)? {
            Parsed::Incomplete => Ok(None),
            Parsed::Complete { len, reply } => Ok(Some((
                len,
                match reply {
                    text::StoreReply::Stored => Outcome::Stored,
                    text::StoreReply::NotStored(line) => {
                        Outcome::Failed(format!("set: {}", escape(line, 80)))
                    }
                    text::StoreReply::ServerError(msg) => {
                        Outcome::Failed(format!("set: SERVER_ERROR {}", escape(msg, 80)))
                    }
                },
            ))),
        },
        Protocol::Text => match text::parse_get(buf)? {
            Parsed::Incomplete => Ok(None),
            Parsed::Complete { len, reply } => Ok(Some((
                len,
                match reply {
                    text::GetReply::Hit {
                        key: got,
                        flags,
                        data,
                    } => check_hit(got, flags, data)?,
                    text::GetReply::Miss => Outcome::Miss,
                    text::GetReply::ServerError(msg) => {
                        Outcome::Failed(format!("get: SERVER_ERROR {}", escape(msg, 80)))
                    }
                },
            ))),
        },
        Protocol::Resp if op.is_set => match resp::parse_set(buf)? {
            Parsed::Incomplete => Ok(None),
            Parsed::Complete { len, reply } => Ok(Some((
                len,
                match reply {
                    resp::SetReply::Ok => Outcome::Stored,
                    resp::SetReply::Error(msg) => {
                        Outcome::Failed(format!("SET: {}", escape(msg, 80)))
                    }
                },
            ))),
        },
        Protocol::Resp => match resp::parse_get(buf)? {
            Parsed::Incomplete => Ok(None),
            Parsed::Complete { len, reply } => Ok(Some((
                len,
                match reply {
                    // A RESP reply names neither key nor flags: the value is checked.
                    resp::GetReply::Hit(data) => check_hit(key, w.flags, data)?,
                    resp::GetReply::Miss => Outcome::Miss,
                    resp::GetReply::Error(msg) => {
                        Outcome::Failed(format!("GET: {}", escape(msg, 80)))
                    }
                },
            ))),
        },
        Protocol::Aspnet | Protocol::Sharedance => Err(ProtocolError::msg(
            "memcached connection used for a page protocol",
        )),
        Protocol::Binary => {
            let Parsed::Complete { len, reply: r } = binary::parse_response(buf)? else {
                return Ok(None);
            };
            let want = if op.is_set {
                binary::OP_SET
            } else {
                binary::OP_GETK
            };
            if r.opcode != want || r.opaque != op.opaque {
                return Err(ProtocolError::msg(format!(
                    "expected a response to opcode {want:#04x} opaque {}, got opcode {:#04x} \
                     opaque {} (replies out of order?)",
                    op.opaque, r.opcode, r.opaque
                )));
            }
            let outcome = match r.status {
                binary::STATUS_OK if op.is_set => Outcome::Stored,
                binary::STATUS_OK => {
                    let Ok(flags) = <[u8; 4]>::try_from(r.extras) else {
                        return Err(ProtocolError::new(
                            "GETK response extras are not 4 bytes of flags",
                            r.extras,
                        ));
                    };
                    check_hit(r.key, u32::from_be_bytes(flags), r.value)?
                }
                binary::STATUS_KEY_NOT_FOUND if !op.is_set => Outcome::Miss,
                // As with text ERROR / CLIENT_ERROR: the server thinks our request
                // is malformed, which is a bug somewhere, not a load effect.
                binary::STATUS_INVALID_ARGUMENTS | binary::STATUS_UNKNOWN_COMMAND => {
                    return Err(ProtocolError::new(
                        &format!("server rejected the request with status {:#06x}", r.status),
                        r.value,
                    ));
                }
                status => Outcome::Failed(format!(
                    "{}: status {status:#06x} {}",
                    if op.is_set { "set" } else { "get" },
                    escape(r.value, 80)
                )),
            };
            Ok(Some((len, outcome)))
        }
    }
}

/// A connected client.
#[derive(Debug)]
pub struct Conn {
    /// Global connection number, for error messages and seeding.
    index: usize,
    stream: TcpStream,
    tx: Sender,
    rx: Receiver,
}

impl Conn {
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
            .map_err(|_| anyhow::anyhow!("connecting to {addr}: timed out after {timeout:?}"))?
            .with_context(|| format!("connecting to {addr}"))?;
        // Requests go out in one write each, so Nagle would only ever delay a
        // pipelined batch behind an unacknowledged one.
        stream.set_nodelay(true)?;
        let key = KeyBuf::new(&w.key_prefix, w.key_width).map_err(anyhow::Error::msg)?;
        let depth = w.pipeline.max(w.prefill_depth);
        // Room for a whole batch of get replies, so with pipelining a batch usually
        // arrives without compaction; at least 64 KiB, the size of a loopback
        // segment.
        let reply_size = w.value.len() + 512;
        let rbuf_cap = (reply_size * depth)
            .clamp(64 << 10, 8 << 20)
            .max(2 * reply_size);
        Ok(Self {
            index,
            stream,
            tx: Sender {
                wbuf: Vec::with_capacity(depth * (w.value.len() + 400)),
                key: key.clone(),
                rng: Rng::new(w.seed.wrapping_add(index as u64)),
                next_opaque: 0,
                text_set_suffix: text::set_suffix(w.flags, w.exptime, w.value.len()),
                resp_exptime: w.exptime.to_string().into_bytes(),
                values: ValueWriter::new(index as u64),
            },
            rx: Receiver {
                rbuf: RecvBuf::new(rbuf_cap),
                key,
                pending: Vec::with_capacity(depth),
                stats: ConnStats::new(),
                unmeasured: Counters::default(),
            },
        })
    }

    /// Sends the encoded batch and reads all of its replies.
    async fn exchange(&mut self, w: &Workload, record: bool) -> anyhow::Result<()> {
        let Conn { stream, tx, rx, .. } = self;
        let sent = Instant::now();
        let sent = record.then_some(sent);
        if rx.pending.len() == 1 {
            // One request: write, then read. Reading concurrently would cost an
            // extra read attempt (EAGAIN) per request for nothing.
            stream.write_all(&tx.wbuf).await?;
            rx.read_replies(stream, w, sent).await
        } else {
            // A large batch must be written while replies are read, or both sides
            // can block on full socket buffers.
            let (mut reader, mut writer) = stream.split();
            let write = async {
                writer.write_all(&tx.wbuf).await?;
                Ok::<_, anyhow::Error>(())
            };
            tokio::try_join!(write, rx.read_replies(&mut reader, w, sent))?;
            Ok(())
        }
    }

    /// Stores every key in `range` once, `prefill_depth` sets at a time. Returns
    /// the number of sets answered and the server errors among them.
    pub async fn prefill(
        &mut self,
        shared: &Shared,
        range: std::ops::Range<u64>,
    ) -> anyhow::Result<Counters> {
        let w = &shared.workload;
        let mut next = range.start;
        while next < range.end {
            self.tx.wbuf.clear();
            self.rx.pending.clear();
            let batch_end = range.end.min(next + w.prefill_depth as u64);
            for key in next..batch_end {
                let op = self.tx.encode(w, true, key);
                self.rx.pending.push(op);
            }
            next = batch_end;
            self.exchange(w, false)
                .await
                .with_context(|| format!("connection {} (prefill)", self.index))?;
        }
        Ok(std::mem::take(&mut self.rx.unmeasured))
    }

    /// Runs the closed loop until the phase becomes [`PHASE_STOP`]; returns the
    /// statistics of the requests sent during [`PHASE_MEASURE`].
    pub async fn run(mut self, shared: Arc<Shared>) -> anyhow::Result<ConnStats> {
        let w = &shared.workload;
        let ratio_total = u64::from(w.set_ratio) + u64::from(w.get_ratio);
        let set_ratio = u64::from(w.set_ratio);
        loop {
            let phase = shared.phase.load(Ordering::Relaxed);
            if phase == PHASE_STOP {
                break;
            }
            self.tx.wbuf.clear();
            self.rx.pending.clear();
            for _ in 0..w.pipeline {
                let is_set = self.tx.rng.below(ratio_total) < set_ratio;
                let key = self.tx.rng.below(w.keys);
                let op = self.tx.encode(w, is_set, key);
                self.rx.pending.push(op);
            }
            self.exchange(w, phase == PHASE_MEASURE)
                .await
                .with_context(|| format!("connection {}", self.index))?;
        }
        Ok(self.rx.stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(protocol: Protocol) -> Workload {
        Workload {
            protocol,
            keys: 10,
            key_prefix: "k.".into(),
            key_width: 2,
            value: ValuePattern::new(8),
            set_ratio: 1,
            get_ratio: 1,
            pipeline: 1,
            prefill_depth: 1,
            exptime: 1440,
            flags: 0,
            seed: 1,
        }
    }

    #[test]
    fn text_get_reply_is_validated() {
        let w = workload(Protocol::Text);
        let mut key = KeyBuf::new("k.", 2).unwrap();
        let op = Op {
            is_set: false,
            key: 3,
            opaque: 0,
        };
        let mut values = ValueWriter::new(0);
        let (a, b) = values.next(&w.value, b"k.03");
        let mut reply = b"VALUE k.03 0 8\r\n".to_vec();
        reply.extend_from_slice(a);
        reply.extend_from_slice(b);
        reply.extend_from_slice(b"\r\nEND\r\n");
        let (len, outcome) = parse_reply(&w, &op, &mut key, &reply).unwrap().unwrap();
        assert_eq!(len, reply.len());
        assert!(matches!(outcome, Outcome::Hit));
        assert!(
            parse_reply(&w, &op, &mut key, &reply[..10])
                .unwrap()
                .is_none()
        );
        // Same value under another key: caught.
        let other = Op { key: 4, ..op };
        assert!(parse_reply(&w, &other, &mut key, &reply).is_err());
        // Corrupted value (its key part; the stamp after it is any write's): caught.
        let mut bad = reply.clone();
        bad[17] ^= 1;
        assert!(parse_reply(&w, &op, &mut key, &bad).is_err());
    }

    #[test]
    fn binary_replies_are_matched_by_opaque() {
        let w = workload(Protocol::Binary);
        let mut key = KeyBuf::new("k.", 2).unwrap();
        let op = Op {
            is_set: true,
            key: 1,
            opaque: 5,
        };
        let mut reply = vec![0x81, binary::OP_SET, 0, 0, 0, 0, 0, 0];
        reply.extend_from_slice(&0u32.to_be_bytes());
        reply.extend_from_slice(&5u32.to_be_bytes());
        reply.extend_from_slice(&0u64.to_be_bytes());
        let (_, outcome) = parse_reply(&w, &op, &mut key, &reply).unwrap().unwrap();
        assert!(matches!(outcome, Outcome::Stored));
        let wrong = Op { opaque: 6, ..op };
        assert!(parse_reply(&w, &wrong, &mut key, &reply).is_err());
        // Out of memory is counted, not fatal.
        reply[7] = 0x82;
        let (_, outcome) = parse_reply(&w, &op, &mut key, &reply).unwrap().unwrap();
        assert!(matches!(outcome, Outcome::Failed(_)));
    }

    #[test]
    fn recv_buf_compacts_and_grows() {
        let mut b = RecvBuf::new(4);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut src: &[u8] = b"abcdefgh";
            b.fill(&mut src).await.unwrap();
            assert_eq!(b.data(), b"abcd");
            b.consume(1);
            b.fill(&mut src).await.unwrap();
            assert_eq!(b.data(), b"bcde");
            b.fill(&mut src).await.unwrap();
            assert_eq!(b.data(), b"bcdefgh");
            b.consume(7);
            assert_eq!((b.start, b.end), (0, 0));
            assert!(b.fill(&mut src).await.is_err());
        });
    }
}
