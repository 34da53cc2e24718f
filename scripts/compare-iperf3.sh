#!/usr/bin/env bash
# Loopback throughput of an unlimited rrbench recovery against iperf3, measured in one run.
#
# iperf3 sends one TCP stream for 5 s (rrbench uses one connection, so -P 1 is the same streams).
# rrbench generates a 1 GiB index in /dev/shm, serves it with the rate limit off and recovers it
# into /dev/shm (chunk 1mb, 5 in flight, every chunk and file checksummed, every file fsynced)
# after a discarded warm-up. The two alternate (iperf3, rrbench, iperf3, ...), --runs times each;
# the medians count. Prints both figures and the ratio (issue 20's target: >= 0.8).
#
# Usage: scripts/compare-iperf3.sh [--size 1gb] [--runs 3]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

parse_size_runs 1gb 3 "$@"

scripts/ensure-packages.sh iperf3 procps
cargo build --release --quiet

echo "== iperf3 (1 stream, 5 s, loopback) and rrbench ($size index into /dev/shm, unlimited), $runs runs of each, interleaved"
port=$(free_port)
iperf3 -s -B 127.0.0.1 -p "$port" >/dev/null 2>&1 &
pids+=($!)
wait_port "$port"
sleep 0.2
start_leader "$size"
warm_up "$leader_addr"
references=() results=()
for i in $(seq "$runs"); do
    iperf3 -c 127.0.0.1 -p "$port" -t 5 -P 1 -J >"$work/iperf3-$i.json"
    ref=$(json "$work/iperf3-$i.json" 'd["end"]["sum_received"]["bits_per_second"]/8/1048576')
    mib=$(recover_mib "$leader_addr" "run$i")
    printf "run %d: iperf3 %7.1f | rrbench %7.1f MiB/s\n" "$i" "$ref" "$mib"
    references+=("$ref") results+=("$mib")
done
iperf_mib=$(printf '%s\n' "${references[@]}" | median)
rr_mib=$(printf '%s\n' "${results[@]}" | median)

echo
printf "%-34s %10.1f MiB/s\n" "iperf3 (1 stream, median of $runs)" "$iperf_mib"
printf "%-34s %10.1f MiB/s\n" "rrbench recover (median of $runs)" "$rr_mib"
printf "%-34s %10s  (target >= 0.8)\n" "ratio rrbench / iperf3" "$(ratio "$rr_mib" "$iperf_mib")"
