/**
 * Stand-in item features for a modality that ships only a kNN graph (DESIGN.md §2): a spectral embedding,
 * the top eigenvectors of the symmetric-normalised kNN adjacency
 *
 *   A = (W + Wᵀ)/2,  W_ij = max(sim_ij, 0) for j in knn(i), j ≠ i;   S = D^-1/2 A D^-1/2,  D = diag(A·1)
 *
 * (the normalisation of Ng, Jordan & Weiss, and of LATTICE/MGCN's 'sym' kNN graphs), found by Chebyshev-filtered
 * subspace iteration (Zhou, Saad, Tiago & Chelikowsky, J. Comput. Phys. 219, 2006): each round applies a polynomial
 * of S that damps the unwanted part of the spectrum, [-1, θ_b], and amplifies the top, then orthonormalises the
 * block; a final Rayleigh–Ritz step rotates it into eigenvector estimates. The top of a kNN graph's spectrum is
 * crowded near 1, where plain power iteration stalls; the filter does not.
 * A round costs O(nnz·b) per polynomial degree for the products and O(n·b²) for the dense steps;
 * nothing of size n × n is ever formed.
 */
import { csrFromCoo, type Csr } from '../graph/csr.js';
import type { KnnGraph, Modality } from './types.js';

export const DEFAULT_STAND_IN_DIM = 64;
const DEFAULT_ROUNDS = 3;
const DEFAULT_DEGREE = 8;
const OVERSAMPLE = 8; // extra block columns: the top `dim` converge at the rate set by λ_(dim+8), not λ_(dim+1)

export interface SpectralOptions {
  readonly dim?: number; // default 64; at most the number of items
  readonly rounds?: number; // filter + orthonormalise + Rayleigh–Ritz rounds, default 3
  readonly degree?: number; // Chebyshev filter degree (products with S per round), default 8
  readonly seed?: number; // of the starting block, default 0
}

export interface SpectralEmbedding {
  /** [n, dim] row-major; column c is the c-th eigenvector estimate, scaled to unit root-mean-square, largest entry positive. */
  readonly features: Float32Array;
  readonly dim: number;
  /** The Ritz values of S = D^-1/2 A D^-1/2 for the columns, descending. */
  readonly eigenvalues: Float64Array;
  /** ‖S·v − θ·v‖ for each unit column v and its Ritz value θ: how far each column is from an eigenvector. */
  readonly residuals: Float64Array;
  readonly rounds: number;
  readonly degree: number;
}

export function spectralEmbedding(knn: KnnGraph, opts: SpectralOptions = {}): SpectralEmbedding {
  const n = knn.idx.length / knn.k;
  const dim = Math.min(opts.dim ?? DEFAULT_STAND_IN_DIM, n);
  const b = Math.min(dim + OVERSAMPLE, n);
  const rounds = opts.rounds ?? DEFAULT_ROUNDS;
  const degree = opts.degree ?? DEFAULT_DEGREE;
  const s = normalisedAdjacency(knn);
  let q: Float64Array = startBlock(n, b, opts.seed ?? 0);
  // Each round damps the unwanted part of the spectrum, [-1, cut], with cut = θ_b, the block's smallest Ritz value
  // (S's spectrum is in [-1, 1]). A random block's Ritz values are spread out, so the first round damps [-1, 0];
  // the cut is never below 0, which bounds the filter's gain and so the block's condition number.
  let cut = 0;
  for (let round = 0; round < rounds; round++) {
    q = chebyshevFilter(s, q, b, degree, cut);
    if (round < rounds - 1) cut = Math.max(ritzValues(s, q, b)[b - 1], 0);
  }
  const ritz = rayleighRitz(s, q, b);
  return {
    features: toFeatures(q, n, b, dim),
    dim,
    eigenvalues: ritz.values.slice(0, dim),
    residuals: ritz.residuals.slice(0, dim),
    rounds,
    degree,
  };
}

/** A Modality whose features are the spectral embedding of its kNN graph; `source` names the graph's files. */
/**
 * A modality whose features are a stand-in built from its kNN graph. The embedding is computed on first use of
 * `features` or `provenance` (seconds on Sports), so models that never read features do not pay for it.
 */
