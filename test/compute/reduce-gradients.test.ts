import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { configureCompute, initBackend, kernelCounters, nativeKernels, shutdownCompute, tf } from '../../src/compute/index.js';
import { nativeFor } from '../native/fixtures.js';
import { COLUMN_SUMS, ROW_SUMS } from '../../src/compute/kernels/column-sums.js';
import { randomFloats, rng } from './helpers.js';

before(async () => {
  await initBackend('wasm');
});

after(async () => {
  await shutdownCompute();
});

/** ∂/∂x Σ w ⊙ reduce(x) is w broadcast back over the reduced axes (÷ their size for a mean). */
test('Sum and Mean gradients broadcast dy over every axis choice, with and without keepDims, and leak nothing', () => {
  const r = rng(5);
  const shape = [3, 4, 5];
  const x = tf.tensor3d(randomFloats(r, 60), shape as [number, number, number]);
  for (const axis of [0, 1, 2, -1, [0, 2], [0, 1, 2]] as (number | number[])[]) {
    for (const keepDims of [false, true]) {
      for (const op of ['sum', 'mean'] as const) {
        const tensors = tf.memory().numTensors;
        const reduced = tf.tidy(() => (op === 'sum' ? tf.sum(x, axis, keepDims) : tf.mean(x, axis, keepDims)));
        const w = randomFloats(r, reduced.size);
        const grad = tf.tidy(() => tf.grad((v: tf.Tensor) => tf.sum(tf.mul(op === 'sum' ? tf.sum(v, axis, keepDims) : tf.mean(v, axis, keepDims), tf.tensor(w, reduced.shape))))(x));
        const axes = (Array.isArray(axis) ? axis : [axis]).map((a) => (a + 3) % 3);
        const count = axes.reduce((n, a) => n * shape[a], 1);
        const g = grad.dataSync();
        for (let i = 0; i < 3; i++) {
          for (let j = 0; j < 4; j++) {
            for (let k = 0; k < 5; k++) {
              const c = [i, j, k];
              const kept = c.filter((_, a) => !axes.includes(a));
              const keptShape = shape.filter((_, a) => !axes.includes(a));
              const flat = kept.reduce((f, v, a) => f * keptShape[a] + v, 0);
              const expected = Math.fround(w[flat] / (op === 'mean' ? count : 1));
              assert.ok(Math.abs(g[(i * 4 + j) * 5 + k] - expected) <= 1e-7, `${op} axis ${JSON.stringify(axis)} keepDims ${keepDims} at ${c}`);
            }
          }
        }
        tf.dispose([reduced, grad]);
        assert.equal(tf.memory().numTensors, tensors, `${op} ${JSON.stringify(axis)} leaked`);
      }
    }
  }
  x.dispose();
});

test('the gradient of a sum or mean over an empty tensor is an empty tensor of its shape', () => {
  for (const op of [tf.sum, tf.mean]) {
    const g = tf.grad((v: tf.Tensor) => op(v))(tf.zeros([0]));
    assert.deepEqual(g.shape, [0]);
    const g2 = tf.grad((v: tf.Tensor) => tf.sum(op(v, 1)))(tf.zeros([3, 0]));
    assert.deepEqual(g2.shape, [3, 0]);
    tf.dispose([g, g2]);
  }
});

/** Σ (or mean) of x over `axes` in float64, as a flat array in the order of the kept axes. */
function reduceReference(x: Float32Array, shape: number[], axes: number[], mean: boolean): Float64Array {
  const keptShape = shape.filter((_, a) => !axes.includes(a));
  const out = new Float64Array(keptShape.reduce((n, d) => n * d, 1));
  const count = axes.reduce((n, a) => n * shape[a], 1);
  for (let i = 0; i < x.length; i++) {
    let rest = i;
    const c = shape.map(() => 0);
    for (let a = shape.length - 1; a >= 0; a--) {
      c[a] = rest % shape[a];
      rest = Math.floor(rest / shape[a]);
    }
    const flat = c.filter((_, a) => !axes.includes(a)).reduce((f, v, k) => f * keptShape[k] + v, 0);
    out[flat] += x[i] / (mean ? count : 1);
  }
  if (mean && count === 0) out.fill(Number.NaN); // 0/0
  return out;
}

