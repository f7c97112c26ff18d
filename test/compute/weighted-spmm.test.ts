import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Csr } from '../../src/graph/index.js';
import {
  SharedHeap,
  configureCompute,
  kernelCounters,
  nativeKernels,
  registerSparseStructure,
  releaseSparseStructure,
  sddmm,
  sddmmReference,
  sharedHeap,
  tf,
  weightedSpmm,
  weightedSpmmReference,
} from '../../src/compute/index.js';
import { rowKernels, simdSupported } from '../../src/compute/kernels/row-kernels.js';
import { sddmmComposite, transposeWithPerm, weightedSpmmComposite } from '../../src/compute/kernels/weighted-spmm.js';
import { BACKENDS, assertClose, randomCsr, randomFloats, rng, useWasmCompute } from './helpers.js';

useWasmCompute();

/** The values of a tensor computed in a tidy scope; the tensor is disposed. */
function valuesOf(f: () => tf.Tensor): Float32Array {
  const t = tf.tidy(f);
  const v = Float32Array.from(t.dataSync());
  t.dispose();
  return v;
}

/** The gradients of a scalar loss in each input, as arrays; every tensor made on the way is disposed. */
function gradValues(loss: (...inputs: tf.Tensor[]) => tf.Scalar, inputs: tf.Tensor[]): Float32Array[] {
  return tf.tidy(() => tf.grads(loss)(inputs).map((t) => Float32Array.from(t.dataSync())));
}

/** [nRows, nCols, d, density]: empty rows (every third), d not a multiple of 4, no rows, no columns, no entries. */
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

/** The native addon when built, and the wasm row kernels: the weighted product takes one or the other. */
const NATIVE_CHOICES = nativeKernels() ? [true, false] : [false];

for (const native of NATIVE_CHOICES) {
  for (const backend of BACKENDS) {
    const where = `${backend}, native addon ${native ? 'on' : 'off'}`;

    test(`weightedSpmm (both orientations) and sddmm match their references on ${where}`, async () => {
      await configureCompute({ native });
      await tf.setBackend(backend);
      const r = rng(11);
      for (const [nRows, nCols, d, density] of SHAPES) {
        const m = randomCsr(r, nRows, nCols, density);
        const h = registerSparseStructure(m);
        const w = randomFloats(r, h.nnz);
        const x = randomFloats(r, nCols * d);
        const xt = randomFloats(r, nRows * d);
        const label = `${where} ${nRows}×${nCols} d=${d} nnz=${h.nnz}`;
        const y = valuesOf(() => weightedSpmm(h, tf.tensor1d(w), tf.tensor2d(x, [nCols, d])));
        assertClose(y, weightedSpmmReference(m, w, x, d), 1e-5, 1e-5, label);
        const yt = valuesOf(() => weightedSpmm(h, tf.tensor1d(w), tf.tensor2d(xt, [nRows, d]), { transpose: true }));
        assertClose(yt, weightedSpmmReference(m, w, xt, d, true), 1e-5, 1e-5, `${label} transposed`);
        const s = valuesOf(() => sddmm(h, tf.tensor2d(xt, [nRows, d]), tf.tensor2d(x, [nCols, d])));
        assertClose(s, sddmmReference(m, xt, x, d), 1e-5, 1e-5, `${label} sddmm`);
        releaseSparseStructure(h);
      }
    });

    test(`products large enough for the pool match the references on ${where}`, async () => {
      await configureCompute({ native });
      await tf.setBackend(backend);
      const r = rng(12);
      const [nRows, nCols, d] = [1500, 1200, 33];
      const m = randomCsr(r, nRows, nCols, 0.01);
      const h = registerSparseStructure(m);
      const w = randomFloats(r, h.nnz);
      const x = randomFloats(r, nCols * d);
      const xt = randomFloats(r, nRows * d);
      const y = valuesOf(() => weightedSpmm(h, tf.tensor1d(w), tf.tensor2d(x, [nCols, d])));
      assertClose(y, weightedSpmmReference(m, w, x, d), 1e-5, 1e-5, 'A_w·x');
      const yt = valuesOf(() => weightedSpmm(h, tf.tensor1d(w), tf.tensor2d(xt, [nRows, d]), { transpose: true }));
      assertClose(yt, weightedSpmmReference(m, w, xt, d, true), 1e-5, 1e-5, 'A_wᵀ·x');
      const s = valuesOf(() => sddmm(h, tf.tensor2d(xt, [nRows, d]), tf.tensor2d(x, [nCols, d])));
      assertClose(s, sddmmReference(m, xt, x, d), 1e-5, 1e-5, 'sddmm');
      releaseSparseStructure(h);
    });
  }
}

