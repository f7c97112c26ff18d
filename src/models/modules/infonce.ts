/**
 * InfoNCE on (X, X*) pairs (CaMRec §4.2; Oord et al. 2018): for anchor r, the positive is the same node in the
 * other view and the negatives are the other nodes of its block,
 *   L = −mean_r log( exp(⟨x̂_r, x̂*_r⟩/T) / Σ_{s ∈ block(r)} exp(⟨x̂_r, x̂*_s⟩/T) ),  x̂ = x/‖x‖.
 * The authors contrast each anchor with the whole batch (B² scores, 4.2 M at B = 2048); blocks of `block`
 * anchors keep the cost at B·block per view with the same form (docs/camrec.md).
 */
import * as tf from '@tensorflow/tfjs';
import { blockLogSumExp, fusedInfoNce } from '../../compute/index.js';
import { l2Normalize } from './ops.js';

/** One op with the native addon (src/compute/kernels/infonce.ts, value and gradients in one pass), else `infoNceComposite`. */
export function infoNce(view: tf.Tensor2D, other: tf.Tensor2D, temperature: number, block: number): tf.Scalar {
  return fusedInfoNce(view, other, temperature, block) ?? infoNceComposite(view, other, temperature, block);
}

/** The same loss from tfjs ops: normalise, the blocked log-sum-exp, the positive term, the mean. */
export function infoNceComposite(view: tf.Tensor2D, other: tf.Tensor2D, temperature: number, block: number): tf.Scalar {
  const a = l2Normalize(view);
  const b = l2Normalize(other);
  const positive = tf.div(tf.sum(tf.mul(a, b), 1), temperature);
  // log Σ_{s ∈ block(r)} exp(⟨x̂_r, x̂*_s⟩/T): one op (src/compute/kernels/block-logsumexp.ts)
  return tf.mean(tf.sub(blockLogSumExp(a, b, temperature, block), positive));
}
