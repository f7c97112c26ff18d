/**
 * A propagation's layers and their mean (LightGCN eq. 8, α_k = 1/(L+1); CaMRec §4.2's X* over the gated graph) as
 * one op each way, for a model that also reads the layers themselves (CaMRec's edge mask reads e^(0..L−1)).
 * Composed, each was L products, an AddN, a RealDiv and, backward, a RealDiv and the tape's accumulating adds: about
 * 8 passes over [users + items, d] per propagation that the fused kernels do in L + 1.
 *
 * CamrecLayerPropagation (x; attributes sparseId, layers L) over a registered square Â: e^(0) = x,
 * e^(k) = Â·e^(k−1); outputs [mean, e^(0), …, e^(L−1)], mean = (((e^(0) + e^(1)) + …) + e^(L))/(L+1), and e^(0)
 * shares x's memory. CamrecLayerPropagationGrad (dMean, dLayer0 … dLayer{L−1}): g_L = dMean/(L+1),
 * g_k = (dLayer_k + dMean/(L+1)) + Âᵀ·g_{k+1}, ∂x = g_0.
 *
 * CamrecGatedLayerPropagation (x, gates [L, nGroups]; attribute structureId) over a gated structure
 * (gated-spmm.ts): c^(0) = x, c^(k) = A_{ρ_k}·c^(k−1) (ρ_k row k − 1 of gates); outputs [mean, c^(1), …, c^(L−1)], the inner layers kept for
 * the gradient (read by nothing else). CamrecGatedLayerPropagationGrad: g_L = dMean/(L+1),
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

/** Writes g_k = (dLayer + dMean/(L+1)) + m·g into out, or g_L = dMean/(L+1) when g is null. */
function layerStep(native: NativeKernels, m: HeapCsr, g: Float32Array | null, dLayer: Float32Array | null, dMean: Float32Array, divisor: number, d: number, out: Float32Array): void {
  if (g) nativeProduct(native, m, null, g, out, d);
  native.layerGradient(dLayer, dMean, divisor, g ? 1 : 0, out);
}

