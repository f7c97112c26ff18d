/**
 * Tanh and Exp on the wasm backend through the native addon (DESIGN.md §4). The stock wasm kernels call libc
 * element by element: tanh took about 16 ms for CaMRec's [7050, 64] denoiser activations, exp about 1 ms for
 * each of InfoNCE's sixteen [256, 256] blocks. The addon's vectorised versions (Eigen's rational tanh, within
 * 4e-7 relative; Cephes' expf, within one float32 ulp; native/README.md) take 0.3 ms and 0.1 ms, reading and
 * writing the wasm heap in place. Without the addon, for other dtypes or tiny tensors, the stock kernel runs.
 * Registered for wasm only.
 */
import { Exp, Tanh } from '@tensorflow/tfjs';
import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs';
import type { NativeKernels } from '../native.js';
import { computePool, nativeKernels } from '../pool.js';
import { countKernel } from './counters.js';
import { type KernelArgs, StockKernels, type WasmBackendLike } from './stock.js';

/** Counters of the calls the native addon computed. */
export const NATIVE_TANH = 'CamrecNativeTanh';
export const NATIVE_EXP = 'CamrecNativeExp';

/** Below this many elements the stock kernel is as quick as the call into the addon. */
const NATIVE_MIN_SIZE = 1024;

const stock = new StockKernels();

function unary(name: string, counter: string, f: (native: NativeKernels) => NativeKernels['tanh']) {
  return (args: KernelArgs): TensorInfo => {
    const x = args.inputs.x as TensorInfo;
    const native = nativeKernels();
    const size = x.shape.reduce((a, b) => a * b, 1);
    if (!native || x.dtype !== 'float32' || size < NATIVE_MIN_SIZE) {
      return stock.run(name, args) as TensorInfo;
    }
    countKernel(counter);
    const backend = args.backend as WasmBackendLike;
    const out = backend.makeOutput(x.shape, 'float32');
    // Views after the allocation: a heap that grows detaches the older ones.
    const view = (t: TensorInfo) => backend.typedArrayFromHeap(t) as Float32Array;
    f(native).call(native, view(x), view(out), size >= 1 << 16 ? computePool().threads : 1);
    return out;
  };
}

const OURS: Record<string, (args: KernelArgs) => TensorInfo> = {
  [Tanh]: unary(Tanh, NATIVE_TANH, (n) => n.tanh),
  [Exp]: unary(Exp, NATIVE_EXP, (n) => n.exp),
};

/** Our wasm Tanh and Exp, wrapping the stock ones registered now; [] without wasm. */
export function nativeUnaryConfigs(): KernelConfig[] {
  return stock.configs(OURS);
}
