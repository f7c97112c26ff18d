/**
 * CaMRec's cross-modal denoiser with its forward noising and its loss as one op (CaMRec §4.1; the x0-parameterised
 * DDPM of src/models/modules/diffusion.ts): with t_r the diffusion step of row r,
 *   h_t = signal ⊙ h_0 + noiseScale ⊙ ε                       (signal_r = √ᾱ_{t_r}, noiseScale_r = √(1 − ᾱ_{t_r}))
 *   act = tanh((h_t W_h + cond W_c) + (E[t] + b)),   est = act W_o + b_o,   loss = mean((sg(h_0) − est)²).
 * CamrecDenoise (inputs h0, cond, noise, signal, noiseScale, steps, wNoisy, wCond, stepEmb, bias, wOut, outBias;
 * noise and noiseScale empty for none)
 * gives est [n, d], loss [] and act [n, h] (kept for the gradient); CamrecDenoiseGrad returns the eight gradients
 * of ⟨∂est, est⟩ + ∂loss·loss with the loss's target held constant:
 *   ∂out = ∂est + (2∂loss/(nd))(est − h_0),  ∂b_o = Σ_r ∂out,  ∂W_o = actᵀ∂out,  ∂pre = (∂out W_oᵀ) ⊙ (1 − act²),
 *   ∂b = Σ_r ∂pre,  ∂E[t] = Σ_{r: t_r = t} ∂pre_r,  ∂W_h = h_tᵀ∂pre,  ∂W_c = condᵀ∂pre,
 *   ∂h_0 = signal ⊙ (∂pre W_hᵀ),  ∂cond = ∂pre W_cᵀ.
 * Both run on the native addon (denoise, denoiseGrad: the products on its gemm, the elementwise steps fused);
 * composed from tfjs ops, the same was about 15 ops forward and 30 backward per modality. The forward's values
 * are the composed ops' bits (the same products, the same float32 steps in the same order); the loss is summed
 * in double. `fusedDenoise` answers null without the addon, and the model composes stock ops.
 */