export function standInModality(name: string, knn: KnnGraph, source: string, opts: SpectralOptions = {}): Modality {
  let built: { features: Float32Array; dim: number; provenance: string } | undefined;
  const build = () => {
    if (built) return built;
    const e = spectralEmbedding(knn, opts);
    const worst = e.residuals.reduce((a, r) => Math.max(a, r), 0);
    const provenance =
      `stand-in: spectral embedding of the ${name} kNN graph (${source}), ${e.dim} dims: top eigenvectors of ` +
      `D^-1/2 A D^-1/2 with A = (W + W^T)/2 of the similarities without self-loops, by Chebyshev-filtered subspace ` +
      `iteration (${e.rounds} rounds of degree ${e.degree}); columns scaled to unit RMS; eigenvalues ` +
      `${e.eigenvalues[0].toFixed(4)} .. ${e.eigenvalues[e.dim - 1].toFixed(4)}, largest residual ${worst.toExponential(1)}`;
    built = { features: e.features, dim: e.dim, provenance };
    return built;
  };
  return {
    name,
    dim: Math.min(opts.dim ?? DEFAULT_STAND_IN_DIM, knn.idx.length / knn.k),
    standIn: true,
    knn,
    get features() {
      return build().features;
    },
    get provenance() {
      return built ? built.provenance : `stand-in: spectral embedding of the ${name} kNN graph (${source}), not built yet (built on first use)`;
    },
  };
}

/**
 * S = D^-1/2 A D^-1/2 as a CSR matrix (an edge kept in both directions appears twice: the halves add up).
 * For speed the kernels below take four rows or four entries per pass (V8 does not vectorise, and this code is
 * bound by loads and stores), so the matrix has ⌈n/4⌉·4 rows and each row's entries are padded to a multiple of
 * four with zero-weight entries; the blocks' padding rows stay zero throughout.
 */
function normalisedAdjacency(knn: KnnGraph): Csr {
  const { k, idx, sim } = knn;
  const n = idx.length / k;
  const rows: number[] = [];
  const cols: number[] = [];
  const vals: number[] = [];
  for (let e = 0; e < idx.length; e++) {
    const [i, j] = [Math.floor(e / k), idx[e]];
    const w = Math.max(sim[e], 0) / 2;
    if (i === j || w === 0) continue;
    rows.push(i, j);
    cols.push(j, i);
    vals.push(w, w);
  }
  const a = csrFromCoo(n, n, Int32Array.from(rows), Int32Array.from(cols), Float32Array.from(vals));
  const values = a.values ?? new Float32Array(0);
  const invSqrtDeg = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    let d = 0;
    for (let e = a.indptr[r]; e < a.indptr[r + 1]; e++) d += values[e];
    invSqrtDeg[r] = d > 0 ? 1 / Math.sqrt(d) : 0;
  }
  for (let r = 0; r < n; r++) {
    for (let e = a.indptr[r]; e < a.indptr[r + 1]; e++) values[e] *= invSqrtDeg[r] * invSqrtDeg[a.indices[e]];
  }
  return padByFour({ ...a, values });
}

function padByFour(a: Csr): Csr {
  const n = roundUpToFour(a.nRows);
  const indptr = new Int32Array(n + 1);
  for (let r = 0; r < n; r++) indptr[r + 1] = indptr[r] + roundUpToFour(r < a.nRows ? a.indptr[r + 1] - a.indptr[r] : 0);
  const indices = new Int32Array(indptr[n]);
  const values = new Float32Array(indptr[n]);
  for (let r = 0; r < a.nRows; r++) {
    const len = a.indptr[r + 1] - a.indptr[r];
    indices.set(a.indices.subarray(a.indptr[r], a.indptr[r + 1]), indptr[r]);
    values.set((a.values ?? values).subarray(a.indptr[r], a.indptr[r + 1]), indptr[r]);
    indices.fill(r, indptr[r] + len, indptr[r + 1]);
  }
  return { nRows: n, nCols: n, indptr, indices, values };
}

function roundUpToFour(x: number): number {
  return (x + 3) & ~3;
}

