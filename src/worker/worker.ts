/**
 * A stateless worker (DESIGN.md §5, docs/distributed.md): it asks the coordinator for the job, loads the dataset
 * and prepares the model itself (the item graphs are read-only and replicated), joins, and then leases tasks until
 * told to stop. For each task it pulls the rows the task reads through RemoteParamStore (with `neighbourhood:
 * 'blocks'`, only those of its triples' L-hop neighbourhood, propagated on message-flow blocks), computes the task's
 * weighted contribution to the step's loss and gradients (src/train/step.ts taskLossAndGrads: the same pull and
 * loss code as one process), prepares the gradients on every shard under (ps step, task, attempt) and reports.
 * While the job evaluates it may be leased a range of users instead: it computes the model's representations from
 * the shards (once per coordinator generation and epoch), evaluates the range with its own evaluator and reports
 * the metric sums (sharded evaluation, docs/distributed.md §2). When the coordinator runs a JetStream task queue, the
 * worker takes each task from the job's work queue instead, claims it at the coordinator, and acks the queue's
 * message once its report is answered (docs/distributed.md "The JetStream task queue").
 * Nothing survives a task but the loaded data: a worker may die at any point and another redoes its task.
 */
import type { ChannelCredentials } from '@grpc/grpc-js';
import { availableParallelism, hostname } from 'node:os';
import type { Logger } from 'pino';
import { configureCompute, initBackend, nativeKernels, type BackendChoice } from '../compute/index.js';
import {
  appliesOnArrival,
  CoordinatorClient,
  JetStreamTaskQueue,
  parseConsistency,
  rangeKey,
  shardConsistency,
  taskKey,
  type EvalRangeMsg,
  type EvalSplit,
  type JobSpec,
  type TaskLease,
  type TaskMsg,
  type TaskQueue,
  type TriplesMsg,
} from '../coordinator/index.js';
import { loadDataset } from '../data/index.js';
import type { Dataset } from '../data/types.js';
import { ConfigError, PeerUnavailable, StaleVersion } from '../errors/index.js';
import { connectNats } from '../events/index.js';
import { createEvaluator, type Evaluator, type RangeResult } from '../eval/index.js';
import { models, type Batch, type Model, type Prepared } from '../models/index.js';
import { parseWire, RemoteParamStore, type RemoteStoreOptions, type WireEncoding } from '../paramserver/index.js';
import { checkNeighbourhood, GradientBuffers, pullRows, representations, taskBlocks, taskLossAndGrads, taskRows, type Neighbourhood, type OptimizerConfig, type TaskShare } from '../train/index.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyModel = Model<any, any>;

export interface WorkerOptions {
  /** host:port of the coordinator. */
  readonly coordinator: string;
  /** Shard addresses; default: the ones the coordinator names. */
  readonly shards?: readonly string[];
  /** The dataset folder; default: the coordinator's (its checksum must match either way). */
  readonly dataDir?: string;
  /** Unique per worker process (default host-pid). */
  readonly id?: string;
  readonly token?: string;
  /** TLS towards the coordinator and the shards (src/rpc/tls.ts); default plaintext. */
  readonly credentials?: ChannelCredentials;
  /** Compute threads of this worker (default: the pool's default). */
  readonly threads?: number;
  readonly native?: boolean;
  /** Overrides the coordinator's backend choice. */
  readonly backend?: BackendChoice;
  /**
   * How this worker gets its tasks: 'policy' (it asks the coordinator) or 'jetstream' (it takes them from the job's
   * JetStream work queue). Default: the coordinator's; one that differs from the coordinator's is a ConfigError.
   */
  readonly taskQueue?: 'policy' | 'jetstream';
  /** The JetStream task queue's NATS server (default: the one the coordinator names). */
  readonly nats?: string;
  /**
   * `full` (default): a task reads the rows the model names (whole tables for LightGCN and CaMRec); `blocks`: the
   * rows of its triples' L-hop neighbourhood, propagated on message-flow blocks (docs/distributed.md §5). A model
   * without a block forward refuses `blocks` (ConfigError).
   */
  readonly neighbourhood?: Neighbourhood;
  /** How row values travel to and from the shards; default the job's (JobSpec.wire). */
  readonly wire?: WireEncoding;
  /** How long to keep trying to reach the coordinator at start (default 30 s). */
  readonly connectTimeoutMs?: number;
  /**
   * How long a worker that has joined waits for a coordinator it can no longer reach (default 120 s): a
   * coordinator restarted with --resume at the same address takes the worker back (it joins again, after checking
   * that the job is the same one). Past this the worker exits with an error.
   */
  readonly coordinatorWaitMs?: number;
  /** Aborted (SIGTERM): the worker finishes its current task, leaves and returns. */
  readonly signal?: AbortSignal;
  /** Told of the join and of every task (metrics: src/metrics/worker.ts). */
  readonly observer?: WorkerObserver;
  /** Tests: awaited between a task's pull and its gradient's push (to force an interleaving of workers). */
  readonly afterPull?: (t: TaskMsg) => Promise<void>;
  readonly log: Logger;
}

