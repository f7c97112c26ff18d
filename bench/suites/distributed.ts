/**
 * Distributed LightGCN on one machine (issue 5, docs/benchmarks.md "Distributed"): one epoch of
 * `camrec train --model lightgcn` on baby in one process and through `--distributed local:W:S`, each as a child of
 * the bench. Per run: the epoch's training seconds (metrics.jsonl trainSeconds, evaluation excluded), seconds per
 * step, the CPU time of the whole process tree (the bench's reaped children: launcher, coordinator, workers,
 * shards), and for distributed runs the per-task split the workers reported (metrics.jsonl `distributed`): pull,
 * compute, push (prepare on every shard), wait (lease wait, the step's commit included) and report, with the rows
 * and bytes moved. "PS share" is (pull + push) / (pull + compute + push + wait + report) of a task: the part of a
 * worker's time spent moving rows; "PS MB/s" the bytes a task moved over its pull + push time. Each layout runs once
 * per wire encoding of `--wire` (default f32 and bf16), one after the other in every repeat, and the 16-bit rows are
 * compared with the float32 ones. Parameter-server throughput on its own is the `paramserver` suite.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCamrec } from '../lib/camrec.js';
import { runJsonChild } from '../lib/child.js';
import { BenchError } from '../lib/errors.js';
import { repoRoot } from '../lib/paths.js';
import { median } from '../lib/stats.js';
import type { BenchOptions, Suite, SuiteOutcome } from '../lib/suite.js';
import { fixed, formatTable } from '../lib/table.js';
import type { WireEncoding } from '../../src/paramserver/index.js';

interface Variant {
  readonly name: string;
  /** Flags after `train --model lightgcn --data D --epochs 1`. */
  readonly flags: readonly string[];
  /** The layout and wire of a distributed run, to compare encodings. */
  readonly layout?: string;
  readonly wire?: WireEncoding;
}

const BATCH = 2048;

/** The runs beside one process by default (the 4-task run as `local:2:2/4`). */
export const DISTRIBUTED_LAYOUTS = ['local:1:1', 'local:2:2', 'local:2:2/4'] as const;

/** `local:W:S` (each wire encoding) or `local:W:S/T` (T tasks per step, the base encoding); null when it is neither. */
export function parseLayout(s: string): { layout: string; tasks: number | null } | null {
  const m = /^local:([1-9]\d?):([1-9]\d?)(?:\/([1-9]\d?))?$/.exec(s);
  return m ? { layout: `local:${m[1]}:${m[2]}`, tasks: m[3] ? Number(m[3]) : null } : null;
}

/**
 * One process, then each layout in the order given: `local:W:S` once per wire encoding, side by side (float32 named
 * without a suffix); `local:W:S/T` once, with T tasks per step, in the base encoding. One process always runs: the
 * other runs are compared with it.
 */
function variants(wires: readonly WireEncoding[], layouts: readonly string[] = DISTRIBUTED_LAYOUTS): Variant[] {
  const out: Variant[] = [{ name: 'one process', flags: [] }];
  const wireFlags = (wire: WireEncoding) => (wire === 'f32' ? [] : ['--wire', wire]);
  const suffix = (wire: WireEncoding) => (wire === 'f32' ? '' : ` ${wire}`);
  for (const given of layouts) {
    const parsed = parseLayout(given);
    if (!parsed) throw new BenchError('BAD_ARGS', `--layouts: '${given}' is not local:W:S or local:W:S/T`);
    const { layout, tasks } = parsed;
    if (tasks !== null) {
      out.push({ name: `${layout}, ${tasks} tasks/step${suffix(wires[0])}`, flags: ['--distributed', layout, '--tasks-per-step', String(tasks), ...wireFlags(wires[0])] });
      continue;
    }
    for (const wire of wires) out.push({ name: `${layout}${suffix(wire)}`, flags: ['--distributed', layout, ...wireFlags(wire)], layout, wire });
  }
  return out;
}

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
  /** The same per process, as each reported it at exit (bench/lib/cpu-report.mjs). */
  processes: ProcessCpu;
  wallSeconds: number;
  split: Split | null;
}

/** CPU seconds of each process of one run, by role; a process killed before it could report is not counted. */
export interface ProcessCpu {
  /** `camrec train` itself (the whole run when there is no --distributed). */
  readonly launcher: number | null;
  readonly coordinator: number | null;
  /** One entry per worker, per shard, in the order of their pids. */
  readonly workers: number[];
  readonly shards: number[];
}

const CPU_REPORT = join(repoRoot, 'bench', 'lib', 'cpu-report.mjs');

