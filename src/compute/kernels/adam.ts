/**
 * Dense Adam over whole tables that live in the shared heap: the update of optimizer.ts's adamRows in float32,
 * as a wasm SIMD row kernel split over the pool's threads. LocalParamStore uses it when a step updates every
 * row of a table (LightGCN's full-graph steps), where the JavaScript loop costs tens of ms per step.
 */
import { Scratch, sharedHeap } from '../heap.js';
import { computePool } from '../pool.js';

export interface HeapTable {
  readonly values: number; // byte offsets in the shared heap
  readonly m: number;
  readonly v: number;
  readonly rows: number;
  readonly dim: number;
}

export interface AdamHyper {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
}

/** A table and its two Adam moments in the shared heap, with views for reading and writing. */
export function allocHeapTable(rows: number, dim: number): { table: HeapTable; values: Float32Array; m: Float32Array; v: Float32Array } {
  const heap = sharedHeap();
  const n = rows * dim;
  const table = { values: heap.alloc(n * 4), m: heap.alloc(n * 4), v: heap.alloc(n * 4), rows, dim };
  const views = { values: heap.f32(table.values, n), m: heap.f32(table.m, n), v: heap.f32(table.v, n) };
  views.m.fill(0);
  views.v.fill(0);
  return { table, ...views };
}

export function freeHeapTable(t: HeapTable): void {
  const heap = sharedHeap();
  heap.release(t.values);
  heap.release(t.m);
  heap.release(t.v);
}

const gradScratch = { s: undefined as Scratch | undefined };

/** One Adam step (global step `step`, from 1) on every row of `t` with the dense gradient `grad`. */
export function adamDense(t: HeapTable, grad: Float32Array, hyper: AdamHyper, step: number): void {
  const n = t.rows * t.dim;
  if (grad.length !== n) throw new RangeError(`adamDense: gradient has ${grad.length} values, expected ${n}`);
  const heap = sharedHeap();
  gradScratch.s ??= new Scratch(heap);
  const g = gradScratch.s.ensure(n * 4);
  heap.f32(g, n).set(grad);
  const stepSize = hyper.lr / (1 - Math.pow(hyper.beta1, step));
  const invSqrtBc2 = 1 / Math.sqrt(1 - Math.pow(hyper.beta2, step));
  const pool = computePool();
  const parts = pool.threads > 1 && n >= 1 << 16 ? pool.threads * 2 : 1;
  const bounds = Array.from({ length: parts + 1 }, (_, i) => Math.round((i * t.rows) / parts));
  pool.runSync('adamRows', [t.values, t.m, t.v, g, t.dim, hyper.beta1, hyper.beta2, stepSize, invSqrtBc2, hyper.eps], bounds);
}
