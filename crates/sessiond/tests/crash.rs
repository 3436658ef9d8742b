//! Crash tests with the real binary (issue 4): `kill -9` at random moments while clients
//! write, restart on the same data directory, and check that what was acknowledged is there.
//!
//! Each cycle starts sessiond on the data directory, runs four memcached-text writers (sets
//! and deletes of their own keys) and one ASP.NET writer (locks, writes and releases of its own
//! sessions), kills the server with SIGKILL 50 to 400 ms in, checks the directory offline with
//! `sessiond check-data`, restarts the server and compares what it holds with every write's
//! fate (see `crash/harness.rs` for the rule). The delays, keys and operations come from a
//! seeded generator; the seed is printed, and `SESSIOND_CRASH_SEED=<seed>` replays the same
//! choices (the interleaving with the server is the machine's).
//!
//! Run with `--nocapture` to see the seed and one line per kill.

mod support;

#[path = "crash/harness.rs"]
mod harness;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use harness::{
    Lock, Rng, SESSIONS, SLOTS, SessionOp, SessionState, check_keys, check_sessions,
    create_sessions, key_writer, kill_9, observe_session, read_keys, record_offsets, segments,
    server_args, server_args_with_config, session_writer, spawn, start, state_client,
};
use support::cluster::wait_for;
use support::{connect, escape, exchange_on, run_to_exit};

/// memcached writer threads.
const WRITERS: usize = 4;
/// Kills per fsync policy.
const KILLS: usize = 20;
/// How long an offline check or a start-up that must fail may take.
const BOUND: Duration = Duration::from_secs(30);

#[test]
fn kill_9_under_fsync_always_loses_no_acknowledged_write() {
    crash_cycles("always");
}

#[test]
fn kill_9_under_fsync_everysec_loses_at_most_the_last_second() {
    crash_cycles("everysec");
}

