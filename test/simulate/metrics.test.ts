import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assignmentCounts,
  codebookPerplexity,
  concatColumns,
  kmeans,
  kmeansPlusPlus,
  normalizedMutualInfo,
  rocAuc,
  spearman,
  averageRanks,
} from '../../src/simulate/index.js';
import { CounterRng } from '../../src/random/index.js';

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test('NMI matches a hand computation and its invariances', () => {
  // a = [0 0 1 1], b = [0 0 0 1]: H(a) = ln 2, H(b) = −(3/4 ln 3/4 + 1/4 ln 1/4),
  // I = Σ p_ij ln(p_ij / p_i p_j) = ½ ln(½ / (½·¾)) + ¼ ln(¼ / (½·¾)) + ¼ ln(¼ / (½·¼)).
  const a = Int32Array.from([0, 0, 1, 1]);
  const b = Int32Array.from([0, 0, 0, 1]);
  const ha = Math.log(2);
  const hb = -(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25));
  const mi = 0.5 * Math.log(0.5 / 0.375) + 0.25 * Math.log(0.25 / 0.375) + 0.25 * Math.log(0.25 / 0.125);
  close(normalizedMutualInfo(a, b), mi / ((ha + hb) / 2));
  close(normalizedMutualInfo(b, a), normalizedMutualInfo(a, b));
  // relabelling either side changes nothing; identical partitions score 1, independent ones 0
  close(normalizedMutualInfo(Int32Array.from([5, 5, 2, 2]), Int32Array.from([1, 1, 1, 0])), mi / ((ha + hb) / 2));
  close(normalizedMutualInfo(Int32Array.from([0, 1, 2, 0, 1, 2]), Int32Array.from([2, 0, 1, 2, 0, 1])), 1);
  close(normalizedMutualInfo(Int32Array.from([0, 0, 1, 1]), Int32Array.from([0, 1, 0, 1])), 0);
  close(normalizedMutualInfo(Int32Array.from([3, 3, 3]), Int32Array.from([0, 0, 0])), 1);
  close(normalizedMutualInfo(Int32Array.from([0, 0, 0, 0]), Int32Array.from([0, 1, 0, 1])), 0);
  assert.throws(() => normalizedMutualInfo(Int32Array.from([0]), Int32Array.from([0, 1])), RangeError);
});

test('ROC AUC is the Mann–Whitney statistic with ties at half credit', () => {
  close(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75); // sklearn's doc example
  close(rocAuc([1, 2, 3], [0, 1, 1]), 1);
  close(rocAuc([3, 2, 1], [0, 1, 1]), 0);
  close(rocAuc([5, 5, 5, 5], [0, 1, 0, 1]), 0.5);
  // positives {2, 3}, negatives {1, 2}: pairs (2>1) 1, (2=2) ½, (3>1) 1, (3>2) 1 → 3.5 / 4
  close(rocAuc([2, 3, 1, 2], [1, 1, 0, 0]), 3.5 / 4);
  // brute-force pair count on random scores with many ties
  const st = new CounterRng(3).stream('eval', 0, 0, 0);
  const scores = Array.from({ length: 300 }, () => st.nextInt(20));
  const labels = Array.from({ length: 300 }, () => st.nextInt(2));
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < 300; i++) {
    for (let j = 0; j < 300; j++) {
      if (labels[i] !== 1 || labels[j] !== 0) continue;
      pairs++;
      wins += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    }
  }
  close(rocAuc(scores, labels), wins / pairs);
  assert.throws(() => rocAuc([1, 2], [1, 1]), /both classes/);
  assert.throws(() => rocAuc([1, 2], [1, 2]), /not 0 or 1/);
});

test('codebook perplexity is exp(entropy): K for uniform use, 1 for collapse', () => {
  close(codebookPerplexity([5, 5, 5, 5]), 4);
  close(codebookPerplexity([0, 9, 0]), 1);
  const p = [0.5, 0.25, 0.25];
  close(codebookPerplexity([2, 1, 1]), Math.exp(-p.reduce((a, x) => a + x * Math.log(x), 0)));
  assert.deepEqual(Array.from(assignmentCounts(Int32Array.from([0, 2, 2, 1, 2]), 4)), [1, 1, 3, 0]);
  assert.throws(() => codebookPerplexity([0, 0]), /no assignments/);
  assert.throws(() => assignmentCounts(Int32Array.from([4]), 4), RangeError);
});

