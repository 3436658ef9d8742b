//! PHP sessions on a three-node cluster (issue 5): php-memcached's session handler with a
//! `session.save_path` listing all three nodes keeps its sessions while a node dies.
//!
//! Three real `sessiond` nodes, six sessions, each driven by its own simulated user: one page
//! request after another (`tests/e2e/php/farm_request.php`: `session_start()` with
//! php-memcached's lock, counter + 1, `session_write_close()`), three sessions over the binary
//! protocol and three over text. Then the leader is killed with SIGKILL, later restarted; then a
//! follower. A user whose request fails reloads the page; what every user sees must add up:
//! a counter never shows less than the last increment that was acknowledged, nor more than the
//! requests that might have landed allow.
//!
//! What php-memcached does with a host list (3.2 on libmemcached 1.1, as measured here):
//! - It hashes each key to one server (ketama), the session's key and its lock key
//!   (`lock.ID`) separately. Every sessiond node serves every key (followers relay to the
//!   leader), so whichever node a key lands on holds the same session.
//! - A node that refuses a connection: with `sess_remove_failed_servers=1` and
//!   `sess_server_failure_limit=1` the handler drops it from the ring for the rest of the
//!   request after its first failure, and writing the lock is retried on another node. Reading
//!   the session is not retried: while a node is down, a request for a session whose key
//!   hashes to that node fails ("Failed to read session data"), and it works again once the
//!   node is back. Sessions that hash elsewhere go on. So the test requires progress while a
//!   node is down only from sessions whose key does not hash to it, and from every session
//!   once it is back.
//! - `sess_number_of_replicas` stays 0: every node already holds every session, and replicas
//!   would send each write, lock and unlock to the same store again as quiet commands through
//!   other nodes, to land in any order with later requests.
//! - `sess_persistent` stays 0: with persistent connections libmemcached 1.1.4 never puts a
//!   removed server back (php-memcached sets no dead timeout), so a worker keeps failing the
//!   sessions of a node even after it returned.
//! - A lock whose release was lost with a dying node is waited out until it expires
//!   (`sess_lock_expire`, a few seconds here); one user makes one request at a time, so
//!   nothing else can take the session in between.
//!
//! Requires `php` with the memcached extension, like `php_sessions.rs`.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use support::cluster::{Node, cluster, leader, wait_for, wait_rejoined};
use support::php::{Php, new_session_id, session_settings};

const SECRET: &str = "the cluster secret of the PHP farm test";
const SESSION_PREFIX: &str = "memc.sess.key.";
/// Sessions whose key hashes to each node: one over the binary protocol, one over text.
const SESSIONS_PER_NODE: usize = 2;
/// Acknowledged requests every session that should make progress must add in each step.
const PROGRESS: u64 = 3;
/// Bound on each step (warm-up, failover, rejoining, recovery).
const STEP_BOUND: Duration = Duration::from_secs(30);
/// Bound on one PHP request.
const REQUEST_BOUND: Duration = Duration::from_secs(30);
/// A user's pause between pages, and before reloading a page that failed.
const THINK: Duration = Duration::from_millis(30);
const RELOAD_AFTER: Duration = Duration::from_millis(200);

const INSTALL_HINT: &str = "the PHP end-to-end tests need `php` with the memcached extension: \
     run the test command from the README, which installs them \
     (apt-get install -y memcached php-cli php-memcached)";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proto {
    Binary,
    Text,
}

