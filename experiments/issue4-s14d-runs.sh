#!/usr/bin/env bash
# Issue 4, session 14: envProjection=false (the codebook quantises H_c, the paper's form) on baby at its chosen
# modality weight 0.3, seed 1, against the same point with the projection (camrec-baby-mw03 in the grid, valid 0.0926).
#   nohup experiments/issue4-s14d-runs.sh 1 > runs/issue4-s14d-1.log 2>&1 &
set -uo pipefail
cd "$(dirname "$0")/.."
. experiments/runs-lib.sh
case "${1:-}" in
  1) train camrec-baby-mw03-noproj --data "$SHARED/datasets/baby" --seed 1 --threads 1 --hyper modalityWeight=0.3 --hyper envProjection=false ;;
  *) echo "usage: $0 1" >&2; exit 2 ;;
esac
