/**
 * Microbenchmark of CaMRec's edge-mask MLP (not a test): ω_e = b_o + w_o·ReLU(a[u_e] + b[i_e] + b_1) on a
 * baby-sized random user-major edge list (19,445 users, 7,050 items, 118,551 edges, H = 64), forward and
 * backward, the registered kernels (CamrecEdgeMlp, CamrecEdgeMlpGrad) against the plain TypeScript references
 * they replace; and the row kernels alone on one thread, wasm SIMD against TypeScript loops.
 *
 *   node --import tsx bench/micro/edge-mlp.ts [--repeats 15] [--threads 2]
 *
 * Variants are interleaved within each repeat, so that load from other processes hits them alike; figures are
 * medians (and minima) in milliseconds.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { SharedHeap, computePool, configureCompute, edgeMlp, edgeMlpBackward, edgeMlpForward, initBackend, shutdownCompute, tf } from '../../src/compute/index.js';
import { rowKernels } from '../../src/compute/kernels/row-kernels.js';
import { CounterRng } from '../../src/random/index.js';
import { median, timeInterleaved } from '../lib/stats.js';

const [USERS, ITEMS, EDGES, H] = [19_445, 7_050, 118_551, 64];

const { values } = parseArgs({ options: { repeats: { type: 'string', default: '15' }, threads: { type: 'string', default: '2' } } });
const repeats = Number(values.repeats);
await configureCompute({ threads: Number(values.threads) });
await initBackend('wasm');
await computePool().ready();

const stream = new CounterRng(0).stream('init');
const uniform = (n: number, lo = -1, hi = 1): Float32Array => Float32Array.from({ length: n }, () => lo + (hi - lo) * stream.nextFloat());
const users = Int32Array.from({ length: EDGES }, () => stream.nextInt(USERS)).sort();
const items = Int32Array.from({ length: EDGES }, () => stream.nextInt(ITEMS));
const edges = { users, items };
const values32 = { a: uniform(USERS * H), b: uniform(ITEMS * H), bias: uniform(H, -0.5, 0.5), out: uniform(H), g: uniform(EDGES) };
const a = tf.tensor2d(values32.a, [USERS, H]);
const b = tf.tensor2d(values32.b, [ITEMS, H]);
const bias = tf.tensor2d(values32.bias, [1, H]);
const out = tf.tensor2d(values32.out, [H, 1]);
const outBias = tf.tensor2d([0.1], [1, 1]);
const g = tf.tensor1d(values32.g);

/** Forward + backward in all five inputs (wasm runs synchronously), optionally every gradient read back. */
function kernelStep(readBack: boolean): () => void {
  const loss = (...xs: tf.Tensor[]): tf.Scalar => {
    const [ta, tb, tBias, tOut, tOutBias] = xs as tf.Tensor2D[];
    return tf.sum(tf.mul(edgeMlp(ta, tb, tBias, tOut, tOutBias, edges), g));
  };
  return () =>
    tf.tidy(() => {
      const grads = tf.grads(loss)([a, b, bias, out, outBias]);
      if (readBack) for (const grad of grads) grad.dataSync();
    });
}

/** The row kernels on one thread over their own heap (forward: all users; backward: one chunk). */
function rowKernel(simd: boolean, backward: boolean): () => void {
  const heap = new SharedHeap();
  const indptr = new Int32Array(USERS + 1);
  for (const u of users) indptr[u + 1]++;
  for (let u = 0; u < USERS; u++) indptr[u + 1] += indptr[u];
  const weights = [heap.put(indptr), heap.put(items), heap.put(values32.a), heap.put(values32.b), heap.put(values32.bias), heap.put(values32.out)];
  const kernels = rowKernels(heap.memory, simd);
  if (!backward) {
    const args = [...weights, heap.alloc(EDGES * 4), H, 0.1];
    return () => kernels.edgeMlp(args, 0, USERS);
  }
  const args = [...weights, heap.put(values32.g), heap.alloc(USERS * H * 4), heap.alloc(ITEMS * H * 4), heap.alloc(2 * H * 4), H, ITEMS, heap.put(Int32Array.from([0, USERS]))];
  return () => kernels.edgeMlpGrad(args, 0, 1);
}

const variants: Record<string, () => void> = {
  'reference forward (TypeScript)': () => void edgeMlpForward(values32.a, values32.b, values32.bias, values32.out, 0.1, edges),
  'reference backward (TypeScript)': () => void edgeMlpBackward(values32.g, values32.a, values32.b, values32.bias, values32.out, edges),
  'CamrecEdgeMlp forward': () => tf.tidy(() => void edgeMlp(a, b, bias, out, outBias, edges).dataSync()),
  'CamrecEdgeMlp forward + backward (5 grads)': kernelStep(false),
  'the same, gradients read back': kernelStep(true),
  'row kernel forward, 1 thread, wasm SIMD': rowKernel(true, false),
  'row kernel backward, 1 thread, wasm SIMD': rowKernel(true, true),
  'row kernel forward, 1 thread, TypeScript': rowKernel(false, false),
  'row kernel backward, 1 thread, TypeScript': rowKernel(false, true),
};

const times = timeInterleaved(variants, repeats);
const med = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
console.log(`baby-sized edge list: ${USERS} users, ${ITEMS} items, ${EDGES} edges, H=${H}; pool threads ${computePool().threads}`);
console.log(`repeats ${repeats}; load average ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
console.log(`${'variant'.padEnd(46)} ${'median'.padStart(8)} ${'min'.padStart(8)} (ms)`);
for (const [name, ms] of Object.entries(med)) {
  console.log(`${name.padEnd(46)} ${ms.toFixed(2).padStart(8)} ${Math.min(...times[name]).toFixed(2).padStart(8)}`);
}
const reference = med['reference forward (TypeScript)'] + med['reference backward (TypeScript)'];
console.log(`reference / kernel, forward + backward: ${(reference / med['CamrecEdgeMlp forward + backward (5 grads)']).toFixed(1)}`);
await shutdownCompute();