test('Sum and Mean over leading axes (the native column sums) equal float64 references; other axes give the stock result', async () => {
  await tf.setBackend('wasm');
  const r = rng(6);
  for (const shape of [[7, 5], [3, 4, 5], [300, 64], [0, 3], [4, 1]]) {
    const x = randomFloats(r, shape.reduce((n, d) => n * d, 1));
    const xt = tf.tensor(x, shape);
    const empty = x.length === 0; // the stock full reduction of nothing is not ours to check
    const axisChoices: (number | number[])[] = shape.length === 3 ? [0, [0, 1], [1, 0], -1, [0, 2], [0, 1, 2]] : empty ? [0, -2] : [0, -2, 1, [0, 1]];
    for (const axis of axisChoices) {
      const axes = (Array.isArray(axis) ? axis : [axis]).map((a) => (a + shape.length) % shape.length);
      for (const keepDims of [false, true]) {
        for (const op of ['sum', 'mean'] as const) {
          const before = (kernelCounters()[COLUMN_SUMS] ?? 0) as number;
          const tensors = tf.memory().numTensors;
          const y = op === 'sum' ? tf.sum(xt, axis, keepDims) : tf.mean(xt, axis, keepDims);
          const expectedShape = shape.flatMap((d, a) => (axes.includes(a) ? (keepDims ? [1] : []) : [d]));
          const label = `${op} ${JSON.stringify(shape)} axis ${JSON.stringify(axis)} keepDims ${keepDims}`;
          assert.deepEqual(y.shape, expectedShape, label);
          const ref = reduceReference(x, shape, axes, op === 'mean');
          const got = y.dataSync();
          const leading = nativeKernels() !== null && axes.length < shape.length && [...axes].sort().every((a, i) => a === i);
          // ours rounds a float64 sum once; the stock kernels add in float32 (up to 300 terms here)
          const tol = (v: number) => (leading ? 1.2e-7 * Math.abs(v) : 1e-4);
          for (let i = 0; i < ref.length; i++) {
            assert.ok(Math.abs(got[i] - ref[i]) <= tol(ref[i]) || (Number.isNaN(got[i]) && Number.isNaN(ref[i])), `${label} at ${i}`);
          }
          assert.equal((kernelCounters()[COLUMN_SUMS] ?? 0) - before, leading ? 1 : 0, `${label}: which kernel`);
          y.dispose();
          assert.equal(tf.memory().numTensors, tensors, label);
        }
      }
    }
    xt.dispose();
  }
});

test('Sum over trailing axes (the native row sums) gives the stock kernel\'s bits', async (t) => {
  if (!nativeFor(t)) return; // skipped with the reason when the addon was never built; fails under REQUIRE_NATIVE=1
  assert.ok(nativeKernels(), 'the compute layer runs on the addon');
  await tf.setBackend('wasm');
  const r = rng(7);
  const cases: [number[], number | number[]][] = [[[7050, 64], 1], [[7050, 64], -1], [[13, 5], 1], [[3, 4, 5], 2], [[3, 4, 5], [1, 2]], [[0, 3], 1], [[9, 1], 1]];
  for (const [shape, axis] of cases) {
    const x = Float32Array.from(randomFloats(r, shape.reduce((n, d) => n * d, 1)), (v, i) => v * 10 ** ((i % 7) - 3));
    for (const keepDims of [false, true]) {
      const label = `${JSON.stringify(shape)} axis ${JSON.stringify(axis)} keepDims ${keepDims}`;
      const sum = () => tf.tidy(() => {
        const y = tf.sum(tf.tensor(x, shape), axis, keepDims);
        return { shape: y.shape, values: Float32Array.from(y.dataSync()) };
      });
      const before = (kernelCounters()[ROW_SUMS] ?? 0) as number;
      const ours = sum();
      assert.equal((kernelCounters()[ROW_SUMS] ?? 0) - before, 1, `${label}: ours ran`);
      await configureCompute({ native: false });
      try {
        assert.deepEqual(ours, sum(), label);
      } finally {
        await configureCompute({ native: true });
      }
    }
  }
  // rows of nothing sum to 0 (the stock kernel leaves such an output unwritten)
  assert.deepEqual(tf.tidy(() => Array.from(tf.sum(tf.zeros([5, 0]), 1).dataSync())), [0, 0, 0, 0, 0]);
});
