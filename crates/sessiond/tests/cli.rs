//! Start-up and configuration of the `sessiond` binary: flags, the TOML file, start-up errors,
//! signals, and the memory limit as a client sees it.
//!
//! Every wait is bounded; a process that outlives its bound is killed and the test fails with
//! its stderr.

mod support;

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::{
    Server, Spawned, binary_request, connect, escape, exchange, exchange_on, free_port,
    parse_binary_responses, read_until_close, run_to_exit, send_signal,
};

/// How long a start-up that must fail may take.
const FAIL_FAST: Duration = Duration::from_secs(10);
/// How long a server may take to start when no listener announces it.
const START: Duration = Duration::from_secs(30);

/// The one line of a start-up error: clap's `error: ...` or sessiond's `sessiond: ...`.
/// Panics unless there is exactly one, and nothing else but clap's usage hints.
fn error_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let errors: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("error:") || l.starts_with("sessiond:"))
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "expected exactly one error line in stderr:\n{stderr}"
    );
    for line in &lines {
        assert!(
            *line == errors[0]
                || line.starts_with("Usage:")
                || line.starts_with("For more information"),
            "unexpected line {line:?} in stderr:\n{stderr}"
        );
    }
    errors[0]
}

/// `line` names `setting`, written as a flag (`--max-memory`) or a file setting (`max_memory`).
fn names(line: &str, setting: &str) -> bool {
    let normal = |text: &str| text.replace(['-', '.'], "_");
    normal(line).contains(&normal(setting))
}

/// Runs sessiond with `args`, expecting it to refuse to start; returns its error line.
fn refused(args: &[&str]) -> String {
    let finished = run_to_exit(args, FAIL_FAST);
    assert!(
        !finished.status.success(),
        "sessiond {args:?} exited with {}; stderr:\n{}",
        finished.status,
        finished.stderr
    );
    assert!(
        !finished.stderr.contains("listening"),
        "sessiond {args:?} started listening:\n{}",
        finished.stderr
    );
    assert!(
        !finished.stderr.contains("panicked"),
        "sessiond {args:?} panicked:\n{}",
        finished.stderr
    );
    error_line(&finished.stderr).to_string()
}

fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("writing the config file");
    path
}

/// One `stats` figure.
fn stat(addr: SocketAddr, name: &str) -> String {
    let reply = String::from_utf8(exchange(addr, b"stats\r\n", true)).expect("utf-8 stats");
    reply
        .lines()
        .find_map(|line| {
            line.strip_prefix("STAT ")?
                .strip_prefix(name)?
                .strip_prefix(' ')
                .map(str::to_string)
        })
        .unwrap_or_else(|| panic!("no STAT {name} in:\n{reply}"))
}

/// The line sessiond logs once configured, e.g. `sessiond starting version="0.1.0" threads=2`.
fn starting_line(stderr: &str) -> &str {
    stderr
        .lines()
        .find(|line| line.contains("sessiond starting"))
        .unwrap_or_else(|| panic!("no 'sessiond starting' line in:\n{stderr}"))
}

/// TCP sockets in the LISTEN state that process `pid` holds, from `/proc`.
fn listening_sockets(pid: u32) -> Vec<String> {
    let mut inodes = HashSet::new();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).expect("reading /proc/PID/fd");
    for fd in fds.flatten() {
        if let Ok(target) = std::fs::read_link(fd.path())
            && let Some(inode) = target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
        {
            inodes.insert(inode.to_string());
        }
    }
    let mut found = Vec::new();
    for table in ["tcp", "tcp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address is field 1, st field 3 (0A = LISTEN), inode field 9.
            if fields.len() > 9 && fields[3] == "0A" && inodes.contains(fields[9]) {
                found.push(format!("{table} {}", fields[1]));
            }
        }
    }
    found
}

fn assert_graceful(status: std::process::ExitStatus, stderr: &str, what: &str) {
    assert!(
        status.success(),
        "{what}: sessiond exited with {status}\n{stderr}"
    );
    assert!(
        stderr.contains("stopped"),
        "{what}: no 'stopped' line:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{what}: panicked:\n{stderr}");
}

// ---------------------------------------------------------------------------------------
// Start-up errors
// ---------------------------------------------------------------------------------------

