/**
 * The generative process of docs/simulator.md §1 (equation numbers below are that page's). K latent
 * environments drive both item modalities (eqs. 3–5) and, through exposure, the observed clicks (eqs. 6–10);
 * the test split is drawn from true preference alone (eq. 11), and accidental clicks are added to train (eq. 12).
 *
 * Every draw comes from CounterRng(seed).stream('simulate', stage, step, entity) with the entity the item,
 * user or environment it belongs to, so the output is a pure function of (seed, settings). Sampling is per user
 * over a weight vector of length I: no users × items matrix is ever held.
 */
import { CounterRng, type RandomStream } from '../random/index.js';
import { dirichlet, geometric, poisson, sampleDistinct, sampleUniformDistinct } from './sampling.js';
import { maxPerUser, splitSizes, type SimSettings } from './settings.js';

/** The `epoch` coordinate of each stage's streams; `step` is the modality index where there is one. */
export const STAGE = {
  environment: 1,
  item: 2,
  popularity: 3,
  modalityMap: 4,
  featureNoise: 5,
  user: 6,
  clicks: 7,
  test: 8,
  noiseEdges: 9,
} as const;

/** The two modalities, in the order their `step` coordinates and files use. */
export const MODALITIES = ['image', 'text'] as const;

export interface SimModality {
  readonly name: (typeof MODALITIES)[number];
  readonly dim: number;
  /** x_i^m, float32 [items, dim] row-major (eq. 5). */
  readonly features: Float32Array;
  /** s_i^m = A_m h_i, the noise-free part of the features [items, dim] (eq. 4). */
  readonly signal: Float32Array;
  /** σ_m, the standard deviation of the added Gaussian noise. */
  readonly noiseStd: number;
}

/** Edges of one split, sorted by (user, item) with no repeats. */
export interface SimEdges {
  readonly users: Int32Array;
  readonly items: Int32Array;
}

export interface SimTrainEdges extends SimEdges {
  /** 1 where the edge is an injected accidental click (eq. 12), else 0; aligned with users/items. */
  readonly noise: Uint8Array;
}

export interface SimulatedData {
  readonly seed: number;
  readonly settings: Readonly<SimSettings>;
  /** z_i ∈ {0..K-1} [items] (eq. 2). */
  readonly itemEnv: Int32Array;
  /** μ_k [K, envDim] (eq. 1). */
  readonly envEmbedding: Float32Array;
  /** b_k, the per-environment exposure boost [K] (eq. 2). */
  readonly envBoost: Float64Array;
  /** c_i, true item content in preference space [items, contentDim] (eq. 2). */
  readonly itemContent: Float32Array;
  /** p_u, true user taste [users, contentDim] (eq. 7). */
  readonly userTaste: Float32Array;
  /** w_u, each user's confounder mixture [users, K], rows sum to 1 (eq. 7). */
  readonly userEnvWeights: Float32Array;
  /** ω_i = π_i · b_{z_i}, the item's exposure propensity before the user's mixture (eq. 6). */
  readonly itemExposure: Float32Array;
  readonly modalities: readonly SimModality[];
  readonly train: SimTrainEdges;
  readonly valid: SimEdges;
  readonly test: SimEdges;
}

/** Runs the whole generative process for one seed. */
export function simulate(settings: Readonly<SimSettings>, seed: number): SimulatedData {
  const rng = new CounterRng(seed);
  const env = drawEnvironments(rng, settings);
  const items = drawItems(rng, settings);
  const itemExposure = drawExposure(rng, settings, items.env, env.boost);
  const modalities = MODALITIES.map((name, m) => drawModality(rng, settings, m, name, env.embedding, items));
  const users = drawUsers(rng, settings);
  const edges = drawInteractions(rng, settings, items, itemExposure, users);
  return {
    seed,
    settings,
    itemEnv: items.env,
    envEmbedding: Float32Array.from(env.embedding),
    envBoost: env.boost,
    itemContent: Float32Array.from(items.content),
    userTaste: Float32Array.from(users.taste),
    userEnvWeights: Float32Array.from(users.mixture),
    itemExposure: Float32Array.from(itemExposure),
    modalities,
    ...edges,
  };
}

interface Environments {
  readonly embedding: Float64Array; // [K, e]
  readonly boost: Float64Array; // [K]
}

