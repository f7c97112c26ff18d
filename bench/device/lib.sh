# Sourced by bench/device/*.sh on the device machine: unpacks .devpack (bench/device/pack.sh) into /tmp/x, puts its
# node first on PATH, enters the app and defines `run`. $P is the pack, $OUT the folder whose files come back.
P=${DEVPACK:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.devpack" && pwd)}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
X=/tmp/x; rm -rf $X; mkdir -p $X
tar -xJf $P/app.tar.xz -C $X && xz -dc $P/node.xz > $X/node && chmod +x $X/node || exit 3
export PATH=$X:$PATH
cd $X/app
{ nproc; lscpu | grep -i "model name\|^CPU(s)\|Thread(s)\|Core(s)\|Socket(s)\|NUMA node(s)\|MHz"; free -g; node --version; uptime; } > $OUT/machine.txt 2>&1
LOG=$OUT/log.txt
# run <label> <camrec args...>: one JSON line per run into $OUT/runs.jsonl (the CLI's exit code, wall time, load and
# its result line), one line into $OUT/log.txt
run() {
  local label=$1; shift
  local s=$(date +%s%N)
  node bin/camrec.js "$@" --json --log-level warn > $X/result.line 2>>$OUT/err.log
  local rc=$?
  local e=$(( ($(date +%s%N) - s) / 1000000 ))
  local line; line=$(tail -1 $X/result.line)
  echo "{\"label\":\"$label\",\"rc\":$rc,\"wallMs\":$e,\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"result\":${line:-null}}" >> $OUT/runs.jsonl
  echo "$(date -u +%T) $label rc=$rc wall=${e}ms" >> $LOG
}
