export type { Csr } from './csr.js';
export { csrFromCoo, transpose, hasEntry, nnz } from './csr.js';
export { normalizedBipartiteAdjacency } from './bipartite.js';
export { type MessageFlowBlocks, messageFlowBlocks } from './blocks.js';
