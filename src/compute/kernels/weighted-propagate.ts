/**
 * CamrecWeightedPropagate: y = c · Σ_{k=0..L} M^k x over a masked square graph, M = A_w (or A_wᵀ), with
 * c = 1 (layer sum) or 1/(L+1) (layer mean, LightGCN eq. 8 on CaMRec's masked graph X*) — as one op.
 * Its backward, CamrecWeightedPropagateGrad, gives both gradients in one kernel. With h_k = M^k x and the
 * adjoints a_L = c·dy, a_k = c·dy + Mᵀ a_{k+1}:
 *   ∂L/∂x = a_0;   ∂L/∂w = Σ_{k=1..L} SDDMM(a_k, h_{k−1})   (for M = A_wᵀ: SDDMM(h_{k−1}, a_k)).
 * The backward recomputes h_1..h_{L−1} (L−1 products) rather than keep them between the two calls; everything
 * runs in the shared heap, so tensors cross into tfjs once each way. O(L·(nnz + n)·d).
 */
import * as tf from '@tensorflow/tfjs';
import type { GradConfig, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import { Scratch, sharedHeap } from '../heap.js';
import { computePool } from '../pool.js';
import { type KernelIo, expectFloat, kernelConfigs } from './io.js';
import { productRows } from './spmm.js';
import {
  type HeapStructure,
  type SparseStructure,
  checkWeightedInputs,
  heapStructure,
  loadWeights,
  sddmmRows,
  weightedSpmm,
} from './weighted-spmm.js';

export const WEIGHTED_PROPAGATE = 'CamrecWeightedPropagate';
export const WEIGHTED_PROPAGATE_GRAD = 'CamrecWeightedPropagateGrad';

interface PropagateAttrs {
  structureId: number;
  layers: number;
  /** c: 1 for the layer sum, 1/(L+1) for the mean. */
  scale: number;
  transpose: boolean;
}

function attrsOf(attrs: NamedAttrMap): PropagateAttrs {
  return attrs as unknown as PropagateAttrs;
}

/** Growing scratch blocks, by name, shared by both kernels (one runs at a time). */
const scratch = new Map<string, Scratch>();

function block(name: string, bytes: number): number {
  let s = scratch.get(name);
  if (!s) scratch.set(name, (s = new Scratch(sharedHeap())));
  return s.ensure(bytes);
}

function squareStructure(kernelName: string, id: number): HeapStructure {
  const s = heapStructure(kernelName, id);
  if (s.a.nRows !== s.a.nCols) throw new RangeError(`${kernelName}: the structure must be square, got ${s.a.nRows}×${s.a.nCols}`);
  return s;
}

function propagateKernel(io: KernelIo, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo {
  const { structureId, layers, scale, transpose } = attrsOf(attrs);
  const w = inputs.w as TensorInfo;
  const x = inputs.x as TensorInfo;
  const s = squareStructure(WEIGHTED_PROPAGATE, structureId);
  checkWeightedInputs(s, w, x, transpose);
  const m = loadWeights(s, io.read(w), transpose);
  const [n, d] = [m.nRows, x.shape[1]];
  const heap = sharedHeap();
  const pool = computePool();
  const acc = block('acc', n * d * 4);
  let cur = block('a', n * d * 4);
  let next = block('b', n * d * 4);
  const rows = [0, n]; // elementwise passes run on this thread
  const xv = io.read(x);
  heap.f32(cur, n * d).set(xv);
  heap.f32(acc, n * d).set(xv);
  for (let k = 0; k < layers; k++) {
    productRows(m, cur, next, d);
    pool.runSync('addRows', [acc, next, d], rows);
    [cur, next] = [next, cur];
  }
  if (scale !== 1) pool.runSync('scaleRows', [acc, d, scale], rows);
  return io.output([n, d], 'float32', (out) => out.set(heap.f32(acc, n * d)));
}

/** Outputs [∂L/∂w, ∂L/∂x] for inputs w, x and dy = ∂L/∂y. */
function propagateGradKernel(io: KernelIo, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo[] {
  const { structureId, layers, scale, transpose } = attrsOf(attrs);
  const [w, x, dy] = [inputs.w, inputs.x, inputs.dy] as TensorInfo[];
  const s = squareStructure(WEIGHTED_PROPAGATE_GRAD, structureId);
  checkWeightedInputs(s, w, x, transpose);
  expectFloat(WEIGHTED_PROPAGATE_GRAD, 'dy', dy, 2);
  const wv = io.read(w);
  const forward = loadWeights(s, wv, transpose);
  const backward = loadWeights(s, wv, !transpose);
  const [n, d, nnz] = [s.a.nRows, x.shape[1], s.a.nnz];
  const heap = sharedHeap();
  const pool = computePool();
  const rows = [0, n];
  const rowsBytes = n * d * 4;
  // h_0 .. h_{L−1}
  const h = Array.from({ length: Math.max(layers, 1) }, (_, k) => block(`h${k}`, rowsBytes));
  heap.f32(h[0], n * d).set(io.read(x));
  for (let k = 1; k < layers; k++) productRows(forward, h[k - 1], h[k], d);
  const cdy = block('cdy', rowsBytes);
  heap.f32(cdy, n * d).set(io.read(dy));
  if (scale !== 1) pool.runSync('scaleRows', [cdy, d, scale], rows);
  let adj = block('a', rowsBytes);
  let next = block('b', rowsBytes);
  heap.f32(adj, n * d).set(heap.f32(cdy, n * d));
  const dw = new Float32Array(nnz);
  const term = block('dwTerm', nnz * 4);
  const termView = (): Float32Array => heap.f32(term, nnz);
  for (let k = layers; k >= 1; k--) {
    if (transpose) sddmmRows(s, h[k - 1], adj, term, d);
    else sddmmRows(s, adj, h[k - 1], term, d);
    const t = termView();
    for (let p = 0; p < nnz; p++) dw[p] += t[p];
    productRows(backward, adj, next, d);
    pool.runSync('addRows', [next, cdy, d], rows);
    [adj, next] = [next, adj];
  }
  return [
    io.output([nnz], 'float32', (out) => out.set(dw)),
    io.output([n, d], 'float32', (out) => out.set(heap.f32(adj, n * d))),
  ];
}

export const weightedPropagateKernels = [
  ...kernelConfigs(WEIGHTED_PROPAGATE, propagateKernel),
  ...kernelConfigs(WEIGHTED_PROPAGATE_GRAD, propagateGradKernel),
];

function runPropagate(w: tf.Tensor, x: tf.Tensor, attrs: PropagateAttrs): tf.Tensor2D {
  return tf.engine().runKernel(WEIGHTED_PROPAGATE, { w, x }, { ...attrs }) as tf.Tensor2D;
}

export const weightedPropagateGradient: GradConfig = {
  kernelName: WEIGHTED_PROPAGATE,
  inputsToSave: ['w', 'x'],
  // Both gradients come from one kernel call, made here rather than in a thunk: tfjs runs each thunk in a tidy
  // of its own, which would dispose the other output. An unused one is disposed by the backward pass's tidy.
  gradFunc: (dy, saved, attrs) => {
    const [w, x] = saved;
    const [dw, dx] = tf.engine().runKernel(WEIGHTED_PROPAGATE_GRAD, { w, x, dy: dy as tf.Tensor }, attrs) as tf.Tensor[];
    return { w: () => dw, x: () => dx };
  },
};

function propagate(h: SparseStructure, w: tf.Tensor1D, x: tf.Tensor2D, layers: number, scale: number, transpose: boolean): tf.Tensor2D {
  if (!Number.isInteger(layers) || layers < 0) throw new RangeError(`${WEIGHTED_PROPAGATE}: layers must be an integer ≥ 0, got ${layers}`);
  const s = squareStructure(WEIGHTED_PROPAGATE, h.id);
  checkWeightedInputs(s, w, x, transpose);
  if (tf.getKernel(WEIGHTED_PROPAGATE, tf.getBackend()) !== undefined) return runPropagate(w, x, { structureId: h.id, layers, scale, transpose });
  return tf.tidy(() => {
    let cur = x;
    let sum = x;
    for (let k = 0; k < layers; k++) {
      cur = weightedSpmm(h, w, cur, { transpose });
      sum = tf.add(sum, cur);
    }
    return tf.mul(sum, scale);
  });
}

/** Σ_{k=0..L} A_w^k x (A_wᵀ with `transpose`) over a square structure; differentiable in w and x. */
export function weightedPropagateSum(
  h: SparseStructure,
  w: tf.Tensor1D,
  x: tf.Tensor2D,
  layers: number,
  opts: { transpose?: boolean } = {},
): tf.Tensor2D {
  return propagate(h, w, x, layers, 1, opts.transpose ?? false);
}

/** 1/(L+1) · Σ_{k=0..L} A_w^k x (A_wᵀ with `transpose`) over a square structure; differentiable in w and x. */
export function weightedPropagateMean(
  h: SparseStructure,
  w: tf.Tensor1D,
  x: tf.Tensor2D,
  layers: number,
  opts: { transpose?: boolean } = {},
): tf.Tensor2D {
  return propagate(h, w, x, layers, 1 / (layers + 1), opts.transpose ?? false);
}
