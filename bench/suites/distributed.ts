/**
 * Distributed LightGCN on one machine (issue 5, docs/benchmarks.md "Distributed"): one epoch of
 * `camrec train --model lightgcn` on baby in one process and through `--distributed local:W:S`, each as a child of
 * the bench. Per run: the epoch's training seconds (metrics.jsonl trainSeconds, evaluation excluded), seconds per
 * step, the CPU time of the whole process tree (the bench's reaped children: launcher, coordinator, workers,
 * shards), and for distributed runs the per-task split the workers reported (metrics.jsonl `distributed`): pull,
 * compute, push (prepare on every shard), wait (lease wait, the step's commit included) and report, with the rows
 * and bytes moved. "PS share" is (pull + push) / (pull + compute + push + wait + report) of a task: the part of a
 * worker's time spent moving rows. Parameter-server throughput on its own is the `paramserver` suite.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCamrec } from '../lib/camrec.js';
import { runJsonChild } from '../lib/child.js';
import { BenchError } from '../lib/errors.js';
import { repoRoot } from '../lib/paths.js';
import { median } from '../lib/stats.js';
import type { BenchOptions, Suite, SuiteOutcome } from '../lib/suite.js';
import { fixed, formatTable } from '../lib/table.js';

interface Variant {
  readonly name: string;
  /** Flags after `train --model lightgcn --data D --epochs 1`. */
  readonly flags: readonly string[];
}

const BATCH = 2048;

const VARIANTS: readonly Variant[] = [
  { name: 'one process', flags: [] },
  { name: 'local:1:1', flags: ['--distributed', 'local:1:1'] },
  { name: 'local:2:2', flags: ['--distributed', 'local:2:2'] },
  { name: 'local:2:2, 4 tasks/step', flags: ['--distributed', 'local:2:2', '--tasks-per-step', '4'] },
];

/** metrics.jsonl `distributed` (src/coordinator/traffic.ts EpochTraffic). */
interface Split {
  steps: number;
  tasks: number;
  taskMs: { pull: number; compute: number; push: number; wait: number; report: number };
  commitMs: number;
  rowsPulled: number;
  rowsPushed: number;
  bytesPulled: number;
  bytesPushed: number;
}

interface Run {
  variant: string;
  trainSeconds: number;
  steps: number;
  secondsPerStep: number;
  /** CPU seconds of the whole process tree, start-up and evaluation included. */
  cpuSeconds: number;
  wallSeconds: number;
  split: Split | null;
}

