#!/usr/bin/env bash
# Recovery time with a million sessions (issue 4): fills sessiond with SESSIONS sessions of
# VALUE_SIZE bytes through sessiond-loadgen's prefill, stops it with SIGTERM and measures
# how long a restart on the same data directory takes, from spawn to the "ready" log line:
#
#   1. log only      every session is replayed from the write-ahead log (no snapshot)
#   2. snapshot      `sessiond snapshot` on the running server, then a short log (SHORT_LOG
#                    more sets) after it; recovery loads the snapshot and replays the rest
#
# Each restart is measured RESTARTS times with the data directory in the page cache
# ("warm"), and once more after dropping the page cache ("cold", when the kernel lets us:
# needs root and a writable /proc/sys/vm/drop_caches).
#
# Needs about SESSIONS x (VALUE_SIZE + 300) bytes of RAM for the server and twice that of
# disk under TMP_BASE (log + snapshot); both are checked first.
#
# Environment (defaults in brackets):
#   SESSIONS [1000000]  VALUE_SIZE [4096]  SHORT_LOG [10000]  RESTARTS [3]
#   FSYNC [no]  policy while filling and restarting (recovery reads the same files)
#   TMP_BASE [/tmp]  KEEP [0]  keep the data directory afterwards
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

SESSIONS=${SESSIONS:-1000000}
VALUE_SIZE=${VALUE_SIZE:-4096}
SHORT_LOG=${SHORT_LOG:-10000}
RESTARTS=${RESTARTS:-3}
FSYNC=${FSYNC:-no}
TMP_BASE=${TMP_BASE:-/tmp}
KEEP=${KEEP:-0}

LOADGEN=$ROOT/target/release/sessiond-loadgen
SESSIOND=$ROOT/target/release/sessiond

log() { printf '[recovery %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- room ---------------------------------------------------------------------------

need_mem_kib=$(( SESSIONS * (VALUE_SIZE + 300) / 1024 ))
need_disk_kib=$(( 2 * SESSIONS * (VALUE_SIZE + 100) / 1024 + 1048576 ))
free -g >&2
df -h "$TMP_BASE" >&2
avail_mem_kib=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
avail_disk_kib=$(df -Pk "$TMP_BASE" | awk 'NR == 2 { print $4 }')
(( avail_mem_kib > need_mem_kib )) ||
    die "about $(( need_mem_kib / 1048576 )) GiB of RAM needed, $(( avail_mem_kib / 1048576 )) GiB available"
(( avail_disk_kib > need_disk_kib )) ||
    die "about $(( need_disk_kib / 1048576 )) GiB of disk needed under $TMP_BASE, $(( avail_disk_kib / 1048576 )) GiB available"

log "building sessiond and sessiond-loadgen (release)"
cargo build --release -p sessiond -p sessiond-loadgen

DIR=$(mktemp -d "$TMP_BASE/sessiond-recovery.XXXXXX")
LOGS=$(mktemp -d "$TMP_BASE/sessiond-recovery-logs.XXXXXX")
SERVER_PID=
SERVER_LOG=
SERVER_ADDR=

stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    local pid=$SERVER_PID
    SERVER_PID=
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1200); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "sessiond $pid ignored SIGTERM for 60 s; killing it"
        kill -9 "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    stop_server
    if [[ $KEEP == 1 ]]; then
        log "kept $DIR (logs: $LOGS)"
    else
        rm -rf "$DIR" "$LOGS"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ns() { date +%s%N; }

# start_server NAME: starts sessiond on $DIR and waits for "ready"; sets SERVER_PID,
# SERVER_ADDR and STARTUP_MS (spawn to the ready line, polled every 5 ms).
start_server() {
    SERVER_LOG=$LOGS/$1.log
    local t0
    t0=$(now_ns)
    "$SESSIOND" --memcache-listen 127.0.0.1:0 --aspnet-listen off --sharedance-listen off \
        --threads 1 --max-memory 64GiB --data-dir "$DIR" --fsync "$FSYNC" >"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    while ! grep -q ' ready$' "$SERVER_LOG"; do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            SERVER_PID=
            tail -n 20 "$SERVER_LOG" >&2
            die "sessiond exited during start-up (log: $SERVER_LOG)"
        fi
        sleep 0.005
    done
    STARTUP_MS=$(( ($(now_ns) - t0) / 1000000 ))
    SERVER_ADDR=$(grep -o 'listening protocol=memcache addr=[0-9.:]*' "$SERVER_LOG" | head -n1 |
        sed 's/.*addr=//')
}

rss_mib() { awk -v f="$2" '$1 == f":" { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

# fill KEYS: stores keys 0..KEYS-1 once (expiry 0: never, so nothing expires between runs).
fill() {
    "$LOADGEN" --addr "$SERVER_ADDR" --protocol text --server-pid "$SERVER_PID" --rss-per-item \
        --keys "$1" --value-size "$VALUE_SIZE" --exptime 0 --connections 50 --timeout 30m
}

drop_caches() {
    sync
    if echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then
        return 0
    fi
    return 1
}

RESULTS=()
# measure SCENARIO: restarts RESTARTS times warm and once cold, recording each.
measure() {
    local scenario=$1 i kind
    for i in $(seq "$((RESTARTS + 1))"); do
        kind=warm
        if (( i == RESTARTS + 1 )); then
            drop_caches || { log "cannot drop the page cache; no cold measurement"; break; }
            kind=cold
        fi
        start_server "$scenario-$kind-$i"
        local report rss hwm
        report=$(grep -o 'recovered .*' "$SERVER_LOG" | head -n1 | sed 's/ data_dir=.*//')
        rss=$(rss_mib "$SERVER_PID" VmRSS)
        hwm=$(rss_mib "$SERVER_PID" VmHWM)
        log "$scenario ($kind): ready after ${STARTUP_MS} ms; RSS ${rss} MiB (peak ${hwm} MiB); $report"
        RESULTS+=("| $scenario | $kind | $STARTUP_MS | $rss | $hwm | $report |")
        stop_server
    done
}

log "data directory $DIR; filling $SESSIONS sessions of $VALUE_SIZE bytes (--fsync $FSYNC)"
start_server fill
t0=$(now_ns)
fill "$SESSIONS" >&2
log "filled in $(( ($(now_ns) - t0) / 1000000 )) ms; data directory: $(du -sh "$DIR" | cut -f1)"
stop_server
ls -l "$DIR" >&2

measure "log only ($SESSIONS sessions)"

start_server snapshot
t0=$(now_ns)
"$SESSIOND" snapshot --data-dir "$DIR" >&2
snapshot_ms=$(( ($(now_ns) - t0) / 1000000 ))
log "sessiond snapshot took $snapshot_ms ms; now $SHORT_LOG more sets"
fill "$SHORT_LOG" >&2
stop_server
ls -l "$DIR" >&2
log "data directory: $(du -sh "$DIR" | cut -f1)"

measure "snapshot + $SHORT_LOG-record log"

echo
echo "sessiond $(git describe --always --dirty 2>/dev/null || echo unknown), $SESSIONS sessions of $VALUE_SIZE B, --fsync $FSYNC, data on $(df -T "$TMP_BASE" | awk 'NR == 2 { print $1 " (" $2 ")" }'); sessiond snapshot: $snapshot_ms ms"
echo
echo "| recovery from | page cache | spawn to ready ms | RSS MiB | peak RSS MiB | recovery report |"
echo "|---|---|---:|---:|---:|---|"
printf '%s\n' "${RESULTS[@]}"
