/**
 * CaMRec's edge-mask MLP as one registered op (DESIGN.md §4; CaMRec §4.2, the retention logits of the front-door
 * adjustment): for every edge e = (u_e, i_e) of a user-major edge list,
 *   ω_e = b_o + Σ_j w_o[j]·ReLU(a[u_e, j] + b[i_e, j] + b_1[j]),
 * with a = E_U W_a [U, H] and b = E_I W_b [I, H] the factored first layer. No [edges, H] tensor is formed.
 *
 * CamrecEdgeMlp (inputs a, b, bias [1, H], out [H, 1], outBias [1, 1]) → ω [E]; its gradient is one call of
 * CamrecEdgeMlpGrad, which returns all five: with v = a[u_e] + b[i_e] + b_1 and t_e = g_e·w_o ⊙ [v > 0],
 *   ∂a[u] = Σ_{e of u} t_e,  ∂b[i] = Σ_{e of i} t_e,  ∂b_1 = Σ_u ∂a[u],  ∂w_o = Σ_e g_e·ReLU(v_e),  ∂b_o = Σ_e g_e.
 * Both run as wasm SIMD row kernels (row-kernels.ts) on the pool over the shared heap. The forward splits users
 * into blocks of about equal edges. The backward gives each thread one block of users (edges are user-major, so
 * ∂a rows are written by one thread) and its own partial [I, H] buffer for ∂b, summed afterwards; ∂w_o and ∂b_1
 * are per-block partials summed here. So ω and ∂a do not depend on the thread count at all, and ∂b, ∂w_o, ∂b_1
 * only through the float32 order of summing the blocks' partials. O(E·H + (U + T·I)·H) for T threads.
 */
