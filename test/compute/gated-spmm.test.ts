import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Csr } from '../../src/graph/index.js';
import {
  configureCompute,
  gatedSddmm,
  gatedSddmmReference,
  gatedSpmm,
  gatedSpmmReference,
  kernelCounters,
  nativeKernels,
  registerGatedStructure,
  releaseGatedStructure,
  tf,
  weightedSpmm,
} from '../../src/compute/index.js';
import { gatedSddmmComposite, gatedSpmmComposite } from '../../src/compute/kernels/gated-spmm.js';
import { BACKENDS, assertClose, randomCsr, randomFloats, rng, useWasmCompute } from './helpers.js';

useWasmCompute();

function valuesOf(f: () => tf.Tensor): Float32Array {
  const t = tf.tidy(f);
  const v = Float32Array.from(t.dataSync());
  t.dispose();
  return v;
}

function gradValues(loss: (...inputs: tf.Tensor[]) => tf.Scalar, inputs: tf.Tensor[]): Float32Array[] {
  return tf.tidy(() => tf.grads(loss)(inputs).map((t) => Float32Array.from(t.dataSync())));
}

/** A random matrix with values and a group for each stored entry; about two entries per group, some groups empty. */
function gatedProblem(seed: number, nRows: number, nCols: number, density: number) {
  const r = rng(seed);
  const m = randomCsr(r, nRows, nCols, density);
  const nnz = m.indices.length;
  const nGroups = Math.max(1, Math.ceil(nnz / 2) + 2);
  const groups = Int32Array.from({ length: nnz }, () => r.nextInt(nGroups));
  return { r, m, nnz, nGroups, groups };
}

/** [nRows, nCols, d, density]: empty rows, d not a multiple of 4, no rows, no columns, no entries, d = 64. */
const SHAPES: [number, number, number, number][] = [
  [1, 1, 1, 1],
  [5, 7, 3, 0.2],
  [40, 30, 8, 0.15],
  [64, 64, 13, 0.15],
  [120, 90, 64, 0.1],
  [0, 4, 3, 0.2],
  [6, 0, 5, 0.2],
  [7, 5, 6, 0],
];

const NATIVE_CHOICES = nativeKernels() ? [true, false] : [false];

