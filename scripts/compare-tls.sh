#!/usr/bin/env bash
# TLS against plaintext TCP on loopback, measured in one run: unlimited recoveries of the same
# index into /dev/shm from a plaintext leader and from a TLS leader (`--tls`, a self-signed
# certificate it generates) serving the same directory. Runs are interleaved (plain, tls,
# plain, ...) after a warm-up of each; the median of each counts, and the ratio tls / plain is
# printed. The cipher suite is rustls's choice (TLS 1.3); this script does not record it yet.
#
# Usage: scripts/compare-tls.sh [--size 1gb] [--runs 3]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

parse_size_runs 1gb 3 "$@"

scripts/ensure-packages.sh procps
cargo build --release --quiet

start_leader "$size"
plain_addr=$leader_addr
"$bin" leader --dir "$work/leader" --listen 127.0.0.1:0 --max-bytes-per-sec 0 --quiet \
    --tls 2>"$work/tls-leader.log" &
pids+=($!)
for _ in $(seq 100); do grep -q '^leader on' "$work/tls-leader.log" && break; sleep 0.1; done
tls_addr=$(awk '/^leader on/ {print $3; exit}' "$work/tls-leader.log")
ca=$(awk '/--ca/ {print $NF; exit}' "$work/tls-leader.log")
[ -n "$tls_addr" ] && [ -f "$ca" ] || { echo "TLS leader did not start:" >&2; cat "$work/tls-leader.log" >&2; exit 1; }

tls_mib() {
    "$bin" recover --from "$tls_addr" --dir "$work/follower" --max-bytes-per-sec 0 --json \
        --no-progress --tls --ca "$ca" >"$work/$1.json"
    [ "$(report_json "$work/$1.json" 'd["outcome"]')" = completed ] || { echo "TLS recovery $1 failed: $(report_json "$work/$1.json" 'd["failure"]')" >&2; exit 1; }
    report_json "$work/$1.json" 'd["throughput_mib_s"]'
}

echo "== $size index, unlimited, into /dev/shm; a warm-up of each, then $runs runs of each, interleaved"
warm_up "$plain_addr"
tls_mib warmup-tls >/dev/null
plain=() tls=()
for i in $(seq "$runs"); do
    p=$(recover_mib "$plain_addr" "plain$i")
    t=$(tls_mib "tls$i")
    printf "run %d: plaintext %7.1f | tls %7.1f MiB/s\n" "$i" "$p" "$t"
    plain+=("$p") tls+=("$t")
done
p=$(printf '%s\n' "${plain[@]}" | median)
t=$(printf '%s\n' "${tls[@]}" | median)
echo
printf "%-20s %10.1f MiB/s\n" "plaintext (median)" "$p"
printf "%-20s %10.1f MiB/s\n" "tls (median)" "$t"
printf "%-20s %10s\n" "tls / plaintext" "$(ratio "$t" "$p")"
