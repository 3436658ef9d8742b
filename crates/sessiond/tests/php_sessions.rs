//! End-to-end tests with the real php-memcached session handler.
//!
//! Each test starts a server, runs the PHP CLI scripts in `tests/e2e/php/` against it
//! with `session.save_handler=memcached` (text or binary protocol, locking on) and
//! checks what they print and what is left in the store.
//!
//! Requires `php` with the memcached extension (Debian: `php-cli php-memcached`) and,
//! for the reference runs, `/usr/bin/memcached`. A missing tool fails the tests; it
//! never skips them.

mod support;

use std::net::SocketAddr;
use std::time::Instant;

use support::php::{PHP_TIMEOUT, Php, new_session_id, require_extension, session_settings};
use support::{Memcached, Server, escape, exchange};

/// php-memcached's default `memcached.sess_prefix`, set explicitly below.
const SESSION_PREFIX: &str = "memc.sess.key.";

/// Concurrent processes and iterations per process in the lost-update scenario.
const WRITERS: usize = 3;
const ITERATIONS: usize = 20;
/// Sleep inside the critical section, widening the window a missing lock would expose.
const CRITICAL_SECTION_SLEEP_US: u32 = 2000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proto {
    Text,
    Binary,
}

impl Proto {
    fn ini_value(self) -> &'static str {
        match self {
            Proto::Text => "0",
            Proto::Binary => "1",
        }
    }
}

const INSTALL_HINT: &str = "the PHP end-to-end tests need `php` with the memcached extension: \
     run the test command from the README, which installs them \
     (apt-get install -y memcached php-cli php-memcached)";

/// Panics unless `php` runs and has the memcached extension loaded.
fn require_php() {
    require_extension("memcached", INSTALL_HINT);
}

/// The `php -d` settings for the memcached session handler at `addr`.
fn php_settings(addr: SocketAddr, proto: Proto) -> Vec<String> {
    session_settings(&[
        "session.save_handler=memcached".to_string(),
        format!("session.save_path={addr}"),
        "session.lazy_write=1".to_string(),
        format!("memcached.sess_prefix={SESSION_PREFIX}"),
        "memcached.sess_locking=1".to_string(),
        format!("memcached.sess_binary_protocol={}", proto.ini_value()),
        "memcached.sess_lock_wait_min=10".to_string(),
        "memcached.sess_lock_wait_max=50".to_string(),
        "memcached.sess_lock_retries=1000".to_string(),
        "memcached.sess_lock_expire=30".to_string(),
        "memcached.sess_persistent=0".to_string(),
        "memcached.sess_number_of_replicas=0".to_string(),
    ])
}

/// Starts `php -d ... tests/e2e/php/SCRIPT ARGS` against the session store at `addr`.
fn spawn_php(addr: SocketAddr, proto: Proto, script: &str, args: &[&str]) -> Php {
    require_php();
    let description = format!(
        "php {script} {} ({proto:?} protocol, {addr})",
        args.join(" ")
    );
    Php::spawn(
        &php_settings(addr, proto),
        script,
        args,
        description,
        INSTALL_HINT,
    )
}

/// Runs one PHP script to completion and returns its stdout with the newline trimmed.
fn run_php(addr: SocketAddr, proto: Proto, script: &str, args: &[&str]) -> String {
    let stdout = spawn_php(addr, proto, script, args).finish(Instant::now() + PHP_TIMEOUT);
    stdout.trim_end_matches('\n').to_string()
}

/// What a raw text `get KEY` returns from the store at `addr`.
fn raw_get(addr: SocketAddr, key: &str) -> Vec<u8> {
    exchange(addr, format!("get {key}\r\n").as_bytes(), true)
}

/// The text-protocol reply to `get KEY` for an item stored by php-memcached's session
/// handler (flags 0).
fn value_reply(key: &str, data: &str) -> Vec<u8> {
    format!("VALUE {key} 0 {}\r\n{data}\r\nEND\r\n", data.len()).into_bytes()
}

fn assert_raw_get(addr: SocketAddr, key: &str, expected: &[u8], context: &str) {
    let got = raw_get(addr, key);
    assert!(
        got == expected,
        "{context}: raw `get {key}` from {addr} returned an unexpected reply\n  \
         got: {}\n want: {}",
        escape(&got),
        escape(expected)
    );
}

fn assert_unlocked(addr: SocketAddr, id: &str, context: &str) {
    let key = format!("{SESSION_PREFIX}lock.{id}");
    assert_raw_get(
        addr,
        &key,
        b"END\r\n",
        &format!("{context}: session lock left behind"),
    );
}

// ---------------------------------------------------------------------------------------
// Scenarios, each against the store at `addr`
// ---------------------------------------------------------------------------------------

const ALICE_JSON: &str = r#"{"user":"alice","n":1}"#;
/// php's session serialization (`session.serialize_handler=php`) of [`ALICE_JSON`].
const ALICE_SESSION_DATA: &str = r#"user|s:5:"alice";n|i:1;"#;

