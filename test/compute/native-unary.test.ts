import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { configureCompute, initBackend, kernelCounters, shutdownCompute, tf } from '../../src/compute/index.js';
import { NATIVE_EXP, NATIVE_TANH } from '../../src/compute/kernels/native-unary.js';
import { nativeFor } from '../native/fixtures.js';
import { assertClose, randomFloats, rng } from './helpers.js';

before(async () => {
  await initBackend('wasm');
});

after(async () => {
  await configureCompute({ native: true });
  await shutdownCompute();
});

const OPS = [
  { name: 'tanh', op: tf.tanh, f: Math.tanh, df: (v: number) => 1 - Math.tanh(v) ** 2, counter: NATIVE_TANH, scale: 6 },
  { name: 'exp', op: tf.exp, f: Math.exp, df: Math.exp, counter: NATIVE_EXP, scale: 10 },
];
const calls = (counter: string) => kernelCounters()[counter] ?? 0;

for (const { name, op, f, df, counter, scale } of OPS) {
  test(`wasm ${name} with the addon is within float32 rounding of Math.${name}, forward and gradient, and leaks nothing`, async (t) => {
    if (!nativeFor(t)) return; // skipped only where the addon was never built and REQUIRE_NATIVE is unset
    await configureCompute({ native: true });
    await tf.setBackend('wasm');
    const x = Float32Array.from(randomFloats(rng(1), 7050 * 8), (v) => scale * v);
    const g = randomFloats(rng(2), x.length);
    const before = tf.memory().numTensors;
    const start = calls(counter);
    const [y, dx] = tf.tidy(() => {
      const xt = tf.tensor2d(x, [7050, 8]);
      const value = op(xt);
      const grad = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(op(v), tf.tensor2d(g, [7050, 8]))))(xt);
      return [value.dataSync().slice(), grad.dataSync().slice()];
    });
    assert.equal(tf.memory().numTensors, before);
    assert.equal(calls(counter), start + 2, 'both forward passes took the addon');
    assertClose(y, Array.from(x, f), 4e-7, 1e-30, name);
    assertClose(dx, Array.from(x, (v, i) => g[i] * df(v)), 2e-6, 2e-6, `∂${name}/∂x`);
  });

  test(`${name}: small tensors and a disabled addon take the stock kernel, which agrees`, async () => {
    await tf.setBackend('wasm');
    const x = Float32Array.from(randomFloats(rng(3), 5000), (v) => 4 * v);
    const start = calls(counter);
    const small = tf.tidy(() => op(tf.tensor1d(x.subarray(0, 100))).dataSync().slice());
    assert.equal(calls(counter), start);
    assertClose(small, Array.from(x.subarray(0, 100), f), 4e-7, 1e-30, 'small');
    await configureCompute({ native: false });
    const stockValues = tf.tidy(() => op(tf.tensor1d(x)).dataSync().slice());
    assert.equal(calls(counter), start);
    assertClose(stockValues, Array.from(x, f), 4e-7, 1e-30, 'stock');
    await configureCompute({ native: true });
  });
}
