/**
 * Seeded k-means (Lloyd's algorithm with k-means++ seeding, Arthur & Vassilvitskii 2007): the baseline the
 * environment codebook is compared with (docs/simulator.md §5, measurement 1). Draws come from
 * CounterRng(seed).stream('eval', KMEANS_STAGE, restart), so a result depends only on the data and the seed.
 */
import { CounterRng, type RandomStream } from '../random/index.js';

/** The `epoch` coordinate of k-means' streams; `step` is the restart. */
export const KMEANS_STAGE = 101;

export interface KMeansOptions {
  readonly seed: number;
  /** Independent k-means++ starts; the one with the lowest inertia wins (default 4). */
  readonly restarts?: number;
  /** Lloyd iterations per start at most (default 100); a start stops early when no assignment changes. */
  readonly maxIter?: number;
}

export interface KMeansResult {
  readonly assignment: Int32Array; // [n], cluster of each row
  readonly centroids: Float64Array; // [k, dim]
  /** Σ_i |x_i − centroid(i)|². */
  readonly inertia: number;
}

/** Clusters the n rows of x ([n, dim] row-major) into k groups. */
export function kmeans(x: ArrayLike<number>, n: number, dim: number, k: number, opts: KMeansOptions): KMeansResult {
  if (x.length !== n * dim) throw new RangeError(`kmeans: ${x.length} values are not ${n} rows of ${dim}`);
  if (!(Number.isInteger(k) && k >= 1 && k <= n)) throw new RangeError(`kmeans: k must be in 1..${n}, got ${k}`);
  const rng = new CounterRng(opts.seed);
  let best: KMeansResult | undefined;
  for (let r = 0; r < (opts.restarts ?? 4); r++) {
    const centroids = kmeansPlusPlus(rng.stream('eval', KMEANS_STAGE, r, 0), x, n, dim, k);
    const run = lloyd(x, n, dim, k, centroids, opts.maxIter ?? 100);
    if (best === undefined || run.inertia < best.inertia) best = run;
  }
  return best as KMeansResult;
}

/** k-means++: the first centre uniformly, each next one with probability ∝ D(x)², the squared distance to the nearest chosen centre. */
export function kmeansPlusPlus(st: RandomStream, x: ArrayLike<number>, n: number, dim: number, k: number): Float64Array {
  const centroids = new Float64Array(k * dim);
  const d2 = new Float64Array(n).fill(Infinity);
  let pick = st.nextInt(n);
  for (let c = 0; c < k; c++) {
    for (let j = 0; j < dim; j++) centroids[c * dim + j] = x[pick * dim + j];
    let total = 0;
    for (let i = 0; i < n; i++) {
      d2[i] = Math.min(d2[i], sqDist(x, i * dim, centroids, c * dim, dim));
      total += d2[i];
    }
    if (c + 1 < k) pick = total > 0 ? sampleProportional(st, d2, total) : st.nextInt(n);
  }
  return centroids;
}

function sampleProportional(st: RandomStream, w: Float64Array, total: number): number {
  const target = st.nextFloat() * total;
  let acc = 0;
  for (let i = 0; i < w.length; i++) {
    acc += w[i];
    if (acc > target) return i;
  }
  return w.length - 1;
}

/** Lloyd iterations from the given centres: assign each row to its nearest centre (lowest index on ties), then move centres to their means. */
function lloyd(x: ArrayLike<number>, n: number, dim: number, k: number, centroids: Float64Array, maxIter: number): KMeansResult {
  const assignment = new Int32Array(n).fill(-1);
  const dist = new Float64Array(n);
  for (let it = 0; it < maxIter; it++) {
    const changed = assign(x, n, dim, k, centroids, assignment, dist);
    if (!changed) break;
    updateCentroids(x, n, dim, k, centroids, assignment, dist);
  }
  assign(x, n, dim, k, centroids, assignment, dist);
  let inertia = 0;
  for (let i = 0; i < n; i++) inertia += dist[i];
  return { assignment, centroids, inertia };
}

function assign(x: ArrayLike<number>, n: number, dim: number, k: number, centroids: Float64Array, assignment: Int32Array, dist: Float64Array): boolean {
  let changed = false;
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bestD = Infinity;
    for (let c = 0; c < k; c++) {
      const d = sqDist(x, i * dim, centroids, c * dim, dim);
      if (d < bestD) {
        bestD = d;
        best = c;
      }
    }
    if (assignment[i] !== best) changed = true;
    assignment[i] = best;
    dist[i] = bestD;
  }
  return changed;
}

/** Centres to the means of their rows; an empty cluster takes the row farthest from its centre among clusters of two or more. */
function updateCentroids(x: ArrayLike<number>, n: number, dim: number, k: number, centroids: Float64Array, assignment: Int32Array, dist: Float64Array): void {
  const counts = new Float64Array(k);
  for (let i = 0; i < n; i++) counts[assignment[i]]++;
  for (let c = 0; c < k; c++) {
    if (counts[c] > 0) continue;
    const far = farthestMovable(dist, assignment, counts);
    counts[assignment[far]]--;
    assignment[far] = c;
    counts[c] = 1;
    dist[far] = 0;
  }
  centroids.fill(0);
  for (let i = 0; i < n; i++) {
    const o = assignment[i] * dim;
    for (let j = 0; j < dim; j++) centroids[o + j] += x[i * dim + j];
  }
  for (let c = 0; c < k; c++) for (let j = 0; j < dim; j++) centroids[c * dim + j] /= counts[c];
}

/** The row farthest from its centre among rows whose cluster keeps another member (k ≤ n makes one exist). */
function farthestMovable(dist: Float64Array, assignment: Int32Array, counts: Float64Array): number {
  let best = -1;
  for (let i = 0; i < dist.length; i++) {
    if (counts[assignment[i]] > 1 && (best < 0 || dist[i] > dist[best])) best = i;
  }
  return best;
}

function sqDist(a: ArrayLike<number>, ao: number, b: Float64Array, bo: number, dim: number): number {
  let s = 0;
  for (let j = 0; j < dim; j++) {
    const t = a[ao + j] - b[bo + j];
    s += t * t;
  }
  return s;
}

/** Rows of several [n, dim_b] blocks side by side: [n, Σ dim_b] (e.g. image and text features for k-means). */
export function concatColumns(blocks: readonly { data: ArrayLike<number>; dim: number }[], n: number): Float32Array {
  const width = blocks.reduce((a, b) => a + b.dim, 0);
  const out = new Float32Array(n * width);
  let off = 0;
  for (const b of blocks) {
    if (b.data.length !== n * b.dim) throw new RangeError(`concatColumns: a block of ${b.data.length} values is not ${n} rows of ${b.dim}`);
    for (let i = 0; i < n; i++) for (let j = 0; j < b.dim; j++) out[i * width + off + j] = b.data[i * b.dim + j];
    off += b.dim;
  }
  return out;
}
