#!/usr/bin/env bash
# The long runs behind issue 5's figures: LightGCN on baby trained distributed (2 workers, 2 shards) to early
# stop under bsp, ssp:2 and async, against the single-process runs in results/lightgcn-2026-11-26. Every run
# checkpoints each epoch and resumes (--resume), so this script can be stopped at any time and started again:
#   nohup experiments/issue5-runs.sh > runs/issue5-runs.log 2>&1 &
# Results land in runs/ (gitignored); copy result.json and metrics.jsonl into results/ when a run finishes.
set -uo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
camrec() { node --import tsx scripts/camrec-dev.mts "$@" --log-level warn; }
train() { # train <out> <args...>
  local out=$1; shift
  if [ -f "runs/$out/result.json" ] && grep -q '"stoppedBy"' "runs/$out/result.json"; then echo "done: $out"; return; fi
  local resume=()
  [ -f "runs/$out/last.ckpt" ] && resume=(--resume)
  echo "$(date -u +%FT%TZ) start: $out $* ${resume[*]}"
  camrec train --out "runs/$out" "${resume[@]}" "$@" || echo "FAILED: $out"
}
for mode in bsp ssp:2 async; do
  train "dist-lightgcn-baby-${mode/:/}" --model lightgcn --data "$SHARED/datasets/baby" --seed 1 --distributed local:2:2 --consistency "$mode"
done
