/**
 * Statistics of a simulated dataset computed from its ground truth alone — no model is trained or run. They go
 * into ground_truth.json and docs/simulator.md §4, and the tests check them against the settings.
 */
import type { SimEdges, SimulatedData } from './generate.js';
import { envScale } from './generate.js';
import { assignmentCounts } from './metrics.js';

export interface SimStatistics {
  readonly counts: { readonly train: number; readonly trainNoise: number; readonly valid: number; readonly test: number };
  /** Injected edges over all train edges (its expectation is the noise rate ρ). */
  readonly noiseFraction: number;
  /** Items per environment [K]. */
  readonly environmentSizes: number[];
  /** Gini coefficient of the item click counts of each split: popularity skew (0 = uniform). */
  readonly gini: { readonly trainClean: number; readonly valid: number; readonly test: number };
  /** Mean of K · w_u[z_i] over a split's edges: 1 when clicks ignore the user's confounder mixture. */
  readonly envAffinity: { readonly trainClean: number; readonly trainNoise: number; readonly valid: number; readonly test: number };
  /** Fraction of items whose nearest TRUE environment mean (concatenated features) is their environment. */
  readonly oracleEnvAccuracy: number;
  /**
   * Recall@20 on the test split of two oracles that know the ground truth (train and valid items masked):
   * ranking by true preference s_ui, and by the confounded click law log(e_ui) + β s_ui; over every
   * `oracleUserStride`-th user.
   */
  readonly oracleTestRecall20: { readonly truePreference: number; readonly confounded: number };
  readonly oracleUserStride: number;
}

const ORACLE_USERS = 1000;
const RECALL_AT = 20;

export function simStatistics(d: SimulatedData): SimStatistics {
  const s = d.settings;
  const clean = selectEdges(d.train, d.train.noise, 0);
  const noisy = selectEdges(d.train, d.train.noise, 1);
  const trainNoise = noisy.users.length;
  const stride = Math.max(1, Math.ceil(s.users / ORACLE_USERS));
  return {
    counts: { train: d.train.users.length, trainNoise, valid: d.valid.users.length, test: d.test.users.length },
    noiseFraction: trainNoise / d.train.users.length,
    environmentSizes: Array.from(assignmentCounts(d.itemEnv, s.k)),
    gini: { trainClean: gini(assignmentCounts(clean.items, s.items)), valid: gini(assignmentCounts(d.valid.items, s.items)), test: gini(assignmentCounts(d.test.items, s.items)) },
    envAffinity: {
      trainClean: envAffinity(d, clean),
      trainNoise: envAffinity(d, noisy),
      valid: envAffinity(d, d.valid),
      test: envAffinity(d, d.test),
    },
    oracleEnvAccuracy: nearestTrueMeanAccuracy(d),
    oracleTestRecall20: oracleRecall(d, stride),
    oracleUserStride: stride,
  };
}

function selectEdges(e: SimEdges, flags: Uint8Array, want: number): SimEdges {
  const keep: number[] = [];
  for (let j = 0; j < flags.length; j++) if (flags[j] === want) keep.push(j);
  return { users: Int32Array.from(keep, (j) => e.users[j]), items: Int32Array.from(keep, (j) => e.items[j]) };
}

/** G = Σ_i (2i − n − 1) x_(i) / (n Σ x) over the values sorted ascending. */
export function gini(values: Float64Array): number {
  const a = Float64Array.from(values).sort();
  const n = a.length;
  let num = 0;
  let total = 0;
  for (let i = 0; i < n; i++) {
    num += (2 * (i + 1) - n - 1) * a[i];
    total += a[i];
  }
  return total === 0 ? 0 : num / (n * total);
}

function envAffinity(d: SimulatedData, e: SimEdges): number {
  const k = d.settings.k;
  if (e.users.length === 0) return NaN;
  let acc = 0;
  for (let j = 0; j < e.users.length; j++) acc += k * d.userEnvWeights[e.users[j] * k + d.itemEnv[e.items[j]]];
  return acc / e.users.length;
}