fn crash_cycles(policy: &str) {
    let seed = harness::seed();
    println!("--fsync {policy}: seed {seed} (SESSIOND_CRASH_SEED={seed} replays the choices)");
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().expect("a temporary data directory");
    let dir = dir.path();

    let mut server = start(dir, policy);
    let mut client = state_client(server.aspnet_addr());
    create_sessions(&mut client);
    let mut session_base = Vec::new();
    let mut cookie_base = Vec::new();
    for session in 0..SESSIONS {
        let seen = observe_session(&mut client, session);
        session_base.push(SessionState {
            lock: Lock::Free,
            data: seen.data,
        });
        cookie_base.push(seen.check_cookie);
    }
    let mut key_base: Vec<Vec<Option<Vec<u8>>>> = vec![vec![None; SLOTS]; WRITERS];
    let mut seq = [0u64; WRITERS + 1];
    let (mut acked_total, mut lost_total, mut locks_kept) = (0, 0, 0);
    let mut oldest_lost = Duration::ZERO;
    let mut backwards = Vec::new();

    for cycle in 0..KILLS {
        let stop = Arc::new(AtomicBool::new(false));
        let memcache = server.memcache_addr();
        let aspnet = server.aspnet_addr();
        let key_writers: Vec<_> = (0..WRITERS)
            .map(|t| {
                let (rng, stop) = (rng.fork(t as u64), Arc::clone(&stop));
                let first = seq[t];
                spawn(format!("writer-{t}"), move || {
                    key_writer(memcache, t, first, rng, stop)
                })
            })
            .collect();
        let session_writer = {
            let (rng, stop) = (rng.fork(WRITERS as u64), Arc::clone(&stop));
            let first = seq[WRITERS];
            spawn("aspnet-writer".into(), move || {
                session_writer(aspnet, first, rng, stop)
            })
        };
        let delay = Duration::from_millis(rng.between(50, 400));
        thread::sleep(delay);
        let (killed, _) = kill_9(server);
        stop.store(true, Ordering::Relaxed);
        let key_logs: Vec<_> = key_writers
            .into_iter()
            .map(|w| w.join().expect("a memcached writer panicked"))
            .collect();
        let session_log = session_writer.join().expect("the ASP.NET writer panicked");
        for (t, log) in key_logs.iter().enumerate() {
            assert!(log.anomaly.is_none(), "writer {t}: {:?}", log.anomaly);
            seq[t] += log.writes.len() as u64;
        }
        assert!(
            session_log.anomaly.is_none(),
            "ASP.NET writer: {:?}",
            session_log.anomaly
        );
        seq[WRITERS] += session_log.writes.len() as u64;

        check_data_accepts(dir);

        server = start(dir, policy);
        let recovered = server
            .stderr()
            .lines()
            .find(|line| line.contains("recovered "))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no recovery report before ready:\n{}", server.stderr()));

        let mut summary = Vec::new();
        for (t, log) in key_logs.iter().enumerate() {
            let found = read_keys(server.memcache_addr(), t);
            let seen: Vec<Option<Vec<u8>>> =
                (0..SLOTS).map(|slot| found.get(&slot).cloned()).collect();
            let survival = check_keys(t, &key_base[t], &seen, log, policy, killed);
            acked_total += survival.acked;
            lost_total += survival.acked.saturating_sub(survival.kept);
            oldest_lost = oldest_lost.max(survival.oldest_lost_age.unwrap_or_default());
            summary.push(describe(&survival));
            key_base[t] = seen;
        }

        let mut client = state_client(server.aspnet_addr());
        let seen: Vec<_> = (0..SESSIONS)
            .map(|session| observe_session(&mut client, session))
            .collect();
        let survival = check_sessions(
            &session_base,
            &cookie_base,
            &seen,
            &session_log,
            policy,
            killed,
        );
        let mut locked_at_kill = 0;
        for (session, seen) in seen.iter().enumerate() {
            // The last cookie handed out for the session before the check's own acquire.
            let acked_acquires = session_log.writes.iter().filter(|w| {
                w.session == session && w.kind == SessionOp::Acquire && w.acked.is_some()
            });
            let last = acked_acquires
                .clone()
                .filter_map(|w| w.acked.map(|(_, cookie)| cookie))
                .chain([cookie_base[session]])
                .chain(seen.locked)
                .max()
                .unwrap_or(0);
            if seen.check_cookie <= last {
                backwards.push(format!(
                    "kill {}: session {session}: an acquire after the restart got cookie {}, \
                     not above the {last} handed out before the kill",
                    cycle + 1,
                    seen.check_cookie
                ));
            }
            let held = session_log
                .writes
                .iter()
                .rfind(|w| w.session == session && w.acked.is_some())
                .is_some_and(|w| w.kind == SessionOp::Acquire);
            if held {
                locked_at_kill += 1;
                if seen.locked.is_some() {
                    locks_kept += 1;
                }
            }
            session_base[session] = SessionState {
                lock: Lock::Free,
                data: seen.data.clone(),
            };
            cookie_base[session] = seen.check_cookie;
        }
        acked_total += survival.acked;
        lost_total += survival.acked.saturating_sub(survival.kept);
        oldest_lost = oldest_lost.max(survival.oldest_lost_age.unwrap_or_default());
        println!(
            "kill {}/{KILLS} after {delay:?}: memcached writers {}; ASP.NET {}, {locked_at_kill} \
             of {SESSIONS} sessions locked at the kill | {}",
            cycle + 1,
            summary.join(", "),
            describe(&survival),
            recovered.trim()
        );
    }
    let (status, _) = server.shutdown();
    assert!(status.success(), "sessiond exited with {status} on SIGTERM");
    let lost = match lost_total {
        0 => "none of them lost".to_string(),
        n => format!("{n} of them lost, acknowledged at most {oldest_lost:?} before the kill"),
    };
    println!(
        "--fsync {policy}: {KILLS} kills, {acked_total} acknowledged writes, {lost}; \
         {locks_kept} acknowledged locks found held after a restart (seed {seed})"
    );
    // Checked last, so that a run shows everything that went wrong: a lock cookie handed out
    // again lets the request that held the lost lock write over the next holder's session.
    assert!(
        backwards.is_empty(),
        "--fsync {policy}: lock cookies went backwards {} times in {KILLS} kills (seed {seed}):\n{}",
        backwards.len(),
        backwards.join("\n")
    );
    assert!(
        acked_total > 0,
        "no write was acknowledged in {KILLS} cycles"
    );
    if policy == "always" {
        assert_eq!(lost_total, 0, "checked per cycle above");
        assert!(
            locks_kept > 0,
            "no session was locked at any of the {KILLS} kills: the lock check never ran"
        );
    }
}

