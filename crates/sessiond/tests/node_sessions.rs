//! End to end with Node: express-session with connect-redis's `RedisStore` over node-redis
//! (`redis` from npm), the session stack of most Express farms, against the `sessiond` binary.
//!
//! Two processes of the Express app in `tests/node_sessions/app.js` share one sessiond, as two
//! web servers behind a balancer do; one browser goes from one to the other over plain HTTP,
//! and a raw Redis connection checks what sessiond holds. App A's node-redis speaks RESP3
//! (its default: `HELLO 3 AUTH default PASSWORD`, then `CLIENT SETINFO`), app B's RESP2.
//!
//! Node.js 20 or later and the app's modules must be there (`npm ci --prefix
//! crates/sessiond/tests/node_sessions`; scripts/test.sh does it): without them this test
//! fails, it never skips.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use support::redis_pair::Pair;
use support::web::{Browser, Farm, Keys, id_of};

const APP_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node_sessions");
/// The cookie's `maxAge` in app.js, in seconds: connect-redis sets it as the key's TTL.
const MAX_AGE: i64 = 1440;
/// express-session's cookie.
const COOKIE: &str = "connect.sid";

#[test]
fn express_sessions_through_connect_redis_and_node_redis() {
    check_node();
    let farm = Farm::start("express-sessions", "Express app", COOKIE, node_app);
    let [app_a, app_b] = &farm.apps;
    let mut redis = farm.redis();
    let mut browser = Browser::new();

    // Login on A: SET sess:ID JSON EX 1440, the TTL taken from the cookie's maxAge.
    let login = browser.get(app_a, "/login?user=alice").json();
    let first = key(&id_of(&login));
    assert!(browser.cookie(COOKIE).is_some(), "the login set {COOKIE}");
    let stored = stored_session(&mut redis, &first);
    assert_eq!(stored["user"], "alice");
    // express-session computes it as `expires - Date.now()` right after setting `expires`
    // from the configured maxAge, so a millisecond tick in between stores one less.
    let original = stored["cookie"]["originalMaxAge"].as_i64().unwrap_or(0);
    assert!(
        (MAX_AGE * 1000 - 1000..=MAX_AGE * 1000).contains(&original),
        "originalMaxAge {original} is the cookie's maxAge of {MAX_AGE} s"
    );
    redis.assert_ttl_about(&first, MAX_AGE);

    // B reads the session A wrote.
    let on_b = browser.get(app_b, "/whoami").json();
    assert_eq!(
        (key(&id_of(&on_b)), &on_b["user"]),
        (first.clone(), &json!("alice"))
    );
    assert_ne!(
        on_b["server"], login["server"],
        "the two apps are two processes"
    );

    // A request that only reads makes express-session call the store's touch, which renews
    // the TTL: EXPIRE sess:ID 1440.
    redis.shorten_ttl(&first);
    browser.get(app_b, "/whoami");
    redis.assert_ttl_about(&first, MAX_AGE);

    // Modify from both apps in turn: each request reads what the one before wrote.
    for visit in 2..=11 {
        let app = if visit % 2 == 0 { app_a } else { app_b };
        let seen = browser.get(app, "/visit").json();
        assert_eq!(seen["visits"], json!(visit), "visit {visit}: {seen}");
    }
    assert_eq!(stored_session(&mut redis, &first)["visits"], json!(11));
    redis.assert_ttl_about(&first, MAX_AGE);

    // Regenerate on B: the data moves to a new id, the old key is deleted.
    let old_cookie = browser.cookie(COOKIE).map(str::to_owned);
    let second_id = id_of(&browser.get(app_b, "/regenerate").json());
    let second = key(&second_id);
    assert_ne!(second, first);
    assert_ne!(browser.cookie(COOKIE).map(str::to_owned), old_cookie);
    assert_eq!(redis.integer("EXISTS", &first), 0, "the old id is gone");
    assert_eq!(stored_session(&mut redis, &second)["visits"], json!(11));
    let on_a = browser.get(app_a, "/whoami").json();
    assert_eq!(
        (key(&id_of(&on_a)), &on_a["user"]),
        (second.clone(), &json!("alice"))
    );
    let mut stale = Browser::new();
    stale.set_cookie(COOKIE, old_cookie.as_deref().expect("the old cookie"));
    let with_old_cookie = stale.get(app_a, "/whoami").json();
    assert_eq!(
        with_old_cookie["user"],
        Value::Null,
        "the old id finds no session"
    );

    // The store's listing: SCAN MATCH sess:* COUNT 100, then MGET.
    let bob_id = id_of(&Browser::new().get(app_b, "/login?user=bob").json());
    let mut ids = vec![second_id.clone(), bob_id.clone()];
    ids.sort();
    assert_eq!(
        browser.get(app_a, "/sessions").json(),
        json!({"ids": ids, "users": ["alice", "bob"], "length": 2})
    );

    // Logout on A: DEL sess:ID; B no longer knows the session.
    let logout = browser.get(app_a, "/logout").json();
    assert_eq!(logout["destroyed"], json!(second_id));
    assert_eq!(
        redis.integer("EXISTS", &second),
        0,
        "a destroyed session is gone"
    );
    assert_eq!(browser.get(app_b, "/whoami").json()["user"], Value::Null);
    assert_eq!(
        redis.integer("EXISTS", &key(&bob_id)),
        1,
        "another visitor's stays"
    );

    // A connected with RESP3 and B with RESP2, both saying who they are (CLIENT SETINFO).
    let clients = redis.client.cmd("CLIENT LIST").text();
    let mut node_redis: Vec<&str> = clients
        .lines()
        .filter(|line| line.contains(" lib-name=node-redis lib-ver=6."))
        .map(|line| &line[line.find(" resp=").unwrap_or(0)..])
        .collect();
    node_redis.sort();
    assert_eq!(
        node_redis,
        [
            " resp=2 lib-name=node-redis lib-ver=6.3.1",
            " resp=3 lib-name=node-redis lib-ver=6.3.1"
        ],
        "one node-redis connection per app:\n{clients}"
    );
    for app in [app_a, app_b] {
        assert!(
            !app.output().contains("redis client error"),
            "node-redis reported an error:\n{}",
            app.output()
        );
    }
}

