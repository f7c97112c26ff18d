/**
 * Gated sparse propagation for CaMRec's edge mask (DESIGN.md §4): a matrix A registered once with its values
 * â_p and a gate index g(p) for each stored entry, and per call one gate ρ_g per group, so that entry p weighs
 * â_p·ρ_{g(p)}. CaMRec's groups are the user–item edges: both stored entries of edge e, (u, i) and (i, u), share
 * its gate ρ_e. One op replaces gather(ρ, g) ⊙ â followed by weightedSpmm, and its gradient in ρ replaces the SDDMM
 * over all entries, the product with â and the gather's segment sum.
 *
 * CamrecGatedSpmm: y = A_ρ·x, (A_ρ)_p = â_p·ρ_{g(p)} (or, transposed, y = A_ρᵀ·x). Gradients:
 *   ∂L/∂x = A_ρᵀ·dy — the same kernel on the other orientation;
 *   ∂L/∂ρ_g = Σ_{p : g(p) = g} â_p·⟨dy[row(p)], x[col(p)]⟩ — CamrecGatedSddmm.
 * CamrecGatedSddmm: s_g = Σ_{p : g(p) = g} â_p·⟨a[row(p)], b[col(p)]⟩, with gradients ∂L/∂a = A_G·b and
 * ∂L/∂b = A_Gᵀ·a for G = ∂L/∂s: the pair is closed under differentiation, like weightedSpmm and sddmm.
 * The per-entry weights are formed in the heap from ρ (O(nnz)); the products run on the weighted spmm's and the
 * SDDMM's row kernels or native kernels. O(nnz·d + rows·d).
 */