/// The `php -d` settings of a web server whose `session.save_path` lists `servers`.
fn php_settings(servers: &[SocketAddr], proto: Proto) -> Vec<String> {
    let save_path = servers
        .iter()
        .map(SocketAddr::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let handler = [
        "session.save_handler=memcached",
        &format!("session.save_path={save_path}"),
        "session.lazy_write=1",
        &format!("memcached.sess_prefix={SESSION_PREFIX}"),
        "memcached.sess_locking=1",
        "memcached.sess_lock_wait_min=20",
        "memcached.sess_lock_wait_max=200",
        // About 5.5 s of waiting, more than a lock lost with a dead node lives.
        "memcached.sess_lock_retries=30",
        "memcached.sess_lock_expire=3",
        match proto {
            Proto::Binary => "memcached.sess_binary_protocol=1",
            Proto::Text => "memcached.sess_binary_protocol=0",
        },
        "memcached.sess_consistent_hash=1",
        "memcached.sess_consistent_hash_type=ketama",
        "memcached.sess_number_of_replicas=0",
        "memcached.sess_remove_failed_servers=1",
        "memcached.sess_server_failure_limit=1",
        "memcached.sess_persistent=0",
    ]
    .map(str::to_owned);
    session_settings(&handler)
}

/// What one page request saw.
#[derive(Debug)]
enum Page {
    /// The session was read (its counter held `before`) and the write was acknowledged.
    Acknowledged { before: u64 },
    /// The session was read (`before`), but PHP reported the write failed: the increment
    /// may or may not have landed.
    Unknown { warning: String },
    /// `session_start()` failed: nothing was read or written.
    Failed { warning: String },
}

/// Runs `farm_request.php ARGS` with `settings` and returns its stdout.
fn run_php(settings: &[String], args: &[&str]) -> String {
    Php::spawn(
        settings,
        "farm_request.php",
        args,
        format!("php farm_request.php {}", args.join(" ")),
        INSTALL_HINT,
    )
    .finish(Instant::now() + REQUEST_BOUND)
}

/// One page request for session `id`.
fn page(settings: &[String], id: &str) -> Page {
    let stdout = run_php(settings, &[id]);
    let reply: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("farm_request.php printed no JSON ({e}): {stdout:?}"));
    // The first warning says what went wrong first; the ones after, what was retried.
    let warning = reply["warnings"]
        .as_array()
        .and_then(|warnings| warnings.first())
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned();
    match (
        reply["started"].as_bool(),
        reply["before"].as_u64(),
        reply["written"].as_bool(),
    ) {
        (Some(true), Some(before), Some(true)) => Page::Acknowledged { before },
        (Some(true), Some(_), Some(false)) => Page::Unknown { warning },
        (Some(false), _, _) => Page::Failed { warning },
        _ => panic!("farm_request.php: unexpected reply {stdout:?}"),
    }
}

/// What the user of one session has seen so far.
#[derive(Default)]
struct Ledger {
    acknowledged: u64,
    /// The counter after the last acknowledged increment.
    floor: u64,
    /// Requests since then whose write PHP reported failed: each may have landed.
    unknown: u64,
    unknown_total: u64,
    failed: u64,
    /// The first warning of the last request that did not go through.
    last_failure: String,
    /// Everything the user saw that cannot be.
    violations: Vec<String>,
}

struct Session {
    id: String,
    proto: Proto,
    /// The node its key hashes to.
    node: usize,
    ledger: Mutex<Ledger>,
}

impl Session {
    /// One page request; checks what it saw against what was acknowledged before.
    fn request(&self, settings: &[String]) -> bool {
        let page = page(settings, &self.id);
        let mut ledger = self.ledger.lock().unwrap();
        match page {
            Page::Acknowledged { before } => {
                if before < ledger.floor {
                    let message = format!(
                        "session {} ({:?}): the counter read {before} after the increment to {} \
                         was acknowledged: an acknowledged increment was lost",
                        self.id, self.proto, ledger.floor
                    );
                    ledger.violations.push(message);
                } else if before > ledger.floor + ledger.unknown {
                    let message = format!(
                        "session {} ({:?}): the counter read {before}, but only {} was \
                         acknowledged and {} more requests might have landed",
                        self.id, self.proto, ledger.floor, ledger.unknown
                    );
                    ledger.violations.push(message);
                }
                ledger.floor = before + 1;
                ledger.unknown = 0;
                ledger.acknowledged += 1;
                true
            }
            Page::Unknown { warning } => {
                ledger.unknown += 1;
                ledger.unknown_total += 1;
                ledger.last_failure = warning;
                false
            }
            Page::Failed { warning } => {
                ledger.failed += 1;
                ledger.last_failure = warning;
                false
            }
        }
    }

