import { availableParallelism } from 'node:os';
import { ConfigError } from '../errors/index.js';
import type { Csr } from '../graph/index.js';
import { groupLayout } from './groups.js';
import { DEFAULT_KS, MetricSums, type MetricTotals } from './metrics.js';
import { WorkerPool } from './pool.js';
import type { RankingData } from './rank.js';
import type { ScoreKernel } from './scorer.js';
import type { NativeKernels } from '../compute/native.js';

/** One evaluation's inputs: the final embeddings (score = dot product) and the split to rank against. */
export interface EvalData {
  readonly userEmb: Float32Array; // [nUsers, dim], row-major
  readonly itemEmb: Float32Array; // [nItems, dim], row-major
  readonly dim: number;
  readonly nUsers: number;
  readonly nItems: number;
  /** users × items: the train items, masked out of each user's ranking (MMRec protocol). */
  readonly mask: Csr;
  /** users × items: the split's ground truth; users with an empty row are not evaluated. */
  readonly truth: Csr;
  /** Cut-offs K; default [5, 10, 20, 50]. */
  readonly ks?: readonly number[];
  /** Users scored together in one block; a worker holds userBatch × nItems scores (default: about 2^20). */
  readonly userBatch?: number;
}

export interface EvaluatorOptions {
  /** Worker threads; default: the available cores. */
  readonly threads?: number;
  /**
   * The optional native kernels (src/compute/native.ts). When given, scoring and top-K run there (blocked
   * AVX2 GEMM fused with the selection, on native threads) and `kernel` is ignored.
   */
  readonly native?: NativeKernels | null;
  /** Default 'wasm' (tfjs-wasm matMul), the faster by measurement; 'js' is the plain-TypeScript kernel. */
  readonly kernel?: ScoreKernel;
}

export type EvalInput = EvalData & EvaluatorOptions;

export interface EvalResult {
  /** Means over the evaluated users, keyed `recall@20`, `ndcg@10`, ... (see metrics.ts). */
  readonly metrics: Record<string, number>;
  /** Users evaluated: those with at least one ground-truth item. */
  readonly users: number;
  /** Wall time of the evaluation (for the one-shot evaluate(), starting the workers included). */
  readonly seconds: number;
}

/** Positions [start, end) in the list of evaluated users (those with ground truth, ascending by user id). */
export interface UserRange {
  readonly start: number;
  readonly end: number;
}

/** One range's per-metric sums and user count (mergeTotals merges ranges into one evaluation), and its wall time. */
export interface RangeResult extends MetricTotals {
  readonly seconds: number;
}

/** Evaluates with warm workers, as training does every epoch; close() when done. */
export interface Evaluator {
  readonly threads: number;
  readonly kernel: ScoreKernel | 'native';
  evaluate(data: EvalData): Promise<EvalResult>;
  /**
   * Only the evaluated users at positions [start, end): their metric sums, not means, so that the ranges of one
   * evaluation (a distributed job shards it over workers) merge into `evaluate`'s metrics (mergeTotals, metricMeans).
   */
  evaluateRange(data: EvalData, range: UserRange): Promise<RangeResult>;
  close(): Promise<void>;
}

/**
 * About 2^20 scores (4 MiB) per block: fast GEMM, scores still in cache for the selection, and bounded for any
 * item count. 128–256 users a block measured best on baby; 32 and 512 were 5–15% slower.
 */
const BLOCK_FLOATS = 1 << 20;
const MAX_USER_BATCH = 256;

function defaultUserBatch(nItems: number): number {
  return Math.max(1, Math.min(MAX_USER_BATCH, Math.floor(BLOCK_FLOATS / Math.max(nItems, 1))));
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new ConfigError(`evaluation: ${name} must be a positive integer, got ${v}`);
  return v;
}

/** Sorted, distinct, positive integers. */
function normalizeKs(ks: readonly number[]): number[] {
  if (ks.length === 0) throw new ConfigError('evaluation: ks must not be empty');
  return [...new Set(ks.map((k) => positiveInt('every K', k)))].sort((a, b) => a - b);
}

