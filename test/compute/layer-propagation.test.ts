import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  configureCompute,
  gatedPropagateLayers,
  gatedSpmm,
  kernelCounters,
  propagateLayers,
  registerGatedStructure,
  registerSparse,
  releaseGatedStructure,
  releaseSparse,
  spmm,
  spmmReference,
  tf,
} from '../../src/compute/index.js';
import {
  GATED_LAYER_PROPAGATION,
  GATED_LAYER_PROPAGATION_GRAD,
  LAYER_PROPAGATION,
  LAYER_PROPAGATION_GRAD,
} from '../../src/compute/kernels/layer-propagation.js';
import { nativeFor } from '../native/fixtures.js';
import { BACKENDS, assertClose, randomCsr, randomFloats, rng, useWasmCompute } from './helpers.js';

useWasmCompute();

/** A square matrix (not symmetric: the gradient must use the transpose), x, the loss's weights and gates. */
function problem(seed: number, n: number, d: number, layers: number) {
  const r = rng(seed);
  const m = randomCsr(r, n, n, Math.min(1, 6 / Math.max(n, 1)));
  const nnz = m.indices.length;
  const nGroups = Math.max(1, Math.ceil(nnz / 2));
  const groups = Int32Array.from({ length: nnz }, () => r.nextInt(nGroups));
  const weights = Array.from({ length: layers + 3 }, () => randomFloats(r, n * d));
  const gates = Array.from({ length: layers }, () => Float32Array.from(randomFloats(r, nGroups), (v) => (v + 1) / 2));
  return { m, groups, nGroups, x: randomFloats(r, n * d), weights, gates };
}

type Problem = ReturnType<typeof problem>;

const dot = (t: tf.Tensor, w: Float32Array) => tf.sum(tf.mul(t, tf.tensor(w, t.shape)));

/** The first `head` rows and the rest. */
const blocks = (t: tf.Tensor, head: number) => tf.split(t, [head, t.shape[0] - head], 0);

/** The composed backbone: [mean's blocks, e^(0), …, e^(L−1)]. */
function composedBackbone(h: ReturnType<typeof registerSparse>, x: tf.Tensor, layers: number, head: number): tf.Tensor[] {
  const outputs = [x];
  for (let k = 0; k < layers; k++) outputs.push(spmm(h, outputs[k] as tf.Tensor2D));
  return [...blocks(tf.div(tf.addN(outputs), layers + 1), head), ...outputs.slice(0, layers)];
}

/**
 * The backbone as CaMRec reads it: both blocks of the mean, e^(0) by two later ops (the edge mask, the gated
 * propagation) and each inner layer by one more. `fused` uses the op; otherwise the composed products, AddN,
 * division and split, with the later readers reading x itself, as before.
 */
function backboneLoss(p: Problem, h: ReturnType<typeof registerSparse>, layers: number, head: number, fused: boolean) {
  return (x: tf.Tensor) => {
    let users: tf.Tensor;
    let items: tf.Tensor;
    let outputs: tf.Tensor[];
    if (fused) {
      const out = propagateLayers(h, x as tf.Tensor2D, layers, head)!;
      [users, items] = out.mean;
      outputs = out.layers;
    } else {
      [users, items, ...outputs] = composedBackbone(h, x, layers, head);
      outputs[0] = x;
    }
    let loss = tf.add(dot(users, p.weights[0].subarray(0, users.size)), dot(items, p.weights[0].subarray(0, items.size)));
    for (let k = 0; k < layers; k++) loss = tf.add(loss, dot(outputs[k], p.weights[k + 1]));
    return tf.add(loss, dot(outputs[0], p.weights[layers + 1])) as tf.Scalar;
  };
}

function valueAndGrad(f: (x: tf.Tensor) => tf.Scalar, x: Float32Array, shape: [number, number]): Float32Array[] {
  return tf.tidy(() => {
    const xt = tf.tensor2d(x, shape);
    const { value, grad } = tf.valueAndGrad(f)(xt);
    return [Float32Array.of(value.dataSync()[0]), Float32Array.from(grad.dataSync())];
  });
}

const SIZES: [number, number][] = [
  [1, 1],
  [7, 3],
  [60, 13],
  [300, 64],
];

