import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { csrFromCoo } from '../../src/graph/index.js';
import {
  initBackend,
  kernelCounters,
  registerSparse,
  releaseSparse,
  sharedHeap,
  shutdownCompute,
  spmm,
  spmmReference,
  tf,
} from '../../src/compute/index.js';
import { spmmComposite } from '../../src/compute/kernels/spmm.js';
import { BACKENDS, assertClose, centralDifference, randomCsr, randomFloats, rng } from './helpers.js';

before(async () => {
  await initBackend('wasm');
});

after(async () => {
  await tf.setBackend('wasm');
  await shutdownCompute();
});

/** The values of a tensor computed in a tidy scope; the tensor is disposed. */
function valuesOf(f: () => tf.Tensor): Float32Array {
  const t = tf.tidy(f);
  const v = Float32Array.from(t.dataSync());
  t.dispose();
  return v;
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [5, 7, 3],
  [40, 30, 8],
  [64, 64, 13],
  [120, 90, 64],
  [0, 4, 3],
  [6, 0, 5],
];

for (const backend of BACKENDS) {
  test(`spmm and its transposed form match the dense reference on ${backend} (empty rows, duplicates, binary)`, async () => {
    await tf.setBackend(backend);
    const r = rng(1);
    for (const [nRows, nCols, d] of SHAPES) {
      for (const binary of [false, true]) {
        const m = randomCsr(r, nRows, nCols, 0.15, binary);
        const h = registerSparse(m);
        const x = randomFloats(r, nCols * d);
        const xt = randomFloats(r, nRows * d);
        const label = `${backend} ${nRows}×${nCols} d=${d} binary=${binary}`;
        assertClose(valuesOf(() => spmm(h, tf.tensor2d(x, [nCols, d]))), spmmReference(m, x, d), 1e-5, 1e-5, label);
        const yt = valuesOf(() => spmm(h, tf.tensor2d(xt, [nRows, d]), { transpose: true }));
        assertClose(yt, spmmReference(m, xt, d, true), 1e-5, 1e-5, `${label} transposed`);
        releaseSparse(h);
      }
    }
  });

  test(`a product large enough for the pool matches the reference on ${backend}`, async () => {
    await tf.setBackend(backend);
    const r = rng(2);
    const [nRows, nCols, d] = [1500, 1200, 32];
    const m = randomCsr(r, nRows, nCols, 0.01);
    const h = registerSparse(m);
    const x = randomFloats(r, nCols * d);
    assertClose(valuesOf(() => spmm(h, tf.tensor2d(x, [nCols, d]))), spmmReference(m, x, d), 1e-5, 1e-5, backend);
    releaseSparse(h);
  });

  test(`the gradient of sum(spmm(A, x) ⊙ w) is Aᵀw, and of the transposed product A·w, on ${backend}`, async () => {
    await tf.setBackend(backend);
    const r = rng(3);
    const [nRows, nCols, d] = [23, 17, 6];
    const m = randomCsr(r, nRows, nCols, 0.2);
    const h = registerSparse(m);
    const w = randomFloats(r, nRows * d);
    const x = randomFloats(r, nCols * d);
    const g = valuesOf(() =>
      tf.grad((t: tf.Tensor) => tf.sum(tf.mul(spmm(h, t as tf.Tensor2D), tf.tensor2d(w, [nRows, d]))))(tf.tensor2d(x, [nCols, d])),
    );
    assertClose(g, spmmReference(m, w, d, true), 1e-5, 1e-5, 'Aᵀw');
    const wt = randomFloats(r, nCols * d);
    const gt = valuesOf(() =>
      tf.grad((t: tf.Tensor) => tf.sum(tf.mul(spmm(h, t as tf.Tensor2D, { transpose: true }), tf.tensor2d(wt, [nCols, d]))))(
        tf.tensor2d(w, [nRows, d]),
      ),
    );
    assertClose(gt, spmmReference(m, wt, d), 1e-5, 1e-5, 'A·w');
    releaseSparse(h);
  });

  test(`the gradient matches central finite differences of a nonlinear loss on ${backend}`, async () => {
    await tf.setBackend(backend);
    const r = rng(4);
    const [nRows, nCols, d] = [12, 9, 4];
    const m = randomCsr(r, nRows, nCols, 0.3);
    const h = registerSparse(m);
    const w = randomFloats(r, nRows * d);
    const x = randomFloats(r, nCols * d);
    // L(x) = Σ w ⊙ tanh(A·x)²
    const loss = (t: tf.Tensor): tf.Scalar => tf.sum(tf.mul(tf.square(tf.tanh(spmm(h, t as tf.Tensor2D))), tf.tensor2d(w, [nRows, d])));
    const lossAt = (v: Float32Array): number => valuesOf(() => loss(tf.tensor2d(v, [nCols, d])))[0];
    const g = valuesOf(() => tf.grad(loss)(tf.tensor2d(x, [nCols, d])));
    let checked = 0;
    for (let i = 0; i < x.length; i += 3) {
      const fd = centralDifference(lossAt, x, i, 1e-2);
      assert.ok(Math.abs(g[i] - fd) <= 3e-3 + 1e-2 * Math.abs(fd), `coordinate ${i}: autodiff ${g[i]}, finite difference ${fd}`);
      checked++;
    }
    assert.ok(checked >= 10);
    assert.ok(g.some((v) => Math.abs(v) > 1e-3), 'the gradient is not trivially zero');
    releaseSparse(h);
  });

  test(`the stock-op fallback (for tensorflow) equals the kernel, forward and gradient, on ${backend}`, async () => {
    await tf.setBackend(backend);
    const r = rng(5);
    const [nRows, nCols, d] = [30, 25, 5];
    for (const binary of [false, true]) {
      const m = randomCsr(r, nRows, nCols, 0.2, binary);
      const h = registerSparse(m);
      const x = tf.tensor2d(randomFloats(r, nCols * d), [nCols, d]);
      const w = tf.tensor2d(randomFloats(r, nRows * d), [nRows, d]);
      const viaKernel = (t: tf.Tensor): tf.Scalar => tf.sum(tf.mul(tf.sin(spmm(h, t as tf.Tensor2D)), w));
      const viaStockOps = (t: tf.Tensor): tf.Scalar => tf.sum(tf.mul(tf.sin(spmmComposite(h, t as tf.Tensor2D)), w));
      assertClose(valuesOf(() => spmmComposite(h, x)), valuesOf(() => spmm(h, x)), 1e-5, 1e-6, 'forward');
      assertClose(valuesOf(() => tf.grad(viaStockOps)(x)), valuesOf(() => tf.grad(viaKernel)(x)), 1e-5, 1e-6, 'gradient');
      tf.dispose([x, w]);
      releaseSparse(h);
    }
  });

  test(`forward + gradient leak no tensors and run our kernel twice on ${backend}`, async () => {
    await tf.setBackend(backend);
    const r = rng(6);
    const m = randomCsr(r, 40, 40, 0.1);
    const h = registerSparse(m);
    const x = tf.tensor2d(randomFloats(r, 40 * 8), [40, 8]);
    const before = tf.memory().numTensors;
    const calls = kernelCounters().CamrecSpmm ?? 0;
    tf.tidy(() => {
      tf.grad((t: tf.Tensor) => tf.sum(tf.square(spmm(h, t as tf.Tensor2D))))(x);
    });
    assert.equal(tf.memory().numTensors, before);
    assert.equal(kernelCounters().CamrecSpmm, calls + 2, 'one forward and one backward product');
    x.dispose();
    releaseSparse(h);
  });
}

