#!/usr/bin/env bash
# What an L4 relay costs a recovery, measured in one run: an unlimited recovery of the same index
# into /dev/shm directly from the leader, through `rrbench proxy` with no faults, and through
# socat as a plain relay. Runs are interleaved (direct, proxy, socat, direct, ...) so drift on a
# shared machine hits all three alike; a warm-up run is discarded; the median of each counts.
# Targets (design.md section 10): proxy >= 0.9 x direct and >= 1.0 x socat.
#
# Usage: scripts/compare-proxy.sh [--size 1gb] [--runs 5]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

parse_size_runs 1gb 5 "$@"

scripts/ensure-packages.sh socat procps
cargo build --release --quiet

start_leader "$size"
proxy_port=$(free_port)
"$bin" proxy --listen "127.0.0.1:$proxy_port" --upstream "$leader_addr" --quiet 2>"$work/proxy.log" &
pids+=($!)
socat_port=$(free_port)
socat "TCP-LISTEN:$socat_port,bind=127.0.0.1,fork,reuseaddr" "TCP:$leader_addr" &
pids+=($!)
wait_port "$proxy_port"
wait_port "$socat_port"

echo "== $size index, unlimited, into /dev/shm; a warm-up, then $runs runs of each, interleaved"
warm_up "$leader_addr"
direct=() proxied=() socated=()
for i in $(seq "$runs"); do
    d=$(recover_mib "$leader_addr" "direct$i")
    p=$(recover_mib "127.0.0.1:$proxy_port" "proxy$i")
    s=$(recover_mib "127.0.0.1:$socat_port" "socat$i")
    printf "run %d: direct %7.1f | rrbench proxy %7.1f | socat %7.1f MiB/s\n" "$i" "$d" "$p" "$s"
    direct+=("$d") proxied+=("$p") socated+=("$s")
done
d=$(printf '%s\n' "${direct[@]}" | median)
p=$(printf '%s\n' "${proxied[@]}" | median)
s=$(printf '%s\n' "${socated[@]}" | median)

echo
printf "%-28s %10.1f MiB/s\n" "direct (median)" "$d"
printf "%-28s %10.1f MiB/s\n" "rrbench proxy (median)" "$p"
printf "%-28s %10.1f MiB/s\n" "socat (median)" "$s"
printf "%-28s %10s  (target >= 0.9)\n" "proxy / direct" "$(ratio "$p" "$d")"
printf "%-28s %10s  (target >= 1.0)\n" "proxy / socat" "$(ratio "$p" "$s")"
# Where the time went, from each report's time breakdown (it splits a recovery's wall time by
# what the follower waited for): the proxy's hop shows as network time, the follower's writes
# as storage time, which moves every run alike.
# breakdown NAME KEY: the median over the runs NAME1..NAMEn of KEY seconds per GiB moved.
breakdown() {
    for i in $(seq "$runs"); do
        report_json "$work/$1$i.json" "d['time_breakdown']['$2'] / (d['bytes_transferred'] / 2**30)"
    done | median
}
printf "%-28s %10.3f | proxy %.3f\n" "network s/GiB: direct" "$(breakdown direct network_s)" "$(breakdown proxy network_s)"
printf "%-28s %10.3f | proxy %.3f\n" "storage s/GiB: direct" "$(breakdown direct storage_s)" "$(breakdown proxy storage_s)"
