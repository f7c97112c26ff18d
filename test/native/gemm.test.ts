import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachIsa, nativeFor, randomMatrix, stream } from './fixtures.js';

/** [m, k, n]: tails in every dimension (tiles are 6 rows × 8 or 16 columns), Aᵀ·B over several row chunks
 * and groups (k > 64 · 8), and an Aᵀ·B too large to accumulate (m·n > 2²⁰), which transposes a instead. */
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [7, 3, 17],
  [6, 64, 16],
  [13, 64, 64],
  [301, 37, 19],
  [50, 2100, 33],
  [64, 7050, 64],
  [1025, 3, 1025],
];

/** op(a)·op(b) in float64, a stored [k, m] when transA, b stored [n, k] when transB. */
function reference(a: Float32Array, b: Float32Array, m: number, k: number, n: number, transA: boolean, transB: boolean): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let d = 0; d < k; d++) {
      const x = transA ? a[d * m + i] : a[i * k + d];
      if (x === 0) continue;
      for (let j = 0; j < n; j++) c[i * n + j] += x * (transB ? b[j * k + d] : b[d * n + j]);
    }
  }
  return c;
}

test('gemm equals a float64 product for every flag pair, tail and path, on every instruction set', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const s = stream(51);
  for (const [m, k, n] of SHAPES) {
    // Integers in [-3, 3]: every partial sum is exact in float32, so any summation order gives the same bits.
    const a = randomMatrix(s, m * k, 3);
    const b = randomMatrix(s, k * n, 3);
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        const expected = reference(a, b, m, k, n, transA, transB);
        forEachIsa(native, (isa) => {
          const c = new Float32Array(m * n).fill(Number.NaN);
          native.gemm(a, b, c, m, k, n, transA ? 1 : 0, transB ? 1 : 0, 2);
          const at = c.findIndex((v, i) => v !== expected[i]);
          assert.equal(at, -1, `${isa} [${m},${k},${n}] transA=${transA} transB=${transB}: c[${at}] = ${c[at]}, expected ${expected[at]}`);
        });
      }
    }
  }
});

test('gemm on normal floats is within float32 rounding of the float64 product and gives the same bits on 1, 2 and 5 threads', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const s = stream(52);
  for (const [m, k, n] of [[64, 7050, 64], [7050, 64, 64], [257, 900, 40]] as [number, number, number][]) {
    const a = randomMatrix(s, m * k);
    const b = randomMatrix(s, k * n);
    for (const transA of [false, true]) {
      const expected = reference(a, b, m, k, n, transA, false);
      const runs = [1, 2, 5].map((threads) => {
        const c = new Float32Array(m * n);
        native.gemm(a, b, c, m, k, n, transA ? 1 : 0, 0, threads);
        return c;
      });
      // Each term is a product of two normals; the error of a float32 sum of k of them grows like √k·ε.
      const bound = 1e-6 * 8 * Math.sqrt(k) * 4;
      runs[0].forEach((v, i) => assert.ok(Math.abs(v - expected[i]) <= bound, `[${m},${k},${n}] transA=${transA} c[${i}] = ${v}, expected ${expected[i]}`));
      assert.deepEqual(runs[1], runs[0], `[${m},${k},${n}] transA=${transA}: 2 threads`);
      assert.deepEqual(runs[2], runs[0], `[${m},${k},${n}] transA=${transA}: 5 threads`);
    }
  }
});

test('Aᵀ·B reads B in place (whole panels) with the bits of the packed path (Aᵀ·(Bᵀ)ᵀ packs B)', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const s = stream(53);
  for (const [m, k, n] of [[64, 7050, 64], [13, 700, 32], [5, 65, 16]] as [number, number, number][]) {
    const a = randomMatrix(s, k * m);
    const b = randomMatrix(s, k * n);
    const bT = new Float32Array(n * k);
    for (let d = 0; d < k; d++) for (let j = 0; j < n; j++) bT[j * k + d] = b[d * n + j];
    forEachIsa(native, (isa) => {
      const direct = new Float32Array(m * n);
      const packed = new Float32Array(m * n);
      native.gemm(a, b, direct, m, k, n, 1, 0, 2);
      native.gemm(a, bT, packed, m, k, n, 1, 1, 2);
      assert.deepEqual(direct, packed, `${isa} [${m},${k},${n}]`);
    });
  }
});

test('gemm refuses arguments that would take it outside its arrays', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const a = new Float32Array(6);
  const b = new Float32Array(12);
  const c = new Float32Array(8);
  assert.throws(() => native.gemm(a, b, c, 2, 3, 5, 0, 0, 1), /b has 12 floats, expected k \* n = 15/);
  assert.throws(() => native.gemm(a, b, c, 3, 3, 4, 0, 0, 1), /a has 6 floats, expected m \* k = 9/);
  assert.throws(() => native.gemm(a, b, new Float32Array(9), 2, 3, 4, 0, 0, 1), /c has 9 floats/);
  assert.throws(() => native.gemm(a, b, c, 2, 3, 4, 2 as 0, 0, 1), /transA must be an integer in \[0, 1\]/);
  assert.throws(() => native.gemm(a, b, c, 0, 3, 4, 0, 0, 1), /m must be an integer/);
  const shared = new Float32Array(32);
  assert.throws(() => native.gemm(shared.subarray(0, 6), b, shared.subarray(4, 12), 2, 3, 4, 0, 0, 1), /c overlaps a or b/);
  assert.throws(() => native.gemm(a, b, new Int32Array(8) as unknown as Float32Array, 2, 3, 4, 0, 0, 1), /c must be a Float32Array/);
});
