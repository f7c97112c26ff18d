/**
 * MMRec-style item–item kNN graphs of one modality, as two .npy files:
 *   `<mod>_knn<k>_idx.npy`  int32 [nItems, k]  row i = the k nearest items of item i (usually i itself first)
 *   `<mod>_knn<k>_sim.npy`  float32 [nItems, k] their cosine similarities
 * (see ../shared/datasets/baby/SOURCE.md for how the shipped graphs were recovered from LATTICE/MGCN's files).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DataError } from '../errors/index.js';
import { cellField, parseNpy, requireFinite } from './npy.js';
import type { KnnGraph } from './types.js';

const KNN_FILE = /^([a-z][a-z0-9]*)_knn(\d+)_(idx|sim)\.npy$/;

export interface KnnFiles {
  readonly modality: string;
  readonly k: number;
  readonly idx: string; // file names, relative to the dataset folder
  readonly sim: string;
}

export function knnFileNames(modality: string, k: number): KnnFiles {
  return { modality, k, idx: `${modality}_knn${k}_idx.npy`, sim: `${modality}_knn${k}_sim.npy` };
}

/**
 * The kNN graphs among a folder's file names, one per modality. An idx file without its sim file (or the
 * reverse), and two graphs of one modality with different k, are errors: which to use would be a guess.
 */
export function findKnnFiles(dir: string, names: readonly string[]): KnnFiles[] {
  const ks = new Map<string, Set<number>>();
  for (const name of names) {
    const m = KNN_FILE.exec(name);
    if (m === null) continue;
    const set = ks.get(m[1]) ?? new Set<number>();
    ks.set(m[1], set.add(Number(m[2])));
  }
  const present = new Set(names);
  return [...ks].map(([modality, set]) => {
    if (set.size > 1) {
      const list = [...set].sort((a, b) => a - b).join(', ');
      throw new DataError({ file: join(dir, `${modality}_knn*_idx.npy`) }, `several ${modality} kNN graphs (k = ${list}); keep one`);
    }
    const files = knnFileNames(modality, [...set][0]);
    for (const [have, need] of [[files.idx, files.sim], [files.sim, files.idx]]) {
      if (!present.has(need)) throw new DataError({ file: join(dir, need) }, `missing: ${have} is present but its pair is not`);
    }
    return files;
  });
}

export async function readKnn(dir: string, files: KnnFiles): Promise<KnnGraph> {
  const [idx, sim] = await Promise.all([readFile(join(dir, files.idx)), readFile(join(dir, files.sim))]);
  return parseKnn(idx, sim, join(dir, files.idx), join(dir, files.sim), files.k);
}

/**
 * Parses and checks a kNN graph: idx int32 (or int64 within int32) [n, k], sim float [n, k] of the same n,
 * every neighbour in [0, n), every similarity finite.
 */
export function parseKnn(idxBytes: Uint8Array, simBytes: Uint8Array, idxFile: string, simFile: string, k: number): KnnGraph {
  const idx = parseNpy(idxBytes, idxFile, { kind: 'int', shape: [null, k] });
  const sim = parseNpy(simBytes, simFile, { kind: 'float', shape: [null, k] });
  const n = idx.shape[0];
  if (sim.shape[0] !== n) {
    throw new DataError({ file: simFile, field: 'shape' }, `${sim.shape[0]} rows, but ${idxFile} has ${n}`);
  }
  for (let i = 0; i < idx.data.length; i++) {
    const j = idx.data[i];
    if (j < 0 || j >= n) throw new DataError({ file: idxFile, field: cellField(i, k) }, `neighbour ${j} is not an item id in [0, ${n})`);
  }
  requireFinite(sim.data, k, simFile);
  return { k, idx: idx.data, sim: sim.data };
}
