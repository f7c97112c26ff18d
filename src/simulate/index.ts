/**
 * The simulator's public surface (DESIGN.md §2, docs/simulator.md): a seeded generator of multimodal
 * interaction data with known confounders, exposure bias and noise edges; its MMRec-layout writer; and the
 * metrics the causal-validity experiments compute against its ground truth.
 */
export { MODALITIES, simulate, STAGE, type SimEdges, type SimModality, type SimTrainEdges, type SimulatedData } from './generate.js';
export { maxPerUser, PRESETS, resolveSettings, splitSizes, type SimSettings } from './settings.js';
export { gini, simStatistics, type SimStatistics } from './stats.js';
export { GROUND_TRUTH_FILE, GROUND_TRUTH_FORMAT, TRUTH_FILES, writeSimulation, type FileEntry, type GroundTruth, type WriteOptions } from './write.js';
export { assignmentCounts, codebookPerplexity, normalizedMutualInfo, rocAuc, spearman, averageRanks } from './metrics.js';
export { concatColumns, kmeans, KMEANS_STAGE, kmeansPlusPlus, type KMeansOptions, type KMeansResult } from './kmeans.js';
export { readGroundTruth, type SimGroundTruth } from './read.js';