import * as tf from '@tensorflow/tfjs';
import type { NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import type { Csr } from '../../graph/index.js';
import { sharedHeap } from '../heap.js';
import { nativeKernels } from '../pool.js';
import { type KernelIo, expectFloat, kernelConfigs } from './io.js';
import {
  type HeapStructure,
  type SparseStructure,
  entryProducts,
  heapStructure,
  productWithStoredValues,
  sparsePairGradients,
  registerSparseStructure,
  releaseSparseStructure,
} from './weighted-spmm.js';

export const GATED_SPMM = 'CamrecGatedSpmm';
export const GATED_SDDMM = 'CamrecGatedSddmm';

/** A registered matrix whose stored entries fall into `nGroups` groups, one gate each. */
export interface GatedStructure extends SparseStructure {
  readonly nGroups: number;
}

/** Per orientation: â and g in that orientation's entry order (Aᵀ's is A's permuted). */
interface GatedSide {
  base: Float32Array;
  groups: Int32Array;
}

const gatedSides = new Map<number, { a: GatedSide; at: GatedSide; nGroups: number }>();

/**
 * Registers A's pattern (as registerSparseStructure), its values â and each stored entry's group g(p) ∈
 * [0, nGroups), for gatedSpmm and gatedSddmm.
 */
export function registerGatedStructure(m: Csr, groups: Int32Array, nGroups: number): GatedStructure {
  if (!m.values) throw new RangeError('registerGatedStructure: the matrix needs values (â)');
  if (groups.length !== m.indices.length) throw new RangeError(`registerGatedStructure: ${groups.length} groups for ${m.indices.length} entries`);
  if (!Number.isInteger(nGroups) || nGroups < 0) throw new RangeError(`registerGatedStructure: nGroups must be an integer ≥ 0, got ${nGroups}`);
  for (let p = 0; p < groups.length; p++) {
    if (!(groups[p] >= 0 && groups[p] < nGroups)) throw new RangeError(`registerGatedStructure: group ${groups[p]} of entry ${p} is outside [0, ${nGroups})`);
  }
  const handle = registerSparseStructure(m);
  const perm = sharedHeap().i32(heapStructure(GATED_SPMM, handle.id).perm, handle.nnz);
  const base = Float32Array.from(m.values);
  const at: GatedSide = { base: new Float32Array(handle.nnz), groups: new Int32Array(handle.nnz) };
  for (let q = 0; q < handle.nnz; q++) {
    at.base[q] = base[perm[q]];
    at.groups[q] = groups[perm[q]];
  }
  gatedSides.set(handle.id, { a: { base, groups: Int32Array.from(groups) }, at, nGroups });
  return Object.freeze({ ...handle, nGroups });
}

/** Frees a gated structure; later calls with it throw. Releasing twice is harmless. */
export function releaseGatedStructure(h: GatedStructure): void {
  gatedSides.delete(h.id);
  releaseSparseStructure(h);
}

export function gatedStructure(kernelName: string, id: number) {
  const sides = gatedSides.get(id);
  if (!sides) throw new Error(`${kernelName}: gated structure ${id} is not registered (released?)`);
  return { s: heapStructure(kernelName, id), sides };
}

/** Throws a clear error unless gates is float32 [nGroups] and x float32 [rows of the side it multiplies, d]. */
function checkGatedInputs(s: HeapStructure, nGroups: number, gates: TensorInfo, x: TensorInfo, transpose: boolean): void {
  expectFloat(GATED_SPMM, 'gates', gates, 1);
  expectFloat(GATED_SPMM, 'x', x, 2);
  if (gates.shape[0] !== nGroups) throw new RangeError(`${GATED_SPMM}: ${gates.shape[0]} gates for ${nGroups} groups`);
  const inner = transpose ? s.a.nRows : s.a.nCols;
  if (x.shape[0] !== inner) throw new RangeError(`${GATED_SPMM}: x has ${x.shape[0]} rows, the product needs ${inner}`);
}

function checkGatedSddmmInputs(s: HeapStructure, a: TensorInfo, b: TensorInfo): void {
  expectFloat(GATED_SDDMM, 'a', a, 2);
  expectFloat(GATED_SDDMM, 'b', b, 2);
  if (a.shape[0] !== s.a.nRows) throw new RangeError(`${GATED_SDDMM}: a has ${a.shape[0]} rows, the structure has ${s.a.nRows} rows`);
  if (b.shape[0] !== s.a.nCols) throw new RangeError(`${GATED_SDDMM}: b has ${b.shape[0]} rows, the structure has ${s.a.nCols} columns`);
  if (a.shape[1] !== b.shape[1]) throw new RangeError(`${GATED_SDDMM}: a and b differ in width (${a.shape[1]} and ${b.shape[1]})`);
}

function gatedSpmmKernel(io: KernelIo, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo {
  const gates = inputs.gates as TensorInfo;
  const x = inputs.x as TensorInfo;
  const { s, sides } = gatedStructure(GATED_SPMM, attrs.structureId as number);
  const transpose = attrs.transpose as boolean;
  checkGatedInputs(s, sides.nGroups, gates, x, transpose);
  const m = transpose ? s.at : s.a;
  const { base, groups } = transpose ? sides.at : sides.a;
  const rho = io.read(gates) as Float32Array;
  const w = sharedHeap().f32(m.values, m.nnz);
  const native = nativeKernels();
  if (native) native.gatherScaled(rho, groups, base, w);
  else for (let p = 0; p < w.length; p++) w[p] = base[p] * rho[groups[p]];
  return productWithStoredValues(io, m, x);
}

function gatedSddmmKernel(io: KernelIo, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo {
  const a = inputs.a as TensorInfo;
  const b = inputs.b as TensorInfo;
  const { s, sides } = gatedStructure(GATED_SDDMM, attrs.structureId as number);
  checkGatedSddmmInputs(s, a, b);
  const products = entryProducts(io, s, a, b);
  const { base, groups } = sides.a;
  const native = nativeKernels();
  return io.output([sides.nGroups], 'float32', (out) => {
    out.fill(0);
    if (native) native.scatterScaled(products, groups, base, out as Float32Array);
    else for (let p = 0; p < products.length; p++) out[groups[p]] += base[p] * products[p];
  });
}

export const gatedSpmmKernels = [...kernelConfigs(GATED_SPMM, gatedSpmmKernel), ...kernelConfigs(GATED_SDDMM, gatedSddmmKernel)];

function runGated(gates: tf.Tensor, x: tf.Tensor, structureId: number, transpose: boolean): tf.Tensor2D {
  return tf.engine().runKernel(GATED_SPMM, { gates, x }, { structureId, transpose }) as tf.Tensor2D;
}

function runGatedSddmm(a: tf.Tensor, b: tf.Tensor, structureId: number): tf.Tensor1D {
  return tf.engine().runKernel(GATED_SDDMM, { a, b }, { structureId }) as tf.Tensor1D;
}

/** y = A_ρ·x and its per-gate products: the gradients weighted-spmm.ts writes down for both pairs. */
export const [gatedSpmmGradient, gatedSddmmGradient] = sparsePairGradients(GATED_SPMM, GATED_SDDMM, 'gates');

/** Each stored entry's row, column, â and group as tensors. */
function entryTensors(h: GatedStructure) {
  const { s, sides } = gatedStructure(GATED_SPMM, h.id);
  const heap = sharedHeap();
  const indptr = heap.i32(s.a.indptr, s.a.nRows + 1);
  const rows = new Int32Array(s.a.nnz);
  for (let r = 0; r < s.a.nRows; r++) rows.fill(r, indptr[r], indptr[r + 1]);
  return {
    rows: tf.tensor1d(rows, 'int32'),
    cols: tf.tensor1d(heap.i32(s.a.indices, s.a.nnz).slice(), 'int32'),
    base: tf.tensor1d(sides.a.base),
    groups: tf.tensor1d(sides.a.groups, 'int32'),
  };
}

/**
 * gatedSpmm from stock ops, for backends where our kernels are not registered (tensorflow): gather each
 * entry's gate, scale â by it, gather the source rows, segment-sum into the targets. Differentiable by tfjs.
 */
export function gatedSpmmComposite(h: GatedStructure, gates: tf.Tensor1D, x: tf.Tensor2D, transpose = false): tf.Tensor2D {
  return tf.tidy(() => {
    const e = entryTensors(h);
    const w = tf.mul(e.base, tf.gather(gates, e.groups));
    const [from, to, n] = transpose ? [e.rows, e.cols, h.nCols] : [e.cols, e.rows, h.nRows];
    return tf.unsortedSegmentSum(tf.mul(tf.gather(x, from), tf.reshape(w, [-1, 1])), to, n) as tf.Tensor2D;
  });
}

/** gatedSddmm from stock ops (see gatedSpmmComposite). */
export function gatedSddmmComposite(h: GatedStructure, a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const e = entryTensors(h);
    const products = tf.sum(tf.mul(tf.gather(a, e.rows), tf.gather(b, e.cols)), 1);
    return tf.unsortedSegmentSum(tf.mul(products, e.base), e.groups, h.nGroups) as tf.Tensor1D;
  });
}

function ourKernel(kernelName: string): boolean {
  return tf.getKernel(kernelName, tf.getBackend()) !== undefined;
}

/**
 * y = A_ρ·x, y[r] = Σ_{p ∈ row r} â_p·ρ[g(p)]·x[col(p)] (or A_ρᵀ·x with `transpose`); differentiable in the
 * gates ρ and in x.
 */
export function gatedSpmm(h: GatedStructure, gates: tf.Tensor1D, x: tf.Tensor2D, opts: { transpose?: boolean } = {}): tf.Tensor2D {
  const transpose = opts.transpose ?? false;
  const { s, sides } = gatedStructure(GATED_SPMM, h.id);
  checkGatedInputs(s, sides.nGroups, gates, x, transpose);
  if (!ourKernel(GATED_SPMM)) return gatedSpmmComposite(h, gates, x, transpose);
  return runGated(gates, x, h.id, transpose);
}

/** s_g = Σ_{p : g(p) = g} â_p·⟨a[row(p)], b[col(p)]⟩; differentiable in a and b. */
export function gatedSddmm(h: GatedStructure, a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor1D {
  const { s } = gatedStructure(GATED_SDDMM, h.id);
  checkGatedSddmmInputs(s, a, b);
  if (!ourKernel(GATED_SDDMM)) return gatedSddmmComposite(h, a, b);
  return runGatedSddmm(a, b, h.id);
}
