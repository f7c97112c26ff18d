/**
 * The environment codebook c ∈ R^{K×D} of the back-door adjustment (CaMRec §4.2, after CaST): an item's
 * confounder z is stratified by its nearest code, q(z = k | H_c) = 1 for k = argmin_j ‖z − c_j‖². In training the
 * hard assignment passes gradients straight through (VQ-VAE, van den Oord et al. 2017): q_st = z + sg(c_k − z),
 * and the codebook learns from L_vq = ‖sg(z) − c_k‖² + β‖z − sg(c_k)‖² (β the commitment weight). At inference
 * the assignment is soft, Ĥ_c = Σ_k softmax_k(−‖z − c_k‖² / T) c_k — over NEGATIVE distances, so the nearest
 * code weighs most (the authors' code takes the softmax of +distance, which favours the farthest code).
 */
import * as tf from '@tensorflow/tfjs';
import { matMul, stopGradient, tidyValues } from './ops.js';

type CustomGradFn = Parameters<typeof tf.customGrad>[0];

/** ‖z_i − c_k‖² for every row and code, [n, K], from ‖z‖² + ‖c‖² − 2 z·cᵀ. */
export function squaredDistances(z: tf.Tensor2D, codebook: tf.Tensor2D): tf.Tensor2D {
  const zz = tf.sum(tf.square(z), 1, true);
  const cc = tf.reshape(tf.sum(tf.square(codebook), 1), [1, -1]);
  return tf.sub(tf.add(zz, cc), tf.mul(matMul(z, codebook, true), 2)) as tf.Tensor2D;
}

/** The nearest code of each row (ties to the lower index). */
export function nearestCodes(z: tf.Tensor2D, codebook: tf.Tensor2D): Int32Array {
  return tidyValues<Int32Array>(() => tf.argMin(squaredDistances(z, codebook), 1));
}

/**
 * The hard assignment with the straight-through gradient: value z + sg(c_k − z) (c_k up to float32 rounding),
 * ∂/∂z = identity, nothing (zeros) to c. One custom op: composed as z + stopGradient(c_k − z), the tape recorded
 * the gather and the difference and ran their backward on zeros ([n, D] zeros, their negation, a segment sum of
 * zeros into c, an add of −0 into ∂z), which changes no bit of either gradient.
 */
export function straightThrough(z: tf.Tensor2D, codebook: tf.Tensor2D, codes: Int32Array): tf.Tensor2D {
  const op = tf.customGrad(((zz: tf.Tensor2D, c: tf.Tensor2D) => ({
    value: tf.add(zz, tf.sub(tf.gather(c, tf.tensor1d(codes, 'int32')), zz)),
    gradFunc: (dy: tf.Tensor2D) => [dy, tf.zerosLike(c)],
  })) as unknown as CustomGradFn);
  return op(z, codebook) as tf.Tensor2D;
}

/** q(z = k | H_c) = softmax_k(−‖z − c_k‖² / T), [n, K]. */
export function softAssignment(z: tf.Tensor2D, codebook: tf.Tensor2D, temperature: number): tf.Tensor2D {
  return tf.softmax(tf.div(tf.neg(squaredDistances(z, codebook)), temperature)) as tf.Tensor2D;
}

/** Ĥ_c = Σ_k q(z = k | H_c) c_k (CaMRec §4.2, the inference-time environment representation). */
export function softQuantize(z: tf.Tensor2D, codebook: tf.Tensor2D, temperature: number): tf.Tensor2D {
  return matMul(softAssignment(z, codebook, temperature), codebook);
}

/** L_vq = mean‖sg(z) − c_k‖² + β · mean‖z − sg(c_k)‖², over the given rows and their codes. */
export function vqLoss(z: tf.Tensor2D, codebook: tf.Tensor2D, codes: Int32Array, commitment: number): tf.Scalar {
  const chosen = tf.gather(codebook, tf.tensor1d(codes, 'int32'));
  const codebookTerm = tf.mean(tf.squaredDifference(stopGradient(z), chosen));
  const commitTerm = tf.mean(tf.squaredDifference(z, stopGradient(chosen)));
  return tf.add(codebookTerm, tf.mul(commitTerm, commitment)) as tf.Scalar;
}

/** exp(H(p)) of the code-usage distribution: K when every code is used equally, 1 when one code takes all. */
export function codebookPerplexity(codes: Int32Array, size: number): number {
  const counts = new Float64Array(size);
  for (const c of codes) counts[c]++;
  let h = 0;
  for (const n of counts) {
    if (n === 0) continue;
    const p = n / codes.length;
    h -= p * Math.log(p);
  }
  return Math.exp(h);
}
