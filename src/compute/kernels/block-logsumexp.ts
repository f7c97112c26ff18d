/**
 * The normaliser of a blocked InfoNCE (CaMRec §4.2) from stock tfjs ops: rows are cut into blocks of `block` (the
 * last one shorter), and for row r of block k
 *   lse_r = log Σ_{s ∈ k} exp(⟨a_r, b_s⟩ / T),
 * shifted by the row maximum for stability: one 2-D product per block, a division, the maximum, exp, a sum and log,
 * and their gradients. The model's InfoNCE runs as one op with the native addon (infonce.ts); this is its path
 * without the addon, and on backends without our kernels.
 */
import * as tf from '@tensorflow/tfjs';

function checkInputs(a: tf.Tensor2D, b: tf.Tensor2D, block: number): void {
  if (a.shape[0] !== b.shape[0] || a.shape[1] !== b.shape[1]) throw new RangeError(`blockLogSumExp: a [${a.shape}] and b [${b.shape}] differ in shape`);
  if (!Number.isInteger(block) || block < 1) throw new RangeError(`blockLogSumExp: block must be an integer ≥ 1, got ${block}`);
}

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

/**
 * lse_r = log Σ_{s in r's block} exp(⟨a_r, b_s⟩/T) for rows cut into blocks of `block`; differentiable in a and b.
 * One 2-D product per block (the wasm backend's batched product is far slower).
 */
export function blockLogSumExp(a: tf.Tensor2D, b: tf.Tensor2D, temperature: number, block: number): tf.Tensor1D {
  checkInputs(a, b, block);
  const n = a.shape[0];
  const sizes: number[] = [];
  for (let start = 0; start < n; start += block) sizes.push(Math.min(block, n - start));
  if (sizes.length <= 1) return rowLogSumExp(tf.div(tf.matMul(a, b, false, true), temperature) as tf.Tensor2D);
  const as = tf.split(a, sizes, 0) as tf.Tensor2D[];
  const bs = tf.split(b, sizes, 0) as tf.Tensor2D[];
  return tf.concat(as.map((ak, k) => rowLogSumExp(tf.div(tf.matMul(ak, bs[k], false, true), temperature) as tf.Tensor2D))) as tf.Tensor1D;
}
