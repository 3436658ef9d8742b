//! End-to-end tests of the sharedance listener with PHP sessions.
//!
//! Each test starts the real `sessiond` binary and runs separate `php` processes, one per
//! "request", with `tests/e2e/php/sharedance_session.php`. That script keeps its session in
//! sharedance through a user session handler (`sharedance_handler.php`) speaking the protocol
//! as sharedance's bundled PHP client does: one connection per operation, store and delete
//! requiring exactly `OK\n`, fetch reading to EOF. The tests check what PHP prints and, with
//! raw sharedance requests, what is left in the store.
//!
//! Requires `php` (Debian: `php-cli`). A missing `php` fails the tests; it never skips them.

mod support;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use support::php::{PHP_TIMEOUT, Php};
use support::{Server, escape, exchange_until_close};

const SCRIPT: &str = "sharedance_session.php";

const INSTALL_HINT: &str = "the sharedance PHP end-to-end tests need `php`: run the test \
     command from the README (scripts/test.sh), which installs it (apt-get install -y php-cli)";

/// Panics unless `php` runs and has sessions.
fn require_php() {
    static CHECK: OnceLock<Result<String, String>> = OnceLock::new();
    let check = CHECK.get_or_init(|| {
        let output = Command::new("php")
            .args([
                "-r",
                "echo PHP_VERSION, ' session=', extension_loaded('session') ? 'yes' : 'missing';",
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run `php`: {e}; {INSTALL_HINT}"))?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() || !stdout.ends_with("session=yes") {
            return Err(format!(
                "`php` does not run or lacks the session extension ({} {stdout:?} {:?}); \
                 {INSTALL_HINT}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(stdout)
    });
    if let Err(message) = check {
        panic!("{message}");
    }
}

/// The `php -d` settings for the sharedance session handler at `addr`.
fn php_settings(addr: SocketAddr) -> Vec<String> {
    vec![
        "display_errors=stderr".to_string(),
        "log_errors=0".to_string(),
        "error_reporting=-1".to_string(),
        format!("session.save_path={addr}"),
        "session.serialize_handler=php".to_string(),
        "session.use_strict_mode=0".to_string(),
        "session.use_cookies=0".to_string(),
        "session.use_only_cookies=0".to_string(),
        "session.use_trans_sid=0".to_string(),
        "session.cache_limiter=".to_string(),
        "session.gc_probability=0".to_string(),
        "session.lazy_write=1".to_string(),
        "session.sid_length=32".to_string(),
        "session.sid_bits_per_character=5".to_string(),
    ]
}

/// Runs one PHP "request" to completion and returns its stdout with the newline trimmed.
/// Panics with the full output if it fails or runs out of time.
fn run_php(addr: SocketAddr, args: &[&str]) -> String {
    require_php();
    let description = format!("php {SCRIPT} {} (sharedance at {addr})", args.join(" "));
    Php::spawn(&php_settings(addr), SCRIPT, args, description, INSTALL_HINT)
        .finish(Instant::now() + PHP_TIMEOUT)
        .trim_end_matches('\n')
        .to_string()
}

// --- raw sharedance requests from Rust ---------------------------------------------------------

fn raw_fetch(addr: SocketAddr, key: &str) -> Vec<u8> {
    let mut request = vec![b'F'];
    request.extend_from_slice(&len32(key.len()));
    request.extend_from_slice(key.as_bytes());
    exchange_until_close(addr, &request)
}

fn raw_store(addr: SocketAddr, key: &str, data: &[u8]) -> Vec<u8> {
    let mut request = vec![b'S'];
    request.extend_from_slice(&len32(key.len()));
    request.extend_from_slice(&len32(data.len()));
    request.extend_from_slice(key.as_bytes());
    request.extend_from_slice(data);
    exchange_until_close(addr, &request)
}

fn len32(n: usize) -> [u8; 4] {
    u32::try_from(n).expect("length fits in u32").to_be_bytes()
}

#[track_caller]
fn assert_raw_fetch(addr: SocketAddr, id: &str, want: &[u8], context: &str) {
    let got = raw_fetch(addr, id);
    assert!(
        got == want,
        "{context}: raw sharedance fetch of session {id} from {addr}\n  got: {}\n want: {}",
        escape(&got),
        escape(want)
    );
}

/// The id `start` printed: what PHP generated with `sid_length=32`, 5 bits per character.
#[track_caller]
fn started_session(addr: SocketAddr) -> String {
    let id = run_php(addr, &["start"]);
    assert!(
        id.len() == 32
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'v').contains(&b)),
        "`start` must print the new session id, printed {id:?}"
    );
    id
}

fn sessiond(extra: &[&str]) -> Server {
    require_php();
    Server::start_with(extra)
}

// --- scenarios ---------------------------------------------------------------------------------

/// Four requests, four PHP processes: start, increment, destroy, read.
#[test]
fn php_session_lifecycle_over_sharedance() {
    let server = sessiond(&[]);
    let addr = server.sharedance_addr();

    let id = started_session(addr);
    assert_raw_fetch(addr, &id, b"count|i:1;", "after request 1 (start)");

    let seen = run_php(addr, &["increment", &id]);
    assert_eq!(
        seen, r#"{"count":1}"#,
        "request 2 must find what request 1 wrote in session {id}"
    );
    assert_raw_fetch(addr, &id, b"count|i:2;", "after request 2 (increment)");

    let seen = run_php(addr, &["destroy", &id]);
    assert_eq!(
        seen, r#"{"count":2}"#,
        "request 3 must find what request 2 wrote in session {id} before destroying it"
    );
    assert_raw_fetch(addr, &id, b"", "after request 3 (session_destroy)");

    let seen = run_php(addr, &["read", &id]);
    assert_eq!(
        seen, "[]",
        "request 4 must find session {id} empty after session_destroy()"
    );
}

/// A request that changes nothing still writes the session back (a user handler has no
/// `updateTimestamp`), and the data survives it unchanged.
#[test]
fn php_read_only_request_keeps_the_session() {
    let server = sessiond(&[]);
    let addr = server.sharedance_addr();
    let id = started_session(addr);
    for round in 1..=2 {
        assert_eq!(
            run_php(addr, &["read", &id]),
            r#"{"count":1}"#,
            "read-only request {round} of session {id}"
        );
        assert_raw_fetch(
            addr,
            &id,
            b"count|i:1;",
            &format!("after read-only request {round}"),
        );
    }
}

/// A session stored by another sharedance client is PHP's to read, in PHP's serialized form.
#[test]
fn php_reads_a_session_stored_by_a_raw_client() {
    let server = sessiond(&[]);
    let addr = server.sharedance_addr();
    let id = "rawclientsession0123456789abcdef";
    let data = br#"count|i:41;user|s:5:"alice";"#;
    assert_eq!(
        escape(&raw_store(addr, id, data)),
        "OK\\n",
        "raw sharedance store of session {id}"
    );
    assert_eq!(
        run_php(addr, &["increment", id]),
        r#"{"count":41,"user":"alice"}"#,
        "PHP reading session {id} stored over raw sharedance"
    );
    assert_raw_fetch(
        addr,
        id,
        br#"count|i:42;user|s:5:"alice";"#,
        "after PHP's increment",
    );
}

/// With `--sharedance-expiration 1` the session is gone once it has had time to expire.
#[test]
fn php_session_expires_with_sharedance_expiration() {
    let server = sessiond(&["--sharedance-expiration", "1"]);
    let addr = server.sharedance_addr();
    let id = started_session(addr);
    // Expiry is the behaviour under test: wait well past the 1 s lifetime, then check only that
    // the session is gone.
    thread::sleep(Duration::from_millis(2500));
    assert_raw_fetch(addr, &id, b"", "2.5 s after a 1 s lifetime");
    assert_eq!(
        run_php(addr, &["read", &id]),
        "[]",
        "PHP must find session {id} empty once it has expired"
    );
}
