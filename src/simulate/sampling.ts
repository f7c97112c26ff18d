/**
 * Draws the simulator needs beyond RandomStream's uniform and normal ones. Each takes the stream it consumes,
 * so a draw is a pure function of its (seed, 'simulate', stage, step, entity) coordinates.
 */
import type { RandomStream } from '../random/index.js';

/** Gamma(shape, 1) by Marsaglia & Tsang (2000); shape < 1 through Gamma(shape + 1) · U^{1/shape}. */
export function gamma(s: RandomStream, shape: number): number {
  if (shape < 1) {
    let u = s.nextFloat();
    while (u === 0) u = s.nextFloat();
    return gamma(s, shape + 1) * Math.pow(u, 1 / shape);
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = s.nextNormal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = s.nextFloat();
    if (u < 1 - 0.0331 * x * x * x * x) return d * v;
    if (u > 0 && Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** Dirichlet(α·1_K) into `out`, as normalised Gamma(α) draws. */
export function dirichlet(s: RandomStream, alpha: number, out: Float64Array): void {
  let sum = 0;
  for (let k = 0; k < out.length; k++) {
    out[k] = gamma(s, alpha);
    sum += out[k];
  }
  if (sum === 0) {
    // Every Gamma draw underflowed (only for tiny α): the mass is all on one component, chosen uniformly.
    out[s.nextInt(out.length)] = 1;
    return;
  }
  for (let k = 0; k < out.length; k++) out[k] /= sum;
}

/** Poisson(λ) by inversion of the CDF (exact for the small rates used here; λ ≤ 500). */
export function poisson(s: RandomStream, lambda: number): number {
  if (!(lambda >= 0 && lambda <= 500)) throw new RangeError(`poisson: λ must be in [0, 500], got ${lambda}`);
  const u = s.nextFloat();
  let p = Math.exp(-lambda);
  let cdf = p;
  let n = 0;
  while (u >= cdf && p > 0) {
    n++;
    p *= lambda / n;
    cdf += p;
  }
  return n;
}

/** Geometric number of failures with mean m (success probability 1 / (1 + m)), by inversion. */
export function geometric(s: RandomStream, mean: number): number {
  if (mean <= 0) return 0;
  let u = s.nextFloat();
  while (u === 0) u = s.nextFloat();
  return Math.floor(Math.log(u) / Math.log(mean / (1 + mean)));
}

/** Index of the first cumulative weight > x (cum is non-decreasing, x < cum[last]). */
export function searchCumulative(cum: Float64Array, n: number, x: number): number {
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cum[mid] > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * `count` distinct indices from the categorical law ∝ weights[0..n), by successive sampling: draw with
 * replacement and discard repeats, which is exactly sampling without replacement with renormalised weights
 * (the Plackett–Luce law). Indices with `taken[i] === stamp` are excluded (and the chosen ones get marked).
 * When repeats pile up the cumulative table is rebuilt without the chosen items, which keeps the law exact
 * and the cost bounded. `cum` is scratch of length ≥ n. Returns the chosen indices in draw order.
 */
export function sampleDistinct(
  s: RandomStream,
  weights: Float64Array,
  n: number,
  count: number,
  taken: Int32Array,
  stamp: number,
  cum: Float64Array,
): Int32Array {
  const out = new Int32Array(count);
  let total = buildCumulative(weights, n, taken, stamp, cum);
  let misses = 0;
  for (let got = 0; got < count; ) {
    if (!(total > 0)) throw new RangeError(`sampleDistinct: no weight left after ${got} of ${count} draws`);
    const i = searchCumulative(cum, n, s.nextFloat() * total);
    if (taken[i] === stamp) {
      if (++misses > 4 * count + 16) {
        total = buildCumulative(weights, n, taken, stamp, cum);
        misses = 0;
      }
      continue;
    }
    taken[i] = stamp;
    out[got++] = i;
  }
  return out;
}

/** cum[i] = Σ_{j ≤ i} weights[j] over j not marked `stamp`; returns the total. */
function buildCumulative(weights: Float64Array, n: number, taken: Int32Array, stamp: number, cum: Float64Array): number {
  let acc = 0;
  for (let i = 0; i < n; i++) {
    if (taken[i] !== stamp) acc += weights[i];
    cum[i] = acc;
  }
  return acc;
}

/** `count` distinct items uniformly from those not marked `stamp` (rejection; callers keep count ≪ free items). */
export function sampleUniformDistinct(s: RandomStream, n: number, count: number, taken: Int32Array, stamp: number): Int32Array {
  const out = new Int32Array(count);
  for (let got = 0; got < count; ) {
    const i = s.nextInt(n);
    if (taken[i] === stamp) continue;
    taken[i] = stamp;
    out[got++] = i;
  }
  return out;
}