#[test]
fn a_port_in_use_stops_start_up_with_one_line_naming_the_setting_and_address() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    let addr = taken.local_addr().unwrap().to_string();
    let finished = run_to_exit(&["--memcache-listen", &addr, "--threads", "1"], FAIL_FAST);
    assert!(
        !finished.status.success(),
        "sessiond started on a port in use: {}\n{}",
        finished.status,
        finished.stderr
    );
    let last = finished
        .stderr
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or_else(|| panic!("nothing on stderr"));
    assert!(
        names(last, "memcache_listen") && last.contains(&addr),
        "the last line of stderr should name memcache_listen and {addr}: {last:?}\n{}",
        finished.stderr
    );
    assert!(
        !finished.stderr.contains("listening"),
        "{}",
        finished.stderr
    );
    drop(taken);
}

#[test]
fn bad_flag_values_are_refused_with_one_line_naming_the_setting() {
    let listen = ["--memcache-listen", "127.0.0.1:0"];
    let cases: Vec<(Vec<&str>, &str, Option<&str>)> = vec![
        (vec!["--threads", "0"], "threads", None),
        (vec!["--threads", "abc"], "threads", Some("abc")),
        (vec!["--threads", "1025"], "threads", None),
        (vec!["--max-memory", "lots"], "max_memory", Some("lots")),
        (
            vec!["--max-memory", "1023KiB", "--max-item-size", "64KiB"],
            "max_memory",
            None,
        ),
        // An item size limit given explicitly must fit in the memory limit.
        (
            vec!["--max-memory", "2MiB", "--max-item-size", "4MiB"],
            "max_item_size",
            None,
        ),
        (vec!["--max-item-size", "1"], "max_item_size", None),
        (vec!["--max-connections", "0"], "max_connections", None),
        (vec!["--idle-timeout", "soon"], "idle_timeout", Some("soon")),
        (
            vec!["--aspnet-listen", "nonsense"],
            "aspnet_listen",
            Some("nonsense"),
        ),
        (
            vec!["--sharedance-listen", "1042"],
            "sharedance_listen",
            Some("1042"),
        ),
        (
            vec!["--sharedance-expiration", "0"],
            "sharedance.expiration",
            None,
        ),
        (
            vec!["--sharedance-timeout", "soon"],
            "sharedance_timeout",
            Some("soon"),
        ),
        (
            vec!["--resp-notify-keyspace-events", "Egq"],
            "resp.notify_keyspace_events",
            None,
        ),
    ];
    for (args, setting, value) in cases {
        let args: Vec<&str> = listen.iter().copied().chain(args).collect();
        let line = refused(&args);
        assert!(
            names(&line, setting),
            "{args:?}: {line:?} does not name {setting}"
        );
        if let Some(value) = value {
            assert!(
                line.contains(value),
                "{args:?}: {line:?} does not quote {value}"
            );
        }
    }
    let line = refused(&["--memcache-listen", "nonsense"]);
    assert!(
        names(&line, "memcache_listen") && line.contains("nonsense"),
        "{line:?}"
    );
}

#[test]
fn bad_config_files_are_refused_with_one_line_naming_the_file_or_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("unknown.toml", "bogus = 1\n", Some("bogus")),
        (
            "unknown-nested.toml",
            "[memcache]\nlisten_addr = \"127.0.0.1:0\"\n",
            Some("listen_addr"),
        ),
        ("bad-size.toml", "max_memory = \"x\"\n", Some("'x'")),
        (
            "bad-listen.toml",
            "[memcache]\nlisten = \"nope\"\n",
            Some("nope"),
        ),
        ("bad-type.toml", "threads = \"two\"\n", Some("two")),
        (
            "bad-allow.toml",
            "[aspnet]\nallow = [\"10.0.0.0/33\"]\n",
            Some("10.0.0.0/33"),
        ),
        ("not-toml.toml", "threads = \n", None),
    ];
    for (name, text, quoted) in cases {
        let path = write_config(dir.path(), name, text);
        let path = path.to_str().expect("utf-8 temp path");
        let line = refused(&["--config", path, "--memcache-listen", "127.0.0.1:0"]);
        assert!(line.contains(path), "{name}: {line:?} does not name {path}");
        if let Some(quoted) = quoted {
            assert!(
                line.contains(quoted),
                "{name}: {line:?} does not say {quoted}"
            );
        }
    }

    // A value out of range is named by its setting.
    let path = write_config(dir.path(), "zero-threads.toml", "threads = 0\n");
    let line = refused(&["--config", path.to_str().unwrap()]);
    assert!(names(&line, "threads"), "{line:?}");
    let path = write_config(
        dir.path(),
        "shared-twice.toml",
        "[[aspnet.shared_sessions]]\napplications = [\"/LM/W3SVC/1/ROOT/a\"]\n\
         [[aspnet.shared_sessions]]\napplications = [\"/lm/w3svc/1/root/A\"]\n",
    );
    let line = refused(&["--config", path.to_str().unwrap()]);
    assert!(names(&line, "aspnet.shared_sessions"), "{line:?}");

    let missing = dir.path().join("missing.toml");
    let missing = missing.to_str().unwrap();
    let line = refused(&["--config", missing, "--memcache-listen", "127.0.0.1:0"]);
    assert!(line.contains(missing), "{line:?} does not name {missing}");
}

