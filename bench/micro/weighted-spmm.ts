/**
 * Microbenchmark of the edge-mask propagation (not a test): forward + backward of weightedSpmm (gradients in w
 * and x) against the unweighted CamrecSpmm (gradient in x) on a baby-sized random bipartite graph
 * (19,445 users + 7,050 items, 118,551 interactions → 237,102 stored entries of the symmetric normalised
 * adjacency, d = 64); the SDDMM row kernel in wasm SIMD against plain TypeScript on one thread; and 2-layer
 * propagation means: unweighted fused (propagateMean) and unfused (through spmm), weighted through weightedSpmm.
 *
 *   node --import tsx bench/micro/weighted-spmm.ts [--repeats 15] [--no-native]
 *
 * Variants are interleaved within each repeat, so that load from other processes hits them alike; figures are
 * medians (and minima) in milliseconds; ratios are of medians.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import {
  SharedHeap,
  computePool,
  configureCompute,
  initBackend,
  nativeKernels,
  propagateMean,
  registerSparse,
  registerSparseStructure,
  sddmm,
  shutdownCompute,
  spmm,
  tf,
  weightedSpmm,
} from '../../src/compute/index.js';
import { rowKernels } from '../../src/compute/kernels/row-kernels.js';
import { csrFromCoo, normalizedBipartiteAdjacency } from '../../src/graph/index.js';
import { CounterRng } from '../../src/random/index.js';
import { median, timeInterleaved } from '../lib/stats.js';

const [USERS, ITEMS, INTERACTIONS, D, LAYERS] = [19_445, 7_050, 118_551, 64, 2];

const { values } = parseArgs({ options: { repeats: { type: 'string', default: '15' }, 'no-native': { type: 'boolean', default: false } } });
const repeats = Number(values.repeats);
await configureCompute({ native: !values['no-native'] });
await initBackend('wasm');
await computePool().ready();

const stream = new CounterRng(0).stream('init');
const uniform = (n: number, lo = -1, hi = 1): Float32Array => Float32Array.from({ length: n }, () => lo + (hi - lo) * stream.nextFloat());
const users = Int32Array.from({ length: INTERACTIONS }, () => stream.nextInt(USERS));
const items = Int32Array.from({ length: INTERACTIONS }, () => stream.nextInt(ITEMS));
const adjacency = normalizedBipartiteAdjacency(csrFromCoo(USERS, ITEMS, users, items));
const n = adjacency.nRows;
const nnz = adjacency.indices.length;

const unweighted = registerSparse(adjacency, { symmetric: true });
const structure = registerSparseStructure(adjacency);
const x = tf.tensor2d(uniform(n * D, -0.1, 0.1), [n, D]);
const target = tf.tensor2d(uniform(n * D), [n, D]);
const mask = tf.tensor1d(uniform(nnz, 0, 1));
const w = tf.tidy(() => tf.mul(mask, tf.tensor1d(adjacency.values!)) as tf.Tensor1D);

/** One forward + backward pass; all outputs read back, so that every kernel has finished. */
function step(loss: (ins: tf.Tensor[]) => tf.Scalar, ins: tf.Tensor[]): void {
  tf.tidy(() => {
    for (const g of tf.grads((...args: tf.Tensor[]) => loss(args))(ins)) g.dataSync();
  });
}

/** 1/(L+1) Σ_k A_w^k x through L weightedSpmm calls (A_w symmetric in pattern; the stored order is A's). */
function weightedMean(wt: tf.Tensor1D, xt: tf.Tensor2D): tf.Tensor2D {
  let cur = xt;
  let sum = xt;
  for (let k = 0; k < LAYERS; k++) {
    cur = weightedSpmm(structure, wt, cur);
    sum = tf.add(sum, cur);
  }
  return tf.div(sum, LAYERS + 1);
}

