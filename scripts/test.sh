#!/usr/bin/env bash
# Runs every test of sessiond on a fresh machine: installs what the tests need (the real
# memcached and redis-server as oracles, and for the end-to-end tests PHP with php-memcached
# and php-redis, Python's redis-py, the Express app's npm modules and the axum app of
# tower-sessions), then checks formatting and lints, and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

need_packages=()
command -v memcached >/dev/null 2>&1 || need_packages+=(memcached)
command -v php >/dev/null 2>&1 || need_packages+=(php-cli)
[ -x /usr/bin/redis-server ] || need_packages+=(redis-server)
command -v python3 >/dev/null 2>&1 || need_packages+=(python3 python3-pip)
command -v npm >/dev/null 2>&1 || need_packages+=(nodejs npm)
if ! command -v php >/dev/null 2>&1 || ! php -m 2>/dev/null | grep -qi '^memcached$'; then
    need_packages+=(php-memcached)
fi
# phpredis, for the end-to-end test of locked PHP sessions over the Redis protocol.
if ! command -v php >/dev/null 2>&1 || ! php -m 2>/dev/null | grep -qi '^redis$'; then
    need_packages+=(php-redis)
fi
if [ ${#need_packages[@]} -gt 0 ]; then
    echo "test.sh: installing ${need_packages[*]}"
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need_packages[@]}" >/dev/null
fi
# The Debian packages start a memcached service on 11211 and a Redis one on 6379; the tests
# start their own on ports they pick, so those are not needed, but they are left alone.

# redis-py for the end-to-end test of Django-style sessions. Where the system Python is
# managed by Debian (PEP 668), pip needs --break-system-packages to install beside it.
if ! python3 -c 'import redis' >/dev/null 2>&1; then
    echo "test.sh: installing redis-py"
    python3 -m pip install --quiet redis 2>/dev/null \
        || python3 -m pip install --quiet --break-system-packages redis
fi

# The Express app of the express-session test: its modules exactly as its package-lock.json
# pins them, installed again only when the lock file changed since the last install.
node_app=crates/sessiond/tests/node_sessions
if [ ! -f "$node_app/node_modules/.package-lock.json" ] \
    || [ "$node_app/package-lock.json" -nt "$node_app/node_modules/.package-lock.json" ]; then
    echo "test.sh: installing the Express app's npm modules"
    npm ci --prefix "$node_app" --no-audit --no-fund --loglevel=error
fi

# The axum app of the tower-sessions test is its own Cargo project (outside the workspace,
# with its own lock file), built here into target/ so that CI's cache keeps it; the test
# builds it the same way, finding it fresh.
tower_app=crates/sessiond/tests/tower_sessions/Cargo.toml

cargo fmt --all -- --check
cargo fmt --manifest-path "$tower_app" -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The fuzz targets live outside the workspace (libFuzzer builds need their own flags); they
# are linted here so that an API change cannot leave them unbuildable.
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
cargo clippy --manifest-path fuzz/Cargo.toml --all-targets --locked \
    --target-dir "${CARGO_TARGET_DIR:-target}/fuzz-check" -- -D warnings
cargo build --locked --manifest-path "$tower_app" --target-dir "${CARGO_TARGET_DIR:-target}/tower-sessions-app"
if command -v cargo-nextest >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
else
    cargo test --workspace --locked --no-fail-fast
fi
cargo test --workspace --locked --doc
