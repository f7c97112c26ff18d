import type { Csr } from '../graph/csr.js';

/** One split of the interactions, as parallel arrays in file order. */
export interface Interactions {
  readonly users: Int32Array;
  readonly items: Int32Array;
}

/** An item-item kNN graph of one modality: row i holds item i's k neighbours (MMRec's `<mod>_knn<k>_*.npy`). */
export interface KnnGraph {
  readonly k: number;
  readonly idx: Int32Array; // [nItems, k], row-major
  readonly sim: Float32Array; // [nItems, k], cosine similarities
}

/** Item features of one modality, row = itemID. */
export interface Modality {
  readonly name: string; // 'image' | 'text' | 'audio' | ...
  readonly dim: number;
  readonly features: Float32Array; // [nItems, dim], row-major
  /** True when the features are a stand-in built from the kNN graph because the raw features are missing. */
  readonly standIn: boolean;
  /** How a stand-in was built ("spectral embedding of the image kNN graph, 64 dims"), for logs and result.json. */
  readonly provenance: string;
  readonly knn?: KnnGraph;
}

export interface Dataset {
  readonly name: string;
  readonly dir: string;
  readonly nUsers: number; // max user id over all splits + 1
  readonly nItems: number; // max item id over all splits + 1
  readonly train: Interactions;
  readonly valid: Interactions;
  readonly test: Interactions;
  /** users x items, the training interactions (sorted, duplicates removed): masks and negative sampling. */
  readonly trainByUser: Csr;
  /** users x items for the valid and test splits: ground truth for evaluation. */
  readonly validByUser: Csr;
  readonly testByUser: Csr;
  readonly modalities: readonly Modality[];
  /** sha256 over the bytes of every file read, in a fixed order. */
  readonly checksum: string;
}