function checkInput(d: EvalData): void {
  const fail = (what: string): never => {
    throw new RangeError(`evaluation: ${what}`);
  };
  if (d.userEmb.length !== d.nUsers * d.dim) fail(`userEmb has ${d.userEmb.length} values, not ${d.nUsers} × ${d.dim}`);
  if (d.itemEmb.length !== d.nItems * d.dim) fail(`itemEmb has ${d.itemEmb.length} values, not ${d.nItems} × ${d.dim}`);
  for (const [name, m] of [['mask', d.mask], ['truth', d.truth]] as const) {
    if (m.nRows !== d.nUsers || m.nCols !== d.nItems) fail(`${name} is ${m.nRows} × ${m.nCols}, not ${d.nUsers} × ${d.nItems}`);
  }
  checkFinite('userEmb', d.userEmb, d.dim);
  checkFinite('itemEmb', d.itemEmb, d.dim);
}

/**
 * Rejects NaN and ±Infinity: XNNPACK's max-pool may drop values that follow a NaN, which would break the exact
 * pruning of the top-K scan (groups.ts), and a diverged model has no meaningful ranking anyway.
 */
function checkFinite(name: string, emb: Float32Array, dim: number): void {
  for (let i = 0; i < emb.length; i++) {
    if (!Number.isFinite(emb[i])) throw new RangeError(`evaluation: ${name}[${Math.floor(i / dim)}, ${i % dim}] is ${emb[i]}`);
  }
}

/** The users with at least one ground-truth item, ascending: the users an evaluation averages over. */
export function evaluatedUsers(truth: Csr): Int32Array {
  const users: number[] = [];
  for (let u = 0; u < truth.nRows; u++) if (truth.indptr[u + 1] > truth.indptr[u]) users.push(u);
  return Int32Array.from(users);
}

function sharedCopy<T extends Float32Array | Int32Array>(a: T): T {
  const ctor = a.constructor as new (buffer: SharedArrayBuffer) => T;
  const copy = new ctor(new SharedArrayBuffer(a.byteLength));
  copy.set(a);
  return copy;
}

/** rows[i] = emb[users[i]], in shared memory. */
function sharedGather(emb: Float32Array, users: Int32Array, dim: number): Float32Array {
  const rows = new Float32Array(new SharedArrayBuffer(users.length * dim * 4));
  users.forEach((u, i) => rows.set(emb.subarray(u * dim, (u + 1) * dim), i * dim));
  return rows;
}

/** Copies what the workers read into SharedArrayBuffers, once per evaluation. */
function shareRankingData(d: EvalData, users: Int32Array, k: number): RankingData {
  const { nRows, nCols, indptr, indices } = d.mask;
  return {
    userRows: sharedGather(d.userEmb, users, d.dim),
    itemRows: sharedCopy(d.itemEmb),
    users: sharedCopy(users),
    mask: { nRows, nCols, indptr: sharedCopy(indptr), indices: sharedCopy(indices) },
    dim: d.dim,
    k,
    layout: groupLayout(d.nItems, k),
  };
}

/**
 * What both evaluators share: evaluations run one at a time, in call order; each ranks a list of evaluated users
 * and folds their metrics in that order (`rank`).
 */
abstract class QueuedEvaluator implements Evaluator {
  abstract readonly threads: number;
  abstract readonly kernel: ScoreKernel | 'native';
  private queue: Promise<unknown> = Promise.resolve();

  evaluate(data: EvalData): Promise<EvalResult> {
    return this.enqueue(async () => {
      const t0 = performance.now();
      const sums = await this.fold(data, null);
      return { metrics: sums.means(), users: sums.users, seconds: (performance.now() - t0) / 1000 };
    });
  }

  evaluateRange(data: EvalData, range: UserRange): Promise<RangeResult> {
    return this.enqueue(async () => {
      const t0 = performance.now();
      const sums = await this.fold(data, range);
      return { ...sums.totals(), seconds: (performance.now() - t0) / 1000 };
    });
  }

