/**
 * BatchMatMul on the wasm backend through the one layout XNNPACK covers (DESIGN.md §4). tfjs-wasm multiplies a
 * plain rank-2 [M, K]·[K, N] with XNNPACK; a transposeA/transposeB flag or a batch dimension falls to a generic
 * loop about ten times slower (docs/kernels.md has the figures), and stock gradients of matMul always use the
 * flags (∂a = dy·bᵀ, ∂b = aᵀ·dy). This kernel wraps the stock one: a flagged operand is transposed first by the
 * backend's own Transpose kernel (one copy of it), and a batched product runs as one plain product per batch
 * (or, when b has a single batch, as one [batch·M, K]·[K, N] product); every intermediate is disposed.
 * Batch dimensions broadcast as in numpy. With the native addon, a rank-2 product of any flags runs as its
 * register-tiled gemm straight on the wasm heap (native/README.md), several times faster than XNNPACK on the
 * models' tall, skinny operands ([items, 64]·[64, 64], [items, 64]ᵀ·[items, 64]); tiny products stay with
 * XNNPACK. Registered for wasm only, replacing the stock kernel.
 */
import { BatchMatMul, Transpose, broadcast_util, getKernel, util } from '@tensorflow/tfjs';
import type { DataType, KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo, TypedArray } from '@tensorflow/tfjs';
import { computePool, nativeKernels } from '../pool.js';
import { countKernel } from './counters.js';

/** The counter of products that took the fast layout (transposed or split per batch here). */
export const FAST_BATCH_MATMUL = 'CamrecFastBatchMatMul';
/** The counter of rank-2 products computed by the native addon's gemm. */
export const NATIVE_MATMUL = 'CamrecNativeMatMul';

/** m·n·k below this stays with XNNPACK: the call into the addon costs more than it saves. */
const NATIVE_MIN_WORK = 1 << 15;

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): TypedArray;
  disposeData(dataId: object): boolean;
}

interface KernelArgs {
  inputs: NamedTensorInfoMap;
  backend: unknown;
  attrs?: NamedAttrMap;
}

/** The stock configs we wrap (captured when ours is first registered). */
let stock: KernelConfig | undefined;

function run(config: KernelConfig | undefined, name: string, args: KernelArgs): TensorInfo {
  if (!config) throw new Error(`${BatchMatMul}: the stock wasm kernel ${name} is not registered`);
  return config.kernelFunc(args as Parameters<KernelFunc>[0]) as TensorInfo;
}

/** x with its last two axes swapped, a new tensor made by the backend's Transpose kernel. */
function swapLast(x: TensorInfo, backend: WasmBackendLike): TensorInfo {
  const perm = x.shape.map((_, i) => i);
  const r = perm.length;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return run(getKernel(Transpose, 'wasm'), Transpose, { inputs: { x }, backend, attrs: { perm } });
}

/** The stock kernel on a plain rank-2 product. */
function plainProduct(a: TensorInfo, b: TensorInfo, backend: WasmBackendLike): TensorInfo {
  return run(stock, BatchMatMul, { inputs: { a, b }, backend, attrs: { transposeA: false, transposeB: false } });
}

/**
 * op(a)·op(b) for rank-2 float32 operands by the native addon's gemm, reading and writing the wasm heap in place
 * (no copies, no transposes); null when the addon is absent or the product is too small to gain.
 */
function nativeProduct(a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean, backend: WasmBackendLike): TensorInfo | null {
  const native = nativeKernels();
  if (!native || a.shape.length !== 2 || b.shape.length !== 2) return null;
  const [m, k] = transposeA ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
  const [kb, n] = transposeB ? [b.shape[1], b.shape[0]] : [b.shape[0], b.shape[1]];
  if (k !== kb) throw new RangeError(`${BatchMatMul}: inner dimensions ${k} and ${kb} of [${a.shape}] and [${b.shape}] differ`);
  if (m * n * k < NATIVE_MIN_WORK) return null;
  countKernel(NATIVE_MATMUL);
  const out = backend.makeOutput([m, n], 'float32');
  // Views after the allocation: a heap that grows detaches the older ones.
  const view = (t: TensorInfo) => backend.typedArrayFromHeap(t) as Float32Array;
  native.gemm(view(a), view(b), view(out), m, k, n, transposeA ? 1 : 0, transposeB ? 1 : 0, computePool().threads);
  return out;
}

/** The flat index into `dims` (right-aligned, size-1 axes broadcast) of flat index i of `outDims`. */
function broadcastIndex(i: number, outDims: number[], dims: number[]): number {
  let index = 0;
  let stride = 1;
  let rest = i;
  for (let k = 1; k <= outDims.length; k++) {
    const coord = rest % outDims[outDims.length - k];
    rest = Math.floor(rest / outDims[outDims.length - k]);
    const n = dims[dims.length - k] ?? 1;
    if (n !== 1) index += coord * stride;
    stride *= n;
  }
  return index;
}

