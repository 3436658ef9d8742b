//! Web applications under test and a plain HTTP client for them.
//!
//! [`WebApp`] runs one web server process (an Express or axum app keeping its sessions in
//! sessiond) that prints `listening on PORT` once it serves. [`Browser`] sends GET requests
//! over plain HTTP/1.1 and keeps cookies as a browser does, so one browser can go from one app
//! process to another as a balancer would send it.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use super::redis::{Client, Reply};
use super::{Captured, STARTUP_TIMEOUT, Server, connect, drain_lines};

/// The line with which an app announces its port.
const LISTENING: &str = "listening on ";

/// One web server process on a loopback port. Killed on drop; its output is shown when the
/// test fails.
pub struct WebApp {
    description: String,
    child: Child,
    addr: SocketAddr,
    stdout: Captured,
    stderr: Captured,
}

impl WebApp {
    /// Starts `command` and waits (at most [`STARTUP_TIMEOUT`]) for its `listening on PORT`
    /// line. Panics with everything it printed if it exits or stays silent instead.
    pub fn start(mut command: Command, description: &str) -> WebApp {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("starting {description} ({command:?}): {error}"));
        let stderr = Captured::default();
        drain_lines(
            child.stderr.take().expect("piped stderr"),
            stderr.clone(),
            |_| true,
        );
        let stdout = Captured::default();
        let (lines, announced) = mpsc::channel();
        let mut reader = BufReader::new(child.stdout.take().expect("piped stdout"));
        let sink = stdout.clone();
        thread::spawn(move || {
            let mut line = String::new();
            while matches!(reader.read_line(&mut line), Ok(n) if n > 0) {
                sink.push(line.as_bytes());
                let _ = lines.send(line.trim_end().to_owned());
                line.clear();
            }
        });
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let port = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match announced.recv_timeout(left) {
                Ok(line) => {
                    if let Some(port) = line.strip_prefix(LISTENING) {
                        break port.trim().parse::<u16>().ok();
                    }
                }
                Err(_) => break None,
            }
        };
        let mut app = WebApp {
            description: description.to_owned(),
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stdout,
            stderr,
        };
        match port {
            Some(port) => app.addr.set_port(port),
            None => {
                let _ = app.child.kill();
                let status = app.child.wait();
                panic!(
                    "{description} did not print `{LISTENING}PORT` within {STARTUP_TIMEOUT:?} \
                     (exit: {status:?})\n{}",
                    app.output()
                );
            }
        }
        app
    }

    /// Where it serves.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Everything it printed so far.
    pub fn output(&self) -> String {
        format!(
            "--- {0} stdout ---\n{1}--- {0} stderr ---\n{2}--- end of {0} ---",
            self.description,
            self.stdout.text(),
            self.stderr.text()
        )
    }
}

impl Drop for WebApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!("{}", self.output());
        }
    }
}

/// A web farm: sessiond with a password and two processes of one web app sharing it, as two
/// web servers behind a balancer do.
pub struct Farm {
    pub apps: [WebApp; 2],
    password: String,
    /// Last, so that it stops after the apps.
    pub server: Server,
}

impl Farm {
    /// Starts sessiond with `password`, then two apps made by `app(url, protocol)` from the
    /// Redis URL (`redis://:PASSWORD@HOST:PORT`): app A is to speak RESP3 to sessiond, app B
    /// RESP2, so that the farm shares sessions across both. Checks that a visitor without a
    /// session is given no cookie named `cookie` and that nothing is stored for it.
    pub fn start(
        password: &str,
        name: &str,
        cookie: &str,
        app: impl Fn(&str, u8) -> Command,
    ) -> Farm {
        let server = Server::start_with(&["--resp-password", password]);
        let url = format!("redis://:{password}@{}", server.resp_addr());
        let apps = [
            WebApp::start(app(&url, 3), &format!("{name} A (RESP3)")),
            WebApp::start(app(&url, 2), &format!("{name} B (RESP2)")),
        ];
        let farm = Farm {
            apps,
            password: password.to_owned(),
            server,
        };
        let mut visitor = Browser::new();
        let anonymous = visitor.get(&farm.apps[0], "/whoami").json();
        assert_eq!(anonymous["user"], serde_json::Value::Null, "{anonymous}");
        assert_eq!(
            visitor.cookie(cookie),
            None,
            "no cookie before there is a session"
        );
        assert_eq!(
            farm.redis().client.cmd("DBSIZE"),
            Reply::Integer(0),
            "nothing stored for a visitor without a session"
        );
        farm
    }

    /// A new raw Redis connection to sessiond, authenticated.
    pub fn redis(&self) -> Keys {
        let mut client = Client::connect(self.server.resp_addr());
        assert_eq!(
            client.call(&[b"AUTH", self.password.as_bytes()]),
            Reply::Simple("OK".to_owned())
        );
        Keys { client }
    }
}

/// A raw Redis connection looking at the keys a session store wrote.
pub struct Keys {
    pub client: Client,
}

impl Keys {
    /// `command key`, which must answer an integer (`TTL`, `EXISTS`).
    pub fn integer(&mut self, command: &str, key: &str) -> i64 {
        match self.client.call(&[command.as_bytes(), key.as_bytes()]) {
            Reply::Integer(value) => value,
            other => panic!("{command} {key} answered {other:?}"),
        }
    }

