/**
 * Loads a dataset folder in MMRec's layout (DESIGN.md §2):
 *   <name>.inter                      interactions and their split (inter.ts)
 *   <mod>_feat.npy                    optional item features, float [nItems, dim], row = itemID (npy.ts)
 *   <mod>_knn<k>_idx.npy / _sim.npy   optional item–item kNN graph (knn.ts)
 * A modality with a graph but no features gets stand-in features built from the graph (standin.ts).
 */
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { DataError } from '../errors/index.js';
import { csrFromCoo, type Csr } from '../graph/csr.js';
import { parseInter, type InterSplits } from './inter.js';
import { findKnnFiles, parseKnn, type KnnFiles } from './knn.js';
import { parseNpy, requireFinite } from './npy.js';
import { DEFAULT_STAND_IN_DIM, standInModality } from './standin.js';
import type { Dataset, Interactions, KnnGraph, Modality } from './types.js';

/** Modalities come in this order, then any others by name. */
const MODALITY_ORDER = ['image', 'text', 'audio'];
const FEATURE_FILE = /^([a-z][a-z0-9]*)_feat\.npy$/;

export interface LoadOptions {
  /** The base name of `<name>.inter`; defaults to the folder's name. */
  readonly name?: string;
  /** Dimensions of stand-in features built from a kNN graph (default 64). */
  readonly standInDim?: number;
  /** Told when a stand-in is built (a pino logger fits). */
  readonly logger?: { info(obj: object, msg: string): void };
}

interface LoadedFeatures {
  readonly file: string;
  readonly descr: string;
  readonly rows: number;
  readonly dim: number;
  readonly data: Float32Array;
}

interface LoadedKnn {
  readonly files: KnnFiles;
  readonly idxFile: string;
  readonly rows: number;
  readonly graph: KnnGraph;
}

/** One modality's item-side arrays, as read, before their row counts are reconciled. */
interface LoadedModality {
  readonly name: string;
  readonly features?: LoadedFeatures;
  readonly knn?: LoadedKnn;
}

export async function loadDataset(dir: string, opts: LoadOptions = {}): Promise<Dataset> {
  const root = resolve(dir);
  const name = opts.name ?? basename(root);
  const names = await listFolder(root);
  const files = new TrackedFolder(root);

  const interName = `${name}.inter`;
  if (!names.includes(interName)) {
    const others = names.filter((f) => f.endsWith('.inter'));
    const hint = others.length > 0 ? ` (the folder has ${others.join(', ')}; pass its name)` : '';
    throw new DataError({ file: join(root, interName) }, `interaction file not found${hint}`);
  }
  const interPath = join(root, interName);
  const inter = parseInter(await files.read(interName), interPath);

  const loaded: LoadedModality[] = [];
  for (const source of findModalities(root, names)) loaded.push(await loadModality(files, source));
  const nItems = reconcileItemCount(inter, interPath, loaded);
  const modalities = loaded.map((m) => toModality(m, opts));

  const nUsers = inter.nUsers;
  return {
    name,
    dir: root,
    nUsers,
    nItems,
    train: inter.train,
    valid: inter.valid,
    test: inter.test,
    trainByUser: byUser(inter.train, nUsers, nItems),
    validByUser: byUser(inter.valid, nUsers, nItems),
    testByUser: byUser(inter.test, nUsers, nItems),
    modalities,
    checksum: files.checksum(),
  };
}

/** Reads files of one folder and remembers their bytes, in read order, for the checksum. */
class TrackedFolder {
  private readonly hash = createHash('sha256');
  constructor(readonly root: string) {}

  async read(name: string): Promise<Buffer> {
    const bytes = await readFile(join(this.root, name));
    // Each file enters as name, length and bytes, so that no two different file sets hash alike.
    this.hash.update(`${name}\0${bytes.length}\0`).update(bytes);
    return bytes;
  }

  checksum(): string {
    return this.hash.copy().digest('hex');
  }
}

async function listFolder(root: string): Promise<string[]> {
  try {
    return (await readdir(root)).sort();
  } catch (err) {
    throw new DataError({ file: root }, `cannot list the dataset folder: ${(err as Error).message}`, { cause: err });
  }
}

interface ModalitySource {
  readonly name: string;
  readonly feat?: string;
  readonly knn?: KnnFiles;
}

