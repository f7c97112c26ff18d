/** The data layer's public surface (DESIGN.md §2): MMRec-layout datasets, .npy files and kNN graphs. */
export type { Dataset, Interactions, KnnGraph, Modality } from './types.js';
export { loadDataset, type LoadOptions } from './dataset.js';
export { parseInter, readInter, type InterLimits, type InterSplits } from './inter.js';
export { findKnnFiles, knnFileNames, parseKnn, readKnn, type KnnFiles } from './knn.js';
export {
  encodeNpy,
  encodeNpyHeader,
  float16ToNumber,
  parseNpy,
  readNpy,
  requireFinite,
  writeNpy,
  type NpyArray,
  type NpyDescr,
  type NpyExpect,
  type NpyHeader,
  type NpyKind,
} from './npy.js';
export { DEFAULT_STAND_IN_DIM, spectralEmbedding, standInModality, symmetricEigen, type SpectralEmbedding, type SpectralOptions } from './standin.js';
export { writeFileAtomic } from './atomic.js';
export { FramedData, readFramed, writeFramed, type FramedSpan } from './framed.js';
