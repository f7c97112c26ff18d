#!/usr/bin/env bash
# Issue 4, session 14: envProjection=false (the paper's form) at each dataset's chosen point on seeds 2 and 3, to
# set beside the recorded 3-seed results with the projection (seed 1: issue4-s14c-runs.sh 2, issue4-s14d-runs.sh 1).
#   nohup experiments/issue4-s14e-runs.sh 1 > runs/issue4-s14e-1.log 2>&1 &
set -uo pipefail
cd "$(dirname "$0")/.."
. experiments/runs-lib.sh
case "${1:-}" in
  1) for s in 2 3; do train camrec-tiktok-noproj-s$s --data data/tiktok --seed $s --threads 1 --hyper envProjection=false; done
     for s in 2 3; do train camrec-baby-mw03-noproj-s$s --data "$SHARED/datasets/baby" --seed $s --threads 1 --hyper modalityWeight=0.3 --hyper envProjection=false; done ;;
  *) echo "usage: $0 1" >&2; exit 2 ;;
esac