/// The commands of the life cycle above, as node-redis 6 sends them for connect-redis,
/// answered as redis-server answers them. Left out: `CLIENT SETINFO`, which sessiond answers
/// as Redis 7.2 does (7.0 does not know it).
#[test]
fn node_redis_commands_answered_as_redis_answers_them() {
    let pair = Pair::with_password(Some("express-sessions"));
    let value = r#"{"cookie":{"originalMaxAge":1440000,"expires":"2030-01-01T00:00:00.000Z","httpOnly":true,"path":"/"},"user":"alice"}"#;
    let set = format!("SET sess:one {value} EX 1440");
    for handshake in [
        "HELLO 3 AUTH default express-sessions",
        "AUTH express-sessions",
    ] {
        pair.same(&[
            handshake,
            // Redis 8's maintenance notifications: an unknown subcommand to Redis 7.0, which
            // node-redis ignores.
            "CLIENT MAINT_NOTIFICATIONS ON moving-endpoint-type internal-ip",
            "GET sess:absent",
            &set,
            "GET sess:one",
            "EXPIRE sess:one 1440",
            "TTL sess:one",
            "SCAN 0 MATCH sess:* COUNT 100",
            "MGET sess:one sess:absent",
            "DEL sess:one",
            "GET sess:one",
            "EXPIRE sess:one 1440",
        ]);
    }
}

/// Fails, saying how to get them, when Node.js 20+ or the app's modules are missing.
fn check_node() {
    let version = Command::new("node")
        .arg("--version")
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "node not found ({error}): this test runs an Express app; install Node.js 20 or \
                 later, then scripts/test.sh installs the app's modules"
            )
        });
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|major| major.parse().ok())
        .unwrap_or(0);
    assert!(
        major >= 20,
        "node {version:?}: node-redis 6 needs Node.js 20 or later"
    );
    for module in ["express", "express-session", "connect-redis", "redis"] {
        assert!(
            Path::new(APP_DIR)
                .join("node_modules")
                .join(module)
                .is_dir(),
            "the Express app's module {module} is not installed: run `npm ci --prefix \
             crates/sessiond/tests/node_sessions` (scripts/test.sh does it)"
        );
    }
}

/// `node app.js URL PROTOCOL` in the app's folder.
fn node_app(url: &str, protocol: u8) -> Command {
    let mut command = Command::new("node");
    command
        .current_dir(APP_DIR)
        .args(["app.js", url, &protocol.to_string()]);
    command
}

/// connect-redis's key for a session id.
fn key(id: &str) -> String {
    format!("sess:{id}")
}

/// The session as connect-redis stored it (JSON).
fn stored_session(redis: &mut Keys, key: &str) -> Value {
    serde_json::from_slice(&redis.value(key))
        .unwrap_or_else(|error| panic!("{key} is not JSON ({error})"))
}
