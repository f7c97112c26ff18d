import assert from 'node:assert/strict';
import { test } from 'node:test';
import { csrFromRows, forEachIsa, nativeFor, randomMatrix, randomRows, stream, type CsrArrays } from './fixtures.js';

// dim 1..100 covers every chunk width of both instruction sets, chunks summed into one entry, and a scalar tail.
const CASES = [
  { nRows: 1, nCols: 1, dim: 1 },
  { nRows: 9, nCols: 4, dim: 7 },
  { nRows: 30, nCols: 50, dim: 8 },
  { nRows: 41, nCols: 23, dim: 16 },
  { nRows: 64, nCols: 64, dim: 33 },
  { nRows: 100, nCols: 80, dim: 64 },
  { nRows: 57, nCols: 90, dim: 100 },
  { nRows: 20, nCols: 30, dim: 131 },
];

/** A pattern whose every third row is empty. */
function pattern(seed: number, c: (typeof CASES)[number]): CsrArrays {
  const s = stream(seed);
  return csrFromRows(randomRows(s, c.nRows, c.nCols, (r) => (r % 3 === 2 ? 0 : s.nextInt(Math.min(c.nCols, 20) + 1))));
}

/** out[p] = Σ_t a[r, t]·b[col(p), t] in float64, for the entries of rows [r0, r1). */
function sddmmReference(m: CsrArrays, a: Float32Array, b: Float32Array, dim: number, r0: number, r1: number, out: Float64Array): void {
  for (let r = r0; r < r1; r++) {
    for (let p = m.indptr[r]; p < m.indptr[r + 1]; p++) {
      let sum = 0;
      for (let t = 0; t < dim; t++) sum += a[r * dim + t] * b[m.indices[p] * dim + t];
      out[p] = sum;
    }
  }
}

test('sddmm equals the reference on integer data exactly, entries outside [rowStart, rowEnd) untouched', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  forEachIsa(native, (isa) => {
    CASES.forEach((c, i) => {
      const m = pattern(60 + i, c);
      const a = randomMatrix(stream(70 + i), c.nRows * c.dim, 4);
      const b = randomMatrix(stream(80 + i), c.nCols * c.dim, 4);
      for (const [r0, r1] of [[0, c.nRows], [Math.floor(c.nRows / 3), c.nRows - 1]]) {
        const out = new Float32Array(m.indices.length).fill(0.5);
        native.sddmm(m.indptr, m.indices, a, b, c.dim, out, r0, r1, 1);
        const ref = new Float64Array(m.indices.length).fill(0.5);
        sddmmReference(m, a, b, c.dim, r0, r1, ref);
        assert.deepEqual(Array.from(out), Array.from(ref), `${isa}, ${JSON.stringify(c)}, rows ${r0}..${r1}`);
      }
    });
  });
});

test('sddmm on float data is within float32 rounding of the reference, the same bits on any number of threads', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  forEachIsa(native, (isa) => {
    CASES.forEach((c, i) => {
      const m = pattern(90 + i, c);
      const a = randomMatrix(stream(100 + i), c.nRows * c.dim);
      const b = randomMatrix(stream(110 + i), c.nCols * c.dim);
      const one = new Float32Array(m.indices.length);
      native.sddmm(m.indptr, m.indices, a, b, c.dim, one, 0, c.nRows, 1);
      const ref = new Float64Array(m.indices.length);
      sddmmReference(m, a, b, c.dim, 0, c.nRows, ref);
      // Each entry sums dim ≤ 131 products of normal numbers.
      one.forEach((v, p) => assert.ok(Math.abs(v - ref[p]) <= 1e-4 * (Math.sqrt(c.dim) + Math.abs(ref[p])), `${isa}, ${JSON.stringify(c)}, at ${p}`));
      for (const threads of [2, 3, 16]) {
        const out = new Float32Array(m.indices.length);
        native.sddmm(m.indptr, m.indices, a, b, c.dim, out, 0, c.nRows, threads);
        assert.deepEqual(out, one, `${isa}, ${JSON.stringify(c)}, ${threads} threads`);
      }
    });
  });
});

test('sddmm refuses arguments that would take it outside its arrays', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const m = csrFromRows([[0, 1], [2], []]);
  const a = new Float32Array(3 * 2);
  const b = new Float32Array(3 * 2);
  const out = new Float32Array(3);
  type Change = Partial<CsrArrays> & { a?: Float32Array; b?: Float32Array; out?: Float32Array; r0?: number; r1?: number; dim?: number; threads?: number };
  const call = (p: Change) =>
    native.sddmm(p.indptr ?? m.indptr, p.indices ?? m.indices, p.a ?? a, p.b ?? b, p.dim ?? 2, p.out ?? out, p.r0 ?? 0, p.r1 ?? 3, p.threads ?? 1);
  assert.doesNotThrow(() => call({}));
  assert.throws(() => call({ indices: Int32Array.of(0, 3, 2) }), RangeError);
  assert.throws(() => call({ indices: Int32Array.of(0, -1, 2) }), RangeError);
  assert.throws(() => call({ indptr: Int32Array.of(0, 2, 1, 3) }), RangeError);
  assert.throws(() => call({ indptr: Int32Array.of(0, 2, 3, 4) }), RangeError);
  assert.throws(() => call({ r1: 4 }), RangeError);
  assert.throws(() => call({ r0: 2, r1: 1 }), RangeError);
  assert.throws(() => call({ a: new Float32Array(5) }), RangeError);
  assert.throws(() => call({ b: new Float32Array(5) }), RangeError);
  assert.throws(() => call({ out: new Float32Array(2) }), RangeError);
  assert.throws(() => call({ dim: 0 }), RangeError);
  assert.throws(() => call({ threads: 0 }), RangeError);
  assert.throws(() => call({ out: a.subarray(0, 3) }), RangeError);
  assert.throws(() => call({ a: [1, 2, 3, 4, 5, 6] as unknown as Float32Array }), TypeError);
});