for (const backend of BACKENDS) {
  test(`the fused backbone's mean, layers and gradient are the composed ops' bits, on ${backend}`, async (t) => {
    if (!nativeFor(t)) return;
    await tf.setBackend(backend);
    for (const layers of [1, 2, 3]) {
      for (const [n, d] of SIZES) {
        const p = problem(100 * layers + n, n, d, layers);
        const h = registerSparse(p.m);
        const head = Math.floor((2 * n) / 3);
        try {
          const label = `${backend} L=${layers} [${n}, ${d}] head ${head}`;
          const fusedOut = tf.tidy(() => {
            const out = propagateLayers(h, tf.tensor2d(p.x, [n, d]), layers, head)!;
            return [...out.mean, ...out.layers].map((o) => Float32Array.from(o.dataSync()));
          });
          const composedOut = tf.tidy(() => composedBackbone(h, tf.tensor2d(p.x, [n, d]), layers, head).map((o) => Float32Array.from(o.dataSync())));
          assert.equal(fusedOut.length, layers + 2, `${label}: outputs`);
          fusedOut.forEach((v, k) => assert.deepEqual(v, composedOut[k], `${label}: output ${k}`));
          const calls = [kernelCounters()[LAYER_PROPAGATION] ?? 0, kernelCounters()[LAYER_PROPAGATION_GRAD] ?? 0];
          const [lossF, gradF] = valueAndGrad(backboneLoss(p, h, layers, head, true), p.x, [n, d]);
          assert.deepEqual([kernelCounters()[LAYER_PROPAGATION], kernelCounters()[LAYER_PROPAGATION_GRAD]], [calls[0] + 1, calls[1] + 1], `${label}: one kernel each way`);
          const [lossC, gradC] = valueAndGrad(backboneLoss(p, h, layers, head, false), p.x, [n, d]);
          assert.deepEqual(lossF, lossC, `${label}: loss`);
          assert.deepEqual(gradF, gradC, `${label}: ∂x`);
        } finally {
          releaseSparse(h);
        }
      }
    }
  });
}

test('the fused backbone equals the float64 products and mean', async (t) => {
  if (!nativeFor(t)) return;
  await tf.setBackend('wasm');
  const [n, d, layers] = [200, 16, 2];
  const p = problem(7, n, d, layers);
  const h = registerSparse(p.m);
  try {
    const [users, items, e0, e1] = tf.tidy(() => {
      const out = propagateLayers(h, tf.tensor2d(p.x, [n, d]), layers, 50)!;
      return [...out.mean, ...out.layers].map((o) => Float32Array.from(o.dataSync()));
    });
    const mean = Float32Array.of(...users, ...items);
    const ref1 = spmmReference(p.m, p.x, d);
    const ref2 = spmmReference(p.m, ref1, d);
    assert.deepEqual(e0, p.x);
    assertClose(e1, ref1, 1e-5, 1e-5, 'e^(1)');
    assertClose(mean, Float64Array.from(p.x, (v, i) => (v + ref1[i] + ref2[i]) / 3), 1e-5, 1e-5, 'mean');
  } finally {
    releaseSparse(h);
  }
});

/** The gated propagation as CaMRec reads it: both blocks of its mean, and x by another op recorded before it. */
function gatedLoss(p: Problem, h: ReturnType<typeof registerGatedStructure>, head: number, fused: boolean) {
  return (x: tf.Tensor, ...gates: tf.Tensor[]) => {
    const before = dot(x, p.weights[1]);
    let mean: tf.Tensor[];
    if (fused) {
      mean = gatedPropagateLayers(h, x as tf.Tensor2D, gates as tf.Tensor1D[], head)!;
    } else {
      const outputs = [x];
      gates.forEach((g, k) => outputs.push(gatedSpmm(h, g as tf.Tensor1D, outputs[k] as tf.Tensor2D)));
      mean = blocks(tf.div(tf.addN(outputs), gates.length + 1), head);
    }
    return tf.add(before, tf.add(dot(mean[0], p.weights[0].subarray(0, mean[0].size)), dot(mean[1], p.weights[2].subarray(0, mean[1].size)))) as tf.Scalar;
  };
}

function gatedValueAndGrads(f: (...t: tf.Tensor[]) => tf.Scalar, p: Problem, shape: [number, number]): Float32Array[] {
  return tf.tidy(() => {
    const inputs = [tf.tensor2d(p.x, shape), ...p.gates.map((g) => tf.tensor1d(g))];
    const { value, grads } = tf.valueAndGrads(f)(inputs);
    return [Float32Array.of(value.dataSync()[0]), ...grads.map((g) => Float32Array.from(g.dataSync()))];
  });
}

