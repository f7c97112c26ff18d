/**
 * The simulator's settings (docs/simulator.md §2 lists each with its symbol), the named presets, and their
 * validation. The `default` preset is the one the causal-validity experiments use; it was fixed in
 * docs/simulator.md before any model was measured on it, and must not be tuned afterwards.
 */
import { ConfigError } from '../errors/index.js';

export interface SimSettings {
  /** U: number of users. */
  readonly users: number;
  /** I: number of items. */
  readonly items: number;
  /** K: number of latent confounders (environments). */
  readonly k: number;
  /** d: dimension of the true preference space (item content c_i, user taste p_u). */
  readonly contentDim: number;
  /** e: dimension of the environment embeddings μ_k. */
  readonly envDim: number;
  /** D_image, D_text: feature dimensions of the two modalities. */
  readonly imageDim: number;
  readonly textDim: number;
  /** φ: the environment's share of each item's signal power E|h_i|² (eq. 3). */
  readonly envShare: number;
  /** SNR: per-coordinate signal power over noise power of each modality (eq. 5). */
  readonly snr: number;
  /** α: Zipf exponent of the item popularity π_i = rank_i^{-α} (eq. 6). */
  readonly zipf: number;
  /** σ_b: log-scale spread of the per-environment exposure boost b_k (eq. 2). */
  readonly envBoost: number;
  /** λ: how much a user's confounder mixture steers exposure, in [0, 1] (eq. 8). */
  readonly envExposure: number;
  /** α_w: Dirichlet concentration of a user's confounder mixture w_u (eq. 7). */
  readonly userConcentration: number;
  /** β: sharpness of true preference, exp(β s_ui) (eq. 9). */
  readonly prefSharpness: number;
  /** n̄: mean interactions per user over train, valid and test (before noise). */
  readonly meanPerUser: number;
  /** n_min: fewest interactions per user (MMRec-style 5-core). */
  readonly minPerUser: number;
  /** f_valid, f_test: each user's share of interactions held out for valid and for test. */
  readonly validFraction: number;
  readonly testFraction: number;
  /** ρ: the expected fraction of TRAIN edges that are injected noise (accidental clicks, eq. 12). */
  readonly noiseRate: number;
}

/** The settings the validity experiments use (docs/simulator.md §4). Do not change: results were measured on them. */
const DEFAULT: SimSettings = {
  users: 5000,
  items: 2500,
  k: 8,
  contentDim: 16,
  envDim: 8,
  imageDim: 64,
  textDim: 48,
  envShare: 0.2,
  snr: 0.5,
  zipf: 0.8,
  envBoost: 0.5,
  envExposure: 0.8,
  userConcentration: 0.3,
  prefSharpness: 2,
  meanPerUser: 12,
  minPerUser: 5,
  validFraction: 0.1,
  testFraction: 0.1,
  noiseRate: 0.1,
};

export const PRESETS: Readonly<Record<string, SimSettings>> = Object.freeze({
  default: Object.freeze(DEFAULT),
  /** Seconds-long, for tests and smoke runs. */
  tiny: Object.freeze({ ...DEFAULT, users: 400, items: 300, k: 4, imageDim: 16, textDim: 12 }),
  /** Baby-sized, to check the generator's speed at scale. */
  large: Object.freeze({ ...DEFAULT, users: 20000, items: 7000 }),
});

interface Rule {
  readonly flag: string;
  readonly int?: boolean;
  readonly min: number;
  readonly max: number;
  /** Whether the bounds themselves are allowed. */
  readonly minOpen?: boolean;
  readonly maxOpen?: boolean;
}

