import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { configureCompute, initBackend, kernelCounters, nativeKernels, shutdownCompute, tf } from '../../src/compute/index.js';
import { NATIVE_TANH } from '../../src/compute/kernels/tanh.js';
import { assertClose, randomFloats, rng } from './helpers.js';

before(async () => {
  await initBackend('wasm');
});

after(async () => {
  await configureCompute({ native: true });
  await shutdownCompute();
});

const nativeCalls = () => kernelCounters()[NATIVE_TANH] ?? 0;

test('wasm tanh with the addon is within float32 rounding of Math.tanh, forward and gradient, and leaks nothing', async (t) => {
  if (!nativeKernels()) return t.skip('native addon not built');
  await configureCompute({ native: true });
  await tf.setBackend('wasm');
  const x = Float32Array.from(randomFloats(rng(1), 7050 * 8), (v) => 6 * v);
  const g = randomFloats(rng(2), x.length);
  const before = tf.memory().numTensors;
  const calls = nativeCalls();
  const [y, dx] = tf.tidy(() => {
    const xt = tf.tensor2d(x, [7050, 8]);
    const value = tf.tanh(xt);
    const grad = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.tanh(v), tf.tensor2d(g, [7050, 8]))))(xt);
    return [value.dataSync().slice(), grad.dataSync().slice()];
  });
  assert.equal(tf.memory().numTensors, before);
  assert.equal(nativeCalls(), calls + 2, 'both forward passes took the addon');
  assertClose(y, Array.from(x, Math.tanh), 0, 5e-7, 'tanh');
  assertClose(dx, Array.from(x, (v, i) => g[i] * (1 - Math.tanh(v) ** 2)), 0, 2e-6, '∂/∂x');
});

test('small tensors and a disabled addon take the stock kernel, which agrees', async () => {
  await tf.setBackend('wasm');
  const x = Float32Array.from(randomFloats(rng(3), 5000), (v) => 4 * v);
  const calls = nativeCalls();
  const small = tf.tidy(() => tf.tanh(tf.tensor1d(x.subarray(0, 100))).dataSync().slice());
  assert.equal(nativeCalls(), calls);
  assertClose(small, Array.from(x.subarray(0, 100), Math.tanh), 0, 5e-7, 'small');
  await configureCompute({ native: false });
  const stockValues = tf.tidy(() => tf.tanh(tf.tensor1d(x)).dataSync().slice());
  assert.equal(nativeCalls(), calls);
  assertClose(stockValues, Array.from(x, Math.tanh), 0, 5e-7, 'stock');
  await configureCompute({ native: true });
});
