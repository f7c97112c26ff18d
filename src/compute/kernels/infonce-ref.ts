/**
 * The reference of CamrecInfoNce (infonce.ts) in float64, from the definition: for rows cut into blocks of `block`,
 *   L = (1/n) Σ_r [ log Σ_{s ∈ block(r)} exp(⟨x̂_r, ŷ_s⟩/T) − ⟨x̂_r, ŷ_r⟩/T ],   x̂ = x·(‖x‖² + 1e-24)^(−1/2),
 * and its gradients in x and y.
 */

/** Row r of x scaled to unit norm as l2Normalize does (‖x‖² + 1e-24 under the root), and that scale. */
function unitRows(x: ArrayLike<number>, n: number, d: number): { unit: Float64Array; scale: Float64Array } {
  const unit = new Float64Array(n * d);
  const scale = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    let q = 0;
    for (let k = 0; k < d; k++) q += x[r * d + k] ** 2;
    scale[r] = 1 / Math.sqrt(q + 1e-24);
    for (let k = 0; k < d; k++) unit[r * d + k] = x[r * d + k] * scale[r];
  }
  return { unit, scale };
}

/** ∂L/∂x from ∂L/∂x̂ through x̂ = x·s: s·(g − x̂⟨x̂, g⟩) per row. */
function throughNormalize(g: Float64Array, u: { unit: Float64Array; scale: Float64Array }, n: number, d: number): Float64Array {
  const out = new Float64Array(n * d);
  for (let r = 0; r < n; r++) {
    let dot = 0;
    for (let k = 0; k < d; k++) dot += u.unit[r * d + k] * g[r * d + k];
    for (let k = 0; k < d; k++) out[r * d + k] = u.scale[r] * (g[r * d + k] - u.unit[r * d + k] * dot);
  }
  return out;
}

export function infoNceReference(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  n: number,
  d: number,
  temperature: number,
  block: number,
): { loss: number; gx: Float64Array; gy: Float64Array } {
  const ux = unitRows(x, n, d);
  const uy = unitRows(y, n, d);
  const dot = (r: number, s: number) => {
    let v = 0;
    for (let k = 0; k < d; k++) v += ux.unit[r * d + k] * uy.unit[s * d + k];
    return v / temperature;
  };
  const gxh = new Float64Array(n * d);
  const gyh = new Float64Array(n * d);
  let loss = 0;
  for (let start = 0; start < n; start += block) {
    const end = Math.min(n, start + block);
    for (let r = start; r < end; r++) {
      const scores = Array.from({ length: end - start }, (_, j) => dot(r, start + j));
      const m = Math.max(...scores);
      const lse = m + Math.log(scores.reduce((acc, v) => acc + Math.exp(v - m), 0));
      loss += lse - dot(r, r);
      scores.forEach((v, j) => {
        const g = (Math.exp(v - lse) - (start + j === r ? 1 : 0)) / (n * temperature);
        for (let k = 0; k < d; k++) {
          gxh[r * d + k] += g * uy.unit[(start + j) * d + k];
          gyh[(start + j) * d + k] += g * ux.unit[r * d + k];
        }
      });
    }
  }
  return { loss: loss / n, gx: throughNormalize(gxh, ux, n, d), gy: throughNormalize(gyh, uy, n, d) };
}
