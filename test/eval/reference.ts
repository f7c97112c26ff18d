/**
 * A brute-force evaluator for the tests: the full score row of each user (float64 dot products rounded to
 * float32, as both kernels produce them), train items removed, a full sort by (score desc, id asc), and the
 * metrics computed straight from their definitions (MMRec `src/utils/metrics.py`).
 */
import { hasEntry } from '../../src/graph/index.js';
import type { RandomSplit } from './fixtures.js';

function scoreRow(s: RandomSplit, u: number): Float32Array {
  const row = new Float32Array(s.nItems);
  for (let j = 0; j < s.nItems; j++) {
    let acc = 0;
    for (let d = 0; d < s.dim; d++) acc += s.userEmb[u * s.dim + d] * s.itemEmb[j * s.dim + d];
    row[j] = acc;
  }
  return row;
}

function fullRanking(s: RandomSplit, u: number): number[] {
  const row = scoreRow(s, u);
  const ids = [...row.keys()].filter((j) => !hasEntry(s.mask, u, j));
  return ids.sort((a, b) => row[b] - row[a] || a - b);
}

function userMetrics(ranking: number[], isHit: (item: number) => boolean, nTruth: number, k: number): Record<string, number> {
  const top = ranking.slice(0, k);
  const hitRanks = top.flatMap((item, r) => (isHit(item) ? [r + 1] : []));
  const dcg = hitRanks.reduce((acc, rank) => acc + 1 / Math.log2(rank + 1), 0);
  let idcg = 0;
  for (let rank = 1; rank <= Math.min(nTruth, k); rank++) idcg += 1 / Math.log2(rank + 1);
  return {
    recall: hitRanks.length / nTruth,
    ndcg: dcg / idcg,
    precision: hitRanks.length / k,
    hit: hitRanks.length > 0 ? 1 : 0,
    mrr: hitRanks.length > 0 ? 1 / hitRanks[0] : 0,
  };
}

export function referenceEvaluate(s: RandomSplit, ks: number[]): { metrics: Record<string, number>; users: number } {
  const sums: Record<string, number> = {};
  let users = 0;
  for (let u = 0; u < s.nUsers; u++) {
    const nTruth = s.truth.indptr[u + 1] - s.truth.indptr[u];
    if (nTruth === 0) continue;
    users++;
    const ranking = fullRanking(s, u);
    for (const k of ks) {
      for (const [name, v] of Object.entries(userMetrics(ranking, (i) => hasEntry(s.truth, u, i), nTruth, k))) {
        sums[`${name}@${k}`] = (sums[`${name}@${k}`] ?? 0) + v;
      }
    }
  }
  const metrics = Object.fromEntries(Object.entries(sums).map(([key, v]) => [key, v / Math.max(users, 1)]));
  return { metrics, users };
}