/** Groups the lines bench/lib/cpu-report.mjs wrote into `dir` by the camrec command each process ran. */
export function readProcessCpu(dir: string): ProcessCpu {
  const lines = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as { pid: number; role: string; cpuSeconds: number })
    .sort((a, b) => a.pid - b.pid);
  const of = (role: string) => lines.filter((l) => l.role === role).map((l) => l.cpuSeconds);
  const one = (role: string) => {
    const all = of(role);
    if (all.length > 1) throw new BenchError('CHILD_FAILED', `per-process CPU: ${all.length} processes ran '${role}', expected at most one`);
    return all[0] ?? null;
  };
  return { launcher: one('train'), coordinator: one('coordinator'), workers: of('worker'), shards: of('paramserver') };
}

/** CPU seconds of this process's reaped children so far (Linux /proc: cutime + cstime, clock ticks of 10 ms). */
function childrenCpuSeconds(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

async function runOnce(v: Variant, dataDir: string, opts: BenchOptions): Promise<Run> {
  const out = mkdtempSync(join(tmpdir(), 'camrec-bench-dist-'));
  const cpuDir = mkdtempSync(join(tmpdir(), 'camrec-bench-cpu-'));
  const label = `camrec lightgcn ${v.name}`;
  try {
    const cpu0 = childrenCpuSeconds();
    const args = ['--import', CPU_REPORT, join(repoRoot, 'bin', 'camrec.js'), 'train', '--model', 'lightgcn', '--data', dataDir, '--epochs', '1', '--batch', String(BATCH), '--threads', String(opts.threads), ...v.flags, '--json', '--log-level', 'warn', '--out', out];
    const child = await runJsonChild(process.execPath, args, { label, cwd: repoRoot, timeoutMs: opts.timeoutMs, env: { ...process.env, CAMREC_BENCH_CPU_DIR: cpuDir } });
    const cpuSeconds = childrenCpuSeconds() - cpu0;
    const processes = readProcessCpu(cpuDir);
    const line = JSON.parse(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n')[0]) as { trainSeconds: number; distributed?: Split };
    if (!(line.trainSeconds > 0)) throw new BenchError('CHILD_FAILED', `${label}: metrics.jsonl has no trainSeconds`);
    const split = line.distributed ?? null;
    const steps = split?.steps ?? stepsOf(child.json);
    return { variant: v.name, trainSeconds: line.trainSeconds, steps, secondsPerStep: line.trainSeconds / steps, cpuSeconds, processes, wallSeconds: child.wallSeconds, split };
  } finally {
    rmSync(out, { recursive: true, force: true });
    rmSync(cpuDir, { recursive: true, force: true });
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

/** MB a task moved (both ways) per second of its pull and push. */
const psMbPerSecond = (s: Split) => (s.bytesPulled + s.bytesPushed) / s.tasks / 1e6 / ((s.taskMs.pull + s.taskMs.push) / 1000);

function summarise(runs: readonly Run[]): Run {
  const mid = [...runs].sort((a, b) => a.trainSeconds - b.trainSeconds)[runs.length >> 1];
  return { ...mid, trainSeconds: median(runs.map((r) => r.trainSeconds)), cpuSeconds: median(runs.map((r) => r.cpuSeconds)), secondsPerStep: median(runs.map((r) => r.secondsPerStep)) };
}

function report(rows: readonly Run[], vs: readonly Variant[]): string {
  const base = rows.find((r) => r.variant === 'one process')!;
  const timing = formatTable(
    ['run', 'epoch s', '× one process', 'ms/step', 'CPU s (tree)', 'CPU × one process'],
    rows.map((r) => [r.variant, fixed(r.trainSeconds, 1), fixed(r.trainSeconds / base.trainSeconds, 1), fixed(1000 * r.secondsPerStep, 0), fixed(r.cpuSeconds, 1), fixed(r.cpuSeconds / base.cpuSeconds, 1)]),
  );
  const dist = rows.filter((r) => r.split);
  const split = formatTable(
    ['run', 'tasks/step', 'pull ms', 'compute ms', 'push ms', 'wait ms', 'report ms', 'commit ms/step', 'PS share', 'MB pulled/step', 'MB pushed/step', 'PS MB/s', 'M rows/s'],
    dist.map((r) => {
      const s = r.split!;
      const t = s.taskMs;
      const rowsPerSecond = (s.rowsPulled + s.rowsPushed) / s.tasks / ((t.pull + t.push) / 1000) / 1e6;
      return [
        r.variant, fixed(s.tasks / s.steps, 0), fixed(t.pull, 0), fixed(t.compute, 0), fixed(t.push, 0), fixed(t.wait, 0), fixed(t.report, 0), fixed(s.commitMs, 0),
        `${fixed(100 * psShare(s), 0)}%`, fixed(s.bytesPulled / s.steps / 1e6, 1), fixed(s.bytesPushed / s.steps / 1e6, 1), fixed(psMbPerSecond(s), 0), fixed(rowsPerSecond, 2),
      ];
    }),
  );
  const list = (xs: readonly number[]) => (xs.length ? xs.map((x) => fixed(x, 1)).join(', ') : '–');
  const maybe = (x: number | null) => (x === null ? '–' : fixed(x, 1));
  const perProcess = formatTable(
    ['run', 'launcher', 'coordinator', 'workers', 'shards', 'sum', 'tree'],
    rows.map((r) => {
      const p = r.processes;
      const sum = [p.launcher ?? 0, p.coordinator ?? 0, ...p.workers, ...p.shards].reduce((a, b) => a + b, 0);
      return [r.variant, maybe(p.launcher), maybe(p.coordinator), list(p.workers), list(p.shards), fixed(sum, 1), fixed(r.cpuSeconds, 1)];
    }),
  );
  return `${timing}\n\nCPU s per process (each process's own user + system time at its exit, start-up and evaluation included; the run\nwhose epoch time is the median):\n\n${perProcess}\n\nPer task (means over the epoch's accepted tasks):\n\n${split}${compareWires(rows, vs)}`;
}

/** Each 16-bit layout against the same layout in the base encoding (the first of --wire). */
function compareWires(rows: readonly Run[], vs: readonly Variant[]): string {
  const byName = new Map(rows.map((r) => [r.variant, r]));
  const wired = vs.filter((v) => v.layout);
  const base = wired[0]?.wire;
  const pairs = wired.filter((v) => v.wire !== base).map((v) => [v, wired.find((b) => b.layout === v.layout && b.wire === base)!] as const);
  if (!pairs.length) return '';
  const table = formatTable(
    ['run', 'against', 'PS share', 'pull ×', 'push ×', 'compute ×', 'epoch s ×', 'CPU s ×', 'MB/step ×'],
    pairs.map(([v, b]) => {
      const [r, q] = [byName.get(v.name)!, byName.get(b.name)!];
      const [s, t] = [r.split!, q.split!];
      const mb = (x: Split) => (x.bytesPulled + x.bytesPushed) / x.steps;
      return [
        v.name, b.name, `${fixed(100 * psShare(s), 0)}% vs ${fixed(100 * psShare(t), 0)}%`, fixed(s.taskMs.pull / t.taskMs.pull, 2), fixed(s.taskMs.push / t.taskMs.push, 2),
        fixed(s.taskMs.compute / t.taskMs.compute, 2), fixed(r.trainSeconds / q.trainSeconds, 2), fixed(r.cpuSeconds / q.cpuSeconds, 2), fixed(mb(s) / mb(t), 2),
      ];
    }),
  );
  return `\n\n16-bit wire against ${base} (same repeats, interleaved; ratios of the medians):\n\n${table}`;
}

export const distributedSuite: Suite = {
  name: 'distributed',
  description: 'LightGCN on baby, one epoch: one process against --distributed local:1:1 and local:2:2 per wire encoding (time, CPU, per-task split)',
  async run(opts: BenchOptions): Promise<SuiteOutcome> {
    if (opts.build) buildCamrec();
    const dataset = opts.datasets?.[0] ?? 'baby';
    const dataDir = join(opts.shared, 'datasets', dataset);
    const all: Run[] = [];
    const vs = variants(opts.wires, opts.layouts);
    for (let r = 1; r <= opts.repeats; r++) {
      for (const v of vs) {
        const run = await runOnce(v, dataDir, opts);
        all.push(run);
        const s = run.split ? `, PS share ${(100 * psShare(run.split)).toFixed(0)}%` : '';
        opts.log(`[${r}/${opts.repeats}] ${v.name}: epoch ${run.trainSeconds.toFixed(1)} s, ${(1000 * run.secondsPerStep).toFixed(0)} ms/step, CPU ${run.cpuSeconds.toFixed(1)} s${s}`);
      }
    }
    const rows = vs.map((v) => summarise(all.filter((r) => r.variant === v.name)));
    const title = `Distributed LightGCN on ${dataset}: one epoch (batch 2048, Adam), --threads ${opts.threads}, ${opts.repeats} interleaved repeat(s), medians; ${opts.machine.cores} cores shared with whatever else runs`;
    return { result: { dataset, wires: opts.wires, runs: all, medians: rows }, report: `${title}\n\n${report(rows, vs)}` };
  },
};
