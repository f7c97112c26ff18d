#!/bin/bash
# Device check (bench/device/pack.sh builds what it needs; run it through the device tool with carry .devpack): distributed LightGCN with --neighbourhood blocks against full, on dedicated cores.
set -u
. "$(dirname "$0")/lib.sh"
tar -xJf $P/microlens.tar.xz -C $X || exit 3
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
