#!/usr/bin/env bash
# QUIC against TCP on loopback, measured in one run: unlimited recoveries of the same index into
# /dev/shm from a TCP leader and from a QUIC leader (self-signed certificate) serving the same
# directory. Runs are interleaved (tcp, quic, tcp, ...) after a warm-up of each; the median of
# each counts, and the ratio quic / tcp is printed (target, design.md section 10: >= 0.6).
#
# Usage: scripts/compare-quic.sh [--size 1gb] [--runs 3]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

parse_size_runs 1gb 3 "$@"

scripts/ensure-packages.sh procps
cargo build --release --quiet

start_leader "$size"
compare_secured quic --transport quic
