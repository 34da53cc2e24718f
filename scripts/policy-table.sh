#!/usr/bin/env bash
# The three recovery policies under the same faults, measured: for each fault, a fresh
# `rrbench proxy` between follower and leader, then one recovery per policy. Prints one row per
# policy x fault: outcome, duration, attempts, bytes transferred and wasted, and the failure.
#
# The leader is held to 32mb/s so a 64 MiB recovery lasts about 2 s and the faults land
# mid-way. OpenSearch's 10-80 s backoffs are compressed with --time-scale 0.01; every trial has a
# 20 s time limit.
#
# Usage: scripts/policy-table.sh [--size 64mb] [--runs 1]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

parse_size_runs 64mb 1 "$@"
scripts/ensure-packages.sh procps
cargo build --release --quiet
start_leader "$size" 32mb

# fault name | proxy fault spec | extra follower flags
faults=(
    "reset|reset:at=1s|"
    "idle_timeout|idle_timeout:idle=1s|--connection-profile intra-cluster"
    "blackhole|blackhole:start=1s,duration=3s|--internal-action-timeout 1s"
    "corrupt|corrupt:probability=1e-6,direction=downstream|"
)
policies=(elasticsearch opensearch resumable)

printf "%-13s %-14s %-10s %8s %8s %12s %12s  %s\n" fault policy outcome "time s" attempts "moved MiB" "wasted MiB" failure
for run in $(seq "$runs"); do
    for entry in "${faults[@]}"; do
        IFS='|' read -r name spec extra <<<"$entry"
        for policy in "${policies[@]}"; do
            port=$(free_port)
            "$bin" proxy --listen "127.0.0.1:$port" --upstream "$leader_addr" --fault "$spec" --seed "$run" --quiet 2>/dev/null &
            proxy_pid=$!
            wait_port "$port"
            out="$work/$name-$policy-$run.json"
            # shellcheck disable=SC2086 # $extra holds several flags
            "$bin" recover --from "127.0.0.1:$port" --dir "$work/follower-$policy" --policy "$policy" \
                --max-bytes-per-sec 0 --time-scale 0.01 --time-limit 20s --json --no-progress $extra >"$out" || true
            kill "$proxy_pid" 2>/dev/null || true
            wait "$proxy_pid" 2>/dev/null || true
            # Each trial starts from an empty target (the resumable journal must not carry over).
            rm -rf "$work/follower-$policy"
            report_json "$out" '"%-13s %-14s %-10s %8.2f %8d %12.1f %12.1f  %s" % ("'"$name"'", d["policy"], d["outcome"], d["duration_s"], d["attempts"], d["bytes_transferred"]/1048576, d["bytes_wasted"]/1048576, (d["failure"] or "")[:60])'
        done
    done
done
