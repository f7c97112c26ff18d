import assert from 'node:assert/strict';
import { test } from 'node:test';
import { concreteGateReference, configureCompute, fusedConcreteGate, kernelCounters, tf } from '../../src/compute/index.js';
import { CONCRETE_GATE, CONCRETE_GATE_GRAD } from '../../src/compute/kernels/concrete-gate.js';
import { nativeFor } from '../native/fixtures.js';
import { BACKENDS, assertClose, randomFloats, rng, useWasmCompute } from './helpers.js';

useWasmCompute();

/** Logits in [-3, 3] and uniforms in (0, 1), with the extremes the generator can give (float32 rounds to 1 there). */
function problem(seed: number, n: number) {
  const r = rng(seed);
  const logits = Float32Array.from(randomFloats(r, n), (v) => 3 * v);
  const uniforms = Float32Array.from({ length: n }, () => r.nextFloat());
  uniforms[0] = (0.5 + 0) / 2 ** 32;
  if (n > 1) uniforms[1] = Math.fround((2 ** 32 - 0.5) / 2 ** 32);
  return { logits, uniforms };
}

/** ρ and ∂(Σ w ⊙ ρ)/∂ω through `f`. */
function run(f: (w: tf.Tensor1D) => tf.Tensor1D, logits: Float32Array, weights: Float32Array) {
  return tf.tidy(() => {
    const w = tf.tensor1d(logits);
    const rho = f(w).dataSync().slice();
    const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(f(x as tf.Tensor1D), tf.tensor1d(weights))))(w).dataSync().slice();
    return { rho, g };
  });
}

/** The composed ops the op replaces (edge-mask.ts without the addon). */
function composed(uniforms: Float32Array | null, tau: number) {
  return (w: tf.Tensor1D): tf.Tensor1D => {
    if (!uniforms) return tf.sigmoid(tf.div(w, tau)) as tf.Tensor1D;
    const g = Float32Array.from(uniforms, (u) => Math.log(u) - Math.log(1 - u));
    return tf.sigmoid(tf.div(tf.add(w, tf.tensor1d(g)), tau)) as tf.Tensor1D;
  };
}

for (const backend of BACKENDS) {
  test(`the fused concrete gate equals the float64 reference and the composed ops, value and gradient, on ${backend}`, async (t) => {
    if (!nativeFor(t)) return;
    await tf.setBackend(backend);
    for (const [n, tau, noised] of [[1, 0.2, true], [5000, 0.2, true], [700, 1.5, false]] as const) {
      const { logits, uniforms } = problem(100 + n, n);
      const weights = randomFloats(rng(200 + n), n);
      const u = noised ? uniforms : null;
      const label = `${backend} E=${n} τ=${tau}${noised ? '' : ' without noise'}`;
      const calls = [kernelCounters()[CONCRETE_GATE] ?? 0, kernelCounters()[CONCRETE_GATE_GRAD] ?? 0];
      const got = run((w) => fusedConcreteGate(w, u, tau) as tf.Tensor1D, logits, weights);
      assert.deepEqual([kernelCounters()[CONCRETE_GATE], kernelCounters()[CONCRETE_GATE_GRAD]], [calls[0] + 2, calls[1] + 1], `${label}: kernels`);
      const ref = concreteGateReference(logits, u, tau);
      assertClose(got.rho, ref.rho, 1e-6, 1e-7, `${label}: ρ`);
      // ∂ω = w·ρ(1 − ρ)/τ: 1 − ρ of a float32 ρ near 1 is off by up to ε, so the bound is ε·|w|/τ absolute
      const atol = (4 * 2 ** -24) / tau;
      assertClose(got.g, Array.from(ref.dRho, (v, e) => v * weights[e]), 1e-5, atol, `${label}: ∂ω`);
      const stock = run(composed(u, tau), logits, weights);
      assertClose(got.rho, stock.rho, 1e-6, 1e-7, `${label}: ρ against the composed ops`);
      assertClose(got.g, stock.g, 1e-5, atol, `${label}: ∂ω against the composed ops`);
    }
    await tf.setBackend('wasm');
  });
}

test('the reference gradient equals central differences of the reference gate', () => {
  const { logits, uniforms } = problem(300, 50);
  const { dRho } = concreteGateReference(logits, uniforms, 0.3);
  logits.forEach((w, e) => {
    if (e < 2) return; // the extreme uniforms saturate ρ
    const at = (x: number) => concreteGateReference([x], [uniforms[e]], 0.3).rho[0];
    assertClose([(at(w + 1e-6) - at(w - 1e-6)) / 2e-6], [dRho[e]], 1e-5, 1e-9, `∂ρ/∂ω[${e}]`);
  });
});

test('fusedConcreteGate: nothing leaks, null without the addon, clear errors', async () => {
  await tf.setBackend('wasm');
  const { logits, uniforms } = problem(400, 64);
  const tensors = tf.memory().numTensors;
  run((w) => fusedConcreteGate(w, uniforms, 0.2) as tf.Tensor1D, logits, logits);
  assert.equal(tf.memory().numTensors, tensors);
  tf.tidy(() => assert.throws(() => fusedConcreteGate(tf.zeros([3]), new Float32Array(2), 0.2), /2 uniforms for 3 logits/));
  tf.tidy(() => assert.throws(() => fusedConcreteGate(tf.zeros([3]), null, 0), /temperature must be positive/));
  await configureCompute({ native: false });
  tf.tidy(() => assert.equal(fusedConcreteGate(tf.zeros([3]), null, 0.2), null));
  await configureCompute({ native: true });
});