for (const backend of BACKENDS) {
  test(`the gradients of Σ G ⊙ weightedSpmm equal their closed forms in both orientations on ${backend}`, async () => {
    await tf.setBackend(backend);
    const r = rng(13);
    const [nRows, nCols, d] = [23, 17, 6];
    const m = randomCsr(r, nRows, nCols, 0.25);
    const h = registerSparseStructure(m);
    const w = randomFloats(r, h.nnz);
    for (const transpose of [false, true]) {
      const [inner, outer] = transpose ? [nRows, nCols] : [nCols, nRows];
      const x = randomFloats(r, inner * d);
      const g = randomFloats(r, outer * d);
      const loss = (wt: tf.Tensor, xt: tf.Tensor): tf.Scalar =>
        tf.sum(tf.mul(weightedSpmm(h, wt as tf.Tensor1D, xt as tf.Tensor2D, { transpose }), tf.tensor2d(g, [outer, d])));
      const grads = gradValues(loss, [tf.tensor1d(w), tf.tensor2d(x, [inner, d])]);
      // ∂L/∂w[p] = ⟨G[row p], x[col p]⟩ (transposed: ⟨x[row p], G[col p]⟩); ∂L/∂x = A_wᵀ·G (transposed: A_w·G).
      const dw = transpose ? sddmmReference(m, x, g, d) : sddmmReference(m, g, x, d);
      assertClose(grads[0], dw, 1e-5, 1e-5, `∂L/∂w transpose=${transpose}`);
      assertClose(grads[1], weightedSpmmReference(m, w, g, d, !transpose), 1e-5, 1e-5, `∂L/∂x transpose=${transpose}`);
    }
    releaseSparseStructure(h);
  });

  test(`the gradients of Σ g ⊙ sddmm(a, b) are A_g·b and A_gᵀ·a on ${backend}`, async () => {
    await tf.setBackend(backend);
    const r = rng(14);
    const [nRows, nCols, d] = [19, 21, 5];
    const m = randomCsr(r, nRows, nCols, 0.25);
    const h = registerSparseStructure(m);
    const a = randomFloats(r, nRows * d);
    const b = randomFloats(r, nCols * d);
    const g = randomFloats(r, h.nnz);
    const loss = (at: tf.Tensor, bt: tf.Tensor): tf.Scalar => tf.sum(tf.mul(sddmm(h, at as tf.Tensor2D, bt as tf.Tensor2D), tf.tensor1d(g)));
    const grads = gradValues(loss, [tf.tensor2d(a, [nRows, d]), tf.tensor2d(b, [nCols, d])]);
    assertClose(grads[0], weightedSpmmReference(m, g, b, d), 1e-5, 1e-5, '∂L/∂a');
    assertClose(grads[1], weightedSpmmReference(m, g, a, d, true), 1e-5, 1e-5, '∂L/∂b');
    releaseSparseStructure(h);
  });
}

/**
 * L(w, x) = Σ G ⊙ tanh(A_wᵀ·tanh(A_w·x)): two propagations over one masked graph, as CaMRec's layers use the
 * same mask in both directions, so w enters twice and both orientations' gradients are exercised.
 */
function lossReference(m: Csr, g: Float32Array, d: number, w: ArrayLike<number>, x: ArrayLike<number>): number {
  const hidden = weightedSpmmReference(m, w, x, d).map(Math.tanh);
  const y = weightedSpmmReference(m, w, hidden, d, true);
  let sum = 0;
  for (let i = 0; i < y.length; i++) sum += g[i] * Math.tanh(y[i]);
  return sum;
}

