import { hasEntry, type Csr } from '../graph/index.js';

/**
 * MMRec's top-K metrics (MMRec `src/utils/metrics.py`), all with binary relevance. For one user with ground
 * truth G and a ranked list whose rank-r item is relevant when rel(r) = 1 (r = 1, 2, ...):
 *   recall@K    = hits@K / |G|                                   (`recall_`)
 *   ndcg@K      = DCG@K / IDCG@min(|G|, K), DCG@K = Σ_{r≤K} rel(r) / log2(r + 1)   (`ndcg_`)
 *   precision@K = hits@K / K                                     (`precision_`)
 *   hit@K       = 1 if hits@K ≥ 1 else 0                         (`hit_`)
 *   mrr@K       = 1 / (rank of the first relevant item) if it is ≤ K, else 0     (`mrr_`)
 * Each metric is the mean over the evaluated users (those with |G| ≥ 1).
 */
export const METRICS = ['recall', 'ndcg', 'precision', 'hit', 'mrr'] as const;
export type MetricName = (typeof METRICS)[number];

/** MMRec's default cut-offs (DESIGN.md §2). */
export const DEFAULT_KS: readonly number[] = [5, 10, 20, 50];

/** The key of a metric in a result: `recall@20`. */
export function metricKey(name: MetricName, k: number): string {
  return `${name}@${k}`;
}

/** discount[r] = 1 / log2(r + 2) for the 0-based rank r, i.e. 1 / log2(rank + 1) for the 1-based rank. */
function discounts(kMax: number): Float64Array {
  const d = new Float64Array(kMax);
  for (let r = 0; r < kMax; r++) d[r] = 1 / Math.log2(r + 2);
  return d;
}

/** idcg[n] = Σ_{r<n} discount[r]: the DCG of a list whose first n items are all relevant. */
function idealDcg(discount: Float64Array): Float64Array {
  const idcg = new Float64Array(discount.length + 1);
  for (let r = 0; r < discount.length; r++) idcg[r + 1] = idcg[r] + discount[r];
  return idcg;
}

/**
 * Running sums of the metrics over users, fed one ranked list at a time. Users must be added in a fixed order
 * for a bit-reproducible result (floating-point addition is not associative).
 */
export class MetricSums {
  readonly ks: readonly number[];
  readonly kMax: number;
  private readonly sums: Float64Array; // [ks.length][METRICS.length]
  private readonly discount: Float64Array;
  private readonly idcg: Float64Array;
  private count = 0;

  /** ks must be sorted ascending, distinct and positive (see normalizeKs). */
  constructor(ks: readonly number[]) {
    this.ks = ks;
    this.kMax = ks[ks.length - 1];
    this.sums = new Float64Array(ks.length * METRICS.length);
    this.discount = discounts(this.kMax);
    this.idcg = idealDcg(this.discount);
  }

  get users(): number {
    return this.count;
  }

  /**
   * Adds one user: `ranked[offset .. offset + kMax)` holds the item ids best first, padded with -1 when fewer
   * items could be ranked; `truth` row `user` is the user's ground truth (at least one item).
   */
  addUser(ranked: Int32Array, offset: number, truth: Csr, user: number): void {
    const nTruth = truth.indptr[user + 1] - truth.indptr[user];
    let hits = 0;
    let dcg = 0;
    let firstHit = 0; // 1-based rank of the first relevant item, 0 while none
    let r = 0;
    for (let c = 0; c < this.ks.length; c++) {
      for (const k = this.ks[c]; r < k; r++) {
        const item = ranked[offset + r];
        if (item < 0 || !hasEntry(truth, user, item)) continue;
        hits++;
        dcg += this.discount[r];
        if (firstHit === 0) firstHit = r + 1;
      }
      this.addAtCutoff(c, hits, dcg, firstHit, nTruth);
    }
    this.count++;
  }

  private addAtCutoff(c: number, hits: number, dcg: number, firstHit: number, nTruth: number): void {
    const k = this.ks[c];
    const at = c * METRICS.length;
    this.sums[at] += hits / nTruth;
    this.sums[at + 1] += dcg / this.idcg[Math.min(nTruth, k)];
    this.sums[at + 2] += hits / k;
    this.sums[at + 3] += hits > 0 ? 1 : 0;
    this.sums[at + 4] += firstHit > 0 ? 1 / firstHit : 0;
  }

  /** The sums over the users added so far, keyed as `means()` keys the means, and their count: mergeable. */
  totals(): MetricTotals {
    const sums: Record<string, number> = {};
    this.ks.forEach((k, c) => {
      METRICS.forEach((name, m) => {
        sums[metricKey(name, k)] = this.sums[c * METRICS.length + m];
      });
    });
    return { sums, users: this.count };
  }

  /** The means over the users added so far (0 for every metric when there were none). */
  means(): Record<string, number> {
    return metricMeans(this.totals());
  }
}

/** Per-metric sums over a set of evaluated users, and how many users they cover. */
export interface MetricTotals {
  readonly sums: Readonly<Record<string, number>>;
  readonly users: number;
}

/** Each metric's mean over the users (0 for every metric when there were none). */
export function metricMeans(t: MetricTotals): Record<string, number> {
  const n = Math.max(t.users, 1);
  return Object.fromEntries(Object.entries(t.sums).map(([key, sum]) => [key, sum / n]));
}

/**
 * The totals of disjoint sets of users (ranges of one evaluation) as one: the same sums as folding every user into
 * one MetricSums, up to floating-point summation order. Parts are added in the order given, so the result does not
 * depend on the order they arrived in. Every part must have the same metrics.
 */
export function mergeTotals(parts: readonly MetricTotals[]): MetricTotals {
  if (parts.length === 0) throw new RangeError('evaluation: nothing to merge');
  const keys = Object.keys(parts[0].sums);
  const sums: Record<string, number> = Object.fromEntries(keys.map((k) => [k, 0]));
  let users = 0;
  parts.forEach((p, i) => {
    const extra = Object.keys(p.sums).find((k) => !(k in sums));
    if (extra !== undefined || Object.keys(p.sums).length !== keys.length) {
      throw new RangeError(`evaluation: part ${i} has metrics [${Object.keys(p.sums).join(', ')}], part 0 [${keys.join(', ')}]`);
    }
    for (const k of keys) sums[k] += p.sums[k];
    users += p.users;
  });
  return { sums, users };
}
