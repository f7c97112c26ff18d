import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { BackendError } from '../errors/index.js';
import type { FromWorker, ToWorker, WorkerSetup } from './protocol.js';
import type { RankingData } from './rank.js';

/** Blocks a worker may hold at once: one running and one queued behind it, so it never waits on this thread. */
const PER_WORKER = 2;
/** How far (in blocks) results may run ahead of the oldest unfinished block; bounds what waits to be folded. */
const WINDOW_PER_WORKER = 4;

interface WorkerEntry {
  readonly script: URL | string;
  readonly options: WorkerOptions;
}

/**
 * Compiled (dist): the `.js` sibling. From source (tests, tsx): the `.ts` sibling behind a small bootstrap that
 * registers tsx inside the worker first; `execArgv: ['--import', 'tsx']` is not enough on Node 20, where tsx
 * registers its hooks only on the main thread.
 */
function workerEntry(setup: WorkerSetup): WorkerEntry {
  const js = new URL('./worker.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return { script: js, options: { workerData: setup } };
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const ts = JSON.stringify(new URL('./worker.ts', import.meta.url).href);
  const bootstrap = `import(${tsx}).then((tsx) => { tsx.register(); return import(${ts}); });`;
  return { script: bootstrap, options: { workerData: setup, eval: true, execArgv: [] } };
}

/** Resolves when the worker reports ready; rejects if it fails or exits first. */
function ready(worker: Worker): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (msg: FromWorker): void => {
      if (msg.type !== 'ready') return;
      cleanup();
      resolve();
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onExit = (code: number): void => onError(new Error(`evaluation worker exited with code ${code}`));
    const cleanup = (): void => {
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
    };
    worker.on('message', onMessage).on('error', onError).on('exit', onExit);
  });
}

/** Called with each block's ranked lists, in block order. */
export type BlockSink = (block: number, ranked: Int32Array) => void;

/** The half-open user range [start, end) of a block. */
export type BlockRange = (block: number) => readonly [number, number];

/**
 * The bookkeeping of one run: which blocks went to which worker, and the finished blocks that wait for an
 * earlier one before they can be passed on in order.
 */
class BlockSchedule {
  private readonly inFlight: Int32Array;
  private readonly waiting = new Map<number, Int32Array>();
  private sent = 0;
  private done = 0;

  constructor(
    readonly run: number,
    private readonly nBlocks: number,
    private readonly workers: readonly Worker[],
    private readonly range: BlockRange,
    private readonly sink: BlockSink,
  ) {
    this.inFlight = new Int32Array(workers.length);
  }

  get finished(): boolean {
    return this.done === this.nBlocks;
  }

  /** Tops up every worker's queue, keeping sent blocks within the window of the oldest unfinished one. */
  dispatch(): void {
    const window = WINDOW_PER_WORKER * this.workers.length;
    this.workers.forEach((worker, w) => {
      while (this.inFlight[w] < PER_WORKER && this.sent < this.nBlocks && this.sent - this.done < window) {
        const [start, end] = this.range(this.sent);
        worker.postMessage({ type: 'rank', run: this.run, block: this.sent++, start, end } satisfies ToWorker);
        this.inFlight[w]++;
      }
    });
  }

  /** Takes worker w's result and passes on every block that is now next in order. */
  accept(w: number, block: number, ranked: Int32Array): void {
    this.inFlight[w]--;
    this.waiting.set(block, ranked);
    for (let r = this.waiting.get(this.done); r !== undefined; r = this.waiting.get(this.done)) {
      this.waiting.delete(this.done);
      this.sink(this.done++, r);
    }
  }
}

interface Job {
  readonly schedule: BlockSchedule;
  finish(err?: Error): void;
}

/**
 * Evaluation workers, one a thread. They are unref'd while idle, so a pool kept warm between epochs never holds
 * the process open, and ref'd while a run is in flight, so an awaited evaluation is never cut short.
 */
export class WorkerPool {
  private job: Job | undefined;
  private runs = 0; // numbers the runs, see ToWorker
  private broken: BackendError | undefined;
  private closing = false;

  private constructor(private readonly workers: readonly Worker[]) {
    workers.forEach((w, i) => this.watch(w, i));
    this.setRef(false);
  }

  static async start(threads: number, setup: WorkerSetup): Promise<WorkerPool> {
    const { script, options } = workerEntry(setup);
    const workers = Array.from({ length: threads }, () => new Worker(script, options));
    try {
      await Promise.all(workers.map(ready));
    } catch (err) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw new BackendError('the evaluation workers could not start', { cause: err });
    }
    return new WorkerPool(workers);
  }

  get size(): number {
    return this.workers.length;
  }

  /** Hands every worker the shared data of the next run. */
  load(data: RankingData): void {
    this.assertUsable();
    for (const w of this.workers) w.postMessage({ type: 'load', data } satisfies ToWorker);
  }

  /** Ranks blocks 0 .. nBlocks-1 on the workers and passes their results to `sink` in block order. */
  run(nBlocks: number, range: BlockRange, sink: BlockSink): Promise<void> {
    this.assertUsable();
    if (this.job) throw new Error('WorkerPool.run: a run is already in flight');
    const schedule = new BlockSchedule(++this.runs, nBlocks, this.workers, range, sink);
    if (schedule.finished) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.job = {
        schedule,
        finish: (err) => {
          this.job = undefined;
          this.setRef(false);
          if (err) reject(err);
          else resolve();
        },
      };
      this.setRef(true);
      schedule.dispatch();
    });
  }

  /** Routes a worker's result to the current run; results of an earlier, failed run are dropped. */
  private onRanked(w: number, msg: Extract<FromWorker, { type: 'ranked' }>): void {
    const job = this.job;
    if (!job || msg.run !== job.schedule.run) return;
    try {
      job.schedule.accept(w, msg.block, msg.ranked);
    } catch (err) {
      job.finish(err as Error);
      return;
    }
    if (job.schedule.finished) job.finish();
    else job.schedule.dispatch();
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private watch(worker: Worker, index: number): void {
    worker.on('message', (msg: FromWorker) => {
      if (msg.type === 'ranked') this.onRanked(index, msg);
    });
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => {
      if (!this.closing) this.fail(new Error(`evaluation worker ${index} exited with code ${code}`));
    });
  }

  private fail(cause: Error): void {
    this.broken ??= new BackendError('an evaluation worker failed', { cause });
    this.job?.finish(this.broken);
  }

  private assertUsable(): void {
    if (this.broken) throw this.broken;
    if (this.closing) throw new Error('the evaluator is closed');
  }

  private setRef(on: boolean): void {
    for (const w of this.workers) {
      if (on) w.ref();
      else w.unref();
    }
  }
}
