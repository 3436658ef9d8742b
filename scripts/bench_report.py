#!/usr/bin/env python3
"""Turns the JSON lines written by scripts/bench.sh into a Markdown report.

Each line is one sessiond-loadgen result whose "label" is
"kind=...,scenario=...,threads=...,server=...,rep=...". Repetitions of the same
(scenario, protocol, threads, server) are reduced to the median of each metric
separately, and each group gets a "sessiond/memcached" ratio row.

Results counted in page requests (the aspnet and sharedance protocols, "op_unit":
"page") get a table of their own, with the memcached session mix beside them as the
reference, converted at two requests per page.

Usage: bench_report.py RESULTS.jsonl > report.md
(bench.sh passes run settings in BENCH_* environment variables for the header.)
"""

import json
import os
import platform
import statistics
import sys

SCENARIO_TEXT = {
    "session-mix-4k": "session mix, 4 KiB values, 1 set : 4 gets",
    "session-mix-1k": "session mix, 1 KiB values, 1 set : 4 gets",
    "pure-get-4k": "gets only, 4 KiB values",
    "aspnet-page-4k": "ASP.NET State Server, 4 KiB sessions; a page = GET Exclusive: acquire "
    "+ PUT releasing the lock, persistent connections",
    "sharedance-page-4k": "sharedance, 4 KiB sessions; a page = fetch + store, a new TCP "
    "connection for each as sharedance's PHP client does",
}

# Requests a page costs a PHP memcached session handler: a get when the session starts
# and a set when it is written back.
REQUESTS_PER_PAGE = 2

# Scenario whose per-request figures serve as the reference in the page table.
PAGE_REFERENCE = ("session-mix-4k", "text")

# (column title, JSON field, format)
BENCH_COLUMNS = [
    ("ops/s", "ops_per_sec", "{:,.0f}"),
    ("p50 µs", "p50_us", "{:.0f}"),
    ("p99 µs", "p99_us", "{:.0f}"),
    ("p99.9 µs", "p999_us", "{:.0f}"),
    ("server CPU µs/op", "server_cpu_us_per_op", "{:.2f}"),
    ("client CPU µs/op", "client_cpu_us_per_op", "{:.2f}"),
]

PAGE_COLUMNS = [
    ("pages/s", "ops_per_sec", "{:,.0f}"),
    ("requests/s", "requests_per_sec", "{:,.0f}"),
    ("p50 µs/page", "p50_us", "{:.0f}"),
    ("p99 µs/page", "p99_us", "{:.0f}"),
    ("server CPU µs/page", "server_cpu_us_per_op", "{:.2f}"),
    ("client CPU µs/page", "client_cpu_us_per_op", "{:.2f}"),
]


def parse_label(label):
    return dict(part.split("=", 1) for part in label.split(","))


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(fmt_str, value):
    return "–" if value is None else fmt_str.format(value)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}×"


def server_order(servers):
    return sorted(servers, key=lambda s: (s != "sessiond", s))


def group(rows):
    """Results by (scenario, protocol, threads), then by server."""
    groups = {}
    for r in rows:
        lab = r["_label"]
        key = (lab["scenario"], r["protocol"], int(lab["threads"]))
        groups.setdefault(key, {}).setdefault(lab["server"], []).append(r)
    return groups


def medians(runs, columns):
    return {field: median([r.get(field) for r in runs]) for _, field, _ in columns}


