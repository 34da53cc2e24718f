#!/usr/bin/env bash
# Runs the criterion benches (bench/) and prints one table of throughput per bench, read from
# criterion's own estimates, so two commits compare with one command:
#
#   git checkout A && scripts/bench.sh --save-baseline a
#   git checkout B && scripts/bench.sh --baseline a        # adds "vs a" columns
#
# Usage: scripts/bench.sh [--save-baseline NAME | --baseline NAME] [BENCH...]
#   BENCH: codec checksum ratelimit recovery proxy (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."

criterion_args=()
baseline=""
benches=()
while [ $# -gt 0 ]; do
    case "$1" in
        --save-baseline) criterion_args=(--save-baseline "$2"); shift 2 ;;
        --baseline) criterion_args=(--baseline "$2"); baseline=$2; shift 2 ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        -*) echo "unknown option: $1 (try --help)" >&2; exit 2 ;;
        *) benches+=("$1"); shift ;;
    esac
done
[ ${#benches[@]} -gt 0 ] || benches=(codec checksum ratelimit recovery proxy)
command -v python3 >/dev/null || { echo "python3 is needed to read criterion's JSON" >&2; exit 1; }

started=$(date +%s)
for bench in "${benches[@]}"; do
    echo "== cargo bench --bench $bench" >&2
    cargo bench --quiet --bench "$bench" -- --noplot "${criterion_args[@]}" >&2
done

python3 - "$started" "$baseline" "${benches[@]}" <<'PY'
import json, os, sys
started, baseline, benches = int(sys.argv[1]), sys.argv[2], set(sys.argv[3:])
rows = []
for root, dirs, files in os.walk("target/criterion"):
    if os.path.basename(root) != "new" or "benchmark.json" not in files:
        continue
    if os.path.getmtime(os.path.join(root, "estimates.json")) < started:
        continue  # an older run of a bench not run now
    bench = json.load(open(os.path.join(root, "benchmark.json")))
    if bench["group_id"] not in benches:
        continue
    mean_ns = json.load(open(os.path.join(root, "estimates.json")))["mean"]["point_estimate"]
    nbytes = (bench.get("throughput") or {}).get("Bytes")
    mib_s = nbytes / (mean_ns / 1e9) / 1048576 if nbytes else None
    vs = ""
    change = os.path.join(os.path.dirname(root), "change", "estimates.json")
    if baseline and os.path.exists(change):
        rel = json.load(open(change))["mean"]["point_estimate"]  # relative change of time
        vs = "%+.1f%% time" % (rel * 100)
    rows.append((bench["full_id"], mean_ns, mib_s, vs))
rows.sort()
unit = lambda ns: "%.2f ms" % (ns / 1e6) if ns >= 1e6 else ("%.2f us" % (ns / 1e3) if ns >= 1e3 else "%.1f ns" % ns)
print("%-44s %12s %14s %s" % ("bench", "mean time", "throughput", ("vs " + baseline) if baseline else ""))
for name, ns, mib, vs in rows:
    tp = ("%.1f GiB/s" % (mib / 1024) if mib >= 10240 else "%.1f MiB/s" % mib) if mib else "-"
    print("%-44s %12s %14s %s" % (name, unit(ns), tp, vs))
PY
