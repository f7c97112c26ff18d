/**
 * Parameter-server throughput on loopback (DESIGN.md §7, issue 5): pull and push of 64-d float32 rows through
 * RemoteParamStore, in batches of 2048 and 16384 random sorted ids, against 1 and 2 shards running as child
 * processes (`camrec paramserver`). Push is measured in both modes: async (one Push per shard, applied on
 * arrival) and bsp (Prepare on every shard, then Commit on every shard). Each figure is the median over the
 * timed calls; rows/s counts rows, MB/s counts payload bytes (4-byte id + 256-byte row). The CPU time of the
 * client and the shards per call is reported beside it: on a shared 2-core machine the wall time mostly says
 * how busy the machine was, the CPU time what a call costs.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { spawnShard, RemoteParamStore, type Consistency, type ShardProcess } from '../../src/paramserver/index.js';
import { CounterRng } from '../../src/random/index.js';
import { adam, type TableSpec } from '../../src/train/index.js';
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
const BYTES_PER_ROW = 4 + 4 * DIM;

interface Figure {
  shards: number;
  mode: string;
  op: 'pull' | 'push';
  batch: number;
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

/** The median wall time of one call, and the CPU time per call of the client and the shards together. */
async function timeCalls(calls: number, pids: readonly number[], fn: (k: number) => Promise<unknown>): Promise<{ wall: number; cpu: number }> {
  for (let k = 0; k < WARMUP; k++) await fn(k);
  const seconds: number[] = [];
  const cpu0 = cpuSeconds(pids);
  for (let k = 0; k < calls; k++) {
    const t = performance.now();
    await fn(k);
    seconds.push((performance.now() - t) / 1000);
  }
  return { wall: median(seconds), cpu: (cpuSeconds(pids) - cpu0) / calls };
}

function figure(shards: number, mode: string, op: 'pull' | 'push', batch: number, calls: number, t: { wall: number; cpu: number }): Figure {
  return {
    shards,
    mode,
    op,
    batch,
    calls,
    medianSeconds: t.wall,
    rowsPerSecond: batch / t.wall,
    mbPerSecond: (batch * BYTES_PER_ROW) / t.wall / 1e6,
    cpuSecondsPerCall: t.cpu,
    rowsPerCpuSecond: batch / t.cpu,
  };
}

async function measure(shards: number, consistency: Consistency, repeats: number, log: (s: string) => void): Promise<Figure[]> {
  const camrec = [process.execPath, '--import', 'tsx', 'scripts/camrec-dev.mts'];
  const procs: ShardProcess[] = await Promise.all(Array.from({ length: shards }, (_, shard) => spawnShard({ camrec, shard, shards, cwd: repoRoot })));
  const store = await RemoteParamStore.connect({ addresses: procs.map((p) => p.address), specs: [SPEC], optimizer: adam(0.001), seed: 1, consistency, placement: () => 'rows' });
  const out: Figure[] = [];
  try {
    for (const batch of BATCHES) {
      const calls = Math.max(repeats, batch === 2048 ? 30 : 10);
      const ids = Array.from({ length: 4 }, (_, k) => randomIds(batch, k));
      const grad = new Float32Array(batch * DIM).fill(1e-3);
      const pids = procs.map((p) => p.proc.pid!);
      const pull = await timeCalls(calls, pids, (k) => store.pull('emb', ids[k % ids.length]));
      const push = await timeCalls(calls, pids, (k) => store.push([{ table: 'emb', ids: ids[k % ids.length], grad }]));
      out.push(figure(shards, consistency.mode, 'pull', batch, calls, pull), figure(shards, consistency.mode, 'push', batch, calls, push));
      log(`  ${shards} shard(s) ${consistency.mode} batch ${batch}: pull ${(batch / pull.wall / 1e6).toFixed(2)} M rows/s, push ${(batch / push.wall / 1e6).toFixed(2)} M rows/s`);
    }
    const stats = await store.stats();
    if (stats.reduce((n, s) => n + s.rowsPulled, 0) === 0) throw new Error('the shards counted no pulled rows');
  } finally {
    store.close();
    for (const p of procs) p.proc.kill('SIGTERM');
    await Promise.all(procs.map((p) => p.exited));
  }
  return out;
}

function report(figures: readonly Figure[]): string {
  const rows = figures.map((f) => [
    `${f.op} ${f.mode}`,
    String(f.shards),
    String(f.batch),
    fixed(f.medianSeconds * 1000, 2),
    fixed(f.rowsPerSecond / 1e6, 2),
    fixed(f.mbPerSecond, 0),
    fixed(f.cpuSecondsPerCall * 1000, 1),
    fixed(f.rowsPerCpuSecond / 1e6, 2),
  ]);
  return formatTable(['op (mode)', 'shards', 'batch', 'ms/call', 'M rows/s', 'MB/s', 'CPU ms/call', 'M rows/CPU-s'], rows);
}

export const paramserverSuite: Suite = {
  name: 'paramserver',
  description: 'parameter-server pull/push throughput on loopback, 64-d rows, 1 and 2 shards as child processes',
  async run(opts: BenchOptions): Promise<SuiteOutcome> {
    const figures: Figure[] = [];
    for (const consistency of MODES) {
      for (const shards of SHARDS) {
        opts.log(`paramserver: ${shards} shard(s), ${consistency.mode}`);
        figures.push(...(await measure(shards, consistency, opts.repeats, opts.log)));
      }
    }
    const title = `Parameter server on loopback: ${ROWS} rows × ${DIM} float32, client in the bench process, shards as child processes, Adam on the shards`;
    return { result: { table: { rows: ROWS, dim: DIM }, figures }, report: `${title}\n\n${report(figures)}` };
  },
};
