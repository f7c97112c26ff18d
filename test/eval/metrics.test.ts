import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MetricSums, mergeTotals, metricMeans } from '../../src/eval/index.js';
import { csrFromRows } from './fixtures.js';

const log2 = Math.log2;

/** Metrics of one user whose ranked list is `ranked` (best first) and whose ground truth is `truth`. */
function metricsOf(ks: number[], ranked: number[], truth: number[], nItems = 100): Record<string, number> {
  const sums = new MetricSums(ks);
  const list = Int32Array.from({ length: sums.kMax }, (_, r) => ranked[r] ?? -1);
  sums.addUser(list, 0, csrFromRows(nItems, [truth]), 0);
  return sums.means();
}

function assertClose(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) < 1e-12, `${what}: ${actual} ≠ ${expected}`);
}

describe('MetricSums (MMRec metric definitions)', () => {
  it('ground truth at ranks 1 and 3', () => {
    // GT = {7, 9}; the list ranks 7 first and 9 third.
    const m = metricsOf([2, 5], [7, 1, 9, 2, 3], [7, 9]);
    assertClose(m['ndcg@5'], (1 + 1 / 2) / (1 + 1 / log2(3)), 'ndcg@5');
    assertClose(m['ndcg@2'], 1 / (1 + 1 / log2(3)), 'ndcg@2');
    assertClose(m['recall@5'], 1, 'recall@5');
    assertClose(m['recall@2'], 1 / 2, 'recall@2');
    assertClose(m['precision@5'], 2 / 5, 'precision@5');
    assertClose(m['precision@2'], 1 / 2, 'precision@2');
    assertClose(m['hit@2'], 1, 'hit@2');
    assertClose(m['mrr@5'], 1, 'mrr@5');
  });

  it('first hit at rank 4: mrr and hit are 0 below K = 4', () => {
    const m = metricsOf([3, 4, 10], [0, 1, 2, 5, 6, 7, 8, 9, 10, 11], [5, 11]);
    assertClose(m['mrr@3'], 0, 'mrr@3');
    assertClose(m['hit@3'], 0, 'hit@3');
    assertClose(m['ndcg@3'], 0, 'ndcg@3');
    assertClose(m['mrr@4'], 1 / 4, 'mrr@4');
    assertClose(m['hit@4'], 1, 'hit@4');
    assertClose(m['ndcg@4'], 1 / log2(5) / (1 + 1 / log2(3)), 'ndcg@4');
    assertClose(m['mrr@10'], 1 / 4, 'mrr@10');
    assertClose(m['ndcg@10'], (1 / log2(5) + 1 / log2(11)) / (1 + 1 / log2(3)), 'ndcg@10');
    assertClose(m['recall@10'], 1, 'recall@10');
    assertClose(m['precision@10'], 2 / 10, 'precision@10');
  });

  it('IDCG runs over min(|GT|, K): more ground truth than K', () => {
    const m = metricsOf([2, 3], [4, 5, 0], [4, 5, 6, 7]);
    assertClose(m['ndcg@2'], 1, 'ndcg@2 with both slots relevant');
    assertClose(m['recall@2'], 2 / 4, 'recall@2');
    const ideal3 = 1 + 1 / log2(3) + 1 / log2(4);
    assertClose(m['ndcg@3'], (1 + 1 / log2(3)) / ideal3, 'ndcg@3');
  });

  it('a short list (-1 padding) counts K in precision and never matches', () => {
    const m = metricsOf([5], [3], [3, 8]);
    assertClose(m['precision@5'], 1 / 5, 'precision@5');
    assertClose(m['recall@5'], 1 / 2, 'recall@5');
  });

  it('averages over users', () => {
    const sums = new MetricSums([1]);
    const truth = csrFromRows(10, [[1], [2], [3]]);
    sums.addUser(Int32Array.of(1), 0, truth, 0); // hit
    sums.addUser(Int32Array.of(5), 0, truth, 1); // miss
    sums.addUser(Int32Array.of(3), 0, truth, 2); // hit
    assert.equal(sums.users, 3);
    assertClose(sums.means()['recall@1'], 2 / 3, 'recall@1');
    assertClose(sums.means()['mrr@1'], 2 / 3, 'mrr@1');
  });

  it('reports every metric at every K, and zeros with no users', () => {
    const m = new MetricSums([5, 10]).means();
    assert.deepEqual(Object.keys(m).sort(), [
      'hit@10', 'hit@5', 'mrr@10', 'mrr@5', 'ndcg@10', 'ndcg@5', 'precision@10', 'precision@5', 'recall@10', 'recall@5',
    ]);
    assert.ok(Object.values(m).every((v) => v === 0));
  });

  it('totals of disjoint users merge into the totals of all of them; parts with other metrics are refused', () => {
    const truth = csrFromRows(10, [[1], [2], [3], [4, 5]]);
    const lists = [Int32Array.of(1, 9), Int32Array.of(5, 2), Int32Array.of(3, 0), Int32Array.of(7, 5)];
    const all = new MetricSums([1, 2]);
    const parts = [new MetricSums([1, 2]), new MetricSums([1, 2])];
    lists.forEach((l, u) => {
      all.addUser(l, 0, truth, u);
      parts[u < 1 ? 0 : 1].addUser(l, 0, truth, u);
    });
    const merged = mergeTotals(parts.map((p) => p.totals()));
    assert.equal(merged.users, 4);
    for (const [k, v] of Object.entries(all.means())) assertClose(metricMeans(merged)[k], v, k);
    assert.throws(() => mergeTotals([all.totals(), new MetricSums([1, 5]).totals()]), /part 1 has metrics \[.*@5.*\], part 0/);
    assert.throws(() => mergeTotals([]), /nothing to merge/);
  });
});
