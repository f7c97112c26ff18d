/**
 * LightGCN (He et al., SIGIR 2020) as MMRec trains it: ego embeddings for users and items, K layers of
 * propagation over the symmetric-normalised bipartite graph (eq. 7), final embedding = mean of the K+1 layer
 * outputs (eq. 8), BPR loss plus MMRec's EmbLoss on the batch's ego rows. The full graph is propagated at
 * every step, so every row is read and every row gets a gradient.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { propagateMean, registerSparse, releaseSparse, type SparseHandle } from '../compute/index.js';
import type { Dataset } from '../data/types.js';
import { normalizedBipartiteAdjacency } from '../graph/index.js';
import { bprLoss, embLoss, gatherRows } from './common.js';
import type { Batch, LossOutput, Model, Params, Prepared, Representations } from './types.js';

export const lightgcnHyper = z.object({
  dim: z.number().int().positive().default(64),
  layers: z.number().int().min(0).default(3),
  reg: z.number().nonnegative().default(1e-4),
}).strict();
export type LightGcnHyper = z.infer<typeof lightgcnHyper>;

export interface GraphPrepared extends Prepared {
  readonly adjacency: SparseHandle;
  readonly nUsers: number;
  readonly nItems: number;
}

export function prepareBipartite(data: Dataset): GraphPrepared {
  const adjacency = registerSparse(normalizedBipartiteAdjacency(data.trainByUser), { symmetric: true });
  return { adjacency, nUsers: data.nUsers, nItems: data.nItems, release: () => releaseSparse(adjacency) };
}

/** E = mean over k = 0..K of Â^k E0 (LightGCN eq. 8, with α_k = 1/(K+1)), as one fused op. */
export function propagate(adjacency: SparseHandle, ego: tf.Tensor2D, layers: number): tf.Tensor2D {
  return propagateMean(adjacency, ego, layers);
}

/** Node ids of a batch's users, positives and negatives in the joint user+item numbering, concatenated. */
function batchNodes(batch: Batch, nUsers: number): Int32Array {
  const n = batch.users.length;
  const ids = new Int32Array(3 * n);
  ids.set(batch.users, 0);
  for (let k = 0; k < n; k++) {
    ids[n + k] = nUsers + batch.pos[k];
    ids[2 * n + k] = nUsers + batch.neg[k];
  }
  return ids;
}

function finalEmbeddings(params: Params, prep: GraphPrepared, layers: number): Representations {
  const ego = tf.concat([params.user.value, params.item.value], 0) as tf.Tensor2D;
  const all = propagate(prep.adjacency, ego, layers);
  const [users, items] = tf.split(all, [prep.nUsers, prep.nItems], 0) as [tf.Tensor2D, tf.Tensor2D];
  return { users, items };
}

export const lightgcn: Model<LightGcnHyper, GraphPrepared> = {
  name: 'lightgcn',
  description: 'LightGCN: mean of K propagations over the normalised user-item graph, BPR loss',
  hyper: lightgcnHyper,
  meanTerms: ['bpr'],
  prepare: (data) => prepareBipartite(data),
  tables: (data, h) => [
    { name: 'user', rows: data.nUsers, dim: h.dim, init: { kind: 'xavierUniform' }, trainable: true },
    { name: 'item', rows: data.nItems, dim: h.dim, init: { kind: 'xavierUniform' }, trainable: true },
  ],
  rows: () => ({ user: null, item: null }),
  loss(params: Params, batch: Batch, prep: GraphPrepared, h: LightGcnHyper): LossOutput {
    const ego = tf.concat([params.user.value, params.item.value], 0) as tf.Tensor2D;
    const all = propagate(prep.adjacency, ego, h.layers);
    const n = batch.users.length;
    // one gather per table (its gradient is one segment sum), then split into users, positives, negatives
    const nodes = tf.tensor1d(batchNodes(batch, prep.nUsers), 'int32');
    const [u, p, q] = tf.split(tf.gather(all, nodes), [n, n, n], 0) as tf.Tensor2D[];
    const [u0, p0, q0] = tf.split(tf.gather(ego, nodes), [n, n, n], 0) as tf.Tensor2D[];
    const bpr = bprLoss(u, p, q);
    const reg = tf.mul(embLoss(n, u0, p0, q0), h.reg) as tf.Scalar;
    return { total: tf.add(bpr, reg) as tf.Scalar, parts: { bpr, reg } };
  },
  batchTerms: (params, batch, _prep, h) => ({ reg: egoReg(params, batch, h.reg) }),
  represent: (params, prep, h) => finalEmbeddings(params, prep, h.layers),
};

/** reg · MMRec's EmbLoss over the batch's ego rows: `loss`'s reg part without the propagation. */
function egoReg(params: Params, batch: Batch, reg: number): tf.Scalar {
  const u0 = gatherRows(params.user, batch.users);
  const p0 = gatherRows(params.item, batch.pos);
  const q0 = gatherRows(params.item, batch.neg);
  return tf.mul(embLoss(batch.users.length, u0, p0, q0), reg) as tf.Scalar;
}
