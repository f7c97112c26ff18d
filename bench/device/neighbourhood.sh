#!/bin/bash
# Device check (bench/device/pack.sh builds what it needs; run it through the device tool with carry .devpack): distributed LightGCN with --neighbourhood blocks against full, on dedicated cores.
set -u
P=${DEVPACK:-$(cd "$(dirname "$0")/../../.devpack" && pwd)}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
X=/tmp/x; rm -rf $X; mkdir -p $X
tar -xJf $P/app.tar.xz -C $X && xz -dc $P/node.xz > $X/node && chmod +x $X/node && tar -xJf $P/microlens.tar.xz -C $X || exit 3
export PATH=$X:$PATH
cd $X/app
{ nproc; uptime; } > $OUT/machine.txt 2>&1
LOG=$OUT/log.txt
run() {
  local label=$1; shift
  local s=$(date +%s%N)
  local line; line=$(node bin/camrec.js "$@" --json --log-level warn 2>>$OUT/err.log | tail -1)
  local rc=$?
  local e=$(( ($(date +%s%N) - s) / 1000000 ))
  echo "{\"label\":\"$label\",\"rc\":$rc,\"wallMs\":$e,\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"result\":${line:-null}}" >> $OUT/runs.jsonl
  echo "$(date -u +%T) $label rc=$rc wall=${e}ms" >> $LOG
}
dist() { # dist <data name> <dir> <layout> <neighbourhood>
  local W=${3%%:*} o=/tmp/d-$1-$3-$4; rm -rf $o
  run "$1 local:$3 $4" train --model lightgcn --data $2 --epochs 1 --threads $((2*W)) --distributed local:$3 --neighbourhood $4 --out $o
  while read -r m; do echo "{\"layout\":\"$1 local:$3 $4\",\"metrics\":$m}"; done < $o/metrics.jsonl >> $OUT/dist-metrics.jsonl
}
for spec in "baby $P/data/baby" "microlens-50k $X/microlens-50k"; do
  set -- $spec
  run "$1 one process t2" train --model lightgcn --data $2 --bench-epochs 1 --threads 2
  for L in ${LAYOUTS:-1:1 2:2 4:2 8:4}; do dist $1 $2 $L blocks; done
  [ $1 = microlens-50k ] && for L in ${FULL:-1:1 4:2}; do dist $1 $2 $L full; done
done
uptime >> $OUT/machine.txt