export interface WorkerSummary {
  readonly worker: string;
  readonly tasks: number;
  readonly accepted: number;
  readonly rowsPulled: number;
  readonly rowsPushed: number;
  readonly pullSeconds: number;
  readonly computeSeconds: number;
  readonly pushSeconds: number;
  readonly waitSeconds: number;
  readonly reportSeconds: number;
  readonly bytesPulled: number;
  readonly bytesPushed: number;
  /** Evaluation ranges leased to this worker, those whose sums the coordinator accepted, and the time they took. */
  readonly ranges: number;
  readonly rangesAccepted: number;
  readonly evalSeconds: number;
  readonly stoppedBy: 'coordinator' | 'signal';
}

/** A worker's join and each task's outcome, for an observer (metrics). */
export interface WorkerObserver {
  joined(admitted: boolean): void;
  taskDone(t: WorkerTaskRecord): void;
}

export interface WorkerTaskRecord {
  readonly outcome: 'accepted' | 'not_accepted' | 'failed';
  /** Wall time from the lease's arrival to the coordinator's answer to the report. */
  readonly seconds: number;
  /** Null when the task failed. */
  readonly stats: TaskStats | null;
}

/** What one task did, for the report, the worker's totals and its metrics (docs/distributed.md §1, metrics.jsonl `distributed`). */
export interface TaskStats {
  rowsPulled: number;
  rowsPushed: number;
  bytesPulled: number;
  bytesPushed: number;
  pullSeconds: number;
  computeSeconds: number;
  /** Prepare on every shard (bsp), or push on every shard (ssp/async: applied on arrival). */
  pushSeconds: number;
  /** From the previous report to this task's lease: waiting for the step's other tasks, its commit, the lease. */
  waitSeconds: number;
  /** The previous Report call. */
  reportSeconds: number;
}

const LEASE_WAIT_MS = 1000;

/** Runs a worker until the coordinator says stop or the signal aborts. */
export async function runWorker(opts: WorkerOptions): Promise<WorkerSummary> {
  const id = opts.id ?? `${hostname()}-${process.pid}`;
  const log = opts.log.child({ component: 'worker', worker: id });
  const client = new CoordinatorClient(opts.coordinator, { token: opts.token, credentials: opts.credentials });
  try {
    const spec = await getJob(client, opts.connectTimeoutMs ?? 30_000);
    const queue = await openQueue(spec, opts, id, log);
    try {
      await configureCompute({ threads: opts.threads, native: opts.native });
      const backend = await initBackend(opts.backend ?? (spec.backend as BackendChoice));
      log.info({ job: spec.job, model: spec.model, backend: backend.backend, neighbourhood: opts.neighbourhood ?? 'full' }, 'job received');
      const ctx = await openJob(spec, opts, id);
      const loop = new WorkerLoop(client, ctx, id, log, { spec, queue, waitMs: opts.coordinatorWaitMs ?? 120_000, signal: opts.signal, observer: opts.observer });
      try {
        return await loop.run();
      } finally {
        await loop.close();
        ctx.store.close();
        ctx.prep.release();
      }
    } finally {
      await queue?.close();
    }
  } finally {
    client.close();
  }
}

