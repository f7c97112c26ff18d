#!/bin/bash
# Device check (bench/device/pack.sh builds what it needs; run it through the device tool with carry .devpack): CaMRec/LightGCN epoch ratio and distributed LightGCN on dedicated cores.
set -u
. "$(dirname "$0")/lib.sh"
D=$P/data/baby
REPS=${REPS:-2}
# 1. CaMRec against LightGCN, one process, 1 bench epoch, interleaved, at 2 and 8 threads
for T in ${THREADS:-2 8}; do for r in $(seq $REPS); do
  run "camrec-t$T-r$r" train --model camrec --data $D --bench-epochs 1 --threads $T
  run "lightgcn-t$T-r$r" train --model lightgcn --data $D --bench-epochs 1 --threads $T
done; done
# 2. LightGCN one process by threads
for T in ${TSCALE:-1 4 16}; do run "lightgcn-t$T" train --model lightgcn --data $D --bench-epochs 1 --threads $T; done
# 3. distributed LightGCN, 2 threads per worker, 1 epoch (trainSeconds in metrics.jsonl)
for L in ${LAYOUTS:-1:1 2:2 4:2 8:4}; do
  W=${L%%:*}; o=/tmp/d-$W; rm -rf $o
  run "dist-local:$L" train --model lightgcn --data $D --epochs 1 --threads $((2*W)) --distributed local:$L --out $o
  while read -r m; do echo "{\"layout\":\"lightgcn local:$L\",\"metrics\":$m}"; done < $o/metrics.jsonl >> $OUT/dist-metrics.jsonl
done
# 4. distributed CaMRec, 2 threads per worker, 1 epoch
for L in ${CLAYOUTS:-1:1 4:2}; do
  W=${L%%:*}; o=/tmp/c-$W; rm -rf $o
  run "camrec-dist-local:$L" train --model camrec --data $D --epochs 1 --threads $((2*W)) --distributed local:$L --out $o
  while read -r m; do echo "{\"layout\":\"camrec local:$L\",\"metrics\":$m}"; done < $o/metrics.jsonl >> $OUT/dist-metrics.jsonl
done
# 5. with MICROLENS=1: CaMRec against LightGCN on microlens-50k, 1 bench epoch, --threads 2
if [ "${MICROLENS:-0}" = 1 ]; then
  tar -xJf $P/microlens.tar.xz -C $X || exit 3
  run "camrec-microlens-t2" train --model camrec --data $X/microlens-50k --bench-epochs 1 --threads 2
  run "lightgcn-microlens-t2" train --model lightgcn --data $X/microlens-50k --bench-epochs 1 --threads 2
fi
uptime >> $OUT/machine.txt