for (const native of NATIVE_CHOICES) {
  for (const backend of BACKENDS) {
    const where = `${backend}, native addon ${native ? 'on' : 'off'}`;

    test(`gatedSpmm (both orientations) and gatedSddmm match their float64 references on ${where}`, async () => {
      await configureCompute({ native });
      await tf.setBackend(backend);
      SHAPES.forEach(([nRows, nCols, d, density], k) => {
        const { r, m, nnz, nGroups, groups } = gatedProblem(30 + k, nRows, nCols, density);
        const h = registerGatedStructure(m, groups, nGroups);
        const rho = randomFloats(r, nGroups);
        const x = randomFloats(r, nCols * d);
        const xt = randomFloats(r, nRows * d);
        const label = `${where} ${nRows}×${nCols} d=${d} nnz=${nnz}`;
        assertClose(valuesOf(() => gatedSpmm(h, tf.tensor1d(rho), tf.tensor2d(x, [nCols, d]))), gatedSpmmReference(m, groups, rho, x, d), 1e-5, 1e-5, label);
        const yt = valuesOf(() => gatedSpmm(h, tf.tensor1d(rho), tf.tensor2d(xt, [nRows, d]), { transpose: true }));
        assertClose(yt, gatedSpmmReference(m, groups, rho, xt, d, true), 1e-5, 1e-5, `${label} transposed`);
        const s = valuesOf(() => gatedSddmm(h, tf.tensor2d(xt, [nRows, d]), tf.tensor2d(x, [nCols, d])));
        assertClose(s, gatedSddmmReference(m, groups, nGroups, xt, x, d), 1e-5, 1e-4, `${label} gatedSddmm`);
        releaseGatedStructure(h);
      });
    });

    test(`gatedSpmm equals weightedSpmm with weights â ⊙ ρ[g], forward and gradient in ρ, on ${where}`, async () => {
      await configureCompute({ native });
      await tf.setBackend(backend);
      const { r, m, nGroups, groups } = gatedProblem(40, 60, 60, 0.1);
      const h = registerGatedStructure(m, groups, nGroups);
      const rho = tf.tensor1d(randomFloats(r, nGroups));
      const x = tf.tensor2d(randomFloats(r, 60 * 9), [60, 9]);
      const g = tf.tensor2d(randomFloats(r, 60 * 9), [60, 9]);
      const [base, ids] = [tf.tensor1d(m.values as Float32Array), tf.tensor1d(groups, 'int32')];
      for (const transpose of [false, true]) {
        const gated = (rt: tf.Tensor, xt: tf.Tensor): tf.Scalar => tf.sum(tf.mul(gatedSpmm(h, rt as tf.Tensor1D, xt as tf.Tensor2D, { transpose }), g));
        const composed = (rt: tf.Tensor, xt: tf.Tensor): tf.Scalar =>
          tf.sum(tf.mul(weightedSpmm(h, tf.mul(base, tf.gather(rt, ids)) as tf.Tensor1D, xt as tf.Tensor2D, { transpose }), g));
        const expected = gradValues(composed, [rho, x]);
        const actual = gradValues(gated, [rho, x]);
        assertClose(actual[0], expected[0], 1e-5, 1e-5, `transpose=${transpose} ∂L/∂ρ`);
        assertClose(actual[1], expected[1], 1e-5, 1e-6, `transpose=${transpose} ∂L/∂x`);
      }
      tf.dispose([rho, x, g, base, ids]);
      releaseGatedStructure(h);
    });
  }
}