def page_table(page_rows, request_groups):
    out = []
    header = ["scenario", "threads", "server"] + [c[0] for c in PAGE_COLUMNS]
    header += ["misses", "locked", "errors", "reps"]
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "|".join(["---"] * 3 + ["---:"] * (len(header) - 3)) + "|")
    threads_seen = set()
    for (scenario, _protocol, threads), by_server in group(page_rows).items():
        threads_seen.add(threads)
        meds = {}
        for server in server_order(by_server):
            runs = by_server[server]
            m = medians(runs, PAGE_COLUMNS)
            meds[server] = m
            cells = [scenario, str(threads), server]
            cells += [fmt(f, m[field]) for _, field, f in PAGE_COLUMNS]
            for field in ("misses", "contended", "errors"):
                cells.append(str(sum(r.get(field, 0) for r in runs)))
            cells.append(str(len(runs)))
            out.append("| " + " | ".join(cells) + " |")
        others = [s for s in meds if s != "sessiond"]
        if "sessiond" in meds:
            for other in others:
                s, o = meds["sessiond"], meds[other]
                cells = [scenario, str(threads), f"**sessiond/{other}**"]
                cells += [ratio(s[field], o[field]) for _, field, _ in PAGE_COLUMNS]
                cells += ["", "", "", ""]
                out.append("| " + " | ".join(cells) + " |")
    # The reference: memcached-protocol figures per request, times two requests a page.
    # Latency is left out: two round trips of a mix are not a measured page.
    for (scenario, protocol, threads), by_server in request_groups.items():
        if (scenario, protocol) != PAGE_REFERENCE or threads not in threads_seen:
            continue
        for server in server_order(by_server):
            m = medians(by_server[server], BENCH_COLUMNS)
            per_page = {
                "ops_per_sec": m["ops_per_sec"] / REQUESTS_PER_PAGE
                if m["ops_per_sec"] is not None else None,
                "requests_per_sec": m["ops_per_sec"],
                "p50_us": None,
                "p99_us": None,
                "server_cpu_us_per_op": None if m["server_cpu_us_per_op"] is None
                else m["server_cpu_us_per_op"] * REQUESTS_PER_PAGE,
                "client_cpu_us_per_op": None if m["client_cpu_us_per_op"] is None
                else m["client_cpu_us_per_op"] * REQUESTS_PER_PAGE,
            }
            cells = [f"{scenario}/{protocol} (reference, ×{REQUESTS_PER_PAGE} requests)",
                     str(threads), server]
            cells += [fmt(f, per_page[field]) for _, field, f in PAGE_COLUMNS]
            cells += ["", "", "", str(len(by_server[server]))]
            out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out.append(
        "A page is one session read and one write, timed together: p50/p99 are per page, "
        "CPU is per page. 'locked' counts exclusive GETs answered 423 (another connection "
        "held the session) and retried after 1 ms; 'misses' are sessions not found "
        f"(created by the page). Reference rows: the {PAGE_REFERENCE[0]}/{PAGE_REFERENCE[1]} "
        f"figures per request, converted at {REQUESTS_PER_PAGE} requests per page (a PHP "
        "memcached session handler's get and set); its mix is 1 set : 4 gets, so this is "
        "an approximation, and latency is not comparable."
    )
    out.append("")
    return out


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    rows = []
    with open(sys.argv[1]) as f:
        for line in f:
            line = line.strip()
            if line:
                r = json.loads(line)
                r["_label"] = parse_label(r["label"])
                rows.append(r)

    env = os.environ.get
    out = []
    out.append("# sessiond vs memcached")
    out.append("")
    out.append(
        f"Machine: {os.cpu_count()} CPUs ({cpu_model()}), Linux {platform.release()}. "
        f"memcached: {env('BENCH_MEMCACHED', '?')}. "
        + (f"sharedanced: {env('BENCH_SHAREDANCE')}. " if env("BENCH_SHAREDANCE") else "")
        + f"sessiond: {env('BENCH_GIT', '?')}."
    )
    out.append(
        f"Load: sessiond-loadgen, {env('BENCH_CONNECTIONS', '?')} connections, one request in "
        f"flight per connection, {env('BENCH_KEYS', '?')} keys prefilled, uniform random keys; "
        f"{env('BENCH_WARMUP', '?')} warm-up then {env('BENCH_DURATION', '?')} measured; "
        f"median of {env('BENCH_REPS', '?')} repetitions, each on a fresh server, "
        "server order alternating."
    )
    out.append(
        "The load generator runs on the same machine and competes with the server for "
        "CPU; 'client CPU µs/op' shows its share. Latencies are round trips seen by the "
        "client, server CPU is utime+stime of the server process over the measured window."
    )
    out.append("")

    bench = [r for r in rows if r["mode"] == "bench" and r.get("op_unit") != "page"]
    pages = [r for r in rows if r["mode"] == "bench" and r.get("op_unit") == "page"]
    groups = group(bench)
    if bench:
        header = ["scenario", "threads", "protocol", "server"] + [c[0] for c in BENCH_COLUMNS]
        header += ["errors", "misses", "reps"]
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "|".join(["---"] * 4 + ["---:"] * (len(header) - 4)) + "|")
        for (scenario, protocol, threads), by_server in groups.items():
            meds = {}
            for server in server_order(by_server):
                runs = by_server[server]
                m = medians(runs, BENCH_COLUMNS)
                meds[server] = m
                cells = [scenario, str(threads), protocol, server]
                cells += [fmt(f, m[field]) for _, field, f in BENCH_COLUMNS]
                cells.append(str(sum(r["errors"] for r in runs)))
                cells.append(str(sum(r["misses"] for r in runs)))
                cells.append(str(len(runs)))
                out.append("| " + " | ".join(cells) + " |")
            if "sessiond" in meds and "memcached" in meds:
                s, m = meds["sessiond"], meds["memcached"]
                cells = [scenario, str(threads), protocol, "**sessiond/memcached**"]
                cells += [ratio(s[field], m[field]) for _, field, _ in BENCH_COLUMNS]
                cells += ["", "", ""]
                out.append("| " + " | ".join(cells) + " |")
        out.append("")
        out.append(
            "Ratios: above 1× is better for ops/s, worse for latency and CPU. "
            "Scenarios: "
            + "; ".join(
                f"{name} = {text}"
                for name, text in SCENARIO_TEXT.items()
                if any(k[0] == name for k in groups)
            )
            + "."
        )
        out.append("")

    if pages:
        out.append("## Page requests")
        out.append("")
        out.extend(page_table(pages, groups))
        out.append(
            "Scenarios: "
            + "; ".join(
                f"{name} = {text}"
                for name, text in SCENARIO_TEXT.items()
                if any(r["_label"]["scenario"] == name for r in pages)
            )
            + "."
        )
        out.append("")

    rss = [r for r in rows if r["mode"] == "rss"]
    if rss:
        by_server = {}
        for r in rss:
            by_server.setdefault(r["_label"]["server"], []).append(r)
        first = rss[0]
        out.append(
            f"## Resident memory per stored session ({first['items']:,} items, "
            f"{first['value_size']} B values, {first['key_len']} B keys)"
        )
        out.append("")
        out.append("| server | bytes/item | beyond key+value | RSS after prefill MiB | reps |")
        out.append("|---|---:|---:|---:|---:|")
        med = {}
        for server in server_order(by_server):
            runs = by_server[server]
            per_item = median([r["bytes_per_item"] for r in runs])
            over = median([r["overhead_per_item"] for r in runs])
            after = median([r["rss_after_bytes"] / 1048576 for r in runs])
            med[server] = per_item
            out.append(f"| {server} | {per_item:,.0f} | {over:,.0f} | {after:,.1f} | {len(runs)} |")
        if "sessiond" in med and "memcached" in med:
            out.append(
                f"| **sessiond/memcached** | {ratio(med['sessiond'], med['memcached'])} | | | |"
            )
        out.append("")
        out.append(
            "bytes/item = (server VmRSS after prefill − VmRSS after connecting) / items."
        )
        out.append("")

    print("\n".join(out))


if __name__ == "__main__":
    main()
