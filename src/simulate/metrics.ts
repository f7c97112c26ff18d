/**
 * The measurements the causal-validity experiments make on simulated data (docs/simulator.md §5), as small
 * pure functions: normalised mutual information between two labelings, ROC AUC, and codebook perplexity.
 */

/**
 * NMI(a, b) = I(a; b) / ((H(a) + H(b)) / 2) — the arithmetic normalisation (scikit-learn's default), with
 * natural logarithms. Labels are non-negative integers. Two single-cluster labelings score 1; one
 * single-cluster labeling against any other scores 0.
 */
export function normalizedMutualInfo(a: Int32Array, b: Int32Array): number {
  if (a.length !== b.length) throw new RangeError(`normalizedMutualInfo: ${a.length} labels vs ${b.length}`);
  if (a.length === 0) throw new RangeError('normalizedMutualInfo: no labels');
  const ka = labelCount(a);
  const kb = labelCount(b);
  const joint = new Map<number, number>();
  const ca = new Float64Array(ka);
  const cb = new Float64Array(kb);
  for (let i = 0; i < a.length; i++) {
    ca[a[i]]++;
    cb[b[i]]++;
    const key = a[i] * kb + b[i];
    joint.set(key, (joint.get(key) ?? 0) + 1);
  }
  const n = a.length;
  const ha = entropy(ca, n);
  const hb = entropy(cb, n);
  if (ha === 0 && hb === 0) return 1;
  let mi = 0;
  for (const [key, nij] of joint) {
    const i = Math.floor(key / kb);
    const j = key - i * kb;
    mi += (nij / n) * Math.log((n * nij) / (ca[i] * cb[j]));
  }
  return Math.max(0, mi) / ((ha + hb) / 2);
}

function labelCount(labels: Int32Array): number {
  let max = -1;
  for (const l of labels) {
    if (l < 0) throw new RangeError(`labels must be non-negative, got ${l}`);
    if (l > max) max = l;
  }
  return max + 1;
}

/** H(p) = −Σ p log p with p = counts / n (natural log). */
function entropy(counts: Float64Array, n: number): number {
  let h = 0;
  for (const c of counts) if (c > 0) h -= (c / n) * Math.log(c / n);
  return h;
}

/**
 * ROC AUC of `scores` for binary `labels` (1 positive, 0 negative): the Mann–Whitney statistic
 * (R₊ − n₊(n₊+1)/2) / (n₊ n₋) with tied scores given their average rank, i.e. P(s₊ > s₋) + ½ P(s₊ = s₋).
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = scores.length;
  if (labels.length !== n) throw new RangeError(`rocAuc: ${n} scores vs ${labels.length} labels`);
  for (let i = 0; i < n; i++) if (Number.isNaN(scores[i])) throw new RangeError(`rocAuc: score ${i} is NaN`);
  const ranks = averageRanks(scores); // 0-based; the statistic's ranks are 1-based
  let rankSumPos = 0;
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const l = labels[i];
    if (l !== 0 && l !== 1) throw new RangeError(`rocAuc: label ${i} is ${l}, not 0 or 1`);
    if (l === 1) {
      rankSumPos += ranks[i] + 1;
      pos++;
    }
  }
  const neg = n - pos;
  if (pos === 0 || neg === 0) throw new RangeError(`rocAuc: needs both classes (${pos} positive, ${neg} negative)`);
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** Each value's rank, 0-based, with tied values given the mean of the ranks they span. */
export function averageRanks(x: ArrayLike<number>): Float64Array {
  const n = x.length;
  for (let i = 0; i < n; i++) if (Number.isNaN(x[i])) throw new RangeError(`averageRanks: value ${i} is NaN`);
  const order = Array.from({ length: n }, (_, i) => i).sort((p, q) => x[p] - x[q]);
  const out = new Float64Array(n);
  for (let start = 0; start < n; ) {
    let end = start + 1;
    while (end < n && x[order[end]] === x[order[start]]) end++;
    for (let k = start; k < end; k++) out[order[k]] = (start + end - 1) / 2;
    start = end;
  }
  return out;
}

/**
 * Spearman's rank correlation: Pearson's correlation of the two average-rank vectors, in [−1, 1]; NaN when either
 * side is constant (no ranking to correlate).
 */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`spearman: ${a.length} against ${b.length} values`);
  if (a.length < 2) throw new RangeError(`spearman: needs at least 2 pairs, got ${a.length}`);
  const [ra, rb] = [averageRanks(a), averageRanks(b)];
  const mean = (ra.length - 1) / 2; // the mean rank, ties or not
  let [ab, aa, bb] = [0, 0, 0];
  for (let k = 0; k < ra.length; k++) {
    const [da, db] = [ra[k] - mean, rb[k] - mean];
    ab += da * db;
    aa += da * da;
    bb += db * db;
  }
  return aa === 0 || bb === 0 ? Number.NaN : ab / Math.sqrt(aa * bb);
}

/** Perplexity exp(H(p)) of assignment counts (p = counts / Σ counts): K when all K codes are used equally, 1 when one is. */
export function codebookPerplexity(counts: ArrayLike<number>): number {
  let n = 0;
  for (let k = 0; k < counts.length; k++) {
    if (!(counts[k] >= 0)) throw new RangeError(`codebookPerplexity: count ${k} is ${counts[k]}`);
    n += counts[k];
  }
  if (n === 0) throw new RangeError('codebookPerplexity: no assignments');
  return Math.exp(entropy(Float64Array.from(counts), n));
}

/** How many items each of k codes got. */
export function assignmentCounts(assignment: Int32Array, k: number): Float64Array {
  const counts = new Float64Array(k);
  for (const a of assignment) {
    if (a < 0 || a >= k) throw new RangeError(`assignment ${a} is outside 0..${k - 1}`);
    counts[a]++;
  }
  return counts;
}
