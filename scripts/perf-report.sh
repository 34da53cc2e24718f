#!/usr/bin/env bash
# One performance report of this machine: every comparison of issue 20 against its reference,
# measured in this run, and how the cost grows, into one Markdown table.
#
#   1. an unlimited verified recovery into tmpfs vs iperf3 -P 1 on loopback   (target >= 0.8)
#   2. a recovery through `rrbench proxy` (no fault) vs direct, interleaved    (target >= 0.9),
#      with where each spent its time (network, storage: the reports' time breakdowns);
#      and the proxy's copying path (--no-splice) vs its splice path, interleaved   (no target)
#   3. a latency-bound recovery (RTT 80 ms at the proxy, 3 x 2 MiB in flight, 256 MiB) vs the
#      window model 3 x mean request / 80 ms (tails counted), on the steady figure (target >= 0.95)
#   4. iperf3 across the L3 link vs loopback, no fault and 1 ms each way       (>= 0.5, >= 0.3)
#   5. a QUIC recovery vs a TCP recovery, loopback, tmpfs                      (target >= 0.6)
#   6. throughput vs index size (256 MiB up to 8 GiB; flat is the target)
#   7. follower peak RSS vs window x chunk            (target <= 64 MiB + 2 x window x chunk)
#   8. leader peak RSS vs concurrent sessions, 1 to 64
#   9. CPU seconds per GiB moved: leader, follower, proxy, pump; and the ceiling the leader's
#      and follower's CPU per GiB put on a TCP and a QUIC recovery on this machine's cores
#
# Each comparison runs its reference in the same run, interleaved with it (1, 2, 5 through
# scripts/compare-*.sh with --runs; 4 with two links up at once); medians of --runs (default 5).
# The table goes to stdout and to results/perf-report-<UTC stamp>.md with the machine's env.json
# beside it. Section 4 and the pump's CPU need root (skipped, and said so, without it).
#
# Usage: scripts/perf-report.sh [--runs 5] [--quick]   (--quick: smaller indices, 3 runs)
set -euo pipefail
cd "$(dirname "$0")/.."

runs=5
quick=0
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --quick) quick=1; runs=3; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "unknown option: $1 (try --help)" >&2; exit 2 ;;
    esac
done
. scripts/lib.sh

scripts/ensure-packages.sh iperf3 socat procps time iproute2
cargo build --release --quiet
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p results
out=results/perf-report-$stamp.md
rows=() cpu_rows=()
# row SECTION WHAT FIGURE REFERENCE RATIO TARGET (section 9's rows go last)
row() {
    if [ "$1" = 9 ]; then cpu_rows+=("| $1 | $2 | $3 | $4 | $5 | $6 |"); else rows+=("| $1 | $2 | $3 | $4 | $5 | $6 |"); fi
}
# field FILE LABEL: the first number after LABEL at the start of a line of FILE.
field() { awk -v l="$2" 'index($0, l) == 1 { s = substr($0, length(l) + 1); if (match(s, /[0-9.]+/)) { print substr(s, RSTART, RLENGTH); exit } }' "$1"; }
# f1 NUMBER: one decimal.
f1() { printf "%.1f" "$1"; }
# cpu_ticks PID: user + system clock ticks the process used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
size_engine=1gb size_quic=512mb size_curve="256mb 1gb 4gb 8gb"
if [ "$quick" = 1 ]; then size_engine=256mb size_quic=256mb size_curve="256mb 1gb"; fi
echo "perf-report: $runs runs of each comparison; load before: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== 1. recovery vs iperf3"
scripts/compare-iperf3.sh --size "$size_engine" --runs "$runs" | tee "$work/s1.txt"
row 1 "recovery, $size_engine, unlimited, into tmpfs" "$(field "$work/s1.txt" "rrbench recover (median of $runs)") MiB/s" \
    "iperf3 -P 1: $(field "$work/s1.txt" "iperf3 (1 stream, median of $runs)") MiB/s" "$(field "$work/s1.txt" "ratio rrbench / iperf3")" ">= 0.8"

