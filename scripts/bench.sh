#!/usr/bin/env bash
# Benchmarks sessiond against memcached with sessiond-loadgen and writes a Markdown
# table to bench-results/latest.md (raw results: bench-results/latest.jsonl). The
# page-request scenarios measure sessiond's ASP.NET State Server and sharedance
# listeners (and the real sharedanced, if given).
#
# Every measurement starts a fresh server on a free 127.0.0.1 port, prefills it,
# measures, and stops it by PID. Servers alternate order each repetition so neither
# always runs on a warmer (or more fragmented) machine; the report takes the median
# of each metric over the repetitions.
#
# Environment (defaults in brackets):
#   DURATION [10s]  measured time per run     WARMUP [2s]  unmeasured time before it
#   REPS [3]        repetitions               THREADS ["1 2"]  server thread counts
#   SERVERS ["sessiond memcached", plus sharedance when SHAREDANCED is set]
#                   restrict to one server for smoke tests; each scenario runs on
#                   those of them that speak its protocol
#   SCENARIOS ["session-mix-4k/text session-mix-4k/binary pure-get-4k/text session-mix-1k/text
#              aspnet-page-4k sharedance-page-4k"]
#   KEYS [100000]   CONNECTIONS [50]          RSS [1]  also measure RSS per stored item
#   RSS_KEYS [100000]  MAX_MEMORY_MB [4096]   OUT_DIR [bench-results]
#   SHAREDANCED []  a sharedanced binary (github.com/jedisct1/sharedance, built
#                   separately) to run sharedance-page-4k against as well
#   SHAREDANCE_TMP [/dev/shm]  where sharedanced keeps its session files
#
# memcached scenarios are NAME/PROTOCOL (text or binary); one op is one request.
# aspnet-page-4k and sharedance-page-4k count page requests: one session read and
# write as ASP.NET's State Server client and sharedance's PHP client make them.
#
# Quick smoke test:  DURATION=2s WARMUP=1s REPS=1 scripts/bench.sh
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
REPS=${REPS:-3}
THREADS=${THREADS:-"1 2"}
SHAREDANCED=${SHAREDANCED:-}
SERVERS=${SERVERS:-"sessiond memcached${SHAREDANCED:+ sharedance}"}
SCENARIOS=${SCENARIOS:-"session-mix-4k/text session-mix-4k/binary pure-get-4k/text session-mix-1k/text aspnet-page-4k sharedance-page-4k"}
KEYS=${KEYS:-100000}
CONNECTIONS=${CONNECTIONS:-50}
RSS=${RSS:-1}
RSS_KEYS=${RSS_KEYS:-100000}
MAX_MEMORY_MB=${MAX_MEMORY_MB:-4096}
OUT_DIR=${OUT_DIR:-bench-results}

LOADGEN=$ROOT/target/release/sessiond-loadgen
SESSIOND=$ROOT/target/release/sessiond

LOG_TAG=bench
# shellcheck source=scripts/bench_common.sh
source "$ROOT/scripts/bench_common.sh"

# --- prerequisites ----------------------------------------------------------

packages=(-p sessiond-loadgen)
for s in $SERVERS; do
    case $s in
        sessiond) packages+=(-p sessiond) ;;
        memcached) ;;
        sharedance)
            [[ -x $SHAREDANCED ]] || die "server sharedance needs SHAREDANCED=/path/to/sharedanced"
            ;;
        *) die "unknown server '$s' in SERVERS (known: sessiond memcached sharedance)" ;;
    esac
done
log "building ${packages[*]}"
cargo build --release "${packages[@]}"

if [[ " $SERVERS " == *" memcached "* ]] && ! command -v memcached >/dev/null; then
    log "memcached not found; installing the Debian package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y memcached >/dev/null 2>&1 || {
        apt-get update >/dev/null
        apt-get install -y memcached >/dev/null
    }
fi
command -v python3 >/dev/null || die "python3 is needed (free ports, report)"

RUN_LIMIT=$(( $(to_secs "$DURATION") + $(to_secs "$WARMUP") + 180 ))

mkdir -p "$OUT_DIR/logs"
STAMP=$(date +%Y%m%d-%H%M%S)
RAW=$OUT_DIR/raw-$STAMP.jsonl
: >"$RAW"

