/**
 * GatherV2, the embedding lookup: with x viewed as [batch, outer, dim, slice] and indices as [batch, perBatch]
 * (tfjs's collectGatherOpShapeInfo), out[b, o, i, :] = x[b, o, indices[b, i], :], one slice copy each:
 * O(batch·outer·perBatch·slice). tfjs-wasm's own kernel computes a strided source offset per element (about
 * 20 ms for 6000 rows of 64 floats here) and returns garbage for batchDims > 0. (The op admits no strings.)
 */
import * as tf from '@tensorflow/tfjs';
import type { GradConfig, NamedAttrMap, NamedTensorInfoMap, TensorInfo, TypedArray } from '@tensorflow/tfjs';
import { type KernelIo, kernelConfigs } from './io.js';

export const GATHER = tf.GatherV2;

interface GatherShape {
  batchSize: number;
  outerSize: number;
  dimSize: number;
  sliceSize: number;
  outputShape: number[];
}

function checkIndices(indices: TypedArray, dimSize: number): void {
  for (let i = 0; i < indices.length; i++) {
    const at = indices[i];
    if (!(at >= 0 && at < dimSize)) throw new RangeError(`${GATHER}: index ${at} at ${i} is not in [0, ${dimSize - 1}]`);
  }
}

/**
 * Copies each slice. When x and out are views of one buffer (the wasm heap), a slice is one copyWithin on a view
 * of the whole buffer: no view object per slice, whose allocation (and the garbage collections it brings) cost
 * more than the copy of a 64-float row.
 */
function copySlices(x: TypedArray, indices: TypedArray, shape: GatherShape, out: TypedArray): void {
  const { batchSize, outerSize, dimSize, sliceSize } = shape;
  const perBatch = batchSize === 0 ? 0 : indices.length / batchSize;
  const sameBuffer = x.buffer === out.buffer && x.BYTES_PER_ELEMENT === out.BYTES_PER_ELEMENT;
  const whole = sameBuffer ? new (x.constructor as new (b: ArrayBufferLike) => TypedArray)(x.buffer) : undefined;
  const [xAt, outAt] = [x.byteOffset / x.BYTES_PER_ELEMENT, out.byteOffset / out.BYTES_PER_ELEMENT];
  let o = 0;
  for (let b = 0; b < batchSize; b++) {
    for (let q = 0; q < outerSize; q++) {
      const base = (b * outerSize + q) * dimSize;
      for (let i = b * perBatch; i < (b + 1) * perBatch; i++, o += sliceSize) {
        const from = (base + indices[i]) * sliceSize;
        if (sliceSize === 1) out[o] = x[from];
        else if (whole) whole.copyWithin(outAt + o, xAt + from, xAt + from + sliceSize);
        else out.set(x.subarray(from, from + sliceSize), o);
      }
    }
  }
}

function gatherSlices(io: KernelIo, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo {
  const x = inputs.x as TensorInfo;
  const indices = inputs.indices as TensorInfo;
  if (x.dtype === 'complex64' || indices.dtype !== 'int32') {
    throw new TypeError(`${GATHER}: x of dtype ${x.dtype} with ${indices.dtype} indices is not supported`);
  }
  const axis = tf.util.parseAxisParam(attrs.axis as number, x.shape)[0];
  const batchDims = (attrs.batchDims as number | undefined) ?? 0;
  const shape = tf.backend_util.segment_util.collectGatherOpShapeInfo(x as tf.Tensor, indices as tf.Tensor, axis, batchDims);
  checkIndices(io.read(indices), shape.dimSize);
  return io.output(shape.outputShape, x.dtype, (out) => copySlices(io.read(x), io.read(indices), shape, out));
}

export const gatherKernels = kernelConfigs(GATHER, gatherSlices);

/** tfjs's own GatherV2 gradient, captured when ours is first registered; ours hands it every other axis. */
let stockGradient: GradConfig | undefined;

/**
 * ∂x of a gather along the first axis (batchDims 0) is the segment sum of dy's rows into x's rows. tfjs's own
 * gradient wraps that sum in two transposes which, along the first axis, are the identity permutation, and the
 * wasm Transpose copies its input for those: CaMRec's step gathers 15 times, so two copies each (one of x's
 * size, [users or items, 64]) went for nothing. The segment sum is the same kernel on the same values: same bits.
 */
export const gatherGradient: GradConfig = {
  kernelName: GATHER,
  inputsToSave: ['x', 'indices'],
  gradFunc: (dy, saved, attrs) => {
    const [x, indices] = saved;
    const axis = tf.util.parseAxisParam(attrs.axis as number, x.shape)[0];
    const batchDims = (attrs.batchDims as number | undefined) ?? 0;
    if (axis !== 0 || batchDims !== 0) {
      if (!stockGradient) throw new Error(`${GATHER}: tfjs's own gradient was not captured`);
      return stockGradient.gradFunc(dy, saved, attrs);
    }
    return {
      x: () => {
        const rows = tf.reshape(dy as tf.Tensor, [indices.size, ...x.shape.slice(1)]);
        return tf.unsortedSegmentSum(rows, tf.reshape(indices, [indices.size]) as tf.Tensor1D, x.shape[0]);
      },
      indices: () => indices,
    };
  },
};

/** tfjs's own GatherV2 gradient, once ours is registered (for tests that compare the two). */
export function stockGatherGradient(): GradConfig | undefined {
  return stockGradient;
}

/** Registers `gatherGradient`, keeping tfjs's own for the axes it does not cover (idempotent). */
export function registerGatherGradient(): void {
  const current = tf.getGradient(GATHER);
  if (current === gatherGradient) return;
  stockGradient = current;
  tf.registerGradient(gatherGradient);
}