/** out = α·(S·x) + β·x + γ·z for row-major blocks of b columns (z may be omitted when γ = 0). */
function spmm(s: Csr, x: Float64Array, b: number, out: Float64Array, alpha: number, beta: number, gamma = 0, z = x): void {
  const { nRows: n, indptr, indices } = s;
  const values = s.values ?? new Float32Array(0);
  for (let r = 0; r < n; r++) {
    const o = r * b;
    for (let c = 0; c < b; c++) out[o + c] = beta * x[o + c] + gamma * z[o + c];
    for (let e = indptr[r]; e < indptr[r + 1]; e += 4) {
      const [w0, w1, w2, w3] = [alpha * values[e], alpha * values[e + 1], alpha * values[e + 2], alpha * values[e + 3]];
      const [j0, j1, j2, j3] = [indices[e] * b, indices[e + 1] * b, indices[e + 2] * b, indices[e + 3] * b];
      for (let c = 0; c < b; c++) out[o + c] += w0 * x[j0 + c] + w1 * x[j1 + c] + w2 * x[j2 + c] + w3 * x[j3 + c];
    }
  }
}

/**
 * p(S)·x with p the degree-m Chebyshev polynomial of the interval [-1, cut], scaled to be 1 at λ = 1: it is at most
 * 1/T_m((1 − c)/e) on the interval and grows fast above it (the scaled three-term recurrence of Zhou et al. 2006,
 * with the target at the top of the spectrum instead of the bottom). Overwrites x0; returns an orthonormal block.
 */
function chebyshevFilter(s: Csr, x0: Float64Array, b: number, m: number, cut: number): Float64Array {
  const e = (cut + 1) / 2; // half-width of [-1, cut]
  const c = (cut - 1) / 2; // its centre
  let sigma = e / (1 - c);
  const tau = 2 / sigma;
  let x = x0;
  let y: Float64Array = new Float64Array(x0.length);
  spmm(s, x, b, y, sigma / e, -c * sigma / e);
  for (let i = 2; i <= m; i++) {
    const next = 1 / (tau - sigma);
    spmm(s, y, b, x, (2 * next) / e, (-2 * next * c) / e, -sigma * next, x); // x two steps back is overwritten
    [x, y, sigma] = [y, x, next];
  }
  orthonormalise(y, b);
  return y;
}

/**
 * Orthonormalises the columns of a row-major n × b block in place by shifted CholeskyQR (Fukaya et al. 2020):
 * Q = Y·R⁻¹ with RᵀR = YᵀY, plus a tiny shift on the first pass so that an ill-conditioned block does not break
 * the factorisation. A pass leaves an orthogonality error of about κ(Y)²·ε, so passes repeat (CholeskyQR2/3)
 * while R's diagonal shows κ > 100.
 */
function orthonormalise(y: Float64Array, b: number): void {
  for (const shift of [1e-13, 0, 0]) {
    const g = gram(y, y, b, true);
    const trace = g.reduce((acc, v, i) => (i % (b + 1) === 0 ? acc + v : acc), 0);
    for (let i = 0; i < b; i++) g[i * b + i] += shift * trace;
    const r = cholesky(g, b);
    solveUpper(y, r, b);
    const diag = Array.from({ length: b }, (_, i) => r[i * b + i]);
    if (Math.max(...diag) <= 100 * Math.min(...diag)) return;
  }
}

/**
 * XᵀY (b × b, row-major) for row-major blocks whose row count is a multiple of four; with `symmetric` (X = Y)
 * only the upper triangle is summed.
 */
function gram(x: Float64Array, y: Float64Array, b: number, symmetric = false): Float64Array {
  const g = new Float64Array(b * b);
  for (let o0 = 0; o0 < x.length; o0 += 4 * b) {
    const [o1, o2, o3] = [o0 + b, o0 + 2 * b, o0 + 3 * b];
    for (let i = 0; i < b; i++) {
      const [a0, a1, a2, a3] = [x[o0 + i], x[o1 + i], x[o2 + i], x[o3 + i]];
      for (let j = symmetric ? i : 0; j < b; j++) g[i * b + j] += a0 * y[o0 + j] + a1 * y[o1 + j] + a2 * y[o2 + j] + a3 * y[o3 + j];
    }
  }
  if (symmetric) for (let i = 0; i < b; i++) for (let j = 0; j < i; j++) g[i * b + j] = g[j * b + i];
  return g;
}

