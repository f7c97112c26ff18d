#!/usr/bin/env bash
# The long runs behind issue 5's figures: LightGCN on baby trained distributed (2 workers, 2 shards) to early
# stop under bsp, ssp:2 and async, against the single-process runs in results/lightgcn-2026-11-26. Every run
# checkpoints each epoch and resumes (--resume), so this script can be stopped at any time and started again:
#   nohup experiments/issue5-runs.sh > runs/issue5-runs.log 2>&1 &
set -uo pipefail
cd "$(dirname "$0")/.."
. experiments/runs-lib.sh
for mode in bsp ssp:2 async; do
  train "dist-lightgcn-baby-${mode/:/}" --model lightgcn --data "$SHARED/datasets/baby" --seed 1 --distributed local:2:2 --consistency "$mode"
done