    fn acknowledged(&self) -> u64 {
        self.ledger.lock().unwrap().acknowledged
    }
}

/// The simulated users, one thread per session, each with its own web server settings.
struct Farm {
    sessions: Vec<Arc<Session>>,
    stop: Arc<AtomicBool>,
    users: Vec<JoinHandle<()>>,
}

impl Farm {
    fn start(sessions: Vec<Session>, servers: &[SocketAddr]) -> Farm {
        let sessions: Vec<Arc<Session>> = sessions.into_iter().map(Arc::new).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let users = sessions
            .iter()
            .map(|session| {
                let (session, stop) = (session.clone(), stop.clone());
                let settings = php_settings(servers, session.proto);
                thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let acknowledged = session.request(&settings);
                        thread::sleep(if acknowledged { THINK } else { RELOAD_AFTER });
                    }
                })
            })
            .collect();
        Farm {
            sessions,
            stop,
            users,
        }
    }

    /// Waits until every session for which `expected` holds has had `PROGRESS` more
    /// requests acknowledged.
    fn wait_progress(&mut self, what: &str, expected: impl Fn(&Session) -> bool) {
        let marks: Vec<u64> = self.sessions.iter().map(|s| s.acknowledged()).collect();
        let started = Instant::now();
        let (sessions, users) = (&self.sessions, &self.users);
        wait_for(what, STEP_BOUND, || {
            // A user thread ends only by panicking (a PHP script that could not run).
            if users.iter().any(JoinHandle::is_finished) {
                return Some(());
            }
            sessions
                .iter()
                .zip(&marks)
                .all(|(session, &mark)| {
                    !expected(session) || session.acknowledged() >= mark + PROGRESS
                })
                .then_some(())
        });
        if self.users.iter().any(JoinHandle::is_finished) {
            self.stop_users();
        }
        eprintln!("{what}: {:.1?}", started.elapsed());
    }

    /// Stops the users, passing on the panic of any that failed.
    fn stop_users(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for user in self.users.drain(..) {
            if let Err(panic) = user.join() {
                std::panic::resume_unwind(panic);
            }
        }
    }

    fn report(&self) {
        for session in &self.sessions {
            let ledger = session.ledger.lock().unwrap();
            eprintln!(
                "  session {} ({:?}, hashes to node {}): {} acknowledged, {} unknown, {} failed; \
                 counter at least {}{}",
                session.id,
                session.proto,
                session.node + 1,
                ledger.acknowledged,
                ledger.unknown_total,
                ledger.failed,
                ledger.floor,
                if ledger.last_failure.is_empty() {
                    String::new()
                } else {
                    format!("; last failure: {}", ledger.last_failure)
                }
            );
        }
    }
}

impl Drop for Farm {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for user in self.users.drain(..) {
            let _ = user.join();
        }
    }
}

