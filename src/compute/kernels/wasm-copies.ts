/**
 * Wasm kernels whose stock versions copy or loop far more than they need to (DESIGN.md §4). Each is
 * measured in docs/kernels.md; each gives bit-identical results to the stock kernel.
 *
 * - Identity shares its input's memory (the backend counts references, as Reshape already does and as the cpu
 *   backend's Identity does) instead of copying it. tfjs calls Identity through `clone`, and the gradient tape
 *   clones every tensor a kernel saves for its backward pass: CaMRec's step made about 600 copies, 60–80 ms.
 *   Sharing is safe because no wasm kernel writes into an input's memory: outputs are always fresh.
 * - Cast to the dtype the tensor already has shares its memory the same way. tfjs's gradient of Multiply casts
 *   the other factor to float32 before multiplying dy by it, and the stock kernel copies: CaMRec's step made about
 *   45 such copies of [items, 64] and [batch, 64] tensors.
 * - SplitV copies each part as whole contiguous runs (`TypedArray.set`) rather than element by element.
 * - Tile copies whole runs per tiled axis (`TypedArray.set`, or `fill` for runs of one element) instead of
 *   computing every output element's source index; the stock kernel took ~50 ms for a [7050, 64] broadcast.
 * - AddN runs as a chain of the stock Add kernel, ((x0 + x1) + x2) + … in float32: the stock AddN is a scalar
 *   loop, several times slower than Add's vector one.
 * Everything else (strings, other dtypes for AddN) goes to the stock kernel.
 */
import { Add, AddN, Cast, Identity, SplitV, Tile, getKernel, util } from '@tensorflow/tfjs';
import type { DataType, KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo, TypedArray } from '@tensorflow/tfjs';
import { countKernel } from './counters.js';
import { StockKernels } from './stock.js';

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): TypedArray;
  incRef(dataId: object): void;
  disposeData(dataId: object): boolean;
}

interface KernelArgs {
  inputs: NamedTensorInfoMap;
  backend: unknown;
  attrs?: NamedAttrMap;
}

export const SHARED_IDENTITY = 'CamrecSharedIdentity';
export const SHARED_CAST = 'CamrecSharedCast';
export const FAST_SPLIT = 'CamrecFastSplitV';
export const FAST_ADD_N = 'CamrecFastAddN';
export const FAST_TILE = 'CamrecFastTile';

const stock = new StockKernels();
const runStock = (name: string, args: KernelArgs) => stock.run(name, args);

