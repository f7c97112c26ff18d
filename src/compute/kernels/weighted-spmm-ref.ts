import type { Csr } from '../../graph/index.js';

/**
 * Reference for CamrecWeightedSpmm from the definition, in float64: y[r] = Σ_{p ∈ row r} w[p]·x[col(p)], or
 * with `transpose` y[c] = Σ_{p : col(p) = c} w[p]·x[row(p)]. The values of `m`, if any, are ignored.
 */
export function weightedSpmmReference(m: Csr, w: ArrayLike<number>, x: ArrayLike<number>, d: number, transpose = false): Float64Array {
  const y = new Float64Array((transpose ? m.nCols : m.nRows) * d);
  for (let r = 0; r < m.nRows; r++) {
    for (let p = m.indptr[r]; p < m.indptr[r + 1]; p++) {
      const c = m.indices[p];
      const [to, from] = transpose ? [c, r] : [r, c];
      for (let k = 0; k < d; k++) y[to * d + k] += w[p] * x[from * d + k];
    }
  }
  return y;
}

/** Reference for CamrecSddmm from the definition, in float64: out[p] = Σ_k a[row(p), k]·b[col(p), k]. */
export function sddmmReference(m: Csr, a: ArrayLike<number>, b: ArrayLike<number>, d: number): Float64Array {
  const out = new Float64Array(m.indices.length);
  for (let r = 0; r < m.nRows; r++) {
    for (let p = m.indptr[r]; p < m.indptr[r + 1]; p++) {
      let sum = 0;
      for (let k = 0; k < d; k++) sum += a[r * d + k] * b[m.indices[p] * d + k];
      out[p] = sum;
    }
  }
  return out;
}
