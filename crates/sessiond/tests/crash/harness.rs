//! The crash harness of `crash.rs`: writer threads that record every acknowledged write with
//! the moment it was acknowledged, a model of what each key and session held, and the check
//! of what a restarted server holds against it.
//!
//! Every writer works on keys (and ASP.NET sessions) no other writer touches, one request in
//! flight at a time, so the writes of one writer reach the server — and its log — in the order
//! they were sent. A crash can therefore only cut each writer's sequence: what the restarted
//! server holds for a writer's keys must be the state after some prefix of the writes it sent.
//! How short that prefix may be is the durability promise under test: under `always`, every
//! acknowledged write (the prefix may add the one write in flight); under `everysec`, every
//! write acknowledged more than [`EVERYSEC_WINDOW`] before the kill.

use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::aspnet::{StateClient, url_encode};
use crate::support::{Server, escape, exchange, send_signal};

/// Writes acknowledged this long before a kill must survive it under `everysec`.
pub const EVERYSEC_WINDOW: Duration = Duration::from_millis(1500);
/// memcached keys per writer thread: `k<thread>-<slot>`.
pub const SLOTS: usize = 24;
/// ASP.NET sessions, all written by one thread.
pub const SESSIONS: usize = 4;
/// The ASP.NET application the sessions belong to.
const APP_ID: &str = "/LM/W3SVC/1/ROOT/crash";
const APP_HASH: &str = "Y3Jhc2g=";
/// A writer stops by itself after this many requests (a cycle lasts well under it).
const MAX_OPS_PER_CYCLE: u64 = 200_000;
/// Socket timeout of the writers: a killed server closes their connections at once.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// Random numbers and the seed
// ---------------------------------------------------------------------------------------

/// splitmix64: small, seedable, good enough to pick delays, keys and operations.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    /// An independent generator for `stream` (a thread, a cycle).
    pub fn fork(&mut self, stream: u64) -> Rng {
        Rng::new(self.next_u64() ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03))
    }
}

/// The seed of a run: `SESSIOND_CRASH_SEED` to replay one, otherwise from the clock.
pub fn seed() -> u64 {
    if let Ok(text) = std::env::var("SESSIOND_CRASH_SEED") {
        return text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("SESSIOND_CRASH_SEED={text:?} is not a number"));
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    nanos ^ u64::from(std::process::id()).rotate_left(32)
}

// ---------------------------------------------------------------------------------------
// Starting and killing the server
// ---------------------------------------------------------------------------------------

/// The arguments of a server on `dir` with `fsync`: memcached and ASP.NET listeners on ports
/// the system picks, sharedance off, two worker threads.
pub fn server_args(dir: &Path, fsync: &str) -> Vec<String> {
    [
        "--memcache-listen",
        "127.0.0.1:0",
        "--aspnet-listen",
        "127.0.0.1:0",
        "--sharedance-listen",
        "off",
        "--resp-listen",
        "off",
        "--threads",
        "2",
        "--data-dir",
        dir.to_str().expect("a UTF-8 temporary path"),
        "--fsync",
        fsync,
    ]
    .map(String::from)
    .to_vec()
}

/// [`server_args`] for a data directory `dir/data`, with `config` (TOML) written to
/// `dir/sessiond.toml` and given with `--config`: for the settings that have no flag.
pub fn server_args_with_config(dir: &Path, fsync: &str, config: &str) -> Vec<String> {
    let path = dir.join("sessiond.toml");
    std::fs::write(&path, config).expect("writing the config");
    let mut args = server_args(&dir.join("data"), fsync);
    args.extend(["--config".to_owned(), path.display().to_string()]);
    args
}

/// Starts sessiond on `dir` and waits for its "ready" line.
pub fn start(dir: &Path, fsync: &str) -> Server {
    let args = server_args(dir, fsync);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start_raw(&args)
}

/// `kill -9`s the server and waits for it to be gone; returns the moment of the kill and
/// everything it logged.
pub fn kill_9(server: Server) -> (Instant, String) {
    let at = Instant::now();
    send_signal(server.pid(), libc::SIGKILL);
    let (status, stderr) = server.wait_for_exit();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL),
        "sessiond ended with {status} instead of dying of SIGKILL\n{stderr}"
    );
    (at, stderr)
}

// ---------------------------------------------------------------------------------------
// memcached writers
// ---------------------------------------------------------------------------------------