/** Upper-triangular R with RᵀR = G (row-major b × b). */
function cholesky(g: Float64Array, b: number): Float64Array {
  const r = new Float64Array(b * b);
  for (let j = 0; j < b; j++) {
    let d = g[j * b + j];
    for (let k = 0; k < j; k++) d -= r[k * b + j] ** 2;
    if (!(d > 0)) throw new Error(`spectral embedding: the block lost rank at column ${j} (Cholesky pivot ${d})`);
    const rjj = Math.sqrt(d);
    r[j * b + j] = rjj;
    for (let i = j + 1; i < b; i++) {
      let v = g[j * b + i];
      for (let k = 0; k < j; k++) v -= r[k * b + j] * r[k * b + i];
      r[j * b + i] = v / rjj;
    }
  }
  return r;
}

/** Y ← Y·R⁻¹, row by row (forward substitution on zR = y, with R's columns stored contiguously). */
function solveUpper(y: Float64Array, r: Float64Array, b: number): void {
  const rt = new Float64Array(b * b);
  for (let i = 0; i < b; i++) for (let j = i; j < b; j++) rt[j * b + i] = r[i * b + j];
  for (let o = 0; o < y.length; o += b) {
    for (let j = 0; j < b; j++) {
      let v = y[o + j];
      for (let i = 0; i < j; i++) v -= y[o + i] * rt[j * b + i];
      y[o + j] = v / rt[j * b + j];
    }
  }
}

/** The Ritz values of S on the orthonormal block q (the eigenvalues of T = qᵀSq), descending. */
function ritzValues(s: Csr, q: Float64Array, b: number): Float64Array {
  return symmetricEigen(projected(s, q, b), b).values;
}

/**
 * Rayleigh–Ritz on the orthonormal block q: eigenpairs (θ, v) of T = qᵀSq; q is replaced by q·V in place,
 * columns in descending θ, and each column's residual ‖S·q_c − θ_c·q_c‖ is reported.
 */
function rayleighRitz(s: Csr, q: Float64Array, b: number): { values: Float64Array; residuals: Float64Array } {
  const { values, vectors } = symmetricEigen(projected(s, q, b), b);
  rotate(q, vectors, b);
  const sq = new Float64Array(q.length);
  spmm(s, q, b, sq, 1, 0); // S·(qV): cheaper than rotating S·q when nnz < n·b
  const residuals = new Float64Array(b);
  for (let o = 0; o < q.length; o += b) {
    for (let c = 0; c < b; c++) residuals[c] += (sq[o + c] - values[c] * q[o + c]) ** 2;
  }
  return { values, residuals: residuals.map(Math.sqrt) };
}

/** T = qᵀ(S·q), symmetrised against rounding. */
function projected(s: Csr, q: Float64Array, b: number): Float64Array {
  const sq = new Float64Array(q.length);
  spmm(s, q, b, sq, 1, 0);
  const t = gram(q, sq, b);
  for (let i = 0; i < b; i++) for (let j = 0; j < i; j++) t[i * b + j] = t[j * b + i] = 0.5 * (t[i * b + j] + t[j * b + i]);
  return t;
}

/** X ← X·V for a row-major block and a b × b matrix. */
function rotate(x: Float64Array, v: Float64Array, b: number): void {
  const vt = new Float64Array(b * b);
  for (let i = 0; i < b; i++) for (let j = 0; j < b; j++) vt[j * b + i] = v[i * b + j];
  const row = new Float64Array(b);
  for (let o = 0; o < x.length; o += b) {
    for (let j = 0; j < b; j++) {
      let acc = 0;
      for (let i = 0; i < b; i++) acc += x[o + i] * vt[j * b + i];
      row[j] = acc;
    }
    x.set(row, o);
  }
}