function unweightedMean(xt: tf.Tensor2D): tf.Tensor2D {
  let cur = xt;
  let sum = xt;
  for (let k = 0; k < LAYERS; k++) {
    cur = spmm(unweighted, cur);
    sum = tf.add(sum, cur);
  }
  return tf.div(sum, LAYERS + 1);
}

const dot = (y: tf.Tensor): tf.Scalar => tf.sum(tf.mul(y, target));
const variants: Record<string, () => void> = {
  'spmm fwd+bwd (dx)': () => step(([xt]) => dot(spmm(unweighted, xt as tf.Tensor2D)), [x]),
  'weightedSpmm fwd+bwd (dw, dx)': () => step(([wt, xt]) => dot(weightedSpmm(structure, wt as tf.Tensor1D, xt as tf.Tensor2D)), [w, x]),
  'weightedSpmm fwd+bwd (dx only)': () => step(([xt]) => dot(weightedSpmm(structure, w, xt as tf.Tensor2D)), [x]),
  'sddmm fwd': () => tf.tidy(() => void sddmm(structure, target, x).dataSync()),
  'propagateMean L=2 fused fwd+bwd': () => step(([xt]) => dot(propagateMean(unweighted, xt as tf.Tensor2D, LAYERS)), [x]),
  'spmm mean L=2 unfused fwd+bwd': () => step(([xt]) => dot(unweightedMean(xt as tf.Tensor2D)), [x]),
  'weightedSpmm mean L=2 unfused fwd+bwd (dw, dx)': () => step(([wt, xt]) => dot(weightedMean(wt as tf.Tensor1D, xt as tf.Tensor2D)), [w, x]),
};

/** SDDMM on one thread, SIMD or TypeScript loops, on its own heap: the choice of row kernel alone. */
function sddmmRowKernel(simd: boolean): () => void {
  const heap = new SharedHeap();
  const args = [heap.put(adjacency.indptr), heap.put(adjacency.indices), heap.put(uniform(n * D)), heap.put(uniform(n * D)), heap.alloc(nnz * 4), D];
  const kernel = rowKernels(heap.memory, simd).sddmm;
  return () => kernel(args, 0, n);
}
variants['sddmm row kernel, 1 thread, wasm SIMD'] = sddmmRowKernel(true);
variants['sddmm row kernel, 1 thread, TypeScript'] = sddmmRowKernel(false);

const times = timeInterleaved(variants, repeats);
const med = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
const native = nativeKernels() ? 'on' : 'off';
console.log(`baby-sized graph: ${n} nodes, ${nnz} stored entries, d=${D}; pool threads ${computePool().threads}; native addon ${native}`);
console.log(`repeats ${repeats}; load average ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
console.log(`${'variant'.padEnd(50)} ${'median'.padStart(8)} ${'min'.padStart(8)} (ms)`);
for (const [name, ms] of Object.entries(med)) {
  console.log(`${name.padEnd(50)} ${ms.toFixed(2).padStart(8)} ${Math.min(...times[name]).toFixed(2).padStart(8)}`);
}
const ratio = (a: string, b: string): string => (med[a] / med[b]).toFixed(2);
console.log(`weighted / unweighted fwd+bwd: ${ratio('weightedSpmm fwd+bwd (dw, dx)', 'spmm fwd+bwd (dx)')}`);
console.log(`unfused / fused unweighted L=2 mean: ${ratio('spmm mean L=2 unfused fwd+bwd', 'propagateMean L=2 fused fwd+bwd')}`);
console.log(`weighted unfused / unweighted fused L=2 mean: ${ratio('weightedSpmm mean L=2 unfused fwd+bwd (dw, dx)', 'propagateMean L=2 fused fwd+bwd')}`);
console.log(`sddmm TypeScript / SIMD (1 thread): ${ratio('sddmm row kernel, 1 thread, TypeScript', 'sddmm row kernel, 1 thread, wasm SIMD')}`);
await shutdownCompute();