#[test]
fn start_up_errors_say_their_cause_once() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.toml");
    for args in [
        vec!["--memcache-listen", addr.as_str()],
        vec!["--config", missing.to_str().unwrap()],
    ] {
        let line = refused(&args);
        assert_eq!(
            line.matches("os error").count(),
            1,
            "{args:?}: the cause is repeated: {line:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The configuration file and flags
// ---------------------------------------------------------------------------------------

#[test]
fn the_config_file_sets_listen_threads_and_max_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let path = write_config(
        dir.path(),
        "sessiond.toml",
        &format!(
            "threads = 1\nmax_memory = \"64MiB\"\n\n[memcache]\nlisten = \"127.0.0.1:{port}\"\n\
             [aspnet]\nlisten = \"off\"\n[sharedance]\nlisten = \"off\"\n[resp]\nlisten = \"off\"\n"
        ),
    );
    let server = Server::start_raw(&["--config", path.to_str().unwrap()]);
    let addr = server.memcache_addr();
    assert_eq!(addr, SocketAddr::from(([127, 0, 0, 1], port)));
    let stderr = server.stderr();
    let line = starting_line(&stderr);
    assert!(
        line.contains("threads=1") && line.contains("max_memory=64MiB"),
        "{line}"
    );
    assert_eq!(stat(addr, "threads"), "1");
    assert_eq!(stat(addr, "limit_maxbytes"), (64u64 << 20).to_string());
    assert_eq!(
        listening_sockets(server.pid()).len(),
        1,
        "one listening socket expected"
    );
    let (status, stderr) = server.shutdown();
    assert_graceful(status, &stderr, "config file");
}

#[test]
fn flags_override_the_config_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The file names a port that stays taken: if the file won, start-up would fail.
    let taken = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    let file_addr = taken.local_addr().unwrap();
    let path = write_config(
        dir.path(),
        "sessiond.toml",
        &format!(
            "threads = 1\nmax_memory = \"64MiB\"\nidle_timeout = \"1h\"\n\n\
             [memcache]\nlisten = \"{file_addr}\"\nmax_item_size = \"1MiB\"\n"
        ),
    );
    let server = Server::start_raw(&[
        "--config",
        path.to_str().unwrap(),
        "--memcache-listen",
        "127.0.0.1:0",
        "--aspnet-listen",
        "off",
        "--sharedance-listen",
        "off",
        "--resp-listen",
        "off",
        "--threads",
        "3",
        "--max-memory",
        "32MiB",
    ]);
    let addr = server.memcache_addr();
    assert_ne!(addr, file_addr, "the file's address won over the flag");
    let stderr = server.stderr();
    let line = starting_line(&stderr);
    assert!(
        line.contains("threads=3") && line.contains("max_memory=32MiB"),
        "{line}"
    );
    assert_eq!(stat(addr, "threads"), "3");
    assert_eq!(stat(addr, "limit_maxbytes"), (32u64 << 20).to_string());
    // What no flag overrides still comes from the file: values over 1 MiB are too large.
    let mut request = format!("set cli:big 0 0 {}\r\n", (1 << 20) + 1).into_bytes();
    request.resize(request.len() + (1 << 20) + 1, b'b');
    request.extend_from_slice(b"\r\n");
    let reply = exchange(addr, &request, true);
    assert_eq!(
        escape(&reply),
        "SERVER_ERROR object too large for cache\\r\\n"
    );
    let (status, stderr) = server.shutdown();
    assert_graceful(status, &stderr, "flags over the file");
    drop(taken);
}

