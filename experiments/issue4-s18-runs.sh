#!/usr/bin/env bash
# Issue 4, session 18: sports at the point its validation-selected grid chose (modalityWeight 0.001) with seeds 2
# and 3, beside seed 1 (camrec-s15): full CaMRec (lane 1), its backbone alone and LightGCN (lane 2), so that the
# sports comparison is a mean ± std over three seeds as on baby and TikTok. Stand-in features (docs/camrec.md).
# Resumable, one lane per core:
#   nohup experiments/issue4-s18-runs.sh 1 > runs/issue4-s18-1.log 2>&1 &
set -uo pipefail
cd "$(dirname "$0")/.."
. experiments/runs-lib.sh
S=(--data "$SHARED/datasets/sports" --threads 1)
case "${1:-}" in
  1) for s in 2 3; do train "camrec-sports-mw0001-seed-$s" "${S[@]}" --seed "$s" --hyper modalityWeight=0.001; done ;;
  2) for s in 2 3; do train "camrec-sports-mw0001-backbone-seed-$s" "${S[@]}" --seed "$s" --hyper modalityWeight=0.001 --no-backdoor --no-frontdoor; done
     for s in 2 3; do train "lightgcn-sports-seed-$s" "${S[@]}" --seed "$s" --model lightgcn; done ;;
  *) echo "usage: $0 1|2" >&2; exit 2 ;;
esac
