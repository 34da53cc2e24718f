#!/usr/bin/env bash
# The whole check, as CI runs it: system packages (idempotent), formatting, lints, and every
# test (the benches run once each, in criterion's test mode).
set -euo pipefail
cd "$(dirname "$0")/.."

# procps: `kill`, used to send Ctrl-C (SIGINT) to a leader process in tests/cli.rs.
# iproute2: `ip`, which makes the L3 link's network namespace (tests/l3.rs, chaos/tests/l3_link.rs).
# jq: reads a u64 seed back from `recover --json` exactly as users would (tests/cli.rs).
# openssl: makes certificates as users make them (tests/tls.rs), which then must not skip.
# stunnel4: the real stunnel, TLS on both hops, for the idle-timeout story (tests/stunnel_tls.rs).
# curl: drives the toxiproxy API as shell users do (scripts/toxiproxy-curl.sh, tests/toxiproxy_clients.rs).
# nftables: `nft`, which forwards an agent's public ports into an L3 link (tests/agent_forward.rs).
# systemd: `systemd-analyze verify` and `security`, which lint deploy/'s unit (scripts/deploy-lint.sh).
scripts/ensure-packages.sh procps iproute2 jq openssl stunnel4 curl systemd nftables
export RRBENCH_REQUIRE_OPENSSL=1
export RRBENCH_REQUIRE_STUNNEL=1
# A published toxiproxy client (toxiproxy-python, from PyPI) in target/toxiproxy-venv, which
# tests/toxiproxy_clients.rs runs against rrbench's toxiproxy API; then it must not skip.
RRBENCH_TOXIPROXY_PYTHON=$(scripts/toxiproxy-client-install.sh)
export RRBENCH_TOXIPROXY_PYTHON
export RRBENCH_REQUIRE_TOXIPROXY_CLIENT=1

# As root the L3 link can run, so its tests must run rather than skip (they skip elsewhere).
# A container may lack the TUN device node although the kernel has the driver: make it.
if [ "$(id -u)" -eq 0 ]; then
    if [ ! -c /dev/net/tun ]; then
        mkdir -p /dev/net && mknod -m 600 /dev/net/tun c 10 200
    fi
    export RRBENCH_REQUIRE_L3=1
fi

for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        echo "cargo ${component} is missing: rustup component add ${component}" >&2
        exit 1
    fi
done

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== scripts/deploy-lint.sh"
scripts/deploy-lint.sh
# The benches are not timed here: `cargo test --all-targets` below builds every bench target
# and runs each benchmark once in criterion's test mode, so a bench that no longer compiles or
# panics fails the suite. (A separate `cargo bench --no-run` built the whole tree again with the
# optimising bench profile: about 5 of CI's 16 minutes, for no check the test build lacks.)
echo "== cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --all-targets 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary (cargo prints one per binary, some with 0 tests).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { printf "total: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
