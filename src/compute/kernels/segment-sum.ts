/**
 * UnsortedSegmentSum for the wasm backend (which has none, so tf.gather's gradient fails there) and the cpu
 * backend (whose own costs segments × n × inner): out[s, …] = Σ_{i : ids[i] = s} x[i, …] along the first axis,
 * negative ids dropped as in TensorFlow. One pass over x plus zeroing the output: O(n·inner + segments·inner);
 * float32 rows are added by the native addon when it is loaded (a TypeScript loop costs about 3 ns an element).
 */
import * as tf from '@tensorflow/tfjs';
import type { NamedAttrMap, NamedTensorInfoMap, TensorInfo, TypedArray } from '@tensorflow/tfjs';
import { nativeKernels } from '../pool.js';
import { type KernelIo, kernelConfigs } from './io.js';

export const SEGMENT_SUM = tf.UnsortedSegmentSum;

/** Throws on an id at or past numSegments (TensorFlow's CPU kernel does too); negative ids are allowed. */
function checkIds(ids: TypedArray, numSegments: number): void {
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] >= numSegments) throw new RangeError(`${SEGMENT_SUM}: segment id ${ids[i]} at ${i} is not below numSegments ${numSegments}`);
  }
}

function addSegments(x: TypedArray, ids: TypedArray, inner: number, out: TypedArray): void {
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i];
    if (s < 0) continue;
    const o = s * inner;
    const b = i * inner;
    for (let k = 0; k < inner; k++) out[o + k] += x[b + k];
  }
}

function unsortedSegmentSum(io: KernelIo, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo {
  const x = inputs.x as TensorInfo;
  const ids = inputs.segmentIds as TensorInfo;
  const numSegments = attrs.numSegments as number;
  const n = x.shape[0] ?? 1;
  if (ids.shape.length !== 1 || ids.shape[0] !== n || ids.dtype !== 'int32') {
    throw new TypeError(`${SEGMENT_SUM}: segmentIds must be int32 of shape [${n}], got ${ids.dtype} [${ids.shape.join(', ')}]`);
  }
  if (x.dtype !== 'float32' && x.dtype !== 'int32') throw new TypeError(`${SEGMENT_SUM}: x of dtype ${x.dtype} is not supported`);
  checkIds(io.read(ids), numSegments);
  const inner = x.shape.slice(1).reduce((a, b) => a * b, 1);
  const native = nativeKernels();
  return io.output([numSegments, ...x.shape.slice(1)], x.dtype, (out) => {
    out.fill(0);
    if (native && x.dtype === 'float32' && inner > 0) native.scatterAddRows(io.read(x) as Float32Array, io.read(ids) as Int32Array, inner, out as Float32Array);
    else addSegments(io.read(x), io.read(ids), inner, out);
  });
}

export const segmentSumKernels = kernelConfigs(SEGMENT_SUM, unsortedSegmentSum);

/** out[s] = Σ_{i : segmentIds[i] = s} x[i] along the first axis; runs our kernel on wasm and cpu. */
export function segmentSum<T extends tf.Tensor>(x: T, segmentIds: tf.Tensor1D | Int32Array | number[], numSegments: number): T {
  return tf.unsortedSegmentSum(x, segmentIds, numSegments);
}
