/**
 * How a kernel reads its inputs and makes its output on each backend we register for, so that a kernel is
 * written once. wasm: tensors live in the backend's wasm heap (dataIdMap / typedArrayFromHeap / makeOutput);
 * cpu: tensors are typed arrays in the backend's data store (data.get(dataId).values / makeTensorInfo).
 */
import * as tf from '@tensorflow/tfjs';
import type { DataType, KernelConfig, NamedAttrMap, NamedTensorInfoMap, TensorInfo, TypedArray } from '@tensorflow/tfjs';
import { countKernel } from './counters.js';

export const KERNEL_BACKENDS = ['wasm', 'cpu'] as const;
export type KernelBackend = (typeof KERNEL_BACKENDS)[number];

export interface KernelIo {
  /** The values of an input. On wasm the view is only valid until the backend allocates again. */
  read(t: TensorInfo): TypedArray;
  /** A new output tensor whose every element `fill` writes; read inputs inside `fill`, not before. */
  output(shape: number[], dtype: DataType, fill: (out: TypedArray) => void): TensorInfo;
  /** New float32 outputs of the given shapes, all allocated before `fill` writes every element of each. */
  outputs(shapes: number[][], fill: (outs: Float32Array[]) => void): TensorInfo[];
  /** A new output on t's memory (the backend counts references, as its Identity does); never written. */
  share(t: TensorInfo): TensorInfo;
}

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): TypedArray;
  incRef(dataId: object): void;
}

interface CpuBackendLike {
  data: { get(dataId: object): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: DataType, values: TypedArray): TensorInfo;
  incRef(dataId: object): void;
}

function shareOn(backend: { incRef(dataId: object): void }, t: TensorInfo): TensorInfo {
  backend.incRef(t.dataId);
  return { dataId: t.dataId, shape: [...t.shape], dtype: t.dtype };
}

function wasmIo(backend: WasmBackendLike): KernelIo {
  return {
    read: (t) => backend.typedArrayFromHeap(t),
    output: (shape, dtype, fill) => {
      const out = backend.makeOutput(shape, dtype);
      fill(backend.typedArrayFromHeap(out));
      return out;
    },
    outputs: (shapes, fill) => {
      const outs = shapes.map((shape) => backend.makeOutput(shape, 'float32'));
      // Views after the last allocation: a heap that grows detaches the older ones.
      fill(outs.map((t) => backend.typedArrayFromHeap(t) as Float32Array));
      return outs;
    },
    share: (t) => shareOn(backend, t),
  };
}

function newTypedArray(dtype: DataType, size: number): TypedArray {
  if (dtype === 'float32') return new Float32Array(size);
  if (dtype === 'int32') return new Int32Array(size);
  if (dtype === 'bool') return new Uint8Array(size);
  throw new TypeError(`kernel output of dtype ${dtype} is not supported`);
}

function cpuIo(backend: CpuBackendLike): KernelIo {
  return {
    read: (t) => backend.data.get(t.dataId).values as TypedArray,
    output: (shape, dtype, fill) => {
      const values = newTypedArray(dtype, shape.reduce((a, b) => a * b, 1));
      fill(values);
      return backend.makeTensorInfo(shape, dtype, values);
    },
    outputs: (shapes, fill) => {
      const values = shapes.map((shape) => new Float32Array(shape.reduce((a, b) => a * b, 1)));
      fill(values);
      return shapes.map((shape, k) => backend.makeTensorInfo(shape, 'float32', values[k]));
    },
    share: (t) => shareOn(backend, t),
  };
}

const IO_FOR: Record<KernelBackend, (backend: unknown) => KernelIo> = {
  wasm: (b) => wasmIo(b as WasmBackendLike),
  cpu: (b) => cpuIo(b as CpuBackendLike),
};

export type KernelImpl = (io: KernelIo, inputs: NamedTensorInfoMap, attrs: NamedAttrMap) => TensorInfo;

/** One registered config per backend for `impl`; every call is counted under `kernelName`. */
export function kernelConfigs(kernelName: string, impl: KernelImpl): KernelConfig[] {
  return KERNEL_BACKENDS.map((backendName) => ({
    kernelName,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      countKernel(kernelName);
      return impl(IO_FOR[backendName](backend), inputs, attrs ?? {});
    },
  }));
}

/** Throws unless `t` is float32 with the given rank. */
export function expectFloat(kernelName: string, what: string, t: TensorInfo, rank: number): void {
  if (t.dtype !== 'float32' || t.shape.length !== rank) {
    throw new TypeError(`${kernelName}: ${what} must be a float32 tensor of rank ${rank}, got ${t.dtype} [${t.shape.join(', ')}]`);
  }
}

/**
 * Copies a float32 tensor's values into `out` (its length must be the tensor's size): on wasm straight from the
 * backend's heap, elsewhere through dataSync. Unlike dataSync it allocates no array, so a caller that reads the
 * same shapes every step can keep one.
 */
export function readFloatsInto(t: tf.Tensor, out: Float32Array): Float32Array {
  if (t.dtype !== 'float32') throw new TypeError(`readFloatsInto: tensor of dtype ${t.dtype}, expected float32`);
  if (out.length !== t.size) throw new RangeError(`readFloatsInto: out has ${out.length} values, the tensor ${t.size}`);
  const backend = tf.backend() as Partial<WasmBackendLike>;
  const wasm = tf.getBackend() === 'wasm' && typeof backend.typedArrayFromHeap === 'function';
  out.set((wasm ? backend.typedArrayFromHeap!(t) : t.dataSync()) as Float32Array);
  return out;
}