for (const backend of BACKENDS) {
  test(`the gradients of gatedSpmm and gatedSddmm equal their closed forms on ${backend}`, async () => {
    await tf.setBackend(backend);
    const [nRows, nCols, d] = [23, 17, 6];
    const { r, m, nGroups, groups } = gatedProblem(50, nRows, nCols, 0.25);
    const h = registerGatedStructure(m, groups, nGroups);
    const rho = randomFloats(r, nGroups);
    for (const transpose of [false, true]) {
      const [inner, outer] = transpose ? [nRows, nCols] : [nCols, nRows];
      const x = randomFloats(r, inner * d);
      const g = randomFloats(r, outer * d);
      const loss = (rt: tf.Tensor, xt: tf.Tensor): tf.Scalar =>
        tf.sum(tf.mul(gatedSpmm(h, rt as tf.Tensor1D, xt as tf.Tensor2D, { transpose }), tf.tensor2d(g, [outer, d])));
      const [dRho, dx] = gradValues(loss, [tf.tensor1d(rho), tf.tensor2d(x, [inner, d])]);
      const expected = transpose ? gatedSddmmReference(m, groups, nGroups, x, g, d) : gatedSddmmReference(m, groups, nGroups, g, x, d);
      assertClose(dRho, expected, 1e-5, 1e-5, `∂L/∂ρ transpose=${transpose}`);
      assertClose(dx, gatedSpmmReference(m, groups, rho, g, d, !transpose), 1e-5, 1e-5, `∂L/∂x transpose=${transpose}`);
    }
    const a = randomFloats(r, nRows * d);
    const b = randomFloats(r, nCols * d);
    const G = randomFloats(r, nGroups);
    const loss = (at: tf.Tensor, bt: tf.Tensor): tf.Scalar => tf.sum(tf.mul(gatedSddmm(h, at as tf.Tensor2D, bt as tf.Tensor2D), tf.tensor1d(G)));
    const [da, db] = gradValues(loss, [tf.tensor2d(a, [nRows, d]), tf.tensor2d(b, [nCols, d])]);
    assertClose(da, gatedSpmmReference(m, groups, G, b, d), 1e-5, 1e-5, 'gatedSddmm ∂L/∂a');
    assertClose(db, gatedSpmmReference(m, groups, G, a, d, true), 1e-5, 1e-5, 'gatedSddmm ∂L/∂b');
    releaseGatedStructure(h);
  });

  test(`the stock-op fallbacks (for tensorflow) equal the kernels, forward and gradients, on ${backend}`, async () => {
    await tf.setBackend(backend);
    const { r, m, nGroups, groups } = gatedProblem(60, 30, 25, 0.2);
    const d = 5;
    const h = registerGatedStructure(m, groups, nGroups);
    const rho = tf.tensor1d(randomFloats(r, nGroups));
    const a = tf.tensor2d(randomFloats(r, 30 * d), [30, d]);
    const b = tf.tensor2d(randomFloats(r, 25 * d), [25, d]);
    for (const transpose of [false, true]) {
      const [x, outer] = transpose ? [a, b] : [b, a];
      const via = (f: typeof gatedSpmm) => (rt: tf.Tensor, xt: tf.Tensor): tf.Scalar =>
        tf.sum(tf.mul(tf.sin(f(h, rt as tf.Tensor1D, xt as tf.Tensor2D, { transpose })), outer));
      const composite: typeof gatedSpmm = (hh, rt, xt, o) => gatedSpmmComposite(hh as typeof h, rt, xt, o?.transpose);
      assertClose(valuesOf(() => gatedSpmmComposite(h, rho, x, transpose)), valuesOf(() => gatedSpmm(h, rho, x, { transpose })), 1e-5, 1e-6);
      const [expected, actual] = [gradValues(via(gatedSpmm), [rho, x]), gradValues(via(composite), [rho, x])];
      assertClose(actual[0], expected[0], 1e-5, 1e-5, `transpose=${transpose} ∂L/∂ρ`);
      assertClose(actual[1], expected[1], 1e-5, 1e-6, `transpose=${transpose} ∂L/∂x`);
    }
    assertClose(valuesOf(() => gatedSddmmComposite(h, a, b)), valuesOf(() => gatedSddmm(h, a, b)), 1e-5, 1e-5, 'gatedSddmm');
    tf.dispose([rho, a, b]);
    releaseGatedStructure(h);
  });

  test(`forward + both gradients leak no tensors, run each kernel once and give the same bits twice on ${backend}`, async () => {
    await tf.setBackend(backend);
    const { r, m, nGroups, groups } = gatedProblem(70, 40, 35, 0.1);
    const h = registerGatedStructure(m, groups, nGroups);
    const rho = tf.tensor1d(randomFloats(r, nGroups));
    const x = tf.tensor2d(randomFloats(r, 35 * 8), [35, 8]);
    const counts = () => [kernelCounters().CamrecGatedSpmm ?? 0, kernelCounters().CamrecGatedSddmm ?? 0];
    const loss = (rt: tf.Tensor, xt: tf.Tensor): tf.Scalar => tf.sum(tf.square(gatedSpmm(h, rt as tf.Tensor1D, xt as tf.Tensor2D)));
    const before = tf.memory().numTensors;
    const [spmmCalls, sddmmCalls] = counts();
    const first = gradValues(loss, [rho, x]);
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(counts(), [spmmCalls + 2, sddmmCalls + 1], 'forward and transposed products, one gated SDDMM');
    assert.deepEqual(gradValues(loss, [rho, x]), first);
    tf.dispose([rho, x]);
    releaseGatedStructure(h);
  });
}

/** L(ρ, x) = Σ G ⊙ tanh(A_ρ·tanh(A_ρ·x)) in float64: two layers over one gated graph, as CaMRec's masked propagation. */
function lossReference(m: Csr, groups: Int32Array, g: Float32Array, d: number, rho: ArrayLike<number>, x: ArrayLike<number>): number {
  const hidden = gatedSpmmReference(m, groups, rho, x, d).map(Math.tanh);
  const y = gatedSpmmReference(m, groups, rho, hidden, d);
  let sum = 0;
  for (let i = 0; i < y.length; i++) sum += g[i] * Math.tanh(y[i]);
  return sum;
}

