/**
 * Weighted sparse propagation for CaMRec's edge mask (DESIGN.md §4): a sparsity pattern registered once, and
 * per call one weight per stored entry, w[p] (the mask m_e of edge e = p), so that the mask MLP learns through
 * the propagation.
 *
 * CamrecWeightedSpmm: y = A_w·x, y[r] = Σ_{p ∈ row r} w[p]·x[col(p)] (or, transposed, y = A_wᵀ·x). Gradients:
 *   ∂L/∂x = A_wᵀ·dy — the same kernel on the stored transpose, the weights permuted by `perm`;
 *   ∂L/∂w[p] = ⟨dy[row(p)], x[col(p)]⟩ — CamrecSddmm, the sampled dense–dense product on the pattern.
 * CamrecSddmm: out[p] = ⟨a[row(p)], b[col(p)]⟩, with gradients ∂L/∂a = A_g·b and ∂L/∂b = A_gᵀ·a for g = ∂L/∂out.
 * The pattern, its transpose and the weights of the current call live in the shared heap; products run on the
 * spmm row kernel (or the native addon), SDDMM on its own row kernel, both split over the pool's threads.
 * Each is O(nnz·d + rows·d).
 */
import * as tf from '@tensorflow/tfjs';
import type { GradConfig, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import type { Csr } from '../../graph/index.js';
import { Scratch, sharedHeap } from '../heap.js';
import { balancedRowBounds } from '../jobs.js';
import { computePool, nativeKernels } from '../pool.js';
import { type KernelIo, expectFloat, kernelConfigs } from './io.js';
import {
  CHUNKS_PER_THREAD,
  type HeapCsr,
  MIN_PARALLEL_WORK,
  heapPattern,
  nativeProduct,
  productRows,
  productThreads,
  rowOfEntry,
  validateCsr,
} from './spmm.js';

export const WEIGHTED_SPMM = 'CamrecWeightedSpmm';
export const SDDMM = 'CamrecSddmm';

/** A fixed sparsity pattern in the shared heap (its values, if any, were ignored). */
export interface SparseStructure {
  readonly id: number;
  readonly nRows: number;
  readonly nCols: number;
  readonly nnz: number;
}

/**
 * The heap form: A's pattern with a values buffer for w, Aᵀ's pattern with a values buffer for w permuted,
 * and perm, with transposed entry q ↔ original entry perm[q].
 */
export interface HeapStructure {
  a: HeapCsr;
  at: HeapCsr;
  perm: number;
}

const structures = new Map<number, HeapStructure>();
let nextId = 1;

/**
 * Aᵀ's pattern by a counting sort over columns, and perm[q] = the original entry of transposed entry q.
 * Rows are visited in order, so each transposed row lists its columns (A's rows) ascending. O(nnz + nCols).
 */
export function transposeWithPerm(m: Csr): { at: Csr; perm: Int32Array } {
  const nnz = m.indices.length;
  const indptr = new Int32Array(m.nCols + 1);
  for (let p = 0; p < nnz; p++) indptr[m.indices[p] + 1]++;
  for (let c = 0; c < m.nCols; c++) indptr[c + 1] += indptr[c];
  const next = indptr.slice(0, m.nCols);
  const indices = new Int32Array(nnz);
  const perm = new Int32Array(nnz);
  for (let r = 0; r < m.nRows; r++) {
    for (let p = m.indptr[r]; p < m.indptr[r + 1]; p++) {
      const q = next[m.indices[p]]++;
      indices[q] = r;
      perm[q] = p;
    }
  }
  return { at: { nRows: m.nCols, nCols: m.nRows, indptr, indices }, perm };
}

function patternToHeap(m: Csr): HeapCsr {
  const heap = sharedHeap();
  const nnz = m.indices.length;
  return { nRows: m.nRows, nCols: m.nCols, nnz, indptr: heap.put(m.indptr), indices: heap.put(m.indices), values: heap.alloc(nnz * 4) };
}

/** Copies the pattern of `m`, its transpose and perm into the shared heap, for weightedSpmm and sddmm. */
export function registerSparseStructure(m: Csr): SparseStructure {
  const pattern: Csr = { nRows: m.nRows, nCols: m.nCols, indptr: m.indptr, indices: m.indices };
  validateCsr(pattern, 'registerSparseStructure');
  const { at, perm } = transposeWithPerm(pattern);
  const entry: HeapStructure = { a: patternToHeap(pattern), at: patternToHeap(at), perm: sharedHeap().put(perm) };
  const handle: SparseStructure = Object.freeze({ id: nextId++, nRows: m.nRows, nCols: m.nCols, nnz: m.indices.length });
  structures.set(handle.id, entry);
  return handle;
}

/** Frees a registered structure; later calls with it throw. Releasing twice is harmless. */
export function releaseSparseStructure(h: SparseStructure): void {
  const entry = structures.get(h.id);
  if (!entry) return;
  structures.delete(h.id);
  const heap = sharedHeap();
  for (const m of [entry.a, entry.at]) for (const ptr of [m.indptr, m.indices, m.values]) heap.release(ptr);
  heap.release(entry.perm);
}

export function heapStructure(kernelName: string, id: number): HeapStructure {
  const entry = structures.get(id);
  if (!entry) throw new Error(`${kernelName}: sparse structure ${id} is not registered (released?)`);
  return entry;
}

/** Throws a clear error unless w is float32 [nnz] and x float32 [rows of the side it is multiplied with, d]. */
function checkWeightedInputs(s: HeapStructure, w: TensorInfo, x: TensorInfo, transpose: boolean): void {
  expectFloat(WEIGHTED_SPMM, 'w', w, 1);
  expectFloat(WEIGHTED_SPMM, 'x', x, 2);
  const { nRows, nCols, nnz } = s.a;
  if (w.shape[0] !== nnz) throw new RangeError(`${WEIGHTED_SPMM}: w has ${w.shape[0]} entries, the structure stores ${nnz}`);
  const inner = transpose ? nRows : nCols;
  const side = transpose ? 'rows (transposed product)' : 'columns';
  if (x.shape[0] !== inner) throw new RangeError(`${WEIGHTED_SPMM}: x has ${x.shape[0]} rows, the structure has ${inner} ${side}`);
}

/** Throws a clear error unless a is float32 [nRows, d] and b float32 [nCols, d]. */
function checkSddmmInputs(s: HeapStructure, a: TensorInfo, b: TensorInfo): void {
  expectFloat(SDDMM, 'a', a, 2);
  expectFloat(SDDMM, 'b', b, 2);
  if (a.shape[0] !== s.a.nRows) throw new RangeError(`${SDDMM}: a has ${a.shape[0]} rows, the structure has ${s.a.nRows} rows`);
  if (b.shape[0] !== s.a.nCols) throw new RangeError(`${SDDMM}: b has ${b.shape[0]} rows, the structure has ${s.a.nCols} columns`);
  if (a.shape[1] !== b.shape[1]) throw new RangeError(`${SDDMM}: a and b differ in width (${a.shape[1]} and ${b.shape[1]})`);
}

/** Scratch rows shared by both kernels (one kernel runs at a time): two inputs and one output. */
let scratch: { in1: Scratch; in2: Scratch; out: Scratch } | undefined;

function scratchRows(): { in1: Scratch; in2: Scratch; out: Scratch } {
  const heap = sharedHeap();
  scratch ??= { in1: new Scratch(heap), in2: new Scratch(heap), out: new Scratch(heap) };
  return scratch;
}

/** wᵀ[q] = w[perm[q]], written into the values of Aᵀ, which it returns. */
export function permuteWeights(s: HeapStructure, w: ArrayLike<number>): HeapCsr {
  const heap = sharedHeap();
  const nnz = s.a.nnz;
  const perm = heap.i32(s.perm, nnz);
  const wt = heap.f32(s.at.values, nnz);
  for (let q = 0; q < nnz; q++) wt[q] = w[perm[q]];
  return s.at;
}

/** Writes w into the values of A (as is) or of Aᵀ (permuted) and returns that matrix. */
function loadWeights(s: HeapStructure, w: ArrayLike<number>, transpose: boolean): HeapCsr {
  if (transpose) return permuteWeights(s, w);
  sharedHeap().f32(s.a.values, s.a.nnz).set(w);
  return s.a;
}

function weightedSpmmKernel(io: KernelIo, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo {
  const w = inputs.w as TensorInfo;
  const x = inputs.x as TensorInfo;
  const s = heapStructure(WEIGHTED_SPMM, attrs.structureId as number);
  const transpose = attrs.transpose as boolean;
  checkWeightedInputs(s, w, x, transpose);
  return productWithStoredValues(io, loadWeights(s, io.read(w), transpose), x);
}

/** y = m·x with the values now stored in m's heap buffer: native straight from tfjs's heap, else via the pool. */
export function productWithStoredValues(io: KernelIo, m: HeapCsr, x: TensorInfo): TensorInfo {
  const d = x.shape[1];
  const native = nativeKernels();
  if (native) return io.output([m.nRows, d], 'float32', (out) => nativeProduct(native, m, null, io.read(x) as Float32Array, out as Float32Array, d));
  const heap = sharedHeap();
  const rows = scratchRows();
  const xs = rows.in1.ensure(m.nCols * d * 4);
  const ys = rows.out.ensure(m.nRows * d * 4);
  heap.f32(xs, m.nCols * d).set(io.read(x));
  productRows(m, xs, ys, d);
  return io.output([m.nRows, d], 'float32', (out) => out.set(heap.f32(ys, m.nRows * d)));
}

/**
 * ⟨a[row(p)], b[col(p)]⟩ for every stored entry p of A, into the shared scratch (a view valid until the next
 * kernel of this file): the native addon reads a and b where tfjs keeps them, the pool from copies.
 */
export function entryProducts(io: KernelIo, s: HeapStructure, a: TensorInfo, b: TensorInfo): Float32Array {
  const { nRows, nCols, nnz } = s.a;
  const d = a.shape[1];
  const heap = sharedHeap();
  const rows = scratchRows();
  const outs = rows.out.ensure(nnz * 4);
  const native = nativeKernels();
  if (native) {
    const { indptr, indices } = heapPattern(s.a);
    const [av, bv] = [io.read(a) as Float32Array, io.read(b) as Float32Array];
    native.sddmm(indptr, indices, av, bv, d, heap.f32(outs, nnz), 0, nRows, productThreads(nnz, d));
    return heap.f32(outs, nnz);
  }
  const as = rows.in1.ensure(nRows * d * 4);
  const bs = rows.in2.ensure(nCols * d * 4);
  heap.f32(as, nRows * d).set(io.read(a));
  heap.f32(bs, nCols * d).set(io.read(b));
  const pool = computePool();
  const parallel = pool.threads > 1 && nnz * d >= MIN_PARALLEL_WORK;
  const bounds = parallel ? balancedRowBounds(heap.i32(s.a.indptr, nRows + 1), nRows, pool.threads * CHUNKS_PER_THREAD) : [0, nRows];
  pool.runSync('sddmm', [s.a.indptr, s.a.indices, as, bs, outs, d], bounds);
  return heap.f32(outs, nnz);
}

function sddmmKernel(io: KernelIo, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo {
  const a = inputs.a as TensorInfo;
  const b = inputs.b as TensorInfo;
  const s = heapStructure(SDDMM, attrs.structureId as number);
  checkSddmmInputs(s, a, b);
  const { nRows, nnz } = s.a;
  const native = nativeKernels();
  if (native) {
    return io.output([nnz], 'float32', (out) => {
      const { indptr, indices } = heapPattern(s.a);
      const [av, bv, d] = [io.read(a) as Float32Array, io.read(b) as Float32Array, a.shape[1]];
      native.sddmm(indptr, indices, av, bv, d, out as Float32Array, 0, nRows, productThreads(nnz, d));
    });
  }
  const products = entryProducts(io, s, a, b);
  return io.output([nnz], 'float32', (out) => out.set(products));
}

export const weightedSpmmKernels = [...kernelConfigs(WEIGHTED_SPMM, weightedSpmmKernel), ...kernelConfigs(SDDMM, sddmmKernel)];

/**
 * The gradients of a pair of kernels over a registered pattern: `spmm`, y = A_w·x (or A_wᵀ·x with `transpose`), whose
 * per-entry weights come from its input `weights`, and `sddmm`, the per-weight products that are its gradient:
 *   y = A_w·x:  ∂L/∂x = A_wᵀ·dy, ∂L/∂w = sddmm(dy, x);   y = A_wᵀ·x:  ∂L/∂x = A_w·dy, ∂L/∂w = sddmm(x, dy);
 *   s = sddmm(a, b):  ∂L/∂a = A_g·b, ∂L/∂b = A_gᵀ·a for g = ∂L/∂s.
 * CamrecWeightedSpmm/CamrecSddmm (w one weight per entry) and CamrecGatedSpmm/CamrecGatedSddmm (w one gate per
 * group of entries, gated-spmm.ts) share it.
 */
export function sparsePairGradients(spmm: string, sddmm: string, weights: string): [GradConfig, GradConfig] {
  const runSpmm = (w: tf.Tensor, x: tf.Tensor, structureId: number, transpose: boolean) =>
    tf.engine().runKernel(spmm, { [weights]: w, x }, { structureId, transpose }) as tf.Tensor2D;
  const runSddmm = (a: tf.Tensor, b: tf.Tensor, structureId: number) => tf.engine().runKernel(sddmm, { a, b }, { structureId }) as tf.Tensor1D;
  const ofSpmm: GradConfig = {
    kernelName: spmm,
    inputsToSave: [weights, 'x'],
    gradFunc: (dy, saved, attrs) => {
      const [w, x] = saved;
      const id = attrs.structureId as number;
      const transpose = attrs.transpose as boolean;
      return {
        [weights]: () => (transpose ? runSddmm(x, dy as tf.Tensor, id) : runSddmm(dy as tf.Tensor, x, id)),
        x: () => runSpmm(w, dy as tf.Tensor, id, !transpose),
      };
    },
  };
  const ofSddmm: GradConfig = {
    kernelName: sddmm,
    inputsToSave: ['a', 'b'],
    gradFunc: (g, saved, attrs) => {
      const [a, b] = saved;
      const id = attrs.structureId as number;
      return { a: () => runSpmm(g as tf.Tensor, b, id, false), b: () => runSpmm(g as tf.Tensor, a, id, true) };
    },
  };
  return [ofSpmm, ofSddmm];
}

export const [weightedSpmmGradient, sddmmGradient] = sparsePairGradients(WEIGHTED_SPMM, SDDMM, 'w');

function runWeighted(w: tf.Tensor, x: tf.Tensor, structureId: number, transpose: boolean): tf.Tensor2D {
  return tf.engine().runKernel(WEIGHTED_SPMM, { w, x }, { structureId, transpose }) as tf.Tensor2D;
}

function runSddmm(a: tf.Tensor, b: tf.Tensor, structureId: number): tf.Tensor1D {
  return tf.engine().runKernel(SDDMM, { a, b }, { structureId }) as tf.Tensor1D;
}

/** Each stored entry's row and column as int32 tensors, from the heap pattern. */
function entryEnds(s: HeapStructure): { rows: tf.Tensor1D; cols: tf.Tensor1D } {
  const heap = sharedHeap();
  return {
    rows: tf.tensor1d(rowOfEntry(heap.i32(s.a.indptr, s.a.nRows + 1), s.a.nRows), 'int32'),
    cols: tf.tensor1d(heap.i32(s.a.indices, s.a.nnz).slice(), 'int32'),
  };
}

/** A_w·x (or A_wᵀ·x) from stock ops: gather each entry's source row, scale by w, segment-sum into its target. */
function composedWeighted(s: HeapStructure, w: tf.Tensor1D, x: tf.Tensor2D, transpose: boolean): tf.Tensor2D {
  return tf.tidy(() => {
    const { rows, cols } = entryEnds(s);
    const [from, to, n] = transpose ? [rows, cols, s.a.nCols] : [cols, rows, s.a.nRows];
    const scaled = tf.mul(tf.gather(x, from), tf.reshape(w, [s.a.nnz, 1])) as tf.Tensor2D;
    return tf.unsortedSegmentSum<tf.Tensor2D>(scaled, to, n);
  });
}

/** ⟨a[row(p)], b[col(p)]⟩ from stock ops: two gathers, a product and a row sum. */
function composedSddmm(s: HeapStructure, a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const { rows, cols } = entryEnds(s);
    return tf.sum(tf.mul(tf.gather(a, rows), tf.gather(b, cols)), 1) as tf.Tensor1D;
  });
}

/**
 * weightedSpmm and its gradients from stock ops, for backends where our kernels are not registered
 * (tensorflow): O(nnz·d) memory for the gathered rows.
 */
export function weightedSpmmComposite(h: SparseStructure, w: tf.Tensor1D, x: tf.Tensor2D, transpose = false): tf.Tensor2D {
  const s = heapStructure(WEIGHTED_SPMM, h.id);
  const product = tf.customGrad((wIn, xIn) => {
    const [wt, xt] = [wIn as tf.Tensor1D, xIn as tf.Tensor2D];
    return {
      value: composedWeighted(s, wt, xt, transpose),
      gradFunc: (dy: tf.Tensor2D) => [
        transpose ? composedSddmm(s, xt, dy) : composedSddmm(s, dy, xt),
        composedWeighted(s, wt, dy, !transpose),
      ],
    };
  });
  return product(w, x) as tf.Tensor2D;
}

/** sddmm and its gradients from stock ops (see weightedSpmmComposite). */
export function sddmmComposite(h: SparseStructure, a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor1D {
  const s = heapStructure(SDDMM, h.id);
  const product = tf.customGrad((aIn, bIn) => {
    const [at, bt] = [aIn as tf.Tensor2D, bIn as tf.Tensor2D];
    return {
      value: composedSddmm(s, at, bt),
      gradFunc: (g: tf.Tensor1D) => [composedWeighted(s, g, bt, false), composedWeighted(s, g, at, true)],
    };
  });
  return product(a, b) as tf.Tensor1D;
}

function ourKernel(kernelName: string): boolean {
  return tf.getKernel(kernelName, tf.getBackend()) !== undefined;
}

/**
 * y = A_w·x, y[r] = Σ_{p ∈ row r} w[p]·x[col(p)], with w one weight per stored entry in CSR order (or A_wᵀ·x
 * with `transpose`); differentiable in w and x.
 */
export function weightedSpmm(h: SparseStructure, w: tf.Tensor1D, x: tf.Tensor2D, opts: { transpose?: boolean } = {}): tf.Tensor2D {
  const transpose = opts.transpose ?? false;
  checkWeightedInputs(heapStructure(WEIGHTED_SPMM, h.id), w, x, transpose);
  if (!ourKernel(WEIGHTED_SPMM)) return weightedSpmmComposite(h, w, x, transpose);
  return runWeighted(w, x, h.id, transpose);
}

/** out[p] = ⟨a[row(p)], b[col(p)]⟩ for every stored entry p of the structure; differentiable in a and b. */
export function sddmm(h: SparseStructure, a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor1D {
  checkSddmmInputs(heapStructure(SDDMM, h.id), a, b);
  if (!ourKernel(SDDMM)) return sddmmComposite(h, a, b);
  return runSddmm(a, b, h.id);
}