/** The job's task queue as this worker reaches it, and its lease (the consumer's ack wait). */
interface WorkerQueue {
  readonly queue: TaskQueue;
  readonly leaseMs: number;
  close(): Promise<void>;
}

/**
 * Null when the coordinator leases the tasks itself; else the job's JetStream work queue, on the coordinator's NATS
 * server unless `--nats` names another. A `--task-queue` other than the coordinator's is a ConfigError, an unreachable
 * server PeerUnavailable, one without JetStream a ConfigError: each names what to fix.
 */
async function openQueue(spec: JobSpec, opts: WorkerOptions, id: string, log: Logger): Promise<WorkerQueue | null> {
  const theirs = spec.taskQueue || 'policy';
  const mine = opts.taskQueue ?? theirs;
  if (mine !== theirs) {
    throw new ConfigError(`--task-queue ${mine}, but the coordinator at ${opts.coordinator} runs --task-queue ${theirs}: start this worker with --task-queue ${theirs}, or without the flag`);
  }
  if (theirs === 'policy') return null;
  if (theirs !== 'jetstream') throw new ConfigError(`the coordinator at ${opts.coordinator} uses a '${theirs}' task queue, which a worker process cannot reach`);
  const url = opts.nats ?? spec.nats;
  if (!url) throw new ConfigError(`the coordinator at ${opts.coordinator} runs a JetStream task queue but names no NATS server: give --nats <url>`);
  const nc = await connectNats({ servers: url, name: `worker-${id}`, log });
  try {
    const queue = await JetStreamTaskQueue.open(nc, { job: spec.job, leaseMs: spec.leaseMs || 30_000, server: url, log });
    log.info({ nats: url, leaseMs: queue.leaseMs }, 'taking tasks from the JetStream queue');
    return {
      queue,
      leaseMs: queue.leaseMs,
      close: async () => {
        await queue.close();
        if (!nc.isClosed()) await nc.close();
      },
    };
  } catch (err) {
    await nc.close();
    throw err;
  }
}

interface JobContext {
  readonly data: Dataset;
  readonly model: AnyModel;
  readonly hyper: Record<string, unknown>;
  readonly prep: Prepared;
  readonly store: RemoteParamStore;
  readonly heartbeatMs: number;
  /** ssp/async: gradients are pushed and applied on arrival; bsp: prepared, and committed by the coordinator. */
  readonly onArrival: boolean;
  /** Threads of this worker's evaluator (started at its first evaluation range). */
  readonly evalThreads: number;
  readonly neighbourhood: Neighbourhood;
  /** bsp: prefetch the next step's rows after each push (RemoteParamStore.prefetch); CAMREC_PREFETCH=0 turns it off. */
  readonly prefetch: boolean;
  readonly afterPull?: (t: TaskMsg) => Promise<void>;
}

