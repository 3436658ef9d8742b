#!/usr/bin/env bash
# What durability costs (issue 4): the 4 KiB session mix of scripts/bench.sh against
# sessiond with each persistence setting and against Redis with an append-only file, in
# one run, with the identical workload (sessiond-loadgen: memcached text protocol for
# sessiond, RESP for Redis; the same keys, values, expiry and request mix).
#
#   sessiond --in-memory | --fsync no | --fsync everysec | --fsync always
#   redis-server --appendonly yes --appendfsync everysec | always
#   redis-server without persistence (redis-none): what Redis's own everysec and always
#   cost it, the yardstick for sessiond's ratios to --in-memory
#
# Every measurement starts a fresh server (a fresh data directory under TMP_BASE, on
# disk, not tmpfs), prefills it, measures, and stops it by PID (SIGTERM). Server order
# is reversed on even repetitions; the report takes the median of each metric over the
# repetitions. Writes OUT_DIR/durability-latest.md (raw: OUT_DIR/durability-*.jsonl).
#
# Environment (defaults in brackets):
#   DURATION [10s]  WARMUP [2s]  REPS [3]  KEYS [100000]  CONNECTIONS [50]
#   THREADS [1]     sessiond --threads (Redis serves commands on one thread)
#   SERVERS ["inmem no everysec always redis-none redis-everysec redis-always"]
#   TMP_BASE [/tmp]  where data directories go (must be a real disk for fsync to count)
#   MAX_MEMORY_MB [4096]  OUT_DIR [bench-results]
#
# Quick smoke test:  DURATION=2s WARMUP=1s REPS=1 scripts/bench_durability.sh
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
REPS=${REPS:-3}
KEYS=${KEYS:-100000}
CONNECTIONS=${CONNECTIONS:-50}
THREADS=${THREADS:-1}
SERVERS=${SERVERS:-"inmem no everysec always redis-none redis-everysec redis-always"}
TMP_BASE=${TMP_BASE:-/tmp}
MAX_MEMORY_MB=${MAX_MEMORY_MB:-4096}
OUT_DIR=${OUT_DIR:-bench-results}

# LOADGEN may name another build of the load generator.
LOADGEN=${LOADGEN:-$ROOT/target/release/sessiond-loadgen}
# SESSIOND may name another build of sessiond, to compare two builds in turn.
SESSIOND=${SESSIOND:-$ROOT/target/release/sessiond}
# The session-mix-4k scenario of scripts/bench.sh.
WORKLOAD=(--value-size 4096 --set-ratio 1 --get-ratio 4)

LOG_TAG=bench-durability
# Redis and a sessiond flushing its log may take a while to exit.
STOP_GRACE_SECS=30
# shellcheck source=scripts/bench_common.sh
source "$ROOT/scripts/bench_common.sh"

# --- prerequisites ----------------------------------------------------------

for s in $SERVERS; do
    case $s in
        inmem | no | everysec | always | redis-none | redis-everysec | redis-always) ;;
        *) die "unknown server '$s' in SERVERS" ;;
    esac
done
log "building sessiond and sessiond-loadgen (release)"
cargo build --release -p sessiond -p sessiond-loadgen
command -v python3 >/dev/null || die "python3 is needed (free ports, report)"
if [[ " $SERVERS " == *" redis-"* ]] && ! command -v redis-server >/dev/null; then
    log "redis-server not found; installing the Debian package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y redis-server >/dev/null 2>&1 || {
        apt-get update >/dev/null
        apt-get install -y redis-server >/dev/null
    }
fi

RUN_LIMIT=$(( $(to_secs "$DURATION") + $(to_secs "$WARMUP") + 180 ))

mkdir -p "$OUT_DIR/logs"
STAMP=$(date +%Y%m%d-%H%M%S)
RAW=$OUT_DIR/durability-$STAMP.jsonl
: >"$RAW"

# --- server control -----------------------------------------------------------

SERVER_ADDR=
SERVER_LOG=

trap stop_server EXIT
trap 'exit 130' INT TERM