#[test]
fn memcache_listen_off_runs_without_a_listener_and_stops_on_sigterm() {
    let mut process = Spawned::start(&[
        "--memcache-listen",
        "off",
        "--aspnet-listen",
        "off",
        "--sharedance-listen",
        "off",
        "--resp-listen",
        "off",
        "--threads",
        "1",
    ]);
    process.wait_for_line("sessiond starting", START);
    // Nothing tells when the signal handlers are in place (see
    // `sigterm_as_soon_as_the_listener_is_announced_is_graceful`), so give them a moment.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(listening_sockets(process.pid()), Vec::<String>::new());
    process.signal(libc::SIGTERM);
    let status = process.wait(support::SHUTDOWN_TIMEOUT);
    let stderr = process.stderr();
    assert_graceful(status, &stderr, "--memcache-listen off");
    assert!(!stderr.contains("listening"), "{stderr}");
}

// ---------------------------------------------------------------------------------------
// Signals
// ---------------------------------------------------------------------------------------

#[test]
fn sigterm_and_sigint_shut_down_gracefully_closing_idle_clients() {
    for (name, signal) in [("SIGTERM", libc::SIGTERM), ("SIGINT", libc::SIGINT)] {
        let server = Server::start();
        let mut idle = connect(server.memcache_addr());
        // A round trip: the server is serving (and its signal handlers are in place).
        assert_eq!(escape(&exchange_on(&mut idle, b"", true)), "");
        send_signal(server.pid(), signal);
        let rest = read_until_close(&mut idle);
        assert_eq!(
            escape(&rest),
            "",
            "{name}: the server wrote to an idle client"
        );
        let (status, stderr) = server.wait_for_exit();
        assert_graceful(status, &stderr, name);
        assert!(stderr.contains("shutting down"), "{name}: {stderr}");
    }
}

