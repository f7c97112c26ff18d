import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  csrFromRows,
  forEachIsa,
  nativeFor,
  randomBipartiteGraph,
  randomMatrix,
  randomRows,
  spmmReference,
  stream,
  type CsrArrays,
} from './fixtures.js';

interface Case {
  nRows: number;
  nCols: number;
  dim: number;
  weighted: boolean;
}

// dim 1..100 covers every chunk width of both instruction sets and a scalar tail.
const CASES: Case[] = [
  { nRows: 1, nCols: 1, dim: 1, weighted: false },
  { nRows: 9, nCols: 4, dim: 7, weighted: true },
  { nRows: 30, nCols: 50, dim: 8, weighted: false },
  { nRows: 41, nCols: 23, dim: 16, weighted: true },
  { nRows: 64, nCols: 64, dim: 33, weighted: true },
  { nRows: 100, nCols: 80, dim: 64, weighted: false },
  { nRows: 57, nCols: 90, dim: 100, weighted: true },
];

/** A matrix whose every third row is empty; integer weights in [-3, 3] when `intValues`. */
function matrix(seed: number, c: Case, intValues: boolean): CsrArrays {
  const s = stream(seed);
  const rows = randomRows(s, c.nRows, c.nCols, (r) => (r % 3 === 2 ? 0 : s.nextInt(Math.min(c.nCols, 20) + 1)));
  if (!c.weighted) return csrFromRows(rows);
  return csrFromRows(rows, () => (intValues ? s.nextInt(7) - 3 : s.nextNormal()));
}

test('spmm equals the reference on integer data exactly, rows outside [rowStart, rowEnd) untouched', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  forEachIsa(native, (isa) => {
    CASES.forEach((c, i) => {
      const a = matrix(10 + i, c, true);
      const x = randomMatrix(stream(20 + i), c.nCols * c.dim, 4);
      for (const [r0, r1] of [[0, c.nRows], [Math.floor(c.nRows / 3), c.nRows - 1]]) {
        const out = new Float32Array(c.nRows * c.dim).fill(0.5);
        native.spmm(a.indptr, a.indices, a.values, x, c.dim, out, r0, r1);
        const ref = new Float64Array(c.nRows * c.dim).fill(0.5);
        spmmReference(a, x, c.dim, r0, r1, ref);
        assert.deepEqual(Array.from(out), Array.from(ref), `${isa}, ${JSON.stringify(c)}, rows ${r0}..${r1}`);
      }
    });
  });
});

test('spmm on float data is within float32 rounding of the reference', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  forEachIsa(native, (isa) => {
    CASES.forEach((c, i) => {
      const a = matrix(30 + i, c, false);
      const x = randomMatrix(stream(40 + i), c.nCols * c.dim);
      const out = new Float32Array(c.nRows * c.dim);
      native.spmm(a.indptr, a.indices, a.values, x, c.dim, out, 0, c.nRows);
      const ref = new Float64Array(c.nRows * c.dim);
      spmmReference(a, x, c.dim, 0, c.nRows, ref);
      // Each output sums at most 20 products of normal numbers.
      const tol = (j: number) => 2e-4 * (1 + Math.abs(ref[j]));
      out.forEach((v, j) => assert.ok(Math.abs(v - ref[j]) <= tol(j), `${isa}, ${JSON.stringify(c)}, at ${j}`));
    });
  });
});

test('spmmThreaded gives the same bits as spmm for any number of threads', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const s = stream(50);
  const a = randomBipartiteGraph(s, 300, 200, 2000);
  const nodes = 500;
  const dim = 24;
  const x = randomMatrix(s, nodes * dim);
  const one = new Float32Array(nodes * dim);
  native.spmm(a.indptr, a.indices, a.values, x, dim, one, 0, nodes);
  for (const [threads, r0, r1] of [[2, 0, nodes], [3, 0, nodes], [7, 10, 490], [16, 5, 9]]) {
    const out = new Float32Array(nodes * dim);
    const single = new Float32Array(nodes * dim);
    native.spmmThreaded(a.indptr, a.indices, a.values, x, dim, out, r0, r1, threads);
    native.spmm(a.indptr, a.indices, a.values, x, dim, single, r0, r1);
    assert.deepEqual(out, single, `${threads} threads, rows ${r0}..${r1}`);
  }
  const all = new Float32Array(nodes * dim);
  native.spmmThreaded(a.indptr, a.indices, a.values, x, dim, all, 0, nodes, 2);
  assert.deepEqual(all, one);
});

/**
 * A threaded call's parts go to whichever thread takes them first; the caller takes what the helpers have not and
 * does not wait for a helper the scheduler has not run. With more parts than cores, many in a row, helpers start
 * late and the caller runs most parts: every call must still finish with every row written, the same bits each time.
 */
test('spmmThreaded with more threads than cores, many calls in a row, writes every row with the same bits each time', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const s = stream(51);
  const a = randomBipartiteGraph(s, 3000, 2000, 40000);
  const nodes = 5000;
  const dim = 16;
  const x = randomMatrix(s, nodes * dim);
  const one = new Float32Array(nodes * dim);
  native.spmm(a.indptr, a.indices, a.values, x, dim, one, 0, nodes);
  for (let call = 0; call < 200; call++) {
    const out = new Float32Array(nodes * dim).fill(Number.NaN);
    native.spmmThreaded(a.indptr, a.indices, a.values, x, dim, out, 0, nodes, 16);
    assert.deepEqual(out, one, `call ${call}`);
  }
});

test('spmm refuses arguments that would take it outside its arrays', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const a = csrFromRows([[0, 1], [2], []], () => 1);
  const x = new Float32Array(3 * 2);
  const out = new Float32Array(3 * 2);
  type Change = Partial<CsrArrays> & { x?: Float32Array; out?: Float32Array; r0?: number; r1?: number; dim?: number };
  const call = (p: Change) => {
    const values = p.values === undefined ? a.values : p.values;
    native.spmm(p.indptr ?? a.indptr, p.indices ?? a.indices, values, p.x ?? x, p.dim ?? 2, p.out ?? out, p.r0 ?? 0, p.r1 ?? 3);
  };
  assert.doesNotThrow(() => call({}));
  assert.throws(() => call({ indices: Int32Array.of(0, 3, 2) }), RangeError);
  assert.throws(() => call({ indices: Int32Array.of(0, -1, 2) }), RangeError);
  assert.throws(() => call({ indptr: Int32Array.of(0, 2, 1, 3) }), RangeError);
  assert.throws(() => call({ indptr: Int32Array.of(0, 2, 3, 4) }), RangeError);
  assert.throws(() => call({ r1: 4 }), RangeError);
  assert.throws(() => call({ r0: 2, r1: 1 }), RangeError);
  assert.throws(() => call({ out: new Float32Array(5) }), RangeError);
  assert.throws(() => call({ values: Float32Array.of(1, 1) }), RangeError);
  assert.throws(() => call({ dim: 0 }), RangeError);
  assert.throws(() => call({ x: new Float32Array(5) }), RangeError);
  assert.throws(() => call({ out: x }), RangeError);
  assert.throws(() => call({ values: [1, 1, 1] as unknown as Float32Array }), TypeError);
  assert.throws(() => native.spmmThreaded(a.indptr, a.indices, null, x, 2, out, 0, 3, 0), RangeError);
});
