# Helpers shared by the comparison scripts. Source it; it expects `set -euo pipefail`.

# parse_size_runs DEFAULT_SIZE DEFAULT_RUNS ARGS...: sets $size and $runs from --size and --runs;
# --help prints the calling script's header comment.
parse_size_runs() {
    size=$1
    runs=$2
    shift 2
    while [ $# -gt 0 ]; do
        case "$1" in
            --size) size=$2; shift 2 ;;
            --runs) runs=$2; shift 2 ;;
            -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
            *) echo "unknown option: $1 (try --help)" >&2; exit 2 ;;
        esac
    done
}

# Background processes to stop and a scratch directory to remove on exit.
pids=()
work=$(mktemp -d /dev/shm/rrbench-compare.XXXXXX)
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

command -v python3 >/dev/null || { echo "python3 is needed to read JSON" >&2; exit 1; }
bin=target/release/rrbench

# json FILE EXPR: evaluates EXPR with the parsed FILE as `d`.
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

# report_json FILE EXPR: like json, with d the flat report of a `rrbench recover --json` document
# (start, intervals, end), its end.report.
report_json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1]))['end']['report']; print($2)" "$1"; }

# free_port: a TCP port nobody listens on right now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_port PORT: until something accepts on 127.0.0.1:PORT (5 s at most).
wait_port() {
    for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
    echo "nothing listens on port $1" >&2
    return 1
}

# median: the median of the numbers on stdin.
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# ratio A B: A / B with two decimals.
ratio() { python3 -c "import sys; print('%.2f' % (float(sys.argv[1]) / float(sys.argv[2])))" "$1" "$2"; }

# start_leader SIZE [RATE]: generates an index of SIZE in $work/leader, serves it (unlimited
# unless RATE is given), and sets $leader_addr.
start_leader() {
    "$bin" gen-index --dir "$work/leader" --size "$1" --files 40 --seed 7 >/dev/null
    "$bin" leader --dir "$work/leader" --listen 127.0.0.1:0 --max-bytes-per-sec "${2:-0}" --quiet 2>"$work/leader.log" &
    pids+=($!)
    for _ in $(seq 100); do grep -q '^leader on' "$work/leader.log" && break; sleep 0.1; done
    leader_addr=$(awk '/^leader on/ {print $3; exit}' "$work/leader.log")
    [ -n "$leader_addr" ] || { echo "leader did not start:" >&2; cat "$work/leader.log" >&2; exit 1; }
}

# recover_mib ADDR NAME: one unlimited recovery from ADDR into /dev/shm; prints MiB/s.
recover_mib() {
    "$bin" recover --from "$1" --dir "$work/follower" --max-bytes-per-sec 0 --json --no-progress >"$work/$2.json"
    [ "$(report_json "$work/$2.json" 'd["outcome"]')" = completed ] || { echo "recovery $2 failed: $(report_json "$work/$2.json" 'd["failure"]')" >&2; exit 1; }
    report_json "$work/$2.json" 'd["throughput_mib_s"]'
}

# warm_up ADDR: one recovery whose figure is thrown away (page cache, allocator, first tmpfs
# allocation of the target), so the first measured run is not a cold outlier.
warm_up() { recover_mib "$1" warmup >/dev/null; }

# start_secured_leader LABEL FLAG...: a second leader serving $work/leader, unlimited, with
# FLAG... (`--transport quic`, `--tls`: it generates a self-signed certificate and prints its CA).
# Sets secured_pid, secured_addr and secured_ca; exits with its log if it did not start.
start_secured_leader() {
    local label=$1
    shift
    "$bin" leader --dir "$work/leader" --listen 127.0.0.1:0 --max-bytes-per-sec 0 --quiet \
        "$@" 2>"$work/$label-leader.log" &
    secured_pid=$!
    pids+=($secured_pid)
    for _ in $(seq 100); do grep -q '^leader on' "$work/$label-leader.log" && break; sleep 0.1; done
    secured_addr=$(awk '/^leader on/ {print $3; exit}' "$work/$label-leader.log")
    secured_ca=$(awk '/--ca/ {print $NF; exit}' "$work/$label-leader.log")
    [ -n "$secured_addr" ] && [ -f "$secured_ca" ] || { echo "$label leader did not start:" >&2; cat "$work/$label-leader.log" >&2; exit 1; }
}

# compare_secured LABEL FLAG...: a second leader (start_secured_leader), then $runs unlimited
# recoveries from each leader, interleaved (the plaintext TCP one at $leader_addr first) after a
# warm-up of each, with FLAG... and the printed CA for the second; prints each run, the medians
# and LABEL / tcp.
compare_secured() {
    local label=$1
    shift
    local flags=("$@")
    start_secured_leader "$label" "${flags[@]}"
    local addr=$secured_addr ca=$secured_ca
    secured_mib() {
        "$bin" recover --from "$addr" --dir "$work/follower" --max-bytes-per-sec 0 --json \
            --no-progress "${flags[@]}" --ca "$ca" >"$work/$1.json"
        [ "$(report_json "$work/$1.json" 'd["outcome"]')" = completed ] || { echo "$label recovery $1 failed: $(report_json "$work/$1.json" 'd["failure"]')" >&2; exit 1; }
        report_json "$work/$1.json" 'd["throughput_mib_s"]'
    }
    echo "== $size index, unlimited, into /dev/shm; a warm-up of each, then $runs runs of each, interleaved"
    warm_up "$leader_addr"
    secured_mib "warmup-$label" >/dev/null
    local tcp=() other=() t o
    for i in $(seq "$runs"); do
        t=$(recover_mib "$leader_addr" "tcp$i")
        o=$(secured_mib "$label$i")
        printf "run %d: tcp %7.1f | %s %7.1f MiB/s\n" "$i" "$t" "$label" "$o"
        tcp+=("$t") other+=("$o")
    done
    t=$(printf '%s\n' "${tcp[@]}" | median)
    o=$(printf '%s\n' "${other[@]}" | median)
    echo
    printf "%-20s %10.1f MiB/s\n" "tcp (median)" "$t"
    printf "%-20s %10.1f MiB/s\n" "$label (median)" "$o"
    printf "%-20s %10s\n" "$label / tcp" "$(ratio "$o" "$t")"
    # What the secured runs negotiated, as their reports record it.
    printf "%-20s %10s\n" "negotiated" "$(report_json "$work/${label}1.json" 'd.get("tls", {}).get("protocol", "-") + " " + str(d.get("tls", {}).get("cipher_suite") or "")')"
}