echo "== 2. through rrbench proxy vs direct"
scripts/compare-proxy.sh --size "$size_engine" --runs "$runs" | tee "$work/s2.txt"
row 2 "recovery through rrbench proxy, no fault" "$(field "$work/s2.txt" "rrbench proxy (median)") MiB/s" \
    "direct: $(field "$work/s2.txt" "direct (median)") MiB/s" "$(field "$work/s2.txt" "proxy / direct")" ">= 0.9"
row 2 "the same, time per GiB (medians): network / storage (pwrite into tmpfs)" \
    "proxy $(awk -F'proxy ' '/^network s\/GiB/ {print $2}' "$work/s2.txt") / $(awk -F'proxy ' '/^storage s\/GiB/ {print $2}' "$work/s2.txt") s" \
    "direct $(field "$work/s2.txt" "network s/GiB: direct") / $(field "$work/s2.txt" "storage s/GiB: direct") s" "-" "-"

echo "== 2b. the proxy's copying path vs its splice path"
# The same proxy with --no-splice copies every byte through user space, as it does the bytes a
# fault touches: what a fault's relay costs before the fault does anything.
start_leader "$size_engine"
splice_port=$(free_port) copy_port=$(free_port)
"$bin" proxy --listen "127.0.0.1:$splice_port" --upstream "$leader_addr" --quiet 2>"$work/splice.log" &
pids+=($!)
"$bin" proxy --listen "127.0.0.1:$copy_port" --upstream "$leader_addr" --quiet --no-splice 2>"$work/copy.log" &
pids+=($!)
wait_port "$splice_port"
wait_port "$copy_port"
warm_up "127.0.0.1:$splice_port"
warm_up "127.0.0.1:$copy_port"
spliced=() copied=()
for i in $(seq "$runs"); do
    a=$(recover_mib "127.0.0.1:$splice_port" "splice$i")
    b=$(recover_mib "127.0.0.1:$copy_port" "copy$i")
    printf "run %d: proxy (splice) %7.1f | proxy --no-splice (copy) %7.1f MiB/s\n" "$i" "$a" "$b"
    spliced+=("$a") copied+=("$b")
done
a=$(printf '%s\n' "${spliced[@]}" | median)
b=$(printf '%s\n' "${copied[@]}" | median)
row 2 "recovery through rrbench proxy --no-splice (copying path)" "$(f1 "$b") MiB/s" "splice path: $(f1 "$a") MiB/s" "$(ratio "$b" "$a")" "-"
kill "${pids[@]}" 2>/dev/null || true
wait 2>/dev/null || true
pids=()
rm -rf "$work/leader" "$work/follower"

echo "== 3. latency-bound recovery vs the window model"
start_leader 256mb
proxy_port=$(free_port)
"$bin" proxy --listen "127.0.0.1:$proxy_port" --upstream "$leader_addr" --fault latency:delay=40ms \
    --quiet 2>"$work/latency-proxy.log" &
pids+=($!)
wait_port "$proxy_port"
steady=()
for i in $(seq "$runs"); do
    "$bin" recover --from "127.0.0.1:$proxy_port" --dir "$work/follower" --max-bytes-per-sec 0 \
        --chunk-size 2mb --max-concurrent-file-chunks 3 --json --no-progress >"$work/lat$i.json"
    s=$(report_json "$work/lat$i.json" 'd["steady_throughput_mib_s"] or 0')
    printf "run %d: %.1f MiB/s (steady), %.1f MiB/s (whole)\n" "$i" "$s" "$(report_json "$work/lat$i.json" 'd["throughput_mib_s"]')"
    steady+=("$s")
