#!/usr/bin/env bash
# Issue 4, session 13: the InfoNCE weight at TikTok's chosen modality weight (0.03), seed 1, chosen on valid
# Recall@20 with the default 0.04 (issue4-tiktok-runs.sh lane 1) as the grid's third point. At modalityWeight 1
# the grid over sslWeight = 0.01, 0.04 kept 0.04 (results/README.md, camrec-2026-11-27). Resumable, one lane per core:
#   nohup experiments/issue4-tiktok-ssl-runs.sh 1 > runs/issue4-tiktok-ssl-1.log 2>&1 &
set -uo pipefail
cd "$(dirname "$0")/.."
. experiments/runs-lib.sh
T=(--data data/tiktok --seed 1 --hyper modalityWeight=0.03 --threads 1)
case "${1:-}" in
  1) train camrec-tiktok-mw003-ssl001 "${T[@]}" --hyper sslWeight=0.01 ;;
  2) train camrec-tiktok-mw003-ssl01 "${T[@]}" --hyper sslWeight=0.1 ;;
  # sports' grid point 0.01 (issue4-tiktok-runs.sh lane 2) is above its 0.03 on valid: its backbone alone there
  3) train camrec-sports-mw001-backbone --data "$SHARED/datasets/sports" --seed 1 --no-backdoor --no-frontdoor \
       --hyper modalityWeight=0.01 --threads 1 ;;
  *) echo "usage: $0 1|2|3" >&2; exit 2 ;;
esac