for (const backend of BACKENDS) {
  test(`the fused gated propagation's mean and gradients in x and every gate are the composed ops' bits, on ${backend}`, async (t) => {
    if (!nativeFor(t)) return;
    await tf.setBackend(backend);
    for (const layers of [1, 2, 3]) {
      for (const [n, d] of SIZES) {
        const p = problem(300 * layers + n, n, d, layers);
        const h = registerGatedStructure(p.m, p.groups, p.nGroups);
        const head = n - Math.floor(n / 4);
        try {
          const label = `${backend} L=${layers} [${n}, ${d}] head ${head}`;
          const calls = [kernelCounters()[GATED_LAYER_PROPAGATION] ?? 0, kernelCounters()[GATED_LAYER_PROPAGATION_GRAD] ?? 0];
          const fused = gatedValueAndGrads(gatedLoss(p, h, head, true), p, [n, d]);
          assert.deepEqual([kernelCounters()[GATED_LAYER_PROPAGATION], kernelCounters()[GATED_LAYER_PROPAGATION_GRAD]], [calls[0] + 1, calls[1] + 1], `${label}: one kernel each way`);
          const composed = gatedValueAndGrads(gatedLoss(p, h, head, false), p, [n, d]);
          assert.equal(fused.length, layers + 2);
          fused.forEach((v, k) => assert.deepEqual(v, composed[k], `${label}: ${['loss', '∂x', ...p.gates.map((_, l) => `∂ρ_${l + 1}`)][k]}`));
        } finally {
          releaseGatedStructure(h);
        }
      }
    }
  });
}

test('the fused ops leak no tensors, forward and backward, and give the same bits twice', async (t) => {
  if (!nativeFor(t)) return;
  await tf.setBackend('wasm');
  const [n, d, layers] = [120, 8, 2];
  const p = problem(11, n, d, layers);
  const h = registerSparse(p.m);
  const g = registerGatedStructure(p.m, p.groups, p.nGroups);
  try {
    const both = () =>
      tf.tidy(() => {
        const f = (x: tf.Tensor, ...gates: tf.Tensor[]) => {
          const { mean, layers: e } = propagateLayers(h, x as tf.Tensor2D, layers, 0)!;
          const masked = gatedPropagateLayers(g, e[0], gates as tf.Tensor1D[], n)!;
          return tf.addN([dot(mean[1], p.weights[0]), dot(masked[0], p.weights[1]), tf.sum(mean[0]), tf.sum(masked[1])]) as tf.Scalar;
        };
        const { value, grads } = tf.valueAndGrads(f)([tf.tensor2d(p.x, [n, d]), ...p.gates.map((v) => tf.tensor1d(v))]);
        return [value, ...grads].map((v) => Float32Array.from(v.dataSync()));
      });
    const before = tf.memory().numTensors;
    const first = both();
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(both(), first);
  } finally {
    releaseSparse(h);
    releaseGatedStructure(g);
  }
});

test('without the addon both ops answer null; bad gates throw a clear error', async (t) => {
  if (!nativeFor(t)) return;
  await tf.setBackend('wasm');
  const p = problem(12, 30, 4, 2);
  const h = registerSparse(p.m);
  const g = registerGatedStructure(p.m, p.groups, p.nGroups);
  try {
    tf.tidy(() => {
      const x = tf.tensor2d(p.x, [30, 4]);
      const gates = p.gates.map((v) => tf.tensor1d(v));
      assert.throws(() => gatedPropagateLayers(g, x, [tf.zeros([p.nGroups + 1]) as tf.Tensor1D], 3), /gates per layer/);
      assert.throws(() => gatedPropagateLayers(g, x, [], 3), /1 to 8 layers/);
      assert.throws(() => propagateLayers(h, x, 0, 3), /layers must be an integer ≥ 1/);
      assert.throws(() => propagateLayers(h, x, 2, 31), /headRows must be an integer in \[0, 30\]/);
      return gates;
    });
    await configureCompute({ native: false });
    tf.tidy(() => {
      const x = tf.tensor2d(p.x, [30, 4]);
      assert.equal(propagateLayers(h, x, 2, 3), null);
      assert.equal(gatedPropagateLayers(g, x, p.gates.map((v) => tf.tensor1d(v)), 3), null);
    });
  } finally {
    await configureCompute({ native: true });
    releaseSparse(h);
    releaseGatedStructure(g);
  }
});
