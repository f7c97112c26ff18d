#!/usr/bin/env bash
# Issue 4, session 12: the modality channels' weight on the Amazon sets (stand-in features). The validation-selected
# grid modalityWeight = 1, 0.3, 0.1, 0.03 (seed 1 per point, chosen on valid Recall@20; results/README.md) chose 0.3
# on baby; these are the runs at the chosen point. Two lanes, one per core, resumable (experiments/runs-lib.sh):
#   nohup experiments/issue4-mw-runs.sh 1 > runs/issue4-mw-1.log 2>&1 &
#   nohup experiments/issue4-mw-runs.sh 2 > runs/issue4-mw-2.log 2>&1 &
# and, after them, lanes 3 and 4 (TikTok).
set -uo pipefail
cd "$(dirname "$0")/.."
. experiments/runs-lib.sh
BABY="$SHARED/datasets/baby"
SPORTS="$SHARED/datasets/sports"
MW=(--hyper modalityWeight=0.3 --threads 1)
case "${1:-}" in
  1)
    train camrec-baby-mw03-s2 --data "$BABY" --seed 2 "${MW[@]}"
    train camrec-baby-mw03-s3 --data "$BABY" --seed 3 "${MW[@]}"
    train camrec-baby-mw03-no-backdoor --data "$BABY" --seed 1 --no-backdoor "${MW[@]}"
    train camrec-sports-mw03 --data "$SPORTS" --seed 1 "${MW[@]}"
    ;;
  2)
    train camrec-baby-mw03-backbone --data "$BABY" --seeds 1,2,3 --no-backdoor --no-frontdoor "${MW[@]}"
    train camrec-baby-mw03-no-frontdoor --data "$BABY" --seed 1 --no-frontdoor "${MW[@]}"
    train camrec-baby-mw03-no-diffusion --data "$BABY" --seed 1 --no-diffusion "${MW[@]}"
    train camrec-sports-mw03-backbone --data "$SPORTS" --seed 1 --no-backdoor --no-frontdoor "${MW[@]}"
    ;;
  # TikTok (real features): grid points beside the defaults' (modalityWeight = 1, camrec-2026-11-27's TikTok grid)
  3) train camrec-tiktok-mw03 --data data/tiktok --seed 1 "${MW[@]}" ;;
  4) train camrec-tiktok-mw01 --data data/tiktok --seed 1 --hyper modalityWeight=0.1 --threads 1 ;;
  *) echo "usage: $0 1|2|3|4" >&2; exit 2 ;;
esac
