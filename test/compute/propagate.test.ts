import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  initBackend,
  kernelCounters,
  propagateMean,
  registerSparse,
  releaseSparse,
  shutdownCompute,
  spmmReference,
  tf,
} from '../../src/compute/index.js';
import { BACKENDS, assertClose, centralDifference, randomCsr, randomFloats, rng } from './helpers.js';

before(async () => {
  await initBackend('wasm');
});

after(async () => {
  await tf.setBackend('wasm');
  await shutdownCompute();
});

/** 1/(L+1) Σ_k A^k x from the dense-free reference product. */
function reference(m: Parameters<typeof spmmReference>[0], x: Float32Array, d: number, layers: number, transpose = false) {
  const sum = Float64Array.from(x);
  let cur = x;
  for (let k = 0; k < layers; k++) {
    cur = Float32Array.from(spmmReference(m, cur, d, transpose));
    for (let i = 0; i < sum.length; i++) sum[i] += cur[i];
  }
  return Array.from(sum, (v) => v / (layers + 1));
}

for (const backend of BACKENDS) {
  test(`propagateMean equals the layer mean of repeated products on ${backend}`, async () => {
    await tf.setBackend(backend);
    const r = rng(3);
    for (const [n, d, layers] of [[1, 1, 1], [30, 5, 0], [50, 8, 3], [200, 64, 2]] as const) {
      const m = randomCsr(r, n, n, 0.1);
      const h = registerSparse(m);
      const x = randomFloats(r, n * d);
      const before = kernelCounters().CamrecPropagateMean ?? 0;
      const y = tf.tidy(() => propagateMean(h, tf.tensor2d(x, [n, d]), layers));
      assertClose(y.dataSync(), reference(m, x, d, layers), 1e-5, 1e-5, `${backend} n=${n} d=${d} L=${layers}`);
      y.dispose();
      assert.equal((kernelCounters().CamrecPropagateMean ?? 0) - before, 1, 'one fused kernel call');
      releaseSparse(h);
    }
  });
}

test('propagateMean gradient is the transposed layer mean and matches finite differences', async () => {
  await tf.setBackend('wasm');
  const r = rng(4);
  const n = 25;
  const d = 3;
  const layers = 3;
  const m = randomCsr(r, n, n, 0.2); // not symmetric: the gradient must use the transpose
  const h = registerSparse(m);
  const x = randomFloats(r, n * d);
  const w = randomFloats(r, n * d);
  const loss = (xv: Float32Array) =>
    tf.tidy(() => tf.sum(tf.mul(tf.square(propagateMean(h, tf.tensor2d(xv, [n, d]), layers)), tf.tensor2d(w, [n, d]))).dataSync()[0]);
  const g = tf.tidy(() => tf.grad((xt: tf.Tensor) => tf.sum(tf.mul(propagateMean(h, xt as tf.Tensor2D, layers), tf.tensor2d(w, [n, d]))))(tf.tensor2d(x, [n, d])).dataSync());
  assertClose(g, reference(m, w, d, layers, true), 1e-5, 1e-5, 'closed form');
  const gq = tf.tidy(() =>
    tf.grad((xt: tf.Tensor) => tf.sum(tf.mul(tf.square(propagateMean(h, xt as tf.Tensor2D, layers)), tf.tensor2d(w, [n, d]))))(tf.tensor2d(x, [n, d])).dataSync(),
  );
  for (const i of [0, 7, 40, 74]) {
    const fd = centralDifference(loss, x, i, 1e-2);
    assert.ok(Math.abs(gq[i] - fd) <= 2e-3 + 2e-2 * Math.abs(fd), `entry ${i}: autodiff ${gq[i]} vs finite difference ${fd}`);
  }
  releaseSparse(h);
});