function layerPropagationKernel(io: KernelIo, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo[] {
  const x = inputs.x as TensorInfo;
  const layers = attrs.layers as number;
  const m = heapMatrix(attrs.sparseId as number, false);
  checkSquare(LAYER_PROPAGATION, m, x);
  const native = requireNative(LAYER_PROPAGATION);
  const [n, d] = x.shape;
  const shapes = Array.from({ length: layers }, () => [n, d]);
  const outs = io.outputs(shapes, ([mean, ...inner]) => {
    const xv = io.read(x) as Float32Array;
    const all = [xv, ...inner, mean]; // e^(L) is computed into the mean's buffer, then averaged in place
    for (let k = 1; k <= layers; k++) nativeProduct(native, m, null, all[k - 1], all[k], d);
    native.layerMean(all, layers + 1, mean);
  });
  return [outs[0], io.share(x), ...outs.slice(1)];
}

function layerPropagationGradKernel(io: KernelIo, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo {
  const layers = attrs.layers as number;
  const dMean = inputs.dMean as TensorInfo;
  const m = heapMatrix(attrs.sparseId as number, true);
  const native = requireNative(LAYER_PROPAGATION_GRAD);
  const [n, d] = dMean.shape;
  const { a, b } = scratchBuffers(n * d);
  return io.output([n, d], 'float32', (dx) => {
    const dm = io.read(dMean) as Float32Array;
    const dLayer = (k: number) => io.read(inputs[`dLayer${k}`] as TensorInfo) as Float32Array;
    let g: Float32Array | null = null;
    for (let k = layers; k >= 0; k--) {
      const out: Float32Array = k === 0 ? (dx as Float32Array) : g === a ? b : a;
      layerStep(native, m, g, k === layers ? null : dLayer(k), dm, layers + 1, d, out);
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
  return io.outputs(Array.from({ length: layers }, () => [n, d]), ([mean, ...inner]) => {
    const all = [io.read(x) as Float32Array, ...inner, mean]; // c^(L) is computed into the mean's buffer
    const rho = io.read(gates) as Float32Array;
    for (let k = 1; k <= layers; k++) nativeProduct(native, gatedMatrix(native, id, gateRow(rho, nGroups, k - 1), false), null, all[k - 1], all[k], d);
    native.layerMean(all, layers + 1, mean);
  });
}

function gatedLayerPropagationGradKernel(io: KernelIo, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo[] {
  const { dMean, x, gates } = inputs as { dMean: TensorInfo; x: TensorInfo; gates: TensorInfo };
  const id = attrs.structureId as number;
  const native = requireNative(GATED_LAYER_PROPAGATION_GRAD);
  const { s, sides } = gatedStructure(GATED_LAYER_PROPAGATION_GRAD, id);
  const [layers, nGroups] = gates.shape;
  const [n, d] = dMean.shape;
  const { a, b, products } = scratchBuffers(n * d, s.a.nnz);
  return io.outputs([[n, d], [layers, nGroups]], ([dx, dGates]) => {
    const dm = io.read(dMean) as Float32Array;
    const rho = io.read(gates) as Float32Array;
    const layer = (k: number) => io.read((k === 0 ? x : inputs[`layer${k}`]) as TensorInfo) as Float32Array;
    const { indptr, indices } = heapPattern(s.a);
    dGates.fill(0);
    let g: Float32Array | null = null;
    for (let k = layers; k >= 0; k--) {
      const out: Float32Array = k === 0 ? dx : g === a ? b : a;
      if (g) nativeProduct(native, gatedMatrix(native, id, gateRow(rho, nGroups, k), true), null, g, out, d);
      native.layerGradient(null, dm, layers + 1, g ? 1 : 0, out);
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

const asList = (dy: tf.Tensor | tf.Tensor[]) => (Array.isArray(dy) ? dy : [dy]);

export const layerPropagationGradient: GradConfig = {
  kernelName: LAYER_PROPAGATION,
  gradFunc: (dy, _saved, attrs) => {
    const [dMean, ...dLayers] = asList(dy);
    const named = Object.fromEntries(dLayers.map((t, k) => [`dLayer${k}`, t]));
    return { x: () => tf.engine().runKernel(LAYER_PROPAGATION_GRAD, { dMean, ...named }, attrs) as tf.Tensor };
  },
};

/** The gated op's inner layers c^(1) … c^(L−1) are its outputs 1 … L−1, saved for the gradient (at most 8 layers). */
const MAX_GATED_LAYERS = 8;

export const gatedLayerPropagationGradient: GradConfig = {
  kernelName: GATED_LAYER_PROPAGATION,
  inputsToSave: ['x', 'gates'],
  outputsToSave: Array.from({ length: MAX_GATED_LAYERS }, (_, k) => k > 0),
  gradFunc: (dy, saved, attrs) => {
    const [x, gates, ...inner] = saved;
    const named = Object.fromEntries(inner.map((t, k) => [`layer${k + 1}`, t]));
    const [dMean] = asList(dy);
    const [dx, dGates] = tf.engine().runKernel(GATED_LAYER_PROPAGATION_GRAD, { dMean, x, gates, ...named }, attrs) as tf.Tensor[];
    return { x: () => dx, gates: () => dGates };
  },
};

function ours(kernelName: string): boolean {
  return nativeKernels() !== null && tf.getKernel(kernelName, tf.getBackend()) !== undefined;
}

/**
 * [mean, e^(0), …, e^(L−1)] of the header over a registered square Â (L = layers ≥ 1); differentiable in x through
 * every output. Null where the op cannot run (no addon, a backend without our kernels).
 */
export function propagateLayers(h: SparseHandle, x: tf.Tensor2D, layers: number): tf.Tensor2D[] | null {
  if (!Number.isInteger(layers) || layers < 1) throw new RangeError(`${LAYER_PROPAGATION}: layers must be an integer ≥ 1, got ${layers}`);
  if (!ours(LAYER_PROPAGATION)) return null;
  return tf.engine().runKernel(LAYER_PROPAGATION, { x }, { sparseId: h.id, layers }) as tf.Tensor2D[];
}

/**
 * The mean of the header's gated layers, gates[k] [nGroups] gating the product that makes c^(k+1) (1 to 8 layers;
 * the op takes them stacked); differentiable in x and every gate. Null where the op cannot run.
 */
export function gatedPropagateLayers(h: GatedStructure, x: tf.Tensor2D, gates: readonly tf.Tensor1D[]): tf.Tensor2D | null {
  if (gates.length < 1 || gates.length > MAX_GATED_LAYERS) throw new RangeError(`${GATED_LAYER_PROPAGATION}: 1 to ${MAX_GATED_LAYERS} layers of gates, got ${gates.length}`);
  if (!ours(GATED_LAYER_PROPAGATION)) return null;
  return tf.tidy(() => {
    const outs = tf.engine().runKernel(GATED_LAYER_PROPAGATION, { x, gates: tf.stack(gates as tf.Tensor1D[]) }, { structureId: h.id }) as tf.Tensor2D[];
    return outs[0]; // the inner layers live on as the tape's saved copies
  });
}