/// Picks `SESSIONS_PER_NODE` session ids whose key php-memcached hashes to each node.
fn sessions_on_every_node(nodes: &[Node]) -> Vec<Session> {
    let servers: Vec<SocketAddr> = nodes.iter().map(|node| node.memcache).collect();
    let settings = php_settings(&servers, Proto::Binary);
    let mut chosen: Vec<Vec<String>> = vec![Vec::new(); nodes.len()];
    for _ in 0..20 {
        let candidates: Vec<String> = (0..30).map(|_| new_session_id()).collect();
        let mut args = vec!["--servers"];
        args.extend(candidates.iter().map(String::as_str));
        for line in run_php(&settings, &args).lines() {
            let mut fields = line.split_whitespace();
            let (Some(id), Some(data)) = (fields.next(), fields.next()) else {
                panic!("farm_request.php --servers printed {line:?}");
            };
            let node = servers
                .iter()
                .position(|server| server.to_string() == data)
                .unwrap_or_else(|| panic!("{id} hashes to {data}, not a node"));
            if chosen[node].len() < SESSIONS_PER_NODE {
                chosen[node].push(id.to_owned());
            }
        }
        if chosen.iter().all(|ids| ids.len() == SESSIONS_PER_NODE) {
            return chosen
                .into_iter()
                .enumerate()
                .flat_map(|(node, ids)| {
                    ids.into_iter().enumerate().map(move |(n, id)| Session {
                        id,
                        proto: if n % 2 == 0 {
                            Proto::Binary
                        } else {
                            Proto::Text
                        },
                        node,
                        ledger: Mutex::default(),
                    })
                })
                .collect();
        }
    }
    panic!("no session ids hash to some node: {chosen:?}");
}

/// Kills node `index`, checks that the sessions hashing to other nodes go on, restarts it,
/// checks that it rejoins and that every session goes on.
fn kill_and_restart(farm: &mut Farm, nodes: &mut [Node], index: usize, role: &str) {
    let id = nodes[index].id;
    eprintln!("killing node {id} ({role})");
    nodes[index].kill();
    farm.wait_progress(
        &format!("sessions not on node {id} go on while it is down"),
        |session| session.node != index,
    );
    nodes[index].start();
    wait_rejoined(nodes, index, STEP_BOUND);
    eprintln!("node {id} restarted and caught up");
    farm.wait_progress(
        &format!("every session goes on after node {id} is back"),
        |_| true,
    );
    farm.report();
}

#[test]
fn php_farm_keeps_its_sessions_while_nodes_die() {
    let started = Instant::now();
    let mut nodes = cluster(3, SECRET);
    for node in &mut nodes {
        node.start();
    }
    leader(&nodes, STEP_BOUND);
    let servers: Vec<SocketAddr> = nodes.iter().map(|node| node.memcache).collect();
    let mut farm = Farm::start(sessions_on_every_node(&nodes), &servers);
    farm.wait_progress("every session under way", |_| true);

    // The leader dies: sessions relayed through the followers fail over to the new leader.
    let first = leader(&nodes, STEP_BOUND);
    kill_and_restart(&mut farm, &mut nodes, first, "the leader");

    // A follower dies: two sessions hash to it.
    let current = leader(&nodes, STEP_BOUND);
    let follower = (0..nodes.len())
        .find(|&index| index != current)
        .expect("a follower");
    kill_and_restart(&mut farm, &mut nodes, follower, "a follower");

    farm.stop_users();

    // Every node serves the latest state of every session: the users reload once through each
    // node alone.
    for (index, node) in nodes.iter().enumerate() {
        for session in &farm.sessions {
            let settings = php_settings(&[node.memcache], session.proto);
            wait_for(
                &format!(
                    "session {} acknowledged through node {} alone",
                    session.id,
                    index + 1
                ),
                STEP_BOUND,
                || session.request(&settings).then_some(()),
            );
        }
    }
    farm.report();

    let mut violations = Vec::new();
    let mut totals: HashMap<&str, u64> = HashMap::new();
    for session in &farm.sessions {
        let ledger = session.ledger.lock().unwrap();
        violations.extend(ledger.violations.iter().cloned());
        *totals.entry("acknowledged").or_default() += ledger.acknowledged;
        *totals.entry("unknown").or_default() += ledger.unknown_total;
        *totals.entry("failed").or_default() += ledger.failed;
    }
    assert!(
        violations.is_empty(),
        "what the users saw does not add up:\n{}",
        violations.join("\n")
    );
    eprintln!(
        "{} requests acknowledged, {} with an unknown outcome, {} failed; {:.1?} in all",
        totals["acknowledged"],
        totals["unknown"],
        totals["failed"],
        started.elapsed()
    );
}