function nearestTrueMeanAccuracy(d: SimulatedData): number {
  const { items, k } = d.settings;
  const dim = d.modalities.reduce((a, m) => a + m.dim, 0);
  const means = new Float64Array(k * dim);
  const sizes = assignmentCounts(d.itemEnv, k);
  forEachFeature(d, (i, col, v) => (means[d.itemEnv[i] * dim + col] += v / sizes[d.itemEnv[i]]));
  const dist = new Float64Array(items * k);
  forEachFeature(d, (i, col, v) => {
    for (let c = 0; c < k; c++) dist[i * k + c] += (v - means[c * dim + col]) ** 2;
  });
  let correct = 0;
  for (let i = 0; i < items; i++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (dist[i * k + c] < dist[i * k + best]) best = c;
    if (best === d.itemEnv[i]) correct++;
  }
  return correct / items;
}

/** Calls f(item, column, value) over the concatenated [image; text] feature rows. */
function forEachFeature(d: SimulatedData, f: (i: number, col: number, v: number) => void): void {
  let off = 0;
  for (const m of d.modalities) {
    for (let i = 0; i < d.settings.items; i++) for (let r = 0; r < m.dim; r++) f(i, off + r, m.features[i * m.dim + r]);
    off += m.dim;
  }
}

function oracleRecall(d: SimulatedData, stride: number): { truePreference: number; confounded: number } {
  const s = d.settings;
  const seen = byUser(d.train, s.users);
  const validSeen = byUser(d.valid, s.users);
  const test = byUser(d.test, s.users);
  const pref = new Float64Array(s.items);
  const conf = new Float64Array(s.items);
  const coef = s.prefSharpness / Math.sqrt(s.contentDim);
  let rPref = 0;
  let rConf = 0;
  let n = 0;
  for (let u = 0; u < s.users; u += stride) {
    for (let i = 0; i < s.items; i++) {
      let dot = 0;
      for (let j = 0; j < s.contentDim; j++) dot += d.userTaste[u * s.contentDim + j] * d.itemContent[i * s.contentDim + j];
      const mix = 1 - s.envExposure + s.envExposure * s.k * d.userEnvWeights[u * s.k + d.itemEnv[i]];
      pref[i] = coef * dot; // eq. 9 (log scale)
      conf[i] = coef * dot + Math.log(d.itemExposure[i] * mix); // eq. 10 (log scale)
    }
    for (const i of [...seen[u], ...validSeen[u]]) pref[i] = conf[i] = -Infinity;
    rPref += recall(topN(pref, RECALL_AT), test[u]);
    rConf += recall(topN(conf, RECALL_AT), test[u]);
    n++;
  }
  return { truePreference: rPref / n, confounded: rConf / n };
}

function byUser(e: SimEdges, users: number): number[][] {
  const out: number[][] = Array.from({ length: users }, () => []);
  for (let j = 0; j < e.users.length; j++) out[e.users[j]].push(e.items[j]);
  return out;
}

/** The n highest-scoring indices (lower index first among equal scores), by insertion into a sorted buffer. */
export function topN(scores: Float64Array, n: number): Set<number> {
  const best: number[] = [];
  for (let i = 0; i < scores.length; i++) {
    if (best.length === n && !(scores[i] > scores[best[n - 1]])) continue;
    let at = best.length;
    while (at > 0 && scores[i] > scores[best[at - 1]]) at--;
    best.splice(at, 0, i);
    if (best.length > n) best.pop();
  }
  return new Set(best);
}

function recall(top: Set<number>, truth: number[]): number {
  let hit = 0;
  for (const i of truth) if (top.has(i)) hit++;
  return hit / truth.length;
}

/** Derived constants worth recording beside the settings (eqs. 3 and 5). */
export function derivedConstants(d: SimulatedData): Record<string, number> {
  const out: Record<string, number> = { envScale: envScale(d.settings) };
  for (const m of d.modalities) out[`${m.name}NoiseStd`] = m.noiseStd;
  return out;
}