/// Once sessiond has announced its listener, SIGTERM must shut it down gracefully: tests and
/// supervisors take the announcement as "ready".
#[test]
fn sigterm_as_soon_as_the_listener_is_announced_is_graceful() {
    for attempt in 1..=20 {
        let server = Server::start();
        let (status, stderr) = server.stop_with(libc::SIGTERM);
        assert!(
            status.success(),
            "attempt {attempt}: SIGTERM right after the listening line ended sessiond with \
             {status} (the default action: the handler was not installed yet)\n{stderr}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Help and version
// ---------------------------------------------------------------------------------------

#[test]
fn help_lists_the_flags() {
    let finished = run_to_exit(&["--help"], FAIL_FAST);
    assert!(finished.status.success(), "{}", finished.stderr);
    for flag in [
        "--config",
        "--memcache-listen",
        "--threads",
        "--max-memory",
        "--max-connections",
        "--max-item-size",
        "--idle-timeout",
        "--log",
        "--help",
        "--version",
    ] {
        assert!(
            finished.stdout.contains(flag),
            "--help does not mention {flag}:\n{}",
            finished.stdout
        );
    }
}

#[test]
fn version_prints_the_version() {
    let finished = run_to_exit(&["--version"], FAIL_FAST);
    assert!(finished.status.success(), "{}", finished.stderr);
    assert_eq!(
        finished.stdout,
        format!("sessiond {}\n", env!("CARGO_PKG_VERSION"))
    );
}

// ---------------------------------------------------------------------------------------
// The memory limit
// ---------------------------------------------------------------------------------------

const OUT_OF_MEMORY: &str = "SERVER_ERROR out of memory storing object\r\n";
const BINARY_SET: u8 = 0x01;
const BINARY_ENOMEM: u16 = 0x0082;

fn value_for(i: usize) -> Vec<u8> {
    format!("{i:06}:")
        .bytes()
        .cycle()
        .take(4096)
        .collect::<Vec<u8>>()
}

fn text_set(stream: &mut TcpStream, key: &str, value: &[u8]) -> String {
    let mut request = format!("set {key} 0 0 {}\r\n", value.len()).into_bytes();
    request.extend_from_slice(value);
    request.extend_from_slice(b"\r\n");
    String::from_utf8_lossy(&exchange_on(stream, &request, true)).into_owned()
}

fn binary_set_status(stream: &mut TcpStream, key: &str, value: &[u8]) -> u16 {
    let request = binary_request(BINARY_SET, key.as_bytes(), &[0; 8], value, 1, None);
    let responses = parse_binary_responses(&exchange_on(stream, &request, false));
    assert_eq!(responses.len(), 1, "{responses:?}");
    responses[0].status
}

/// Every key in `keys` reads back its value.
fn assert_all_readable(stream: &mut TcpStream, keys: &[(String, Vec<u8>)], when: &str) {
    for batch in keys.chunks(50) {
        let names: Vec<&str> = batch.iter().map(|(key, _)| key.as_str()).collect();
        let reply = exchange_on(
            stream,
            format!("get {}\r\n", names.join(" ")).as_bytes(),
            true,
        );
        let mut expected = Vec::new();
        for (key, value) in batch {
            expected.extend_from_slice(format!("VALUE {key} 0 {}\r\n", value.len()).as_bytes());
            expected.extend_from_slice(value);
            expected.extend_from_slice(b"\r\n");
        }
        expected.extend_from_slice(b"END\r\n");
        assert!(
            reply == expected,
            "{when}: keys {}..{} did not all read back",
            names[0],
            names[names.len() - 1]
        );
    }
}

#[test]
fn the_memory_limit_refuses_writes_and_evicts_nothing() {
    let server = Server::start_with(&["--max-memory", "2MiB", "--max-item-size", "64KiB"]);
    let addr = server.memcache_addr();
    let mut stream = connect(addr);
    // A connection speaks the protocol of its first byte: binary needs its own.
    let mut binary = connect(addr);

    let mut stored: Vec<(String, Vec<u8>)> = Vec::new();
    let refusal = loop {
        let i = stored.len();
        assert!(i < 2000, "2000 values of 4 KiB stored under a 2 MiB limit");
        let key = format!("cli:mem:{i:06}");
        let value = value_for(i);
        let reply = text_set(&mut stream, &key, &value);
        if reply == "STORED\r\n" {
            stored.push((key, value));
        } else {
            break (key, reply);
        }
    };
    let (refused_key, reply) = refusal;
    assert_eq!(
        reply,
        OUT_OF_MEMORY,
        "reply to write {} past the limit",
        stored.len()
    );
    assert!(
        stored.len() > 100,
        "only {} values of 4 KiB fit in 2 MiB",
        stored.len()
    );
    // Refused again, over both protocols.
    assert_eq!(
        text_set(&mut stream, "cli:mem:again", &value_for(0)),
        OUT_OF_MEMORY
    );
    assert_eq!(
        binary_set_status(&mut binary, "cli:mem:binary", &value_for(1)),
        BINARY_ENOMEM
    );
    for key in [refused_key.as_str(), "cli:mem:again", "cli:mem:binary"] {
        let reply = exchange_on(&mut stream, format!("get {key}\r\n").as_bytes(), true);
        assert_eq!(escape(&reply), "END\\r\\n", "refused {key} exists");
    }

    assert_all_readable(&mut stream, &stored, "at the limit");
    assert_eq!(stat(addr, "evictions"), "0");
    assert_eq!(stat(addr, "curr_items"), stored.len().to_string());
    let rejected: u64 = stat(addr, "rejected_writes").parse().expect("a number");
    assert!(rejected >= 3, "rejected_writes {rejected}");

    // Deleting makes room again.
    for (key, _) in stored.drain(..10) {
        let reply = exchange_on(&mut stream, format!("delete {key}\r\n").as_bytes(), true);
        assert_eq!(escape(&reply), "DELETED\\r\\n");
    }
    let value = value_for(1_000_000);
    assert_eq!(text_set(&mut stream, "cli:mem:after", &value), "STORED\r\n");
    stored.push(("cli:mem:after".to_string(), value));
    assert_eq!(
        binary_set_status(&mut binary, "cli:mem:after-binary", &value_for(1_000_001)),
        0
    );
    stored.push(("cli:mem:after-binary".to_string(), value_for(1_000_001)));
    assert_all_readable(&mut stream, &stored, "after deleting some");
    assert_eq!(stat(addr, "evictions"), "0");

    drop((stream, binary));
    let (status, stderr) = server.shutdown();
    assert_graceful(status, &stderr, "memory limit");
}
