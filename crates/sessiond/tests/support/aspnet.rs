//! A client that talks to a state server as ASP.NET's `OutOfProcSessionStateStore` and
//! `SessionStateModule` do: the same requests for each provider call, persistent connections
//! taken from a pool, and the module's request life cycle (lock or poll, force-release a
//! stale lock, create an uninitialized item for a known id, write and release at the end).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// How long the client waits for one response, as `stateNetworkTimeout` (10 s by default).
const NETWORK_TIMEOUT: Duration = Duration::from_secs(10);

/// What one state-server request answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A header's value, names compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn number(&self, name: &str) -> Option<i64> {
        self.header(name)?.trim().parse().ok()
    }
}

/// What a request saw when it asked for its session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acquired {
    /// The session, locked for this request under `cookie`.
    Locked {
        data: Vec<u8>,
        cookie: u32,
        new: bool,
    },
}

/// One web server's state-server client: `appId` identifies the application, as
/// `HttpRuntime.AppDomainAppId` does; `pool` holds idle persistent connections.
pub struct StateClient {
    addr: SocketAddr,
    uri_base: String,
    pool: Vec<TcpStream>,
    /// The module's poll interval for a locked session (500 ms by default, 250 ms minimum).
    pub poll_interval: Duration,
    /// `httpRuntime executionTimeout`: a lock older than this is released by force.
    pub execution_timeout: Duration,
    /// The session timeout written with every store, in minutes.
    pub timeout_minutes: u32,
    /// How many times requests found their session locked and polled.
    pub polls: u64,
}

impl StateClient {
    /// A client for application `app_id` (e.g. `/LM/W3SVC/1/ROOT/shop`) whose app-domain id
    /// hash is `hash` (the client computes Base64(SHA-256(appId)); any Base64 text will do).
    pub fn new(addr: SocketAddr, app_id: &str, hash: &str) -> StateClient {
        StateClient {
            addr,
            uri_base: format!("{app_id}({hash})/"),
            pool: Vec::new(),
            poll_interval: Duration::from_millis(500),
            execution_timeout: Duration::from_secs(110),
            timeout_minutes: 20,
            polls: 0,
        }
    }

    // --- provider calls, byte for byte ----------------------------------------------------

    /// `GetItem`.
    pub fn get_item(&mut self, id: &str) -> Response {
        self.request("GET", id, &[], &[])
    }

    /// `GetItemExclusive`.
    pub fn get_item_exclusive(&mut self, id: &str) -> Response {
        self.request("GET", id, &[("Exclusive", "acquire".into())], &[])
    }

    /// `ReleaseItemExclusive`.
    pub fn release_item_exclusive(&mut self, id: &str, cookie: u32) -> Response {
        let headers = [
            ("Exclusive", "release".to_string()),
            ("LockCookie", cookie.to_string()),
        ];
        self.request("GET", id, &headers, &[])
    }

    /// `SetAndReleaseItemExclusive`; `cookie` is `None` for a new item (sent as 0).
    pub fn set_and_release_item_exclusive(
        &mut self,
        id: &str,
        data: &[u8],
        cookie: Option<u32>,
    ) -> Response {
        let headers = [
            ("Timeout", self.timeout_minutes.to_string()),
            ("LockCookie", cookie.unwrap_or(0).to_string()),
            ("ExtraFlags", "0".to_string()),
        ];
        self.request("PUT", id, &headers, data)
    }

    /// `CreateUninitializedItem`: an empty serialized session with `ExtraFlags: 1`.
    pub fn create_uninitialized_item(&mut self, id: &str) -> Response {
        let headers = [
            ("Timeout", self.timeout_minutes.to_string()),
            ("LockCookie", "0".to_string()),
            ("ExtraFlags", "1".to_string()),
        ];
        self.request("PUT", id, &headers, &[])
    }

    /// `RemoveItem`.
    pub fn remove_item(&mut self, id: &str, cookie: u32) -> Response {
        self.request("DELETE", id, &[("LockCookie", cookie.to_string())], &[])
    }

    /// `ResetItemTimeout`.
    pub fn reset_item_timeout(&mut self, id: &str) -> Response {
        self.request("HEAD", id, &[], &[])
    }

    // --- the module's request life cycle --------------------------------------------------

