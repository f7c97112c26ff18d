/**
 * BPR-MF (Rendle et al., UAI 2009): score = ⟨e_u, e_i⟩ with the BPR pairwise loss and MMRec's EmbLoss.
 * A step reads and updates only the batch's rows.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { bprLoss, embLoss, gatherRows, uniqueSorted } from './common.js';
import type { Model, Prepared } from './types.js';

export const bprHyper = z.object({
  dim: z.number().int().positive().default(64),
  reg: z.number().nonnegative().default(1e-4),
}).strict();
export type BprHyper = z.infer<typeof bprHyper>;

const nothing: Prepared = { release: () => undefined };

export const bpr: Model<BprHyper, Prepared> = {
  name: 'bpr',
  description: 'BPR matrix factorisation',
  hyper: bprHyper,
  meanTerms: ['bpr'],
  prepare: () => nothing,
  tables: (data, h) => [
    { name: 'user', rows: data.nUsers, dim: h.dim, init: { kind: 'xavierUniform' }, trainable: true },
    { name: 'item', rows: data.nItems, dim: h.dim, init: { kind: 'xavierUniform' }, trainable: true },
  ],
  rows: (batch) => ({ user: uniqueSorted(batch.users), item: uniqueSorted(batch.pos, batch.neg) }),
  loss(params, batch, _prep, h) {
    const u = gatherRows(params.user, batch.users);
    const p = gatherRows(params.item, batch.pos);
    const n = gatherRows(params.item, batch.neg);
    const bpr = bprLoss(u, p, n);
    const reg = tf.mul(embLoss(batch.users.length, u, p, n), h.reg) as tf.Scalar;
    return { total: tf.add(bpr, reg) as tf.Scalar, parts: { bpr, reg } };
  },
  represent: (params) => ({ users: params.user.value, items: params.item.value }),
};