/// One write a memcached writer sent: a set of `value` (`None`: a delete) to its key `slot`.
#[derive(Clone, Debug)]
pub struct KeyWrite {
    pub slot: usize,
    pub value: Option<Vec<u8>>,
    /// When its reply (`STORED`, `DELETED`, `NOT_FOUND`) arrived; `None` if none did.
    pub acked: Option<Instant>,
}

/// What a writer did until its connection died.
#[derive(Debug, Default)]
pub struct KeyWriterLog {
    pub writes: Vec<KeyWrite>,
    /// A reply that is not one of the expected ones, with the write it answered.
    pub anomaly: Option<String>,
}

pub fn key_name(thread: usize, slot: usize) -> String {
    format!("k{thread}-{slot}")
}

/// Sends sets (4 in 5) and deletes of thread `thread`'s keys, one at a time, until the
/// connection fails or `stop` is set. Values are `t<thread>-s<seq>-<padding>`, `seq` counting
/// on from `*seq`, so every value written is distinct and names its place in the sequence.
pub fn key_writer(
    addr: SocketAddr,
    thread: usize,
    seq: u64,
    mut rng: Rng,
    stop: Arc<AtomicBool>,
) -> KeyWriterLog {
    let mut log = KeyWriterLog::default();
    let Ok(mut conn) = LineConn::connect(addr) else {
        return log;
    };
    for n in 0..MAX_OPS_PER_CYCLE {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let slot = rng.below(SLOTS as u64) as usize;
        let key = key_name(thread, slot);
        let value = (rng.below(5) != 0).then(|| {
            let mut value = format!("t{thread}-s{}-", seq + n).into_bytes();
            let padding = rng.below(200) as usize;
            value.extend((0..padding).map(|_| b'a' + rng.below(26) as u8));
            value
        });
        let request = match &value {
            Some(value) => {
                let mut request = format!("set {key} 0 0 {}\r\n", value.len()).into_bytes();
                request.extend_from_slice(value);
                request.extend_from_slice(b"\r\n");
                request
            }
            None => format!("delete {key}\r\n").into_bytes(),
        };
        log.writes.push(KeyWrite {
            slot,
            value: value.clone(),
            acked: None,
        });
        let Ok(line) = conn.request(&request) else {
            break;
        };
        let acknowledged = match &value {
            Some(_) => line == b"STORED",
            None => line == b"DELETED" || line == b"NOT_FOUND",
        };
        if !acknowledged {
            log.anomaly = Some(format!(
                "{} answered {}",
                escape(&request[..request.len().min(60)]),
                escape(&line)
            ));
            break;
        }
        log.writes.last_mut().expect("just pushed").acked = Some(Instant::now());
    }
    log
}

/// A connection that sends a request and reads one reply line.
struct LineConn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl LineConn {
    fn connect(addr: SocketAddr) -> io::Result<LineConn> {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(LineConn {
            stream,
            buf: Vec::new(),
        })
    }

