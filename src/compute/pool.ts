/**
 * The compute pool: worker threads, sized to the cores, that run row kernels over the shared heap (DESIGN.md §4).
 * tfjs kernels are synchronous, so `runSync` posts a job, lets the main thread take chunks too, and waits with
 * Atomics.wait; `run` is the variant for callers that can await (all chunks on the workers). With one core there
 * are no workers and everything runs inline. Workers are unref'd: the pool never keeps the process alive.
 */
import os from 'node:os';
import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort } from 'node:worker_threads';
import { SharedHeap, sharedHeap } from './heap.js';
import { type NativeKernels, loadNative } from './native.js';
import {
  CHUNKS_DONE,
  FAILED,
  type Job,
  type JobReport,
  type WorkerInit,
  chunkCount,
  drainChunks,
  jobFinished,
  newControl,
} from './jobs.js';
import { type RowKernelName, type RowKernels, rowKernels } from './kernels/row-kernels.js';

/** How long a synchronous caller waits for the workers' chunks before it gives up. */
const WAIT_LIMIT_MS = 120_000;
const WAIT_SLICE_MS = 100;
const READY_LIMIT_MS = 30_000;

export interface PoolOptions {
  /** Threads in all, the main thread included; default os.availableParallelism(). */
  threads?: number;
  heap?: SharedHeap;
}

interface PoolWorker {
  worker: Worker;
  errors: MessagePort;
  alive: boolean;
}

interface PendingJob {
  job: Job;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * The worker's entry. From compiled dist it is the sibling pool-worker.js; from source (run through tsx) it is
 * pool-worker.ts, loaded by a bootstrap that registers tsx first, since Node 20 does not apply `--import tsx`
 * from a worker's execArgv to the worker's own entry.
 */
function workerSource(): { code: string | URL; evaluate: boolean } {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return { code: new URL('./pool-worker.js', here), evaluate: false };
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const entry = JSON.stringify(new URL('./pool-worker.ts', here).href);
  return { code: `import(${tsx}).then((m) => { m.register(); return import(${entry}); });`, evaluate: true };
}

export class ComputePool {
  readonly heap: SharedHeap;
  /** Chunks of synchronous jobs that worker threads ran (the rest ran on the main thread). */
  workerChunks = 0;
  private readonly workers: PoolWorker[];
  private readonly readyFlags: Int32Array;
  private readonly pending = new Map<number, PendingJob>();
  private nextJobId = 1;
  private holds = 0;
  private mainKernels?: RowKernels;

  constructor(opts: PoolOptions = {}) {
    this.heap = opts.heap ?? sharedHeap();
    const threads = Math.max(1, Math.floor(opts.threads ?? os.availableParallelism()));
    this.readyFlags = new Int32Array(new SharedArrayBuffer(threads * Int32Array.BYTES_PER_ELEMENT));
    this.workers = Array.from({ length: threads - 1 }, (_, i) => this.spawn(i));
  }

  /** Threads that take work now: the main thread and the workers that are up. */
  get threads(): number {
    return 1 + this.readyWorkers().length;
  }

  /** Resolves, with `threads`, once every worker is up or has failed to start. */
  async ready(): Promise<number> {
    const started = this.workers.map((w, i) => this.startup(w, i));
    await this.holdOpen(Promise.all(started));
    return this.threads;
  }

  /** Runs `op` over every chunk of `bounds`, the main thread taking chunks too; returns when all are done. */
  runSync(op: RowKernelName, args: number[], bounds: number[]): void {
    const job = this.newJob(op, args, bounds, false);
    if (chunkCount(job) > 1) for (const w of this.readyWorkers()) w.worker.postMessage(job);
    let ownError: unknown;
    let ran = 0;
    try {
      ran = drainChunks(this.kernels(), job);
    } catch (err) {
      ownError = err;
    }
    this.waitFor(job);
    this.workerChunks += chunkCount(job) - ran;
    if (Atomics.load(job.control, FAILED) !== 0) throw ownError ?? this.workerFailure(job);
  }

  /** Runs `op` over every chunk of `bounds` on the workers (inline when there are none). */
  run(op: RowKernelName, args: number[], bounds: number[]): Promise<void> {
    const live = this.workers.filter((w) => w.alive);
    if (live.length === 0) return new Promise((resolve) => resolve(this.runSync(op, args, bounds)));
    const job = this.newJob(op, args, bounds, true);
    if (chunkCount(job) === 0) return Promise.resolve();
    const done = new Promise<void>((resolve, reject) => this.pending.set(job.id, { job, resolve, reject }));
    for (const w of live) w.worker.postMessage(job);
    return this.holdOpen(done);
  }

  /** Stops the workers; later jobs run inline on the calling thread. */
  async close(): Promise<void> {
    this.failPending(new Error('compute pool closed'));
    await Promise.all(
      this.workers.map(async (w) => {
        w.alive = false;
        await w.worker.terminate();
        w.errors.close();
      }),
    );
  }

