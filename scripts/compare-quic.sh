#!/usr/bin/env bash
# QUIC against TCP on loopback, measured in one run: unlimited recoveries of the same index into
# /dev/shm from a TCP leader and from a QUIC leader (self-signed certificate) serving the same
# directory. Runs are interleaved (tcp, quic, tcp, ...) after a warm-up of each; the median of
# each counts, and the ratio quic / tcp is printed.
#
# Usage: scripts/compare-quic.sh [--size 1gb] [--runs 3]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

parse_size_runs 1gb 3 "$@"

scripts/ensure-packages.sh procps
cargo build --release --quiet

start_leader "$size"
tcp_addr=$leader_addr
"$bin" leader --dir "$work/leader" --listen 127.0.0.1:0 --max-bytes-per-sec 0 --quiet \
    --transport quic 2>"$work/quic-leader.log" &
pids+=($!)
for _ in $(seq 100); do grep -q '^leader on' "$work/quic-leader.log" && break; sleep 0.1; done
quic_addr=$(awk '/^leader on/ {print $3; exit}' "$work/quic-leader.log")
ca=$(awk '/--ca/ {print $NF; exit}' "$work/quic-leader.log")
[ -n "$quic_addr" ] && [ -f "$ca" ] || { echo "QUIC leader did not start:" >&2; cat "$work/quic-leader.log" >&2; exit 1; }

quic_mib() {
    "$bin" recover --from "$quic_addr" --dir "$work/follower" --max-bytes-per-sec 0 --json \
        --no-progress --transport quic --ca "$ca" >"$work/$1.json"
    [ "$(report_json "$work/$1.json" 'd["outcome"]')" = completed ] || { echo "QUIC recovery $1 failed: $(report_json "$work/$1.json" 'd["failure"]')" >&2; exit 1; }
    report_json "$work/$1.json" 'd["throughput_mib_s"]'
}

echo "== $size index, unlimited, into /dev/shm; a warm-up of each, then $runs runs of each, interleaved"
warm_up "$tcp_addr"
quic_mib warmup-quic >/dev/null
tcp=() quic=()
for i in $(seq "$runs"); do
    t=$(recover_mib "$tcp_addr" "tcp$i")
    q=$(quic_mib "quic$i")
    printf "run %d: tcp %7.1f | quic %7.1f MiB/s\n" "$i" "$t" "$q"
    tcp+=("$t") quic+=("$q")
done
t=$(printf '%s\n' "${tcp[@]}" | median)
q=$(printf '%s\n' "${quic[@]}" | median)
echo
printf "%-20s %10.1f MiB/s\n" "tcp (median)" "$t"
printf "%-20s %10.1f MiB/s\n" "quic (median)" "$q"
printf "%-20s %10s\n" "quic / tcp" "$(ratio "$q" "$t")"