/** eq. 1: μ_k ~ N(0, I_e); eq. 2: b_k = exp(σ_b g_k), g_k ~ N(0, 1). */
function drawEnvironments(rng: CounterRng, s: SimSettings): Environments {
  const embedding = new Float64Array(s.k * s.envDim);
  const boost = new Float64Array(s.k);
  for (let k = 0; k < s.k; k++) {
    const st = rng.stream('simulate', STAGE.environment, 0, k);
    fillNormal(st, embedding, k * s.envDim, s.envDim);
    boost[k] = Math.exp(s.envBoost * st.nextNormal());
  }
  return { embedding, boost };
}

interface Items {
  readonly env: Int32Array; // z_i
  readonly content: Float64Array; // c_i [I, d]
}

/** eq. 2: z_i ~ Uniform{0..K-1}, c_i ~ N(0, I_d), independent of each other. */
function drawItems(rng: CounterRng, s: SimSettings): Items {
  const env = new Int32Array(s.items);
  const content = new Float64Array(s.items * s.contentDim);
  for (let i = 0; i < s.items; i++) {
    const st = rng.stream('simulate', STAGE.item, 0, i);
    env[i] = st.nextInt(s.k);
    fillNormal(st, content, i * s.contentDim, s.contentDim);
  }
  return { env, content };
}

/** eq. 6: π_i = (1 + r_i)^{-α} for a uniformly random popularity rank r; ω_i = π_i · b_{z_i}. */
function drawExposure(rng: CounterRng, s: SimSettings, itemEnv: Int32Array, boost: Float64Array): Float64Array {
  const rank = rng.permutation(s.items, 'simulate', STAGE.popularity, 0);
  const omega = new Float64Array(s.items);
  for (let i = 0; i < s.items; i++) omega[i] = Math.pow(1 + rank[i], -s.zipf) * boost[itemEnv[i]];
  return omega;
}

/** γ such that the environment's share of E|h_i|² = γ²e + d is φ (eq. 3). */
export function envScale(s: SimSettings): number {
  return Math.sqrt((s.envShare / (1 - s.envShare)) * (s.contentDim / s.envDim));
}

/**
 * eq. 3: h_i = [γ μ_{z_i}; c_i]; eq. 4: s_i^m = A_m h_i with A_m[r, c] ~ N(0, 1/(e + d));
 * eq. 5: x_i^m = s_i^m + σ_m ε_i^m, ε ~ N(0, I), σ_m² = P_m / SNR with P_m the mean squared signal coordinate.
 */
function drawModality(rng: CounterRng, s: SimSettings, m: number, name: SimModality['name'], mu: Float64Array, items: Items): SimModality {
  const dim = name === 'image' ? s.imageDim : s.textDim;
  const width = s.envDim + s.contentDim;
  const map = new Float64Array(dim * width);
  const scale = 1 / Math.sqrt(width);
  for (let r = 0; r < dim; r++) {
    const st = rng.stream('simulate', STAGE.modalityMap, m, r);
    for (let c = 0; c < width; c++) map[r * width + c] = scale * st.nextNormal();
  }
  const gamma = envScale(s);
  const h = new Float64Array(width);
  const signal = new Float64Array(s.items * dim);
  let power = 0;
  for (let i = 0; i < s.items; i++) {
    for (let c = 0; c < s.envDim; c++) h[c] = gamma * mu[items.env[i] * s.envDim + c];
    for (let c = 0; c < s.contentDim; c++) h[s.envDim + c] = items.content[i * s.contentDim + c];
    for (let r = 0; r < dim; r++) {
      let acc = 0;
      for (let c = 0; c < width; c++) acc += map[r * width + c] * h[c];
      signal[i * dim + r] = acc;
      power += acc * acc;
    }
  }
  const noiseStd = Math.sqrt(power / (s.items * dim) / s.snr);
  const features = new Float32Array(s.items * dim);
  for (let i = 0; i < s.items; i++) {
    const st = rng.stream('simulate', STAGE.featureNoise, m, i);
    for (let r = 0; r < dim; r++) features[i * dim + r] = signal[i * dim + r] + noiseStd * st.nextNormal();
  }
  return { name, dim, features, signal: Float32Array.from(signal), noiseStd };
}

