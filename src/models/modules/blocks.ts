/**
 * Propagation on a batch's message-flow blocks (src/graph/blocks.ts): the same numbers at the seed nodes as the
 * full-graph propagation, from the rows of the last frontier only (docs/distributed.md §5).
 */
import * as tf from '@tensorflow/tfjs';
import { registerSparse, releaseSparse, spmm, type SparseHandle } from '../../compute/index.js';
import type { MessageFlowBlocks } from '../../graph/index.js';
import type { Prepared } from '../types.js';

/** A batch's blocks with each one registered for spmm (handles[k − 1] = B_k); `release` frees them. */
export interface RegisteredBlocks extends Prepared {
  readonly flow: MessageFlowBlocks;
  readonly handles: readonly SparseHandle[];
}

export function registerBlocks(flow: MessageFlowBlocks): RegisteredBlocks {
  const handles: SparseHandle[] = [];
  try {
    for (const b of flow.blocks) handles.push(registerSparse(b));
  } catch (err) {
    handles.forEach(releaseSparse);
    throw err;
  }
  return { flow, handles, release: () => handles.forEach(releaseSparse) };
}

/**
 * LightGCN eq. 8 at the seed nodes: 1/(L+1) Σ_{k=0..L} h^k[F_0], with h^0 = `ego` (the rows of F_L in frontier
 * order) and h^k[F_{L-k}] = B_{L-k+1} · h^{k-1}[F_{L-k+1}]. F_0 being a prefix of every frontier, h^k[F_0] is the
 * first |F_0| rows of each layer. Scaled by 1/(L+1), as CamrecPropagateMean does. Differentiable in `ego` (spmm's gradient is the block's transpose).
 */
export function blockLayerMean(blocks: RegisteredBlocks, ego: tf.Tensor2D): tf.Tensor2D {
  const { handles, flow } = blocks;
  const layers = handles.length;
  const seeds = flow.sizes[0];
  if (ego.shape[0] !== flow.sizes[layers]) throw new RangeError(`blockLayerMean: ${ego.shape[0]} ego rows for a last frontier of ${flow.sizes[layers]}`);
  return tf.tidy(() => {
    let h = ego;
    let sum = tf.slice(ego, [0, 0], [seeds, -1]);
    for (let k = layers; k >= 1; k--) {
      h = spmm(handles[k - 1], h);
      sum = tf.add(sum, tf.slice(h, [0, 0], [seeds, -1]));
    }
    return tf.mul(sum, 1 / (layers + 1));
  });
}
