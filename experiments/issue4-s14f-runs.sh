#!/usr/bin/env bash
# Issue 4, sessions 14-15: sports' modality-weight grid chose its smallest point again (0.003 over 0.01): the next
# point down, 0.001 (lane 1), and its backbone alone for the comparison should 0.001 be chosen (lane 2). Seed 1.
# Resumable, one lane per core:
#   nohup experiments/issue4-s14f-runs.sh 1 > runs/issue4-s14f-1.log 2>&1 &
set -uo pipefail
cd "$(dirname "$0")/.."
. experiments/runs-lib.sh
S=(--data "$SHARED/datasets/sports" --seed 1 --threads 1 --hyper modalityWeight=0.001)
case "${1:-}" in
  1) train camrec-sports-mw0001 "${S[@]}" ;;
  2) train camrec-sports-mw0001-backbone "${S[@]}" --no-backdoor --no-frontdoor ;;
  *) echo "usage: $0 1|2" >&2; exit 2 ;;
esac
