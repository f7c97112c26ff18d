# Shared by the resumable run queues (experiments/issue*-runs.sh): source it after `cd` to the repository root.
# Results land in runs/ (gitignored); copy the result.json and metrics.jsonl files into results/ when a run ends.
SHARED=${SHARED:-../shared}
camrec() { node --import tsx scripts/camrec-dev.mts "$@" --log-level warn; }
# train <out> <args...>: skips a finished run, resumes one that has a checkpoint, else starts it.
train() {
  local out=$1; shift
  if [ -f "runs/$out/result.json" ] && grep -q '"seeds"\|"stoppedBy"' "runs/$out/result.json"; then echo "done: $out"; return; fi
  local resume=()
  [ -f "runs/$out/last.ckpt" ] || [ -f "runs/$out/seed-1/last.ckpt" ] || compgen -G "runs/$out/grid/*/last.ckpt" > /dev/null && resume=(--resume)
  echo "$(date -u +%FT%TZ) start: $out $* ${resume[*]}"
  camrec train --out "runs/$out" "${resume[@]}" "$@" || echo "FAILED: $out"
}
# simP100 <seed>: the simulator's training arguments for the causal-validity controls (issue4-s15/s16 queues): the
# recorded simulated data of runs/causal-validity-s14 and patience 100 (at 20 LightGCN stopped on its initial
# plateau: valid flat for ~60 epochs on these data, then rising; docs/simulator.md §5).
simP100() { echo "--data runs/causal-validity-s14/seed-$1/sim-s$1 --seed $1 --threads 1 --epochs 1000 --patience 100"; }
