#!/usr/bin/env bash
# Long simulation soaks, run by hand (not in CI): the recovery state machine against random
# worlds, and the real follower and leader over the simulated network, both in simulated time.
# A failing seed prints the one command that replays it.
#
# Usage: scripts/sim-soak.sh [--seeds 100000] [--model-seeds 1000000]
set -euo pipefail
cd "$(dirname "$0")/.."

seeds=100000
model_seeds=1000000
while [ $# -gt 0 ]; do
    case "$1" in
        --seeds) seeds="$2"; shift 2 ;;
        --model-seeds) model_seeds="$2"; shift 2 ;;
        *) echo "unknown argument: $1 (use --seeds N, --model-seeds N)" >&2; exit 2 ;;
    esac
done

echo "== the state machine against $model_seeds random worlds"
RRBENCH_MODEL_SEEDS="$model_seeds" cargo test --release --lib every_policy_keeps_its_promises -- --nocapture
echo "== the follower and the leader over $seeds random fault schedules"
RRBENCH_SIM_SEEDS="$seeds" cargo test --release --test sim random_fault_schedules -- --nocapture