    /// The value of `key`, which must be there.
    pub fn value(&mut self, key: &str) -> Vec<u8> {
        match self.client.call(&[b"GET", key.as_bytes()]) {
            Reply::Bulk(bytes) => bytes,
            other => panic!("GET {key} answered {other:?}"),
        }
    }

    /// Asserts that `key` expires in about `seconds`: a loaded machine may take a few seconds
    /// between the write and this check.
    pub fn assert_ttl_about(&mut self, key: &str, seconds: i64) {
        let ttl = self.integer("TTL", key);
        assert!(
            (seconds - 30..=seconds).contains(&ttl),
            "TTL {key} is {ttl}, not about {seconds}"
        );
    }

    /// Sets `key` to expire in 100 seconds, so that a later TTL near the full lifetime shows
    /// that the app renewed it.
    pub fn shorten_ttl(&mut self, key: &str) {
        assert_eq!(
            self.client.call(&[b"EXPIRE", key.as_bytes(), b"100"]),
            Reply::Integer(1)
        );
        assert!(self.integer("TTL", key) <= 100);
    }
}

/// The `id` field of an app's JSON answer.
pub fn id_of(view: &serde_json::Value) -> String {
    view["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no session id in {view}"))
        .to_owned()
}

/// One HTTP response.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The body as JSON; panics, showing the response, when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("the response is not JSON ({error}): {self:?}"))
    }

    /// Every value of a header, names compared case-insensitively.
    pub fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// A browser's cookie jar and its requests: a new connection for each request
/// (`Connection: close`), each wait bounded by [`super::IO_TIMEOUT`].
#[derive(Clone, Debug, Default)]
pub struct Browser {
    cookies: Vec<(String, String)>,
}

impl Browser {
    /// A browser with no cookies.
    pub fn new() -> Browser {
        Browser::default()
    }

    /// `GET path` from `app`, which must answer 200; the cookies it sets are kept.
    pub fn get(&mut self, app: &WebApp, path: &str) -> Response {
        let response = self.request(app.addr(), path);
        assert_eq!(
            response.status,
            200,
            "GET {path} from {} answered {}: {}\n{}",
            app.description,
            response.status,
            String::from_utf8_lossy(&response.body),
            app.output()
        );
        response
    }

    /// `GET path` from `addr`, whatever it answers; the cookies it sets are kept.
    pub fn request(&mut self, addr: SocketAddr, path: &str) -> Response {
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        if !self.cookies.is_empty() {
            let pairs: Vec<String> = self
                .cookies
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            request.push_str(&format!("Cookie: {}\r\n", pairs.join("; ")));
        }
        request.push_str("\r\n");
        let mut stream = connect(addr);
        stream
            .write_all(request.as_bytes())
            .unwrap_or_else(|error| panic!("sending GET {path} to {addr}: {error}"));
        let mut received = Vec::new();
        loop {
            let mut chunk = [0u8; 16 * 1024];
            match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => panic!(
                    "reading the answer to GET {path} from {addr}: {error}; received: {}",
                    String::from_utf8_lossy(&received)
                ),
            }
        }
        let response = parse_response(&received).unwrap_or_else(|| {
            panic!(
                "not an HTTP response to GET {path} from {addr}: {}",
                String::from_utf8_lossy(&received)
            )
        });
        for set_cookie in response.all("Set-Cookie") {
            self.keep(set_cookie);
        }
        response
    }

    /// The value of cookie `name`, if the browser has it.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.as_str())
    }

    /// Sets cookie `name` by hand (to replay an old one).
    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.retain(|(n, _)| n != name);
        self.cookies.push((name.to_owned(), value.to_owned()));
    }

    /// Applies one `Set-Cookie` header: a cookie with `Max-Age=0` (or a negative one) is
    /// removed, any other replaces the one of the same name.
    fn keep(&mut self, set_cookie: &str) {
        let mut attributes = set_cookie.split(';').map(str::trim);
        let Some((name, value)) = attributes.next().and_then(|pair| pair.split_once('=')) else {
            return;
        };
        let expired = attributes.any(|attribute| {
            attribute
                .split_once('=')
                .filter(|(key, _)| key.eq_ignore_ascii_case("max-age"))
                .and_then(|(_, age)| age.parse::<i64>().ok())
                .is_some_and(|age| age <= 0)
        });
        self.cookies.retain(|(n, _)| n != name);
        if !expired {
            self.cookies.push((name.to_owned(), value.to_owned()));
        }
    }
}

/// A whole response read up to the server's close: status line, headers, and a body that is
/// everything after them (de-chunked when `Transfer-Encoding: chunked`).
fn parse_response(bytes: &[u8]) -> Option<Response> {
    let head_end = bytes.windows(4).position(|window| window == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..head_end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()?
        .strip_prefix("HTTP/1.1 ")?
        .get(..3)?
        .parse()
        .ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let mut body = bytes[head_end + 4..].to_vec();
    let chunked = headers.iter().any(|(name, value)| {
        name.eq_ignore_ascii_case("Transfer-Encoding") && value.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body)?;
    }
    Some(Response {
        status,
        headers,
        body,
    })
}

/// The data of a chunked body.
fn dechunk(mut bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = bytes.windows(2).position(|window| window == b"\r\n")?;
        let size_text = std::str::from_utf8(&bytes[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        bytes = &bytes[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(bytes.get(..size)?);
        bytes = bytes.get(size + 2..)?;
    }
}