async function getJob(client: CoordinatorClient, timeoutMs: number): Promise<JobSpec> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await client.getJob();
    } catch (err) {
      if (!(err instanceof PeerUnavailable) || Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Loads the data (checked against the coordinator's checksum), prepares the model and connects to the shards. */
async function openJob(spec: JobSpec, opts: WorkerOptions, id: string): Promise<JobContext> {
  const data: Dataset = await loadDataset(opts.dataDir ?? spec.dataDir);
  if (data.checksum !== spec.datasetChecksum) {
    throw new ConfigError(`dataset ${data.dir} has checksum ${data.checksum}, the coordinator's has ${spec.datasetChecksum}: not the same data`);
  }
  const model = models.get(spec.model);
  const neighbourhood = opts.neighbourhood ?? 'full';
  checkNeighbourhood(model, neighbourhood);
  const hyper = model.hyper.parse(JSON.parse(spec.hyperJson)) as Record<string, unknown>;
  const consistency = parseConsistency(spec.consistency || 'bsp', 'JobSpec.consistency');
  const prep = model.prepare(data, hyper, { seed: spec.seed });
  try {
    const store = await connectShards({
      addresses: opts.shards?.length ? opts.shards : spec.shards,
      specs: model.tables(data, hyper),
      optimizer: JSON.parse(spec.optimizerJson) as OptimizerConfig,
      seed: spec.seed,
      consistency: shardConsistency(consistency),
      clientId: id,
      token: opts.token,
      credentials: opts.credentials,
      // Several tasks of one step on this worker read the same whole tables: the second moves only changed rows.
      rowCache: true,
      wire: opts.wire ?? parseWire(spec.wire, 'JobSpec.wire'),
    });
    return {
      data,
      model,
      hyper,
      prep,
      store,
      heartbeatMs: spec.heartbeatMs || 1000,
      onArrival: appliesOnArrival(consistency),
      evalThreads: opts.threads ?? availableParallelism(),
      neighbourhood,
      prefetch: process.env.CAMREC_PREFETCH !== '0',
      afterPull: opts.afterPull,
    };
  } catch (err) {
    prep.release();
    throw err;
  }
}

class WorkerLoop {
  private tasks = 0;
  private accepted = 0;
  private readonly totals: TaskStats = { rowsPulled: 0, rowsPushed: 0, bytesPulled: 0, bytesPushed: 0, pullSeconds: 0, computeSeconds: 0, pushSeconds: 0, waitSeconds: 0, reportSeconds: 0 };
  private stopFlag = false;
  /** When this worker last finished a report (or started): lease waiting runs from here. */
  private idleSince = performance.now();
  private lastReportSeconds = 0;
  /** The PS step of the task after whose prepare this worker last prefetched (RemoteParamStore.prefetch). */
  private prefetchedAfter: number | null = null;
  private ranges = 0;
  private rangesAccepted = 0;
  private evalSeconds = 0;
  /** Started at the first evaluation range. */
  private evaluator: Evaluator | null = null;
  /** The gradients' arrays, reused task after task: a task's are sent (encoded) before the next task computes. */
  private readonly gradients = new GradientBuffers();
  /** The representations last evaluated, and the (generation, epoch) they belong to. */
  private reps: { key: string; users: Float32Array; items: Float32Array; dim: number } | null = null;
  /** The job's evaluation cut-offs (as the latest GetJob gave them). */
  private ks: readonly number[];

  /** Since when the coordinator has been unreachable (null: it answers). */
  private lostSince: number | null = null;

  constructor(
    private readonly client: CoordinatorClient,
    private readonly ctx: JobContext,
    private readonly id: string,
    private readonly log: Logger,
    private readonly opts: { spec: JobSpec; queue: WorkerQueue | null; waitMs: number; signal?: AbortSignal; observer?: WorkerObserver },
  ) {
    this.ks = opts.spec.ks;
  }

  async close(): Promise<void> {
    await this.evaluator?.close();
    this.evaluator = null;
    this.reps = null;
  }

  /**
   * One call to the coordinator. While it cannot be reached (PeerUnavailable: down, restarting, or a network
   * partition) the call is retried, backing off from 200 ms to 2 s, for up to `waitMs` from the first failure;
   * then the error is thrown. Other errors are thrown at once.
   */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let pause = 200; ; pause = Math.min(2000, pause * 2)) {
      try {
        const r = await fn();
        this.reached(what);
        return r;
      } catch (err) {
        if (!(err instanceof PeerUnavailable) || this.opts.signal?.aborted) throw err;
        if (this.lost(what, err) > this.opts.waitMs) throw err;
        await new Promise((r) => setTimeout(r, pause));
      }
    }
  }

  /** The coordinator answered `what`. */
  private reached(what: string): void {
    if (this.lostSince !== null) this.log.warn({ call: what, seconds: (Date.now() - this.lostSince) / 1000 }, 'coordinator reachable again');
    this.lostSince = null;
  }

  /** The coordinator did not answer `what`: how long it has been unreachable (ms). */
  private lost(what: string, err: Error): number {
    if (this.lostSince === null) {
      this.lostSince = Date.now();
      this.log.warn({ call: what, err: err.message, waitSeconds: this.opts.waitMs / 1000 }, 'coordinator unreachable: waiting for it');
    }
    return Date.now() - this.lostSince;
  }

  /**
   * After a refused lease: the coordinator does not know this worker, which happens when it restarted. Joining
   * again is right only if it still runs the same job; otherwise this worker's data, model and shards are wrong.
   */
  private async checkSameJob(): Promise<void> {
    const now = await this.call('GetJob', () => this.client.getJob());
    const was = this.opts.spec;
    // What decides the computation; the job's name may change (a coordinator started without --job draws one).
    const fields = ['model', 'hyperJson', 'seed', 'datasetChecksum', 'optimizerJson', 'consistency', 'taskQueue', 'wire'] as const;
    const changed = fields.filter((f) => now[f] !== was[f]);
    if (changed.length) {
      throw new ConfigError(`the coordinator at ${this.client.address} now runs another job (${changed.map((f) => `${f}: ${String(was[f])} → ${String(now[f])}`).join('; ')}): this worker stops`);
    }
    // The cut-offs do not change the training: a resumed job may evaluate at others.
    this.ks = now.ks;
  }

  async run(): Promise<WorkerSummary> {
    await this.join();
    const beat = setInterval(() => void this.heartbeat(), this.ctx.heartbeatMs);
    try {
      const q = this.opts.queue;
      const stoppedBy = q ? await this.queueLoop(q) : await this.loop();
      this.stopFlag = true;
      if (stoppedBy === 'signal') await this.client.leave(this.id, 'signal').catch(() => undefined);
      const evaluation = { ranges: this.ranges, rangesAccepted: this.rangesAccepted, evalSeconds: this.evalSeconds };
      this.log.info({ tasks: this.tasks, accepted: this.accepted, ...evaluation, stoppedBy }, 'worker done');
      return { worker: this.id, tasks: this.tasks, accepted: this.accepted, ...this.totals, ...evaluation, stoppedBy };
    } finally {
      clearInterval(beat);
    }
  }

  private async join(): Promise<void> {
    const r = await this.call('Join', () => this.client.join(this.id, hostname(), process.pid, true));
    this.opts.observer?.joined(r.admitted);
    if (!r.admitted) {
      this.stopFlag = true;
      this.log.info({ reason: r.reason }, 'not admitted');
      return;
    }
    this.log.info('joined');
  }

  private async heartbeat(): Promise<void> {
    try {
      const r = await this.client.heartbeat(this.id);
      this.reached('Heartbeat');
      if (r.stop) this.stopFlag = true;
    } catch (err) {
      if (err instanceof PeerUnavailable) this.lost('Heartbeat', err);
      else if (!this.stopFlag) this.log.warn({ err: (err as Error).message }, 'heartbeat failed');
    }
  }

  private async loop(): Promise<'coordinator' | 'signal'> {
    for (;;) {
      if (this.opts.signal?.aborted) return 'signal';
      if (this.stopFlag) return 'coordinator';
      const reply = await this.call('Lease', () => this.client.lease(this.id, LEASE_WAIT_MS));
      if (reply.outcome === 'stop') return 'coordinator';
      if (reply.outcome === 'rejected') {
        this.log.warn({ reason: reply.rejected.reason }, 'lease refused: joining again');
        await this.checkSameJob();
        await this.join();
        continue;
      }
      if (reply.outcome === 'task') await this.runTask(reply.task, (performance.now() - this.idleSince) / 1000);
      if (reply.outcome === 'eval') await this.runRange(reply.eval);
    }
  }

  /**
   * Under a JetStream task queue: take a task from the queue, claim it, compute and report it, ack. Between tasks
   * only heartbeats reach the coordinator: past `waitMs` without an answer the worker gives up, as in `call`.
   */
  private async queueLoop(q: WorkerQueue): Promise<'coordinator' | 'signal'> {
    for (;;) {
      if (this.opts.signal?.aborted) return 'signal';
      if (this.stopFlag) return 'coordinator';
      const lease = await q.queue.take(this.id, LEASE_WAIT_MS).catch(async (err: unknown) => {
        this.log.warn({ err: (err as Error).message }, 'taking a task from the queue failed');
        await new Promise((r) => setTimeout(r, LEASE_WAIT_MS));
        return null;
      });
      if (lease) await this.runTaken(lease, q.leaseMs);
      else if (this.lostSince !== null && Date.now() - this.lostSince > this.opts.waitMs) {
        throw new PeerUnavailable(`coordinator ${this.client.address}: unreachable for ${this.opts.waitMs} ms`);
      }
    }
  }

  /**
   * A task taken from the queue. The coordinator gives its triples and the step it prepares (Claim); it is computed
   * and reported as a leased one, and its delivery is then acked — whether the result was accepted or another
   * attempt's was: the task is done either way. A task that failed here, or that SIGTERM caught before it started,
   * is handed back (nak: delivered again at once, attempt + 1); one the coordinator does not want (done, or not of
   * an open step) is acked away. While held, the lease is renewed (in-progress ack) every quarter of it.
   */
  private async runTaken(lease: TaskLease, leaseMs: number): Promise<void> {
    const renew = setInterval(() => void lease.extend().catch(() => undefined), Math.max(50, leaseMs / 4));
    const key = `${taskKey(lease.task)}#${lease.attempt}`;
    try {
      let reply = await this.call('Claim', () => this.client.claim(this.id, lease.task, lease.attempt));
      if (reply.outcome === 'rejected') {
        this.log.warn({ reason: reply.rejected.reason }, 'claim refused: joining again');
        await this.checkSameJob();
        await this.join();
        reply = await this.call('Claim', () => this.client.claim(this.id, lease.task, lease.attempt));
      }
      if (reply.outcome === 'task' && !this.opts.signal?.aborted) {
        const outcome = await this.runTask(reply.task, (performance.now() - this.idleSince) / 1000);
        if (outcome === 'failed') return await lease.handBack();
        if (!(await lease.ack())) this.log.info({ delivery: key }, 'the lease ended before the ack: the queue delivers the task again, and the coordinator drops it');
        return;
      }
      if (reply.outcome === 'wait') {
        this.log.debug({ delivery: key, reason: reply.wait.reason }, 'not wanted: dropped');
        await lease.ack();
        return;
      }
      if (reply.outcome === 'stop') this.stopFlag = true;
      await lease.handBack();
    } catch (err) {
      await lease.handBack().catch(() => undefined);
      throw err;
    } finally {
      clearInterval(renew);
    }
  }

  /** Evaluates a range of users and reports its metric sums (or its failure: the range is then re-queued). */
  private async runRange(r: EvalRangeMsg): Promise<void> {
    this.ranges++;
    const t0 = performance.now();
    const key = rangeKey({ epoch: r.epoch, split: r.split as EvalSplit, index: r.index });
    const head = { worker: this.id, epoch: r.epoch, split: r.split, index: r.index, attempt: r.attempt };
    let result: RangeResult;
    try {
      result = await this.evaluateRange(r);
    } catch (err) {
      this.log.warn({ range: key, attempt: r.attempt, err: (err as Error).message }, 'evaluation range failed');
      const failed = await this.call('ReportEval', () => this.client.reportEval({ ...head, error: (err as Error).message || String(err) }));
      this.idleSince = performance.now();
      if (failed.stop) this.stopFlag = true;
      return;
    }
    const seconds = (performance.now() - t0) / 1000;
    const reply = await this.call('ReportEval', () => this.client.reportEval({ ...head, sums: result.sums, users: result.users, seconds }));
    this.idleSince = performance.now();
    this.evalSeconds += seconds;
    if (reply.accepted) this.rangesAccepted++;
    this.log.info({ range: key, users: [r.start, r.end], attempt: r.attempt, seconds, accepted: reply.accepted, reason: reply.reason || undefined }, 'evaluated range');
    if (reply.stop) this.stopFlag = true;
  }

  /**
   * The range's metric sums. The representations are computed once per (generation, epoch): the shards' tables do
   * not change while one coordinator evaluates an epoch, so the test ranges after the valid ones reuse them.
   */
  private async evaluateRange(r: EvalRangeMsg): Promise<RangeResult> {
    if (r.split !== 'valid' && r.split !== 'test') throw new ConfigError(`evaluation range ${r.epoch}.${r.split}.${r.index}: split is not valid or test`);
    const { data, model, store, prep, hyper } = this.ctx;
    const key = `${r.generation}.${r.epoch}`;
    if (this.reps?.key !== key) this.reps = { key, ...(await representations(model, store.exactReads(), prep, hyper)) };
    this.evaluator ??= await createEvaluator({ threads: this.ctx.evalThreads, native: nativeKernels() });
    const truth = r.split === 'valid' ? data.validByUser : data.testByUser;
    const { users, items, dim } = this.reps;
    return this.evaluator.evaluateRange(
      { userEmb: users, itemEmb: items, dim, nUsers: data.nUsers, nItems: data.nItems, mask: data.trainByUser, truth, ks: this.ks },
      { start: r.start, end: r.end },
    );
  }

  private async runTask(t: TaskMsg, waitSeconds: number): Promise<WorkerTaskRecord['outcome']> {
    this.tasks++;
    const t0 = performance.now();
    const key = taskKey(t);
    const head = { worker: this.id, epoch: t.epoch, step: t.step, index: t.index, attempt: t.attempt };
    let r: Awaited<ReturnType<WorkerLoop['compute']>>;
    try {
      r = await this.compute(t, key);
    } catch (err) {
      this.log.warn({ task: key, attempt: t.attempt, err: (err as Error).message }, 'task failed');
      const failed = await this.call('Report', () => this.client.report({ ...head, error: (err as Error).message || String(err) }));
      this.idleSince = performance.now();
      this.opts.observer?.taskDone({ outcome: 'failed', seconds: (this.idleSince - t0) / 1000, stats: null });
      if (failed.stop) this.stopFlag = true;
      return 'failed';
    }
    const stats: TaskStats = { ...r.stats, waitSeconds, reportSeconds: this.lastReportSeconds };
    const sent = performance.now();
    const reply = await this.call('Report', () => this.client.report({ ...head, loss: r.loss, parts: r.parts, triples: t.end - t.start, ...stats, reads: r.reads, applied: r.applied }));
    this.idleSince = performance.now();
    this.lastReportSeconds = (this.idleSince - sent) / 1000;
    for (const k of Object.keys(this.totals) as (keyof TaskStats)[]) this.totals[k] += stats[k];
    const outcome = reply.accepted ? 'accepted' : 'not_accepted';
    this.opts.observer?.taskDone({ outcome, seconds: (this.idleSince - t0) / 1000, stats });
    if (reply.accepted) this.accepted++;
    else this.log.info({ task: key, attempt: t.attempt, reason: reply.reason }, 'result not accepted');
    if (reply.stop) this.stopFlag = true;
    return outcome;
  }

  /**
   * Pull, loss and gradients, then prepare (bsp: staged on every shard) or push (ssp/async: applied on arrival).
   * Under `--neighbourhood blocks` the task's blocks are built first (counted as compute time) and freed at the end.
   */
  private async compute(t: TaskMsg, key: string) {
    const { model, prep, hyper } = this.ctx;
    const t0 = performance.now();
    const batch = batchOf(t, t.triples);
    const blocks = taskBlocks(model, batch, prep, hyper, this.ctx.neighbourhood);
    const building = (performance.now() - t0) / 1000;
    try {
      return await this.computeShare(t, key, { batch, weight: t.weight, whole: t.batchTerms ? batchOf(t, t.whole) : null, ...(blocks ? { blocks } : {}) }, building);
    } finally {
      blocks?.release();
    }
  }

  private async computeShare(t: TaskMsg, key: string, share: TaskShare, buildingSeconds: number) {
    const { model, prep, hyper, store } = this.ctx;
    store.takeReads();
    // A prefetch waits at the shards for the commit of the step it followed: only a later step's task may wait for it.
    store.waitForPrefetches = this.prefetchedAfter === null || t.psStep > this.prefetchedAfter;
    const before = { ...store.traffic };
    const t0 = performance.now();
    const pulled = await pullRows(store, taskRows(model, share, prep, hyper));
    const read = store.takeReads();
    await this.ctx.afterPull?.(t);
    const t1 = performance.now();
    const { result, grads } = taskLossAndGrads(model, share, pulled, prep, hyper, this.gradients);
    const t2 = performance.now();
    store.generation = t.generation;
    const update = this.ctx.onArrival ? await store.pushTask(key, t.attempt, grads) : { ...(await store.prepareTask(t.psStep, key, t.attempt, grads)), applied: [] };
    // bsp: ask now for the rows the step's commit will change, so that they travel while the step closes.
    if (!this.ctx.onArrival && this.ctx.prefetch) {
      store.prefetch();
      this.prefetchedAfter = t.psStep;
    }
    const t3 = performance.now();
    const sent = new Set(update.targets.map((p) => `${p.table}\u0000${p.shard}`));
    const after = store.traffic;
    const stats = {
      rowsPulled: after.rowsPulled - before.rowsPulled,
      rowsPushed: after.rowsPushed - before.rowsPushed,
      bytesPulled: after.bytesPulled - before.bytesPulled,
      bytesPushed: after.bytesPushed - before.bytesPushed,
      pullSeconds: (t1 - t0) / 1000,
      computeSeconds: (t2 - t1) / 1000 + buildingSeconds,
      pushSeconds: (t3 - t2) / 1000,
    };
    // Σ_t weight_t · loss_t must be the step's loss: the contribution over the weight.
    return { loss: result.loss / t.weight, parts: result.parts, stats, reads: read.filter((r) => sent.has(`${r.table}\u0000${r.shard}`)), applied: update.applied };
  }
}

/**
 * Connects to the shards. A worker that joins while the coordinator commits a step can find the shards one step
 * apart for a moment (the store refuses that as StaleVersion): it tries again. Its tasks name their step anyway.
 */
async function connectShards(o: RemoteStoreOptions): Promise<RemoteParamStore> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await RemoteParamStore.connect(o);
    } catch (err) {
      if (!(err instanceof StaleVersion) || attempt >= 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** A task's triples as a Batch (epoch and step key the model's random draws). */
function batchOf(t: TaskMsg, m: TriplesMsg | null): Batch {
  if (!m) throw new ConfigError(`task ${taskKey(t)} came without its triples`);
  const users = intsOf(m.users);
  const pos = intsOf(m.pos);
  const neg = intsOf(m.neg);
  if (pos.length !== users.length || neg.length !== users.length) {
    throw new ConfigError(`task ${taskKey(t)}: ${users.length} users, ${pos.length} positives, ${neg.length} negatives`);
  }
  return { epoch: t.epoch, step: t.step, users, pos, neg };
}

/** Little-endian int32s; copied when the decoded buffer is not 4-byte aligned. */
function intsOf(buf: Uint8Array): Int32Array {
  if (buf.byteLength % 4 !== 0) throw new ConfigError(`triples: ${buf.byteLength} bytes is not a multiple of 4`);
  const a = buf.byteOffset % 4 === 0 ? buf : new Uint8Array(buf);
  return new Int32Array(a.buffer, a.byteOffset, a.byteLength / 4);
}
