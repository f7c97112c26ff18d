import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configureCompute, fusedInfoNce, infoNceReference, kernelCounters, tf } from '../../src/compute/index.js';
import { INFO_NCE } from '../../src/compute/kernels/infonce.js';
import { infoNceComposite } from '../../src/models/modules/infonce.js';
import { nativeFor } from '../native/fixtures.js';
import { BACKENDS, assertClose, randomFloats, rng, useWasmCompute } from './helpers.js';

useWasmCompute();

// [n, d, T, block]: one block, a shorter last block, blocks of one row, CaMRec's own shape
const CASES: [number, number, number, number][] = [
  [1, 1, 0.5, 4],
  [7, 5, 0.2, 3],
  [9, 3, 1, 1],
  [100, 13, 0.2, 32],
  [513, 64, 0.2, 256],
];

/** w·L and its gradients in x and y through `f`, read back; every tensor made on the way is disposed. */
function run(f: (x: tf.Tensor2D, y: tf.Tensor2D) => tf.Scalar, x: Float32Array, y: Float32Array, n: number, d: number, w: number) {
  return tf.tidy(() => {
    const [xt, yt] = [tf.tensor2d(x, [n, d]), tf.tensor2d(y, [n, d])];
    const loss = f(xt, yt).dataSync()[0];
    const [gx, gy] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.mul(f(a as tf.Tensor2D, b as tf.Tensor2D), w))([xt, yt]);
    return { loss, gx: gx.dataSync().slice(), gy: gy.dataSync().slice() };
  });
}

const fused = (t: number, block: number) => (x: tf.Tensor2D, y: tf.Tensor2D) => fusedInfoNce(x, y, t, block) as tf.Scalar;

for (const backend of BACKENDS) {
  test(`the fused InfoNCE equals the float64 reference, value and both gradients, on ${backend}`, async (t) => {
    if (!nativeFor(t)) return;
    await tf.setBackend(backend);
    CASES.forEach(([n, d, temp, block], i) => {
      const r = rng(40 + i);
      const [x, y] = [randomFloats(r, n * d), randomFloats(r, n * d)];
      const label = `${backend} n=${n} d=${d} T=${temp} block=${block}`;
      const before = kernelCounters()[INFO_NCE] ?? 0;
      const got = run(fused(temp, block), x, y, n, d, -0.7);
      assert.equal(kernelCounters()[INFO_NCE], before + 2, `${label}: one kernel call per loss, none for the gradient`);
      const ref = infoNceReference(x, y, n, d, temp, block);
      assertClose([got.loss], [ref.loss], 1e-5, 1e-5, `${label}: L`);
      // float32 scores of d terms over T; the gradients of unit rows scale like 1/(n·T·‖x‖)
      const tol = (2e-6 * d) / temp;
      assertClose(got.gx, ref.gx.map((v) => -0.7 * v), 1e-4, tol, `${label}: ∂x`);
      assertClose(got.gy, ref.gy.map((v) => -0.7 * v), 1e-4, tol, `${label}: ∂y`);
    });
    await tf.setBackend('wasm');
  });
}

test('the reference gradients equal central differences of the reference loss', () => {
  const [n, d, temp, block] = [9, 4, 0.3, 4];
  const r = rng(50);
  const [x, y] = [Float64Array.from(randomFloats(r, n * d)), Float64Array.from(randomFloats(r, n * d))];
  const ref = infoNceReference(x, y, n, d, temp, block);
  const h = 1e-6;
  for (const [v, g, name] of [[x, ref.gx, 'x'], [y, ref.gy, 'y']] as const) {
    for (let i = 0; i < v.length; i++) {
      const plus = Float64Array.from(v);
      const minus = Float64Array.from(v);
      plus[i] += h;
      minus[i] -= h;
      const loss = (z: Float64Array) => (name === 'x' ? infoNceReference(z, y, n, d, temp, block) : infoNceReference(x, z, n, d, temp, block)).loss;
      assertClose([(loss(plus) - loss(minus)) / (2 * h)], [g[i]], 1e-5, 1e-7, `∂${name}[${i}]`);
    }
  }
});

test('the fused InfoNCE agrees with the composed ops, gives the same bits twice and leaks nothing', async (t) => {
  if (!nativeFor(t)) return;
  await tf.setBackend('wasm');
  const [n, d, temp, block] = [300, 64, 0.2, 128];
  const r = rng(51);
  const [x, y] = [randomFloats(r, n * d), randomFloats(r, n * d)];
  const tensors = tf.memory().numTensors;
  const first = run(fused(temp, block), x, y, n, d, 1);
  const second = run(fused(temp, block), x, y, n, d, 1);
  assert.equal(tf.memory().numTensors, tensors, 'no leaked tensors');
  assert.deepEqual(second, first, 'the same bits twice');
  const composed = run((a, b) => infoNceComposite(a, b, temp, block), x, y, n, d, 1);
  assertClose([first.loss], [composed.loss], 1e-5, 1e-5, 'L');
  assertClose(first.gx, composed.gx, 1e-4, (2e-6 * d) / temp, '∂x');
  assertClose(first.gy, composed.gy, 1e-4, (2e-6 * d) / temp, '∂y');
});

test('fusedInfoNce answers null without the addon or rows, and refuses mismatched inputs', async () => {
  await tf.setBackend('wasm');
  tf.tidy(() => {
    assert.throws(() => fusedInfoNce(tf.zeros([3, 2]), tf.zeros([3, 3]), 0.2, 2), /differ in shape/);
    assert.throws(() => fusedInfoNce(tf.zeros([3, 2]), tf.zeros([3, 2]), 0.2, 0), /block must be an integer/);
    assert.equal(fusedInfoNce(tf.zeros([0, 2]), tf.zeros([0, 2]), 0.2, 2), null);
  });
  await configureCompute({ native: false });
  tf.tidy(() => assert.equal(fusedInfoNce(tf.ones([3, 2]), tf.ones([3, 2]), 0.2, 2), null));
  await configureCompute({ native: true });
});
