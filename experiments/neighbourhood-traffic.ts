/**
 * What a worker moves with `--neighbourhood full` and with `--neighbourhood blocks` (docs/distributed.md §5): one
 * epoch of LightGCN through `camrec train --distributed local:W:S` in each mode, one after the other, and from each
 * run's metrics.jsonl `distributed` the rows pulled per task (against the rows the tables hold), the megabytes
 * pulled and pushed per step, the per-task time split and the epoch's loss (the same in both modes: blocks are
 * exact). The data is a dataset folder, or a generated "regional catalogue" (`--communities C`): C communities of
 * `--users-per` users and `--items-per` items, each user with `--per-user` distinct items (the last two go to valid
 * and test), each drawn from the user's community (Zipf by rank within it) except with probability `--cross` from
 * the whole catalogue. A batch's 3-hop neighbourhood there is the communities its users and items are in, and those
 * a few cross edges reach: a part of the graph, unlike the bundled datasets. Rows and bytes are deterministic; the
 * times are not, on a shared machine: `--repeat n` runs the two modes n times, alternating, and reports the median
 * time of each (and every run's).
 *
 *   node --import tsx experiments/neighbourhood-traffic.ts --data ../shared/datasets/baby
 *   node --import tsx experiments/neighbourhood-traffic.ts --communities 20000 [--users-per 5 --items-per 4 --per-user 4 --cross 0.02]
 *     [--batch 2048] [--distributed local:1:1] [--tasks-per-step T] [--threads 1] [--repeat 1] [--out DIR]
 *
 * Writes <out>/summary.json (and the generated data under <out>/data); the runs' folders are <out>/<mode>-<k>.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadDataset } from '../src/data/index.js';
import { CounterRng } from '../src/random/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'scripts', 'camrec-dev.mts');

const { values: flags } = parseArgs({
  options: {
    data: { type: 'string' },
    communities: { type: 'string' },
    'users-per': { type: 'string', default: '5' },
    'items-per': { type: 'string', default: '4' },
    'per-user': { type: 'string', default: '4' },
    cross: { type: 'string', default: '0.02' },
    batch: { type: 'string', default: '2048' },
    distributed: { type: 'string', default: 'local:1:1' },
    'tasks-per-step': { type: 'string' },
    threads: { type: 'string', default: '1' },
    repeat: { type: 'string', default: '1' },
    out: { type: 'string' },
  },
});

interface Catalogue {
  readonly communities: number;
  readonly usersPer: number;
  readonly itemsPer: number;
  readonly perUser: number;
  readonly cross: number;
}

/** The regional catalogue as an MMRec folder `<root>/<name>/<name>.inter` (train lines first). */
function writeCatalogue(root: string, c: Catalogue): string {
  if (c.itemsPer < c.perUser) throw new RangeError(`--items-per ${c.itemsPer} is below --per-user ${c.perUser}`);
  const name = `catalogue-${c.communities}`;
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const nItems = c.communities * c.itemsPer;
  const rng = new CounterRng(1);
  const parts: string[][] = [[], [], []];
  const zipf = Array.from({ length: c.itemsPer }, (_, r) => 1 / (r + 1));
  const total = zipf.reduce((a, b) => a + b, 0);
  for (let u = 0; u < c.communities * c.usersPer; u++) {
    const community = Math.floor(u / c.usersPer);
    const s = rng.stream('simulate', 0, 0, u);
    const items = new Set<number>();
    while (items.size < c.perUser) {
      if (s.nextFloat() < c.cross) {
        items.add(Math.floor(s.nextFloat() * nItems));
        continue;
      }
      let x = s.nextFloat() * total;
      let r = 0;
      while (r < c.itemsPer - 1 && x >= zipf[r]) x -= zipf[r++];
      items.add(community * c.itemsPer + r);
    }
    [...items].forEach((i, k) => {
      const label = k === c.perUser - 1 ? 2 : k === c.perUser - 2 ? 1 : 0;
      parts[label].push(`${u}\t${i}\t1\t0\t${label}`);
    });
  }
  writeFileSync(join(dir, `${name}.inter`), `userID\titemID\trating\ttimestamp\tx_label\n${parts.flat().join('\n')}\n`);
  return dir;
}

/** metrics.jsonl `distributed` (src/coordinator/traffic.ts). */
interface Traffic {
  steps: number;
  tasks: number;
  taskMs: { pull: number; compute: number; push: number; wait: number; report: number };
  commitMs: number;
  rowsPulled: number;
  rowsPushed: number;
  bytesPulled: number;
  bytesPushed: number;
}

