/**
 * A propagation's layers and their mean (LightGCN eq. 8, α_k = 1/(L+1); CaMRec §4.2's X* over the gated graph) as
 * one op each way, for a model that also reads the layers themselves (CaMRec's edge mask reads e^(0..L−1)).
 * Composed, each was L products, an AddN, a RealDiv and, backward, a RealDiv and the tape's accumulating adds: about
 * 8 passes over [users + items, d] per propagation that the fused kernels do in L + 1.
 *
 * CamrecLayerPropagation (x; attributes sparseId, layers L, headRows) over a registered square Â: e^(0) = x,
 * e^(k) = Â·e^(k−1); outputs [mean's first headRows rows, the rest, e^(0), …, e^(L−1)], mean = (((e^(0) + e^(1)) +
 * …) + e^(L))/(L+1) (two blocks: CaMRec's users and items, without a split forward and a concat backward), and
 * e^(0) shares x's memory. CamrecLayerPropagationGrad (dHead, dTail, dLayer0 … dLayer{L−1}): with dMean the two
 * blocks, g_L = dMean/(L+1), g_k = (dLayer_k + dMean/(L+1)) + Âᵀ·g_{k+1}, ∂x = g_0.
 *
 * CamrecGatedLayerPropagation (x, gates [L, nGroups]; attributes structureId, headRows) over a gated structure
 * (gated-spmm.ts): c^(0) = x, c^(k) = A_{ρ_k}·c^(k−1) (ρ_k row k − 1 of gates); outputs [the mean's two blocks,
 * c^(1), …, c^(L−1)], the inner layers kept for the gradient (read by nothing else). CamrecGatedLayerPropagationGrad: g_L = dMean/(L+1),
 * g_k = dMean/(L+1) + A_{ρ_{k+1}}ᵀ·g_{k+1}, ∂ρ_k = gatedSddmm(g_k, c^(k−1)) (indices from 1), ∂x = g_0.
 *
 * The bits are those of the composed ops (tested): the same products (native spmm, gatherScaled, sddmm,
 * scatterScaled), the mean as AddN's chain and RealDiv, and each layer's gradient summed in the order the tape
 * sums it. The tape adds a tensor's gradients as (earlier sum) + (next), walking its readers from the last recorded:
 * for e^(k), k ≥ 1, they are the next product, the mean and the edge mask, so (dLayer_k + dMean/(L+1)) + Âᵀ·g; for
 * e^(0) the readers outside the op (the edge mask and the gated propagation, recorded after it) read the e^(0)
 * output, so the tape hands their sum in as dLayer_0, as it summed it before adding the mean's and the product's
 * parts. A gated layer is read by the next product and the mean only. Both ops need the native addon:
 * `propagateLayers` and `gatedPropagateLayers` answer null without it (the model composes spmm and gatedSpmm).
 */
