/**
 * Writes a simulated dataset in MMRec's layout (what src/data's loadDataset reads) plus its ground truth
 * (docs/simulator.md §3). Every file is written atomically; ground_truth.json goes last and lists every other
 * file's sha256, so a folder with a ground_truth.json whose hashes match is complete.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { encodeNpy, writeFileAtomic } from '../data/index.js';
import { ConfigError } from '../errors/index.js';
import type { SimEdges, SimulatedData } from './generate.js';
import { derivedConstants, simStatistics, type SimStatistics } from './stats.js';

export const GROUND_TRUTH_FORMAT = 'camrec-simulate/1';
export const GROUND_TRUTH_FILE = 'ground_truth.json';

/** The ground-truth arrays, by file name (none matches `<mod>_feat.npy` or a kNN name, so loadDataset ignores them). */
export const TRUTH_FILES = {
  itemEnv: 'gt_item_env.npy',
  userEnvWeights: 'gt_user_env_weights.npy',
  trainNoise: 'gt_train_noise.npy',
  itemExposure: 'gt_item_exposure.npy',
  itemContent: 'gt_item_content.npy',
  userTaste: 'gt_user_taste.npy',
  envEmbedding: 'gt_env_embedding.npy',
} as const;

export interface WriteOptions {
  /** The dataset's name: `<name>.inter` (default: the folder's name, which is what loadDataset looks for). */
  readonly name?: string;
  /** Overwrite into a non-empty folder. */
  readonly force?: boolean;
  /** The preset the settings came from, recorded in ground_truth.json. */
  readonly preset?: string;
}

export interface FileEntry {
  readonly bytes: number;
  readonly sha256: string;
  readonly dtype?: string;
  readonly shape?: number[];
  readonly description: string;
}

export interface GroundTruth {
  readonly format: string;
  readonly name: string;
  readonly seed: number;
  readonly preset: string | null;
  readonly settings: Record<string, number>;
  readonly derived: Record<string, number>;
  readonly environmentBoost: number[];
  readonly trainEdgeOrder: string;
  readonly statistics: SimStatistics;
  readonly files: Record<string, FileEntry>;
  /** sha256 over (name, length, bytes) of every file above, in name order. */
  readonly checksum: string;
}

interface PendingFile {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly entry: Omit<FileEntry, 'bytes' | 'sha256'>;
}

/** Writes the dataset into `dir` and returns its ground-truth record. */
export function writeSimulation(dir: string, data: SimulatedData, opts: WriteOptions = {}): GroundTruth {
  const root = resolve(dir);
  const name = opts.name ?? basename(root);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new ConfigError(`dataset name '${name}' must be letters, digits, '.', '_' or '-'`);
  prepareFolder(root, opts.force ?? false);
  const pending = datasetFiles(name, data);
  const files: Record<string, FileEntry> = {};
  const total = createHash('sha256');
  for (const f of [...pending].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    writeFileAtomic(join(root, f.name), [f.bytes]);
    files[f.name] = { bytes: f.bytes.length, sha256: createHash('sha256').update(f.bytes).digest('hex'), ...f.entry };
    total.update(`${f.name}\0${f.bytes.length}\0`).update(f.bytes);
  }
  const truth: GroundTruth = {
    format: GROUND_TRUTH_FORMAT,
    name,
    seed: data.seed,
    preset: opts.preset ?? null,
    settings: { ...data.settings },
    derived: derivedConstants(data),
    environmentBoost: Array.from(data.envBoost),
    trainEdgeOrder: 'train edges (x_label 0) sorted by (userID, itemID), no repeats: the order of their lines in the .inter file and of trainByUser',
    statistics: simStatistics(data),
    files,
    checksum: total.digest('hex'),
  };
  writeFileAtomic(join(root, GROUND_TRUTH_FILE), `${JSON.stringify(truth, null, 2)}\n`);
  return truth;
}

function prepareFolder(root: string, force: boolean): void {
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ConfigError(`--out ${root}: cannot list the folder (${(err as Error).message})`, { cause: err });
    }
    mkdirSync(root, { recursive: true });
    return;
  }
  if (entries.length > 0 && !force) {
    throw new ConfigError(`--out ${root}: the folder is not empty (${entries.length} entries); pass --force to write into it`);
  }
}

function datasetFiles(name: string, d: SimulatedData): PendingFile[] {
  const s = d.settings;
  const npy = (file: string, data: Float32Array | Int32Array, shape: number[], description: string): PendingFile => ({
    name: file,
    bytes: encodeNpy(data, shape),
    entry: { dtype: data instanceof Float32Array ? 'float32' : 'int32', shape, description },
  });
  return [
    { name: `${name}.inter`, bytes: interBytes(d), entry: { description: 'interactions, MMRec layout: train (x_label 0, sorted by user then item), valid (1), test (2)' } },
    ...d.modalities.map((m) => npy(`${m.name}_feat.npy`, m.features, [s.items, m.dim], `x^${m.name}, item features (eq. 5), row = itemID`)),
    npy(TRUTH_FILES.itemEnv, d.itemEnv, [s.items], 'z_i, each item\'s environment (eq. 2)'),
    npy(TRUTH_FILES.userEnvWeights, d.userEnvWeights, [s.users, s.k], 'w_u, each user\'s confounder mixture (eq. 7)'),
    npy(TRUTH_FILES.trainNoise, Int32Array.from(d.train.noise), [d.train.noise.length], '1 if train edge j is an injected accidental click (eq. 12); j in train edge order'),
    npy(TRUTH_FILES.itemExposure, d.itemExposure, [s.items], 'ω_i = π_i b_{z_i}, exposure propensity (eq. 6)'),
    npy(TRUTH_FILES.itemContent, d.itemContent, [s.items, s.contentDim], 'c_i, true item content (eq. 2)'),
    npy(TRUTH_FILES.userTaste, d.userTaste, [s.users, s.contentDim], 'p_u, true user taste (eq. 7)'),
    npy(TRUTH_FILES.envEmbedding, d.envEmbedding, [s.k, s.envDim], 'μ_k, environment embeddings (eq. 1)'),
  ];
}

/** `userID itemID rating timestamp x_label`, tab-separated; rating 1 and timestamp 0 as in ../shared/datasets. */
function interBytes(d: SimulatedData): Uint8Array {
  const lines = ['userID\titemID\trating\ttimestamp\tx_label'];
  const add = (e: SimEdges, label: number) => {
    for (let j = 0; j < e.users.length; j++) lines.push(`${e.users[j]}\t${e.items[j]}\t1\t0\t${label}`);
  };
  add(d.train, 0);
  add(d.valid, 1);
  add(d.test, 2);
  return Buffer.from(`${lines.join('\n')}\n`, 'utf8');
}
