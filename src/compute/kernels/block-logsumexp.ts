/**
 * The normaliser of a blocked InfoNCE (CaMRec §4.2) as one op: rows are cut into blocks of `block` (the last one
 * shorter), and for row r of block k
 *   lse_r = log Σ_{s ∈ k} exp(⟨a_r, b_s⟩ / T),
 * shifted by the row maximum for stability. With P_rs = exp(⟨a_r, b_s⟩/T − lse_r) and G_rs = dy_r·P_rs / T,
 *   ∂L/∂a_r = Σ_s G_rs b_s,   ∂L/∂b_s = Σ_{r ∈ k} G_rs a_r.
 * The composed version runs about ten tfjs ops per block forward and as many backward (a product, a division,
 * the maximum, exp, a sum, log, and their gradients): 2 × 16 blocks a CaMRec step, about 30 ms of CPU per view.
 * Here each block is two products on the native addon's gemm and exp over its [block, block] scores, recomputed
 * by the gradient rather than kept. Needs the native addon; `blockLogSumExp` composes stock ops without it.
 */
import * as tf from '@tensorflow/tfjs';
import type { GradConfig, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import type { NativeKernels } from '../native.js';
import { computePool, nativeKernels } from '../pool.js';
import { type KernelImpl, type KernelIo, expectFloat, kernelConfigs } from './io.js';

export const BLOCK_LOGSUMEXP = 'CamrecBlockLogSumExp';
export const BLOCK_LOGSUMEXP_GRAD = 'CamrecBlockLogSumExpGrad';

function checkInputs(kernelName: string, a: TensorInfo, b: TensorInfo, block: number): void {
  expectFloat(kernelName, 'a', a, 2);
  expectFloat(kernelName, 'b', b, 2);
  if (a.shape[0] !== b.shape[0] || a.shape[1] !== b.shape[1]) throw new RangeError(`${kernelName}: a [${a.shape}] and b [${b.shape}] differ in shape`);
  if (!Number.isInteger(block) || block < 1) throw new RangeError(`${kernelName}: block must be an integer ≥ 1, got ${block}`);
}

function requireNative(kernelName: string): NativeKernels {
  const native = nativeKernels();
  if (!native) throw new Error(`${kernelName}: needs the native addon (blockLogSumExp composes stock ops without it)`);
  return native;
}

/** Scores of the largest block, reused between calls. */
let scratch = new Float32Array(0);

/**
 * For each block: its scores exp(⟨a_r, b_s⟩/T − max_r) in `z` ([size, size]), and visit(start, size, z, max,
 * sums) with the row maxima and the row sums Σ_s z_rs.
 */
function forEachBlock(
  native: NativeKernels,
  a: Float32Array,
  b: Float32Array,
  n: number,
  d: number,
  temperature: number,
  block: number,
  visit: (start: number, size: number, z: Float32Array, max: Float32Array, sums: Float32Array) => void,
): void {
  if (scratch.length < block * block) scratch = new Float32Array(block * block);
  const max = new Float32Array(block);
  const sums = new Float32Array(block);
  const threads = computePool().threads;
  for (let start = 0; start < n; start += block) {
    const size = Math.min(block, n - start);
    const z = scratch.subarray(0, size * size);
    const rows = (x: Float32Array) => x.subarray(start * d, (start + size) * d);
    native.gemm(rows(a), rows(b), z, size, d, size, 0, 1, threads); // A_k·B_kᵀ
    native.expShiftedRows(z, size, size, 1 / temperature, max, sums);
    visit(start, size, z, max, sums);
  }
}

function blockLogSumExpKernel(io: KernelIo, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo {
  const a = inputs.a as TensorInfo;
  const b = inputs.b as TensorInfo;
  const { temperature, block } = attrs as { temperature: number; block: number };
  checkInputs(BLOCK_LOGSUMEXP, a, b, block);
  const native = requireNative(BLOCK_LOGSUMEXP);
  const [n, d] = a.shape;
  return io.output([n], 'float32', (out) => {
    const [av, bv] = [io.read(a) as Float32Array, io.read(b) as Float32Array];
    forEachBlock(native, av, bv, n, d, temperature, block, (start, size, _z, max, sums) => {
      for (let r = 0; r < size; r++) out[start + r] = max[r] + Math.log(sums[r]);
    });
  });
}

function blockLogSumExpGradKernel(io: KernelIo, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo[] {
  const [dy, a, b] = [inputs.dy, inputs.a, inputs.b] as TensorInfo[];
  const { temperature, block } = attrs as { temperature: number; block: number };
  checkInputs(BLOCK_LOGSUMEXP_GRAD, a, b, block);
  const native = requireNative(BLOCK_LOGSUMEXP_GRAD);
  const [n, d] = a.shape;
  const da = new Float32Array(n * d);
  const db = new Float32Array(n * d);
  const [av, bv, g] = [io.read(a) as Float32Array, io.read(b) as Float32Array, io.read(dy)];
  const threads = computePool().threads;
  forEachBlock(native, av, bv, n, d, temperature, block, (start, size, z, _max, sums) => {
    for (let r = 0; r < size; r++) {
      const scale = g[start + r] / (temperature * sums[r]); // G_rs = dy_r · P_rs / T
      for (let s = r * size; s < (r + 1) * size; s++) z[s] *= scale;
    }
    const rows = (x: Float32Array) => x.subarray(start * d, (start + size) * d);
    native.gemm(z, rows(bv), rows(da), size, size, d, 0, 0, threads); // G·B_k
    native.gemm(z, rows(av), rows(db), size, size, d, 1, 0, threads); // Gᵀ·A_k
  });
  return [io.output([n, d], 'float32', (out) => out.set(da)), io.output([n, d], 'float32', (out) => out.set(db))];
}

export const blockLogSumExpKernels = [
  ...kernelConfigs(BLOCK_LOGSUMEXP, blockLogSumExpKernel),
  ...kernelConfigs(BLOCK_LOGSUMEXP_GRAD, blockLogSumExpGradKernel as unknown as KernelImpl),
];

export const blockLogSumExpGradient: GradConfig = {
  kernelName: BLOCK_LOGSUMEXP,
  inputsToSave: ['a', 'b'],
  gradFunc: (dy, saved, attrs) => {
    const [a, b] = saved;
    const [da, db] = tf.engine().runKernel(BLOCK_LOGSUMEXP_GRAD, { dy: dy as tf.Tensor, a, b }, attrs) as tf.Tensor[];
    return { a: () => da, b: () => db };
  },
};

type CustomGradFn = Parameters<typeof tf.customGrad>[0];

/** The row maxima as a constant: computed inside the custom op, so the tape never records (or differentiates) max. */
const rowMaxConstant = tf.customGrad(((x: tf.Tensor) => ({
  value: tf.max(x, 1, true),
  gradFunc: () => tf.zerosLike(x),
})) as unknown as CustomGradFn) as (x: tf.Tensor) => tf.Tensor;

/** log Σ_s exp(x_rs) along rows, shifted by the row maximum (a constant to the backward pass; its gradient cancels). */
function rowLogSumExp(x: tf.Tensor2D): tf.Tensor1D {
  const m = rowMaxConstant(x);
  return tf.reshape(tf.add(m, tf.log(tf.sum(tf.exp(tf.sub(x, m)), 1, true))), [-1]) as tf.Tensor1D;
}

/** The same from stock ops: one 2-D product per block (the wasm backend's batched product is far slower). */
export function blockLogSumExpComposite(a: tf.Tensor2D, b: tf.Tensor2D, temperature: number, block: number): tf.Tensor1D {
  const n = a.shape[0];
  const sizes: number[] = [];
  for (let start = 0; start < n; start += block) sizes.push(Math.min(block, n - start));
  if (sizes.length <= 1) return rowLogSumExp(tf.div(tf.matMul(a, b, false, true), temperature) as tf.Tensor2D);
  const as = tf.split(a, sizes, 0) as tf.Tensor2D[];
  const bs = tf.split(b, sizes, 0) as tf.Tensor2D[];
  return tf.concat(as.map((ak, k) => rowLogSumExp(tf.div(tf.matMul(ak, bs[k], false, true), temperature) as tf.Tensor2D))) as tf.Tensor1D;
}

/**
 * lse_r = log Σ_{s in r's block} exp(⟨a_r, b_s⟩/T) for rows cut into blocks of `block`; differentiable in a and b.
 * One kernel with the native addon, else stock ops.
 */
export function blockLogSumExp(a: tf.Tensor2D, b: tf.Tensor2D, temperature: number, block: number): tf.Tensor1D {
  checkInputs(BLOCK_LOGSUMEXP, a, b, block);
  if (a.size === 0 || !nativeKernels() || tf.getKernel(BLOCK_LOGSUMEXP, tf.getBackend()) === undefined) {
    return blockLogSumExpComposite(a, b, temperature, block);
  }
  return tf.engine().runKernel(BLOCK_LOGSUMEXP, { a, b }, { temperature, block }) as tf.Tensor1D;
}
