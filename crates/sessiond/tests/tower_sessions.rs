//! End to end with Rust: tower-sessions with its Redis store (`tower-sessions-redis-store`,
//! over the fred client) in an axum app, against the `sessiond` binary.
//!
//! The app is its own Cargo project, `tests/tower_sessions/` (not a member of this workspace,
//! with its own lock file); this test builds it with Cargo into `target/tower-sessions-app`
//! (scripts/test.sh builds it before the tests, so that here it is already fresh). Two
//! processes of it share one sessiond, as two web servers behind a balancer do; one browser
//! goes from one to the other over plain HTTP, and a raw Redis connection checks what sessiond
//! holds. App A's fred speaks RESP3 (`HELLO 3 AUTH default PASSWORD`), app B's RESP2 (fred's
//! default: `AUTH PASSWORD`).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use support::redis::Reply;
use support::redis_pair::Pair;
use support::web::{Browser, Farm, id_of};

const APP_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tower_sessions");
/// `Expiry::OnInactivity` in the app, in seconds: the key expires that long after a save.
const INACTIVITY: i64 = 1440;
/// tower-sessions' cookie.
const COOKIE: &str = "id";

#[test]
fn tower_sessions_through_the_fred_redis_store() {
    let app_bin = build_app();
    let app = |url: &str, protocol: u8| {
        let mut command = Command::new(&app_bin);
        command.args([url, &protocol.to_string()]);
        command
    };
    let farm = Farm::start("tower-sessions", "axum app", COOKIE, app);
    let [app_a, app_b] = &farm.apps;
    let mut redis = farm.redis();
    let mut browser = Browser::new();

    // Insert on A: SET ID RECORD EXAT (now + inactivity) NX, the record in MessagePack under
    // the bare session id.
    let login = browser.get(app_a, "/login?user=alice").json();
    let first = id_of(&login);
    assert_eq!(browser.cookie(COOKIE), Some(first.as_str()));
    assert!(redis.value(&first).windows(5).any(|w| w == b"alice"));
    redis.assert_ttl_about(&first, INACTIVITY);

    // B reads the session A wrote.
    let on_b = browser.get(app_b, "/whoami").json();
    assert_eq!(
        (id_of(&on_b), &on_b["user"]),
        (first.clone(), &json!("alice"))
    );
    assert_ne!(
        on_b["server"], login["server"],
        "the two apps are two processes"
    );

    // Update from both apps in turn (SET ... EXAT ... XX), each request reading what the one
    // before wrote; each save renews the expiry.
    redis.shorten_ttl(&first);
    for visit in 2..=11 {
        let app = if visit % 2 == 0 { app_a } else { app_b };
        let seen = browser.get(app, "/visit").json();
        assert_eq!(seen["visits"], json!(visit), "visit {visit}: {seen}");
    }
    assert_eq!(browser.get(app_a, "/whoami").json()["visits"], json!(11));
    redis.assert_ttl_about(&first, INACTIVITY);

    // Cycle the id on B: the data moves to a new key, the old one is deleted.
    let second = id_of(&browser.get(app_b, "/cycle").json());
    assert_ne!(second, first);
    assert_eq!(browser.cookie(COOKIE), Some(second.as_str()));
    assert_eq!(redis.integer("EXISTS", &first), 0, "the old id is gone");
    redis.assert_ttl_about(&second, INACTIVITY);
    let on_a = browser.get(app_a, "/whoami").json();
    assert_eq!(
        (&on_a["user"], &on_a["visits"]),
        (&json!("alice"), &json!(11))
    );
    let mut stale = Browser::new();
    stale.set_cookie(COOKIE, &first);
    let with_old_cookie = stale.get(app_a, "/whoami").json();
    assert_eq!(
        with_old_cookie["user"],
        Value::Null,
        "the old id finds no session"
    );

    // Delete on A: DEL ID and the cookie removed; B no longer knows the session.
    let logout = browser.get(app_a, "/logout").json();
    assert_eq!(logout["destroyed"], json!(second));
    assert_eq!(
        redis.integer("EXISTS", &second),
        0,
        "a deleted session is gone"
    );
    assert_eq!(browser.cookie(COOKIE), None, "the cookie is removed");
    browser.set_cookie(COOKIE, &second);
    assert_eq!(browser.get(app_b, "/whoami").json()["user"], Value::Null);
    assert_eq!(redis.client.cmd("DBSIZE"), Reply::Integer(0));

    // A's pool of two connections speaks RESP3.
    let clients = redis.client.cmd("CLIENT LIST").text();
    let resp3 = clients.lines().filter(|line| line.contains(" resp=3 "));
    assert_eq!(resp3.count(), 2, "app A's two connections:\n{clients}");
}

/// The commands of the life cycle above, as fred sends them for the Redis store, answered as
/// redis-server answers them. Left out: fred's `INFO server` on connect, whose figures are
/// sessiond's own.
#[test]
fn fred_commands_answered_as_redis_answers_them() {
    let pair = Pair::with_password(Some("tower-sessions"));
    let expires = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        + 1440;
    let set = |value: &str, condition: &str| format!("SET id1 {value} EXAT {expires} {condition}");
    for handshake in ["AUTH tower-sessions", "HELLO 3 AUTH default tower-sessions"] {
        pair.same(&[
            handshake,
            "CLIENT ID",
            "GET id1",
            &set("first", "NX"),
            &set("taken", "NX"),
            &set("second", "XX"),
            "GET id1",
            "TTL id1",
            "DEL id1",
            &set("gone", "XX"),
            "GET id1",
            "DEL id1",
        ]);
    }
}

/// Builds the app with the Cargo that runs this test (a no-op when scripts/test.sh has built
/// it), into the workspace's target directory, and returns the binary's path.
fn build_app() -> PathBuf {
    let target_dir = workspace_target_dir().join("tower-sessions-app");
    let cargo = std::env::var_os("CARGO")
        .or_else(|| option_env!("CARGO").map(Into::into))
        .unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .args(["build", "--locked", "--quiet", "--manifest-path"])
        .arg(Path::new(APP_DIR).join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .output()
        .unwrap_or_else(|error| panic!("running {cargo:?} build for the axum app: {error}"));
    assert!(
        output.status.success(),
        "building the axum app in {APP_DIR} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    target_dir.join("debug").join("tower-sessions-app")
}

/// The workspace's target directory: the one the sessiond binary was built in (so that
/// `CARGO_TARGET_DIR` is followed).
fn workspace_target_dir() -> PathBuf {
    let sessiond = Path::new(env!("CARGO_BIN_EXE_sessiond"));
    sessiond
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("no target directory above {}", sessiond.display()))
        .to_path_buf()
}