function findModalities(root: string, names: readonly string[]): ModalitySource[] {
  const sources = new Map<string, { name: string; feat?: string; knn?: KnnFiles }>();
  const entry = (name: string) => {
    const found = sources.get(name) ?? { name };
    sources.set(name, found);
    return found;
  };
  for (const file of names) {
    const m = FEATURE_FILE.exec(file);
    if (m !== null) entry(m[1]).feat = file;
  }
  for (const knn of findKnnFiles(root, names)) entry(knn.modality).knn = knn;
  const rank = (name: string) => (MODALITY_ORDER.includes(name) ? MODALITY_ORDER.indexOf(name) : MODALITY_ORDER.length);
  return [...sources.values()].sort((a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name));
}

/** Reads a modality's files in a fixed order (features, kNN idx, kNN sim): the checksum depends on it. */
async function loadModality(files: TrackedFolder, source: ModalitySource): Promise<LoadedModality> {
  const features = source.feat === undefined ? undefined : readFeatures(join(files.root, source.feat), await files.read(source.feat));
  if (source.knn === undefined) return { name: source.name, features };
  const idxFile = join(files.root, source.knn.idx);
  const idx = await files.read(source.knn.idx);
  const sim = await files.read(source.knn.sim);
  const graph = parseKnn(idx, sim, idxFile, join(files.root, source.knn.sim), source.knn.k);
  return { name: source.name, features, knn: { files: source.knn, idxFile, graph, rows: graph.idx.length / graph.k } };
}

/** Item features: a 2-D float array (float16, float32 or float64 on disk) with at least one column, all finite. */
function readFeatures(file: string, bytes: Uint8Array): LoadedFeatures {
  const arr = parseNpy(bytes, file, { kind: 'float', shape: [null, null] });
  const [rows, dim] = arr.shape;
  if (dim === 0) throw new DataError({ file, field: 'shape' }, 'features have 0 columns');
  requireFinite(arr.data, dim, file);
  return { file, data: arr.data, dim, rows, descr: arr.descr };
}

/**
 * nItems = the largest of (max item id + 1) and every item-side file's row count; then every item-side file must
 * have exactly nItems rows (more rows than item ids is fine, so long as all files agree; fewer is an error).
 */
function reconcileItemCount(inter: InterSplits, interPath: string, loaded: readonly LoadedModality[]): number {
  const tables = loaded.flatMap((m) => [
    ...(m.features ? [{ file: m.features.file, rows: m.features.rows }] : []),
    ...(m.knn ? [{ file: m.knn.idxFile, rows: m.knn.rows }] : []),
  ]);
  const nItems = Math.max(inter.nItems, ...tables.map((t) => t.rows));
  const widest = tables.find((t) => t.rows === nItems);
  for (const t of tables) {
    if (t.rows === nItems) continue;
    const why =
      widest === undefined
        ? `${interPath} line ${inter.maxItemLine} has item id ${inter.nItems - 1}`
        : `${widest.file} has ${nItems} rows`;
    throw new DataError({ file: t.file, field: 'shape' }, `${t.rows} rows (one per item), but ${why}`);
  }
  return nItems;
}

function toModality(m: LoadedModality, opts: LoadOptions): Modality {
  const knn = m.knn?.graph;
  if (m.features !== undefined) {
    const f = m.features;
    const provenance = `${basename(f.file)}, ${f.descr} [${f.rows}, ${f.dim}]`;
    return { name: m.name, dim: f.dim, features: f.data, standIn: false, provenance, ...(knn ? { knn } : {}) };
  }
  if (m.knn === undefined) throw new Error(`modality ${m.name} has neither features nor a kNN graph`);
  const source = `${m.knn.files.idx}, ${m.knn.files.sim}`;
  const modality = standInModality(m.name, m.knn.graph, source, { dim: opts.standInDim ?? DEFAULT_STAND_IN_DIM });
  opts.logger?.info({ component: 'data', modality: m.name, provenance: modality.provenance }, `built stand-in ${m.name} features from its kNN graph`);
  return modality;
}

/** users × items with each row's items sorted and duplicates removed. */
function byUser(split: Interactions, nUsers: number, nItems: number): Csr {
  const m = csrFromCoo(nUsers, nItems, split.users, split.items);
  const indptr = new Int32Array(nUsers + 1);
  const indices = new Int32Array(m.indices.length);
  let out = 0;
  for (let r = 0; r < nUsers; r++) {
    for (let e = m.indptr[r]; e < m.indptr[r + 1]; e++) {
      if (e === m.indptr[r] || m.indices[e] !== m.indices[e - 1]) indices[out++] = m.indices[e];
    }
    indptr[r + 1] = out;
  }
  return { nRows: nUsers, nCols: nItems, indptr, indices: indices.slice(0, out) };
}