const RULES: Record<keyof SimSettings, Rule> = {
  users: { flag: '--users', int: true, min: 2, max: 10_000_000 },
  items: { flag: '--items', int: true, min: 8, max: 10_000_000 },
  k: { flag: '--k', int: true, min: 1, max: 4096 },
  contentDim: { flag: 'contentDim', int: true, min: 1, max: 4096 },
  envDim: { flag: 'envDim', int: true, min: 1, max: 4096 },
  imageDim: { flag: 'imageDim', int: true, min: 1, max: 65536 },
  textDim: { flag: 'textDim', int: true, min: 1, max: 65536 },
  envShare: { flag: 'envShare', min: 0, max: 1, maxOpen: true },
  snr: { flag: '--snr', min: 0, max: Infinity, minOpen: true, maxOpen: true },
  zipf: { flag: 'zipf', min: 0, max: 10 },
  envBoost: { flag: 'envBoost', min: 0, max: 10 },
  envExposure: { flag: 'envExposure', min: 0, max: 1 },
  userConcentration: { flag: 'userConcentration', min: 0, max: 1e6, minOpen: true },
  prefSharpness: { flag: 'prefSharpness', min: 0, max: 50 },
  meanPerUser: { flag: 'meanPerUser', min: 3, max: 1e6 },
  minPerUser: { flag: 'minPerUser', int: true, min: 3, max: 1e6 },
  validFraction: { flag: 'validFraction', min: 0, max: 0.5, minOpen: true },
  testFraction: { flag: 'testFraction', min: 0, max: 0.5, minOpen: true },
  noiseRate: { flag: '--noise-rate', min: 0, max: 1, maxOpen: true },
};

/** The preset's settings with `overrides` applied, each checked; throws ConfigError naming the flag. */
export function resolveSettings(preset: string, overrides: Partial<Record<keyof SimSettings, unknown>> = {}): Readonly<SimSettings> {
  const base = PRESETS[preset];
  if (base === undefined || !Object.hasOwn(PRESETS, preset)) {
    throw new ConfigError(`--preset: unknown preset '${preset}' (known: ${Object.keys(PRESETS).join(', ')})`);
  }
  const merged: Record<string, unknown> = { ...base };
  for (const [key, v] of Object.entries(overrides)) {
    if (!Object.hasOwn(RULES, key)) throw new ConfigError(`unknown simulator setting '${key}'`);
    if (v !== undefined) merged[key] = v;
  }
  for (const key of Object.keys(RULES) as (keyof SimSettings)[]) checkValue(RULES[key], merged[key]);
  const s = merged as unknown as SimSettings;
  checkConsistency(s);
  return Object.freeze(s);
}

function checkValue(rule: Rule, v: unknown): void {
  const fail = (why: string): never => {
    throw new ConfigError(`${rule.flag}: ${why}, got ${JSON.stringify(v)}`);
  };
  if (typeof v !== 'number' || Number.isNaN(v)) fail('must be a number');
  const x = v as number;
  if (rule.int && !Number.isInteger(x)) fail('must be an integer');
  const low = rule.minOpen ? x <= rule.min : x < rule.min;
  const high = rule.maxOpen ? x >= rule.max : x > rule.max;
  if (low || high) fail(`must be in ${rule.minOpen ? '(' : '['}${rule.min}, ${rule.max}${rule.maxOpen ? ')' : ']'}`);
}

/** Cross-field limits: every user can be given its interactions and its noise edges among distinct items. */
function checkConsistency(s: SimSettings): void {
  if (s.meanPerUser < s.minPerUser) {
    throw new ConfigError(`meanPerUser (${s.meanPerUser}) must be at least minPerUser (${s.minPerUser})`);
  }
  if (s.minPerUser > maxPerUser(s.items)) {
    throw new ConfigError(`--items: ${s.items} items are too few for ${s.minPerUser} interactions per user (need ≥ ${4 * s.minPerUser})`);
  }
  for (let n = s.minPerUser; n <= maxPerUser(s.items); n++) {
    if (splitSizes(n, s).train < 1) {
      throw new ConfigError(`validFraction + testFraction (${s.validFraction} + ${s.testFraction}) leave a user with ${n} interactions no train edge`);
    }
  }
}

/** How a user's n_u interactions split (eq. 10): valid and test each get round(f · n_u), at least 1; train the rest. */
export function splitSizes(n: number, s: SimSettings): { train: number; valid: number; test: number } {
  const valid = Math.max(1, Math.round(s.validFraction * n));
  const test = Math.max(1, Math.round(s.testFraction * n));
  return { train: n - valid - test, valid, test };
}

/** n_max: a user's interactions are capped at a quarter of the items, so distinct draws stay cheap. */
export function maxPerUser(items: number): number {
  return Math.floor(items / 4);
}