/** A new tensor on x's memory (the backend counts the references). */
function share(x: TensorInfo, backend: unknown): TensorInfo {
  (backend as WasmBackendLike).incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

function identity(args: KernelArgs): TensorInfo {
  const { x } = args.inputs as { x: TensorInfo };
  if (x.dtype === 'string') return runStock(Identity, args) as TensorInfo;
  countKernel(SHARED_IDENTITY);
  return share(x, args.backend);
}

function cast(args: KernelArgs): TensorInfo {
  const { x } = args.inputs as { x: TensorInfo };
  const { dtype } = (args.attrs ?? {}) as { dtype: DataType };
  if (x.dtype !== dtype || x.dtype === 'string' || x.dtype === 'complex64') return runStock(Cast, args) as TensorInfo;
  countKernel(SHARED_CAST);
  return share(x, args.backend);
}

function splitV(args: KernelArgs): TensorInfo[] {
  const { x } = args.inputs as { x: TensorInfo };
  const { numOrSizeSplits, axis } = (args.attrs ?? {}) as { numOrSizeSplits: number | number[]; axis: number | number[] };
  if (x.dtype === 'string') return runStock(SplitV, args) as TensorInfo[];
  const rank = x.shape.length;
  const ax = util.parseAxisParam(axis, x.shape)[0];
  const extent = x.shape[ax];
  let sizes: number[];
  if (typeof numOrSizeSplits === 'number') {
    if (extent % numOrSizeSplits !== 0) return runStock(SplitV, args) as TensorInfo[]; // the stock error message
    sizes = new Array<number>(numOrSizeSplits).fill(extent / numOrSizeSplits);
  } else {
    sizes = [...numOrSizeSplits];
    const unknown = sizes.indexOf(-1);
    if (unknown >= 0) sizes[unknown] = extent - sizes.reduce((s, v, i) => (i === unknown ? s : s + v), 0);
    if (sizes.some((s) => s < 0) || sizes.reduce((s, v) => s + v, 0) !== extent) return runStock(SplitV, args) as TensorInfo[];
  }
  countKernel(FAST_SPLIT);
  const backend = args.backend as WasmBackendLike;
  const outer = util.sizeFromShape(x.shape.slice(0, ax));
  const inner = util.sizeFromShape(x.shape.slice(ax + 1, rank));
  const outs: TensorInfo[] = [];
  let offset = 0;
  for (const size of sizes) {
    const shape = [...x.shape];
    shape[ax] = size;
    const out = backend.makeOutput(shape, x.dtype);
    // Views after every allocation: a heap that grows detaches the older ones.
    const src = backend.typedArrayFromHeap(x);
    const dst = backend.typedArrayFromHeap(out);
    const run = size * inner;
    if (outer === 1) dst.set(src.subarray(offset * inner, offset * inner + run));
    else for (let o = 0; o < outer; o++) dst.set(src.subarray(o * extent * inner + offset * inner, o * extent * inner + offset * inner + run), o * run);
    outs.push(out);
    offset += size;
  }
  return outs;
}

function addN(args: KernelArgs): TensorInfo {
  const inputs = Object.values(args.inputs) as TensorInfo[];
  const add = getKernel(Add, 'wasm');
  if (!add || inputs.length < 2 || inputs.some((t) => t.dtype !== 'float32' || !util.arraysEqual(t.shape, inputs[0].shape))) {
    return runStock(AddN, args) as TensorInfo;
  }
  countKernel(FAST_ADD_N);
  const backend = args.backend as WasmBackendLike;
  let sum = inputs[0];
  for (let k = 1; k < inputs.length; k++) {
    const next = add.kernelFunc({ inputs: { a: sum, b: inputs[k] }, backend, attrs: {} } as Parameters<KernelFunc>[0]) as TensorInfo;
    if (k > 1) backend.disposeData(sum.dataId);
    sum = next;
  }
  return sum;
}

/**
 * x repeated reps[a] times along each axis a. One pass per tiled axis, innermost first: each block of the current
 * shape below that axis (`chunk` values) is written reps[a] times. Intermediates exist only when more than one
 * axis is tiled.
 */
function tile(args: KernelArgs): TensorInfo {
  const { x } = args.inputs as { x: TensorInfo };
  const { reps } = (args.attrs ?? {}) as { reps: number[] };
  if (x.dtype === 'string' || reps.length !== x.shape.length || reps.some((r) => !Number.isInteger(r) || r < 0)) {
    return runStock(Tile, args) as TensorInfo;
  }
  countKernel(FAST_TILE);
  const backend = args.backend as WasmBackendLike;
  const outShape = x.shape.map((d, a) => d * reps[a]);
  const out = backend.makeOutput(outShape, x.dtype);
  const o = backend.typedArrayFromHeap(out);
  if (o.length === 0) return out;
  let src: TypedArray = backend.typedArrayFromHeap(x);
  const shape = [...x.shape];
  const tiled = reps.map((r, a) => (r === 1 ? -1 : a)).filter((a) => a >= 0);
  if (tiled.length === 0) o.set(src);
  for (let t = tiled.length - 1; t >= 0; t--) {
    const a = tiled[t];
    const chunk = util.sizeFromShape(shape.slice(a));
    const outer = util.sizeFromShape(shape.slice(0, a));
    const rep = reps[a];
    const dst = t === 0 ? o : new (o.constructor as new (n: number) => TypedArray)(outer * chunk * rep);
    for (let b = 0; b < outer; b++) {
      const base = b * chunk * rep;
      if (chunk === 1) {
        dst.fill(src[b] as never, base, base + rep);
        continue;
      }
      const block = src.subarray(b * chunk, (b + 1) * chunk);
      for (let k = 0; k < rep; k++) dst.set(block, base + k * chunk);
    }
    shape[a] *= rep;
    src = dst;
  }
  return out;
}

const OURS: Record<string, (args: KernelArgs) => TensorInfo | TensorInfo[]> = {
  [Identity]: identity,
  [Cast]: cast,
  [SplitV]: splitV,
  [AddN]: addN,
  [Tile]: tile,
};

/** Our wasm configs for Identity, Cast, SplitV, AddN and Tile, wrapping the stock ones registered now; [] without wasm. */
export function wasmCopyKernelConfigs(): KernelConfig[] {
  return stock.configs(OURS);
}
