#!/usr/bin/env bash
# Issue 4, session 13: the modality channels' weight on TikTok (real features) and the end of sports' grid. The
# grid modalityWeight = 1 (camrec-2026-11-27), 0.3, 0.1 (issue4-mw-runs.sh lanes 3, 4) and 0.03 (lane 1 here), seed 1
# per point, chosen on valid Recall@20 as on baby and sports; lanes 3 and 4 then run the chosen point's seeds and
# its backbone alone. Resumable (experiments/runs-lib.sh), one lane per core:
#   nohup experiments/issue4-tiktok-runs.sh 1 > runs/issue4-tiktok-1.log 2>&1 &
set -uo pipefail
cd "$(dirname "$0")/.."
. experiments/runs-lib.sh
SPORTS="$SHARED/datasets/sports"
case "${1:-}" in
  1) train camrec-tiktok-mw003 --data data/tiktok --seed 1 --hyper modalityWeight=0.03 --threads 1 ;;
  # sports chose 0.03, the smallest point of its grid: one point further
  2) train camrec-sports-mw001 --data "$SPORTS" --seed 1 --hyper modalityWeight=0.01 --threads 1 ;;
  # the chosen TikTok point (argument 2, e.g. 0.3): the full model's seeds 2 and 3 (seed 1 is its grid run) ...
  3)
    MW=${2:?modalityWeight}
    train "camrec-tiktok-mw${MW/./}-s2" --data data/tiktok --seed 2 --hyper "modalityWeight=$MW" --threads 1
    train "camrec-tiktok-mw${MW/./}-s3" --data data/tiktok --seed 3 --hyper "modalityWeight=$MW" --threads 1
    ;;
  # ... and its backbone alone, 3 seeds
  4)
    MW=${2:?modalityWeight}
    train "camrec-tiktok-mw${MW/./}-backbone" --data data/tiktok --seeds 1,2,3 --no-backdoor --no-frontdoor \
      --hyper "modalityWeight=$MW" --threads 1
    ;;
  *) echo "usage: $0 1|2|3 <mw>|4 <mw>" >&2; exit 2 ;;
esac
