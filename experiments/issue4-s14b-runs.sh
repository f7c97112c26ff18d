#!/usr/bin/env bash
# Issue 4, session 14: CaMRec in the authors' form on TikTok (real features), seed 1: no item ID embeddings
# (`itemIds=false`, so no FREEDOM S_mm E_I either), the modality channels at full weight and ungated, as the authors'
# vq_ver1_* code has it (docs/camrec.md choice 10). Full model against its backbone alone in the same form.
# Resumable, one lane per core:
#   nohup experiments/issue4-s14b-runs.sh 1 > runs/issue4-s14b-1.log 2>&1 &
set -uo pipefail
cd "$(dirname "$0")/.."
. experiments/runs-lib.sh
A=(--data data/tiktok --seed 1 --threads 1 --hyper itemIds=false --hyper itemGraph=false --hyper modalityGate=false --hyper modalityWeight=1)
case "${1:-}" in
  1) train camrec-tiktok-authors "${A[@]}" ;;
  2) train camrec-tiktok-authors-backbone "${A[@]}" --no-backdoor --no-frontdoor ;;
  *) echo "usage: $0 1|2" >&2; exit 2 ;;
esac
