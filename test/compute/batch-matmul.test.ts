import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { initBackend, kernelCounters, shutdownCompute, tf } from '../../src/compute/index.js';
import { FAST_BATCH_MATMUL, NATIVE_MATMUL } from '../../src/compute/kernels/batch-matmul.js';
import { nativeKernels } from '../../src/compute/pool.js';
import { assertClose, randomFloats, rng } from './helpers.js';

before(async () => {
  await initBackend('wasm');
});

after(async () => {
  await tf.setBackend('wasm');
  await shutdownCompute();
});

interface Case {
  a: number[];
  b: number[];
  transposeA: boolean;
  transposeB: boolean;
}

/** Operand shapes for a·b = [...batch, m, n] with inner size k, each operand's last two axes swapped when flagged. */
function operands(batchA: number[], batchB: number[], [m, k, n]: number[], transposeA: boolean, transposeB: boolean): Case {
  return { a: [...batchA, ...(transposeA ? [k, m] : [m, k])], b: [...batchB, ...(transposeB ? [n, k] : [k, n])], transposeA, transposeB };
}

const FLAGS = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
] as const;

/** [batch of a, batch of b, [m, k, n]]: rank 2, odd sizes, equal batches, and the broadcasts stock kernels support. */
const SHAPES: [number[], number[], number[]][] = [
  [[], [], [1, 1, 1]],
  [[], [], [3, 5, 7]],
  [[], [], [17, 13, 9]],
  [[], [], [65, 64, 33]],
  [[], [], [301, 37, 19]],
  [[], [], [50, 700, 33]],
  [[4], [4], [5, 6, 7]],
  [[2, 3], [2, 3], [4, 3, 5]],
  [[3], [], [6, 5, 4]],
  [[], [3], [6, 5, 4]],
  [[3], [1], [2, 7, 3]],
  [[1], [3], [2, 7, 3]],
  [[2, 3], [3], [3, 4, 5]],
];

const CASES = SHAPES.flatMap(([ba, bb, mkn]) => FLAGS.map(([ta, tb]) => operands(ba, bb, mkn, ta, tb)));
const label = (c: Case): string => `[${c.a}]${c.transposeA ? 'ᵀ' : ''}·[${c.b}]${c.transposeB ? 'ᵀ' : ''}`;

/** The product and, where `grads`, the gradients of Σ G ⊙ (a·b) in a and b, on the current backend. */
function product(c: Case, a: Float32Array, b: Float32Array, g: Float32Array | null): Float32Array[] {
  return tf.tidy(() => {
    const f = (x: tf.Tensor, y: tf.Tensor): tf.Tensor => tf.matMul(x, y, c.transposeA, c.transposeB);
    const [ta, tb] = [tf.tensor(a, c.a), tf.tensor(b, c.b)];
    const value = f(ta, tb);
    const out = [Float32Array.from(value.dataSync())];
    if (!g) return out;
    const loss = (x: tf.Tensor, y: tf.Tensor): tf.Scalar => tf.sum(tf.mul(f(x, y), tf.tensor(g, value.shape)));
    return [...out, ...tf.grads(loss)([ta, tb]).map((t) => Float32Array.from(t.dataSync()))];
  });
}

/** Whether the batch dimensions are equal: the stock gradient does not sum over broadcast batch axes. */
const sameBatch = (c: Case): boolean => c.a.slice(0, -2).join() === c.b.slice(0, -2).join();

/** Products of K terms in [-1, 1] summed in float32 in different orders: within 1e-5 relative + 1e-5·K absolute. */
const tolerance = (c: Case): number => 1e-5 * c.a[c.a.length - (c.transposeA ? 2 : 1)];

