/** Seeded random inputs for the evaluation tests and the benchmark. */
import { csrFromCoo, type Csr } from '../../src/graph/index.js';

/** mulberry32: a tiny seeded generator, uniform in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform in [-1, 1), or, with `levels`, integers in [-levels, levels] (exact dot products: many ties). */
export function randomMatrix(rand: () => number, rows: number, cols: number, levels?: number): Float32Array {
  const m = new Float32Array(rows * cols);
  for (let i = 0; i < m.length; i++) {
    m[i] = levels === undefined ? rand() * 2 - 1 : Math.floor(rand() * (2 * levels + 1)) - levels;
  }
  return m;
}

/** For each user, `perUser()` distinct items drawn uniformly, none of them in `exclude`'s row. */
export function randomCsr(
  rand: () => number,
  nUsers: number,
  nItems: number,
  perUser: () => number,
  exclude?: Csr,
): Csr {
  const rows: number[] = [];
  const cols: number[] = [];
  for (let u = 0; u < nUsers; u++) {
    const taken = new Set<number>(exclude ? exclude.indices.subarray(exclude.indptr[u], exclude.indptr[u + 1]) : []);
    const want = Math.min(perUser(), nItems - taken.size);
    for (let n = 0; n < want; ) {
      const i = Math.floor(rand() * nItems);
      if (taken.has(i)) continue;
      taken.add(i);
      rows.push(u);
      cols.push(i);
      n++;
    }
  }
  return csrFromCoo(nUsers, nItems, Int32Array.from(rows), Int32Array.from(cols));
}

/** A CSR matrix from explicit rows of column ids. */
export function csrFromRows(nCols: number, rows: readonly (readonly number[])[]): Csr {
  const r = rows.flatMap((cols, u) => cols.map(() => u));
  return csrFromCoo(rows.length, nCols, Int32Array.from(r), Int32Array.from(rows.flat()));
}

export interface RandomSplit {
  userEmb: Float32Array;
  itemEmb: Float32Array;
  dim: number;
  nUsers: number;
  nItems: number;
  mask: Csr;
  truth: Csr;
}

export interface SplitShape {
  nUsers: number;
  nItems: number;
  dim: number;
  /** Inclusive ranges of the per-user set sizes, drawn uniformly. */
  trainPerUser: readonly [number, number];
  truthPerUser: readonly [number, number];
  /** Integer-valued embeddings in [-levels, levels] (see randomMatrix). */
  levels?: number;
}

/** Embeddings plus train (mask) and disjoint ground-truth sets. */
export function randomSplit(seed: number, shape: SplitShape): RandomSplit {
  const rand = rng(seed);
  const { nUsers, nItems, dim } = shape;
  const between = ([lo, hi]: readonly [number, number]) => () => lo + Math.floor(rand() * (hi - lo + 1));
  const mask = randomCsr(rand, nUsers, nItems, between(shape.trainPerUser));
  const truth = randomCsr(rand, nUsers, nItems, between(shape.truthPerUser), mask);
  return {
    userEmb: randomMatrix(rand, nUsers, dim, shape.levels),
    itemEmb: randomMatrix(rand, nItems, dim, shape.levels),
    dim,
    nUsers,
    nItems,
    mask,
    truth,
  };
}
