/**
 * Parameter-server throughput on loopback (DESIGN.md §7, issue 5): pull and push of 64-d rows through
 * RemoteParamStore, in batches of 2048 and 16384 random sorted ids, against 1 and 2 shards running as child
 * processes (`camrec paramserver`), for each wire encoding of `--wire` (default f32 and bf16). Push is measured in
 * both modes: async (one Push per shard, applied on arrival) and bsp (Prepare on every shard, then Commit on every
 * shard). The encodings share the shards and take turns call by call (the order swapped every round), so a busy
 * spell on the machine slows them alike. Each figure is the median over the timed calls; rows/s counts rows, MB/s
 * payload bytes as they travel (4-byte id + a 64-value row of 4 or 2 bytes a value). The CPU time of the client and
 * the shards per call is reported beside it: on a shared 2-core machine the wall time mostly says how busy the
 * machine was, the CPU time what a call costs.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { bytesPerValue, spawnShard, RemoteParamStore, type Consistency, type ShardProcess, type WireEncoding } from '../../src/paramserver/index.js';
import { CounterRng } from '../../src/random/index.js';
import { adam, type RowGrad, type TableSpec } from '../../src/train/index.js';
import { repoRoot } from '../lib/paths.js';
import { median } from '../lib/stats.js';
import type { BenchOptions, Suite, SuiteOutcome } from '../lib/suite.js';
import { fixed, formatTable } from '../lib/table.js';

const DIM = 64;
const ROWS = 131_072;
const BATCHES = [2048, 16_384] as const;
const SHARDS = [1, 2] as const;
const MODES: readonly Consistency[] = [{ mode: 'async' }, { mode: 'bsp' }];
const WARMUP = 3;

interface Figure {
  shards: number;
  mode: string;
  op: 'pull' | 'push';
  batch: number;
  wire: WireEncoding;
  calls: number;
  medianSeconds: number;
  rowsPerSecond: number;
  mbPerSecond: number;
  /** CPU time of the client and every shard per call: what the call costs regardless of how busy the machine is. */
  cpuSecondsPerCall: number;
  rowsPerCpuSecond: number;
}

const SPEC: TableSpec = { name: 'emb', rows: ROWS, dim: DIM, init: { kind: 'normal', std: 0.1 }, trainable: true };

/** A random sorted set of `n` distinct ids in [0, ROWS), the k-th draw. */
function randomIds(n: number, k: number): Int32Array {
  const s = new CounterRng(1).stream('noise', n, 0, k);
  const picked = new Set<number>();
  while (picked.size < n) picked.add(Math.floor(s.nextFloat() * ROWS));
  return Int32Array.from(picked).sort();
}