    /// `AcquireRequestState` for a page that writes the session: takes the lock, polling
    /// while another request holds it and releasing it by force once it is older than the
    /// execution timeout; a known id with no session gets an uninitialized item first.
    /// Gives up (panics) after `give_up`, as the request itself would time out.
    pub fn acquire(&mut self, id: &str, give_up: Duration) -> Acquired {
        let started = Instant::now();
        let mut created = false;
        loop {
            let response = self.get_item_exclusive(id);
            match response.status {
                200 => {
                    let cookie = response
                        .number("LockCookie")
                        .and_then(|c| u32::try_from(c).ok())
                        .unwrap_or_else(|| panic!("200 without a LockCookie: {response:?}"));
                    let new = response.header("ActionFlags") == Some("1");
                    return Acquired::Locked {
                        data: response.body,
                        cookie,
                        new,
                    };
                }
                404 if !created => {
                    // DevDiv 146875: never let a racing request overwrite a live session.
                    let created_response = self.create_uninitialized_item(id);
                    assert_eq!(created_response.status, 200, "{created_response:?}");
                    created = true;
                }
                404 => panic!("session {id} vanished right after it was created"),
                423 => {
                    let age = response.number("LockAge").unwrap_or(0);
                    let cookie = response
                        .number("LockCookie")
                        .and_then(|c| u32::try_from(c).ok())
                        .unwrap_or_else(|| panic!("423 without a LockCookie: {response:?}"));
                    if age >= 0 && age as u64 >= self.execution_timeout.as_secs() {
                        self.release_item_exclusive(id, cookie);
                    }
                    assert!(
                        started.elapsed() < give_up,
                        "session {id} stayed locked for {give_up:?}"
                    );
                    self.polls += 1;
                    thread::sleep(self.poll_interval);
                }
                status => panic!("unexpected status {status} for GetItemExclusive: {response:?}"),
            }
        }
    }

    /// `OnReleaseState` after a page changed the session it locked: write and release. (An
    /// item the module had to initialize was found, so it is written with its lock's cookie,
    /// not as a new item.)
    pub fn store(&mut self, id: &str, data: &[u8], cookie: u32) {
        let response = self.set_and_release_item_exclusive(id, data, Some(cookie));
        // The real client ignores every PUT status but 400; a test may not.
        assert_eq!(
            response.status, 200,
            "SetAndReleaseItemExclusive: {response:?}"
        );
    }

    // --- wire -----------------------------------------------------------------------------

    /// One request on a pooled persistent connection; the response is read whole.
    fn request(
        &mut self,
        verb: &str,
        id: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Response {
        let target = url_encode(&format!("{}{id}", self.uri_base));
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

        let mut stream = match self.pool.pop() {
            Some(stream) => stream,
            None => {
                let stream = TcpStream::connect(self.addr).expect("connecting to the state server");
                stream
                    .set_read_timeout(Some(NETWORK_TIMEOUT))
                    .expect("timeout");
                stream.set_nodelay(true).expect("nodelay");
                stream
            }
        };
        stream.write_all(&bytes).expect("sending a request");
        let response = read_response(&mut stream);
        self.pool.push(stream);
        response
    }
}

/// `HttpUtility.UrlEncode`: letters, digits and `-_.!*()` stay, space becomes `+`, every
/// other byte `%xx` in lower case.
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for &byte in text.as_bytes() {
        match byte {
            b'a'..=b'z'
            | b'A'..=b'Z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'!'
            | b'*'
            | b'('
            | b')' => out.push(byte as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02x}")),
        }
    }
    out
}

fn read_response(stream: &mut TcpStream) -> Response {
    try_read_response(stream).expect("a whole response from the state server")
}

/// Reads one response; `None` if the connection failed or closed first, or what arrived is
/// not a response.
pub fn try_read_response(stream: &mut TcpStream) -> Option<Response> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).ok()? != 1 {
            return None;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let status = lines
        .next()?
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())?;
    let headers: Vec<(String, String)> = lines
        .filter(|line| !line.is_empty())
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            Some((name.to_string(), value.trim().to_string()))
        })
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
        .and_then(|(_, v)| v.parse().ok())?;
    let mut body = vec![0; length];
    stream.read_exact(&mut body).ok()?;
    Some(Response {
        status,
        headers,
        body,
    })
}
