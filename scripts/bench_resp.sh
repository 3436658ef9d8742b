#!/usr/bin/env bash
# sessiond's Redis listener against redis-server (issue 6), in one run, on this machine:
#
# 1. redis-benchmark (Debian's) GET and SET with 4 KiB values over KEYS random keys, 50
#    clients, without pipelining and with pipeline 16: requests per second, p99, and the
#    server's CPU time per request (read from /proc/PID/stat around each run).
# 2. The session mix of sessiond-loadgen (`--protocol resp`: GET and SET ... EX, 4 KiB values,
#    1 set : 4 gets, KEYS keys prefilled, 50 connections, one request in flight each), which
#    reports the server's CPU time per operation itself.
# 3. The pipelined tests of 1. again with sessiond-loadgen (only SETs, only GETs, 16 in flight
#    per connection), whose latency is each reply's (see SET_P16 below).
#
# The sessiond-loadgen tests also run against sessiond-floor, a server that reads and answers
# without storing anything: its CPU per operation is the floor no server gets under (the
# system calls, the loopback TCP path, waking the client), and the report shows how much each
# server spends above it.
#
# Neither server persists anything (sessiond --in-memory; redis-server --save '' --appendonly
# no), so the protocol and the store are what is compared; scripts/bench_durability.sh
# compares the two with persistence. sessiond runs --threads 1: Redis serves commands on one
# thread. Every measurement starts a fresh server on a free port and stops it by PID; server
# order is reversed on even repetitions; the report takes medians over the repetitions.
# Writes OUT_DIR/resp-latest.md (raw: OUT_DIR/resp-*.jsonl).
#
# Environment (defaults in brackets):
#   DURATION [10s]  WARMUP [2s]  REPS [3]  KEYS [100000]  CONNECTIONS [50]
#   REQUESTS [200000]  redis-benchmark requests per test   THREADS [1]
#   SERVERS ["sessiond redis floor"]  MAX_MEMORY_MB [4096]  OUT_DIR [bench-results]
#   SESSIOND [target/release/sessiond]  another build, to compare two builds
#
# Quick smoke test:  DURATION=2s WARMUP=1s REPS=1 REQUESTS=20000 scripts/bench_resp.sh
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
REPS=${REPS:-3}
KEYS=${KEYS:-100000}
CONNECTIONS=${CONNECTIONS:-50}
REQUESTS=${REQUESTS:-200000}
THREADS=${THREADS:-1}
SERVERS=${SERVERS:-"sessiond redis floor"}
MAX_MEMORY_MB=${MAX_MEMORY_MB:-4096}
OUT_DIR=${OUT_DIR:-bench-results}

LOADGEN=$ROOT/target/release/sessiond-loadgen
FLOOR=$ROOT/target/release/sessiond-floor
SESSIOND=${SESSIOND:-$ROOT/target/release/sessiond}
VALUE_SIZE=4096
WORKLOAD=(--value-size "$VALUE_SIZE" --set-ratio 1 --get-ratio 4)
# redis-benchmark's -P 16 tests again, timed per reply: redis-benchmark times a pipelined
# batch from its write to the first byte of the first reply and records that for all 16
# requests; sessiond-loadgen times each reply from the write of its batch.
SET_P16=(--value-size "$VALUE_SIZE" --set-ratio 1 --get-ratio 0 --pipeline 16)
GET_P16=(--value-size "$VALUE_SIZE" --set-ratio 0 --get-ratio 1 --pipeline 16)

LOG_TAG=bench-resp
STOP_GRACE_SECS=30
# shellcheck source=scripts/bench_common.sh
source "$ROOT/scripts/bench_common.sh"

for s in $SERVERS; do
    case $s in
        sessiond | redis | floor) ;;
        *) die "unknown server '$s' in SERVERS" ;;
    esac
done
log "building sessiond and sessiond-loadgen (release)"
cargo build --release -p sessiond -p sessiond-loadgen
command -v python3 >/dev/null || die "python3 is needed (free ports, report)"
if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
    log "redis-server or redis-benchmark not found; installing the Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y redis-server redis-tools >/dev/null 2>&1 || {
        apt-get update >/dev/null
        apt-get install -y redis-server redis-tools >/dev/null
    }
fi

RUN_LIMIT=$(( $(to_secs "$DURATION") + $(to_secs "$WARMUP") + 180 ))
CLOCK_TICKS=$(getconf CLK_TCK)

mkdir -p "$OUT_DIR/logs"
STAMP=$(date +%Y%m%d-%H%M%S)
RAW=$OUT_DIR/resp-$STAMP.jsonl
: >"$RAW"

SERVER_ADDR=
SERVER_PORT=
trap stop_server EXIT
trap 'exit 130' INT TERM