/** A copy of matrix `index` (of `rows·cols` floats) of x, as a new rank-2 tensor. */
function matrixOf(x: TensorInfo, index: number, rows: number, cols: number, backend: WasmBackendLike): TensorInfo {
  const out = backend.makeOutput([rows, cols], 'float32');
  const size = rows * cols;
  backend.typedArrayFromHeap(out).set(backend.typedArrayFromHeap(x).subarray(index * size, (index + 1) * size));
  return out;
}

/** a·b for plain operands [...batchA, M, K] and [...batchB, K, N] with broadcast batch dimensions `outBatch`. */
function batchedProduct(a: TensorInfo, b: TensorInfo, outBatch: number[], backend: WasmBackendLike): TensorInfo {
  const [m, k] = a.shape.slice(-2);
  const n = b.shape[b.shape.length - 1];
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const outShape = [...outBatch, m, n];
  if (util.sizeFromShape(batchB) === 1 && util.sizeFromShape(batchA) === util.sizeFromShape(outBatch)) {
    // One b for every batch of a: a single [batch·M, K]·[K, N] product (reshapes share the data).
    const out = plainProduct({ ...a, shape: [util.sizeFromShape(batchA) * m, k] }, { ...b, shape: [k, n] }, backend);
    return { ...out, shape: outShape };
  }
  const out = backend.makeOutput(outShape, 'float32');
  const slicesA = new Map<number, TensorInfo>();
  const slicesB = new Map<number, TensorInfo>();
  const slice = (cache: Map<number, TensorInfo>, x: TensorInfo, index: number, rows: number, cols: number): TensorInfo => {
    const hit = cache.get(index) ?? matrixOf(x, index, rows, cols, backend);
    cache.set(index, hit);
    return hit;
  };
  for (let i = 0; i < util.sizeFromShape(outBatch); i++) {
    const sa = slice(slicesA, a, broadcastIndex(i, outBatch, batchA), m, k);
    const sb = slice(slicesB, b, broadcastIndex(i, outBatch, batchB), k, n);
    const product = plainProduct(sa, sb, backend);
    backend.typedArrayFromHeap(out).set(backend.typedArrayFromHeap(product), i * m * n);
    backend.disposeData(product.dataId);
  }
  for (const t of [...slicesA.values(), ...slicesB.values()]) backend.disposeData(t.dataId);
  return out;
}

function fastBatchMatMul(args: KernelArgs): TensorInfo {
  const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
  const { transposeA, transposeB } = (args.attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
  const backend = args.backend as WasmBackendLike;
  const batched = a.shape.length > 2 || b.shape.length > 2;
  const empty = util.sizeFromShape(a.shape) === 0 || util.sizeFromShape(b.shape) === 0;
  if (empty || a.dtype !== 'float32' || b.dtype !== 'float32') return run(stock, BatchMatMul, args);
  if (!batched) {
    const native = nativeProduct(a, b, !!transposeA, !!transposeB, backend);
    if (native) return native;
  }
  if (!transposeA && !transposeB && !batched) return run(stock, BatchMatMul, args);
  countKernel(FAST_BATCH_MATMUL);
  const outBatch = broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const pa = transposeA ? swapLast(a, backend) : a;
  const pb = transposeB ? swapLast(b, backend) : b;
  try {
    const inner = [pa.shape[pa.shape.length - 1], pb.shape[pb.shape.length - 2]];
    if (inner[0] !== inner[1]) {
      throw new RangeError(`${BatchMatMul}: inner dimensions ${inner[0]} and ${inner[1]} of [${a.shape}] and [${b.shape}] differ`);
    }
    if (!batched) return plainProduct(pa, pb, backend);
    return batchedProduct(pa, pb, outBatch, backend);
  } finally {
    if (pa !== a) backend.disposeData(pa.dataId);
    if (pb !== b) backend.disposeData(pb.dataId);
  }
}

/**
 * Our wasm BatchMatMul config, wrapping the stock one that is registered now (its setup, which binds the wasm
 * function, is kept, so the config also works when the backend starts later). Undefined when the wasm backend's
 * kernels are not loaded.
 */
export function fastBatchMatMulConfig(): KernelConfig | undefined {
  const current = getKernel(BatchMatMul, 'wasm');
  if (current?.kernelFunc === (fastBatchMatMul as unknown as KernelFunc)) return current;
  if (!current) return undefined;
  stock = current;
  return { kernelName: BatchMatMul, backendName: 'wasm', setupFunc: current.setupFunc, kernelFunc: fastBatchMatMul as unknown as KernelFunc };
}

/** The stock wasm config that ours wraps, once ours is registered (for benchmarks that compare the two). */
export function stockBatchMatMulConfig(): KernelConfig | undefined {
  return stock;
}
