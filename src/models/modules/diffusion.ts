/**
 * The dual-channel cross-modal diffusion (CaMRec §4.1). Forward: q(h_t | h_0) = N(√ᾱ_t h_0, (1 − ᾱ_t) I) with a
 * linear β schedule (ᾱ_t = Π_{s≤t} (1 − β_s)). Reverse: a denoiser f_θ(h_t, t, x^{m'}) conditioned on the other
 * modality predicts h_0 directly (the x0-parameterisation; the paper writes both μ_θ and x0, DESIGN.md §3 picks
 * x0), trained with L_dm = E‖h_0 − f_θ(h_t, t, x^{m'})‖². Its output is the confounder estimate H_c = ĥ_0.
 * At inference H_c is deterministic: one shot from the fixed step t* with the noise at its mean (zero), so a
 * checkpoint always gives the same scores (the authors' code samples the whole reverse chain instead).
 */
import * as tf from '@tensorflow/tfjs';
import { fusedDenoise } from '../../compute/index.js';
import { linear, matMul, mse, stopGradient } from './ops.js';

export interface DiffusionSchedule {
  readonly steps: number;
  readonly betas: Float64Array;
  /** √ᾱ_t and √(1 − ᾱ_t), t = 0..T−1 (the paper's t = 1..T). */
  readonly sqrtAlphaBar: Float32Array;
  readonly sqrtOneMinusAlphaBar: Float32Array;
}

/** β_t linear from βstart to βend over T steps (DDPM, Ho et al. 2020). */
export function linearSchedule(steps: number, betaStart: number, betaEnd: number): DiffusionSchedule {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`diffusion steps must be ≥ 1, got ${steps}`);
  const betas = new Float64Array(steps);
  const sqrtAlphaBar = new Float32Array(steps);
  const sqrtOneMinusAlphaBar = new Float32Array(steps);
  let alphaBar = 1;
  for (let t = 0; t < steps; t++) {
    betas[t] = steps === 1 ? betaStart : betaStart + ((betaEnd - betaStart) * t) / (steps - 1);
    alphaBar *= 1 - betas[t];
    sqrtAlphaBar[t] = Math.sqrt(alphaBar);
    sqrtOneMinusAlphaBar[t] = Math.sqrt(1 - alphaBar);
  }
  return { steps, betas, sqrtAlphaBar, sqrtOneMinusAlphaBar };
}

/** √ᾱ_t and √(1 − ᾱ_t) of each row's step. */
function rowScales(steps: Int32Array, s: DiffusionSchedule): { signal: Float32Array; noise: Float32Array } {
  const signal = new Float32Array(steps.length);
  const noise = new Float32Array(steps.length);
  steps.forEach((t, i) => {
    signal[i] = s.sqrtAlphaBar[t];
    noise[i] = s.sqrtOneMinusAlphaBar[t];
  });
  return { signal, noise };
}

/** h_t = √ᾱ_t h_0 + √(1 − ᾱ_t) ε, row i at its own step t_i (CaMRec §4.1, the reparameterised forward process). */
export function forwardNoise(h0: tf.Tensor2D, steps: Int32Array, noise: tf.Tensor2D | null, s: DiffusionSchedule): tf.Tensor2D {
  const n = steps.length;
  const scales = rowScales(steps, s);
  const signal = tf.mul(h0, tf.tensor2d(scales.signal, [n, 1]));
  return (noise ? tf.add(signal, tf.mul(noise, tf.tensor2d(scales.noise, [n, 1]))) : signal) as tf.Tensor2D;
}

/** The denoiser's weights for one channel: a one-hidden-layer network over [h_t; x^{m'}; step]. */
export interface DenoiserWeights {
  readonly noisy: tf.Tensor2D; // [D, H]
  readonly condition: tf.Tensor2D; // [D, H]
  readonly step: tf.Tensor2D; // [T, H], a learned embedding of the step
  readonly bias: tf.Tensor2D; // [1, H]
  readonly out: tf.Tensor2D; // [H, D]
  readonly outBias: tf.Tensor2D; // [1, D]
}

/** f_θ(h_t, t, x^{m'}) = W_o·tanh(W_h h_t + W_c x^{m'} + E_t[t] + b) + b_o, predicting h_0 (CaMRec §4.1). */
export function crossModalDenoiser(w: DenoiserWeights, noisy: tf.Tensor2D, condition: tf.Tensor2D, steps: Int32Array): tf.Tensor2D {
  const stepEmb = tf.gather(w.step, tf.tensor1d(steps, 'int32')) as tf.Tensor2D;
  const pre = tf.add(tf.add(matMul(noisy, w.noisy), matMul(condition, w.condition)), tf.add(stepEmb, w.bias));
  return linear(tf.tanh(pre) as tf.Tensor2D, w.out, w.outBias);
}

/**
 * The denoiser's one-shot estimate ĥ_0 = f_θ(h_t, t, x^{m'}) from h_0 noised at each row's step (with ε, or at the
 * noise's mean when `noise` is null) and L_dm = mean‖sg(h_0) − ĥ_0‖² (CaMRec §4.1; the target's stop-gradient is
 * docs/camrec.md choice 4). One op with the native addon (src/compute/kernels/denoise.ts), else tfjs ops.
 */
export function denoise(
  w: DenoiserWeights,
  h0: tf.Tensor2D,
  condition: tf.Tensor2D,
  steps: Int32Array,
  noise: Float32Array | null,
  s: DiffusionSchedule,
): { estimate: tf.Tensor2D; loss: tf.Scalar } {
  const scales = rowScales(steps, s);
  const weights = { wNoisy: w.noisy, wCond: w.condition, stepEmb: w.step, bias: w.bias, wOut: w.out, outBias: w.outBias };
  const noising = { steps, signal: scales.signal, noise: noise ? { values: noise, scale: scales.noise } : null };
  const fused = fusedDenoise(weights, h0, condition, noising);
  if (fused) return fused;
  const estimate = crossModalDenoiser(w, forwardNoise(h0, steps, noise && tf.tensor2d(noise, h0.shape), s), condition, steps);
  return { estimate, loss: mse(stopGradient(h0), estimate) };
}
