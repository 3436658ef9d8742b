//! Test helpers: a real engine behind the crate's `Connection`, a request builder and a
//! response parser.

use bytes::BytesMut;
use sessiond_engine::{Engine, EngineConfig, NamespaceId, Timestamp};

use crate::{Connection, Context, Flow, Limits, ProtocolCounters, ServerInfo, ServerStats};

/// Server figures that never change, so STAT output is reproducible.
#[derive(Debug, Default)]
pub(crate) struct FixedServer;

impl ServerInfo for FixedServer {
    fn server_stats(&self) -> ServerStats {
        ServerStats {
            pid: 4242,
            threads: 2,
            max_connections: 1024,
            ..ServerStats::default()
        }
    }
}

/// An engine and everything a `Context` borrows.
pub(crate) struct Harness {
    pub engine: Engine,
    pub limits: Limits,
    pub counters: ProtocolCounters,
    pub now: Timestamp,
    pub namespace: NamespaceId,
    server: FixedServer,
}

impl Harness {
    /// A harness with default limits and a 1 GiB engine.
    pub fn new() -> Self {
        Harness::with(Limits::default(), EngineConfig::default())
    }

    pub fn with(limits: Limits, config: EngineConfig) -> Self {
        Harness {
            engine: Engine::new(config),
            limits,
            counters: ProtocolCounters::default(),
            now: Timestamp::from_secs(1_700_000_000),
            namespace: NamespaceId(7),
            server: FixedServer,
        }
    }

    pub fn ctx(&self) -> Context<'_> {
        Context {
            engine: &self.engine,
            now: self.now,
            limits: &self.limits,
            namespace: self.namespace,
            counters: &self.counters,
            server: &self.server,
        }
    }

    pub fn advance_secs(&mut self, secs: u64) {
        self.now = Timestamp::from_millis(self.now.as_millis() + secs * 1000);
    }

    /// Sends `bytes` in one read on a new connection and parses the replies.
    pub fn run(&self, bytes: &[u8]) -> Vec<Packet> {
        self.run_flow(bytes).0
    }

    pub fn run_flow(&self, bytes: &[u8]) -> (Vec<Packet>, Flow) {
        let (raw, flow) = self.raw(bytes);
        (parse(&raw), flow)
    }

    /// Sends `bytes` in one read on a new connection; the raw output.
    pub fn raw(&self, bytes: &[u8]) -> (Vec<u8>, Flow) {
        let mut conn = Connection::new();
        let mut input = BytesMut::new();
        self.feed(&mut conn, &mut input, bytes)
    }

    /// Appends `bytes` to `input` and runs one `process` call.
    pub fn feed(
        &self,
        conn: &mut Connection,
        input: &mut BytesMut,
        bytes: &[u8],
    ) -> (Vec<u8>, Flow) {
        input.extend_from_slice(bytes);
        let mut output = BytesMut::new();
        let flow = conn.process(input, &mut output, &self.ctx());
        (output.to_vec(), flow)
    }

    /// Sends `bytes` in reads of the given sizes (cycled) on a new connection, stopping at a
    /// close; the concatenated output.
    pub fn raw_chunked(&self, bytes: &[u8], sizes: &[usize]) -> (Vec<u8>, Flow) {
        let mut conn = Connection::new();
        let mut input = BytesMut::new();
        let mut all = Vec::new();
        let mut at = 0;
        let mut flow = Flow::Continue;
        for &size in sizes.iter().cycle() {
            if at >= bytes.len() || flow == Flow::Close {
                break;
            }
            let end = (at + size.max(1)).min(bytes.len());
            let (out, f) = self.feed(&mut conn, &mut input, &bytes[at..end]);
            all.extend_from_slice(&out);
            flow = f;
            at = end;
        }
        (all, flow)
    }
}

/// A response, decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Packet {
    pub opcode: u8,
    pub status: u16,
    pub extras: Vec<u8>,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub opaque: u32,
    pub cas: u64,
}

impl Packet {
    /// An empty response.
    pub fn new(opcode: u8, opaque: u32, status: u16) -> Self {
        Packet {
            opcode,
            opaque,
            status,
            ..Packet::default()
        }
    }

    /// An error response with its text.
    pub fn error(opcode: u8, opaque: u32, status: u16, text: &str) -> Self {
        Packet {
            value: text.as_bytes().to_vec(),
            ..Packet::new(opcode, opaque, status)
        }
    }
}