/** n points around each of k well-separated centres (±0.1 jitter), rows in an interleaved order. */
function blobs(k: number, n: number, dim: number): { x: Float32Array; label: Int32Array } {
  const st = new CounterRng(11).stream('eval', 0, 0, 1);
  const x = new Float32Array(k * n * dim);
  const label = new Int32Array(k * n);
  for (let r = 0; r < k * n; r++) {
    label[r] = r % k;
    for (let j = 0; j < dim; j++) x[r * dim + j] = 10 * (j === label[r] % dim ? label[r] + 1 : 0) + 0.2 * (st.nextFloat() - 0.5);
  }
  return { x, label };
}

test('k-means recovers well-separated clusters exactly and is deterministic under a seed', () => {
  const { x, label } = blobs(4, 50, 5);
  const a = kmeans(x, 200, 5, 4, { seed: 7 });
  close(normalizedMutualInfo(a.assignment, label), 1);
  const b = kmeans(x, 200, 5, 4, { seed: 7 });
  assert.deepEqual(a.assignment, b.assignment);
  assert.deepEqual(a.centroids, b.centroids);
  // inertia is the sum of squared distances to the assigned centroids, which are the cluster means
  let inertia = 0;
  for (let i = 0; i < 200; i++) for (let j = 0; j < 5; j++) inertia += (x[i * 5 + j] - a.centroids[a.assignment[i] * 5 + j]) ** 2;
  close(a.inertia, inertia, 1e-9);
  for (let c = 0; c < 4; c++) {
    const rows = Array.from(a.assignment.keys()).filter((i) => a.assignment[i] === c);
    const mean = rows.reduce((s, i) => s + x[i * 5], 0) / rows.length;
    close(a.centroids[c * 5], mean, 1e-6);
  }
});

test('k-means++ picks its centres among the rows, never the same row twice when rows are distinct', () => {
  const { x } = blobs(3, 20, 4);
  const c = kmeansPlusPlus(new CounterRng(1).stream('eval', 0, 0, 0), x, 60, 4, 3);
  const rowOf = (cc: number) => Array.from({ length: 60 }, (_, i) => i).find((i) => [0, 1, 2, 3].every((j) => x[i * 4 + j] === c[cc * 4 + j]));
  const rows = [0, 1, 2].map(rowOf);
  assert.ok(rows.every((r) => r !== undefined));
  assert.equal(new Set(rows).size, 3);
  // D² seeding on three far-apart blobs puts one centre in each blob
  assert.equal(new Set(rows.map((r) => (r as number) % 3)).size, 3);
});

test('k-means keeps every cluster non-empty even when k equals the number of distinct points', () => {
  const x = Float32Array.from([0, 0, 0, 0, 5, 5, 9, 9]); // rows 0,1 identical
  const r = kmeans(x, 4, 2, 3, { seed: 2, restarts: 2 });
  assert.deepEqual(Array.from(assignmentCounts(r.assignment, 3)).sort(), [1, 1, 2]);
  close(r.inertia, 0);
  assert.throws(() => kmeans(x, 4, 2, 5, { seed: 1 }), /k must be/);
});

test('concatColumns puts blocks side by side', () => {
  const out = concatColumns([{ data: [1, 2, 3, 4], dim: 2 }, { data: [9, 8], dim: 1 }], 2);
  assert.deepEqual(Array.from(out), [1, 2, 9, 3, 4, 8]);
});

test("Spearman's ρ is Pearson's on average ranks: monotone maps give ±1, ties match a hand computation", () => {
  assert.deepEqual(Array.from(averageRanks([10, 30, 20, 30])), [0, 2.5, 1, 2.5]);
  close(spearman([1, 2, 3, 4], [10, 100, 1000, 10000]), 1);
  close(spearman([1, 2, 3, 4], [4, 3, 2.5, -7]), -1);
  // a = [1, 2, 3, 4] → ranks 0..3; b = [1, 1, 2, 3] → ranks 0.5, 0.5, 2, 3; centred on 1.5:
  // Σ da·db = (−1.5)(−1) + (−0.5)(−1) + (0.5)(0.5) + (1.5)(1.5) = 4.5, Σ da² = 5, Σ db² = 1 + 1 + 0.25 + 2.25 = 4.5
  close(spearman([1, 2, 3, 4], [1, 1, 2, 3]), 4.5 / Math.sqrt(5 * 4.5));
  close(spearman([3, 1, 2], [30, 10, 20]), spearman([1, 2, 3], [10, 20, 30]));
  assert.ok(Number.isNaN(spearman([1, 2, 3], [5, 5, 5])), 'a constant side has no ranking');
  assert.throws(() => spearman([1, 2], [1]), RangeError);
  assert.throws(() => spearman([1], [1]), RangeError);
  assert.throws(() => averageRanks([1, Number.NaN]), RangeError);
});