import * as tf from '@tensorflow/tfjs';
import type { GradConfig, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import { Scratch, sharedHeap } from '../heap.js';
import { balancedRowBounds } from '../jobs.js';
import { computePool, nativeKernels } from '../pool.js';
import { type EdgeList, edgeMlpBackward, edgeMlpForward } from './edge-mlp-ref.js';
import { type KernelImpl, type KernelIo, expectFloat, kernelConfigs } from './io.js';
import { CHUNKS_PER_THREAD, MIN_PARALLEL_WORK } from './spmm.js';

export const EDGE_MLP = 'CamrecEdgeMlp';
export const EDGE_MLP_GRAD = 'CamrecEdgeMlpGrad';

/** An edge list in the shared heap: CSR over users (indptr of nUsers + 1 = max user + 2 entries) and the items. */
interface HeapEdges {
  readonly nUsers: number;
  readonly nEdges: number;
  /** The largest item index, or −1 without edges. */
  readonly maxItem: number;
  readonly indptr: number;
  readonly items: number;
}

const registered = new Map<number, HeapEdges>();
const ids = new WeakMap<EdgeList, number>();
const collected = new FinalizationRegistry<number>((id) => releaseId(id));
let nextId = 1;
let nextCallId = 1;

/** Throws unless users and items have equal length, indices are ≥ 0, and users never decrease (user-major). */
function validateEdges(edges: EdgeList): void {
  const { users, items } = edges;
  if (users.length !== items.length) throw new RangeError(`${EDGE_MLP}: ${users.length} users but ${items.length} items`);
  for (let e = 0; e < users.length; e++) {
    if (users[e] < 0 || items[e] < 0) throw new RangeError(`${EDGE_MLP}: negative index at edge ${e}`);
    if (e > 0 && users[e] < users[e - 1]) {
      throw new RangeError(`${EDGE_MLP}: edges must be user-major; user ${users[e]} at edge ${e} follows user ${users[e - 1]}`);
    }
  }
}

function registerEdges(edges: EdgeList): number {
  validateEdges(edges);
  const nEdges = edges.users.length;
  const nUsers = nEdges === 0 ? 0 : edges.users[nEdges - 1] + 1;
  const indptr = new Int32Array(nUsers + 1);
  for (let e = 0; e < nEdges; e++) indptr[edges.users[e] + 1]++;
  for (let u = 0; u < nUsers; u++) indptr[u + 1] += indptr[u];
  const heap = sharedHeap();
  const id = nextId++;
  const maxItem = edges.items.reduce((m, i) => Math.max(m, i), -1);
  registered.set(id, { nUsers, nEdges, maxItem, indptr: heap.put(indptr), items: heap.put(edges.items) });
  ids.set(edges, id);
  collected.register(edges, id, edges);
  return id;
}

function releaseId(id: number): void {
  const entry = registered.get(id);
  if (!entry) return;
  registered.delete(id);
  sharedHeap().release(entry.indptr);
  sharedHeap().release(entry.items);
}

/**
 * The heap copy of `edges`, made on first use (validated: user-major) and kept until `releaseEdgeList` or until
 * the list is garbage-collected. The arrays must not change afterwards.
 */
function edgeListId(edges: EdgeList): number {
  return ids.get(edges) ?? registerEdges(edges);
}

/** Frees the heap copy of `edges` now (a later edgeMlp call copies it again). Harmless if there is none. */
export function releaseEdgeList(edges: EdgeList): void {
  const id = ids.get(edges);
  if (id === undefined) return;
  ids.delete(edges);
  collected.unregister(edges);
  releaseId(id);
}

function heapEdges(kernelName: string, id: number): HeapEdges {
  const entry = registered.get(id);
  if (!entry) throw new Error(`${kernelName}: edge list ${id} is not registered (released?)`);
  return entry;
}

function expectShape(kernelName: string, what: string, t: TensorInfo, shape: number[]): void {
  expectFloat(kernelName, what, t, shape.length);
  if (t.shape.some((n, k) => n !== shape[k])) {
    throw new RangeError(`${kernelName}: ${what} must have shape [${shape.join(', ')}], got [${t.shape.join(', ')}]`);
  }
}

/** Throws a clear error unless a [≥ users, H], b [> max item, H], bias [1, H], out [H, 1], outBias [1, 1]. */
function checkInputs(kernelName: string, s: HeapEdges, inputs: NamedTensorInfoMap): void {
  const { a, b, bias, out, outBias } = inputs as Record<string, TensorInfo>;
  expectFloat(kernelName, 'a', a, 2);
  expectFloat(kernelName, 'b', b, 2);
  const h = a.shape[1];
  if (b.shape[1] !== h) throw new RangeError(`${kernelName}: a and b differ in width (${h} and ${b.shape[1]})`);
  if (a.shape[0] < s.nUsers) throw new RangeError(`${kernelName}: a has ${a.shape[0]} rows, the edges reach user ${s.nUsers - 1}`);
  if (b.shape[0] <= s.maxItem) throw new RangeError(`${kernelName}: b has ${b.shape[0]} rows, the edges reach item ${s.maxItem}`);
  expectShape(kernelName, 'bias', bias, [1, h]);
  expectShape(kernelName, 'out', out, [h, 1]);
  if (outBias) expectShape(kernelName, 'outBias', outBias, [1, 1]);
}

/** Scratch blocks shared by both kernels (one kernel runs at a time). */
const SCRATCH = ['bias', 'wo', 'g', 'omega', 'ga', 'gb', 'sums', 'chunks'] as const;
let scratch: Record<(typeof SCRATCH)[number], Scratch> | undefined;

function scratchBlocks(): Record<(typeof SCRATCH)[number], Scratch> {
  const heap = sharedHeap();
  scratch ??= Object.fromEntries(SCRATCH.map((k) => [k, new Scratch(heap)])) as Record<(typeof SCRATCH)[number], Scratch>;
  return scratch;
}

/** Copies `values` into the scratch block and returns its offset. */
function copyIn(block: Scratch, values: Float32Array | Int32Array): number {
  const ptr = block.ensure(values.byteLength);
  (values instanceof Int32Array ? sharedHeap().i32(ptr, values.length) : sharedHeap().f32(ptr, values.length)).set(values);
  return ptr;
}

function parallelFor(nEdges: number, h: number): boolean {
  return computePool().threads > 1 && nEdges * Math.max(h, 1) >= MIN_PARALLEL_WORK;
}

/**
 * Heap copies of a and b by the forward call that made them (attribute callId), so that its gradient, which
 * tfjs hands clones of the saved inputs (new data ids, same values), skips copying them again. Only a cache:
 * the last few calls are kept (a step's layers interleave), and a gradient whose copies were reused copies
 * from its saved inputs.
 */
const KEPT_CALLS = 4;
const copies: { callId: number; a: Scratch; b: Scratch; ptrs: [number, number] }[] = [];

/** Offsets of a and b in the heap: the copies of call `callId` if kept, else new ones (kept for `callId`). */
function inputCopies(io: KernelIo, inputs: NamedTensorInfoMap, callId: number | undefined): [number, number] {
  const kept = callId === undefined ? undefined : copies.find((c) => c.callId === callId);
  if (kept) return kept.ptrs;
  const reused = copies.length >= KEPT_CALLS ? copies.shift() : undefined;
  const heap = sharedHeap();
  const [a, b] = reused ? [reused.a, reused.b] : [new Scratch(heap), new Scratch(heap)];
  const ptrs: [number, number] = [copyIn(a, io.read(inputs.a as TensorInfo) as Float32Array), copyIn(b, io.read(inputs.b as TensorInfo) as Float32Array)];
  copies.push({ callId: callId ?? 0, a, b, ptrs });
  return ptrs;
}

/** Offsets of a, b, b_1 and w_o in the heap. */
function loadWeights(io: KernelIo, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): [number, number, number, number] {
  const blocks = scratchBlocks();
  const [as, bs] = inputCopies(io, inputs, attrs.callId as number | undefined);
  return [as, bs, copyIn(blocks.bias, io.read(inputs.bias as TensorInfo) as Float32Array), copyIn(blocks.wo, io.read(inputs.out as TensorInfo) as Float32Array)];
}

/** Views of the edge CSR in the shared heap, for the native kernels. */
function edgeViews(s: HeapEdges): [Int32Array, Int32Array] {
  const heap = sharedHeap();
  return [heap.i32(s.indptr, s.nUsers + 1), heap.i32(s.items, s.nEdges)];
}

function edgeMlpKernel(io: KernelIo, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo {
  const s = heapEdges(EDGE_MLP, attrs.edgesId as number);
  checkInputs(EDGE_MLP, s, inputs);
  const h = (inputs.a as TensorInfo).shape[1];
  const outBias = io.read(inputs.outBias as TensorInfo)[0];
  const native = nativeKernels();
  if (native) {
    const threads = parallelFor(s.nEdges, h) ? computePool().threads : 1;
    const [a, b, bias, out] = ['a', 'b', 'bias', 'out'].map((k) => inputs[k] as TensorInfo);
    return io.output([s.nEdges], 'float32', (omega) => {
      const read = (t: TensorInfo) => io.read(t) as Float32Array;
      native.edgeMlp(...edgeViews(s), read(a), read(b), read(bias), read(out), outBias, omega as Float32Array, threads);
    });
  }
  const [as, bs, bias, wo] = loadWeights(io, inputs, attrs);
  const heap = sharedHeap();
  const omega = scratchBlocks().omega.ensure(s.nEdges * 4);
  const parts = parallelFor(s.nEdges, h) ? computePool().threads * CHUNKS_PER_THREAD : 1;
  const bounds = balancedRowBounds(heap.i32(s.indptr, s.nUsers + 1), s.nUsers, parts);
  computePool().runSync('edgeMlp', [s.indptr, s.items, as, bs, bias, wo, omega, h, outBias], bounds);
  return io.output([s.nEdges], 'float32', (out) => out.set(heap.f32(omega, s.nEdges)));
}

/** [0, ⌊n/parts⌋, …, n] without repeats: `parts` blocks of about equal rows. */
function evenBounds(n: number, parts: number): number[] {
  const bounds = Array.from({ length: parts + 1 }, (_, k) => Math.round((k * n) / parts));
  return bounds.filter((b, k) => k === 0 || b > bounds[k - 1]);
}

/** Σ_c of `count` float32 rows of width w at `ptr` (stride 2w: [gOut_c; gBias_c]), from offset `from`, in float64. */
function sumPartials(ptr: number, count: number, w: number, from: number): Float32Array {
  const sums = sharedHeap().f32(ptr, count * 2 * w);
  const total = new Float64Array(w);
  for (let c = 0; c < count; c++) for (let j = 0; j < w; j++) total[j] += sums[c * 2 * w + from + j];
  return Float32Array.from(total);
}

function edgeMlpGradKernel(io: KernelIo, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo[] {
  const s = heapEdges(EDGE_MLP_GRAD, attrs.edgesId as number);
  checkInputs(EDGE_MLP_GRAD, s, inputs);
  const [a, b, dy] = [inputs.a, inputs.b, inputs.dy] as TensorInfo[];
  expectShape(EDGE_MLP_GRAD, 'dy', dy, [s.nEdges]);
  const [nItems, h] = b.shape;
  const native = nativeKernels();
  if (native) {
    const threads = parallelFor(s.nEdges, h) ? computePool().threads : 1;
    const [bias, out] = [inputs.bias, inputs.out] as TensorInfo[];
    return io.outputs([a.shape, b.shape, [1, h], [h, 1], [1, 1]], ([ga, gb, gBias, gOut, gOutBias]) => {
      const read = (t: TensorInfo) => io.read(t) as Float32Array;
      native.edgeMlpGrad(...edgeViews(s), read(a), read(b), read(bias), read(out), read(dy), ga, gb, gBias, gOut, gOutBias, threads);
    });
  }
  const heap = sharedHeap();
  const blocks = scratchBlocks();
  const pool = computePool();
  const g = io.read(dy) as Float32Array;
  let gOutBias = 0;
  for (let e = 0; e < g.length; e++) gOutBias += g[e];
  const gs = copyIn(blocks.g, g);
  const [as, bs, bias, wo] = loadWeights(io, inputs, attrs);
  // One block of users per thread, each with its partial ∂b rows (see the header).
  const chunkUsers = balancedRowBounds(heap.i32(s.indptr, s.nUsers + 1), s.nUsers, parallelFor(s.nEdges, h) ? pool.threads : 1);
  const chunks = chunkUsers.length - 1;
  const chunkPtr = copyIn(blocks.chunks, Int32Array.from(chunkUsers));
  const partialBytes = nItems * h * 4;
  const ga = blocks.ga.ensure(s.nUsers * h * 4);
  const gb = blocks.gb.ensure(chunks * partialBytes);
  const sums = blocks.sums.ensure(chunks * 2 * h * 4);
  const args = [s.indptr, s.items, as, bs, bias, wo, gs, ga, gb, sums, h, nItems, chunkPtr];
  pool.runSync('edgeMlpGrad', args, Array.from({ length: chunks + 1 }, (_, c) => c));
  const itemBounds = evenBounds(nItems, parallelFor(nItems, h) ? pool.threads * CHUNKS_PER_THREAD : 1);
  for (let c = 1; c < chunks; c++) pool.runSync('addRows', [gb, gb + c * partialBytes, h], itemBounds);
  const gOut = sumPartials(sums, chunks, h, 0);
  const gBias = sumPartials(sums, chunks, h, h);
  const userValues = s.nUsers * h;
  return [
    io.output(a.shape, 'float32', (out) => {
      out.set(heap.f32(ga, userValues));
      out.fill(0, userValues);
    }),
    io.output(b.shape, 'float32', (out) => (chunks === 0 ? out.fill(0) : out.set(heap.f32(gb, nItems * h)))),
    io.output([1, h], 'float32', (out) => out.set(gBias)),
    io.output([h, 1], 'float32', (out) => out.set(gOut)),
    io.output([1, 1], 'float32', (out) => out.set([gOutBias])),
  ];
}

export const edgeMlpKernels = [
  ...kernelConfigs(EDGE_MLP, edgeMlpKernel),
  // A kernel may return several outputs (tfjs: TensorInfo[]); kernelConfigs passes the result through as is.
  ...kernelConfigs(EDGE_MLP_GRAD, edgeMlpGradKernel as unknown as KernelImpl),
];

/** All five gradients from one CamrecEdgeMlpGrad call. */
export const edgeMlpGradient: GradConfig = {
  kernelName: EDGE_MLP,
  inputsToSave: ['a', 'b', 'bias', 'out'],
  gradFunc: (dy, saved, attrs) => {
    const [a, b, bias, out] = saved;
    const grads = tf.engine().runKernel(EDGE_MLP_GRAD, { dy: dy as tf.Tensor, a, b, bias, out }, attrs) as tf.Tensor[];
    const [ga, gb, gBias, gOut, gOutBias] = grads;
    return { a: () => ga, b: () => gb, bias: () => gBias, out: () => gOut, outBias: () => gOutBias };
  },
};

type CustomGradFn = Parameters<typeof tf.customGrad>[0];

/**
 * The same op in plain TypeScript (the references, read back through dataSync) under tf.customGrad, for
 * backends where our kernels are not registered (tensorflow).
 */
export function edgeMlpComposite(
  a: tf.Tensor2D,
  b: tf.Tensor2D,
  bias: tf.Tensor2D,
  out: tf.Tensor2D,
  outBias: tf.Tensor2D,
  edges: EdgeList,
): tf.Tensor1D {
  const op = tf.customGrad(((ta: tf.Tensor, tb: tf.Tensor, tBias: tf.Tensor, tOut: tf.Tensor, tOutBias: tf.Tensor) => {
    const [av, bv, biasV, outV] = [ta, tb, tBias, tOut].map((t) => t.dataSync() as Float32Array);
    const omega = edgeMlpForward(av, bv, biasV, outV, tOutBias.dataSync()[0], edges);
    return {
      value: tf.tensor1d(omega),
      gradFunc: (dy: tf.Tensor) => {
        const gr = edgeMlpBackward(dy.dataSync() as Float32Array, av, bv, biasV, outV, edges);
        return [
          tf.tensor2d(gr.a, ta.shape as [number, number]),
          tf.tensor2d(gr.b, tb.shape as [number, number]),
          tf.tensor2d(gr.bias, tBias.shape as [number, number]),
          tf.tensor2d(gr.out, tOut.shape as [number, number]),
          tf.tensor2d([gr.outBias], [1, 1]),
        ];
      },
    };
  }) as unknown as CustomGradFn) as (...xs: tf.Tensor[]) => tf.Tensor;
  return op(a, b, bias, out, outBias) as tf.Tensor1D;
}

/**
 * ω_e = b_o + Σ_j w_o[j]·ReLU(a[u_e, j] + b[i_e, j] + b_1[j]) for every edge e of `edges` (user-major), [E];
 * differentiable in all five tensors. bias is [1, H], out [H, 1], outBias [1, 1].
 */
export function edgeMlp(
  a: tf.Tensor2D,
  b: tf.Tensor2D,
  bias: tf.Tensor2D,
  out: tf.Tensor2D,
  outBias: tf.Tensor2D,
  edges: EdgeList,
): tf.Tensor1D {
  const edgesId = edgeListId(edges);
  checkInputs(EDGE_MLP, heapEdges(EDGE_MLP, edgesId), { a, b, bias, out, outBias });
  if (tf.getKernel(EDGE_MLP, tf.getBackend()) === undefined) return edgeMlpComposite(a, b, bias, out, outBias, edges);
  return tf.engine().runKernel(EDGE_MLP, { a, b, bias, out, outBias }, { edgesId, callId: nextCallId++ }) as tf.Tensor1D;
}
