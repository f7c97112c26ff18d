/**
 * A pool job: one row kernel over row blocks ("chunks"). Threads claim chunks from a shared counter until none
 * are left, so a slow or absent thread never holds the others up, and every chunk runs exactly once.
 * Shared by the pool (main thread) and its workers; imports no tfjs.
 */
import type { MessagePort } from 'node:worker_threads';
import type { RowKernelName, RowKernels } from './kernels/row-kernels.js';
import type { WasmMemory } from './kernels/wasm-api.js';

/** Layout of a job's control block (an Int32Array over a SharedArrayBuffer). */
export const NEXT_CHUNK = 0;
export const CHUNKS_DONE = 1;
export const FAILED = 2;
const CONTROL_SLOTS = 3;

export interface Job {
  id: number;
  op: RowKernelName;
  args: number[];
  /** Chunk c covers rows bounds[c] .. bounds[c+1]. */
  bounds: number[];
  control: Int32Array;
  /** Whether a worker posts back when it has no more chunks to take (async callers). */
  notify: boolean;
}

/** What a worker posts back: on its parent port when a `notify` job has no chunks left for it, and on its error port for a failed chunk. */
export interface JobReport {
  id: number;
  error?: string;
}

export function describeError(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

export function newControl(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(CONTROL_SLOTS * Int32Array.BYTES_PER_ELEMENT));
}

export function chunkCount(job: Job): number {
  return job.bounds.length - 1;
}

/** What a worker thread is started with. */
export interface WorkerInit {
  memory: WasmMemory;
  /** ready[index] is set to 1 once the worker takes jobs. */
  ready: Int32Array;
  index: number;
  /** Where the worker reports a failed chunk, read synchronously by a waiting main thread. */
  errors: MessagePort;
}

/**
 * Claims and runs chunks until none are left; returns how many this thread ran. After a failure the remaining
 * chunks are still claimed and counted, but not run, so that waiters see the job end; `onError` hears of the
 * failure before the chunk is counted, and the error is rethrown at the end.
 */
export function drainChunks(kernels: RowKernels, job: Job, onError?: (err: unknown) => void): number {
  const { control, bounds } = job;
  const n = chunkCount(job);
  let ran = 0;
  let failure: unknown;
  for (let c = Atomics.add(control, NEXT_CHUNK, 1); c < n; c = Atomics.add(control, NEXT_CHUNK, 1)) {
    try {
      if (Atomics.load(control, FAILED) === 0) {
        kernels[job.op](job.args, bounds[c], bounds[c + 1]);
        ran++;
      }
    } catch (err) {
      Atomics.store(control, FAILED, 1);
      failure = err;
      onError?.(err);
    } finally {
      Atomics.add(control, CHUNKS_DONE, 1);
      Atomics.notify(control, CHUNKS_DONE);
    }
  }
  if (failure !== undefined) throw failure;
  return ran;
}

export function jobFinished(job: Job): boolean {
  return Atomics.load(job.control, CHUNKS_DONE) >= chunkCount(job);
}

/**
 * Row boundaries that split a CSR matrix into `parts` blocks of about equal cost, where a row costs its
 * entries plus one (writing the row): bounds[k] is the first row r with indptr[r] + r ≥ k·total/parts.
 */
export function balancedRowBounds(indptr: Int32Array, nRows: number, parts: number): number[] {
  const total = indptr[nRows] + nRows;
  const bounds = [0];
  for (let k = 1; k < parts; k++) {
    const target = (k * total) / parts;
    let lo = bounds[k - 1];
    let hi = nRows;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (indptr[mid] + mid < target) lo = mid + 1;
      else hi = mid;
    }
    bounds.push(lo);
  }
  bounds.push(nRows);
  return bounds.filter((b, i) => i === 0 || b > bounds[i - 1]);
}