import * as tf from '@tensorflow/tfjs';
import type { GradConfig, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import { Scratch, sharedHeap } from '../heap.js';
import type { NativeKernels } from '../native.js';
import { nativeKernels } from '../pool.js';
import { type GatedStructure, gatedStructure } from './gated-spmm.js';
import { type KernelImpl, type KernelIo, expectFloat, kernelConfigs } from './io.js';
import { type HeapCsr, heapMatrix, heapPattern, nativeProduct, productThreads, type SparseHandle } from './spmm.js';

export const LAYER_PROPAGATION = 'CamrecLayerPropagation';
export const LAYER_PROPAGATION_GRAD = 'CamrecLayerPropagationGrad';
export const GATED_LAYER_PROPAGATION = 'CamrecGatedLayerPropagation';
export const GATED_LAYER_PROPAGATION_GRAD = 'CamrecGatedLayerPropagationGrad';

function requireNative(kernelName: string): NativeKernels {
  const native = nativeKernels();
  if (!native) throw new Error(`${kernelName}: needs the native addon (the model composes spmm without it)`);
  return native;
}

/** The backward's two [rows, d] buffers for g_k and one of nnz for entry products, in the shared heap, reused. */
let scratch: Scratch[] | undefined;

function scratchBuffers(size: number, nnz = 0): { a: Float32Array; b: Float32Array; products: Float32Array } {
  const heap = sharedHeap();
  const buffers = (scratch ??= [new Scratch(heap), new Scratch(heap), new Scratch(heap)]);
  const offsets = [size, size, nnz].map((count, k) => buffers[k].ensure(count * 4)); // every offset before any view
  return { a: heap.f32(offsets[0], size), b: heap.f32(offsets[1], size), products: heap.f32(offsets[2], nnz) };
}

function checkSquare(kernelName: string, m: HeapCsr, x: TensorInfo): void {
  expectFloat(kernelName, 'x', x, 2);
  if (m.nRows !== m.nCols) throw new RangeError(`${kernelName}: the matrix must be square, got ${m.nRows}×${m.nCols}`);
  if (x.shape[0] !== m.nCols) throw new RangeError(`${kernelName}: x has ${x.shape[0]} rows, the matrix ${m.nCols}`);
}

/** The mean's two row blocks, [0, headRows) and the rest, as views of a [n, d] array or as its outputs. */
interface Blocks {
  head: Float32Array;
  tail: Float32Array;
}

const split = (a: Float32Array, headRows: number, d: number): Blocks => ({ head: a.subarray(0, headRows * d), tail: a.subarray(headRows * d) });

/** mean = (((l_0 + l_1) + …) + l_L)/(L+1), written block by block. */
function layerMean(native: NativeKernels, all: Float32Array[], mean: Blocks, headRows: number, d: number): void {
  const parts = all.map((l) => split(l, headRows, d));
  native.layerMean(parts.map((p) => p.head), all.length, mean.head);
  native.layerMean(parts.map((p) => p.tail), all.length, mean.tail);
}

/** out = (dLayer + dMean/(L+1)) [+ out], block by block. */
function layerGradient(native: NativeKernels, dLayer: Float32Array | null, dMean: Blocks, divisor: number, accumulate: boolean, headRows: number, d: number, out: Float32Array): void {
  const o = split(out, headRows, d);
  const l = dLayer ? split(dLayer, headRows, d) : null;
  native.layerGradient(l?.head ?? null, dMean.head, divisor, accumulate ? 1 : 0, o.head);
  native.layerGradient(l?.tail ?? null, dMean.tail, divisor, accumulate ? 1 : 0, o.tail);
}

function meanShapes(kernelName: string, n: number, d: number, headRows: number): number[][] {
  if (!(Number.isInteger(headRows) && headRows >= 0 && headRows <= n)) throw new RangeError(`${kernelName}: headRows must be an integer in [0, ${n}], got ${headRows}`);
  return [[headRows, d], [n - headRows, d]];
}

function layerPropagationKernel(io: KernelIo, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo[] {
  const x = inputs.x as TensorInfo;
  const layers = attrs.layers as number;
  const headRows = attrs.headRows as number;
  const m = heapMatrix(attrs.sparseId as number, false);
  checkSquare(LAYER_PROPAGATION, m, x);
  const native = requireNative(LAYER_PROPAGATION);
  const [n, d] = x.shape;
  const { a: last } = scratchBuffers(n * d); // e^(L), read by the mean only
  const shapes = [...meanShapes(LAYER_PROPAGATION, n, d, headRows), ...Array.from({ length: layers - 1 }, () => [n, d])];
  const outs = io.outputs(shapes, ([head, tail, ...inner]) => {
    const all = [io.read(x) as Float32Array, ...inner, last];
    for (let k = 1; k <= layers; k++) nativeProduct(native, m, null, all[k - 1], all[k], d);
    layerMean(native, all, { head, tail }, headRows, d);
  });
  return [outs[0], outs[1], io.share(x), ...outs.slice(2)];
}

function layerPropagationGradKernel(io: KernelIo, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo {
  const layers = attrs.layers as number;
  const headRows = attrs.headRows as number;
  const m = heapMatrix(attrs.sparseId as number, true);
  const native = requireNative(LAYER_PROPAGATION_GRAD);
  const n = m.nRows;
  const d = (inputs.dLayer0 as TensorInfo).shape[1];
  const { a, b } = scratchBuffers(n * d);
  return io.output([n, d], 'float32', (dx) => {
    const dMean = { head: io.read(inputs.dHead as TensorInfo) as Float32Array, tail: io.read(inputs.dTail as TensorInfo) as Float32Array };
    const dLayer = (k: number) => io.read(inputs[`dLayer${k}`] as TensorInfo) as Float32Array;
    let g: Float32Array | null = null;
    for (let k = layers; k >= 0; k--) {
      const out: Float32Array = k === 0 ? (dx as Float32Array) : g === a ? b : a;
      if (g) nativeProduct(native, m, null, g, out, d);
      layerGradient(native, k === layers ? null : dLayer(k), dMean, layers + 1, g !== null, headRows, d, out);
      g = out;
    }
  });
}

/** The per-entry weights â_p·ρ_{g(p)} of one orientation, formed in its heap weight buffer. */
function gatedMatrix(native: NativeKernels, id: number, gates: Float32Array, transpose: boolean): HeapCsr {
  const { s, sides } = gatedStructure(GATED_LAYER_PROPAGATION, id);
  const m = transpose ? s.at : s.a;
  const { base, groups } = transpose ? sides.at : sides.a;
  native.gatherScaled(gates, groups, base, sharedHeap().f32(m.values, m.nnz));
  return m;
}

/** Row k of the [L, nGroups] gates: the gates of the product that makes c^(k+1). */
const gateRow = (gates: Float32Array, nGroups: number, k: number) => gates.subarray(k * nGroups, (k + 1) * nGroups);

function gatedLayerPropagationKernel(io: KernelIo, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo[] {
  const { x, gates } = inputs as { x: TensorInfo; gates: TensorInfo };
  const id = attrs.structureId as number;
  const { s, sides } = gatedStructure(GATED_LAYER_PROPAGATION, id);
  checkSquare(GATED_LAYER_PROPAGATION, s.a, x);
  expectFloat(GATED_LAYER_PROPAGATION, 'gates', gates, 2);
  const [layers, nGroups] = gates.shape;
  if (nGroups !== sides.nGroups) throw new RangeError(`${GATED_LAYER_PROPAGATION}: ${nGroups} gates per layer for ${sides.nGroups} groups`);
  const native = requireNative(GATED_LAYER_PROPAGATION);
  const [n, d] = x.shape;
  const headRows = attrs.headRows as number;
  const { a: last } = scratchBuffers(n * d); // c^(L), read by the mean only
  const shapes = [...meanShapes(GATED_LAYER_PROPAGATION, n, d, headRows), ...Array.from({ length: layers - 1 }, () => [n, d])];
  return io.outputs(shapes, ([head, tail, ...inner]) => {
    const all = [io.read(x) as Float32Array, ...inner, last];
    const rho = io.read(gates) as Float32Array;
    for (let k = 1; k <= layers; k++) nativeProduct(native, gatedMatrix(native, id, gateRow(rho, nGroups, k - 1), false), null, all[k - 1], all[k], d);
    layerMean(native, all, { head, tail }, headRows, d);
  });
}

function gatedLayerPropagationGradKernel(io: KernelIo, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo[] {
  const { dHead, dTail, x, gates } = inputs as { dHead: TensorInfo; dTail: TensorInfo; x: TensorInfo; gates: TensorInfo };
  const headRows = attrs.headRows as number;
  const id = attrs.structureId as number;
  const native = requireNative(GATED_LAYER_PROPAGATION_GRAD);
  const { s, sides } = gatedStructure(GATED_LAYER_PROPAGATION_GRAD, id);
  const [layers, nGroups] = gates.shape;
  const [n, d] = x.shape;
  const { a, b, products } = scratchBuffers(n * d, s.a.nnz);
  return io.outputs([[n, d], [layers, nGroups]], ([dx, dGates]) => {
    const dMean = { head: io.read(dHead) as Float32Array, tail: io.read(dTail) as Float32Array };
    const rho = io.read(gates) as Float32Array;
    const layer = (k: number) => io.read((k === 0 ? x : inputs[`layer${k}`]) as TensorInfo) as Float32Array;
    const { indptr, indices } = heapPattern(s.a);
    dGates.fill(0);
    let g: Float32Array | null = null;
    for (let k = layers; k >= 0; k--) {
      const out: Float32Array = k === 0 ? dx : g === a ? b : a;
      if (g) nativeProduct(native, gatedMatrix(native, id, gateRow(rho, nGroups, k), true), null, g, out, d);
      layerGradient(native, null, dMean, layers + 1, g !== null, headRows, d, out);
      if (k > 0) {
        // ∂ρ of the product that made c^(k): Σ_{p in group} â_p·⟨g_k[row p], c^(k−1)[col p]⟩, as CamrecGatedSddmm
        native.sddmm(indptr, indices, out, layer(k - 1), d, products, 0, s.a.nRows, productThreads(s.a.nnz, d));
        native.scatterScaled(products, sides.a.groups, sides.a.base, gateRow(dGates, nGroups, k - 1));
      }
      g = out;
    }
  });
}

export const layerPropagationKernels = [
  ...kernelConfigs(LAYER_PROPAGATION, layerPropagationKernel as unknown as KernelImpl),
  ...kernelConfigs(LAYER_PROPAGATION_GRAD, layerPropagationGradKernel),
  ...kernelConfigs(GATED_LAYER_PROPAGATION, gatedLayerPropagationKernel as unknown as KernelImpl),
  ...kernelConfigs(GATED_LAYER_PROPAGATION_GRAD, gatedLayerPropagationGradKernel as unknown as KernelImpl),
];

export const layerPropagationGradient: GradConfig = {
  kernelName: LAYER_PROPAGATION,
  gradFunc: (dy, _saved, attrs) => {
    const [dHead, dTail, ...dLayers] = dy as tf.Tensor[];
    const named = Object.fromEntries(dLayers.map((t, k) => [`dLayer${k}`, t]));
    return { x: () => tf.engine().runKernel(LAYER_PROPAGATION_GRAD, { dHead, dTail, ...named }, attrs) as tf.Tensor };
  },
};

/** The gated op's inner layers c^(1) … c^(L−1) are its outputs 2 … L, saved for the gradient (at most 8 layers). */
const MAX_GATED_LAYERS = 8;

export const gatedLayerPropagationGradient: GradConfig = {
  kernelName: GATED_LAYER_PROPAGATION,
  inputsToSave: ['x', 'gates'],
  outputsToSave: Array.from({ length: MAX_GATED_LAYERS + 1 }, (_, k) => k > 1),
  gradFunc: (dy, saved, attrs) => {
    const [x, gates, ...inner] = saved;
    const named = Object.fromEntries(inner.map((t, k) => [`layer${k + 1}`, t]));
    const [dHead, dTail] = dy as tf.Tensor[];
    const [dx, dGates] = tf.engine().runKernel(GATED_LAYER_PROPAGATION_GRAD, { dHead, dTail, x, gates, ...named }, attrs) as tf.Tensor[];
    return { x: () => dx, gates: () => dGates };
  },
};

function ours(kernelName: string): boolean {
  return nativeKernels() !== null && tf.getKernel(kernelName, tf.getBackend()) !== undefined;
}

/** The propagation's layer mean in two row blocks (CaMRec's users and items). */
export type MeanBlocks = [head: tf.Tensor2D, tail: tf.Tensor2D];

/**
 * The header's backbone over a registered square Â (L = layers ≥ 1): the mean in two blocks at `headRows` and the
 * layers e^(0), …, e^(L−1); differentiable in x through every output. Null where the op cannot run (no addon, a
 * backend without our kernels).
 */
export function propagateLayers(h: SparseHandle, x: tf.Tensor2D, layers: number, headRows: number): { mean: MeanBlocks; layers: tf.Tensor2D[] } | null {
  if (!Number.isInteger(layers) || layers < 1) throw new RangeError(`${LAYER_PROPAGATION}: layers must be an integer ≥ 1, got ${layers}`);
  if (!ours(LAYER_PROPAGATION)) return null;
  const [head, tail, ...rest] = tf.engine().runKernel(LAYER_PROPAGATION, { x }, { sparseId: h.id, layers, headRows }) as tf.Tensor2D[];
  return { mean: [head, tail], layers: rest };
}

/**
 * The mean of the header's gated layers in two blocks at `headRows`, gates[k] [nGroups] gating the product that
 * makes c^(k+1) (1 to 8 layers; the op takes them stacked); differentiable in x and every gate. Null where the op
 * cannot run.
 */
export function gatedPropagateLayers(h: GatedStructure, x: tf.Tensor2D, gates: readonly tf.Tensor1D[], headRows: number): MeanBlocks | null {
  if (gates.length < 1 || gates.length > MAX_GATED_LAYERS) throw new RangeError(`${GATED_LAYER_PROPAGATION}: 1 to ${MAX_GATED_LAYERS} layers of gates, got ${gates.length}`);
  if (!ours(GATED_LAYER_PROPAGATION)) return null;
  return tf.tidy(() => {
    const outs = tf.engine().runKernel(GATED_LAYER_PROPAGATION, { x, gates: tf.stack(gates as tf.Tensor1D[]) }, { structureId: h.id, headRows }) as tf.Tensor2D[];
    return [outs[0], outs[1]] as MeanBlocks; // the inner layers live on as the tape's saved copies
  });
}
