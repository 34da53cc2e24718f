#!/usr/bin/env bash
# TLS against plaintext TCP on loopback, measured in one run: unlimited recoveries of the same
# index into /dev/shm from a plaintext leader and from a TLS leader (`--tls`, a self-signed
# certificate it generates) serving the same directory. Runs are interleaved (plain, tls,
# plain, ...) after a warm-up of each; the median of each counts, and the ratio tls / plain is
# printed (plaintext is "tcp" there), then the protocol and cipher suite the TLS runs
# negotiated (rustls's choice, from their reports' `tls`).
#
# Usage: scripts/compare-tls.sh [--size 1gb] [--runs 3]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

parse_size_runs 1gb 3 "$@"

scripts/ensure-packages.sh procps
cargo build --release --quiet

start_leader "$size"
compare_secured tls --tls
