/**
 * The reference of CamrecSplitLinear (split-linear.ts) in float64: a = x[0:rows]·W_a, b = x[rows:]·W_b and the
 * gradients of ⟨dA, a⟩ + ⟨dB, b⟩ in x, W_a and W_b; everything row-major, x [n, d], W_a and W_b [d, h].
 */
export function splitLinearReference(x: ArrayLike<number>, wa: ArrayLike<number>, wb: ArrayLike<number>, n: number, d: number, h: number, rows: number, dA: ArrayLike<number>, dB: ArrayLike<number>) {
  const a = new Float64Array(rows * h);
  const b = new Float64Array((n - rows) * h);
  const dx = new Float64Array(n * d);
  const dwa = new Float64Array(d * h);
  const dwb = new Float64Array(d * h);
  for (let r = 0; r < n; r++) {
    const [w, out, g, dw, row] = r < rows ? [wa, a, dA, dwa, r] : [wb, b, dB, dwb, r - rows];
    for (let k = 0; k < d; k++) {
      const xv = x[r * d + k];
      for (let j = 0; j < h; j++) {
        out[row * h + j] += xv * w[k * h + j];
        dx[r * d + k] += g[row * h + j] * w[k * h + j];
        dw[k * h + j] += xv * g[row * h + j];
      }
    }
  }
  return { a, b, dx, dwa, dwb };
}
