#!/usr/bin/env bash
# Issue 4, session 15: on the simulator, is CaMRec's lead over LightGCN on the unconfounded test split the causal
# modules' doing, or the features'? LightGCN sees no features; CaMRec's backbone alone (--no-backdoor --no-frontdoor)
# keeps the modality channels and FREEDOM's item graph; modalityWeight 0 keeps the item graph alone; and each
# adjustment is switched off on its own. The simulated data and training settings of the recorded
# causal-validity run at the current defaults (runs/causal-validity-s14, results/causal-validity-mw003-2026-11-27).
# (The patience-20 runs of sim-s15/ came first: backbone and item graph alone, seeds 1-3.) Seeds 1-3, one lane:
#   nohup experiments/issue4-s15-runs.sh 1 > runs/issue4-s15-1.log 2>&1 &
set -uo pipefail
cd "$(dirname "$0")/.."
. experiments/runs-lib.sh
# Patience 100 (simP100 in runs-lib.sh), as the re-run of the protocol does (runs/causal-validity-p100).
case "${1:-}" in
  1)
    for s in 1 2 3; do train sim-p100/itemgraph/seed-$s $(simP100 $s) --no-backdoor --no-frontdoor --hyper modalityWeight=0; done
    for s in 1 2 3; do train sim-p100/no-backdoor/seed-$s $(simP100 $s) --no-backdoor; done
    for s in 1 2 3; do train sim-p100/no-frontdoor/seed-$s $(simP100 $s) --no-frontdoor; done
    ;;
  *) echo "usage: $0 1" >&2; exit 2 ;;
esac