  private spawn(index: number): PoolWorker {
    const { port1, port2 } = new MessageChannel();
    const init: WorkerInit = { memory: this.heap.memory, ready: this.readyFlags, index, errors: port2 };
    const source = workerSource();
    const worker = new Worker(source.code, { eval: source.evaluate, workerData: init, transferList: [port2] });
    worker.unref();
    port1.unref();
    const pw: PoolWorker = { worker, errors: port1, alive: true };
    worker.on('message', (report: JobReport) => this.onReport(report));
    worker.on('error', () => this.onDeath(pw, index));
    worker.on('exit', () => this.onDeath(pw, index));
    return pw;
  }

  private startup(w: PoolWorker, index: number): Promise<void> {
    const deadline = Date.now() + READY_LIMIT_MS;
    return new Promise((resolve) => {
      const poll = (): void => {
        const up = Atomics.load(this.readyFlags, index) === 1;
        if (up || !w.alive || Date.now() > deadline) resolve();
        else setTimeout(poll, 5);
      };
      poll();
    });
  }

  private onDeath(w: PoolWorker, index: number): void {
    if (!w.alive) return;
    w.alive = false;
    Atomics.store(this.readyFlags, index, 0);
    this.failPending(new Error(`compute worker ${index} stopped while jobs were running`));
  }

  private onReport(report: JobReport): void {
    const p = this.pending.get(report.id);
    if (!p || !jobFinished(p.job)) return;
    this.pending.delete(report.id);
    if (Atomics.load(p.job.control, FAILED) !== 0) p.reject(this.workerFailure(p.job));
    else p.resolve();
  }

  private failPending(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private readyWorkers(): PoolWorker[] {
    return this.workers.filter((w, i) => w.alive && Atomics.load(this.readyFlags, i) === 1);
  }

  private kernels(): RowKernels {
    this.mainKernels ??= rowKernels(this.heap.memory);
    return this.mainKernels;
  }

  private newJob(op: RowKernelName, args: number[], bounds: number[], notify: boolean): Job {
    return { id: this.nextJobId++, op, args, bounds, control: newControl(), notify };
  }

  private waitFor(job: Job): void {
    const deadline = Date.now() + WAIT_LIMIT_MS;
    for (let done = Atomics.load(job.control, CHUNKS_DONE); done < chunkCount(job); ) {
      if (Date.now() > deadline) {
        throw new Error(`compute pool: row kernel '${job.op}' did not finish within ${WAIT_LIMIT_MS / 1000} s`);
      }
      Atomics.wait(job.control, CHUNKS_DONE, done, WAIT_SLICE_MS);
      done = Atomics.load(job.control, CHUNKS_DONE);
    }
  }

  /** The error a worker reported for `job` (reports for other jobs are dropped: their callers have moved on). */
  private workerFailure(job: Job): Error {
    let message = 'no message';
    for (const w of this.workers) {
      for (let m = receiveMessageOnPort(w.errors); m; m = receiveMessageOnPort(w.errors)) {
        const report = m.message as JobReport;
        if (report.id === job.id && report.error) message = report.error;
      }
    }
    return new Error(`compute worker failed in row kernel '${job.op}': ${message}`);
  }

  /** Keeps the workers ref'd (the process alive) until `p` settles. */
  private async holdOpen<T>(p: Promise<T>): Promise<T> {
    if (this.holds++ === 0) for (const w of this.workers) w.worker.ref();
    try {
      return await p;
    } finally {
      if (--this.holds === 0) for (const w of this.workers) w.worker.unref();
    }
  }
}

let defaultPool: ComputePool | undefined;
let defaultThreads: number | undefined;

/** The process's pool over the shared heap, started on first use. */
export function computePool(): ComputePool {
  defaultPool ??= new ComputePool({ threads: defaultThreads, heap: sharedHeap() });
  return defaultPool;
}

/** Stops the process's pool; the next use starts a fresh one. */
export async function shutdownCompute(): Promise<void> {
  const pool = defaultPool;
  defaultPool = undefined;
  await pool?.close();
}

let nativeChoice: { enabled: boolean; kernels?: NativeKernels | null } = { enabled: true };

/**
 * Sets the thread count of the process's pool (default: the cores), restarting it, and whether the optional
 * native kernels may be used (default: yes, when the addon was built).
 */
export async function configureCompute(opts: { threads?: number; native?: boolean }): Promise<void> {
  await shutdownCompute();
  defaultThreads = opts.threads;
  nativeChoice = { enabled: opts.native ?? true };
}

/** The native kernels when they are enabled and built, else null (loaded once). */
export function nativeKernels(): NativeKernels | null {
  if (nativeChoice.kernels === undefined) nativeChoice.kernels = loadNative({ disabled: !nativeChoice.enabled });
  return nativeChoice.kernels;
}