test('a symmetric registration keeps one copy in the shared heap and gives Aᵀx = Ax', async () => {
  await tf.setBackend('wasm');
  const r = rng(7);
  const n = 50;
  const half = randomCsr(r, n, n, 0.1);
  const rows: number[] = [];
  const cols: number[] = [];
  const vals: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let p = half.indptr[i]; p < half.indptr[i + 1]; p++) {
      rows.push(i, half.indices[p]);
      cols.push(half.indices[p], i);
      vals.push(half.values![p], half.values![p]);
    }
  }
  const m = csrFromCoo(n, n, Int32Array.from(rows), Int32Array.from(cols), Float32Array.from(vals));
  const heap = sharedHeap();
  const start = heap.allocatedBytes;
  const sym = registerSparse(m, { symmetric: true });
  const symBytes = heap.allocatedBytes - start;
  const general = registerSparse(m);
  const generalBytes = heap.allocatedBytes - start - symBytes;
  assert.ok(symBytes < generalBytes, `symmetric ${symBytes} B, general ${generalBytes} B`);
  const x = randomFloats(r, n * 4);
  const expected = spmmReference(m, x, 4);
  assertClose(valuesOf(() => spmm(sym, tf.tensor2d(x, [n, 4]))), expected, 1e-5, 1e-5, 'Ax');
  assertClose(valuesOf(() => spmm(sym, tf.tensor2d(x, [n, 4]), { transpose: true })), expected, 1e-5, 1e-5, 'Aᵀx');
  releaseSparse(sym);
  releaseSparse(general);
  assert.equal(heap.allocatedBytes, start, 'release frees both registrations');
  assert.throws(() => registerSparse(randomCsr(r, 3, 4, 0.5), { symmetric: true }), RangeError);
});

test('registerSparse refuses malformed CSR and spmm refuses released matrices and wrong shapes', async () => {
  await tf.setBackend('wasm');
  const indptr = Int32Array.from([0, 1, 2]);
  assert.throws(() => registerSparse({ nRows: 2, nCols: 2, indptr, indices: Int32Array.from([0, 2]) }), /column 2 at entry 1/);
  assert.throws(() => registerSparse({ nRows: 3, nCols: 2, indptr, indices: Int32Array.from([0, 1]) }), /indptr has 3 entries/);
  assert.throws(() => registerSparse({ nRows: 2, nCols: 2, indptr: Int32Array.from([0, 2, 1]), indices: Int32Array.from([0]) }), RangeError);
  assert.throws(
    () => registerSparse({ nRows: 2, nCols: 2, indptr, indices: Int32Array.from([0, 1]), values: Float32Array.from([1]) }),
    /values has 1 entries/,
  );
  const h = registerSparse({ nRows: 2, nCols: 2, indptr, indices: Int32Array.from([0, 1]) });
  const x = tf.ones([2, 3]) as tf.Tensor2D;
  assert.throws(() => spmm(h, tf.ones([3, 3]) as tf.Tensor2D), /x has 3 rows, the matrix has 2 columns/);
  releaseSparse(h);
  assert.throws(() => spmm(h, x), /not registered/);
  x.dispose();
});