# start_server NAME: starts it on 127.0.0.1 with a fresh data directory; sets SERVER_PID
# and SERVER_ADDR once it accepts connections.
start_server() {
    local name=$1
    SERVER_DIR=$(mktemp -d "$TMP_BASE/sessiond-durability-bench.XXXXXX")
    SERVER_LOG=$OUT_DIR/logs/$STAMP-durability-$name.log
    case $name in
        redis-*)
            local port
            port=$(free_port)
            SERVER_ADDR=127.0.0.1:$port
            # No RDB snapshots: the append-only file is the persistence under test.
            local aof=(--appendonly yes --appendfsync "${name#redis-}")
            [[ $name == redis-none ]] && aof=(--appendonly no)
            redis-server --bind 127.0.0.1 --port "$port" --dir "$SERVER_DIR" --save '' \
                "${aof[@]}" --protected-mode no \
                --maxmemory "${MAX_MEMORY_MB}mb" --logfile "" >"$SERVER_LOG" 2>&1 &
            SERVER_PID=$!
            await_server redis-server "$SERVER_PID" "$SERVER_LOG" 10 port_open "$port"
            ;;
        *)
            local persistence=(--data-dir "$SERVER_DIR" --fsync "$name")
            [[ $name == inmem ]] && persistence=(--in-memory)
            "$SESSIOND" --memcache-listen 127.0.0.1:0 --aspnet-listen off --resp-listen off \
                --sharedance-listen off --threads "$THREADS" \
                --max-memory "${MAX_MEMORY_MB}MiB" "${persistence[@]}" >"$SERVER_LOG" 2>&1 &
            SERVER_PID=$!
            await_server sessiond "$SERVER_PID" "$SERVER_LOG" 30 logged_ready "$SERVER_LOG"
            SERVER_ADDR=$(logged_addr "$SERVER_LOG" memcache)
            [[ -n $SERVER_ADDR ]] || die "sessiond logged no memcache address ($SERVER_LOG)"
            ;;
    esac
}


# --- measurements -----------------------------------------------------------------

for rep in $(seq "$REPS"); do
    for server in $(server_order "$rep"); do
        log "session-mix-4k, $server, repetition $rep/$REPS"
        start_server "$server"
        protocol=text
        [[ $server == redis-* ]] && protocol=resp
        label="kind=durability,scenario=session-mix-4k,threads=$THREADS,server=$server,rep=$rep"
        if ! line=$(timeout "$RUN_LIMIT" "$LOADGEN" --protocol "$protocol" --addr "$SERVER_ADDR" \
            --server-pid "$SERVER_PID" --json --label "$label" \
            --connections "$CONNECTIONS" --keys "$KEYS" --prefill \
            --duration "$DURATION" --warmup "$WARMUP" "${WORKLOAD[@]}"); then
            stop_server
            die "load generator failed for $label (server log: $SERVER_LOG)"
        fi
        # The data written, before the directory goes: what the log/AOF grew to.
        disk=$(du -sb "$SERVER_DIR" | cut -f1)
        stop_server
        python3 - "$line" "$disk" <<'EOF' >>"$RAW"
import json, sys
r = json.loads(sys.argv[1])
r["data_dir_bytes"] = int(sys.argv[2])
print(json.dumps(r))
EOF
        python3 - "$line" <<'EOF' >&2
import json, sys
r = json.loads(sys.argv[1])
print(f"    {r['ops_per_sec']:,.0f} ops/s  p50 {r['p50_us']:.0f} µs  p99 {r['p99_us']:.0f} µs"
      f"  server {r['server_cpu_us_per_op']:.2f} CPU µs/op"
      + (f"  ERRORS {r['errors']} ({r.get('first_error')})" if r["errors"] else "")
      + (f"  misses {r['misses']}" if r["misses"] else ""))
EOF
    done
done

# --- report -------------------------------------------------------------------------

export BENCH_DURATION=$DURATION BENCH_WARMUP=$WARMUP BENCH_REPS=$REPS BENCH_KEYS=$KEYS \
    BENCH_CONNECTIONS=$CONNECTIONS BENCH_THREADS=$THREADS \
    BENCH_REDIS="$(redis-server --version 2>/dev/null | grep -o 'v=[0-9.]*' || echo n/a)" \
    BENCH_GIT="$(git describe --always --dirty 2>/dev/null || echo unknown)" \
    BENCH_FS="$(df -T "$TMP_BASE" | awk 'NR == 2 { print $1 " (" $2 ")" }')"