function centralDifference64(f: (v: Float64Array) => number, v: ArrayLike<number>, i: number, step: number): number {
  const plus = Float64Array.from(v);
  const minus = Float64Array.from(v);
  plus[i] += step;
  minus[i] -= step;
  return (f(plus) - f(minus)) / (2 * step);
}

test('both gradients of a two-layer gated propagation match central differences of the float64 reference', async () => {
  for (const backend of BACKENDS) {
    await tf.setBackend(backend);
    const n = 12;
    const d = 5;
    const { r, m, nGroups, groups } = gatedProblem(80, n, n, 0.3);
    const h = registerGatedStructure(m, groups, nGroups);
    const rho = Float32Array.from(randomFloats(r, nGroups), (v) => 0.5 + 0.5 * v); // gates in (0, 1)
    const x = randomFloats(r, n * d);
    const g = randomFloats(r, n * d);
    const loss = (rt: tf.Tensor, xt: tf.Tensor): tf.Scalar => {
      const hidden = tf.tanh(gatedSpmm(h, rt as tf.Tensor1D, xt as tf.Tensor2D));
      return tf.sum(tf.mul(tf.tanh(gatedSpmm(h, rt as tf.Tensor1D, hidden)), tf.tensor2d(g, [n, d])));
    };
    const [dRho, dx] = gradValues(loss, [tf.tensor1d(rho), tf.tensor2d(x, [n, d])]);
    const fdRho = Array.from(rho, (_, i) => centralDifference64((v) => lossReference(m, groups, g, d, v, x), rho, i, 1e-4));
    const fdX = Array.from(x, (_, i) => centralDifference64((v) => lossReference(m, groups, g, d, rho, v), x, i, 1e-4));
    assertClose(dRho, fdRho, 1e-3, 1e-4, `${backend} ∂L/∂ρ`);
    assertClose(dx, fdX, 1e-3, 1e-4, `${backend} ∂L/∂x`);
    assert.ok(dRho.filter((v) => Math.abs(v) > 1e-3).length >= 5, 'the gradient in ρ is not trivially zero');
    releaseGatedStructure(h);
  }
});

test('registerGatedStructure refuses bad groups and a matrix without values; released structures throw', async () => {
  await tf.setBackend('wasm');
  const { m, nnz, nGroups, groups } = gatedProblem(90, 10, 10, 0.3);
  assert.throws(() => registerGatedStructure({ ...m, values: undefined }, groups, nGroups), RangeError);
  assert.throws(() => registerGatedStructure(m, groups.subarray(1), nGroups), RangeError);
  assert.throws(() => registerGatedStructure(m, Int32Array.from(groups, (v, p) => (p === 0 ? nGroups : v)), nGroups), RangeError);
  assert.throws(() => registerGatedStructure(m, Int32Array.from(groups, (v, p) => (p === 0 ? -1 : v)), nGroups), RangeError);
  const h = registerGatedStructure(m, groups, nGroups);
  const x = tf.tensor2d(new Float32Array(10 * 3), [10, 3]);
  assert.throws(() => gatedSpmm(h, tf.zeros([nGroups + 1]) as tf.Tensor1D, x), RangeError);
  assert.throws(() => gatedSpmm(h, tf.zeros([nGroups]) as tf.Tensor1D, tf.zeros([9, 3]) as tf.Tensor2D), RangeError);
  releaseGatedStructure(h);
  releaseGatedStructure(h);
  assert.throws(() => gatedSpmm(h, tf.zeros([nGroups]) as tf.Tensor1D, x), /not registered/);
  assert.ok(nnz > 0);
  x.dispose();
});
