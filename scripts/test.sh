#!/usr/bin/env bash
# Runs every test of sessiond on a fresh machine: installs what the tests need (the real
# memcached as an oracle, PHP with php-memcached for the end-to-end tests), then checks
# formatting and lints, and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

need_packages=()
command -v memcached >/dev/null 2>&1 || need_packages+=(memcached)
command -v php >/dev/null 2>&1 || need_packages+=(php-cli)
if ! command -v php >/dev/null 2>&1 || ! php -m 2>/dev/null | grep -qi '^memcached$'; then
    need_packages+=(php-memcached)
fi
if [ ${#need_packages[@]} -gt 0 ]; then
    echo "test.sh: installing ${need_packages[*]}"
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need_packages[@]}" >/dev/null
fi
# The Debian package starts a memcached service on 11211; the tests start their own on ports
# they pick, so it is not needed, but it is left alone.

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
if command -v cargo-nextest >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
else
    cargo test --workspace --locked --no-fail-fast
fi
cargo test --workspace --locked --doc