# start_server NAME: starts it on 127.0.0.1 and a free port; sets SERVER_PID, SERVER_ADDR
# and SERVER_PORT once it accepts connections.
start_server() {
    local name=$1 log_file=$OUT_DIR/logs/$STAMP-resp-$1.log
    SERVER_PORT=$(free_port)
    SERVER_ADDR=127.0.0.1:$SERVER_PORT
    case $name in
        redis)
            redis-server --bind 127.0.0.1 --port "$SERVER_PORT" --save '' --appendonly no \
                --protected-mode no --maxmemory "${MAX_MEMORY_MB}mb" --logfile "" \
                >"$log_file" 2>&1 &
            ;;
        sessiond)
            "$SESSIOND" --resp-listen "$SERVER_ADDR" --memcache-listen off --aspnet-listen off \
                --sharedance-listen off --threads "$THREADS" --in-memory \
                --max-memory "${MAX_MEMORY_MB}MiB" >"$log_file" 2>&1 &
            ;;
        floor)
            "$FLOOR" --listen "$SERVER_ADDR" --value-size "$VALUE_SIZE" >"$log_file" 2>&1 &
            ;;
    esac
    SERVER_PID=$!
    await_server "$name" "$SERVER_PID" "$log_file" 30 port_open "$SERVER_PORT"
}

# The server's user + system CPU time so far, in clock ticks.
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat"
}

# redis_benchmark NAME TEST PIPELINE: one redis-benchmark run on the running server; appends
# its figures and the server's CPU per request to RAW.
redis_benchmark() {
    local name=$1 test=$2 pipeline=$3 before after csv
    before=$(cpu_ticks)
    csv=$(timeout "$RUN_LIMIT" redis-benchmark -h 127.0.0.1 -p "$SERVER_PORT" -c "$CONNECTIONS" \
        -n "$REQUESTS" -d "$VALUE_SIZE" -r "$KEYS" -P "$pipeline" -t "$test" --csv -q) ||
        die "redis-benchmark failed against $name"
    after=$(cpu_ticks)
    python3 - "$name" "$test" "$pipeline" "$REQUESTS" "$((after - before))" "$CLOCK_TICKS" \
        "$rep" "$csv" <<'EOF' >>"$RAW"
import csv, io, json, sys
name, test, pipeline, requests, ticks, hz, rep, text = sys.argv[1:]
rows = list(csv.reader(io.StringIO(text)))
header, values = rows[0], rows[-1]
row = dict(zip(header, values))
r = {
    "kind": "redis-benchmark", "server": name, "test": f"{test.upper()} P{pipeline}",
    "rep": int(rep), "ops_per_sec": float(row["rps"]),
    "p50_us": float(row["p50_latency_ms"]) * 1000, "p99_us": float(row["p99_latency_ms"]) * 1000,
    "server_cpu_us_per_op": int(ticks) / int(hz) * 1e6 / int(requests),
}
print(json.dumps(r))
print(f"    {r['test']}: {r['ops_per_sec']:,.0f} req/s  p99 {r['p99_us']:.0f} µs"
      f"  server {r['server_cpu_us_per_op']:.2f} CPU µs/op", file=sys.stderr)
EOF
}

# loadgen SERVER TEST ARGS...: one sessiond-loadgen run (KEYS keys prefilled) on a fresh
# server; appends its figures, with the server's CPU per operation, to RAW.
loadgen() {
    local server=$1 test=$2 label line
    shift 2
    start_server "$server"
    label="kind=loadgen,server=$server,test=$test,rep=$rep"
    if ! line=$(timeout "$RUN_LIMIT" "$LOADGEN" --protocol resp --addr "$SERVER_ADDR" \
        --server-pid "$SERVER_PID" --json --label "$label" \
        --connections "$CONNECTIONS" --keys "$KEYS" --prefill \
        --duration "$DURATION" --warmup "$WARMUP" "$@"); then
        stop_server
        die "load generator failed for $label"
    fi
    stop_server
    python3 - "$line" "$server" "$test" "$rep" <<'EOF' >>"$RAW"
import json, sys
r = json.loads(sys.argv[1])
r.update({"kind": "loadgen", "server": sys.argv[2], "test": sys.argv[3],
          "rep": int(sys.argv[4])})
print(json.dumps(r))
print(f"    {r['test']}: {r['ops_per_sec']:,.0f} ops/s  p99 {r['p99_us']:.0f} µs"
      f"  server {r['server_cpu_us_per_op']:.2f} CPU µs/op"
      + (f"  ERRORS {r['errors']}" if r["errors"] else ""), file=sys.stderr)
EOF
}

for rep in $(seq "$REPS"); do
    order=$SERVERS
    (( rep % 2 == 0 )) && order=$(echo "$SERVERS" | tr ' ' '\n' | tac | tr '\n' ' ')
    for server in $order; do
        # The floor answers only the load generator's GET and SET, not redis-benchmark's
        # start-up probes.
        if [[ $server != floor ]]; then
            log "redis-benchmark, $server, repetition $rep/$REPS"
            start_server "$server"
            for pipeline in 1 16; do
                for test in set get; do
                    redis_benchmark "$server" "$test" "$pipeline"
                done
            done
            stop_server
        fi

        log "sessiond-loadgen, $server, repetition $rep/$REPS"
        loadgen "$server" "session mix (loadgen)" "${WORKLOAD[@]}"
        loadgen "$server" "SET P16 (loadgen)" "${SET_P16[@]}"
        loadgen "$server" "GET P16 (loadgen)" "${GET_P16[@]}"
    done
