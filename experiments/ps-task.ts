/**
 * A LightGCN task's parameter-server traffic on baby's shapes, without the model (docs/distributed.md §5): per step
 * one client pulls the whole `user` (19 445 × 64) and `item` (7 050 × 64) tables through the row cache, as a worker
 * does, stages a dense gradient for both (bsp Prepare on every shard) and commits the step. Shards run as
 * `camrec paramserver` child processes from dist/ (`npm run build` first). Prints, per phase, the median wall ms
 * and the CPU ms per step of the client and of the shards, and the checksum of the tables after the last step (to
 * compare two builds: it must not change).
 *
 *   node --import tsx experiments/ps-task.ts [--steps 20] [--shards 2] [--wire f32] [--prof <dir>]
 *
 * With --prof the shards run with --cpu-prof into <dir> (the client: run this script with node --cpu-prof).
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { loadNative, tuneAllocator } from '../src/compute/index.js';
import { parseWire, RemoteParamStore, spawnShard, type ShardProcess } from '../src/paramserver/index.js';
import { adam, type RowGrad, type TableSpec } from '../src/train/index.js';

const { values: args } = parseArgs({ options: { steps: { type: 'string', default: '20' }, shards: { type: 'string', default: '2' }, wire: { type: 'string', default: 'f32' }, prof: { type: 'string' } } });
const steps = Number(args.steps);
const shards = Number(args.shards);
const wire = parseWire(args.wire, '--wire');
const root = new URL('..', import.meta.url).pathname;
// As every camrec process does at start (src/cli/main.ts); GLIBC_TUNABLES=glibc.malloc.perturb=0 keeps glibc's defaults here and in the shards.
const allocator = tuneAllocator(loadNative());

const SPECS: TableSpec[] = [
  { name: 'user', rows: 19_445, dim: 64, init: { kind: 'xavierUniform' }, trainable: true, dense: true },
  { name: 'item', rows: 7_050, dim: 64, init: { kind: 'xavierUniform' }, trainable: true, dense: true },
];

/** A process's fields of /proc/<pid>/stat from the state on (`self` for this one). */
function statOf(pid: number | null): string[] {
  return readFileSync(`/proc/${pid ?? 'self'}/stat`, 'utf8').split(') ')[1].split(' ');
}

/** CPU seconds of a process so far (Linux /proc; clock ticks of 10 ms), this one from process.cpuUsage. */
function cpuOf(pid: number | null): number {
  if (pid === null) {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  }
  const f = statOf(pid);
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** Minor page faults of a process so far: each first touch of a fresh page (new buffers) costs one. */
function faultsOf(pid: number | null): number {
  return Number(statOf(pid)[7]);
}

/** A gradient that depends on the pulled values and the step, so that every step changes every row. */
function gradsOf(pulled: Float32Array[], step: number): RowGrad[] {
  return SPECS.map((s, k) => {
    const grad = new Float32Array(pulled[k].length);
    for (let i = 0; i < grad.length; i++) grad[i] = 1e-3 * pulled[k][i] + 1e-6 * ((i + step) % 7);
    return { table: s.name, ids: null, grad };
  });
}

const flags = args.prof ? [`--cpu-prof`, `--cpu-prof-dir=${args.prof}`] : [];
const camrec = [process.execPath, ...flags, join(root, 'bin', 'camrec.js')];
const procs: ShardProcess[] = await Promise.all(Array.from({ length: shards }, (_, shard) => spawnShard({ camrec, shard, shards, cwd: root })));
const pids = procs.map((p) => p.proc.pid!);
const store = await RemoteParamStore.connect({ addresses: procs.map((p) => p.address), specs: SPECS, optimizer: adam(1e-3), seed: 1, rowCache: true, wire });
const phases = ['pull', 'push', 'commit'] as const;
const wall: Record<(typeof phases)[number], number[]> = { pull: [], push: [], commit: [] };
const cpu = { client: { pull: 0, push: 0, commit: 0 }, shards: { pull: 0, push: 0, commit: 0 } };
const faults = { client: { pull: 0, push: 0, commit: 0 }, shards: { pull: 0, push: 0, commit: 0 } };
const intervals: { phase: (typeof phases)[number]; from: number; to: number }[] = [];
const gcEntries: PerformanceEntry[] = [];
const gcObserver = new PerformanceObserver((list) => gcEntries.push(...list.getEntries()));
gcObserver.observe({ entryTypes: ['gc'] });
const load0 = loadavg();
let checksum = 0;
try {
  for (let step = 1; step <= steps; step++) {
    const timed = async <T>(phase: (typeof phases)[number], fn: () => Promise<T>): Promise<T> => {
      const c0 = cpuOf(null);
      const s0 = pids.reduce((n, p) => n + cpuOf(p), 0);
      const [f0, g0] = [faultsOf(null), pids.reduce((n, p) => n + faultsOf(p), 0)];
      const t0 = performance.now();
      const out = await fn();
      const t1 = performance.now();
      wall[phase].push(t1 - t0);
      intervals.push({ phase, from: t0, to: t1 });
      cpu.client[phase] += cpuOf(null) - c0;
      cpu.shards[phase] += pids.reduce((n, p) => n + cpuOf(p), 0) - s0;
      faults.client[phase] += faultsOf(null) - f0;
      faults.shards[phase] += pids.reduce((n, p) => n + faultsOf(p), 0) - g0;
      return out;
    };
    const pulled = await timed('pull', () => Promise.all(SPECS.map((s) => store.pull(s.name, null))));
    const grads = gradsOf(pulled, step);
    await timed('push', () => store.prepareTask(step, `t${step}`, 0, grads));
    await timed('commit', () => store.commitStep(step, [`t${step}`]));
  }
  const last = await Promise.all(SPECS.map((s) => store.exactReads().pull(s.name, null)));
  for (const t of last) for (let i = 0; i < t.length; i += 97) checksum += t[i] * ((i % 13) + 1);
} finally {
  gcEntries.push(...gcObserver.takeRecords());
  gcObserver.disconnect();
  store.close();
  for (const p of procs) p.proc.kill('SIGTERM');
  await Promise.all(procs.map((p) => p.exited));
}
const gc = { pull: { ms: 0, n: 0 }, push: { ms: 0, n: 0 }, commit: { ms: 0, n: 0 } };
for (const e of gcEntries) {
  const at = intervals.find((i) => e.startTime >= i.from && e.startTime < i.to);
  if (!at) continue;
  gc[at.phase].ms += e.duration;
  gc[at.phase].n++;
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const perStep = (x: number) => (x / steps).toFixed(0).padStart(5);
const rows = phases.map(
  (p) =>
    `${p.padEnd(6)} wall ${med(wall[p]).toFixed(1).padStart(7)} ms   CPU/step client ${((1000 * cpu.client[p]) / steps).toFixed(1).padStart(6)} ms, shards ${((1000 * cpu.shards[p]) / steps).toFixed(1).padStart(6)} ms   GC/step client ${(gc[p].ms / steps).toFixed(1).padStart(5)} ms (${(gc[p].n / steps).toFixed(1)})   page faults/step client ${perStep(faults.client[p])}, shards ${perStep(faults.shards[p])}`,
);
process.stdout.write(
  `${steps} steps, ${shards} shard(s), wire ${wire}, allocator ${allocator}, load ${load0.map((x) => x.toFixed(1)).join('/')} → ${loadavg().map((x) => x.toFixed(1)).join('/')}\n${rows.join('\n')}\nchecksum ${checksum.toPrecision(17)}\n`,
);
