/**
 * Times the native kernels on Baby-sized random inputs (not part of `npm test`):
 *   node --import tsx test/native/measure.ts [--isa avx2|generic] [--repeats N]
 * scoreTopK: 19,445 users × 7,050 items, d = 64, about 6 masked items per user, k = 50.
 * spmm: LightGCN's normalised adjacency of a random 19,445 × 7,050 bipartite graph (26,495 nodes, 237,102 nnz).
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { loadNative, type NativeIsa } from '../../src/compute/native.js';
import { randomBipartiteGraph, randomMatrix, randomRows, csrFromRows, stream } from './fixtures.js';

const { values: opts } = parseArgs({ options: { isa: { type: 'string' }, repeats: { type: 'string', default: '7' } } });
const native = loadNative();
if (!native) throw new Error('native addon not built: run `node scripts/build-native.mjs`');
if (opts.isa) native.setIsa(opts.isa as NativeIsa);
const repeats = Number(opts.repeats);

const N_USERS = 19445;
const N_ITEMS = 7050;
const DIM = 64;
const K = 50;

/**
 * Best wall time of `repeats` runs, in seconds, and the process CPU time of that run (all threads): on a shared
 * machine the CPU time shows what other processes took from the wall time.
 */
function best(run: () => void): { wall: number; cpu: number } {
  run();
  let min = { wall: Infinity, cpu: Infinity };
  for (let r = 0; r < repeats; r++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    run();
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const c = process.cpuUsage(c0);
    if (wall < min.wall) min = { wall, cpu: (c.user + c.system) / 1e6 };
  }
  return min;
}

const s = stream(7);
const userEmb = randomMatrix(s, N_USERS * DIM);
const itemEmb = randomMatrix(s, N_ITEMS * DIM);
const mask = csrFromRows(randomRows(s, N_USERS, N_ITEMS, () => 1 + s.nextInt(11)));
const users = Int32Array.from({ length: N_USERS }, (_, i) => i);
const outItems = new Int32Array(N_USERS * K);
const outScores = new Float32Array(N_USERS * K);
const flop = 2 * N_USERS * N_ITEMS * DIM;
console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; isa ${native.isa()}`);
console.log(`scoreTopK ${N_USERS}×${N_ITEMS}×${DIM}, ${mask.indices.length} masked, k=${K}`);
for (const threads of [1, 2]) {
  const t = best(() =>
    native.scoreTopK(userEmb, users, itemEmb, N_ITEMS, DIM, mask.indptr, mask.indices, K, outItems, outScores, threads),
  );
  const rate = (sec: number) => (flop / sec / 1e9).toFixed(1);
  console.log(
    `  threads ${threads}: ${t.wall.toFixed(3)} s wall (${rate(t.wall)} GFLOP/s), ` +
      `${t.cpu.toFixed(3)} s CPU (${rate(t.cpu)} GFLOP per CPU-second)`,
  );
}

const graph = randomBipartiteGraph(s, N_USERS, N_ITEMS, 118551);
const nodes = N_USERS + N_ITEMS;
const x = randomMatrix(s, nodes * DIM);
const out = new Float32Array(nodes * DIM);
console.log(`spmm ${nodes} rows, ${graph.indices.length} nnz, d=${DIM}`);
for (const threads of [1, 2]) {
  const { indptr, indices, values } = graph;
  const t = best(() => native.spmmThreaded(indptr, indices, values, x, DIM, out, 0, nodes, threads));
  console.log(`  threads ${threads}: ${(t.wall * 1e3).toFixed(2)} ms wall, ${(t.cpu * 1e3).toFixed(2)} ms CPU`);
}
