import type { Csr } from '../../graph/index.js';

/**
 * Reference for CamrecGatedSpmm from the definition, in float64: y[r] = Σ_{p ∈ row r} â_p·ρ[g(p)]·x[col(p)],
 * â the values of `m`, or with `transpose` y[c] = Σ_{p : col(p) = c} â_p·ρ[g(p)]·x[row(p)].
 */
export function gatedSpmmReference(
  m: Csr,
  groups: ArrayLike<number>,
  gates: ArrayLike<number>,
  x: ArrayLike<number>,
  d: number,
  transpose = false,
): Float64Array {
  const y = new Float64Array((transpose ? m.nCols : m.nRows) * d);
  for (let r = 0; r < m.nRows; r++) {
    for (let p = m.indptr[r]; p < m.indptr[r + 1]; p++) {
      const [to, from] = transpose ? [m.indices[p], r] : [r, m.indices[p]];
      const w = (m.values?.[p] ?? 1) * gates[groups[p]];
      for (let k = 0; k < d; k++) y[to * d + k] += w * x[from * d + k];
    }
  }
  return y;
}

/** Reference for CamrecGatedSddmm, in float64: s_g = Σ_{p : g(p) = g} â_p·Σ_k a[row(p), k]·b[col(p), k]. */
export function gatedSddmmReference(
  m: Csr,
  groups: ArrayLike<number>,
  nGroups: number,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  d: number,
): Float64Array {
  const out = new Float64Array(nGroups);
  for (let r = 0; r < m.nRows; r++) {
    for (let p = m.indptr[r]; p < m.indptr[r + 1]; p++) {
      let sum = 0;
      for (let k = 0; k < d; k++) sum += a[r * d + k] * b[m.indices[p] * d + k];
      out[groups[p]] += (m.values?.[p] ?? 1) * sum;
    }
  }
  return out;
}