  abstract close(): Promise<void>;

  /** Ranks `users` (ascending user ids) and adds each one's metrics to `sums`, in the order of `users`. */
  protected abstract rank(d: EvalData, users: Int32Array, sums: MetricSums): Promise<void>;

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async fold(d: EvalData, range: UserRange | null): Promise<MetricSums> {
    checkInput(d);
    const sums = new MetricSums(normalizeKs(d.ks ?? DEFAULT_KS));
    const all = evaluatedUsers(d.truth);
    await this.rank(d, range ? all.subarray(...checkRange(range, all.length)) : all, sums);
    return sums;
  }
}

/** [start, end) as subarray bounds, when it lies within the `count` evaluated users. */
function checkRange(r: UserRange, count: number): [number, number] {
  const ok = Number.isInteger(r.start) && Number.isInteger(r.end) && r.start >= 0 && r.start <= r.end && r.end <= count;
  if (!ok) throw new RangeError(`evaluation: range [${r.start}, ${r.end}) is not within the ${count} evaluated users`);
  return [r.start, r.end];
}

class PooledEvaluator extends QueuedEvaluator {
  constructor(
    private readonly pool: WorkerPool,
    readonly kernel: ScoreKernel,
  ) {
    super();
  }

  get threads(): number {
    return this.pool.size;
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  protected async rank(d: EvalData, users: Int32Array, sums: MetricSums): Promise<void> {
    const batch = positiveInt('userBatch', d.userBatch ?? defaultUserBatch(d.nItems));
    const kMax = sums.kMax;
    this.pool.load(shareRankingData(d, users, kMax));
    const range = (b: number): readonly [number, number] => [b * batch, Math.min(users.length, (b + 1) * batch)];
    // Folding in block order, user by user, makes the sums independent of threads and block size.
    await this.pool.run(Math.ceil(users.length / batch), range, (b, ranked) => {
      const [start, end] = range(b);
      for (let i = start; i < end; i++) sums.addUser(ranked, (i - start) * kMax, d.truth, users[i]);
    });
  }
}

/** Scores and selects the top-K in the native addon; metrics are folded here in user order, as above. */
class NativeEvaluator extends QueuedEvaluator {
  readonly kernel = 'native' as const;

  constructor(
    private readonly native: NativeKernels,
    readonly threads: number,
  ) {
    super();
  }

  async close(): Promise<void> {}

  protected async rank(d: EvalData, users: Int32Array, sums: MetricSums): Promise<void> {
    const k = sums.kMax;
    const items = new Int32Array(users.length * k);
    const scores = new Float32Array(users.length * k);
    await this.native.scoreTopKAsync(
      d.userEmb, users, d.itemEmb, d.nItems, d.dim, d.mask.indptr, d.mask.indices, k, items, scores, this.threads,
    );
    for (let i = 0; i < users.length; i++) sums.addUser(items, i * k, d.truth, users[i]);
  }
}

/**
 * Starts the evaluation workers (threads defaults to the available cores, kernel to 'wasm'), or uses the
 * native kernels when they are passed.
 */
export async function createEvaluator(options: EvaluatorOptions = {}): Promise<Evaluator> {
  const threads = positiveInt('threads', options.threads ?? availableParallelism());
  if (options.native) return new NativeEvaluator(options.native, threads);
  const kernel = options.kernel ?? 'wasm';
  return new PooledEvaluator(await WorkerPool.start(threads, { kernel }), kernel);
}

/**
 * One evaluation with its own workers, closed before returning; `seconds` includes starting them. MMRec
 * protocol: every user with ground truth ranks all items by dot product, train items masked (DESIGN.md §2).
 */
export async function evaluate(input: EvalInput): Promise<EvalResult> {
  const t0 = performance.now();
  const evaluator = await createEvaluator(input);
  try {
    const result = await evaluator.evaluate(input);
    return { ...result, seconds: (performance.now() - t0) / 1000 };
  } finally {
    await evaluator.close();
  }
}
