/**
 * The item semantic graph (CaMRec §4.1, "ISG", after FREEDOM, Zhou & Shen, MM 2023): for each modality a
 * frozen kNN graph over items, binarised and normalised, S_ij = 1/√(d_i d_j) with d the out-degree k, so
 * S_ij = 1/k for j among item i's k neighbours (the item itself included, as in the kNN files). FREEDOM's
 * mixed graph is S_mm = Σ_m w_m S^m. Everything is sparse: a modality with raw features and no kNN file gets
 * its top-k by cosine similarity in row blocks, and no items × items matrix is ever held.
 */
import * as tf from '@tensorflow/tfjs';
import { computePool, nativeKernels } from '../../compute/pool.js';
import type { KnnGraph, Modality } from '../../data/types.js';
import { csrFromCoo, type Csr } from '../../graph/index.js';
import { tidyValues } from './ops.js';

/** Rows scored at once when finding neighbours from features: block × nItems similarities. */
const KNN_BLOCK = 256;

/** S^m from a kNN graph: entry (i, j) = 1/k for j in knn(i). */
export function knnItemGraph(knn: KnnGraph, nItems: number): Csr {
  const n = knn.idx.length;
  const rows = new Int32Array(n);
  const cols = new Int32Array(n);
  const vals = new Float32Array(n).fill(1 / knn.k);
  for (let p = 0; p < n; p++) {
    rows[p] = Math.floor(p / knn.k);
    cols[p] = knn.idx[p];
  }
  return csrFromCoo(nItems, nItems, rows, cols, vals);
}

/**
 * Each item's k most cosine-similar items (itself included), from [n, dim] features. With the native addon this
 * is its fused scoring + top-k (every item against every item, one row of scores per thread at a time);
 * without it, blocks of rows are scored by one tfjs product each. Ties go to the lower item either way; the
 * two paths sum in different orders, so a near-tie can break differently between them.
 */
export function knnFromFeatures(features: Float32Array, n: number, dim: number, k: number): KnnGraph {
  const kk = Math.min(k, n);
  const unit = unitRows(features, n, dim);
  const idx = new Int32Array(n * kk);
  const sim = new Float32Array(n * kk);
  const native = nativeKernels();
  if (native) {
    const all = Int32Array.from({ length: n }, (_, i) => i);
    native.scoreTopK(unit, all, unit, n, dim, new Int32Array(n + 1), new Int32Array(0), kk, idx, sim, computePool().threads);
    return { k: kk, idx, sim };
  }
  const unitT = tf.tidy(() => tf.transpose(tf.tensor2d(unit, [n, dim])) as tf.Tensor2D);
  try {
    for (let start = 0; start < n; start += KNN_BLOCK) {
      const rows = Math.min(KNN_BLOCK, n - start);
      const scores = tidyValues<Float32Array>(() => tf.matMul(tf.tensor2d(unit.subarray(start * dim, (start + rows) * dim), [rows, dim]), unitT));
      for (let r = 0; r < rows; r++) topK(scores.subarray(r * n, r * n + n), kk, idx.subarray((start + r) * kk), sim.subarray((start + r) * kk));
    }
  } finally {
    unitT.dispose();
  }
  return { k: kk, idx, sim };
}

/** Rows scaled to unit L2 norm (zero rows stay zero): the cosine geometry the kNN graphs use. */
export function unitRows(features: Float32Array, n: number, dim: number): Float32Array {
  const unit = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += features[i * dim + j] ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < dim; j++) unit[i * dim + j] = features[i * dim + j] * inv;
  }
  return unit;
}

/** The k largest entries of `s` (ties to the lower index), best first. */
function topK(s: Float32Array, k: number, idx: Int32Array, val: Float32Array): void {
  let filled = 0;
  for (let c = 0; c < s.length; c++) {
    const v = s[c];
    if (filled === k && v <= val[k - 1]) continue;
    let p = filled < k ? filled++ : k - 1;
    while (p > 0 && val[p - 1] < v) {
      val[p] = val[p - 1];
      idx[p] = idx[p - 1];
      p--;
    }
    val[p] = v;
    idx[p] = c;
  }
}

/** A modality's kNN graph: the shipped one, or one built from its features with `k` neighbours. */
export function modalityKnn(m: Modality, nItems: number, k: number): KnnGraph {
  return m.knn ?? knnFromFeatures(m.features, nItems, m.dim, k);
}

/** Σ_m w_m S^m as one CSR (entries of the same (i, j) summed). */
export function mixGraphs(graphs: readonly Csr[], weights: readonly number[]): Csr {
  if (graphs.length === 0) throw new RangeError('mixGraphs: no graphs');
  const n = graphs[0].nRows;
  const acc = new Map<number, number>();
  graphs.forEach((g, m) => {
    for (let r = 0; r < g.nRows; r++) {
      for (let p = g.indptr[r]; p < g.indptr[r + 1]; p++) {
        const key = r * n + g.indices[p];
        acc.set(key, (acc.get(key) ?? 0) + weights[m] * (g.values ? g.values[p] : 1));
      }
    }
  });
  const rows = new Int32Array(acc.size);
  const cols = new Int32Array(acc.size);
  const vals = new Float32Array(acc.size);
  let p = 0;
  for (const [key, v] of acc) {
    rows[p] = Math.floor(key / n);
    cols[p] = key % n;
    vals[p++] = v;
  }
  return csrFromCoo(n, n, rows, cols, vals);
}

/**
 * FREEDOM's modality weights: `imageWeight` for a modality named 'image', the rest shared equally by the
 * others (0.1 image / 0.9 text by default; a dataset without an image modality weighs its modalities equally).
 */
export function modalityWeights(names: readonly string[], imageWeight: number): number[] {
  const hasImage = names.includes('image');
  if (!hasImage || names.length === 1) return names.map(() => 1 / names.length);
  const rest = (1 - imageWeight) / (names.length - 1);
  return names.map((n) => (n === 'image' ? imageWeight : rest));
}
