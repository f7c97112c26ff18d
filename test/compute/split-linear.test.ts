import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configureCompute, fusedSplitLinear, kernelCounters, splitLinearReference, tf } from '../../src/compute/index.js';
import { SPLIT_LINEAR, SPLIT_LINEAR_GRAD } from '../../src/compute/kernels/split-linear.js';
import { nativeFor } from '../native/fixtures.js';
import { BACKENDS, assertClose, randomFloats, rng, useWasmCompute } from './helpers.js';

useWasmCompute();

type Op = (x: tf.Tensor2D, wa: tf.Tensor2D, wb: tf.Tensor2D, rows: number) => [tf.Tensor2D, tf.Tensor2D];

const fused: Op = (x, wa, wb, rows) => fusedSplitLinear(x, wa, wb, rows) as [tf.Tensor2D, tf.Tensor2D];

/** The composed ops the op replaces: a split and two products. */
const composed: Op = (x, wa, wb, rows) => {
  const [u, i] = tf.split(x, [rows, x.shape[0] - rows], 0) as [tf.Tensor2D, tf.Tensor2D];
  return [tf.matMul(u, wa), tf.matMul(i, wb)];
};

function problem(seed: number, n: number, d: number, h: number, rows: number) {
  const r = rng(seed);
  const [x, wa, wb] = [randomFloats(r, n * d), randomFloats(r, d * h), randomFloats(r, d * h)];
  const [dA, dB] = [randomFloats(r, rows * h), randomFloats(r, (n - rows) * h)];
  return { x, wa, wb, dA, dB };
}

function run(op: Op, p: ReturnType<typeof problem>, n: number, d: number, h: number, rows: number) {
  return tf.tidy(() => {
    const [x, wa, wb] = [tf.tensor2d(p.x, [n, d]), tf.tensor2d(p.wa, [d, h]), tf.tensor2d(p.wb, [d, h])];
    const [a, b] = op(x, wa, wb, rows);
    const f = (...t: tf.Tensor[]) => {
      const [ta, tb] = op(t[0] as tf.Tensor2D, t[1] as tf.Tensor2D, t[2] as tf.Tensor2D, rows);
      return tf.add(tf.sum(tf.mul(ta, tf.tensor2d(p.dA, [rows, h]))), tf.sum(tf.mul(tb, tf.tensor2d(p.dB, [n - rows, h])))) as tf.Scalar;
    };
    const [dx, dwa, dwb] = tf.grads(f)([x, wa, wb]);
    return [a, b, dx, dwa, dwb].map((t) => t.dataSync().slice() as Float32Array);
  });
}

const NAMES = ['a', 'b', '∂x', '∂W_a', '∂W_b'];

for (const backend of BACKENDS) {
  test(`the fused split product equals the float64 reference, values and gradients, on ${backend}`, async (t) => {
    if (!nativeFor(t)) return;
    await tf.setBackend(backend);
    for (const [n, d, h, rows] of [[2, 1, 1, 1], [9, 5, 3, 4], [300, 64, 64, 250]] as const) {
      const p = problem(500 + n, n, d, h, rows);
      const calls = [kernelCounters()[SPLIT_LINEAR] ?? 0, kernelCounters()[SPLIT_LINEAR_GRAD] ?? 0];
      const got = run(fused, p, n, d, h, rows);
      assert.deepEqual([kernelCounters()[SPLIT_LINEAR], kernelCounters()[SPLIT_LINEAR_GRAD]], [calls[0] + 2, calls[1] + 1]);
      const ref = splitLinearReference(p.x, p.wa, p.wb, n, d, h, rows, p.dA, p.dB);
      [ref.a, ref.b, ref.dx, ref.dwa, ref.dwb].forEach((want, k) => assertClose(got[k], want, 1e-5, 1e-5 * Math.sqrt(n), `${backend} [${n},${d}]·[${d},${h}] rows ${rows}: ${NAMES[k]}`));
    }
    await tf.setBackend('wasm');
  });
}

test('at the model’s sizes the fused op gives the composed ops’ bits (the same gemm calls) and leaks nothing', async (t) => {
  if (!nativeFor(t)) return;
  await tf.setBackend('wasm');
  const [n, d, h, rows] = [2600, 64, 64, 1900];
  const p = problem(600, n, d, h, rows);
  const tensors = tf.memory().numTensors;
  const got = run(fused, p, n, d, h, rows);
  assert.equal(tf.memory().numTensors, tensors);
  const stock = run(composed, p, n, d, h, rows);
  got.forEach((v, k) => assert.deepEqual(v, stock[k], NAMES[k]));
});

test('fusedSplitLinear answers null for an empty block or without the addon, and refuses bad shapes', async () => {
  await tf.setBackend('wasm');
  tf.tidy(() => {
    const [x, w] = [tf.ones([4, 3]) as tf.Tensor2D, tf.ones([3, 2]) as tf.Tensor2D];
    assert.equal(fusedSplitLinear(x, w, w, 0), null);
    assert.equal(fusedSplitLinear(x, w, w, 4), null);
    assert.throws(() => fusedSplitLinear(x, w, w, 5), /rows must be an integer in \[0, 4\]/);
    assert.throws(() => fusedSplitLinear(x, tf.ones([2, 2]) as tf.Tensor2D, w, 2), /need 3 rows/);
  });
  await configureCompute({ native: false });
  tf.tidy(() => assert.equal(fusedSplitLinear(tf.ones([4, 3]) as tf.Tensor2D, tf.ones([3, 2]) as tf.Tensor2D, tf.ones([3, 2]) as tf.Tensor2D, 2), null));
  await configureCompute({ native: true });
});
