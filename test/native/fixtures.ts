/**
 * Shared by the native-kernel tests and measurements: the addon (or why it is missing), random inputs from the
 * project's seeded generator, and plain TypeScript references for the kernels.
 */
import type { TestContext } from 'node:test';
import { existsSync } from 'node:fs';
import { defaultAddonPath, probeNative, type NativeKernels } from '../../src/compute/native.js';
import { RandomStream } from '../../src/random/index.js';

/**
 * The addon for a test. When it was never built the test is skipped with the reason, unless REQUIRE_NATIVE=1
 * (CI, and any machine where `npm ci` should have built it), where it fails; an addon that exists but does not
 * load (or is stale) always fails.
 */
export function nativeFor(t: TestContext): NativeKernels | null {
  const probe = probeNative();
  if (probe.kernels) return probe.kernels;
  if (existsSync(defaultAddonPath()) || process.env.REQUIRE_NATIVE === '1') throw new Error(probe.reason);
  t.skip(probe.reason);
  return null;
}

/** Runs body once per instruction set the CPU supports, restoring the default after. */
export function forEachIsa(native: NativeKernels, body: (isa: string) => void): void {
  const initial = native.isa();
  try {
    for (const isa of native.isas) {
      native.setIsa(isa);
      body(isa);
    }
  } finally {
    native.setIsa(initial);
  }
}

export function stream(seed: number, entity = 0): RandomStream {
  return new RandomStream(seed, 'init', 0, 0, entity);
}

/** n normal floats, or n integers in [-r, r] when `intRange` is given (dot products then exact in float32). */
export function randomMatrix(s: RandomStream, n: number, intRange?: number): Float32Array {
  const m = new Float32Array(n);
  for (let i = 0; i < n; i++) m[i] = intRange === undefined ? s.nextNormal() : s.nextInt(2 * intRange + 1) - intRange;
  return m;
}

export interface CsrArrays {
  indptr: Int32Array;
  indices: Int32Array;
  values: Float32Array | null;
}

/** CSR from per-row column lists, kept in the order given (rows need not be sorted). */
export function csrFromRows(rows: number[][], values?: (row: number, pos: number) => number): CsrArrays {
  const indptr = new Int32Array(rows.length + 1);
  rows.forEach((cols, r) => (indptr[r + 1] = indptr[r] + cols.length));
  const indices = new Int32Array(rows.flat());
  const vals = values ? new Float32Array(indices.length) : null;
  if (vals && values) rows.forEach((cols, r) => cols.forEach((_, p) => (vals[indptr[r] + p] = values(r, p))));
  return { indptr, indices, values: vals };
}

/** Row r holds `count(r)` distinct columns of [0, nCols) drawn at random, in the order drawn. */
export function randomRows(s: RandomStream, nRows: number, nCols: number, count: (r: number) => number): number[][] {
  return Array.from({ length: nRows }, (_, r) => {
    const want = Math.min(nCols, count(r));
    const seen = new Set<number>();
    while (seen.size < want) seen.add(s.nextInt(nCols));
    return [...seen];
  });
}

/**
 * The symmetric normalised adjacency of a random bipartite user–item graph (LightGCN's Â, nodes = users then
 * items): `edges` distinct user–item pairs, so 2·edges non-zeros, each A[u,i] = 1/√(deg u · deg i).
 */
export function randomBipartiteGraph(s: RandomStream, nUsers: number, nItems: number, edges: number): CsrArrays {
  const pairs = new Set<number>();
  while (pairs.size < edges) pairs.add(s.nextInt(nUsers) * nItems + s.nextInt(nItems));
  const rows: number[][] = Array.from({ length: nUsers + nItems }, () => []);
  for (const p of pairs) {
    const u = Math.floor(p / nItems);
    const i = nUsers + (p % nItems);
    rows[u].push(i);
    rows[i].push(u);
  }
  for (const r of rows) r.sort((a, b) => a - b);
  return csrFromRows(rows, (r, p) => 1 / Math.sqrt(rows[r].length * rows[rows[r][p]].length));
}

/** Reference for spmm: float64 sums in CSR order, rows [rowStart, rowEnd) of an out with all rows. */
export function spmmReference(
  a: CsrArrays,
  x: Float32Array,
  dim: number,
  rowStart: number,
  rowEnd: number,
  out: Float64Array,
): void {
  for (let r = rowStart; r < rowEnd; r++) {
    for (let d = 0; d < dim; d++) out[r * dim + d] = 0;
    for (let e = a.indptr[r]; e < a.indptr[r + 1]; e++) {
      const v = a.values ? a.values[e] : 1;
      const j = a.indices[e];
      for (let d = 0; d < dim; d++) out[r * dim + d] += v * x[j * dim + d];
    }
  }
}

export interface TopKProblem {
  userEmb: Float32Array;
  users: Int32Array;
  itemEmb: Float32Array;
  nItems: number;
  dim: number;
  mask: CsrArrays;
  k: number;
}

/** Float64 dot products of user u with every item. */
export function scoreRow(p: TopKProblem, u: number): Float64Array {
  const row = new Float64Array(p.nItems);
  for (let i = 0; i < p.nItems; i++) {
    let s = 0;
    for (let d = 0; d < p.dim; d++) s += p.userEmb[u * p.dim + d] * p.itemEmb[i * p.dim + d];
    row[i] = s;
  }
  return row;
}

/** Reference for scoreTopK: a full sort of every listed user's unmasked scores. */
export function topKReference(p: TopKProblem): { items: Int32Array; scores: Float64Array } {
  const items = new Int32Array(p.users.length * p.k).fill(-1);
  const scores = new Float64Array(p.users.length * p.k).fill(-Infinity);
  p.users.forEach((u, row) => {
    const s = scoreRow(p, u);
    const masked = new Set(p.mask.indices.subarray(p.mask.indptr[u], p.mask.indptr[u + 1]));
    const ranked = [...s.keys()]
      .filter((i) => !masked.has(i) && s[i] > -Infinity)
      .sort((a, b) => s[b] - s[a] || a - b)
      .slice(0, p.k);
    ranked.forEach((i, j) => {
      items[row * p.k + j] = i;
      scores[row * p.k + j] = s[i];
    });
  });
  return { items, scores };
}

/** Runs the native scoreTopK on a problem. */
export function nativeTopK(native: NativeKernels, p: TopKProblem, threads: number): RankedLists {
  const out = { items: new Int32Array(p.users.length * p.k), scores: new Float32Array(p.users.length * p.k) };
  native.scoreTopK(...topKArgs(p), out.items, out.scores, threads);
  return out;
}

/** The same with scoreTopKAsync. */
export async function nativeTopKAsync(native: NativeKernels, p: TopKProblem, threads: number): Promise<RankedLists> {
  const out = { items: new Int32Array(p.users.length * p.k), scores: new Float32Array(p.users.length * p.k) };
  await native.scoreTopKAsync(...topKArgs(p), out.items, out.scores, threads);
  return out;
}

export interface RankedLists {
  items: Int32Array;
  scores: Float32Array;
}

function topKArgs(p: TopKProblem) {
  return [p.userEmb, p.users, p.itemEmb, p.nItems, p.dim, p.mask.indptr, p.mask.indices, p.k] as const;
}