/** Central difference of f along coordinate i, in float64 throughout (no float32 rounding of the step). */
function centralDifference64(f: (v: Float64Array) => number, v: ArrayLike<number>, i: number, step: number): number {
  const plus = Float64Array.from(v);
  const minus = Float64Array.from(v);
  plus[i] += step;
  minus[i] -= step;
  return (f(plus) - f(minus)) / (2 * step);
}

test('both gradients of a two-layer masked propagation match central differences of the float64 reference', async () => {
  for (const backend of BACKENDS) {
    await tf.setBackend(backend);
    const r = rng(15);
    const [nRows, nCols, d] = [9, 11, 5];
    const m = randomCsr(r, nRows, nCols, 0.3);
    const h = registerSparseStructure(m);
    const w = Float32Array.from(randomFloats(r, h.nnz), (v) => 0.5 + 0.5 * v); // mask values in (0, 1)
    const x = randomFloats(r, nCols * d);
    const g = randomFloats(r, nCols * d);
    const loss = (wt: tf.Tensor, xt: tf.Tensor): tf.Scalar => {
      const hidden = tf.tanh(weightedSpmm(h, wt as tf.Tensor1D, xt as tf.Tensor2D));
      return tf.sum(tf.mul(tf.tanh(weightedSpmm(h, wt as tf.Tensor1D, hidden, { transpose: true })), tf.tensor2d(g, [nCols, d])));
    };
    const [dw, dx] = gradValues(loss, [tf.tensor1d(w), tf.tensor2d(x, [nCols, d])]);
    // Float64 differences with step 1e-4 are exact to ~1e-8; the kernel works in float32 (relative rounding ~1e-7
    // per operation over sums of a few dozen terms), hence 1e-4 + 1e-3 relative.
    const fdW = Array.from(w, (_, i) => centralDifference64((v) => lossReference(m, g, d, v, x), w, i, 1e-4));
    const fdX = Array.from(x, (_, i) => centralDifference64((v) => lossReference(m, g, d, w, v), x, i, 1e-4));
    assertClose(dw, fdW, 1e-3, 1e-4, `${backend} ∂L/∂w`);
    assertClose(dx, fdX, 1e-3, 1e-4, `${backend} ∂L/∂x`);
    assert.ok(h.nnz >= 10 && dw.filter((v) => Math.abs(v) > 1e-3).length >= 5, 'the gradient in w is not trivially zero');
    releaseSparseStructure(h);
  }
});