fn describe(survival: &harness::Survival) -> String {
    let lost = survival.acked.saturating_sub(survival.kept);
    let mut text = format!(
        "{}/{} acked kept ({} had to be)",
        survival.acked - lost,
        survival.acked,
        survival.required
    );
    if let Some(age) = survival.oldest_lost_age {
        text.push_str(&format!(
            ", lost {lost}, the oldest acked {age:.0?} before the kill"
        ));
    }
    text
}

/// `sessiond check-data DIR` exits 0.
fn check_data_accepts(dir: &Path) {
    let dir_arg = dir.to_str().expect("a UTF-8 path");
    let check = run_to_exit(&["check-data", dir_arg], BOUND);
    assert!(
        check.status.success(),
        "sessiond check-data {dir_arg} exited with {} on a directory left by kill -9\n\
         --- stdout ---\n{}--- stderr ---\n{}",
        check.status,
        check.stdout,
        check.stderr
    );
}

/// Sets `key` to `value` on an open memcached connection; panics unless it is STORED.
fn set(stream: &mut std::net::TcpStream, key: &str, value: &str) {
    let request = format!("set {key} 0 0 {}\r\n{value}\r\n", value.len());
    let reply = exchange_on(stream, request.as_bytes(), true);
    assert_eq!(reply, b"STORED\r\n", "set {key}: {}", escape(&reply));
}

/// The value of `key`, if the server has it.
fn get(stream: &mut std::net::TcpStream, key: &str) -> Option<String> {
    let reply = exchange_on(stream, format!("get {key}\r\n").as_bytes(), true);
    let reply = String::from_utf8(reply).expect("an ASCII reply");
    if reply == "END\r\n" {
        return None;
    }
    let mut lines = reply.split("\r\n");
    let header = lines.next().unwrap_or_default();
    assert!(header.starts_with(&format!("VALUE {key} ")), "{reply:?}");
    Some(lines.next().unwrap_or_default().to_owned())
}

#[test]
fn check_data_accepts_a_directory_left_by_kill_9_and_a_second_server_is_refused() {
    let dir = tempfile::tempdir().expect("a temporary data directory");
    let dir = dir.path();
    let dir_arg = dir.to_str().expect("a UTF-8 path");
    let server = start(dir, "always");
    let mut stream = connect(server.memcache_addr());
    for i in 0..50 {
        set(&mut stream, &format!("kept-{i}"), &format!("value-{i}"));
    }

    // A second server on the same directory, while the first runs.
    let args = server_args(dir, "always");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let second = run_to_exit(&args, BOUND);
    assert!(
        !second.status.success(),
        "a second sessiond on {dir_arg} started ({})\n{}",
        second.status,
        second.stderr
    );
    assert!(
        second.stderr.contains(dir_arg),
        "the refusal does not name the data directory {dir_arg}:\n{}",
        second.stderr
    );
    assert!(
        !second.stderr.contains(" ready"),
        "the second sessiond said it was ready:\n{}",
        second.stderr
    );
    // The first one is unaffected.
    assert_eq!(get(&mut stream, "kept-7").as_deref(), Some("value-7"));

    drop(stream);
    kill_9(server);
    let check = run_to_exit(&["check-data", dir_arg], BOUND);
    assert!(
        check.status.success(),
        "check-data exited with {} on a directory left by kill -9\n--- stdout ---\n{}--- stderr ---\n{}",
        check.status,
        check.stdout,
        check.stderr
    );
    println!("check-data after kill -9:\n{}", check.stdout);

    // And the directory is usable: everything acknowledged is there.
    let server = start(dir, "always");
    let mut stream = connect(server.memcache_addr());
    for i in 0..50 {
        assert_eq!(
            get(&mut stream, &format!("kept-{i}")),
            Some(format!("value-{i}")),
            "kept-{i} after kill -9 and restart"
        );
    }
    drop(stream);
    let (status, _) = server.shutdown();
    assert!(status.success());
}

