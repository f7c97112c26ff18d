/**
 * CamrecSpmm: y = A·x (or Aᵀ·x) for a sparse CSR matrix A registered once, as one op whose gradient is the
 * same kernel on the other matrix: ∂L/∂x = Aᵀ·∂L/∂y (DESIGN.md §4). A and Aᵀ live in the shared heap, outside
 * tfjs's wasm heap; a call copies x in, splits A's rows into blocks of about equal nnz for the pool's threads,
 * and copies y out. O(nnz·d + rows·d).
 */
import * as tf from '@tensorflow/tfjs';
import type { GradConfig, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import { type Csr, transpose as transposeCsr } from '../../graph/index.js';
import { Scratch, sharedHeap } from '../heap.js';
import { balancedRowBounds } from '../jobs.js';
import type { NativeKernels } from '../native.js';
import { computePool, nativeKernels } from '../pool.js';
import { type KernelIo, expectFloat, kernelConfigs } from './io.js';

export const SPMM = 'CamrecSpmm';
/** Below this many multiply-adds a product runs on the calling thread alone. */
export const MIN_PARALLEL_WORK = 1 << 16;
/** Blocks per thread, so that a thread slowed by others still finishes about when the rest do. */
export const CHUNKS_PER_THREAD = 4;

export interface SparseHandle {
  readonly id: number;
  readonly nRows: number;
  readonly nCols: number;
  readonly nnz: number;
  /** Registered as its own transpose: one copy is kept. */
  readonly symmetric: boolean;
  /** Every stored entry is 1. */
  readonly binary: boolean;
}

/** A CSR matrix in the shared heap: byte offsets of its arrays (values 0 when binary). */
export interface HeapCsr {
  nRows: number;
  nCols: number;
  nnz: number;
  indptr: number;
  indices: number;
  values: number;
}

const matrices = new Map<number, { a: HeapCsr; at: HeapCsr }>();
let nextId = 1;

/** Throws a RangeError, prefixed by `caller`, unless `m` is a well-formed CSR matrix. */
export function validateCsr(m: Csr, caller = 'registerSparse'): void {
  const fail = (why: string): never => {
    throw new RangeError(`${caller}: ${why}`);
  };
  const nnz = m.indices.length;
  if (m.indptr.length !== m.nRows + 1) fail(`indptr has ${m.indptr.length} entries, expected nRows + 1 = ${m.nRows + 1}`);
  if (m.indptr[0] !== 0 || m.indptr[m.nRows] !== nnz) fail(`indptr must run from 0 to nnz = ${nnz}`);
  for (let r = 0; r < m.nRows; r++) if (m.indptr[r + 1] < m.indptr[r]) fail(`indptr decreases at row ${r}`);
  for (let p = 0; p < nnz; p++) {
    if (m.indices[p] < 0 || m.indices[p] >= m.nCols) fail(`column ${m.indices[p]} at entry ${p} is outside [0, ${m.nCols})`);
  }
  if (m.values && m.values.length !== nnz) fail(`values has ${m.values.length} entries, expected nnz = ${nnz}`);
}

function toHeap(m: Csr): HeapCsr {
  const heap = sharedHeap();
  return {
    nRows: m.nRows,
    nCols: m.nCols,
    nnz: m.indices.length,
    indptr: heap.put(m.indptr),
    indices: heap.put(m.indices),
    values: m.values ? heap.put(m.values) : 0,
  };
}

function releaseHeap(m: HeapCsr): void {
  const heap = sharedHeap();
  heap.release(m.indptr);
  heap.release(m.indices);
  if (m.values !== 0) heap.release(m.values);
}

/**
 * Copies A (and, unless `symmetric` says A = Aᵀ, its transpose) into the shared heap, for spmm.
 * `symmetric` is the caller's promise and is not checked beyond A being square.
 */
export function registerSparse(m: Csr, opts: { symmetric?: boolean } = {}): SparseHandle {
  validateCsr(m);
  const symmetric = opts.symmetric ?? false;
  if (symmetric && m.nRows !== m.nCols) throw new RangeError(`registerSparse: a symmetric matrix must be square, got ${m.nRows}×${m.nCols}`);
  const a = toHeap(m);
  const at = symmetric ? a : toHeap(transposeCsr(m));
  const handle: SparseHandle = Object.freeze({
    id: nextId++,
    nRows: m.nRows,
    nCols: m.nCols,
    nnz: m.indices.length,
    symmetric,
    binary: m.values === undefined,
  });
  matrices.set(handle.id, { a, at });
  return handle;
}

/** Frees a registered matrix; later products with it throw. Releasing twice is harmless. */
export function releaseSparse(h: SparseHandle): void {
  const entry = matrices.get(h.id);
  if (!entry) return;
  matrices.delete(h.id);
  releaseHeap(entry.a);
  if (entry.at !== entry.a) releaseHeap(entry.at);
}

export function heapMatrix(id: number, transpose: boolean): HeapCsr {
  const entry = matrices.get(id);
  if (!entry) throw new Error(`${SPMM}: sparse matrix ${id} is not registered (released?)`);
  return transpose ? entry.at : entry.a;
}

let scratch: { x: Scratch; y: Scratch } | undefined;

/** Threads for a product of nnz·d multiply-adds: the pool's size, or 1 when the work is too small to split. */
export function productThreads(nnz: number, d: number): number {
  return nnz * d >= MIN_PARALLEL_WORK ? computePool().threads : 1;
}

/**
 * out = m·x on the native addon, reading x and writing out where the caller keeps them (tfjs's own heap):
 * the addon needs no shared heap, so nothing is copied. `values` replaces m's stored values (null: m's own).
 */
export function nativeProduct(native: NativeKernels, m: HeapCsr, values: Float32Array | null, x: Float32Array, out: Float32Array, d: number): void {
  const heap = sharedHeap();
  const stored = values ?? (m.values === 0 ? null : heap.f32(m.values, m.nnz));
  const { indptr, indices } = heapPattern(m);
  native.spmmThreaded(indptr, indices, stored, x, d, out, 0, m.nRows, productThreads(m.nnz, d));
}

/** Views of m's indptr and indices in the shared heap. */
export function heapPattern(m: HeapCsr): { indptr: Int32Array; indices: Int32Array } {
  const heap = sharedHeap();
  return { indptr: heap.i32(m.indptr, m.nRows + 1), indices: heap.i32(m.indices, m.nnz) };
}

/** y (at offset ys) = m·x (at offset xs), rows split over the pool's threads when the product is large enough. */
export function productRows(m: HeapCsr, xs: number, ys: number, d: number): void {
  const pool = computePool();
  const native = nativeKernels();
  if (native) {
    const heap = sharedHeap();
    nativeProduct(native, m, null, heap.f32(xs, m.nCols * d), heap.f32(ys, m.nRows * d), d);
    return;
  }
  const parallel = pool.threads > 1 && m.nnz * d >= MIN_PARALLEL_WORK;
  const bounds = parallel
    ? balancedRowBounds(sharedHeap().i32(m.indptr, m.nRows + 1), m.nRows, pool.threads * CHUNKS_PER_THREAD)
    : [0, m.nRows];
  pool.runSync('spmm', [m.indptr, m.indices, m.values, xs, ys, d], bounds);
}

function camrecSpmm(io: KernelIo, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo {
  const x = inputs.x as TensorInfo;
  const m = heapMatrix(attrs.sparseId as number, attrs.transpose as boolean);
  expectFloat(SPMM, 'x', x, 2);
  if (x.shape[0] !== m.nCols) throw new TypeError(`${SPMM}: x has ${x.shape[0]} rows, the matrix has ${m.nCols} columns`);
  const d = x.shape[1];
  const native = nativeKernels();
  if (native) {
    return io.output([m.nRows, d], 'float32', (out) => nativeProduct(native, m, null, io.read(x) as Float32Array, out as Float32Array, d));
  }
  const heap = sharedHeap();
  scratch ??= { x: new Scratch(heap), y: new Scratch(heap) };
  const xs = scratch.x.ensure(m.nCols * d * 4);
  const ys = scratch.y.ensure(m.nRows * d * 4);
  heap.f32(xs, m.nCols * d).set(io.read(x));
  productRows(m, xs, ys, d);
  return io.output([m.nRows, d], 'float32', (out) => out.set(heap.f32(ys, m.nRows * d)));
}

export const spmmKernels = kernelConfigs(SPMM, camrecSpmm);

function runSpmm(x: tf.Tensor, sparseId: number, transpose: boolean): tf.Tensor2D {
  return tf.engine().runKernel(SPMM, { x }, { sparseId, transpose }) as tf.Tensor2D;
}

/** ∂L/∂x of y = A·x is Aᵀ·∂L/∂y: the same kernel on the other stored matrix. */
export const spmmGradient: GradConfig = {
  kernelName: SPMM,
  inputsToSave: [],
  gradFunc: (dy, _saved, attrs) => ({
    x: () => runSpmm(dy as tf.Tensor, attrs.sparseId as number, !(attrs.transpose as boolean)),
  }),
};

/** The row of each stored entry: rows[p] = r for p in indptr[r] .. indptr[r+1]. */
export function rowOfEntry(indptr: Int32Array, nRows: number): Int32Array {
  const rows = new Int32Array(indptr[nRows]);
  for (let r = 0; r < nRows; r++) rows.fill(r, indptr[r], indptr[r + 1]);
  return rows;
}

/** m·x from stock ops: gather each entry's source row, scale it by the entry, segment-sum into its row. */
function composedProduct(m: HeapCsr, x: tf.Tensor2D): tf.Tensor2D {
  const heap = sharedHeap();
  return tf.tidy(() => {
    const cols = tf.tensor1d(heap.i32(m.indices, m.nnz).slice(), 'int32');
    const rows = tf.tensor1d(rowOfEntry(heap.i32(m.indptr, m.nRows + 1), m.nRows), 'int32');
    const gathered: tf.Tensor2D = tf.gather(x, cols);
    const scaled: tf.Tensor2D = m.values === 0 ? gathered : tf.mul(gathered, tf.tensor2d(heap.f32(m.values, m.nnz).slice(), [m.nnz, 1]));
    return tf.unsortedSegmentSum<tf.Tensor2D>(scaled, rows, m.nRows);
  });
}

/**
 * The same product and gradient from stock ops, for backends where CamrecSpmm is not registered (tensorflow):
 * O(nnz·d) memory for the gathered rows.
 */
export function spmmComposite(h: SparseHandle, x: tf.Tensor2D, transpose = false): tf.Tensor2D {
  const forward = heapMatrix(h.id, transpose);
  const backward = heapMatrix(h.id, !transpose);
  const product = tf.customGrad((input) => ({
    value: composedProduct(forward, input as tf.Tensor2D),
    gradFunc: (dy: tf.Tensor2D) => composedProduct(backward, dy),
  }));
  return product(x) as tf.Tensor2D;
}

/** y = A·x, or Aᵀ·x with `transpose`, for a matrix from registerSparse; differentiable in x. */
export function spmm(h: SparseHandle, x: tf.Tensor2D, opts: { transpose?: boolean } = {}): tf.Tensor2D {
  const transpose = opts.transpose ?? false;
  if (tf.getKernel(SPMM, tf.getBackend()) === undefined) return spmmComposite(h, x, transpose);
  return runSpmm(x, h.id, transpose);
}