for (const backend of BACKENDS) {
  test(`the stock-op fallbacks (for tensorflow) equal the kernels, forward and both gradients, on ${backend}`, async () => {
    await tf.setBackend(backend);
    const r = rng(16);
    const [nRows, nCols, d] = [30, 25, 5];
    const m = randomCsr(r, nRows, nCols, 0.2);
    const h = registerSparseStructure(m);
    const w = tf.tensor1d(randomFloats(r, h.nnz));
    const a = tf.tensor2d(randomFloats(r, nRows * d), [nRows, d]);
    const b = tf.tensor2d(randomFloats(r, nCols * d), [nCols, d]);
    for (const transpose of [false, true]) {
      const x = transpose ? a : b;
      const outer = transpose ? b : a;
      const viaKernel = (wt: tf.Tensor, xt: tf.Tensor): tf.Scalar =>
        tf.sum(tf.mul(tf.sin(weightedSpmm(h, wt as tf.Tensor1D, xt as tf.Tensor2D, { transpose })), outer));
      const viaStockOps = (wt: tf.Tensor, xt: tf.Tensor): tf.Scalar =>
        tf.sum(tf.mul(tf.sin(weightedSpmmComposite(h, wt as tf.Tensor1D, xt as tf.Tensor2D, transpose)), outer));
      const label = `transpose=${transpose}`;
      const forward = valuesOf(() => weightedSpmmComposite(h, w, x, transpose));
      assertClose(forward, valuesOf(() => weightedSpmm(h, w, x, { transpose })), 1e-5, 1e-6, label);
      const expected = gradValues(viaKernel, [w, x]);
      const actual = gradValues(viaStockOps, [w, x]);
      assertClose(actual[0], expected[0], 1e-5, 1e-6, `${label} ∂L/∂w`);
      assertClose(actual[1], expected[1], 1e-5, 1e-6, `${label} ∂L/∂x`);
    }
    const e = tf.tensor1d(randomFloats(r, h.nnz));
    const sddmmKernel = (at: tf.Tensor, bt: tf.Tensor): tf.Scalar => tf.sum(tf.mul(tf.sin(sddmm(h, at as tf.Tensor2D, bt as tf.Tensor2D)), e));
    const sddmmStock = (at: tf.Tensor, bt: tf.Tensor): tf.Scalar =>
      tf.sum(tf.mul(tf.sin(sddmmComposite(h, at as tf.Tensor2D, bt as tf.Tensor2D)), e));
    assertClose(valuesOf(() => sddmmComposite(h, a, b)), valuesOf(() => sddmm(h, a, b)), 1e-5, 1e-6, 'sddmm');
    const expected = gradValues(sddmmKernel, [a, b]);
    const actual = gradValues(sddmmStock, [a, b]);
    assertClose(actual[0], expected[0], 1e-5, 1e-6, 'sddmm ∂L/∂a');
    assertClose(actual[1], expected[1], 1e-5, 1e-6, 'sddmm ∂L/∂b');
    tf.dispose([w, a, b, e]);
    releaseSparseStructure(h);
  });

  test(`forward + both gradients leak no tensors and run each kernel once on ${backend}`, async () => {
    await tf.setBackend(backend);
    const r = rng(17);
    const m = randomCsr(r, 40, 35, 0.1);
    const h = registerSparseStructure(m);
    const w = tf.tensor1d(randomFloats(r, h.nnz));
    const x = tf.tensor2d(randomFloats(r, 35 * 8), [35, 8]);
    const before = tf.memory().numTensors;
    const counts = () => [kernelCounters().CamrecWeightedSpmm ?? 0, kernelCounters().CamrecSddmm ?? 0];
    const [spmmCalls, sddmmCalls] = counts();
    tf.tidy(() => {
      tf.grads((wt: tf.Tensor, xt: tf.Tensor) => tf.sum(tf.square(weightedSpmm(h, wt as tf.Tensor1D, xt as tf.Tensor2D))))([w, x]);
    });
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(counts(), [spmmCalls + 2, sddmmCalls + 1], 'forward and transposed products, one SDDMM');
    tf.dispose([w, x]);
    releaseSparseStructure(h);
  });
}

test('the SIMD and TypeScript sddmm row kernels both equal the reference, over any row split', () => {
  const heap = new SharedHeap();
  const r = rng(18);
  for (const [nRows, nCols, d] of [[50, 40, 1], [50, 40, 4], [60, 30, 13], [20, 20, 64]] as const) {
    const m = randomCsr(r, nRows, nCols, 0.2);
    const a = randomFloats(r, nRows * d);
    const b = randomFloats(r, nCols * d);
    const nnz = m.indices.length;
    const args = [heap.put(m.indptr), heap.put(m.indices), heap.put(a), heap.put(b), heap.alloc(nnz * 4), d];
    const expected = sddmmReference(m, a, b, d);
    for (const simd of simdSupported() ? [true, false] : [false]) {
      heap.f32(args[4], nnz).fill(Number.NaN);
      const kernel = rowKernels(heap.memory, simd).sddmm;
      kernel(args, 0, 17);
      kernel(args, 17, nRows);
      assertClose(heap.f32(args[4], nnz), expected, 1e-5, 1e-5, `simd=${simd} ${nRows}×${nCols} d=${d}`);
    }
    for (const ptr of args.slice(0, 5)) heap.release(ptr);
  }
});