/// A heavy write load does not wait for the timed snapshot (10 minutes by default): once the
/// log passes `snapshot_log_size` a snapshot is taken and the log before it removed, so the
/// log cannot fill the disk or make recovery long in between.
#[test]
fn a_log_past_snapshot_log_size_is_snapshotted_without_waiting_for_the_interval() {
    let dir = tempfile::tempdir().expect("a temporary data directory");
    let dir = dir.path();
    let data = dir.join("data");
    let args = server_args_with_config(dir, "no", "snapshot_log_size = \"128MiB\"\n");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = support::Server::start_raw(&args);
    let mut stream = connect(server.memcache_addr());
    // 160 MiB of values: more than two 64 MiB segments past the limit.
    let value = "v".repeat(1 << 20);
    for i in 0..160 {
        set(&mut stream, &format!("big-{i}"), &value);
    }
    let deadline = std::time::Instant::now() + BOUND;
    loop {
        let snapshots = std::fs::read_dir(&data)
            .expect("listing the data directory")
            .filter_map(Result::ok)
            .filter(|entry| {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                name.starts_with("snapshot-") && name.ends_with(".snap")
            })
            .count();
        if snapshots > 0 && segments(&data).len() <= 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no snapshot within {BOUND:?} of the log passing 128 MiB: {} segments\n{}",
            segments(&data).len(),
            server.stderr()
        );
        thread::sleep(Duration::from_millis(100));
    }
    assert!(server.stderr().contains("the log passed snapshot_log_size"));
    drop(stream);
    let (status, stderr) = server.shutdown();
    assert!(status.success(), "stopping sessiond: {status}\n{stderr}");

    // Everything is still there after a restart from the snapshot and the log after it.
    let server = support::Server::start_raw(&args);
    let mut stream = connect(server.memcache_addr());
    for i in [0, 80, 159] {
        assert_eq!(
            get(&mut stream, &format!("big-{i}")).map(|v| v.len()),
            Some(1 << 20)
        );
    }
    drop(stream);
    let (status, _) = server.shutdown();
    assert!(status.success());
}

/// Starts a server on `dir`, stores `kept-0` .. `kept-{n-1}` one by one, stops it with SIGTERM.
/// Returns the newest log segment.
fn fill_and_stop(dir: &Path, n: usize) -> std::path::PathBuf {
    let server = start(dir, "always");
    let mut stream = connect(server.memcache_addr());
    for i in 0..n {
        set(&mut stream, &format!("kept-{i}"), &format!("value-{i}"));
    }
    drop(stream);
    let (status, stderr) = server.shutdown();
    assert!(status.success(), "stopping sessiond: {status}\n{stderr}");
    segments(dir)
        .pop()
        .unwrap_or_else(|| panic!("no log segment in {}", dir.display()))
}