/** The first `dim` columns as float32 [n, dim], each scaled to unit RMS with its largest-magnitude entry positive. */
function toFeatures(q: Float64Array, n: number, b: number, dim: number): Float32Array {
  const out = new Float32Array(n * dim);
  for (let c = 0; c < dim; c++) {
    let peak = c;
    for (let o = c; o < n * b; o += b) if (Math.abs(q[o]) > Math.abs(q[peak])) peak = o;
    const scale = (q[peak] < 0 ? -1 : 1) * Math.sqrt(n); // columns are unit vectors: RMS 1/sqrt(n)
    for (let r = 0; r < n; r++) out[r * dim + c] = q[r * b + c] * scale;
  }
  return out;
}

/**
 * Eigen-decomposition of a small symmetric matrix (row-major b × b) by the cyclic Jacobi method
 * (Golub & Van Loan §8.5): values descending, vectors as the columns of a row-major b × b matrix.
 */
export function symmetricEigen(matrix: Float64Array, b: number): { values: Float64Array; vectors: Float64Array } {
  const a = matrix.slice();
  const v = new Float64Array(b * b);
  for (let i = 0; i < b; i++) v[i * b + i] = 1;
  const total = Math.sqrt(dot(a, a));
  for (let sweep = 0; sweep < 100 && offDiagonalNorm(a, b) > 1e-15 * total; sweep++) {
    for (let p = 0; p < b - 1; p++) {
      for (let q = p + 1; q < b; q++) jacobiRotate(a, v, b, p, q);
    }
  }
  const order = Array.from({ length: b }, (_, i) => i).sort((i, j) => a[j * b + j] - a[i * b + i]);
  const values = Float64Array.from(order, (i) => a[i * b + i]);
  const vectors = new Float64Array(b * b);
  order.forEach((src, dst) => {
    for (let r = 0; r < b; r++) vectors[r * b + dst] = v[r * b + src];
  });
  return { values, vectors };
}

/** One Jacobi rotation zeroing a[p][q]: a ← Jᵀ a J, v ← v J (Numerical Recipes §11.1 conventions). */
function jacobiRotate(a: Float64Array, v: Float64Array, b: number, p: number, q: number): void {
  const apq = a[p * b + q];
  if (apq === 0) return;
  const theta = (a[q * b + q] - a[p * b + p]) / (2 * apq);
  const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
  const c = 1 / Math.sqrt(t * t + 1);
  const s = t * c;
  for (let k = 0; k < b; k++) {
    const [akp, akq] = [a[k * b + p], a[k * b + q]];
    a[k * b + p] = c * akp - s * akq;
    a[k * b + q] = s * akp + c * akq;
  }
  for (let k = 0; k < b; k++) {
    const [apk, aqk] = [a[p * b + k], a[q * b + k]];
    a[p * b + k] = c * apk - s * aqk;
    a[q * b + k] = s * apk + c * aqk;
  }
  for (let k = 0; k < b; k++) {
    const [vkp, vkq] = [v[k * b + p], v[k * b + q]];
    v[k * b + p] = c * vkp - s * vkq;
    v[k * b + q] = s * vkp + c * vkq;
  }
}

function offDiagonalNorm(a: Float64Array, b: number): number {
  let sum = 0;
  for (let i = 0; i < b; i++) for (let j = 0; j < b; j++) if (i !== j) sum += a[i * b + j] ** 2;
  return Math.sqrt(sum);
}

/** An orthonormal starting block (zero padding rows) from uniform values in [-1, 1), a counter-based hash of (seed, index). */
function startBlock(n: number, b: number, seed: number): Float64Array {
  const q = new Float64Array(roundUpToFour(n) * b);
  for (let i = 0; i < n * b; i++) q[i] = hashUniform(seed, i);
  orthonormalise(q, b);
  return q;
}

/** Uniform in [-1, 1) from murmur3's 32-bit finaliser (fmix32) over a Weyl sequence keyed by the seed. */
function hashUniform(seed: number, i: number): number {
  let h = (Math.imul(i + 1, 0x9e3779b9) ^ Math.imul(seed | 0, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h = (h ^ (h >>> 16)) >>> 0;
  return h / 2 ** 31 - 1;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}