test('transposeWithPerm: transposed entry q is original entry perm[q], rows and columns swapped, rows sorted', () => {
  const m = randomCsr(rng(19), 30, 20, 0.2);
  const rowOf = (c: Csr, p: number): number => {
    let row = 0;
    while (c.indptr[row + 1] <= p) row++;
    return row;
  };
  const { at, perm } = transposeWithPerm(m);
  assert.deepEqual([...perm].sort((u, v) => u - v), Array.from(perm, (_, i) => i), 'perm is a permutation');
  for (let q = 0; q < perm.length; q++) {
    assert.equal(at.indices[q], rowOf(m, perm[q]), `row of entry ${perm[q]}`);
    assert.equal(rowOf(at, q), m.indices[perm[q]], `column of entry ${perm[q]}`);
    if (q > at.indptr[rowOf(at, q)]) assert.ok(at.indices[q] >= at.indices[q - 1], 'sorted within a row');
  }
});

test('the structure ignores stored values, and release frees all its heap and makes later calls throw', async () => {
  await tf.setBackend('wasm');
  const r = rng(20);
  const m = randomCsr(r, 25, 20, 0.2);
  const heap = sharedHeap();
  const start = heap.allocatedBytes;
  const withValues = registerSparseStructure(m);
  const pattern = registerSparseStructure({ ...m, values: undefined });
  const w = tf.tensor1d(randomFloats(r, withValues.nnz));
  const x = tf.tensor2d(randomFloats(r, 20 * 3), [20, 3]);
  assert.deepEqual(valuesOf(() => weightedSpmm(withValues, w, x)), valuesOf(() => weightedSpmm(pattern, w, x)));
  releaseSparseStructure(withValues);
  releaseSparseStructure(pattern);
  releaseSparseStructure(pattern);
  assert.equal(heap.allocatedBytes, start, 'release frees the pattern, its transpose, perm and the weight buffers');
  assert.throws(() => weightedSpmm(pattern, w, x), /sparse structure \d+ is not registered/);
  assert.throws(() => sddmm(pattern, tf.zeros([25, 3]), x), /sparse structure \d+ is not registered/);
  tf.dispose([w, x]);
});

test('bad inputs give clear errors', async () => {
  await tf.setBackend('wasm');
  const indptr = Int32Array.from([0, 1, 3]);
  assert.throws(
    () => registerSparseStructure({ nRows: 2, nCols: 2, indptr, indices: Int32Array.from([0, 1, 2]) }),
    /registerSparseStructure: column 2 at entry 2/,
  );
  assert.throws(() => registerSparseStructure({ nRows: 3, nCols: 2, indptr, indices: Int32Array.from([0, 1, 1]) }), /indptr has 3 entries/);
  const h = registerSparseStructure({ nRows: 2, nCols: 3, indptr, indices: Int32Array.from([0, 1, 2]) });
  const x = tf.ones([3, 4]) as tf.Tensor2D;
  const w = tf.ones([3]) as tf.Tensor1D;
  for (const backend of BACKENDS) {
    await tf.setBackend(backend);
    tf.tidy(() => {
    assert.throws(() => weightedSpmm(h, tf.ones([2]) as tf.Tensor1D, x), /w has 2 entries, the structure stores 3/);
    assert.throws(() => weightedSpmm(h, w, tf.ones([2, 4]) as tf.Tensor2D), /x has 2 rows, the structure has 3 columns/);
    assert.throws(() => weightedSpmm(h, w, x, { transpose: true }), /x has 3 rows, the structure has 2 rows \(transposed product\)/);
    assert.throws(() => weightedSpmm(h, tf.ones([3], 'int32') as tf.Tensor1D, x), /w must be a float32 tensor of rank 1/);
    assert.throws(() => weightedSpmm(h, tf.ones([3, 1]) as unknown as tf.Tensor1D, x), /w must be a float32 tensor of rank 1/);
    assert.throws(() => sddmm(h, tf.ones([2, 3]) as tf.Tensor2D, x), /a and b differ in width \(3 and 4\)/);
    assert.throws(() => sddmm(h, tf.ones([3, 4]) as tf.Tensor2D, x), /a has 3 rows, the structure has 2 rows/);
    assert.throws(() => sddmm(h, tf.ones([2, 4]) as tf.Tensor2D, tf.ones([2, 4]) as tf.Tensor2D), /b has 2 rows, the structure has 3 columns/);
    });
  }
  tf.dispose([x, w]);
  releaseSparseStructure(h);
});
