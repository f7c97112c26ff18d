/**
 * LightGCN (He et al., SIGIR 2020) as MMRec trains it: ego embeddings for users and items, K layers of
 * propagation over the symmetric-normalised bipartite graph (eq. 7), final embedding = mean of the K+1 layer
 * outputs (eq. 8), BPR loss plus MMRec's EmbLoss on the batch's ego rows. The full graph is propagated at
 * every step, so every row is read and every row gets a gradient; the embeddings are trained as MMRec's dense
 * torch.optim.Adam trains them (every row moves at every step). `neighbourhood` computes the same loss from the
 * batch's L-hop neighbourhood only, on message-flow blocks (docs/distributed.md §5).
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { propagateMean, registerSparse, releaseSparse, type SparseHandle } from '../compute/index.js';
import type { Dataset } from '../data/types.js';
import { type Csr, messageFlowBlocks, normalizedBipartiteAdjacency } from '../graph/index.js';
import { bprLoss, embLoss, gatherRows, localRows, uniqueSorted } from './common.js';
import { blockLayerMean, registerBlocks, type RegisteredBlocks } from './modules/blocks.js';
import type { Batch, LossOutput, Model, NeighbourhoodLoss, Params, Prepared, Representations } from './types.js';

export const lightgcnHyper = z.object({
  dim: z.number().int().positive().default(64),
  layers: z.number().int().min(0).default(3),
  reg: z.number().nonnegative().default(1e-4),
}).strict();
export type LightGcnHyper = z.infer<typeof lightgcnHyper>;

export interface GraphPrepared extends Prepared {
  /** Â (eq. 7) over users then items, registered for spmm. */
  readonly adjacency: SparseHandle;
  /** The same Â as CSR, for the message-flow blocks of a batch. */
  readonly graph: Csr;
  readonly nUsers: number;
  readonly nItems: number;
}

export function prepareBipartite(data: Dataset): GraphPrepared {
  const graph = normalizedBipartiteAdjacency(data.trainByUser);
  const adjacency = registerSparse(graph, { symmetric: true });
  return { adjacency, graph, nUsers: data.nUsers, nItems: data.nItems, release: () => releaseSparse(adjacency) };
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

/** BPR over the triples and reg · EmbLoss over their ego rows; row k of `nodes` indexes triple k's u, then p, then q. */
function tripleLoss(final: tf.Tensor2D, ego: tf.Tensor2D, nodes: Int32Array, n: number, reg: number): LossOutput {
  // one gather per table (its gradient is one segment sum), then split into users, positives, negatives
  const at = tf.tensor1d(nodes, 'int32');
  const [u, p, q] = tf.split(tf.gather(final, at), [n, n, n], 0) as tf.Tensor2D[];
  const [u0, p0, q0] = tf.split(tf.gather(ego, at), [n, n, n], 0) as tf.Tensor2D[];
  const bpr = bprLoss(u, p, q);
  const regPart = tf.mul(embLoss(n, u0, p0, q0), reg) as tf.Scalar;
  return { total: tf.add(bpr, regPart) as tf.Scalar, parts: { bpr, reg: regPart } };
}

/** A batch's blocks over Â from its users, positives and negatives, and the rows of each table the last frontier holds. */
interface LightGcnBlocks extends RegisteredBlocks {
  readonly rows: { user: Int32Array; item: Int32Array };
}

function lightgcnBlocks(batch: Batch, prep: GraphPrepared, layers: number): LightGcnBlocks {
  const flow = messageFlowBlocks(prep.graph, batchNodes(batch, prep.nUsers), layers);
  const users: number[] = [];
  const items: number[] = [];
  for (const v of flow.nodes) {
    if (v < prep.nUsers) users.push(v);
    else items.push(v - prep.nUsers);
  }
  const registered = registerBlocks(flow);
  return { ...registered, rows: { user: Int32Array.from(users).sort(), item: Int32Array.from(items).sort() } };
}

/** The ego rows of the nodes of F_L, in frontier order, gathered from the pulled user and item rows. */
function frontierEgo(params: Params, nodes: Int32Array, nUsers: number): tf.Tensor2D {
  const userRows = params.user.value.shape[0];
  const users = localRows(params.user, nodes.filter((v) => v < nUsers));
  const items = localRows(params.item, nodes.filter((v) => v >= nUsers).map((v) => v - nUsers));
  const at = new Int32Array(nodes.length);
  for (let r = 0, a = 0, b = 0; r < nodes.length; r++) at[r] = nodes[r] < nUsers ? users[a++] : userRows + items[b++];
  const pulled = tf.concat([params.user.value, params.item.value], 0);
  return tf.gather(pulled, tf.tensor1d(at, 'int32')) as tf.Tensor2D;
}

/** The loss of `lightgcn.loss` at the seeds, propagated on the batch's blocks (docs/distributed.md §5). */
const onBlocks: NeighbourhoodLoss<LightGcnHyper, GraphPrepared, LightGcnBlocks> = {
  blocks: (batch, prep, h) => lightgcnBlocks(batch, prep, h.layers),
  rows: (b) => ({ ...b.rows }),
  loss(params, batch, b, prep, h) {
    const ego = frontierEgo(params, b.flow.nodes, prep.nUsers);
    // F_0 is a prefix of F_L: the seed positions index the ego rows as well as the layer mean
    return tripleLoss(blockLayerMean(b, ego), ego, b.flow.seedIndex, batch.users.length, h.reg);
  },
};

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
    { name: 'user', rows: data.nUsers, dim: h.dim, init: { kind: 'xavierUniform' }, trainable: true, dense: true },
    { name: 'item', rows: data.nItems, dim: h.dim, init: { kind: 'xavierUniform' }, trainable: true, dense: true },
  ],
  rows: () => ({ user: null, item: null }),
  loss(params: Params, batch: Batch, prep: GraphPrepared, h: LightGcnHyper): LossOutput {
    const ego = tf.concat([params.user.value, params.item.value], 0) as tf.Tensor2D;
    const all = propagate(prep.adjacency, ego, h.layers);
    return tripleLoss(all, ego, batchNodes(batch, prep.nUsers), batch.users.length, h.reg);
  },
  batchTerms: (params, batch, _prep, h) => ({ reg: egoReg(params, batch, h.reg) }),
  batchTermRows: (batch) => ({ user: uniqueSorted(batch.users), item: uniqueSorted(batch.pos, batch.neg) }),
  neighbourhood: onBlocks,
  represent: (params, prep, h) => finalEmbeddings(params, prep, h.layers),
};

/** reg · MMRec's EmbLoss over the batch's ego rows: `loss`'s reg part without the propagation. */
function egoReg(params: Params, batch: Batch, reg: number): tf.Scalar {
  const u0 = gatherRows(params.user, batch.users);
  const p0 = gatherRows(params.item, batch.pos);
  const q0 = gatherRows(params.item, batch.neg);
  return tf.mul(embLoss(batch.users.length, u0, p0, q0), reg) as tf.Scalar;
}
