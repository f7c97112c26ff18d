#!/usr/bin/env bash
# Issue 4, session 16: on the simulator, what does the front door add while its gates are all 1 (X* = X)?
# Lane 1 keeps the mask and the second BPR on X* but drops InfoNCE (sslWeight=0); the recorded full CaMRec
# (runs/causal-validity-p100) and `--no-frontdoor` (runs/sim-p100/no-frontdoor) bracket it. Same simulated data
# and training settings as experiments/issue4-s15-runs.sh (patience 100). Seeds 1-3:
#   nohup experiments/issue4-s16-runs.sh 1 > runs/issue4-s16-1.log 2>&1 &
set -uo pipefail
cd "$(dirname "$0")/.."
. experiments/runs-lib.sh
case "${1:-}" in
  1)
    for s in 1 2 3; do train sim-p100/ssl0/seed-$s $(simP100 $s) --hyper sslWeight=0; done
    ;;
  3)
    # maskInput=modal on real data, seed 1, against the recorded runs at the same settings (camrec-tiktok-mw003,
    # camrec-baby-mw03: the validation-selected points)
    train camrec-tiktok-maskmodal --data data/tiktok --seed 1 --threads 1 --hyper maskInput=modal
    train camrec-baby-maskmodal --data $SHARED/datasets/baby --seed 1 --threads 1 --hyper modalityWeight=0.3 --hyper maskInput=modal
    ;;
  *) echo "usage: $0 1|3" >&2; exit 2 ;;
esac
# Lane 2 (started by hand, 04:50): the edge mask reading the items' modal features (maskInput=modal, docs/camrec.md
# choice 24) through the causal-validity harness; LightGCN, the backbone (both independent of the mask's input) and
# the simulated data copied from runs/causal-validity-p100, so only CaMRec trains:
#   for s in 1 2 3; do d=runs/causal-validity-maskmodal/seed-$s; mkdir -p $d
#     cp -r runs/causal-validity-p100/seed-$s/{sim-s$s,lightgcn,backbone,lightgcn.log,backbone.log} $d/; done
#   node --import tsx experiments/causal-validity.ts --seeds 1,2,3 --out runs/causal-validity-maskmodal \
#     --hyper maskInput=modal --threads 1 > runs/causal-validity-maskmodal.log 2>&1