done

export BENCH_REPS=$REPS BENCH_KEYS=$KEYS BENCH_CONNECTIONS=$CONNECTIONS \
    BENCH_REQUESTS=$REQUESTS BENCH_DURATION=$DURATION BENCH_WARMUP=$WARMUP \
    BENCH_REDIS="$(redis-server --version 2>/dev/null | grep -o 'v=[0-9.]*' || echo n/a)" \
    BENCH_GIT="$(git describe --always --dirty 2>/dev/null || echo unknown)"
python3 - "$RAW" >"$OUT_DIR/resp-latest.md" <<'EOF'
import json, os, statistics, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
tests = []
by = {}
for r in rows:
    if r["test"] not in tests:
        tests.append(r["test"])
    by.setdefault((r["test"], r["server"]), []).append(r)

def med(test, server, field):
    runs = by.get((test, server), [])
    return statistics.median(r[field] for r in runs) if runs else None

env = os.environ.get
out = [
    "# The Redis protocol: sessiond against redis-server",
    "",
    f"sessiond {env('BENCH_GIT')} (--in-memory, --threads 1), Redis {env('BENCH_REDIS')} "
    f"(--save '' --appendonly no). redis-benchmark: {env('BENCH_REQUESTS')} requests per "
    f"test, {env('BENCH_CONNECTIONS')} clients, 4 KiB values, {env('BENCH_KEYS')} random keys. "
    f"Session mix: sessiond-loadgen --protocol resp, 4 KiB values, 1 set : 4 gets, "
    f"{env('BENCH_KEYS')} keys prefilled, {env('BENCH_CONNECTIONS')} connections, "
    f"{env('BENCH_WARMUP')} warm-up, {env('BENCH_DURATION')} measured. Medians of "
    f"{env('BENCH_REPS')} repetitions, each on fresh servers.",
    "",
    "| test | sessiond ops/s | Redis ops/s | ops/s ratio | sessiond p99 µs | Redis p99 µs "
    "| p99 ratio | sessiond CPU µs/op | Redis CPU µs/op | CPU/op ratio "
    "| floor CPU µs/op | CPU above floor, ratio |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
]
for test in tests:
    s = {f: med(test, "sessiond", f) for f in ("ops_per_sec", "p99_us", "server_cpu_us_per_op")}
    r = {f: med(test, "redis", f) for f in ("ops_per_sec", "p99_us", "server_cpu_us_per_op")}
    floor = med(test, "floor", "server_cpu_us_per_op")
    def cell(v, fmt):
        return fmt.format(v) if v is not None else "–"
    def ratio(a, b):
        return f"{a / b:.2f}×" if a is not None and b else "–"
    def above_ratio(a, b):
        # Only meaningful when both servers spend more than the floor (noise can put a
        # pipelined test's figures under it).
        if None in (a, b, floor) or a <= floor or b <= floor:
            return "–"
        return f"{(a - floor) / (b - floor):.2f}×"
    out.append("| " + " | ".join([
        test,
        cell(s["ops_per_sec"], "{:,.0f}"), cell(r["ops_per_sec"], "{:,.0f}"),
        ratio(s["ops_per_sec"], r["ops_per_sec"]),
        cell(s["p99_us"], "{:.0f}"), cell(r["p99_us"], "{:.0f}"), ratio(s["p99_us"], r["p99_us"]),
        cell(s["server_cpu_us_per_op"], "{:.2f}"), cell(r["server_cpu_us_per_op"], "{:.2f}"),
        ratio(s["server_cpu_us_per_op"], r["server_cpu_us_per_op"]),
        cell(floor, "{:.2f}"),
        above_ratio(s["server_cpu_us_per_op"], r["server_cpu_us_per_op"]),
    ]) + " |")
out += [
    "",
    "Ratios are sessiond's over Redis's: above 1× is better for ops/s, worse for p99 and CPU. "
    "Targets (issue 6): CPU per operation at most 0.8×, throughput at least 1.1×, p99 no worse.",
    "",
    "Floor: sessiond-floor, which reads each request and answers it (GET with a value built "
    "from the key, SET with +OK) without storing anything, on one thread as the others. "
    "CPU above floor, ratio: (sessiond's CPU per operation − the floor's) over (Redis's − the "
    "floor's), the part each server spends on its own work.",
    "",
    "Latency: redis-benchmark's with -P 16 is the time from the write of a batch to the first "
    "byte of its first reply, recorded for each of its 16 requests; a server that answers a "
    "batch with one write shows its whole batch there. The (loadgen) rows time each reply "
    "from the write of its batch.",
    "",
]
print("\n".join(out))
EOF
cp "$RAW" "$OUT_DIR/resp-latest.jsonl"
cat "$OUT_DIR/resp-latest.md"
log "wrote $OUT_DIR/resp-latest.md (raw: $RAW)"