test('wasm BatchMatMul equals the cpu backend for every flag combination, batch size, broadcast and odd shape', async () => {
  const r = rng(41);
  for (const c of CASES) {
    const a = randomFloats(r, c.a.reduce((x, y) => x * y, 1));
    const b = randomFloats(r, c.b.reduce((x, y) => x * y, 1));
    const outSize = await tf.setBackend('wasm').then(() => tf.tidy(() => tf.matMul(tf.zeros(c.a), tf.zeros(c.b), c.transposeA, c.transposeB).size));
    const g = sameBatch(c) ? randomFloats(r, outSize) : null;
    const ours = product(c, a, b, g);
    await tf.setBackend('cpu');
    const reference = product(c, a, b, g);
    await tf.setBackend('wasm');
    const names = ['a·b', '∂a', '∂b'];
    ours.forEach((v, k) => assertClose(v, reference[k], 1e-5, tolerance(c), `${label(c)} ${names[k]}`));
  }
});

test('rank-2 products of m·n·k ≥ 2¹⁵ run natively (with the addon), other flagged and batched ones take the fast path, plain small ones the stock kernel, and nothing leaks', async () => {
  await tf.setBackend('wasm');
  const r = rng(42);
  const backend = tf.backend() as unknown as { numDataIds(): number };
  const calls = (): number => kernelCounters()[FAST_BATCH_MATMUL] ?? 0;
  const nativeCalls = (): number => kernelCounters()[NATIVE_MATMUL] ?? 0;
  const haveNative = nativeKernels() !== null;
  if (process.env.REQUIRE_NATIVE === '1') assert.ok(haveNative, 'REQUIRE_NATIVE=1 but the native addon did not load');
  for (const c of CASES) {
    const [a, b] = [tf.tensor(randomFloats(r, c.a.reduce((x, y) => x * y, 1)), c.a), tf.tensor(randomFloats(r, c.b.reduce((x, y) => x * y, 1)), c.b)];
    const [tensors, dataIds, before, beforeNative] = [tf.memory().numTensors, backend.numDataIds(), calls(), nativeCalls()];
    tf.tidy(() => {
      tf.matMul(a, b, c.transposeA, c.transposeB).dataSync();
    });
    const rank2 = c.a.length === 2 && c.b.length === 2;
    const [m, k] = c.transposeA ? [c.a[1], c.a[0]] : c.a;
    const n = c.transposeB ? c.b[0] : c.b[1];
    const native = haveNative && rank2 && m * n * k >= 1 << 15;
    const fast = !native && (c.transposeA || c.transposeB || !rank2);
    assert.equal(nativeCalls(), beforeNative + (native ? 1 : 0), `${label(c)} native path`);
    assert.equal(calls(), before + (fast ? 1 : 0), `${label(c)} fast path`);
    if (sameBatch(c)) {
      tf.tidy(() => {
        tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.matMul(x, y, c.transposeA, c.transposeB)))([a, b]).map((t) => t.dataSync());
      });
    }
    assert.equal(tf.memory().numTensors, tensors, `${label(c)} tensors`);
    assert.equal(backend.numDataIds(), dataIds, `${label(c)} backend data`);
    tf.dispose([a, b]);
  }
});

test('batch axes broadcast like numpy even where the stock kernels index them modulo the batch size', async () => {
  await tf.setBackend('wasm');
  const r = rng(43);
  const [m, k, n] = [3, 4, 2];
  const a = randomFloats(r, 2 * m * k);
  const b = randomFloats(r, 3 * k * n);
  const out = tf.tidy(() => Float32Array.from(tf.matMul(tf.tensor(a, [2, 1, m, k]), tf.tensor(b, [1, 3, k, n])).dataSync()));
  const expected = new Float64Array(2 * 3 * m * n);
  for (let i = 0; i < 2; i++) {
    for (let j = 0; j < 3; j++) {
      for (let p = 0; p < m * n; p++) {
        const [row, col] = [Math.floor(p / n), p % n];
        for (let q = 0; q < k; q++) expected[(i * 3 + j) * m * n + p] += a[i * m * k + row * k + q] * b[j * k * n + q * n + col];
      }
    }
  }
  assertClose(out, expected, 1e-5, 1e-5, '[2,1,m,k]·[1,3,k,n]');
});

test('mismatched inner dimensions still give an error', async () => {
  await tf.setBackend('wasm');
  assert.throws(() => tf.tidy(() => tf.matMul(tf.zeros([2, 3]), tf.zeros([2, 4]), false, true)), /inner (shapes|dimensions)/);
});
