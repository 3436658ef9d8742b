# Shell pieces shared by the benchmark scripts (sourced, not run). The sourcing script sets
# LOG_TAG (its name in log lines) and, optionally, STOP_GRACE_SECS (how long a server may take
# to exit after SIGTERM before it is killed; 10 by default).

log() { printf '[%s %s] %s\n' "$LOG_TAG" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Durations as whole seconds (rounded up, plus one), to bound each run with `timeout`.
to_secs() {
    python3 - "$1" <<'PY'
import re, sys
m = re.fullmatch(r"([0-9.]+)\s*(ms|s|m|min|h)?", sys.argv[1].strip())
if not m:
    sys.exit(f"bad duration {sys.argv[1]!r}")
n, unit = float(m.group(1)), m.group(2) or "s"
print(int(n * {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600}[unit]) + 1)
PY
}

# Whether 127.0.0.1:$1 accepts connections.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# await_server NAME PID LOG SECONDS CHECK...: waits until the command CHECK... succeeds,
# polling every 0.1 s, for the server NAME started as PID; dies, with the end of LOG, if the
# server exits first or SECONDS pass.
await_server() {
    local name=$1 pid=$2 log_file=$3 secs=$4
    shift 4
    for _ in $(seq $(( secs * 10 ))); do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$log_file" >&2 || true
            die "$name exited during start-up (log: $log_file)"
        fi
        "$@" && return 0
        sleep 0.1
    done
    die "$name was not ready within $secs s (log: $log_file)"
}

# Whether sessiond, logging to $1, said it is ready (every listener bound, recovery done).
logged_ready() {
    grep -q ' ready$' "$1"
}

# logged_addr LOG PROTOCOL: the address sessiond logged for its PROTOCOL listener (one bound
# to port 0 gets its port from the kernel); empty if none.
logged_addr() {
    grep -o "listening protocol=$2 addr=[0-9.:]*" "$1" | head -n1 | sed 's/.*addr=//'
}

# The server started last: its pid and the directory to remove after it.
SERVER_PID=
SERVER_DIR=

# Stops the server (SIGTERM, then SIGKILL after STOP_GRACE_SECS) and removes SERVER_DIR.
stop_server() {
    if [[ -n $SERVER_PID ]]; then
        local pid=$SERVER_PID
        SERVER_PID=
        kill "$pid" 2>/dev/null || true
        for _ in $(seq $(( ${STOP_GRACE_SECS:-10} * 10 ))); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "server $pid ignored SIGTERM for ${STOP_GRACE_SECS:-10} s; killing it"
            kill -9 "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    fi
    if [[ -n $SERVER_DIR ]]; then
        rm -rf "$SERVER_DIR"
        SERVER_DIR=
    fi
}

# The servers of SERVERS that are also in $2 (all of them without $2), in the order for
# repetition $1: reversed on even repetitions, so neither always runs on a warmer machine.
server_order() {
    local -a s=()
    local x
    for x in $SERVERS; do
        [[ -z ${2:-} || " $2 " == *" $x "* ]] && s+=("$x")
    done
    (( ${#s[@]} > 0 )) || return 0
    if (( $1 % 2 == 0 )); then
        local -a r=()
        for (( i = ${#s[@]} - 1; i >= 0; i-- )); do r+=("${s[i]}"); done
        s=("${r[@]}")
    fi
    echo "${s[@]}"
}
