/**
 * The gradients of Sum and Mean without a ones tensor. tfjs's own multiply dy by `ones(x.shape)`, which it fills
 * element by element in JavaScript and then copies into the backend: CaMRec's step sums and averages dozens of
 * [items, 64] tensors, so this cost about 20 ms a step. Broadcasting dy (the Tile kernel) gives the same bits,
 * since multiplying by 1 is exact.
 */
import * as tf from '@tensorflow/tfjs';
import { Mean, Sum, util } from '@tensorflow/tfjs';
import type { GradConfig, NamedAttrMap } from '@tensorflow/tfjs';

/** dy reshaped to x's rank (reduced axes of size 1) and broadcast to x's shape. */
function spread(dy: tf.Tensor, x: tf.Tensor, attrs: NamedAttrMap): tf.Tensor {
  if (x.size === 0) return tf.zerosLike(x); // tf.broadcastTo returns its input unchanged for a 0-sized target
  const shape = x.shape.slice();
  for (const axis of util.parseAxisParam(attrs.axis as number | number[], x.shape)) shape[axis] = 1;
  return tf.broadcastTo(tf.reshape(dy, shape), x.shape);
}

export const sumGradient: GradConfig = {
  kernelName: Sum,
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => ({ x: () => spread(dy as tf.Tensor, saved[0], attrs) }),
};

export const meanGradient: GradConfig = {
  kernelName: Mean,
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const x = saved[0];
    const axes = util.parseAxisParam(attrs.axis as number | number[], x.shape);
    const count = axes.reduce((n, a) => n * x.shape[a], 1);
    return { x: () => tf.div(spread(dy as tf.Tensor, x, attrs), count) };
  },
};
