import type { Csr } from '../../graph/index.js';

/** The dense matrix of a CSR one (duplicate entries add up), row-major nRows × nCols, in float64. */
export function denseOf(m: Csr): Float64Array {
  const a = new Float64Array(m.nRows * m.nCols);
  for (let r = 0; r < m.nRows; r++) {
    for (let p = m.indptr[r]; p < m.indptr[r + 1]; p++) a[r * m.nCols + m.indices[p]] += m.values ? m.values[p] : 1;
  }
  return a;
}

/**
 * Reference for CamrecSpmm from the definition: expand A to a dense matrix, then y = A·x (or Aᵀ·x) by the dense
 * triple loop, in float64. O(nRows·nCols·d): for tests only.
 */
export function spmmReference(m: Csr, x: ArrayLike<number>, d: number, transpose = false): Float64Array {
  const a = denseOf(m);
  const [rows, inner] = transpose ? [m.nCols, m.nRows] : [m.nRows, m.nCols];
  const at = (i: number, j: number): number => (transpose ? a[j * m.nCols + i] : a[i * m.nCols + j]);
  const y = new Float64Array(rows * d);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < inner; j++) {
      const v = at(i, j);
      if (v === 0) continue;
      for (let k = 0; k < d; k++) y[i * d + k] += v * x[j * d + k];
    }
  }
  return y;
}
