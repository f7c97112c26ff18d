/**
 * CaMRec's blocked InfoNCE (§4.2) as one op with its gradients computed in the same pass. For rows cut into blocks
 * of `block` (the last one shorter), with x̂ = x·(‖x‖² + 1e-24)^(−1/2) as l2Normalize computes it,
 *   L = (1/n) Σ_r [ lse_r − ⟨x̂_r, ŷ_r⟩/T ],   lse_r = log Σ_{s ∈ block(r)} exp(⟨x̂_r, ŷ_s⟩/T),
 * and with P_rs = exp(⟨x̂_r, ŷ_s⟩/T − lse_r) and G_rs = (P_rs − [r = s])/(nT),
 *   ∂L/∂x̂_r = Σ_s G_rs ŷ_s,   ∂L/∂ŷ_s = Σ_{r ∈ block(s)} G_rs x̂_r,   ∂L/∂x_r = s_r·(∂L/∂x̂_r − x̂_r⟨x̂_r, ∂L/∂x̂_r⟩),
 * s_r the row's scale (the same for y). L is a scalar, so its gradient is ∂L/∂x times the upstream scalar: the
 * kernel computes L, ∂L/∂x and ∂L/∂y in one pass on the native addon (per block one product for the scores, their
 * exp, two products for the gradients) and the registered gradient only scales them. Composed from tfjs ops
 * (normalise, the blocked log-sum-exp, the positive term, the mean), the same loss took about 15 ops forward and
 * 25 backward per view, and the log-sum-exp's gradient recomputed its scores. Needs the native addon;
 * `fusedInfoNce` answers null without it and the model composes stock ops.
 */
import * as tf from '@tensorflow/tfjs';
import type { GradConfig, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import { computePool, nativeKernels } from '../pool.js';
import { type KernelImpl, type KernelIo, expectFloat, kernelConfigs } from './io.js';

export const INFO_NCE = 'CamrecInfoNce';

function checkInputs(x: TensorInfo, y: TensorInfo, temperature: number, block: number): void {
  expectFloat(INFO_NCE, 'x', x, 2);
  expectFloat(INFO_NCE, 'y', y, 2);
  if (x.shape[0] !== y.shape[0] || x.shape[1] !== y.shape[1]) throw new RangeError(`${INFO_NCE}: x [${x.shape}] and y [${y.shape}] differ in shape`);
  if (!Number.isInteger(block) || block < 1) throw new RangeError(`${INFO_NCE}: block must be an integer ≥ 1, got ${block}`);
  if (!(temperature > 0)) throw new RangeError(`${INFO_NCE}: temperature must be positive, got ${temperature}`);
}

/** L into loss[0] and ∂L/∂x, ∂L/∂y into gx, gy: the native addon's infoNce (native/camrec_native.cc). */
function infoNceKernel(io: KernelIo, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo[] {
  const [x, y] = [inputs.x, inputs.y] as TensorInfo[];
  const { temperature, block } = attrs as { temperature: number; block: number };
  checkInputs(x, y, temperature, block);
  const native = nativeKernels();
  if (!native) throw new Error(`${INFO_NCE}: needs the native addon (the model composes stock ops without it)`);
  const [n, d] = x.shape;
  return io.outputs([[], [n, d], [n, d]], ([loss, gx, gy]) => {
    const read = (t: TensorInfo) => io.read(t) as Float32Array;
    loss[0] = native.infoNce(read(x), read(y), n, d, temperature, block, gx, gy, computePool().threads);
  });
}

export const infoNceKernels = kernelConfigs(INFO_NCE, infoNceKernel as unknown as KernelImpl);

/** The upstream scalar times the gradients the forward kernel computed (its second and third outputs). */
export const infoNceGradient: GradConfig = {
  kernelName: INFO_NCE,
  outputsToSave: [false, true, true],
  gradFunc: (dys, saved) => {
    const [gx, gy] = saved;
    const dLoss = (dys as tf.Tensor[])[0];
    return { x: () => tf.mul(gx, dLoss), y: () => tf.mul(gy, dLoss) };
  },
};

/**
 * The blocked InfoNCE of x against y (see the header) as one op, differentiable in both; null where the op cannot
 * run (no native addon, a backend without our kernels, no rows), for the caller to compose stock ops.
 */
export function fusedInfoNce(x: tf.Tensor2D, y: tf.Tensor2D, temperature: number, block: number): tf.Scalar | null {
  checkInputs(x, y, temperature, block);
  if (x.shape[0] === 0 || !nativeKernels() || tf.getKernel(INFO_NCE, tf.getBackend()) === undefined) return null;
  const [loss] = tf.engine().runKernel(INFO_NCE, { x, y }, { temperature, block }) as tf.Tensor[];
  return loss as tf.Scalar;
}
