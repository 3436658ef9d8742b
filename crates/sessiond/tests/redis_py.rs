//! End to end with redis-py, the client Django's Redis cache (and so its cache session
//! engine) uses: `tests/redis_py/session_store.py` makes Django's session calls against the
//! `sessiond` binary, RESP2 and RESP3, with a password; `tests/redis_py/transactions.py`
//! runs pipelines (`MULTI`/`EXEC`) and `WATCH`-based optimistic updates, concurrent ones
//! included.
//!
//! redis-py must be installed (`python3 -m pip install redis`; scripts/test.sh does it): a
//! missing one fails this test, it never skips it.

mod support;

use std::process::Command;

use support::Server;

const PASSWORD: &str = "django-sessions";

#[test]
fn django_style_sessions_through_redis_py() {
    run_script("session_store.py");
}

#[test]
fn pipelines_and_optimistic_updates_through_redis_py() {
    run_script("transactions.py");
}

/// Runs `tests/redis_py/<script>` against a fresh server with a password; it must print `ok`.
fn run_script(script: &str) {
    let server = Server::start_with(&["--resp-password", PASSWORD]);
    let port = server.resp_addr().port().to_string();
    let script = format!("{}/tests/redis_py/{script}", env!("CARGO_MANIFEST_DIR"));
    let output = Command::new("python3")
        .args([&script, &port, PASSWORD])
        .output()
        .unwrap_or_else(|error| panic!("running python3: {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("No module named 'redis'"),
        "redis-py is not installed: python3 -m pip install redis (scripts/test.sh does it)"
    );
    assert!(
        output.status.success() && stdout.trim_end().ends_with("ok"),
        "the redis-py script {script} failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n--- sessiond ---\n{}",
        output.status,
        server.stderr()
    );
}
