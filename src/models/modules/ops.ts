/** Small differentiable building blocks shared by CaMRec's modules. */
import * as tf from '@tensorflow/tfjs';

type CustomGradFn = Parameters<typeof tf.customGrad>[0];

/** The last two axes swapped (a copy). */
function swapLast(x: tf.Tensor): tf.Tensor {
  const perm = x.shape.map((_, i) => i);
  const r = perm.length;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return tf.transpose(x, perm);
}

/**
 * a·b with both operands in plain row-major order, forward and backward. The wasm backend multiplies
 * untransposed operands about ten times faster than it handles a transpose flag (XNNPACK covers only that
 * layout), and stock matMul's gradients use the flags (dA = dy·bᵀ, dB = aᵀ·dy); here every product
 * materialises its transpose first, which costs one copy of the smaller operand.
 */
const plainMatMul = tf.customGrad(((a: tf.Tensor, b: tf.Tensor, save: (ts: tf.Tensor[]) => void) => {
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved;
      return [tf.matMul(dy, swapLast(sb)), tf.matMul(swapLast(sa), dy)];
    },
  };
}) as unknown as CustomGradFn) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/** a·b (or a·bᵀ), rank 2 or batched rank 3, through the fast layout (see plainMatMul). */
export function matMul<T extends tf.Tensor2D | tf.Tensor3D>(a: T, b: T, transposeB = false): T {
  return plainMatMul(a, transposeB ? swapLast(b) : b) as T;
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

/** Mean squared error over every entry. */
export function mse(a: tf.Tensor, b: tf.Tensor): tf.Scalar {
  return tf.mean(tf.squaredDifference(a, b));
}
