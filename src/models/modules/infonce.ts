/**
 * InfoNCE on (X, X*) pairs (CaMRec §4.2; Oord et al. 2018): for anchor r, the positive is the same node in the
 * other view and the negatives are the other nodes of its block,
 *   L = −mean_r log( exp(⟨x̂_r, x̂*_r⟩/T) / Σ_{s ∈ block(r)} exp(⟨x̂_r, x̂*_s⟩/T) ),  x̂ = x/‖x‖.
 * The authors contrast each anchor with the whole batch (B² scores, 4.2 M at B = 2048); blocks of `block`
 * anchors keep the cost at B·block per view with the same form (docs/camrec.md).
 */
import * as tf from '@tensorflow/tfjs';
import { l2Normalize, matMul } from './ops.js';

type CustomGradFn = Parameters<typeof tf.customGrad>[0];

/** The row maxima as a constant: computed inside the custom op, so the tape never records (or differentiates) max. */
const rowMaxConstant = tf.customGrad(((x: tf.Tensor) => ({
  value: tf.max(x, 1, true),
  gradFunc: () => tf.zerosLike(x),
})) as unknown as CustomGradFn) as (x: tf.Tensor) => tf.Tensor;

/**
 * log Σ_s exp(x_rs) along rows, shifted by the row maximum for stability. The maximum is a constant to the
 * backward pass (its gradient cancels anyway).
 */
function rowLogSumExp(x: tf.Tensor2D): tf.Tensor1D {
  const m = rowMaxConstant(x);
  return tf.reshape(tf.add(m, tf.log(tf.sum(tf.exp(tf.sub(x, m)), 1, true))), [-1]) as tf.Tensor1D;
}

export function infoNce(view: tf.Tensor2D, other: tf.Tensor2D, temperature: number, block: number): tf.Scalar {
  const n = view.shape[0];
  const a = l2Normalize(view);
  const b = l2Normalize(other);
  const positive = tf.div(tf.sum(tf.mul(a, b), 1), temperature);
  const sizes: number[] = [];
  for (let start = 0; start < n; start += block) sizes.push(Math.min(block, n - start));
  const as = sizes.length === 1 ? [a] : (tf.split(a, sizes, 0) as tf.Tensor2D[]);
  const bs = sizes.length === 1 ? [b] : (tf.split(b, sizes, 0) as tf.Tensor2D[]);
  // one 2-D product per block: the wasm backend's batched product is far slower than its plain one
  const normalisers = as.map((ak, k) => rowLogSumExp(tf.div(matMul(ak, bs[k], true), temperature) as tf.Tensor2D));
  const normaliser = normalisers.length === 1 ? normalisers[0] : tf.concat(normalisers);
  return tf.mean(tf.sub(normaliser, positive));
}