    /// Sends `request` and returns the reply line without its `\r\n`.
    fn request(&mut self, request: &[u8]) -> io::Result<Vec<u8>> {
        self.stream.write_all(request)?;
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf[..end].to_vec();
                self.buf.drain(..end + 2);
                return Ok(line);
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// What the server holds for thread `thread`'s keys: slot → value, absent keys left out.
pub fn read_keys(addr: SocketAddr, thread: usize) -> HashMap<usize, Vec<u8>> {
    let keys: Vec<String> = (0..SLOTS).map(|slot| key_name(thread, slot)).collect();
    let request = format!("get {}\r\n", keys.join(" "));
    let reply = exchange(addr, request.as_bytes(), true);
    let mut found = HashMap::new();
    let mut rest = &reply[..];
    loop {
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap_or_else(|| panic!("unterminated reply line: {}", escape(&reply)));
        let line = std::str::from_utf8(&rest[..end]).expect("an ASCII reply line");
        rest = &rest[end + 2..];
        if line == "END" {
            assert!(rest.is_empty(), "bytes after END: {}", escape(&reply));
            return found;
        }
        let fields: Vec<&str> = line.split(' ').collect();
        assert!(
            fields.len() == 4 && fields[0] == "VALUE",
            "unexpected line {line:?} in {}",
            escape(&reply)
        );
        let len: usize = fields[3].parse().expect("a value length");
        let slot = keys
            .iter()
            .position(|k| k == fields[1])
            .unwrap_or_else(|| panic!("a value for a key not asked for: {line}"));
        found.insert(slot, rest[..len].to_vec());
        assert_eq!(&rest[len..len + 2], b"\r\n", "{}", escape(&reply));
        rest = &rest[len + 2..];
    }
}

// ---------------------------------------------------------------------------------------
// The ASP.NET writer
// ---------------------------------------------------------------------------------------

/// One request the ASP.NET writer sent for session `session`.
#[derive(Clone, Debug)]
pub struct SessionWrite {
    pub session: usize,
    pub kind: SessionOp,
    /// When the 200 arrived, and for an acquire the cookie it carried.
    pub acked: Option<(Instant, u32)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionOp {
    /// `GetItemExclusive`: take the lock.
    Acquire,
    /// `SetAndReleaseItemExclusive` with the lock's cookie: write the data, release the lock.
    WriteRelease { cookie: u32, data: Vec<u8> },
    /// `ReleaseItemExclusive` with the lock's cookie.
    Release { cookie: u32 },
}

#[derive(Debug, Default)]
pub struct SessionWriterLog {
    pub writes: Vec<SessionWrite>,
    pub anomaly: Option<String>,
}

pub fn session_id(session: usize) -> String {
    format!("crashsession{session:012}")
}

/// A state-server client for the crash sessions (pooled, panics on I/O errors: for checks).
pub fn state_client(addr: SocketAddr) -> StateClient {
    StateClient::new(addr, APP_ID, APP_HASH)
}

/// Locks, writes and releases the sessions as pages would, leaving each locked for a while
/// (a session that is locked is written and released, or only released, next time it is
/// picked), until the connection fails or `stop` is set. All sessions are unlocked when it
/// starts. Data is `a<session>-s<seq>-<padding>`, `seq` counting on from `seq`.
pub fn session_writer(
    addr: SocketAddr,
    seq: u64,
    mut rng: Rng,
    stop: Arc<AtomicBool>,
) -> SessionWriterLog {
    let mut log = SessionWriterLog::default();
    let mut locks: [Option<u32>; SESSIONS] = [None; SESSIONS];
    let Ok(mut conn) = AspConn::connect(addr) else {
        return log;
    };
    for n in 0..MAX_OPS_PER_CYCLE {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let session = rng.below(SESSIONS as u64) as usize;
        let kind = match locks[session] {
            None => SessionOp::Acquire,
            Some(cookie) if rng.below(4) == 0 => SessionOp::Release { cookie },
            Some(cookie) => {
                let mut data = format!("a{session}-s{}-", seq + n).into_bytes();
                let padding = rng.below(300) as usize;
                data.extend((0..padding).map(|_| b'a' + rng.below(26) as u8));
                SessionOp::WriteRelease { cookie, data }
            }
        };
        log.writes.push(SessionWrite {
            session,
            kind: kind.clone(),
            acked: None,
        });
        let id = session_id(session);
        let reply = match &kind {
            SessionOp::Acquire => conn.request("GET", &id, &[("Exclusive", "acquire".into())], &[]),
            SessionOp::Release { cookie } => conn.request(
                "GET",
                &id,
                &[
                    ("Exclusive", "release".into()),
                    ("LockCookie", cookie.to_string()),
                ],
                &[],
            ),
            SessionOp::WriteRelease { cookie, data } => conn.request(
                "PUT",
                &id,
                &[
                    ("Timeout", "20".into()),
                    ("LockCookie", cookie.to_string()),
                    ("ExtraFlags", "0".into()),
                ],
                data,
            ),
        };
        let Ok((status, cookie)) = reply else {
            break;
        };
        if status != 200 || (kind == SessionOp::Acquire && cookie.is_none()) {
            log.anomaly = Some(format!(
                "{kind:?} on {id} answered {status} (cookie {cookie:?})"
            ));
            break;
        }
        let cookie = cookie.unwrap_or(0);
        locks[session] = match kind {
            SessionOp::Acquire => Some(cookie),
            _ => None,
        };
        log.writes.last_mut().expect("just pushed").acked = Some((Instant::now(), cookie));
    }
    log
}

/// A persistent State Server connection that reports I/O errors instead of panicking (the
/// server is killed under it).
struct AspConn {
    addr: SocketAddr,
    stream: TcpStream,
}

impl AspConn {
    fn connect(addr: SocketAddr) -> io::Result<AspConn> {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(AspConn { addr, stream })
    }

    /// One request as `StateClient` sends it; returns the status and the `LockCookie` header.
    fn request(
        &mut self,
        verb: &str,
        id: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> io::Result<(u16, Option<u32>)> {
        let target = url_encode(&format!("{APP_ID}({APP_HASH})/{id}"));
        let mut request = format!("{verb} {target} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        if verb == "PUT" {
            request.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        request.push_str("\r\n");
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(body);
        self.stream.write_all(&bytes)?;

        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if self.stream.read(&mut byte)? == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let bad = || io::Error::new(ErrorKind::InvalidData, head.clone());
        let status: u16 = head
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .ok_or_else(bad)?;
        let header = |name: &str| {
            head.split("\r\n").find_map(|line| {
                let (n, v) = line.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
        };
        let length: usize = header("Content-Length")
            .and_then(|v| v.parse().ok())
            .ok_or_else(bad)?;
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body)?;
        Ok((status, header("LockCookie").and_then(|v| v.parse().ok())))
    }
}

/// What a session looked like after a restart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSeen {
    /// The cookie of the lock it was under, if it was locked.
    pub locked: Option<u32>,
    pub data: Vec<u8>,
    /// The cookie the check's own acquire got (released again at once).
    pub check_cookie: u32,
}

/// Looks at a session as a client can: `GetItemExclusive` answers 423 with the lock's
/// cookie, or 200 with the data. A locked session is released with that cookie and acquired
/// again to read its data. Leaves the session unlocked. Checks that every cookie handed out
/// is larger than the one before.
pub fn observe_session(client: &mut StateClient, session: usize) -> SessionSeen {
    let id = session_id(session);
    let first = client.get_item_exclusive(&id);
    let cookie_of = |r: &crate::support::aspnet::Response| -> u32 {
        r.header("LockCookie")
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or_else(|| panic!("no LockCookie in {r:?}"))
    };
    let (locked, read) = match first.status {
        423 => {
            let cookie = cookie_of(&first);
            let released = client.release_item_exclusive(&id, cookie);
            assert_eq!(
                released.status, 200,
                "releasing {id} with the cookie of its 423 ({cookie}): {released:?}"
            );
            let read = client.get_item_exclusive(&id);
            assert_eq!(read.status, 200, "{id} after its release: {read:?}");
            assert!(
                cookie_of(&read) > cookie,
                "{id}: acquired with cookie {} after the lock with cookie {cookie}: cookies went backwards",
                cookie_of(&read)
            );
            (Some(cookie), read)
        }
        200 => (None, first),
        status => panic!("GetItemExclusive on {id} after a restart: {status}: {first:?}"),
    };
    let check_cookie = cookie_of(&read);
    let released = client.release_item_exclusive(&id, check_cookie);
    assert_eq!(released.status, 200, "releasing {id}: {released:?}");
    SessionSeen {
        locked,
        data: read.body,
        check_cookie,
    }
}

/// Creates the crash sessions, unlocked, with initial data.
pub fn create_sessions(client: &mut StateClient) {
    for session in 0..SESSIONS {
        let data = format!("a{session}-initial").into_bytes();
        let reply = client.set_and_release_item_exclusive(&session_id(session), &data, None);
        assert_eq!(reply.status, 200, "creating session {session}: {reply:?}");
    }
}

// ---------------------------------------------------------------------------------------
// The check: the state after some prefix of each writer's sequence
// ---------------------------------------------------------------------------------------

/// The acknowledged writes that must survive a kill at `killed` under `policy`: all of them
/// under `always`; under `everysec` those acknowledged more than [`EVERYSEC_WINDOW`] before.
pub fn required(
    acks: impl Iterator<Item = Option<Instant>>,
    policy: &str,
    killed: Instant,
) -> usize {
    acks.take_while(|acked| match (acked, policy) {
        (Some(_), "always") => true,
        (Some(at), "everysec") => killed.saturating_duration_since(*at) > EVERYSEC_WINDOW,
        (Some(_), other) => panic!("no durability promise known for --fsync {other}"),
        (None, _) => false,
    })
    .count()
}

/// How a writer's sequence survived: the prefixes of it whose state is what the server holds.
#[derive(Debug)]
pub struct Survival {
    /// The longest matching prefix, in writes.
    pub kept: usize,
    /// Writes acknowledged.
    pub acked: usize,
    /// Writes that had to survive.
    pub required: usize,
    /// How long before the kill the oldest acknowledged write that did not survive was
    /// acknowledged.
    pub oldest_lost_age: Option<Duration>,
}

/// The prefixes `0..=states.len()` whose state equals `seen`, given the state before the
/// cycle (`base`) and what each write changes: write `i` sets item `items[i].0` to
/// `items[i].1`. Returns the lengths of the matching prefixes.
pub fn matching_prefixes<T: PartialEq + Clone>(
    base: &[T],
    seen: &[T],
    items: &[(usize, T)],
    matches: impl Fn(&T, &T) -> bool,
) -> Vec<usize> {
    let mut state = base.to_vec();
    let mut wrong = (0..state.len())
        .filter(|&i| !matches(&state[i], &seen[i]))
        .count();
    let mut found = Vec::new();
    if wrong == 0 {
        found.push(0);
    }
    for (n, (item, value)) in items.iter().enumerate() {
        let before = matches(&state[*item], &seen[*item]);
        state[*item] = value.clone();
        let after = matches(&state[*item], &seen[*item]);
        match (before, after) {
            (true, false) => wrong += 1,
            (false, true) => wrong -= 1,
            _ => {}
        }
        if wrong == 0 {
            found.push(n + 1);
        }
    }
    found
}

/// Checks a memcached writer's keys: `base` is what they held before the cycle, `seen` what
/// they hold now. Panics with the whole story when no allowed prefix matches.
pub fn check_keys(
    thread: usize,
    base: &[Option<Vec<u8>>],
    seen: &[Option<Vec<u8>>],
    log: &KeyWriterLog,
    policy: &str,
    killed: Instant,
) -> Survival {
    let items: Vec<(usize, Option<Vec<u8>>)> = log
        .writes
        .iter()
        .map(|w| (w.slot, w.value.clone()))
        .collect();
    let prefixes = matching_prefixes(base, seen, &items, |a, b| a == b);
    let acked = log.writes.iter().filter(|w| w.acked.is_some()).count();
    let must = required(log.writes.iter().map(|w| w.acked), policy, killed);
    let kept = prefixes.iter().copied().filter(|&p| p >= must).max();
    let Some(kept) = kept else {
        let show = |v: &Option<Vec<u8>>| match v {
            Some(v) => escape(&v[..v.len().min(24)]),
            None => "(absent)".to_string(),
        };
        let mut story = String::new();
        for slot in 0..SLOTS {
            if base[slot] == seen[slot] && !items.iter().any(|(s, _)| *s == slot) {
                continue;
            }
            story.push_str(&format!(
                "  {}: before the cycle {}, after the restart {}; writes:",
                key_name(thread, slot),
                show(&base[slot]),
                show(&seen[slot])
            ));
            for (n, w) in log
                .writes
                .iter()
                .enumerate()
                .filter(|(_, w)| w.slot == slot)
            {
                let when = match w.acked {
                    Some(at) => format!(
                        "acked {:?} before the kill",
                        killed.saturating_duration_since(at)
                    ),
                    None => "never acked".to_string(),
                };
                story.push_str(&format!(" #{n} {} ({when});", show(&w.value)));
            }
            story.push('\n');
        }
        panic!(
            "--fsync {policy}: thread {thread}'s keys are not the state after any prefix of its \
             writes that keeps the {must} that had to survive ({acked} acked, {} sent; matching \
             prefixes: {prefixes:?})\n{story}",
            log.writes.len()
        );
    };
    Survival {
        kept,
        acked,
        required: must,
        oldest_lost_age: log.writes[kept.min(acked)..acked]
            .first()
            .and_then(|w| w.acked)
            .map(|at| killed.saturating_duration_since(at)),
    }
}

/// What the model says a session is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionState {
    pub lock: Lock,
    pub data: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lock {
    Free,
    /// Locked by an acknowledged acquire with this cookie.
    Held(u32),
    /// Locked by an acquire whose reply never came: the cookie is unknown, but larger than
    /// every cookie before it.
    HeldUnseen {
        above: u32,
    },
}

/// Checks the sessions: `base` is their state before the cycle (all unlocked) and
/// `base_cookies` the last cookie each had; `seen` what the restarted server shows. Cookies
/// are per session: every acquire must get a larger one than the session had.
pub fn check_sessions(
    base: &[SessionState],
    base_cookies: &[u32],
    seen: &[SessionSeen],
    log: &SessionWriterLog,
    policy: &str,
    killed: Instant,
) -> Survival {
    // What each write turns its session into.
    let mut state = base.to_vec();
    let mut top_cookie = base_cookies.to_vec();
    let mut items = Vec::new();
    for w in &log.writes {
        let s = &mut state[w.session];
        let top = &mut top_cookie[w.session];
        match (&w.kind, w.acked) {
            (SessionOp::Acquire, Some((_, cookie))) => {
                assert!(
                    cookie > *top,
                    "session {}: an acquire got cookie {cookie} after cookie {top} had been handed out",
                    w.session
                );
                *top = cookie;
                s.lock = Lock::Held(cookie);
            }
            (SessionOp::Acquire, None) => s.lock = Lock::HeldUnseen { above: *top },
            (SessionOp::WriteRelease { data, .. }, _) => {
                s.lock = Lock::Free;
                s.data.clone_from(data);
            }
            (SessionOp::Release { .. }, _) => s.lock = Lock::Free,
        }
        items.push((w.session, state[w.session].clone()));
    }
    let seen_states: Vec<SessionState> = seen
        .iter()
        .map(|s| SessionState {
            lock: s.locked.map_or(Lock::Free, Lock::Held),
            data: s.data.clone(),
        })
        .collect();
    let prefixes = matching_prefixes(base, &seen_states, &items, |model, seen| {
        model.data == seen.data
            && match (&model.lock, &seen.lock) {
                (Lock::HeldUnseen { above }, Lock::Held(cookie)) => cookie > above,
                (model, seen) => model == seen,
            }
    });
    let acked = log.writes.iter().filter(|w| w.acked.is_some()).count();
    let must = required(
        log.writes.iter().map(|w| w.acked.map(|(at, _)| at)),
        policy,
        killed,
    );
    let kept = prefixes.iter().copied().filter(|&p| p >= must).max();
    let Some(kept) = kept else {
        let mut story = String::new();
        for (n, w) in log.writes.iter().enumerate() {
            let when = match w.acked {
                Some((at, cookie)) => format!(
                    "acked {:?} before the kill, cookie {cookie}",
                    killed.saturating_duration_since(at)
                ),
                None => "never acked".to_string(),
            };
            let kind = match &w.kind {
                SessionOp::WriteRelease { cookie, data } => format!(
                    "WriteRelease(cookie {cookie}, {})",
                    escape(&data[..data.len().min(16)])
                ),
                other => format!("{other:?}"),
            };
            story.push_str(&format!("  #{n} session {}: {kind} ({when})\n", w.session));
        }
        panic!(
            "--fsync {policy}: the ASP.NET sessions are not the state after any prefix of the \
             writes that keeps the {must} that had to survive ({acked} acked, {} sent; matching \
             prefixes: {prefixes:?})\nbefore the cycle: {base:?}\nafter the restart: {seen:?}\n\
             writes:\n{story}",
            log.writes.len()
        );
    };
    Survival {
        kept,
        acked,
        required: must,
        oldest_lost_age: log.writes[kept.min(acked)..acked]
            .first()
            .and_then(|w| w.acked)
            .map(|(at, _)| killed.saturating_duration_since(at)),
    }
}

// ---------------------------------------------------------------------------------------
// Data directory files
// ---------------------------------------------------------------------------------------

/// The log segments of `dir`, oldest first.
pub fn segments(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("wal-") && n.ends_with(".log"))
        })
        .collect();
    found.sort();
    found
}

/// Where each whole record of a log segment starts, and where the last whole one ends, read
/// from the framing alone (a 24-byte header, then records `len:u32le | crc:u32le | len bytes`).
pub fn record_offsets(bytes: &[u8]) -> (Vec<usize>, usize) {
    const HEADER: usize = 24;
    let mut starts = Vec::new();
    let mut at = HEADER;
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        if len == 0 || at + 8 + len > bytes.len() {
            break;
        }
        starts.push(at);
        at += 8 + len;
    }
    (starts, at)
}

/// Spawns a thread running `f`, named for the failure message.
pub fn spawn<T: Send + 'static>(
    name: String,
    f: impl FnOnce() -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    thread::Builder::new()
        .name(name)
        .spawn(f)
        .expect("spawning a writer thread")
}
