/** Small differentiable building blocks shared by CaMRec's modules. */
import * as tf from '@tensorflow/tfjs';

type CustomGradFn = Parameters<typeof tf.customGrad>[0];

/**
 * a·b (or a·bᵀ), rank 2 or batched rank 3. On the wasm backend our BatchMatMul kernel (src/compute/kernels/
 * batch-matmul.ts) runs every flag and batch through XNNPACK's plain layout, forward and in stock gradients.
 */
export function matMul<T extends tf.Tensor2D | tf.Tensor3D>(a: T, b: T, transposeB = false): T {
  return tf.matMul(a, b, false, transposeB) as T;
}

/** x·W + b. */
export function linear(x: tf.Tensor2D, w: tf.Tensor2D, b?: tf.Tensor2D): tf.Tensor2D {
  const y = matMul(x, w);
  return (b ? tf.add(y, b) : y) as tf.Tensor2D;
}

/** The identity forward, a zero gradient backward: sg(·) of VQ-VAE (van den Oord et al. 2017). */
export const stopGradient = tf.customGrad(((x: tf.Tensor) => ({
  value: tf.clone(x),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as unknown as CustomGradFn) as (x: tf.Tensor) => tf.Tensor;

/** Rows scaled to unit L2 norm (zero rows stay zero). */
export function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.mul(x, tf.rsqrt(tf.add(tf.sum(tf.square(x), 1, true), 1e-24)));
}

/**
 * The values of a tensor made inside a tidy scope, read after the scope. Never return a typed array from
 * tf.tidy itself: it walks the returned value element by element looking for tensors (about 1 µs an element).
 */
export function tidyValues<T extends Float32Array | Int32Array>(f: () => tf.Tensor): T {
  const t = tf.tidy(f);
  try {
    return t.dataSync() as T;
  } finally {
    t.dispose();
  }
}

/** Mean squared error over every entry. */
export function mse(a: tf.Tensor, b: tf.Tensor): tf.Scalar {
  return tf.mean(tf.squaredDifference(a, b));
}
