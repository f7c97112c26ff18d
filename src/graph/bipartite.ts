import type { Csr } from './csr.js';
import { csrFromCoo, nnz } from './csr.js';

/**
 * The symmetric-normalised bipartite adjacency of LightGCN (He et al. 2020, eq. 7):
 * Â = D^{-1/2} A D^{-1/2} over N = users + items nodes (users first, item i is node nUsers + i).
 * The degree is the neighbour count plus 1e-7, as in MMRec, so isolated nodes do not divide by zero.
 * Built in O(edges) from the deduplicated users × items training matrix; never dense.
 */
export function normalizedBipartiteAdjacency(trainByUser: Csr): Csr {
  const nUsers = trainByUser.nRows;
  const nItems = trainByUser.nCols;
  const n = nUsers + nItems;
  const e = nnz(trainByUser);
  const degree = new Float64Array(n);
  for (let u = 0; u < nUsers; u++) {
    for (let k = trainByUser.indptr[u]; k < trainByUser.indptr[u + 1]; k++) {
      degree[u]++;
      degree[nUsers + trainByUser.indices[k]]++;
    }
  }
  const invSqrt = new Float64Array(n);
  for (let i = 0; i < n; i++) invSqrt[i] = 1 / Math.sqrt(degree[i] + 1e-7);

  const rows = new Int32Array(2 * e);
  const cols = new Int32Array(2 * e);
  const vals = new Float32Array(2 * e);
  let p = 0;
  for (let u = 0; u < nUsers; u++) {
    for (let k = trainByUser.indptr[u]; k < trainByUser.indptr[u + 1]; k++) {
      const node = nUsers + trainByUser.indices[k];
      const w = invSqrt[u] * invSqrt[node];
      rows[p] = u; cols[p] = node; vals[p++] = w;
      rows[p] = node; cols[p] = u; vals[p++] = w;
    }
  }
  return csrFromCoo(n, n, rows, cols, vals);
}
