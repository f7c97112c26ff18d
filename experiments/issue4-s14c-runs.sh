#!/usr/bin/env bash
# Issue 4, session 14: the codebook quantising H_c itself (`envProjection=false`, the paper's §4.2 form) on the
# causal-validity protocol's 3 seeds. With the authors' projection P, z = H_c P has effective rank 2 in trained
# models (its items lie on a circle), while H_c has 6-8 (results/README.md, camrec-s14). Resumable:
#   nohup experiments/issue4-s14c-runs.sh 1 > runs/issue4-s14c-1.log 2>&1 &
set -uo pipefail
cd "$(dirname "$0")/.."
. experiments/runs-lib.sh
case "${1:-}" in
  1) node --import tsx experiments/causal-validity.ts --seeds 1,2,3 --threads 1 --log-level warn --out runs/causal-validity-noproj \
       --hyper envProjection=false || echo "FAILED: causal-validity-noproj" ;;
  2) train camrec-tiktok-noproj --data data/tiktok --seed 1 --threads 1 --hyper envProjection=false ;;
  *) echo "usage: $0 1|2" >&2; exit 2 ;;
esac