python3 - "$RAW" >"$OUT_DIR/durability-latest.md" <<'EOF'
import json, os, statistics, sys

NAMES = {
    "inmem": "sessiond --in-memory",
    "no": "sessiond --fsync no",
    "everysec": "sessiond --fsync everysec",
    "always": "sessiond --fsync always",
    "redis-none": "redis without persistence",
    "redis-everysec": "redis appendfsync everysec",
    "redis-always": "redis appendfsync always",
}
MATCHING_REDIS = {"inmem": "redis-none", "everysec": "redis-everysec",
                  "always": "redis-always"}
COLUMNS = [
    ("ops/s", "ops_per_sec", "{:,.0f}"),
    ("p50 µs", "p50_us", "{:.0f}"),
    ("p99 µs", "p99_us", "{:.0f}"),
    ("p99.9 µs", "p999_us", "{:.0f}"),
    ("server CPU µs/op", "server_cpu_us_per_op", "{:.2f}"),
]

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in rows:
    lab = dict(p.split("=", 1) for p in r["label"].split(","))
    by.setdefault(lab["server"], []).append(r)
med = {s: {f: statistics.median([r[f] for r in runs]) for _, f, _ in COLUMNS}
       for s, runs in by.items()}
for s, runs in by.items():
    med[s]["disk"] = statistics.median([r.get("data_dir_bytes", 0) for r in runs])

def ratio(a, b):
    return f"{a / b:.2f}×" if b else "–"

env = os.environ.get
out = [
    "# Durability: session mix with persistence",
    "",
    f"sessiond {env('BENCH_GIT')}, Redis {env('BENCH_REDIS')}; data directories on "
    f"{env('BENCH_FS')}. session-mix-4k (4 KiB values, 1 set : 4 gets), "
    f"{env('BENCH_KEYS')} keys prefilled, {env('BENCH_CONNECTIONS')} connections, one "
    f"request in flight each; sessiond --threads {env('BENCH_THREADS')}; "
    f"{env('BENCH_WARMUP')} warm-up, {env('BENCH_DURATION')} measured; median of "
    f"{env('BENCH_REPS')} repetitions, each on a fresh server and data directory.",
    "",
    "| server | " + " | ".join(c[0] for c in COLUMNS)
    + " | ops/s vs no persistence | CPU/op vs no persistence | ops/s vs Redis | p99 vs Redis | CPU/op vs Redis | data dir MiB | errors | reps |",
    "|---|" + "---:|" * (len(COLUMNS) + 8),
]
for s in NAMES:
    if s not in med:
        continue
    m = med[s]
    cells = [NAMES[s]] + [f.format(m[field]) for _, field, f in COLUMNS]
    # Each server against itself without persistence: sessiond --in-memory, Redis with
    # neither append-only file nor RDB.
    base = med.get("redis-none" if s.startswith("redis") else "inmem")
    if base:
        cells += [ratio(m["ops_per_sec"], base["ops_per_sec"]),
                  ratio(m["server_cpu_us_per_op"], base["server_cpu_us_per_op"])]
    else:
        cells += ["", ""]
    redis = med.get(MATCHING_REDIS.get(s, ""))
    if redis:
        cells += [ratio(m["ops_per_sec"], redis["ops_per_sec"]),
                  ratio(m["p99_us"], redis["p99_us"]),
                  ratio(m["server_cpu_us_per_op"], redis["server_cpu_us_per_op"])]
    else:
        cells += ["", "", ""]
    cells += [f"{m['disk'] / 1048576:,.0f}", str(sum(r["errors"] for r in by[s])),
              str(len(by[s]))]
    out.append("| " + " | ".join(cells) + " |")
out += [
    "",
    "Ratios above 1× are better for ops/s, worse for latency and CPU. 'vs no persistence' "
    "compares each server with itself without persistence (sessiond --in-memory, Redis "
    "without AOF or RDB). 'vs Redis' compares with Redis under the same fsync policy. "
    "'data dir MiB': the log (sessiond) or append-only file (Redis) at the end of a run.",
    "",
]
print("\n".join(out))
EOF
cp "$RAW" "$OUT_DIR/durability-latest.jsonl"
cat "$OUT_DIR/durability-latest.md"
log "wrote $OUT_DIR/durability-latest.md (raw: $RAW)"