interface Users {
  readonly taste: Float64Array; // p_u [U, d]
  readonly mixture: Float64Array; // w_u [U, K]
  readonly count: Int32Array; // n_u
}

/** eq. 7: p_u ~ N(0, I_d), w_u ~ Dirichlet(α_w 1_K), n_u = min(n_max, n_min + Geometric(mean n̄ − n_min)). */
function drawUsers(rng: CounterRng, s: SimSettings): Users {
  const taste = new Float64Array(s.users * s.contentDim);
  const mixture = new Float64Array(s.users * s.k);
  const count = new Int32Array(s.users);
  const w = new Float64Array(s.k);
  const cap = maxPerUser(s.items);
  for (let u = 0; u < s.users; u++) {
    const st = rng.stream('simulate', STAGE.user, 0, u);
    fillNormal(st, taste, u * s.contentDim, s.contentDim);
    dirichlet(st, s.userConcentration, w);
    mixture.set(w, u * s.k);
    count[u] = Math.min(cap, s.minPerUser + geometric(st, s.meanPerUser - s.minPerUser));
  }
  return { taste, mixture, count };
}

/** eq. 12's rate per user: λ = ρ/(1−ρ) · (clean train edges) / U, so noise is ρ of train in expectation. */
export function noisePerUser(s: SimSettings, count: Int32Array): number {
  let clean = 0;
  for (let u = 0; u < count.length; u++) clean += splitSizes(count[u], s).train;
  return (s.noiseRate / (1 - s.noiseRate)) * (clean / s.users);
}

/** Per-user scratch of length I, reused across users. */
interface Scratch {
  readonly pref: Float64Array;
  readonly observed: Float64Array;
  readonly cum: Float64Array;
  readonly taken: Int32Array;
  readonly exposureByEnv: Float64Array;
}

/** What every user's draws read: the world drawn so far. */
interface World {
  readonly rng: CounterRng;
  readonly s: SimSettings;
  readonly items: Items;
  readonly omega: Float64Array;
  readonly users: Users;
  /** λ_noise of eq. 12. */
  readonly noiseLambda: number;
}

function drawInteractions(rng: CounterRng, s: SimSettings, items: Items, omega: Float64Array, users: Users) {
  const world: World = { rng, s, items, omega, users, noiseLambda: noisePerUser(s, users.count) };
  const scratch: Scratch = {
    pref: new Float64Array(s.items),
    observed: new Float64Array(s.items),
    cum: new Float64Array(s.items),
    taken: new Int32Array(s.items),
    exposureByEnv: new Float64Array(s.k),
  };
  const train = new EdgeBuilder();
  const valid = new EdgeBuilder();
  const test = new EdgeBuilder();
  for (let u = 0; u < s.users; u++) {
    const one = drawUser(world, u, scratch);
    train.add(u, one.train, one.trainNoise);
    valid.add(u, one.valid);
    test.add(u, one.test);
  }
  const edgesOnly = ({ users, items }: SimEdges): SimEdges => ({ users, items });
  return { train: train.build(), valid: edgesOnly(valid.build()), test: edgesOnly(test.build()) };
}

interface UserEdges {
  readonly train: Int32Array; // sorted items
  readonly trainNoise: Uint8Array;
  readonly valid: Int32Array;
  readonly test: Int32Array;
}

function drawUser(world: World, u: number, x: Scratch): UserEdges {
  const { rng, s } = world;
  userWeights(world, u, x);
  const sizes = splitSizes(world.users.count[u], s);
  const stamp = u + 1;
  // eq. 10: train ∪ valid by successive sampling from P_obs(i | u); valid is a uniform subset of them.
  const clickStream = rng.stream('simulate', STAGE.clicks, 0, u);
  const clicks = sampleDistinct(clickStream, x.observed, s.items, sizes.train + sizes.valid, x.taken, stamp, x.cum);
  partialShuffle(clickStream, clicks, sizes.valid);
  // eq. 11: test from true preference with uniform exposure, among items the user has not clicked.
  const test = sampleDistinct(rng.stream('simulate', STAGE.test, 0, u), x.pref, s.items, sizes.test, x.taken, stamp, x.cum);
  // eq. 12: accidental clicks, uniform over items the user has in no split.
  const noiseStream = rng.stream('simulate', STAGE.noiseEdges, 0, u);
  const nNoise = Math.min(maxPerUser(s.items), poisson(noiseStream, world.noiseLambda));
  const noise = sampleUniformDistinct(noiseStream, s.items, nNoise, x.taken, stamp);
  const merged = mergeFlagged(clicks.subarray(sizes.valid), noise);
  return { train: merged.items, trainNoise: merged.flags, valid: clicks.slice(0, sizes.valid).sort(), test: test.sort() };
}

