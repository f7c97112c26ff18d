/**
 * Two row blocks of one matrix through two weight matrices, as one op: for x [U + I, d],
 *   a = x[0:U]·W_a [U, h],   b = x[U:]·W_b [I, h],
 * with gradients ∂x = [∂a·W_aᵀ; ∂b·W_bᵀ] (one tensor), ∂W_a = x[0:U]ᵀ·∂a, ∂W_b = x[U:]ᵀ·∂b. CaMRec's edge mask
 * reads each backbone layer this way: the first layer of its MLP, factored over users and items (DESIGN.md §4).
 * Composed, it was a split of x (a copy of [U + I, d]), two products, and backward the products and a concat (a
 * copy again) of the two input gradients. CamrecSplitLinear and CamrecSplitLinearGrad run the same products on the
 * native addon's gemm, on views of x and ∂x in tfjs's heap, so the values are the composed ops' bits. Without the
 * addon `fusedSplitLinear` answers null and the caller composes split and matMul.
 */
import * as tf from '@tensorflow/tfjs';
import type { GradConfig, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import { computePool, nativeKernels } from '../pool.js';
import { type KernelImpl, type KernelIo, expectFloat, kernelConfigs } from './io.js';

export const SPLIT_LINEAR = 'CamrecSplitLinear';
export const SPLIT_LINEAR_GRAD = 'CamrecSplitLinearGrad';

function checkInputs(kernelName: string, x: TensorInfo, wa: TensorInfo, wb: TensorInfo, rows: number): void {
  for (const [what, t] of [['x', x], ['wa', wa], ['wb', wb]] as const) expectFloat(kernelName, what, t, 2);
  if (!Number.isInteger(rows) || rows < 0 || rows > x.shape[0]) throw new RangeError(`${kernelName}: rows must be an integer in [0, ${x.shape[0]}], got ${rows}`);
  if (wa.shape[0] !== x.shape[1] || wb.shape[0] !== x.shape[1]) throw new RangeError(`${kernelName}: wa [${wa.shape}] and wb [${wb.shape}] need ${x.shape[1]} rows`);
  if (wa.shape[1] !== wb.shape[1]) throw new RangeError(`${kernelName}: wa and wb differ in width (${wa.shape[1]} and ${wb.shape[1]})`);
}

function native(kernelName: string) {
  const n = nativeKernels();
  if (!n) throw new Error(`${kernelName}: needs the native addon (the caller composes split and matMul without it)`);
  return n;
}

function splitLinearKernel(io: KernelIo, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo[] {
  const { x, wa, wb } = inputs as Record<string, TensorInfo>;
  const rows = attrs.rows as number;
  checkInputs(SPLIT_LINEAR, x, wa, wb, rows);
  const gemm = native(SPLIT_LINEAR);
  const [n, d] = x.shape;
  const h = wa.shape[1];
  return io.outputs([[rows, h], [n - rows, h]], ([a, b]) => {
    const [xv, wav, wbv] = [x, wa, wb].map((t) => io.read(t) as Float32Array);
    const threads = computePool().threads;
    if (rows > 0) gemm.gemm(xv.subarray(0, rows * d), wav, a, rows, d, h, 0, 0, threads);
    if (n > rows) gemm.gemm(xv.subarray(rows * d), wbv, b, n - rows, d, h, 0, 0, threads);
  });
}

function splitLinearGradKernel(io: KernelIo, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo[] {
  const { dA, dB, x, wa, wb } = inputs as Record<string, TensorInfo>;
  const rows = attrs.rows as number;
  checkInputs(SPLIT_LINEAR_GRAD, x, wa, wb, rows);
  const gemm = native(SPLIT_LINEAR_GRAD);
  const [n, d] = x.shape;
  const h = wa.shape[1];
  return io.outputs([x.shape, wa.shape, wb.shape], ([dx, dwa, dwb]) => {
    const [dav, dbv, xv, wav, wbv] = [dA, dB, x, wa, wb].map((t) => io.read(t) as Float32Array);
    const threads = computePool().threads;
    if (rows > 0) {
      gemm.gemm(dav, wav, dx.subarray(0, rows * d), rows, h, d, 0, 1, threads); // ∂a·W_aᵀ
      gemm.gemm(xv.subarray(0, rows * d), dav, dwa, d, rows, h, 1, 0, threads); // x_aᵀ·∂a
    } else dwa.fill(0);
    if (n > rows) {
      gemm.gemm(dbv, wbv, dx.subarray(rows * d), n - rows, h, d, 0, 1, threads);
      gemm.gemm(xv.subarray(rows * d), dbv, dwb, d, n - rows, h, 1, 0, threads);
    } else dwb.fill(0);
  });
}

export const splitLinearKernels = [
  ...kernelConfigs(SPLIT_LINEAR, splitLinearKernel as unknown as KernelImpl),
  ...kernelConfigs(SPLIT_LINEAR_GRAD, splitLinearGradKernel as unknown as KernelImpl),
];

export const splitLinearGradient: GradConfig = {
  kernelName: SPLIT_LINEAR,
  inputsToSave: ['x', 'wa', 'wb'],
  gradFunc: (dys, saved, attrs) => {
    const [x, wa, wb] = saved;
    const [dA, dB] = dys as tf.Tensor[];
    const [dx, dwa, dwb] = tf.engine().runKernel(SPLIT_LINEAR_GRAD, { dA, dB, x, wa, wb }, attrs) as tf.Tensor[];
    return { x: () => dx, wa: () => dwa, wb: () => dwb };
  },
};

/** [x[0:rows]·W_a, x[rows:]·W_b] as one op (see the header); null where it cannot run (no addon, empty blocks). */
export function fusedSplitLinear(x: tf.Tensor2D, wa: tf.Tensor2D, wb: tf.Tensor2D, rows: number): [tf.Tensor2D, tf.Tensor2D] | null {
  checkInputs(SPLIT_LINEAR, x, wa, wb, rows);
  const empty = rows === 0 || rows === x.shape[0] || x.shape[1] === 0 || wa.shape[1] === 0;
  if (empty || !nativeKernels() || tf.getKernel(SPLIT_LINEAR, tf.getBackend()) === undefined) return null;
  return tf.engine().runKernel(SPLIT_LINEAR, { x, wa, wb }, { rows }) as [tf.Tensor2D, tf.Tensor2D];
}
