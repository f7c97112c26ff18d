/**
 * CamrecPropagateMean: y = 1/(L+1) · Σ_{k=0..L} A^k x for a square registered matrix A — the layer mean of
 * LightGCN (He et al. 2020, eq. 8, α_k = 1/(L+1)) as one op. Its gradient is the same kernel on Aᵀ:
 * ∂L/∂x = 1/(L+1) · Σ_k (Aᵀ)^k ∂L/∂y. One op instead of L products, L adds and a division saves the
 * intermediate tensors and their copies in and out of the tfjs heap. O(L·(nnz + n)·d).
 */
import * as tf from '@tensorflow/tfjs';
import type { GradConfig, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import { Scratch, sharedHeap } from '../heap.js';
import { computePool } from '../pool.js';
import { type KernelIo, expectFloat, kernelConfigs } from './io.js';
import { type SparseHandle, heapMatrix, productRows, spmm } from './spmm.js';

export const PROPAGATE_MEAN = 'CamrecPropagateMean';

let scratch: { acc: Scratch; a: Scratch; b: Scratch } | undefined;

function propagateMeanKernel(io: KernelIo, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo {
  const x = inputs.x as TensorInfo;
  const m = heapMatrix(attrs.sparseId as number, attrs.transpose as boolean);
  const layers = attrs.layers as number;
  expectFloat(PROPAGATE_MEAN, 'x', x, 2);
  if (m.nRows !== m.nCols) throw new TypeError(`${PROPAGATE_MEAN}: the matrix must be square, got ${m.nRows}×${m.nCols}`);
  if (x.shape[0] !== m.nCols) throw new TypeError(`${PROPAGATE_MEAN}: x has ${x.shape[0]} rows, the matrix ${m.nCols}`);
  const d = x.shape[1];
  const n = m.nRows;
  const heap = sharedHeap();
  scratch ??= { acc: new Scratch(heap), a: new Scratch(heap), b: new Scratch(heap) };
  const acc = scratch.acc.ensure(n * d * 4);
  let cur = scratch.a.ensure(n * d * 4);
  let next = scratch.b.ensure(n * d * 4);
  const pool = computePool();
  const rows = [0, n];
  const xv = io.read(x);
  heap.f32(cur, n * d).set(xv);
  heap.f32(acc, n * d).set(xv);
  for (let k = 0; k < layers; k++) {
    productRows(m, cur, next, d);
    pool.runSync('addRows', [acc, next, d], rows); // acc += A^{k+1} x, wasm SIMD on this thread
    [cur, next] = [next, cur];
  }
  pool.runSync('scaleRows', [acc, d, 1 / (layers + 1)], rows);
  return io.output([n, d], 'float32', (out) => out.set(heap.f32(acc, n * d)));
}

export const propagateKernels = kernelConfigs(PROPAGATE_MEAN, propagateMeanKernel);

function run(x: tf.Tensor, sparseId: number, transpose: boolean, layers: number): tf.Tensor2D {
  return tf.engine().runKernel(PROPAGATE_MEAN, { x }, { sparseId, transpose, layers }) as tf.Tensor2D;
}

export const propagateMeanGradient: GradConfig = {
  kernelName: PROPAGATE_MEAN,
  inputsToSave: [],
  gradFunc: (dy, _saved, attrs) => ({
    x: () => run(dy as tf.Tensor, attrs.sparseId as number, !(attrs.transpose as boolean), attrs.layers as number),
  }),
};

/** 1/(L+1) Σ_{k=0..L} A^k x; differentiable in x. Falls back to L spmm's where the kernel is not registered. */
export function propagateMean(h: SparseHandle, x: tf.Tensor2D, layers: number): tf.Tensor2D {
  if (!Number.isInteger(layers) || layers < 0) throw new RangeError(`propagateMean: layers must be ≥ 0, got ${layers}`);
  if (tf.getKernel(PROPAGATE_MEAN, tf.getBackend()) !== undefined) return run(x, h.id, false, layers);
  return tf.tidy(() => {
    let cur = x;
    let sum = x;
    for (let k = 0; k < layers; k++) {
      cur = spmm(h, cur);
      sum = tf.add(sum, cur);
    }
    return tf.div(sum, layers + 1);
  });
}
