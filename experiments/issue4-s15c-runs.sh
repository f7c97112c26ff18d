#!/usr/bin/env bash
# Issue 4, session 15: LightGCN on TikTok gained NDCG@20 with patience 100 (issue4-s15b-runs.sh). The same
# sensitivity check for full CaMRec (lane 1) and its backbone alone (lane 2) at TikTok's chosen point, seeds 1-3,
# so that all three are compared at the same patience. The protocol stays at 20.
#   nohup experiments/issue4-s15c-runs.sh 1 > runs/issue4-s15c-1.log 2>&1 &   (and 2)
set -uo pipefail
cd "$(dirname "$0")/.."
. experiments/runs-lib.sh
T=(--data data/tiktok --threads 1 --patience 100 --hyper modalityWeight=0.03)
case "${1:-}" in
  1) for s in 1 2 3; do train camrec-tiktok-p100/seed-$s "${T[@]}" --seed $s; done ;;
  2) for s in 1 2 3; do train camrec-tiktok-p100-backbone/seed-$s "${T[@]}" --seed $s --no-backdoor --no-frontdoor; done ;;
  *) echo "usage: $0 1|2" >&2; exit 2 ;;
esac
