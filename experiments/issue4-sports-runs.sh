#!/usr/bin/env bash
# Issue 4, session 12: sports' backbone alone at the point its own grid chose (modalityWeight 0.03; the grid is
# in experiments/issue4-mw-runs.sh, 7 and 8) and without modality channels (0: LightGCN + FREEDOM's item graph),
# seed 1, stand-in features. Resumable (experiments/runs-lib.sh):  experiments/issue4-sports-runs.sh 1|2
set -uo pipefail
cd "$(dirname "$0")/.."
. experiments/runs-lib.sh
SPORTS="$SHARED/datasets/sports"
case "${1:-}" in
  1) train camrec-sports-mw003-backbone --data "$SPORTS" --seed 1 --no-backdoor --no-frontdoor --hyper modalityWeight=0.03 --threads 1 ;;
  2) train camrec-sports-mw0-backbone --data "$SPORTS" --seed 1 --no-backdoor --no-frontdoor --hyper modalityWeight=0 --threads 1 ;;
  *) echo "usage: $0 1|2" >&2; exit 2 ;;
esac