# --- server control -----------------------------------------------------------

SERVER_LOG=
SERVER_PORT=

trap stop_server EXIT
trap 'exit 130' INT TERM

# start_server NAME THREADS PROTOCOL: starts the server with a listener for PROTOCOL
# (text, binary, aspnet or sharedance) on a free port, in the background; sets
# SERVER_PID and SERVER_PORT, and waits until it accepts connections.
start_server() {
    local name=$1 threads=$2 protocol=$3 port
    port=$(free_port)
    SERVER_PORT=$port
    SERVER_LOG=$OUT_DIR/logs/$STAMP-$name-t$threads-$port.log
    case $name in
        memcached)
            # -U 0: no UDP. memcached refuses to run as root without -u.
            local user=()
            [[ $(id -u) -eq 0 ]] && user=(-u root)
            memcached "${user[@]}" -l 127.0.0.1 -p "$port" -U 0 -t "$threads" \
                -m "$MAX_MEMORY_MB" -c 4096 >"$SERVER_LOG" 2>&1 &
            ;;
        sessiond)
            # Only the listener under test is on: a default port of another listener
            # could be taken by a parallel run or another program.
            local memcache=off aspnet=off sharedance=off
            case $protocol in
                text | binary) memcache=127.0.0.1:$port ;;
                aspnet) aspnet=127.0.0.1:$port ;;
                sharedance) sharedance=127.0.0.1:$port ;;
            esac
            # In memory, like memcached and sharedanced on tmpfs: these scenarios compare
            # protocol handling. scripts/bench_durability.sh measures the log's cost.
            "$SESSIOND" --memcache-listen "$memcache" --aspnet-listen "$aspnet" \
                --sharedance-listen "$sharedance" --threads "$threads" --in-memory \
                --max-memory "${MAX_MEMORY_MB}MiB" >"$SERVER_LOG" 2>&1 &
            ;;
        sharedance)
            # sharedanced keeps a file per session and chroots into its directory; on
            # tmpfs, disk speed stays out of a comparison with in-memory stores. It is
            # single-threaded whatever THREADS says.
            SERVER_DIR=$(mktemp -d "${SHAREDANCE_TMP:-/dev/shm}/sharedance-bench.XXXXXX")
            "$SHAREDANCED" --ip=127.0.0.1 --port="$port" --directory="$SERVER_DIR" \
                --backlog=1024 >"$SERVER_LOG" 2>&1 &
            ;;
    esac
    SERVER_PID=$!
    await_server "$name" "$SERVER_PID" "$SERVER_LOG" 10 port_open "$port"
}

# --- scenarios ------------------------------------------------------------------

# scenario SPEC: sets SC_NAME, SC_PROTOCOL, SC_ARGS (the loadgen workload options)
# and SC_SERVERS (the servers that speak the protocol) for an entry of SCENARIOS.
scenario() {
    SC_NAME=${1%%/*}
    SC_PROTOCOL=${1#*/}
    SC_SERVERS="sessiond memcached"
    case $SC_NAME in
        session-mix-4k) SC_ARGS="--value-size 4096 --set-ratio 1 --get-ratio 4" ;;
        session-mix-1k) SC_ARGS="--value-size 1024 --set-ratio 1 --get-ratio 4" ;;
        pure-get-4k) SC_ARGS="--value-size 4096 --set-ratio 0 --get-ratio 1" ;;
        aspnet-page-4k | sharedance-page-4k)
            [[ $1 == "$SC_NAME" ]] || die "scenario '$1': page scenarios take no /protocol"
            SC_PROTOCOL=${SC_NAME%%-*}
            SC_ARGS="--value-size 4096"
            # No aspnet_state on Linux; sharedanced only when built and given.
            SC_SERVERS="sessiond"
            [[ $SC_PROTOCOL == sharedance ]] && SC_SERVERS+=" sharedance"
            return 0
            ;;
        *) die "unknown scenario '$1'" ;;
    esac
    [[ $SC_PROTOCOL == text || $SC_PROTOCOL == binary ]] ||
        die "scenario '$1': protocol must be text or binary"
}


