#!/usr/bin/env bash
# Loopback throughput of an unlimited rrbench recovery against iperf3, measured in one run.
#
# iperf3 sends one TCP stream for 5 s (rrbench uses one connection, so -P 1 is the same streams).
# rrbench generates a 1 GiB index in /dev/shm, serves it with the rate limit off and recovers it
# into /dev/shm (chunk 1mb, 5 in flight, every chunk and file checksummed, every file fsynced),
# three times; the median counts. Prints both figures and the ratio (target >= 0.6).
#
# Usage: scripts/compare-iperf3.sh [--size 1gb] [--runs 3]
set -euo pipefail
cd "$(dirname "$0")/.."

size=1gb
runs=3
while [ $# -gt 0 ]; do
    case "$1" in
        --size) size=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "unknown option: $1 (try --help)" >&2; exit 2 ;;
    esac
done

scripts/ensure-packages.sh iperf3 procps
command -v python3 >/dev/null || { echo "python3 is needed to read JSON" >&2; exit 1; }
cargo build --release --quiet
bin=target/release/rrbench

work=$(mktemp -d /dev/shm/rrbench-iperf3.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== iperf3, 1 stream, 5 s, loopback"
port=$(free_port)
iperf3 -s -B 127.0.0.1 -p "$port" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
sleep 0.2
iperf3 -c 127.0.0.1 -p "$port" -t 5 -P 1 -J >"$work/iperf3.json"
iperf_mib=$(json "$work/iperf3.json" 'd["end"]["sum_received"]["bits_per_second"]/8/1048576')
printf "iperf3: %.1f MiB/s\n" "$iperf_mib"

echo "== rrbench: $size index into /dev/shm, unlimited, $runs runs"
"$bin" gen-index --dir "$work/leader" --size "$size" --files 40 --seed 7 >/dev/null
"$bin" leader --dir "$work/leader" --listen 127.0.0.1:0 --max-bytes-per-sec 0 --quiet 2>"$work/leader.log" &
pids+=($!)
for _ in $(seq 100); do grep -q '^leader on' "$work/leader.log" && break; sleep 0.1; done
addr=$(awk '/^leader on/ {print $3; exit}' "$work/leader.log")
[ -n "$addr" ] || { echo "leader did not start:" >&2; cat "$work/leader.log" >&2; exit 1; }
results=()
for i in $(seq "$runs"); do
    "$bin" recover --from "$addr" --dir "$work/follower" --max-bytes-per-sec 0 --json --no-progress >"$work/run$i.json"
    mib=$(json "$work/run$i.json" 'd["throughput_mib_s"]')
    printf "run %d: %.1f MiB/s (%s)\n" "$i" "$mib" "$(json "$work/run$i.json" 'd["outcome"]')"
    results+=("$mib")
done
rr_mib=$(printf '%s\n' "${results[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')

echo
printf "%-34s %10.1f MiB/s\n" "iperf3 (1 stream)" "$iperf_mib"
printf "%-34s %10.1f MiB/s\n" "rrbench recover (median of $runs)" "$rr_mib"
python3 -c "import sys; print('ratio rrbench / iperf3:            %10.2f  (target >= 0.6)' % (float(sys.argv[1]) / float(sys.argv[2])))" "$rr_mib" "$iperf_mib"
