import type { Csr } from './csr.js';

/**
 * The message-flow blocks of a batch's L-hop neighbourhood (DGL's blocks, PyG's NeighborLoader with the full
 * neighbourhood, no fan-out sampling). From seed nodes, frontiers F_0 ⊂ F_1 ⊂ … ⊂ F_L with
 * F_k = F_{k-1} ∪ N(F_{k-1}); block k (k = 1..L) holds the rows F_{k-1} of the adjacency restricted to the columns
 * F_k, which contain every neighbour of those rows, so layer k at F_{k-1} is exact: h^k[F_{k-1}] = B_k · h^{k-1}[F_k].
 * Layer L at the seeds thus needs layer 0 at F_L only.
 *
 * Each frontier is a prefix of the next (the DGL convention): `nodes` is F_L in order, F_k its first `sizes[k]`
 * entries, the seeds' distinct nodes first (F_0, in order of first appearance). A node's position is the same in
 * every frontier that holds it, so a block's columns index the next frontier and its rows the previous one, and a
 * layer's values at the seeds are its first |F_0| rows.
 */
export interface MessageFlowBlocks {
  /** F_L's node ids in frontier order. */
  readonly nodes: Int32Array;
  /** |F_0|, |F_1|, …, |F_L|. */
  readonly sizes: readonly number[];
  /** blocks[k − 1] = B_k: |F_{k-1}| × |F_k|, the adjacency's entries (values, and their order within a row, kept). */
  readonly blocks: readonly Csr[];
  /** The position in F_0 of each seed as given (seeds may repeat). */
  readonly seedIndex: Int32Array;
}

/**
 * The blocks of `seeds` over a square adjacency, `layers` hops deep. O(N) for the position map plus the entries of
 * the rows of F_{L-1}; no dense matrix. The values are the adjacency's own, so a normalisation computed from the
 * whole graph's degrees (LightGCN's Â) stays exact on the blocks.
 */
export function messageFlowBlocks(adjacency: Csr, seeds: Int32Array, layers: number): MessageFlowBlocks {
  if (adjacency.nRows !== adjacency.nCols) throw new RangeError(`messageFlowBlocks: the adjacency must be square, got ${adjacency.nRows}×${adjacency.nCols}`);
  if (!Number.isInteger(layers) || layers < 0) throw new RangeError(`messageFlowBlocks: layers must be an integer ≥ 0, got ${layers}`);
  const n = adjacency.nRows;
  const position = new Int32Array(n).fill(-1);
  const order = new Int32Array(n);
  let count = 0;
  const seedIndex = new Int32Array(seeds.length);
  for (let s = 0; s < seeds.length; s++) {
    const v = seeds[s];
    if (!(v >= 0 && v < n)) throw new RangeError(`messageFlowBlocks: seed ${v} is not a node of [0, ${n})`);
    if (position[v] < 0) {
      position[v] = count;
      order[count++] = v;
    }
    seedIndex[s] = position[v];
  }
  const sizes = [count];
  const { indptr, indices } = adjacency;
  // Only the nodes new in F_{k-1} can bring new neighbours: the others' are in F_{k-1} already.
  for (let k = 1, from = 0; k <= layers; k++) {
    const to = count;
    for (let r = from; r < to; r++) {
      const v = order[r];
      for (let p = indptr[v]; p < indptr[v + 1]; p++) {
        const w = indices[p];
        if (position[w] >= 0) continue;
        position[w] = count;
        order[count++] = w;
      }
    }
    sizes.push(count);
    from = to;
  }
  const nodes = order.slice(0, count);
  const blocks = sizes.slice(1).map((cols, k) => block(adjacency, nodes, sizes[k], cols, position));
  return { nodes, sizes, blocks, seedIndex };
}

/** The adjacency's rows nodes[0 .. rows) with their columns mapped to positions (all < cols by construction). */
function block(adjacency: Csr, nodes: Int32Array, rows: number, cols: number, position: Int32Array): Csr {
  const { indptr, indices, values } = adjacency;
  const ptr = new Int32Array(rows + 1);
  for (let r = 0; r < rows; r++) ptr[r + 1] = ptr[r] + indptr[nodes[r] + 1] - indptr[nodes[r]];
  const idx = new Int32Array(ptr[rows]);
  const val = values ? new Float32Array(ptr[rows]) : undefined;
  for (let r = 0; r < rows; r++) {
    const v = nodes[r];
    for (let p = indptr[v], q = ptr[r]; p < indptr[v + 1]; p++, q++) {
      idx[q] = position[indices[p]];
      if (val) val[q] = values![p];
    }
  }
  return { nRows: rows, nCols: cols, indptr: ptr, indices: idx, values: val };
}