# measure SERVER THREADS PROTOCOL LABEL LOADGEN-ARGS...: one fresh-server
# measurement, appending its JSON line to $RAW.
measure() {
    local server=$1 threads=$2 protocol=$3 label=$4
    shift 4
    local line
    start_server "$server" "$threads" "$protocol"
    if ! line=$(timeout "$RUN_LIMIT" "$LOADGEN" --protocol "$protocol" \
        --addr "127.0.0.1:$SERVER_PORT" --server-pid "$SERVER_PID" --json --label "$label" "$@"); then
        stop_server
        die "load generator failed for $label (server log: $SERVER_LOG)"
    fi
    stop_server
    echo "$line" >>"$RAW"
    python3 - "$line" <<'EOF' >&2
import json, sys
r = json.loads(sys.argv[1])
if r["mode"] == "rss":
    print(f"    {r['bytes_per_item']:.0f} bytes/item")
else:
    cpu = r["server_cpu_us_per_op"]
    unit = "page" if r.get("op_unit") == "page" else "op"
    print(f"    {r['ops_per_sec']:,.0f} {unit}s/s  p50 {r['p50_us']:.0f} µs  p99 {r['p99_us']:.0f} µs"
          f"  server {cpu:.2f} CPU µs/{unit}  client {r['client_cpu_us_per_op']:.2f} CPU µs/{unit}"
          + (f"  ({r['requests_per_sec']:,.0f} requests/s)" if unit == "page" else "")
          + (f"  ERRORS {r['errors']}" if r["errors"] else "")
          + (f"  misses {r['misses']}" if r["misses"] else "")
          + (f"  locked {r['contended']}" if r.get("contended") else ""))
EOF
}

read -r -a scenario_list <<<"$SCENARIOS"
read -r -a thread_list <<<"$THREADS"
for sc in "${scenario_list[@]}"; do
    scenario "$sc"
    read -r -a wl <<<"$SC_ARGS"
    if [[ -z $(server_order 1 "$SC_SERVERS") ]]; then
        log "skipping $sc: none of SERVERS ($SERVERS) speaks $SC_PROTOCOL"
        continue
    fi
    for threads in "${thread_list[@]}"; do
        for rep in $(seq "$REPS"); do
            for server in $(server_order "$rep" "$SC_SERVERS"); do
                label="kind=bench,scenario=$SC_NAME,threads=$threads,server=$server,rep=$rep"
                log "$SC_NAME $SC_PROTOCOL, $threads thread(s), $server, repetition $rep/$REPS"
                measure "$server" "$threads" "$SC_PROTOCOL" "$label" \
                    --connections "$CONNECTIONS" --keys "$KEYS" --prefill \
                    --duration "$DURATION" --warmup "$WARMUP" "${wl[@]}"
            done
        done
    done
done

if [[ $RSS == 1 ]]; then
    for rep in $(seq "$REPS"); do
        for server in $(server_order "$rep" "sessiond memcached"); do
            label="kind=rss,scenario=rss-4k,threads=1,server=$server,rep=$rep"
            log "RSS per stored 4 KiB session, $server, repetition $rep/$REPS"
            measure "$server" 1 text "$label" --rss-per-item --keys "$RSS_KEYS" \
                --value-size 4096 --connections "$CONNECTIONS"
        done
    done
fi

# --- report ---------------------------------------------------------------------

memcached_version=$(command -v memcached >/dev/null && memcached -V 2>/dev/null || echo "n/a")
export BENCH_DURATION=$DURATION BENCH_WARMUP=$WARMUP BENCH_REPS=$REPS \
    BENCH_CONNECTIONS=$CONNECTIONS BENCH_KEYS=$KEYS BENCH_MEMCACHED="$memcached_version" \
    BENCH_SHAREDANCE="${SHAREDANCED:+$("$SHAREDANCED" --help 2>&1 | grep -m1 -o 'sharedance [0-9.]*' || true)}" \
    BENCH_GIT="$(git describe --always --dirty 2>/dev/null || echo 'unknown')"
python3 scripts/bench_report.py "$RAW" >"$OUT_DIR/latest.md"
cp "$RAW" "$OUT_DIR/latest.jsonl"
cat "$OUT_DIR/latest.md"
log "wrote $OUT_DIR/latest.md (raw: $RAW)"