/// Decodes a sequence of whole responses; panics on anything else.
pub(crate) fn parse(mut bytes: &[u8]) -> Vec<Packet> {
    let mut packets = Vec::new();
    while !bytes.is_empty() {
        assert!(bytes.len() >= 24, "truncated header: {bytes:?}");
        assert_eq!(bytes[0], 0x81, "response magic");
        assert_eq!(bytes[5], 0, "data type");
        let key_len = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        let extras_len = usize::from(bytes[4]);
        let body_len = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
        assert!(key_len + extras_len <= body_len, "lengths");
        assert!(bytes.len() >= 24 + body_len, "truncated body");
        let body = &bytes[24..24 + body_len];
        packets.push(Packet {
            opcode: bytes[1],
            status: u16::from_be_bytes([bytes[6], bytes[7]]),
            extras: body[..extras_len].to_vec(),
            key: body[extras_len..extras_len + key_len].to_vec(),
            value: body[extras_len + key_len..].to_vec(),
            opaque: u32::from_be_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]),
            cas: u64::from_be_bytes(bytes[16..24].try_into().expect("8 bytes")),
        });
        bytes = &bytes[24 + body_len..];
    }
    packets
}

/// A request under construction; the body length defaults to that of the parts.
#[derive(Clone, Debug)]
pub(crate) struct Req {
    opcode: u8,
    key: Vec<u8>,
    extras: Vec<u8>,
    value: Vec<u8>,
    opaque: u32,
    cas: u64,
    body_len: Option<u32>,
}

impl Req {
    pub fn new(opcode: u8) -> Self {
        Req {
            opcode,
            key: Vec::new(),
            extras: Vec::new(),
            value: Vec::new(),
            opaque: 0,
            cas: 0,
            body_len: None,
        }
    }

    pub fn key(mut self, key: &[u8]) -> Self {
        self.key = key.to_vec();
        self
    }

    pub fn extras(mut self, extras: &[u8]) -> Self {
        self.extras = extras.to_vec();
        self
    }

    pub fn value(mut self, value: &[u8]) -> Self {
        self.value = value.to_vec();
        self
    }

    pub fn opaque(mut self, opaque: u32) -> Self {
        self.opaque = opaque;
        self
    }

    pub fn cas(mut self, cas: u64) -> Self {
        self.cas = cas;
        self
    }

    pub fn body_len(mut self, len: u32) -> Self {
        self.body_len = Some(len);
        self
    }

    pub fn bytes(&self) -> Vec<u8> {
        let key_len = self.key.len() as u16;
        let extras_len = self.extras.len() as u8;
        let body_len = self
            .body_len
            .unwrap_or((self.key.len() + self.extras.len() + self.value.len()) as u32);
        let mut bytes = vec![0x80, self.opcode];
        bytes.extend_from_slice(&key_len.to_be_bytes());
        bytes.push(extras_len);
        bytes.extend_from_slice(&[0, 0, 0]);
        bytes.extend_from_slice(&body_len.to_be_bytes());
        bytes.extend_from_slice(&self.opaque.to_be_bytes());
        bytes.extend_from_slice(&self.cas.to_be_bytes());
        bytes.extend_from_slice(&self.extras);
        bytes.extend_from_slice(&self.key);
        bytes.extend_from_slice(&self.value);
        bytes
    }
}

/// TOUCH and GAT extras.
pub(crate) fn expiry(exptime: u32) -> [u8; 4] {
    exptime.to_be_bytes()
}

/// SET, ADD and REPLACE extras.
pub(crate) fn store_extras(flags: u32, exptime: u32) -> Vec<u8> {
    [flags.to_be_bytes(), exptime.to_be_bytes()].concat()
}

/// INCREMENT and DECREMENT extras.
pub(crate) fn arith_extras(delta: u64, initial: u64, exptime: u32) -> Vec<u8> {
    [
        &delta.to_be_bytes()[..],
        &initial.to_be_bytes()[..],
        &exptime.to_be_bytes()[..],
    ]
    .concat()
}

/// A SET of `value` under `key` with `flags`, never expiring.
pub(crate) fn set(key: &[u8], value: &[u8], flags: u32) -> Vec<u8> {
    Req::new(0x01)
        .key(key)
        .extras(&store_extras(flags, 0))
        .value(value)
        .bytes()
}

/// A NOOP with `opaque`.
pub(crate) fn noop(opaque: u32) -> Vec<u8> {
    Req::new(0x0a).opaque(opaque).bytes()
}