#[test]
fn a_torn_tail_is_cut_with_a_warning_and_damage_before_it_stops_start_up() {
    // --- a torn tail: the last record cut short, as a crash mid-write leaves it ------------
    let dir = tempfile::tempdir().expect("a temporary data directory");
    let dir = dir.path();
    let newest = fill_and_stop(dir, 20);
    let bytes = std::fs::read(&newest).expect("reading the segment");
    let torn_len = bytes.len() - 3;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&newest)
        .and_then(|f| f.set_len(torn_len as u64))
        .expect("truncating the segment");
    let (_, good_end) = record_offsets(&bytes[..torn_len]);
    assert!(good_end < torn_len, "the cut left no partial record");

    let server = start(dir, "always");
    let stderr = server.stderr();
    let file = newest.to_str().expect("a UTF-8 path");
    let warning = stderr
        .lines()
        .find(|line| line.contains("WARN") && line.contains(file))
        .unwrap_or_else(|| panic!("no warning naming {file}:\n{stderr}"));
    let offset = good_end.to_string();
    assert!(
        warning
            .split(|c: char| !c.is_ascii_digit())
            .any(|number| number == offset),
        "the warning does not name the offset {offset} of the last good record: {warning}"
    );
    let mut stream = connect(server.memcache_addr());
    for i in 0..19 {
        assert_eq!(
            get(&mut stream, &format!("kept-{i}")),
            Some(format!("value-{i}")),
            "kept-{i}, written before the torn record"
        );
    }
    assert_eq!(
        get(&mut stream, "kept-19"),
        None,
        "kept-19 was in the torn record"
    );
    drop(stream);
    let (status, _) = server.shutdown();
    assert!(status.success());

    // --- damage in the middle: a flipped byte in a record with good records after it -------
    let dir = tempfile::tempdir().expect("a temporary data directory");
    let dir = dir.path();
    let dir_arg = dir.to_str().expect("a UTF-8 path");
    let newest = fill_and_stop(dir, 20);
    let mut bytes = std::fs::read(&newest).expect("reading the segment");
    let (starts, _) = record_offsets(&bytes);
    assert!(
        starts.len() >= 20,
        "{} records in {}",
        starts.len(),
        newest.display()
    );
    let victim = starts[starts.len() / 2];
    let next = starts[starts.len() / 2 + 1];
    let flip = victim + 8 + (next - victim - 8) / 2;
    bytes[flip] ^= 0x20;
    std::fs::write(&newest, &bytes).expect("writing the damaged segment");
    let before = snapshot_files(dir);

    let args = server_args(dir, "always");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let failed = run_to_exit(&args, BOUND);
    let file = newest.to_str().expect("a UTF-8 path");
    assert!(
        !failed.status.success() && !failed.stderr.contains(" ready"),
        "sessiond started on a log damaged at byte {flip} of {file}\n{}",
        failed.stderr
    );
    let error = failed
        .stderr
        .lines()
        .find(|line| line.contains(file))
        .unwrap_or_else(|| panic!("the error does not name {file}:\n{}", failed.stderr));
    assert!(
        error.contains(&format!("sessiond check-data {dir_arg}")),
        "the error does not say to run check-data: {error}"
    );
    assert!(
        error.contains("backup") && error.contains("move it aside"),
        "the error does not say how to get going again: {error}"
    );
    assert_eq!(
        snapshot_files(dir),
        before,
        "the refused start-up changed the data directory"
    );
    let check = run_to_exit(&["check-data", dir_arg], BOUND);
    assert!(
        !check.status.success() && check.stdout.contains(file),
        "check-data on the damaged directory: {}\n--- stdout ---\n{}--- stderr ---\n{}",
        check.status,
        check.stdout,
        check.stderr
    );
}

/// Every log segment and snapshot of `dir` with its bytes.
fn snapshot_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("listing the data directory")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".log") || n.contains(".snap"))
        })
        .map(|path| {
            let bytes = std::fs::read(&path).expect("reading a data file");
            (path.display().to_string(), bytes)
        })
        .collect();
    files.sort();
    files
}

/// The timed snapshot follows changes: it is taken once the store changed, and skipped while
/// nothing did, so a quiet server with a large store does not rewrite it whole every
/// `snapshot_interval`.
#[test]
fn the_timed_snapshot_is_taken_after_changes_and_skipped_while_the_store_is_quiet() {
    let dir = tempfile::tempdir().expect("a temporary data directory");
    let dir = dir.path();
    let args = server_args_with_config(dir, "everysec", "snapshot_interval = \"1s\"\n");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = support::Server::start_raw(&args);
    let written = |server: &support::Server| server.stderr().matches("snapshot written").count();
    let mut stream = connect(server.memcache_addr());

    // A line of the snapshot thread's, which comes after the storage layer's own.
    let snapshot_of = |server: &support::Server, items: &str| {
        server
            .stderr()
            .lines()
            .any(|line| line.contains("snapshot written") && line.contains(items))
    };
    set(&mut stream, "first", "1");
    wait_for("a timed snapshot of the first item", BOUND, || {
        snapshot_of(&server, "items=1 ").then_some(())
    });
    let after_first = written(&server);

    // Three intervals with nothing written: nothing to snapshot. One more may come first, if
    // the write landed while the snapshot above was being copied (it shows the item, but
    // began before its record).
    thread::sleep(Duration::from_millis(3500));
    assert!(written(&server) <= after_first + 1, "{}", server.stderr());

    set(&mut stream, "second", "2");
    wait_for("a timed snapshot after the second item", BOUND, || {
        snapshot_of(&server, "items=2 ").then_some(())
    });
    drop(stream);
    let (status, stderr) = server.shutdown();
    assert!(status.success(), "stopping sessiond: {status}\n{stderr}");
}
