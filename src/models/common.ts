import * as tf from '@tensorflow/tfjs';
import type { Param } from './types.js';

/** Sorted unique ids of the union of some id lists. */
export function uniqueSorted(...lists: Int32Array[]): Int32Array {
  let n = 0;
  for (const l of lists) n += l.length;
  const all = new Int32Array(n);
  let p = 0;
  for (const l of lists) {
    all.set(l, p);
    p += l.length;
  }
  all.sort();
  let w = 0;
  for (let i = 0; i < n; i++) if (i === 0 || all[i] !== all[i - 1]) all[w++] = all[i];
  return all.slice(0, w);
}

/** Positions of global row ids within a pulled param (binary search in its sorted ids). */
export function localRows(param: Param, ids: Int32Array): Int32Array {
  const table = param.ids;
  if (!table) return ids;
  const out = new Int32Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    let lo = 0;
    let hi = table.length - 1;
    const id = ids[i];
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (table[mid] < id) lo = mid + 1;
      else hi = mid;
    }
    if (table[lo] !== id) throw new RangeError(`row ${id} was not pulled`);
    out[i] = lo;
  }
  return out;
}

/** Gathers rows of a pulled param by global id. */
export function gatherRows(param: Param, ids: Int32Array): tf.Tensor2D {
  return tf.gather(param.value, tf.tensor1d(localRows(param, ids), 'int32')) as tf.Tensor2D;
}

/** BPR loss as MMRec: −mean(log(1e-10 + σ(s⁺ − s⁻))) (Rendle et al. 2009). */
export function bprLoss(u: tf.Tensor2D, pos: tf.Tensor2D, neg: tf.Tensor2D): tf.Scalar {
  const diff = tf.sub(tf.sum(tf.mul(u, pos), 1), tf.sum(tf.mul(u, neg), 1));
  return tf.neg(tf.mean(tf.log(tf.add(tf.sigmoid(diff), 1e-10)))) as tf.Scalar;
}

/**
 * MMRec's EmbLoss: Σ‖E_k‖_F / batch — Frobenius norms, not squared, of the batch's ego embeddings
 * (as the peer and MMRec's LightGCN use it).
 */
export function embLoss(batchSize: number, ...embs: tf.Tensor2D[]): tf.Scalar {
  let s: tf.Scalar = tf.scalar(0);
  for (const e of embs) s = tf.add(s, tf.sqrt(tf.sum(tf.square(e))));
  return tf.div(s, batchSize) as tf.Scalar;
}
