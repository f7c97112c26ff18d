/**
 * Tanh on the wasm backend through the native addon (DESIGN.md §4). The stock wasm kernel calls libc's tanh
 * element by element, about 16 ms for CaMRec's [7050, 64] denoiser activations; the addon's vectorised rational
 * approximation (Eigen's, within a few float32 ulp, native/README.md) takes about 0.3 ms, reading and writing the
 * wasm heap in place. Without the addon, or for other dtypes, the stock kernel runs. Registered for wasm only.
 */
import { Tanh, getKernel } from '@tensorflow/tfjs';
import type { DataType, KernelConfig, KernelFunc, NamedTensorInfoMap, TensorInfo, TypedArray } from '@tensorflow/tfjs';
import { computePool, nativeKernels } from '../pool.js';
import { countKernel } from './counters.js';

/** The counter of tanh calls the native addon computed. */
export const NATIVE_TANH = 'CamrecNativeTanh';

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): TypedArray;
}

interface KernelArgs {
  inputs: NamedTensorInfoMap;
  backend: unknown;
}

/** Below this many elements the stock kernel is as quick as the call into the addon. */
const NATIVE_MIN_SIZE = 1024;

let stock: KernelConfig | undefined;

function nativeTanh(args: KernelArgs): TensorInfo {
  const x = args.inputs.x as TensorInfo;
  const native = nativeKernels();
  const size = x.shape.reduce((a, b) => a * b, 1);
  if (!native || x.dtype !== 'float32' || size < NATIVE_MIN_SIZE) {
    if (!stock) throw new Error(`${Tanh}: the stock wasm kernel is not registered`);
    return stock.kernelFunc(args as Parameters<KernelFunc>[0]) as TensorInfo;
  }
  countKernel(NATIVE_TANH);
  const backend = args.backend as WasmBackendLike;
  const out = backend.makeOutput(x.shape, 'float32');
  // Views after the allocation: a heap that grows detaches the older ones.
  const view = (t: TensorInfo) => backend.typedArrayFromHeap(t) as Float32Array;
  native.tanh(view(x), view(out), size >= 1 << 16 ? computePool().threads : 1);
  return out;
}

/** Our wasm Tanh, wrapping the stock kernel registered now; undefined without wasm. */
export function nativeTanhConfig(): KernelConfig | undefined {
  const current = getKernel(Tanh, 'wasm');
  if (!current) return undefined;
  if (current.kernelFunc !== (nativeTanh as unknown as KernelFunc)) stock = current;
  return { kernelName: Tanh, backendName: 'wasm', setupFunc: current.setupFunc, kernelFunc: nativeTanh as unknown as KernelFunc };
}