import * as tf from '@tensorflow/tfjs';
import type { GradConfig, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import type { DenoiseArgs, NativeKernels } from '../native.js';
import { computePool, nativeKernels } from '../pool.js';
import { type KernelImpl, type KernelIo, kernelConfigs } from './io.js';

export const DENOISE = 'CamrecDenoise';
export const DENOISE_GRAD = 'CamrecDenoiseGrad';

/** The inputs in the order of the native functions' first twelve arguments (noise and noiseScale empty: none). */
const INPUTS = ['h0', 'cond', 'noise', 'signal', 'noiseScale', 'steps', 'wNoisy', 'wCond', 'stepEmb', 'bias', 'wOut', 'outBias'] as const;

function requireNative(kernelName: string): NativeKernels {
  const native = nativeKernels();
  if (!native) throw new Error(`${kernelName}: needs the native addon (the model composes stock ops without it)`);
  return native;
}

/** The twelve input arrays (null for an empty noise), read now: call after every output is allocated. */
function readInputs(io: KernelIo, inputs: NamedTensorInfoMap): (Float32Array | Int32Array | null)[] {
  return INPUTS.map((name) => {
    const t = inputs[name] as TensorInfo;
    return t.shape.some((n) => n === 0) ? null : (io.read(t) as Float32Array | Int32Array);
  });
}

function denoiseKernel(io: KernelIo, inputs: NamedTensorInfoMap): TensorInfo[] {
  const native = requireNative(DENOISE);
  const [n, d] = (inputs.h0 as TensorInfo).shape;
  const h = (inputs.bias as TensorInfo).shape[1];
  return io.outputs([[n, d], [], [n, h]], ([est, loss, act]) => {
    loss[0] = native.denoise(...(readInputs(io, inputs) as DenoiseArgs), est, act, computePool().threads);
  });
}

function denoiseGradKernel(io: KernelIo, inputs: NamedTensorInfoMap): TensorInfo[] {
  const native = requireNative(DENOISE_GRAD);
  const shapes = ['h0', 'cond', 'wNoisy', 'wCond', 'stepEmb', 'bias', 'wOut', 'outBias'].map((k) => (inputs[k] as TensorInfo).shape);
  return io.outputs(shapes, (grads) => {
    const read = (k: string) => io.read(inputs[k] as TensorInfo) as Float32Array;
    const [dh0, dCond, dWNoisy, dWCond, dStepEmb, dBias, dWOut, dOutBias] = grads;
    const args = readInputs(io, inputs) as DenoiseArgs;
    native.denoiseGrad(...args, read('est'), read('act'), read('dEst'), read('dLoss')[0], dh0, dCond, dWNoisy, dWCond, dStepEmb, dBias, dWOut, dOutBias, computePool().threads);
  });
}

export const denoiseKernels = [
  ...kernelConfigs(DENOISE, denoiseKernel as unknown as KernelImpl),
  ...kernelConfigs(DENOISE_GRAD, denoiseGradKernel as unknown as KernelImpl),
];

/** All eight gradients from one CamrecDenoiseGrad call. */
export const denoiseGradient: GradConfig = {
  kernelName: DENOISE,
  inputsToSave: [...INPUTS],
  outputsToSave: [true, false, true],
  gradFunc: (dys, saved) => {
    const inputs = Object.fromEntries(INPUTS.map((name, k) => [name, saved[k]]));
    const [est, act] = saved.slice(INPUTS.length);
    const [dEst, dLoss] = dys as tf.Tensor[];
    const grads = tf.engine().runKernel(DENOISE_GRAD, { ...inputs, est, act, dEst, dLoss }) as tf.Tensor[];
    const names = ['h0', 'cond', 'wNoisy', 'wCond', 'stepEmb', 'bias', 'wOut', 'outBias'];
    return Object.fromEntries(names.map((name, k) => [name, () => grads[k]]));
  },
};

/** The denoiser's parameters: W_h, W_c [d, h], the step embeddings E [T, h], b [1, h], W_o [h, d], b_o [1, d]. */
export interface DenoiseWeights {
  readonly wNoisy: tf.Tensor2D;
  readonly wCond: tf.Tensor2D;
  readonly stepEmb: tf.Tensor2D;
  readonly bias: tf.Tensor2D;
  readonly wOut: tf.Tensor2D;
  readonly outBias: tf.Tensor2D;
}

/** The noising of each row: its step, √ᾱ_t, and (when noised) ε and √(1 − ᾱ_t). */
export interface DenoiseNoising {
  readonly steps: Int32Array;
  readonly signal: Float32Array;
  readonly noise: { readonly values: Float32Array; readonly scale: Float32Array } | null;
}

/**
 * est and loss of the header for h0 and cond [n, d] as one op, differentiable in h0, cond and the weights; null
 * where the op cannot run (no native addon, a backend without our kernels, no rows).
 */
export function fusedDenoise(w: DenoiseWeights, h0: tf.Tensor2D, cond: tf.Tensor2D, noising: DenoiseNoising): { estimate: tf.Tensor2D; loss: tf.Scalar } | null {
  const [n, d] = h0.shape;
  if (n === 0 || !nativeKernels() || tf.getKernel(DENOISE, tf.getBackend()) === undefined) return null;
  return tf.tidy(() => {
    const noise = noising.noise
      ? { noise: tf.tensor2d(noising.noise.values, [n, d]), noiseScale: tf.tensor1d(noising.noise.scale) }
      : { noise: tf.zeros([0, d]), noiseScale: tf.zeros([0]) };
    const inputs = { h0, cond, ...noise, signal: tf.tensor1d(noising.signal), steps: tf.tensor1d(noising.steps, 'int32'), ...w };
    const [estimate, loss] = tf.engine().runKernel(DENOISE, inputs as tf.NamedTensorMap, {}) as tf.Tensor[];
    return { estimate: estimate as tf.Tensor2D, loss: loss as tf.Scalar };
  });
}