done
s=$(printf '%s\n' "${steady[@]}" | median)
# The window model: 3 requests in flight per 80 ms round trip, each as large as the index's
# requests are on average (a file's last chunk is shorter than 2 MiB: its tail), counted from
# the files the leader serves, as the campaign's model counts them.
read -r model mean_request < <(python3 - "$work/leader" <<'PY'
import math, os, sys
sizes = [os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(sys.argv[1]) for f in fs]
chunk = 2 * 1048576
requests = sum(max(1, math.ceil(s / chunk)) for s in sizes)
mean = sum(sizes) / requests
print(f"{3 * mean / 0.080 / 1048576:.1f} {mean / 1048576:.2f}")
PY
)
row 3 "recovery, RTT 80 ms at the proxy, 3 x 2 MiB, 256 MiB (steady)" "$(f1 "$s") MiB/s" "window model: 3 x $mean_request MiB (mean request) / 80 ms = $model MiB/s" "$(ratio "$s" "$model")" ">= 0.95"
kill "${pids[@]}" 2>/dev/null || true
wait 2>/dev/null || true
pids=()
rm -rf "$work/leader" "$work/follower"

echo "== 4. iperf3 across the L3 link vs loopback"
if [ "$(id -u)" -eq 0 ]; then
    # link NAME FAULT...: `rrbench link` with the faults; sets $ns, $ip and $link_pid.
    link() {
        local name=$1
        shift
        local args=()
        for f in "$@"; do args+=(--fault "$f"); done
        "$bin" link --quiet "${args[@]}" 2>"$work/$name.log" &
        link_pid=$!
        pids+=($link_pid)
        for _ in $(seq 100); do grep -q '^L3 link up' "$work/$name.log" && break; sleep 0.1; done
        ns=$(awk '/^L3 link up/ {for (i = 1; i <= NF; i++) if ($i == "namespace") {print $(i+1); exit}}' "$work/$name.log" | tr -d ,)
        ip=$(awk '/^L3 link up/ {for (i = 1; i <= NF; i++) if ($i == "namespace") {print $(i+2); exit}}' "$work/$name.log" | tr -d ';')
        [ -n "$ns" ] && [ -n "$ip" ] || { echo "link did not start:" >&2; cat "$work/$name.log" >&2; exit 1; }
    }
    # iperf_mib HOST PORT [NETNS [ARGS...]]: MiB/s of a 5 s, 1-stream iperf3 (client ARGS...)
    # to a server on HOST:PORT, in NETNS if given.
    iperf_mib() {
        local host=$1 port=$2 run=()
        [ -n "${3:-}" ] && run=(ip netns exec "$3")
        shift $(($# < 3 ? $# : 3))
        "${run[@]}" iperf3 -s -1 -B "$host" -p "$port" >/dev/null 2>&1 &
        sleep 0.5
        iperf3 -c "$host" -p "$port" -t 5 -P 1 -J "$@" >"$work/iperf-$port.json"
        wait $! 2>/dev/null || true
        json "$work/iperf-$port.json" 'd["end"]["sum_received"]["bits_per_second"]/8/1048576'
    }
    # Two links at once (each in its own namespace, idle while the other runs), so the runs
    # interleave: loopback, the link, the link with 1 ms each way, and that with a larger
    # send buffer, $runs times. What limits the 1 ms case: a TCP sender holds at most its
    # send buffer in flight, and autotuning stops at tcp_wmem's maximum. `-w` asks for the
    # buffer outright (the kernel doubles what it is asked, up to wmem_max), so the same link
    # and delay with the larger buffer it grants show whether the sender's buffer or the link
    # is the limit.
    link plain
    plain_pid=$link_pid plain_ns=$ns plain_ip=$ip
    link delayed latency:delay=1ms
    delayed_pid=$link_pid delayed_ns=$ns delayed_ip=$ip
    loop_port=$(free_port)
    wmem=$(awk '{print $3}' /proc/sys/net/ipv4/tcp_wmem)
    granted=$(awk -v a="$wmem" -v m="$(cat /proc/sys/net/core/wmem_max)" 'BEGIN { printf "%g", 2 * (a < m ? a : m) / 1048576 }')
    loops=() acrosses=() delays=() wides=() pump_cpus=()
    for i in $(seq "$runs"); do
        l=$(iperf_mib 127.0.0.1 "$loop_port")
        t0=$(cpu_ticks "$plain_pid")
        a=$(iperf_mib "$plain_ip" 5201 "$plain_ns")
        t1=$(cpu_ticks "$plain_pid")
        bytes=$(json "$work/iperf-5201.json" 'd["end"]["sum_received"]["bytes"]')
        pump_cpus+=("$(python3 -c "print('%.2f' % (($t1 - $t0) / $hz / ($bytes / 2**30)))")")
        d=$(iperf_mib "$delayed_ip" 5201 "$delayed_ns")
        w=$(iperf_mib "$delayed_ip" 5201 "$delayed_ns" -w "$wmem")
        printf "run %d: loopback %7.1f | across the link %7.1f | 1 ms each way %7.1f | that with a %s MiB send buffer %7.1f MiB/s\n" \
            "$i" "$l" "$a" "$d" "$granted" "$w"
        loops+=("$l") acrosses+=("$a") delays+=("$d") wides+=("$w")
    done
    kill "$plain_pid" "$delayed_pid"
    wait "$plain_pid" "$delayed_pid" 2>/dev/null || true
    loop=$(printf '%s\n' "${loops[@]}" | median)
    across=$(printf '%s\n' "${acrosses[@]}" | median)
    delayed=$(printf '%s\n' "${delays[@]}" | median)
    wide=$(printf '%s\n' "${wides[@]}" | median)
    pump_cpu=$(printf '%s\n' "${pump_cpus[@]}" | median)
    row 4 "iperf3 across the L3 link, no fault" "$(f1 "$across") MiB/s" "loopback: $(f1 "$loop") MiB/s" "$(ratio "$across" "$loop")" ">= 0.5"
    row 4 "iperf3 across the L3 link, 1 ms each way" "$(f1 "$delayed") MiB/s" "loopback: $(f1 "$loop") MiB/s" "$(ratio "$delayed" "$loop")" ">= 0.3"
    row 4 "the same, iperf3 -w $wmem (tcp_wmem max): send buffer $granted MiB (autotuning stops at $(awk -v a="$wmem" 'BEGIN { printf "%g", a / 1048576 }') MiB)" "$(f1 "$wide") MiB/s" "default buffer: $(f1 "$delayed") MiB/s" "$(ratio "$wide" "$delayed")" "-"
else
    pump_cpu=
    echo "skipped: the L3 link needs root"
    row 4 "iperf3 across the L3 link" "skipped (needs root)" "-" "-" ">= 0.5"
fi

echo "== 5. QUIC vs TCP"
scripts/compare-quic.sh --size "$size_quic" --runs "$runs" | tee "$work/s5.txt"
row 5 "QUIC recovery, $size_quic, loopback, tmpfs" "$(field "$work/s5.txt" "quic (median)") MiB/s" \
    "TCP: $(field "$work/s5.txt" "tcp (median)") MiB/s" "$(field "$work/s5.txt" "quic / tcp")" ">= 0.6"

echo "== 6. throughput vs index size (and 9: leader and follower CPU per GiB)"
first=
for size in $size_curve; do
    rm -rf "$work/leader" "$work/follower"
    start_leader "$size"
    leader_pid=${pids[-1]}
    warm_up "$leader_addr"
    t0=$(cpu_ticks "$leader_pid")
    /usr/bin/time -f "%U %S %M" -o "$work/time-$size" \
        "$bin" recover --from "$leader_addr" --dir "$work/follower" --max-bytes-per-sec 0 --json \
        --no-progress >"$work/size-$size.json"
    t1=$(cpu_ticks "$leader_pid")
    mib=$(report_json "$work/size-$size.json" 'd["throughput_mib_s"]')
    gib=$(report_json "$work/size-$size.json" 'd["bytes_transferred"] / 2**30')
    leader_cpu=$(python3 -c "print('%.2f' % (($t1 - $t0) / $hz / $gib))")
    follower_cpu=$(awk -v g="$gib" '{printf "%.2f", ($1 + $2) / g}' "$work/time-$size")
    printf "%s: %.1f MiB/s; CPU s/GiB leader %s, follower %s\n" "$size" "$mib" "$leader_cpu" "$follower_cpu"
    [ -n "$first" ] || first=$mib
    row 6 "recovery, $size index" "$(f1 "$mib") MiB/s" "256mb: $(f1 "$first") MiB/s" "$(ratio "$mib" "$first")" "flat (1.0)"
    row 9 "CPU per GiB, $size: leader / follower" "$leader_cpu / $follower_cpu s" "-" "-" "-"
    kill "$leader_pid"; wait "$leader_pid" 2>/dev/null || true
    pids=()
done
rm -rf "$work/leader" "$work/follower"

echo "== 7. follower peak RSS vs window x chunk"
start_leader 512mb
leader_pid=${pids[-1]}
for shape in "1mb 5" "4mb 5" "16mb 5" "1mb 10"; do
    set -- $shape
    /usr/bin/time -f "%M" -o "$work/rss" "$bin" recover --from "$leader_addr" --dir "$work/follower" \
        --max-bytes-per-sec 0 --chunk-size "$1" --max-concurrent-file-chunks "$2" --json --no-progress \
        >"$work/rss.json"
    rss_mib=$(awk '{printf "%.1f", $1 / 1024}' "$work/rss")
    window_mib=$(python3 -c "import re; n=int(re.match(r'(\d+)', '$1').group(1)); print(n * $2)")
    bound=$((64 + 2 * window_mib))
    printf "chunk %s x %s in flight: peak RSS %s MiB (bound %s MiB)\n" "$1" "$2" "$rss_mib" "$bound"
    row 7 "follower peak RSS, $1 x $2 in flight" "$rss_mib MiB" "bound: $bound MiB" "$(ratio "$rss_mib" "$bound")" "<= 1.0"
done

echo "== 8. leader peak RSS vs concurrent sessions (and 9: the proxy's CPU per GiB)"
kill "$leader_pid"; wait "$leader_pid" 2>/dev/null || true
pids=()
rm -rf "$work/leader" "$work/follower"
start_leader 16mb
leader_pid=${pids[-1]}
for n in 1 8 32 64; do
    followers=()
    for i in $(seq "$n"); do
        "$bin" recover --from "$leader_addr" --dir "$work/f$i" --max-bytes-per-sec 0 --no-progress \
            --json >"$work/f$i.json" &
        followers+=($!)
    done
    for p in "${followers[@]}"; do wait "$p" || { echo "a follower of $n failed" >&2; exit 1; }; done
    hwm=$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$leader_pid/status")
    printf "%d sessions at once: leader peak RSS %s MiB\n" "$n" "$hwm"
    row 8 "leader peak RSS, $n concurrent sessions (16 MiB index)" "$hwm MiB" "-" "-" "-"
    rm -rf "$work"/f*
done
proxy_port=$(free_port)
"$bin" proxy --listen "127.0.0.1:$proxy_port" --upstream "$leader_addr" --quiet 2>"$work/proxy.log" &
proxy_pid=$!
pids+=($proxy_pid)
wait_port "$proxy_port"
kill "$leader_pid"; wait "$leader_pid" 2>/dev/null || true
rm -rf "$work/leader"
start_leader "$size_quic"
leader_pid=${pids[-1]}
kill "$proxy_pid"; wait "$proxy_pid" 2>/dev/null || true
"$bin" proxy --listen "127.0.0.1:$proxy_port" --upstream "$leader_addr" --quiet 2>"$work/proxy.log" &
proxy_pid=$!
pids+=($proxy_pid)
wait_port "$proxy_port"
t0=$(cpu_ticks "$proxy_pid")
"$bin" recover --from "127.0.0.1:$proxy_port" --dir "$work/follower" --max-bytes-per-sec 0 --json \
    --no-progress >"$work/proxied.json"
t1=$(cpu_ticks "$proxy_pid")
gib=$(report_json "$work/proxied.json" 'd["bytes_transferred"] / 2**30')
proxy_cpu=$(python3 -c "print('%.2f' % (($t1 - $t0) / $hz / $gib))")
row 9 "CPU per GiB: proxy (no fault) / pump (no fault)" "$proxy_cpu / ${pump_cpu:-n/a} s" "-" "-" "-"

# What the CPU allows: a recovery that needs L + F CPU seconds per GiB (leader + follower) can
# move at most nproc / (L + F) GiB/s on this machine's cores. One recovery each over TCP and
# QUIC of the same index, after a warm-up, against the ceiling its own CPU figures give.
cores=$(nproc)
start_secured_leader quic --transport quic
quic_pid=$secured_pid quic_addr=$secured_addr quic_ca=$secured_ca
# ceiling_row LABEL LEADER_PID ADDR [FLAGS...]: one measured recovery from ADDR and its ceiling.
ceiling_row() {
    local label=$1 lp=$2 addr=$3
    shift 3
    "$bin" recover --from "$addr" --dir "$work/follower" --max-bytes-per-sec 0 --json --no-progress \
        "$@" >/dev/null
    local t0 t1 mib gib l f
    t0=$(cpu_ticks "$lp")
    /usr/bin/time -f "%U %S" -o "$work/time-$label" "$bin" recover --from "$addr" --dir "$work/follower" \
        --max-bytes-per-sec 0 --json --no-progress "$@" >"$work/ceiling-$label.json"
    t1=$(cpu_ticks "$lp")
    mib=$(report_json "$work/ceiling-$label.json" 'd["throughput_mib_s"]')
    gib=$(report_json "$work/ceiling-$label.json" 'd["bytes_transferred"] / 2**30')
    l=$(python3 -c "print('%.2f' % (($t1 - $t0) / $hz / $gib))")
    f=$(awk -v g="$gib" '{printf "%.2f", ($1 + $2) / g}' "$work/time-$label")
    ceiling=$(python3 -c "print('%.1f' % ($cores / ($l + $f) * 1024))")
    printf "%s: %.1f MiB/s; CPU s/GiB leader %s + follower %s; ceiling on %s cores %s MiB/s\n" \
        "$label" "$mib" "$l" "$f" "$cores" "$ceiling"
    row 9 "$label recovery, $size_quic: CPU per GiB leader + follower; $cores cores / that" \
        "$l + $f s: ceiling $ceiling MiB/s" "this recovery: $(f1 "$mib") MiB/s" "$(ratio "$mib" "$ceiling")" "-"
}
ceiling_row TCP "$leader_pid" "$leader_addr"
ceiling_row QUIC "$quic_pid" "$quic_addr" --transport quic --ca "$quic_ca"

python3 -c "import json,sys; print(json.dumps(json.load(open(sys.argv[1]))['start']['environment'], indent=2))" \
    "$work/proxied.json" >"results/perf-report-$stamp.env.json"
{
    echo "# rrbench performance report, $stamp"
    echo
    echo "Every figure measured in this run; $runs runs of each comparison (medians); load after:"
    echo "$(cut -d' ' -f1-3 /proc/loadavg). The machine: perf-report-$stamp.env.json."
    echo
    echo "| # | what | figure | reference (same run) | ratio | target |"
    echo "|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}" "${cpu_rows[@]}"
} | tee "$out"
echo
echo "written: $out and results/perf-report-$stamp.env.json"