/**
 * eq. 9: pref_ui = exp(β s_ui), s_ui = p_u·c_i / √d;
 * eq. 8: e_ui = ω_i ((1 − λ) + λ K w_u[z_i]);  eq. 10: P_obs(i | u) ∝ e_ui · pref_ui.
 */
function userWeights({ s, items, omega, users }: World, u: number, x: Scratch): void {
  const d = s.contentDim;
  const p = users.taste.subarray(u * d, (u + 1) * d);
  for (let k = 0; k < s.k; k++) x.exposureByEnv[k] = 1 - s.envExposure + s.envExposure * s.k * users.mixture[u * s.k + k];
  const coef = s.prefSharpness / Math.sqrt(d);
  const c = items.content;
  for (let i = 0; i < s.items; i++) {
    const pref = Math.exp(coef * dotRow(p, c, i * d, d));
    x.pref[i] = pref;
    x.observed[i] = pref * omega[i] * x.exposureByEnv[items.env[i]];
  }
}

/** p · c[o .. o+d), in four partial sums (a fixed order, so the result is the same on every machine). */
function dotRow(p: Float64Array, c: Float64Array, o: number, d: number): number {
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  let j = 0;
  for (; j + 3 < d; j += 4) {
    a0 += p[j] * c[o + j];
    a1 += p[j + 1] * c[o + j + 1];
    a2 += p[j + 2] * c[o + j + 2];
    a3 += p[j + 3] * c[o + j + 3];
  }
  for (; j < d; j++) a0 += p[j] * c[o + j];
  return a0 + a1 + (a2 + a3);
}

/** Moves a uniformly random subset of size `n` to the front of `a` (the first n steps of Fisher–Yates). */
function partialShuffle(st: RandomStream, a: Int32Array, n: number): void {
  for (let j = 0; j < n; j++) {
    const r = j + st.nextInt(a.length - j);
    const t = a[j];
    a[j] = a[r];
    a[r] = t;
  }
}

/** Clean and noise items (disjoint) merged and sorted, with a noise flag per item. */
function mergeFlagged(clean: Int32Array, noise: Int32Array): { items: Int32Array; flags: Uint8Array } {
  const keyed = new Float64Array(clean.length + noise.length);
  for (let j = 0; j < clean.length; j++) keyed[j] = 2 * clean[j];
  for (let j = 0; j < noise.length; j++) keyed[clean.length + j] = 2 * noise[j] + 1;
  keyed.sort();
  const items = new Int32Array(keyed.length);
  const flags = new Uint8Array(keyed.length);
  for (let j = 0; j < keyed.length; j++) {
    items[j] = keyed[j] >>> 1;
    flags[j] = keyed[j] & 1;
  }
  return { items, flags };
}

/** Accumulates per-user item lists (each already sorted) into flat (user, item[, flag]) arrays. */
class EdgeBuilder {
  private readonly users: number[] = [];
  private readonly chunks: Int32Array[] = [];
  private readonly flagChunks: Uint8Array[] = [];
  private total = 0;

  add(user: number, items: Int32Array, flags?: Uint8Array): void {
    this.users.push(user);
    this.chunks.push(items);
    this.flagChunks.push(flags ?? new Uint8Array(items.length));
    this.total += items.length;
  }

  build(): { users: Int32Array; items: Int32Array; noise: Uint8Array } {
    const users = new Int32Array(this.total);
    const items = new Int32Array(this.total);
    const noise = new Uint8Array(this.total);
    let o = 0;
    for (let c = 0; c < this.chunks.length; c++) {
      users.fill(this.users[c], o, o + this.chunks[c].length);
      items.set(this.chunks[c], o);
      noise.set(this.flagChunks[c], o);
      o += this.chunks[c].length;
    }
    return { users, items, noise };
  }
}

function fillNormal(st: RandomStream, out: Float64Array, offset: number, n: number): void {
  for (let j = 0; j < n; j++) out[offset + j] = st.nextNormal();
}
