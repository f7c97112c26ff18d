import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { BackendError } from '../errors/index.js';
import type { GroupLayout } from './groups.js';
import type { BlockScorer } from './scorer.js';

/**
 * Selects tfjs's wasm backend (XNNPACK, SIMD, one thread) in this thread. tfjs keeps one global backend per
 * thread, so this runs only inside evaluation workers, never in the thread that trains.
 */
export async function initWasmBackend(): Promise<void> {
  const ok = await tf.setBackend('wasm');
  if (!ok) throw new BackendError('the tfjs wasm backend could not be initialised for evaluation');
}

/** [rows, cols] row-major → [cols, stride] row-major, columns rows .. stride-1 zero. */
function transposedPadded(m: Float32Array, rows: number, cols: number, stride: number): Float32Array {
  const t = new Float32Array(cols * stride);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) t[c * stride + r] = m[r * cols + c];
  }
  return t;
}

function heapView(t: tf.Tensor): Float32Array {
  return (tf.backend() as BackendWasm).typedArrayFromHeap(t) as Float32Array;
}

/**
 * S = U · Iᵀ with tfjs-wasm matMul, and the group maxima with XNNPACK's max-pool. The items are held as Iᵀ
 * ([dim, stride], zero-padded): XNNPACK's plain GEMM runs at 15–20 GFLOP/s a thread here, while matMul with
 * transposeB takes a path about 15× slower. Results are read and written in place on the wasm heap.
 */
export class WasmScorer implements BlockScorer {
  private readonly itemsT: tf.Tensor2D;
  private scores: tf.Tensor | undefined;
  private maxima: tf.Tensor | undefined;

  constructor(
    items: Float32Array,
    readonly layout: GroupLayout,
    private readonly dim: number,
  ) {
    const { nItems, stride } = layout;
    this.itemsT = tf.tensor2d(transposedPadded(items, nItems, dim, stride), [dim, stride]);
  }

  score(users: Float32Array, rows: number): Float32Array {
    this.release();
    const u = tf.tensor2d(users, [rows, this.dim]);
    const scores = tf.matMul(u, this.itemsT);
    u.dispose();
    this.scores = scores;
    return heapView(scores);
  }

  /** A max-pool of the [rows, 1, width, groups] view of the scores over its `width` axis (groups.ts). */
  groupMaxima(rows: number): Float32Array {
    if (!this.scores) throw new Error('WasmScorer.groupMaxima before score');
    const { width, groups } = this.layout;
    const grid = tf.reshape(this.scores, [rows, 1, width, groups]) as tf.Tensor4D;
    this.maxima = tf.maxPool(grid, [1, width], [1, width], 'valid');
    grid.dispose();
    return heapView(this.maxima);
  }

  dispose(): void {
    this.release();
    this.itemsT.dispose();
  }

  private release(): void {
    this.scores?.dispose();
    this.maxima?.dispose();
    this.scores = undefined;
    this.maxima = undefined;
  }
}
