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
  # The backbone alone's own grid points (to report the strongest backbone on valid, not only the one at the full
  # model's point): 0.03, and 0 (no modality channels: LightGCN with 2 layers and FREEDOM's item graph), 3 seeds
  5)
    train camrec-baby-mw003-backbone --data "$BABY" --seed 1 --no-backdoor --no-frontdoor --hyper modalityWeight=0.03 --threads 1
    train camrec-baby-mw0-backbone --data "$BABY" --seeds 1,2,3 --no-backdoor --no-frontdoor --hyper modalityWeight=0 --threads 1
    ;;
  # Sports' own grid points (its backbone at baby's 0.3 stayed below LightGCN on valid), seed 1
  7) train camrec-sports-mw01 --data "$SPORTS" --seed 1 --hyper modalityWeight=0.1 --threads 1 ;;
  8) train camrec-sports-mw003 --data "$SPORTS" --seed 1 --hyper modalityWeight=0.03 --threads 1 ;;
  # The authors' learning rate (5e-4; ours defaults to 1e-3) at two of baby's points, seed 1: the full model peaks
  # on valid at epochs 10-20 where the backbone alone climbs to 60
  9) train camrec-baby-mw03-lr5e-4 --data "$BABY" --seed 1 --lr 0.0005 "${MW[@]}" ;;
  10) train camrec-baby-mw01-lr5e-4 --data "$BABY" --seed 1 --lr 0.0005 --hyper modalityWeight=0.1 --threads 1 ;;
  # TikTok (real features): grid points beside the defaults' (modalityWeight = 1, camrec-2026-11-27's TikTok grid)
  3) train camrec-tiktok-mw03 --data data/tiktok --seed 1 "${MW[@]}" ;;
  4) train camrec-tiktok-mw01 --data data/tiktok --seed 1 --hyper modalityWeight=0.1 --threads 1 ;;
  # Exploratory, seed 1 (not the fixed protocol's 3 seeds): the causal-validity experiment with a stronger noise
  # schedule. With the authors' betas (1e-4..0.02, T = 20) the inference step t* = 10 keeps ᾱ ≈ 0.95 of h, so
  # H_c is h almost unchanged; with betaEnd = 0.2, ᾱ_10 ≈ 0.6 and the denoiser has to lean on the other modality.
  6)
    node --import tsx experiments/causal-validity.ts --seeds 1 --out runs/causal-validity-beta02 --threads 1 \
      --hyper betaEnd=0.2 --log-level warn || echo "FAILED: causal-validity-beta02"
    ;;
  *) echo "usage: $0 1..10" >&2; exit 2 ;;
esac
