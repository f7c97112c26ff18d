#!/usr/bin/env bash
# Issue 4, session 15: how much does the early-stopping patience (MMRec's 20 epochs, our protocol) cost LightGCN on
# TikTok? Its seeds 2 and 3 stopped at epochs 30 and 33 (valid 0.0849, 0.0901) where seed 1, past a flat stretch,
# climbed to epoch 92 (0.0918). A sensitivity check with patience 100, seeds 1-3; the protocol stays at 20.
#   nohup experiments/issue4-s15b-runs.sh 1 > runs/issue4-s15b-1.log 2>&1 &
set -uo pipefail
cd "$(dirname "$0")/.."
. experiments/runs-lib.sh
case "${1:-}" in
  1) for s in 1 2 3; do train lightgcn-tiktok-p100/seed-$s --model lightgcn --data data/tiktok --seed $s --threads 1 --patience 100; done ;;
  *) echo "usage: $0 1" >&2; exit 2 ;;
esac
