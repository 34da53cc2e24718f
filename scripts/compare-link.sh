#!/usr/bin/env bash
# The L3 link against references measured in the same run (needs root):
#   1. iperf3 (1 stream, 5 s) on loopback, and across `rrbench link` with no fault and with a
#      fixed 1 ms delay each way: the ratios are what the packet pump (TUN devices with their
#      offloads, userspace, every super-packet) costs; the delay also costs what a 2 ms round trip
#      costs one TCP window (BDP: tcp_wmem's max over the RTT), so it is a floor, not the pump's
#      cost alone;
#   2. iperf3 across the link with 25 ms each way and 1 % loss, 1 stream and 5 streams, with
#      CUBIC and with BBR, against the Mathis bound (MSS / RTT x 1.22 / sqrt(p)) of one
#      loss-based flow: what several TCP windows buy (Elasticsearch spreads its 5 in-flight
#      chunks over several channels; QUIC has one congestion window), and what a controller
#      that ignores random loss buys;
#   3. an unlimited rrbench recovery direct on loopback and across the link with no fault.
#
# Usage: scripts/compare-link.sh [--size 256mb] [--runs 3]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

parse_size_runs 256mb 3 "$@"
[ "$(id -u)" -eq 0 ] || { echo "the L3 link needs root" >&2; exit 1; }

scripts/ensure-packages.sh iperf3 iproute2 procps
cargo build --release --quiet

# link NAME FAULT...: starts `rrbench link` with the faults; sets $ns and $ip.
link() {
    local name=$1
    shift
    local args=()
    for f in "$@"; do args+=(--fault "$f"); done
    "$bin" link --quiet "${args[@]}" 2>"$work/$name.log" &
    pids+=($!)
    for _ in $(seq 100); do grep -qs '^L3 link up' "$work/$name.log" && break; sleep 0.1; done
    ns=$(awk '/^L3 link up/ {for (i = 1; i <= NF; i++) if ($i == "namespace") {print $(i+1); exit}}' "$work/$name.log" | tr -d ,)
    ip=$(awk '/^L3 link up/ {for (i = 1; i <= NF; i++) if ($i == "namespace") {print $(i+2); exit}}' "$work/$name.log" | tr -d ';')
    [ -n "$ns" ] && [ -n "$ip" ] || { echo "link did not start:" >&2; cat "$work/$name.log" >&2; exit 1; }
}

# iperf_mib HOST PORT STREAMS [NETNS [CLIENT_ARGS...]]: MiB/s received by an iperf3 server on
# HOST:PORT (run in NETNS when given) from a 5 s client with STREAMS streams.
iperf_mib() {
    local host=$1 port=$2 streams=$3 run=()
    [ -n "${4:-}" ] && run=(ip netns exec "$4")
    shift $(( $# < 4 ? $# : 4 ))
    "${run[@]}" iperf3 -s -1 -B "$host" -p "$port" >/dev/null 2>&1 &
    sleep 0.5
    iperf3 -c "$host" -p "$port" -t 5 -P "$streams" -J "$@" >"$work/iperf-$port-$streams.json"
    wait $! 2>/dev/null || true
    json "$work/iperf-$port-$streams.json" 'd["end"]["sum_received"]["bits_per_second"]/8/1048576'
}

echo "== 1. iperf3, 1 stream, 5 s: loopback, then across the link (no fault, then 1 ms each way)"
echo "load: $(uptime)"
# Loopback before and after the link's runs: other work on the machine moves both, and their
# mean is the reference the ratios use.
port=$(free_port)
loop1=$(iperf_mib 127.0.0.1 "$port" 1)
link clean
across=$(iperf_mib "$ip" 5201 1 "$ns")
link delayed delay:delay=1ms
delayed=$(iperf_mib "$ip" 5201 1 "$ns")
port=$(free_port)
loop2=$(iperf_mib 127.0.0.1 "$port" 1)
loop=$(python3 -c 'import sys; print((float(sys.argv[1]) + float(sys.argv[2])) / 2)' "$loop1" "$loop2")
printf "%-36s %9.1f MiB/s\n" "loopback, before the link" "$loop1" "loopback, after the link" "$loop2" \
    "across the link" "$across" "across the link, 1 ms each way" "$delayed"
printf "%-36s %9s\n" "link / loopback (mean)" "$(ratio "$across" "$loop")" \
    "link 1 ms / loopback (mean)" "$(ratio "$delayed" "$loop")"

echo
echo "== 2. iperf3 across the link, 25 ms each way (50 ms RTT), 1 % loss, by congestion controller"
link lossy delay:delay=25ms loss:probability=1%
mathis=$(python3 -c 'print(1448 / 0.050 * 1.22 / 0.01 ** 0.5 / 1048576)')
printf "%-36s %9.2f MiB/s\n" "Mathis bound, one loss-based flow" "$mathis"
port=5201
for cc in cubic bbr; do
    one=$(iperf_mib "$ip" "$port" 1 "$ns" -C "$cc")
    five=$(iperf_mib "$ip" $((port + 1)) 5 "$ns" -C "$cc")
    port=$((port + 2))
    printf "%-36s %9.2f MiB/s\n" "$cc, 1 stream" "$one" "$cc, 5 streams" "$five"
    printf "%-36s %9s\n" "$cc: 1 stream / Mathis" "$(ratio "$one" "$mathis")" "$cc: 5 streams / 1 stream" "$(ratio "$five" "$one")"
done

echo
echo "== 3. rrbench, $size index, unlimited, into /dev/shm: direct, then across the link (no fault)"
start_leader "$size"
direct_addr=$leader_addr
link plain
"$bin" leader --dir "$work/leader" --netns "$ns" --listen "$ip:0" --max-bytes-per-sec 0 --quiet 2>"$work/ns-leader.log" &
pids+=($!)
for _ in $(seq 100); do grep -q '^leader on' "$work/ns-leader.log" && break; sleep 0.1; done
ns_addr=$(awk '/^leader on/ {print $3; exit}' "$work/ns-leader.log")
warm_up "$direct_addr"
warm_up "$ns_addr"
direct=() linked=()
for i in $(seq "$runs"); do
    d=$(recover_mib "$direct_addr" "direct$i")
    l=$(recover_mib "$ns_addr" "link$i")
    printf "run %d: direct %7.1f | across the link %7.1f MiB/s\n" "$i" "$d" "$l"
    direct+=("$d") linked+=("$l")
done
d=$(printf '%s\n' "${direct[@]}" | median)
l=$(printf '%s\n' "${linked[@]}" | median)
printf "%-36s %9.1f MiB/s\n" "direct (median)" "$d" "across the link (median)" "$l"
printf "%-36s %9s\n" "link / direct" "$(ratio "$l" "$d")"