/** CPU seconds used so far by this process and the shard processes (Linux /proc; clock ticks of 10 ms). */
function cpuSeconds(pids: readonly number[]): number {
  const own = process.cpuUsage();
  const children = pids.reduce((sum, pid) => {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return sum + (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime (fields 14, 15 of stat)
  }, 0);
  return (own.user + own.system) / 1e6 + children;
}

/**
 * Per encoding, the median wall time of one call and the CPU time per call of the client and the shards together;
 * the encodings take turns call by call, in an order swapped every round.
 */
async function timeCalls(
  calls: number,
  pids: readonly number[],
  fns: ReadonlyMap<WireEncoding, (k: number) => Promise<unknown>>,
): Promise<Map<WireEncoding, { wall: number; cpu: number }>> {
  for (let k = 0; k < WARMUP; k++) for (const fn of fns.values()) await fn(k);
  const seconds = new Map([...fns.keys()].map((w) => [w, [] as number[]]));
  const cpu = new Map([...fns.keys()].map((w) => [w, 0]));
  for (let k = 0; k < calls; k++) {
    const order = k % 2 === 0 ? [...fns] : [...fns].reverse();
    for (const [wire, fn] of order) {
      const c0 = cpuSeconds(pids);
      const t = performance.now();
      await fn(k);
      seconds.get(wire)!.push((performance.now() - t) / 1000);
      cpu.set(wire, cpu.get(wire)! + cpuSeconds(pids) - c0);
    }
  }
  return new Map([...fns.keys()].map((w) => [w, { wall: median(seconds.get(w)!), cpu: cpu.get(w)! / calls }]));
}

function figure(shards: number, mode: string, op: 'pull' | 'push', batch: number, wire: WireEncoding, calls: number, t: { wall: number; cpu: number }): Figure {
  return {
    shards,
    mode,
    op,
    batch,
    wire,
    calls,
    medianSeconds: t.wall,
    rowsPerSecond: batch / t.wall,
    mbPerSecond: (batch * (4 + DIM * bytesPerValue(wire))) / t.wall / 1e6,
    cpuSecondsPerCall: t.cpu,
    rowsPerCpuSecond: batch / t.cpu,
  };
}

/**
 * One optimizer step through `store` (bsp: prepared and committed as step `step`, which the encodings' stores share;
 * async: applied on arrival).
 */
async function pushStep(store: RemoteParamStore, consistency: Consistency, step: number, grads: RowGrad[]): Promise<void> {
  const task = `bench:${step}`;
  if (consistency.mode !== 'bsp') {
    await store.pushTask(task, 0, grads);
    return;
  }
  await store.prepareTask(step, task, 0, grads);
  await store.commitStep(step, [task]);
}

async function measure(shards: number, consistency: Consistency, wires: readonly WireEncoding[], repeats: number, log: (s: string) => void): Promise<Figure[]> {
  const camrec = [process.execPath, '--import', 'tsx', 'scripts/camrec-dev.mts'];
  const procs: ShardProcess[] = await Promise.all(Array.from({ length: shards }, (_, shard) => spawnShard({ camrec, shard, shards, cwd: repoRoot })));
  const stores = new Map<WireEncoding, RemoteParamStore>();
  const out: Figure[] = [];
  try {
    for (const wire of wires) {
      const opts = { addresses: procs.map((p) => p.address), specs: [SPEC], optimizer: adam(0.001), seed: 1, consistency, placement: () => 'rows' as const, wire };
      stores.set(wire, await RemoteParamStore.connect(opts));
    }
    let step = 0;
    for (const batch of BATCHES) {
      const calls = Math.max(repeats, batch === 2048 ? 30 : 10);
      const ids = Array.from({ length: 4 }, (_, k) => randomIds(batch, k));
      const grad = new Float32Array(batch * DIM).fill(1e-3);
      const pids = procs.map((p) => p.proc.pid!);
      const each = (fn: (store: RemoteParamStore, k: number) => Promise<unknown>) => new Map(wires.map((w) => [w, (k: number) => fn(stores.get(w)!, k)]));
      const pull = await timeCalls(calls, pids, each((store, k) => store.pull('emb', ids[k % ids.length])));
      const push = await timeCalls(calls, pids, each((store, k) => pushStep(store, consistency, ++step, [{ table: 'emb', ids: ids[k % ids.length], grad }])));
      for (const wire of wires) {
        out.push(figure(shards, consistency.mode, 'pull', batch, wire, calls, pull.get(wire)!), figure(shards, consistency.mode, 'push', batch, wire, calls, push.get(wire)!));
        const [pl, ps] = [pull.get(wire)!, push.get(wire)!];
        log(`  ${shards} shard(s) ${consistency.mode} batch ${batch} ${wire}: pull ${(batch / pl.wall / 1e6).toFixed(2)} M rows/s, ${(1000 * pl.cpu).toFixed(1)} CPU ms; push ${(batch / ps.wall / 1e6).toFixed(2)} M rows/s, ${(1000 * ps.cpu).toFixed(1)} CPU ms`);
      }
    }
    const stats = await stores.get(wires[0])!.stats();
    if (stats.reduce((n, s) => n + s.rowsPulled, 0) === 0) throw new Error('the shards counted no pulled rows');
  } finally {
    for (const store of stores.values()) store.close();
    for (const p of procs) p.proc.kill('SIGTERM');
    await Promise.all(procs.map((p) => p.exited));
  }
  return out;
}

function report(figures: readonly Figure[], wires: readonly WireEncoding[]): string {
  const rows = figures.map((f) => [
    `${f.op} ${f.mode}`,
    String(f.shards),
    String(f.batch),
    f.wire,
    fixed(f.medianSeconds * 1000, 2),
    fixed(f.rowsPerSecond / 1e6, 2),
    fixed(f.mbPerSecond, 0),
    fixed(f.cpuSecondsPerCall * 1000, 1),
    fixed(f.rowsPerCpuSecond / 1e6, 2),
  ]);
  const table = formatTable(['op (mode)', 'shards', 'batch', 'wire', 'ms/call', 'M rows/s', 'MB/s', 'CPU ms/call', 'M rows/CPU-s'], rows);
  const [base, ...others] = wires;
  if (!others.length) return table;
  const key = (f: Figure) => `${f.op} ${f.mode} ${f.shards} ${f.batch}`;
  const baseline = new Map(figures.filter((f) => f.wire === base).map((f) => [key(f), f]));
  const ratios = figures
    .filter((f) => f.wire !== base)
    .map((f) => {
      const b = baseline.get(key(f))!;
      return [`${f.op} ${f.mode}`, String(f.shards), String(f.batch), `${f.wire} / ${base}`, fixed(f.medianSeconds / b.medianSeconds, 2), fixed(f.cpuSecondsPerCall / b.cpuSecondsPerCall, 2)];
    });
  const means = others.map((w) => {
    const mine = figures.filter((f) => f.wire === w);
    const mean = (op: string, v: (f: Figure) => number) => {
      const xs = mine.filter((f) => f.op === op).map((f) => v(f) / v(baseline.get(key(f))!));
      return xs.reduce((a, x) => a + x, 0) / xs.length;
    };
    return `${w} / ${base}, mean over the rows: wall ${fixed(mean('pull', (f) => f.medianSeconds), 2)} (pull), ${fixed(mean('push', (f) => f.medianSeconds), 2)} (push); CPU ${fixed(mean('pull', (f) => f.cpuSecondsPerCall), 2)} (pull), ${fixed(mean('push', (f) => f.cpuSecondsPerCall), 2)} (push)`;
  });
  return `${table}\n\nRatios to ${base} (same shards, calls interleaved):\n\n${formatTable(['op (mode)', 'shards', 'batch', 'wire', 'wall ×', 'CPU ×'], ratios)}\n\n${means.join('\n')}`;
}

export const paramserverSuite: Suite = {
  name: 'paramserver',
  description: 'parameter-server pull/push throughput on loopback, 64-d rows, 1 and 2 shards as child processes, per wire encoding',
  async run(opts: BenchOptions): Promise<SuiteOutcome> {
    const figures: Figure[] = [];
    for (const consistency of MODES) {
      for (const shards of SHARDS) {
        opts.log(`paramserver: ${shards} shard(s), ${consistency.mode}, wire ${opts.wires.join(' and ')}`);
        figures.push(...(await measure(shards, consistency, opts.wires, opts.repeats, opts.log)));
      }
    }
    const title = `Parameter server on loopback: ${ROWS} rows × ${DIM} float32, client in the bench process, shards as child processes, Adam on the shards; wire ${opts.wires.join(', ')}`;
    return { result: { table: { rows: ROWS, dim: DIM }, wires: opts.wires, figures }, report: `${title}\n\n${report(figures, opts.wires)}` };
  },
};