/** CPU seconds of this process's reaped children so far (Linux /proc: cutime + cstime, clock ticks of 10 ms). */
function childrenCpuSeconds(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

async function runOnce(v: Variant, dataDir: string, opts: BenchOptions): Promise<Run> {
  const out = mkdtempSync(join(tmpdir(), 'camrec-bench-dist-'));
  const label = `camrec lightgcn ${v.name}`;
  try {
    const cpu0 = childrenCpuSeconds();
    const args = [join(repoRoot, 'bin', 'camrec.js'), 'train', '--model', 'lightgcn', '--data', dataDir, '--epochs', '1', '--batch', String(BATCH), '--threads', String(opts.threads), ...v.flags, '--json', '--log-level', 'warn', '--out', out];
    const child = await runJsonChild(process.execPath, args, { label, cwd: repoRoot, timeoutMs: opts.timeoutMs });
    const cpuSeconds = childrenCpuSeconds() - cpu0;
    const line = JSON.parse(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n')[0]) as { trainSeconds: number; distributed?: Split };
    if (!(line.trainSeconds > 0)) throw new BenchError('CHILD_FAILED', `${label}: metrics.jsonl has no trainSeconds`);
    const split = line.distributed ?? null;
    const steps = split?.steps ?? stepsOf(child.json);
    return { variant: v.name, trainSeconds: line.trainSeconds, steps, secondsPerStep: line.trainSeconds / steps, cpuSeconds, wallSeconds: child.wallSeconds, split };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** Steps of one epoch: the training pairs over the batch (the one-process run has no split to count them). */
function stepsOf(json: Record<string, unknown>): number {
  const pairs = Number((json.dataset as { train?: number } | undefined)?.train);
  if (!Number.isFinite(pairs)) throw new BenchError('CHILD_FAILED', 'result line has no dataset.train');
  return Math.ceil(pairs / BATCH);
}

const psShare = (s: Split) => {
  const t = s.taskMs;
  return (t.pull + t.push) / (t.pull + t.compute + t.push + t.wait + t.report);
};

function summarise(runs: readonly Run[]): Run {
  const mid = [...runs].sort((a, b) => a.trainSeconds - b.trainSeconds)[runs.length >> 1];
  return { ...mid, trainSeconds: median(runs.map((r) => r.trainSeconds)), cpuSeconds: median(runs.map((r) => r.cpuSeconds)), secondsPerStep: median(runs.map((r) => r.secondsPerStep)) };
}

function report(rows: readonly Run[]): string {
  const base = rows.find((r) => r.variant === 'one process')!;
  const timing = formatTable(
    ['run', 'epoch s', '× one process', 'ms/step', 'CPU s (tree)', 'CPU × one process'],
    rows.map((r) => [r.variant, fixed(r.trainSeconds, 1), fixed(r.trainSeconds / base.trainSeconds, 1), fixed(1000 * r.secondsPerStep, 0), fixed(r.cpuSeconds, 1), fixed(r.cpuSeconds / base.cpuSeconds, 1)]),
  );
  const dist = rows.filter((r) => r.split);
  const split = formatTable(
    ['run', 'tasks/step', 'pull ms', 'compute ms', 'push ms', 'wait ms', 'report ms', 'commit ms/step', 'PS share', 'MB pulled/step', 'MB pushed/step'],
    dist.map((r) => {
      const s = r.split!;
      const t = s.taskMs;
      return [r.variant, fixed(s.tasks / s.steps, 0), fixed(t.pull, 0), fixed(t.compute, 0), fixed(t.push, 0), fixed(t.wait, 0), fixed(t.report, 0), fixed(s.commitMs, 0), `${fixed(100 * psShare(s), 0)}%`, fixed(s.bytesPulled / s.steps / 1e6, 1), fixed(s.bytesPushed / s.steps / 1e6, 1)];
    }),
  );
  return `${timing}\n\nPer task (means over the epoch's accepted tasks):\n\n${split}`;
}

export const distributedSuite: Suite = {
  name: 'distributed',
  description: 'LightGCN on baby, one epoch: one process against --distributed local:1:1 and local:2:2 (time, CPU, per-task split)',
  async run(opts: BenchOptions): Promise<SuiteOutcome> {
    if (opts.build) buildCamrec();
    const dataset = opts.datasets?.[0] ?? 'baby';
    const dataDir = join(opts.shared, 'datasets', dataset);
    const all: Run[] = [];
    for (let r = 1; r <= opts.repeats; r++) {
      for (const v of VARIANTS) {
        const run = await runOnce(v, dataDir, opts);
        all.push(run);
        const s = run.split ? `, PS share ${(100 * psShare(run.split)).toFixed(0)}%` : '';
        opts.log(`[${r}/${opts.repeats}] ${v.name}: epoch ${run.trainSeconds.toFixed(1)} s, ${(1000 * run.secondsPerStep).toFixed(0)} ms/step, CPU ${run.cpuSeconds.toFixed(1)} s${s}`);
      }
    }
    const rows = VARIANTS.map((v) => summarise(all.filter((r) => r.variant === v.name)));
    const title = `Distributed LightGCN on ${dataset}: one epoch (batch 2048, Adam), --threads ${opts.threads}, ${opts.repeats} interleaved repeat(s), medians; ${opts.machine.cores} cores shared with whatever else runs`;
    return { result: { dataset, runs: all, medians: rows }, report: `${title}\n\n${report(rows)}` };
  },
};