function runCli(args: string[], logFile: string): Promise<void> {
  const fd = openSync(logFile, 'a');
  return new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', fd] });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`camrec ${args[0]} exited with ${code}; see ${logFile}`))));
  }).finally(() => closeSync(fd));
}

const out = flags.out ?? mkdtempSync(join(tmpdir(), 'camrec-neighbourhood-'));
mkdirSync(out, { recursive: true });
const catalogue: Catalogue | null = flags.communities
  ? { communities: Number(flags.communities), usersPer: Number(flags['users-per']), itemsPer: Number(flags['items-per']), perUser: Number(flags['per-user']), cross: Number(flags.cross) }
  : null;
const dataDir = catalogue ? writeCatalogue(join(out, 'data'), catalogue) : flags.data;
if (!dataDir) throw new Error('give --data DIR or --communities C');
const data = await loadDataset(dataDir);
const tableRows = data.nUsers + data.nItems;
const cluster = flags.distributed!;
const tasksPerStep = flags['tasks-per-step'];

interface Run {
  readonly traffic: Traffic;
  readonly trainSeconds: number;
  readonly loss: number;
}

const runs: Record<string, Run[]> = { full: [], blocks: [] };
for (let k = 1; k <= Number(flags.repeat); k++) {
  for (const mode of ['full', 'blocks']) {
    const runDir = join(out, `${mode}-${k}`);
    const args = ['train', '--model', 'lightgcn', '--data', dataDir, '--epochs', '1', '--batch', flags.batch!, '--threads', flags.threads!, '--distributed', cluster, ...(tasksPerStep ? ['--tasks-per-step', tasksPerStep] : []), '--neighbourhood', mode, '--log-level', 'warn', '--out', runDir];
    console.error(`${mode} ${k}: camrec ${args.join(' ')}`);
    await runCli(args, `${runDir}.log`);
    const line = JSON.parse(readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n')[0]) as { trainSeconds: number; loss: number; distributed: Traffic };
    runs[mode].push({ traffic: line.distributed, trainSeconds: line.trainSeconds, loss: line.loss });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
const mb = (b: number) => b / 1e6;
const rows = Object.entries(runs).map(([mode, rs]) => {
  const t = rs[0].traffic;
  const ms = (f: (x: Traffic['taskMs']) => number) => median(rs.map((r) => f(r.traffic.taskMs)));
  return {
    mode,
    steps: t.steps,
    tasks: t.tasks,
    rowsPulledPerTask: t.rowsPulled / t.tasks,
    shareOfTables: t.rowsPulled / t.tasks / tableRows,
    rowsPushedPerTask: t.rowsPushed / t.tasks,
    mbPulledPerStep: mb(t.bytesPulled / t.steps),
    mbPushedPerStep: mb(t.bytesPushed / t.steps),
    taskMs: { pull: ms((x) => x.pull), compute: ms((x) => x.compute), push: ms((x) => x.push) },
    secondsPerStep: median(rs.map((r) => r.trainSeconds / t.steps)),
    eachRunSecondsPerStep: rs.map((r) => r.trainSeconds / t.steps),
    loss: rs[0].loss,
  };
});
const summary = {
  data: { dir: dataDir, users: data.nUsers, items: data.nItems, trainEdges: data.train.users.length, ...(catalogue ? { catalogue } : {}) },
  batch: Number(flags.batch),
  cluster,
  tasksPerStep: tasksPerStep ? Number(tasksPerStep) : null,
  runs: rows,
  lossRelativeDifference: Math.abs(runs.blocks[0].loss - runs.full[0].loss) / Math.abs(runs.full[0].loss),
};
writeFileSync(join(out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
console.log(`${data.name}: ${data.nUsers} users, ${data.nItems} items, ${data.train.users.length} train edges; batch ${flags.batch}, ${cluster}`);
for (const r of rows) {
  console.log(
    `${r.mode.padEnd(6)} ${r.steps} steps, ${r.tasks} tasks: ${r.rowsPulledPerTask.toFixed(0)} rows pulled per task (${(100 * r.shareOfTables).toFixed(1)}% of ${tableRows}), ` +
      `${r.mbPulledPerStep.toFixed(2)} MB pulled and ${r.mbPushedPerStep.toFixed(2)} MB pushed per step; per task (median) pull ${r.taskMs.pull.toFixed(0)} compute ${r.taskMs.compute.toFixed(0)} push ${r.taskMs.push.toFixed(0)} ms; ` +
      `${r.secondsPerStep.toFixed(2)} s per step (runs: ${r.eachRunSecondsPerStep.map((x) => x.toFixed(2)).join(', ')}); loss ${r.loss}`,
  );
}
console.log(`epoch loss, blocks against full: relative difference ${summary.lossRelativeDifference.toExponential(2)}; ${join(out, 'summary.json')}`);
