/**
 * The reference of CamrecDenoise (denoise.ts) in float64, from the definition: with t_r the step of row r,
 *   h_t = signal ⊙ h_0 + noiseScale ⊙ ε,   act = tanh(h_t W_h + cond W_c + E[t] + b),   est = act W_o + b_o,
 *   loss = mean((h_0 − est)²),
 * and the gradients of ⟨dEst, est⟩ + dLoss·loss with the loss's target h_0 held constant.
 */

/** The denoiser's inputs as arrays: n rows of width d, hidden width h (DenoiseArrays in native/camrec_native.cc). */
export interface DenoiseProblem {
  readonly n: number;
  readonly d: number;
  readonly h: number;
  readonly h0: ArrayLike<number>;
  readonly cond: ArrayLike<number>;
  readonly noise: ArrayLike<number> | null;
  readonly signal: ArrayLike<number>;
  readonly noiseScale: ArrayLike<number> | null;
  readonly steps: ArrayLike<number>;
  readonly wNoisy: ArrayLike<number>; // [d, h]
  readonly wCond: ArrayLike<number>; // [d, h]
  readonly stepEmb: ArrayLike<number>; // [T, h]
  readonly bias: ArrayLike<number>; // [h]
  readonly wOut: ArrayLike<number>; // [h, d]
  readonly outBias: ArrayLike<number>; // [d]
}

function noisy(p: DenoiseProblem): Float64Array {
  const ht = new Float64Array(p.n * p.d);
  for (let r = 0; r < p.n; r++) {
    for (let k = 0; k < p.d; k++) {
      const i = r * p.d + k;
      ht[i] = p.signal[r] * p.h0[i] + (p.noise && p.noiseScale ? p.noiseScale[r] * p.noise[i] : 0);
    }
  }
  return ht;
}

/** c = a·b for a [rows, inner] and b [inner, cols] (b transposed when `transB`, stored [cols, inner]). */
function product(a: ArrayLike<number>, b: ArrayLike<number>, rows: number, inner: number, cols: number, transB = false): Float64Array {
  const c = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let q = 0; q < inner; q++) {
      const x = a[r * inner + q];
      for (let j = 0; j < cols; j++) c[r * cols + j] += x * (transB ? b[j * inner + q] : b[q * cols + j]);
    }
  }
  return c;
}

/** aᵀ·b for a [rows, m] and b [rows, cols]. */
function outer(a: ArrayLike<number>, b: ArrayLike<number>, rows: number, m: number, cols: number): Float64Array {
  const c = new Float64Array(m * cols);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < cols; j++) c[i * cols + j] += a[r * m + i] * b[r * cols + j];
    }
  }
  return c;
}

export function denoiseForwardReference(p: DenoiseProblem): { est: Float64Array; act: Float64Array; loss: number } {
  const { n, d, h } = p;
  const ht = noisy(p);
  const act = product(ht, p.wNoisy, n, d, h);
  const condPart = product(p.cond, p.wCond, n, d, h);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < h; j++) {
      const i = r * h + j;
      act[i] = Math.tanh(act[i] + condPart[i] + p.stepEmb[p.steps[r] * h + j] + p.bias[j]);
    }
  }
  const est = product(act, p.wOut, n, h, d);
  let loss = 0;
  for (let i = 0; i < n * d; i++) {
    est[i] += p.outBias[i % d];
    loss += (p.h0[i] - est[i]) ** 2;
  }
  return { est, act, loss: loss / (n * d) };
}

export function denoiseBackwardReference(p: DenoiseProblem, dEst: ArrayLike<number>, dLoss: number) {
  const { n, d, h } = p;
  const { est, act } = denoiseForwardReference(p);
  const dOut = Float64Array.from(est, (v, i) => dEst[i] + ((2 * dLoss) / (n * d)) * (v - p.h0[i]));
  const dOutBias = new Float64Array(d);
  dOut.forEach((v, i) => (dOutBias[i % d] += v));
  const dWOut = outer(act, dOut, n, h, d);
  const dPre = product(dOut, p.wOut, n, d, h, true).map((v, i) => v * (1 - act[i] ** 2));
  const dBias = new Float64Array(h);
  const dStepEmb = new Float64Array(p.stepEmb.length);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < h; j++) {
      dBias[j] += dPre[r * h + j];
      dStepEmb[p.steps[r] * h + j] += dPre[r * h + j];
    }
  }
  const dWNoisy = outer(noisy(p), dPre, n, d, h);
  const dWCond = outer(p.cond, dPre, n, d, h);
  const dh0 = product(dPre, p.wNoisy, n, h, d, true).map((v, i) => v * p.signal[Math.floor(i / d)]);
  const dCond = product(dPre, p.wCond, n, h, d, true);
  return { dh0, dCond, dWNoisy, dWCond, dStepEmb, dBias, dWOut, dOutBias };
}