/// Scenario 1 (and 4): one process writes, another reads it back; no lock item is left
/// and the item holds php's session serialization.
fn scenario_roundtrip(addr: SocketAddr, proto: Proto) {
    let id = new_session_id();
    let before = run_php(addr, proto, "write.php", &[&id]);
    assert_eq!(before, "[]", "a new session {id} must start empty");
    assert_unlocked(addr, &id, "after write.php");
    assert_raw_get(
        addr,
        &format!("{SESSION_PREFIX}{id}"),
        &value_reply(&format!("{SESSION_PREFIX}{id}"), ALICE_SESSION_DATA),
        "after write.php",
    );

    let read = run_php(addr, proto, "read.php", &[&id]);
    assert_eq!(
        read, ALICE_JSON,
        "session {id} read back by a second process"
    );
    assert_unlocked(addr, &id, "after read.php");

    // A second read goes through lazy_write's timestamp update (touch) path again and
    // must still find the data.
    let read_again = run_php(addr, proto, "read.php", &[&id]);
    assert_eq!(
        read_again, ALICE_JSON,
        "session {id} read back a second time"
    );
    assert_unlocked(addr, &id, "after the second read.php");
}

/// Scenario 2: concurrent read-modify-write cycles under the session lock lose nothing.
fn scenario_no_lost_update(addr: SocketAddr, proto: Proto) {
    let id = new_session_id();
    let iterations = ITERATIONS.to_string();
    let sleep_us = CRITICAL_SECTION_SLEEP_US.to_string();
    let deadline = Instant::now() + PHP_TIMEOUT;
    let writers: Vec<Php> = (0..WRITERS)
        .map(|_| spawn_php(addr, proto, "increment.php", &[&id, &iterations, &sleep_us]))
        .collect();
    for writer in writers {
        let out = writer.finish(deadline);
        assert_eq!(out.trim_end(), format!("done {ITERATIONS}"));
    }
    assert_unlocked(addr, &id, "after the concurrent increments");

    let read = run_php(addr, proto, "read.php", &[&id]);
    let expected = format!(r#"{{"counter":{}}}"#, WRITERS * ITERATIONS);
    assert_eq!(
        read, expected,
        "{WRITERS} processes x {ITERATIONS} locked increments of session {id}: updates were lost"
    );
}

/// Scenario 3: after session_destroy() another process sees an empty session.
fn scenario_destroy(addr: SocketAddr, proto: Proto) {
    let id = new_session_id();
    run_php(addr, proto, "write.php", &[&id]);
    let destroyed = run_php(addr, proto, "destroy.php", &[&id]);
    assert_eq!(
        destroyed, ALICE_JSON,
        "destroy.php saw the data it destroyed"
    );
    assert_unlocked(addr, &id, "after destroy.php");
    assert_raw_get(
        addr,
        &format!("{SESSION_PREFIX}{id}"),
        b"END\r\n",
        "after destroy.php",
    );

    let read = run_php(addr, proto, "read.php", &[&id]);
    assert_eq!(
        read, "[]",
        "session {id} must be empty after session_destroy()"
    );
    assert_unlocked(addr, &id, "after read.php of the destroyed session");
}

/// Sessions written with one protocol are readable with the other.
fn scenario_cross_protocol(addr: SocketAddr) {
    for (writer, reader) in [(Proto::Binary, Proto::Text), (Proto::Text, Proto::Binary)] {
        let id = new_session_id();
        assert_eq!(run_php(addr, writer, "write.php", &[&id]), "[]");
        assert_eq!(
            run_php(addr, reader, "read.php", &[&id]),
            ALICE_JSON,
            "session {id} written over {writer:?}, read over {reader:?}"
        );
        assert_unlocked(addr, &id, "after the cross-protocol read");
    }
}

// ---------------------------------------------------------------------------------------
// Against sessiond
// ---------------------------------------------------------------------------------------

fn sessiond() -> Server {
    require_php();
    Server::start()
}

#[test]
fn php_session_roundtrip_text() {
    let server = sessiond();
    scenario_roundtrip(server.memcache_addr(), Proto::Text);
}

#[test]
fn php_session_roundtrip_binary() {
    let server = sessiond();
    scenario_roundtrip(server.memcache_addr(), Proto::Binary);
}

#[test]
fn php_concurrent_no_lost_update_text() {
    let server = sessiond();
    scenario_no_lost_update(server.memcache_addr(), Proto::Text);
}

#[test]
fn php_concurrent_no_lost_update_binary() {
    let server = sessiond();
    scenario_no_lost_update(server.memcache_addr(), Proto::Binary);
}

#[test]
fn php_session_destroy_text() {
    let server = sessiond();
    scenario_destroy(server.memcache_addr(), Proto::Text);
}

#[test]
fn php_session_destroy_binary() {
    let server = sessiond();
    scenario_destroy(server.memcache_addr(), Proto::Binary);
}

#[test]
fn php_session_cross_protocol() {
    let server = sessiond();
    scenario_cross_protocol(server.memcache_addr());
}

// ---------------------------------------------------------------------------------------
// Against the real memcached: proves the scripts and expectations themselves are right
// ---------------------------------------------------------------------------------------

fn real_memcached() -> Memcached {
    require_php();
    Memcached::start()
}

#[test]
fn php_sessions_against_real_memcached_text() {
    let memcached = real_memcached();
    scenario_roundtrip(memcached.addr(), Proto::Text);
    scenario_destroy(memcached.addr(), Proto::Text);
    scenario_no_lost_update(memcached.addr(), Proto::Text);
}

#[test]
fn php_sessions_against_real_memcached_binary() {
    let memcached = real_memcached();
    scenario_roundtrip(memcached.addr(), Proto::Binary);
    scenario_destroy(memcached.addr(), Proto::Binary);
    scenario_no_lost_update(memcached.addr(), Proto::Binary);
    scenario_cross_protocol(memcached.addr());
}
