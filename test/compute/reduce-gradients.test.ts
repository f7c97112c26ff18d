import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { initBackend, shutdownCompute, tf } from '../../src/compute/index.js';
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
