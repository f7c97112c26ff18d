/**
 * The coordinator process's job (docs/distributed.md): it feeds the pure policy (policy.ts) one event at a time and
 * carries out its actions in order — draws each epoch's batches, hands tasks to workers, commits each bsp step on
 * every shard, evaluates from the shards' tables (or hands ranges of users to the workers, which evaluate them and
 * report metric sums: sharded evaluation), writes the same run directory as single-process training
 * (config.json is the caller's; metrics.jsonl, best.ckpt, last.ckpt, result.json here) and publishes job events.
 * The gRPC handlers (server.ts) only translate messages to the calls below.
 */
import type { Logger } from 'pino';
import type { TrainConfig } from '../config/index.js';
import type { Dataset } from '../data/types.js';
import { CheckpointError } from '../errors/index.js';
import { evaluatedUsers, type MetricTotals } from '../eval/index.js';
import type { EventBus, EventData, EventKind } from '../events/index.js';
import type { Batch, Model, Prepared } from '../models/types.js';
import type { RemoteParamStore, WireEncoding } from '../paramserver/index.js';
import {
  adagrad,
  adam,
  checkpointMeta,
  describeDataset,
  evaluateSplit,
  initialEarlyStop,
  readMatchingCheckpoint,
  TrainSampler,
  trainingIdentity,
  writeCheckpoint,
  type Checkpoint,
  type ResumeIdentity,
  type RunDir,
  type SeedResult,
  type SplitEvaluator,
  type StoppedBy,
  type TrainerState,
} from '../train/index.js';
import { appliesOnArrival, formatConsistency, type Consistency } from './consistency.js';
import { begin, decide, type AcceptedTask, type Action, type Event, type PolicyConfig, type ResumePoint, type State } from './policy.js';
import { rangeKey, type EvalRange, type EvalSplit, type RangeRef } from './ranges.js';
import { histogramOf, mergeHistograms, stalenessSamples, summarizeStaleness, type ShardVersion, type StalenessHistogram, type StalenessSummary } from './staleness.js';
import { stepSizes, taskKey, taskTriples, type Task, type TaskRef } from './split.js';
import type { TaskQueue } from './taskqueue.js';
import { TrafficAccount, type TaskTiming } from './traffic.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyModel = Model<any, any>;

export interface JobOptions {
  /** The job id in event subjects. */
  readonly job: string;
  readonly cfg: Readonly<TrainConfig>;
  readonly data: Dataset;
  readonly model: AnyModel;
  /** Connected to every shard (their tables initialised). */
  readonly store: RemoteParamStore;
  /** Shard i's address as workers reach it. */
  readonly shards: readonly string[];
  readonly dir: RunDir;
  readonly evaluator: SplitEvaluator;
  readonly bus: EventBus;
  readonly log: Logger;
  /** Recorded in result.json as the single-process trainer does. */
  readonly provenance: Record<string, unknown>;
  readonly tasksPerStep: number;
  /** bsp (default), ssp:s or async (consistency.ts). */
  readonly consistency: Consistency;
  /** How row values travel between the workers and the shards (default f32); the coordinator's own reads are float32. */
  readonly wire?: WireEncoding;
  readonly leaseMs: number;
  readonly maxAttempts: number;
  /**
   * `--task-queue jetstream`: workers take the tasks from this queue (the policy's queue leasing) and claim them here;
   * absent, the policy leases them to the workers that ask.
   */
  readonly taskQueue?: TaskQueue;
  /** The task queue's NATS server as workers should reach it (the JobSpec's `nats`). */
  readonly natsUrl?: string;
  /** `--eval-on-coordinator`: never shard evaluation over the workers (default: sharded when two or more evaluate). */
  readonly evalOnCoordinator?: boolean;
  /** A worker not heard from for this long is dropped and its leases re-queued. */
  readonly workerTimeoutMs: number;
  /** `--min-workers`: the first epoch waits for this many admitted workers (policy.ts PolicyConfig.minWorkers). */
  readonly minWorkers?: number;
  /** `--gather-timeout-ms`: at most this long (then it opens with the workers admitted). */
  readonly gatherMs?: number;
  readonly heartbeatMs: number;
  /** --resume: the run directory's last.ckpt, checked by `readResumePoint`; its state is imported into the shards. */
  readonly resumeFrom?: Checkpoint;
  /** Each done step's loss and parts (tests, metrics). */
  readonly onStep?: (s: CommittedStep) => void;
  /** Each ended epoch's staleness summary, as metrics.jsonl records it (metrics). */
  readonly onEpoch?: (e: EndedEpoch) => void;
  /** Tests: each lease handed out. */
  readonly onLease?: (l: { worker: string; task: Task; attempt: number }) => void;
  /** Tests: each evaluation range handed out. */
  readonly onRangeLease?: (l: { worker: string; range: EvalRange; attempt: number }) => void;
}

export interface CommittedStep {
  readonly epoch: number;
  readonly step: number;
  /** bsp: the parameter server's step it became; null under ssp/async (applied task by task on arrival). */
  readonly psStep: number | null;
  readonly loss: number;
  readonly parts: Readonly<Record<string, number>>;
  readonly tasks: readonly { index: number; attempt: number; worker: string }[];
}

export interface EndedEpoch {
  readonly epoch: number;
  /** Per table (staleness.ts); empty when no gradient was applied. */
  readonly staleness: Readonly<Record<string, StalenessSummary>>;
}

/** A task as a worker receives it: its triples, and the whole batch when it computes the batch terms. */
export interface LeasedTask {
  readonly task: Task;
  readonly attempt: number;
  readonly psStep: number;
  readonly batch: Batch;
  readonly whole: Batch | null;
  readonly deadlineMs: number;
  /** The generation of the coordinator that leased it (RemoteParamStore.takeOver): the task's updates carry it. */
  readonly generation: number;
}

/** An evaluation range as a worker receives it. */
export interface LeasedRange {
  readonly range: EvalRange;
  readonly attempt: number;
  readonly deadlineMs: number;
  /** With the epoch, names the parameters to evaluate: the tables do not change while one coordinator evaluates. */
  readonly generation: number;
}

export type LeaseOutcome =
  | { readonly kind: 'task'; readonly lease: LeasedTask }
  | { readonly kind: 'eval'; readonly lease: LeasedRange }
  | { readonly kind: 'wait'; readonly reason: string }
  | { readonly kind: 'stop'; readonly reason: string }
  | { readonly kind: 'rejected'; readonly reason: string };

export interface TaskReport {
  readonly worker: string;
  readonly task: TaskRef;
  readonly attempt: number;
  readonly loss: number;
  readonly parts: Readonly<Record<string, number>>;
  /** Set when the task failed on the worker. */
  readonly error?: string;
  /** Where the worker's time went on this task (metrics.jsonl `distributed`). */
  readonly timing?: Partial<TaskTiming>;
  /** Staleness (staleness.ts): the versions the task read, per (table, shard) it sent rows to ... */
  readonly reads?: readonly ShardVersion[];
  /** ... and under ssp/async the versions its push was applied on top of. */
  readonly applied?: readonly ShardVersion[];
}

/** A worker's result for an evaluation range: the metric sums of its users, or why it failed. */
export interface RangeReport {
  readonly worker: string;
  readonly range: RangeRef;
  readonly attempt: number;
  /** Absent when the range failed on the worker. */
  readonly totals?: MetricTotals;
  readonly error?: string;
}

/** A split the workers evaluated in this epoch (metrics.jsonl `distributed.evaluation`). */
interface ShardedSplit {
  readonly ranges: number;
  /** The workers whose reports were merged, sorted. */
  readonly workers: readonly string[];
  readonly seconds: number;
}

/** What a coordinator's checkpoint keeps beside the single-process trainer's state. */
export interface CoordinatorCheckpointState extends TrainerState {
  readonly distributed: { readonly consistency: string; readonly staleness: StalenessHistogram };
}

/** The task that computes the step's batch terms over the whole batch (docs/distributed.md). */
export const BATCH_TERMS_TASK = 0;

const TICK_MS = 100;

export class CoordinatorJob {
  private state!: State;
  /**
   * Opens once start() has set the policy's first state. The gRPC server listens before start() (the port is
   * printed first), so a worker's Join can arrive while the shards are being fenced: its event waits here instead
   * of reaching the policy before there is a state.
   */
  private readonly begun = deferred();
  private chain: Promise<unknown> = this.begun.promise;
  private readonly sampler: TrainSampler;
  private readonly prep: Prepared;
  private readonly hyper: Record<string, unknown>;
  private readonly log: Logger;
  private readonly seed: number;
  private batches: Batch[] = [];
  private committed: number;
  /** Parts and (bsp) read versions reported by the accepted results of each open step, by task index. */
  private readonly stepResults = new Map<number, { parts: Record<string, number>; reads: readonly ShardVersion[] }[]>();
  /** Staleness of the gradients applied in this epoch, and in the whole run (carried across a resume). */
  private epochStaleness: StalenessHistogram = {};
  private runStaleness: StalenessHistogram = {};
  private epochParts: Record<string, number> = {};
  private epochStarted = 0;
  private epochSampling = 0;
  private epochLeased = false;
  private epochTrainSeconds = 0;
  private lastValid: { metrics: Record<string, number>; seconds: number } | null = null;
  /** Users each split evaluates, when evaluation may be sharded over workers. */
  private readonly evalUsers: Record<EvalSplit, number> | null;
  /** Whether each worker that joined evaluates ranges (kept for the rejoin a failed task or range makes). */
  private readonly evaluates = new Map<string, boolean>();
  private evalStarted = 0;
  /** The splits the workers evaluated in this epoch. */
  private epochEval: Partial<Record<EvalSplit, ShardedSplit>> = {};
  private readonly traffic = new TrafficAccount();
  private readonly trainer: TrainerState = { epoch: 0, earlyStop: initialEarlyStop, bestValid: null, bestTest: null, epochTrainSeconds: [], evalSeconds: [] };
  private readonly lastSeen = new Map<string, number>();
  private readonly toldStop = new Set<string>();
  private changed = deferred();
  private timer: NodeJS.Timeout | null = null;
  private watching = false;
  private failed = false;
  private readonly t0 = performance.now();
  private settle!: { resolve: (r: SeedResult) => void; reject: (e: Error) => void };
  /** Resolves with the run's result when the job finishes; rejects when it fails. */
  readonly result: Promise<SeedResult>;

  constructor(private readonly opts: JobOptions) {
    this.seed = opts.cfg.seed;
    this.log = opts.log.child({ component: 'coordinator', job: opts.job });
    this.hyper = opts.model.hyper.parse(opts.cfg.hyper) as Record<string, unknown>;
    this.prep = opts.model.prepare(opts.data, this.hyper, { seed: this.seed });
    this.sampler = new TrainSampler(opts.data, this.seed, opts.cfg.batch);
    this.evalUsers = opts.evalOnCoordinator
      ? null
      : { valid: evaluatedUsers(opts.data.validByUser).length, test: evaluatedUsers(opts.data.testByUser).length };
    this.committed = opts.store.step;
    this.result = new Promise<SeedResult>((resolve, reject) => (this.settle = { resolve, reject }));
    this.result.catch(() => undefined);
  }

  get policyConfig(): PolicyConfig {
    const c = this.opts.cfg;
    return {
      tasksPerStep: this.opts.tasksPerStep,
      leasing: this.opts.taskQueue ? 'queue' : 'policy',
      consistency: this.opts.consistency,
      leaseMs: this.opts.leaseMs,
      maxAttempts: this.opts.maxAttempts,
      stepSizes: stepSizes(this.sampler.pairs, c.batch),
      maxEpochs: c.epochs,
      patience: c.patience,
      evalEvery: c.evalEvery,
      selectMetric: c.selectMetric,
      ...(this.evalUsers ? { evalUsers: this.evalUsers } : {}),
      ...(this.opts.minWorkers !== undefined ? { minWorkers: this.opts.minWorkers } : {}),
      ...(this.opts.gatherMs !== undefined ? { gatherMs: this.opts.gatherMs } : {}),
    };
  }

  /** Whether workers take their tasks from a task queue and claim them (`--task-queue jetstream`), or ask for them. */
  get queueLeasing(): boolean {
    return this.opts.taskQueue !== undefined;
  }

  /** What a worker needs to take part (the GetJob reply). */
  spec() {
    const c = this.opts.cfg;
    return {
      job: this.opts.job,
      model: this.opts.model.name,
      hyper: this.hyper,
      seed: this.seed,
      dataDir: this.opts.data.dir,
      datasetChecksum: this.opts.data.checksum,
      optimizer: c.optimizer === 'adam' ? adam(c.lr) : adagrad(c.lr),
      shards: [...this.opts.shards],
      consistency: formatConsistency(this.opts.consistency),
      backend: c.backend,
      heartbeatMs: this.opts.heartbeatMs,
      tasksPerStep: this.opts.tasksPerStep,
      ks: [...c.ks],
      taskQueue: this.opts.taskQueue?.kind ?? 'policy',
      nats: this.opts.natsUrl ?? '',
      leaseMs: this.opts.leaseMs,
      wire: this.opts.wire ?? 'f32',
    };
  }

  /** Starts the job: its first epoch opens and the worker watchdog runs. */
  async start(): Promise<void> {
    const sizes = this.policyConfig.stepSizes;
    this.emit('started', {
      model: this.opts.model.name,
      dataset: this.opts.data.name,
      maxEpochs: this.opts.cfg.epochs,
      stepsPerEpoch: sizes.length,
      tasksPerStep: this.opts.tasksPerStep,
      configHash: trainingIdentity(this.opts.cfg, this.seed),
    });
    try {
      // Fence the shards first: a task leased by a coordinator that ran before this one can no longer stage or apply.
      const generation = await this.opts.store.takeOver();
      this.log.info({ generation }, 'shards fenced');
      const resume = await this.restore();
      const d = begin(this.policyConfig, Date.now(), resume);
      this.state = d.state;
      await this.carryOut(d.actions, null);
    } finally {
      this.begun.resolve(); // events queued meanwhile run now, in their order
    }
    this.timer = setInterval(() => void this.watch(), TICK_MS);
  }

  /**
   * Resuming: the checkpoint's tables and optimizer state replace the shards' (whatever they did since: a
   * restarted coordinator finds them part-way into the next epoch, and that epoch is redone from its start),
   * metrics.jsonl is cut back to the checkpoint's epochs, and the trainer's and the staleness record carry on.
   * The sampler needs no position: every draw is keyed by (seed, epoch, …), so epoch e + 1 draws what it would have.
   */
  private async restore(): Promise<ResumePoint | undefined> {
    const ckpt = this.opts.resumeFrom;
    if (!ckpt) return undefined;
    await this.opts.store.importState(ckpt.store);
    this.committed = this.opts.store.step;
    this.opts.dir.truncateMetrics(ckpt.meta.epoch);
    const st = ckpt.meta.trainer as unknown as Partial<CoordinatorCheckpointState> & TrainerState;
    const earlyStop = { ...st.earlyStop, best: st.earlyStop.best ?? -Infinity };
    Object.assign(this.trainer, {
      epoch: st.epoch,
      earlyStop,
      bestValid: st.bestValid,
      bestTest: st.bestTest,
      epochTrainSeconds: [...st.epochTrainSeconds],
      evalSeconds: [...st.evalSeconds],
    });
    this.runStaleness = st.distributed?.staleness ?? {};
    this.log.info({ epoch: ckpt.meta.epoch, psStep: this.committed }, 'resumed');
    return { epochsDone: ckpt.meta.epoch, earlyStop };
  }

  /** Ends the job as failed (the coordinator is stopping): the open step is aborted, workers are told to stop. */
  abort(reason: string): void {
    void this.enqueue(() => this.failJob(reason));
  }

  /** Stops the watchdog and releases what `prepare` built. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.prep.release();
  }

  /** True when every worker that joined has been told to stop (or has gone). */
  allWorkersTold(): boolean {
    return [...this.lastSeen.keys()].every((w) => this.toldStop.has(w));
  }

  /** `evaluates`: the worker takes evaluation ranges (workers older than sharded evaluation do not). */
  async join(worker: string, evaluates = false): Promise<{ admitted: boolean; reason: string }> {
    this.seen(worker);
    this.evaluates.set(worker, evaluates);
    const actions = await this.feed({ kind: 'workerJoined', worker, evaluates, now: Date.now() });
    const stop = actions.find((a) => a.kind === 'stop');
    if (stop) this.toldStop.add(worker);
    return stop ? { admitted: false, reason: 'the job is over' } : { admitted: true, reason: '' };
  }

  heartbeat(worker: string): { stop: boolean; rejoin: boolean } {
    const over = this.state.phase === 'finished' || this.state.phase === 'failed';
    if (over) {
      this.toldStop.add(worker);
      return { stop: true, rejoin: false };
    }
    if (!this.state.workers.includes(worker)) return { stop: false, rejoin: true };
    this.seen(worker);
    return { stop: false, rejoin: false };
  }

  async leave(worker: string, reason: string): Promise<void> {
    this.lastSeen.delete(worker);
    const known = this.state.workers.includes(worker);
    await this.feed({ kind: 'workerLeft', worker, now: Date.now() });
    if (known) this.emit('worker.left', { worker, reason: reason || 'left' });
  }

  /** A task for `worker`, waiting up to `waitMs` while every task of the step is out or the job evaluates. */
  async lease(worker: string, waitMs: number): Promise<LeaseOutcome> {
    const until = Date.now() + waitMs;
    for (;;) {
      if (this.state.workers.includes(worker)) this.seen(worker);
      const changed = this.changed.promise;
      const actions = await this.feed({ kind: 'leaseRequested', worker, now: Date.now() });
      const outcome = this.outcomeFor(worker, actions);
      const left = until - Date.now();
      if (outcome.kind !== 'wait' || left <= 0) return outcome;
      await untilOr(changed, left);
    }
  }

  /**
   * Queue leasing: `worker` took `task` from the task queue, delivered there for the `attempt`-th time. The task to
   * compute (under the attempt the policy records), or why not: `wait` when the task is done or not of an open step
   * (the worker drops the delivery), `rejected` (join first), `stop`.
   */
  async claim(worker: string, task: TaskRef, attempt: number): Promise<LeaseOutcome> {
    if (this.state.workers.includes(worker)) this.seen(worker);
    const actions = await this.feed({ kind: 'taskTaken', worker, task, attempt, now: Date.now() });
    return this.outcomeFor(worker, this.over ? [{ kind: 'stop', worker }] : actions);
  }

  async report(r: TaskReport): Promise<{ accepted: boolean; reason: string; stop: boolean }> {
    this.seen(r.worker);
    if (r.error) {
      this.log.warn({ worker: r.worker, task: taskKey(r.task), attempt: r.attempt, error: r.error }, 'task failed on the worker; it is re-queued');
      return this.failedOnWorker(r.worker);
    }
    const actions = await this.feed({ kind: 'resultArrived', worker: r.worker, task: r.task, attempt: r.attempt, loss: r.loss, now: Date.now() }, r);
    const ignored = actions.find((a) => a.kind === 'ignore');
    return { accepted: !ignored, reason: ignored?.kind === 'ignore' ? ignored.reason : '', stop: this.over };
  }

  async reportEval(r: RangeReport): Promise<{ accepted: boolean; reason: string; stop: boolean }> {
    this.seen(r.worker);
    if (!r.totals) {
      this.log.warn({ worker: r.worker, range: rangeKey(r.range), attempt: r.attempt, error: r.error }, 'evaluation range failed on the worker; it is re-queued');
      return this.failedOnWorker(r.worker);
    }
    const actions = await this.feed({ kind: 'rangeReported', worker: r.worker, range: r.range, attempt: r.attempt, totals: r.totals, now: Date.now() });
    const ignored = actions.find((a) => a.kind === 'ignoreRange');
    return { accepted: !ignored, reason: ignored?.kind === 'ignoreRange' ? ignored.reason : '', stop: this.over };
  }

  /** A task or range failed on the worker: joining again, it gives up what it holds, re-queued with attempt + 1. */
  private async failedOnWorker(worker: string): Promise<{ accepted: boolean; reason: string; stop: boolean }> {
    await this.feed({ kind: 'workerJoined', worker, evaluates: this.evaluates.get(worker) ?? false, now: Date.now() });
    return { accepted: false, reason: 'failed on the worker', stop: this.over };
  }

  private get over(): boolean {
    return this.state.phase === 'finished' || this.state.phase === 'failed';
  }

  private outcomeFor(worker: string, actions: readonly Action[]): LeaseOutcome {
    for (const a of actions) {
      if (a.kind === 'lease' && a.worker === worker) return { kind: 'task', lease: this.leased(a.task, a.attempt, a.deadline) };
      if (a.kind === 'leaseRange' && a.worker === worker) {
        return { kind: 'eval', lease: { range: a.range, attempt: a.attempt, deadlineMs: Math.max(0, a.deadline - Date.now()), generation: this.opts.store.generation } };
      }
      if ((a.kind === 'wait' || a.kind === 'ignore') && a.worker === worker) return { kind: 'wait', reason: a.reason };
      if (a.kind === 'reject' && a.worker === worker) return { kind: 'rejected', reason: a.reason };
      if (a.kind === 'stop' && a.worker === worker) {
        this.toldStop.add(worker);
        return { kind: 'stop', reason: this.state.phase === 'failed' ? 'the job failed' : 'the job finished' };
      }
    }
    return { kind: 'wait', reason: 'nothing for this worker' };
  }

  private get onArrival(): boolean {
    return appliesOnArrival(this.opts.consistency);
  }

  private leased(task: Task, attempt: number, deadline: number): LeasedTask {
    const global = this.batches[task.step];
    return {
      task,
      attempt,
      psStep: this.onArrival ? 0 : this.committed + 1,
      batch: taskTriples(global, task),
      whole: task.index === BATCH_TERMS_TASK ? global : null,
      deadlineMs: Math.max(0, deadline - Date.now()),
      generation: this.opts.store.generation,
    };
  }

  private seen(worker: string): void {
    this.lastSeen.set(worker, Date.now());
  }

  /** Expires leases (a tick) and drops workers silent for longer than the timeout. */
  private async watch(): Promise<void> {
    if (this.over || this.watching) return;
    this.watching = true;
    try {
      await this.dropSilentWorkers();
      await this.feed({ kind: 'tick', now: Date.now() });
    } finally {
      this.watching = false;
    }
  }

  private async dropSilentWorkers(): Promise<void> {
    const now = Date.now();
    for (const [worker, at] of this.lastSeen) {
      if (now - at <= this.opts.workerTimeoutMs || !this.state.workers.includes(worker)) continue;
      this.lastSeen.delete(worker);
      this.log.warn({ worker, silentMs: now - at }, 'worker silent: dropped, its leases re-queued');
      this.emit('worker.left', { worker, reason: `silent for ${now - at} ms` });
      await this.feed({ kind: 'workerLeft', worker, now });
    }
  }

  /** Runs `fn` after everything queued before it. */
  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Feeds one event to the policy and carries out its actions, in order, before the next event. */
  private feed(event: Event, report: TaskReport | null = null): Promise<readonly Action[]> {
    return this.enqueue(async () => {
      const d = decide(this.state, event);
      this.state = d.state;
      await this.carryOut(d.actions, report);
      return d.actions;
    });
  }

  private async carryOut(actions: readonly Action[], report: TaskReport | null): Promise<void> {
    for (const a of actions) {
      try {
        await this.carry(a, report);
      } catch (err) {
        await this.failJob(`${a.kind}: ${(err as Error).message}`, err);
        return;
      }
    }
    if (actions.some((a) => a.kind !== 'wait' && a.kind !== 'lease' && a.kind !== 'ignore')) this.wake();
  }

  private wake(): void {
    const c = this.changed;
    this.changed = deferred();
    c.resolve();
  }

  private async carry(a: Action, report: TaskReport | null): Promise<void> {
    switch (a.kind) {
      case 'admit':
        this.emit('worker.joined', { worker: a.worker });
        return this.log.info({ worker: a.worker }, 'worker joined');
      case 'gather':
        return this.log.info({ minWorkers: a.minWorkers, ...(Number.isFinite(a.until) ? { untilMs: a.until - Date.now() } : {}) }, 'waiting for workers before the first epoch');
      case 'gathered':
        if (a.timedOut) return this.log.warn({ workers: a.workers }, `the wait for ${this.opts.minWorkers} workers timed out: the first epoch opens with ${a.workers.length}`);
        return this.log.info({ workers: a.workers }, 'workers gathered: the first epoch opens');
      case 'reject':
      case 'wait':
      case 'stop':
        return;
      case 'startEpoch': {
        const t = performance.now();
        this.batches = this.sampler.epoch(a.epoch);
        this.epochParts = {};
        this.epochStaleness = {};
        this.epochEval = {};
        this.epochSampling = performance.now() - t;
        this.epochLeased = false;
        return this.emit('epoch', { epoch: a.epoch, state: 'started' });
      }
      case 'startStep':
        this.stepResults.set(a.step, a.tasks.map(() => ({ parts: {}, reads: [] })));
        return this.opts.taskQueue?.put(a.tasks);
      case 'lease':
        // The epoch's time runs from its first lease (not from waiting for workers), sampling included as one process's.
        if (!this.epochLeased) this.epochStarted = performance.now() - this.epochSampling;
        this.epochLeased = true;
        this.opts.onLease?.({ worker: a.worker, task: a.task, attempt: a.attempt });
        return this.taskEvent(a.task, a.attempt, a.worker, 'leased');
      case 'requeue':
        this.log.info({ task: taskKey(a.task), attempt: a.attempt, worker: a.worker, reason: a.reason }, 'task re-queued');
        return this.taskEvent(a.task, a.attempt, a.worker, 'requeued', a.reason);
      case 'accept':
        if (report) this.accepted(a.task, report);
        return this.taskEvent(a.task, a.attempt, a.worker, 'accepted');
      case 'ignore':
        this.log.debug({ task: taskKey(a.task), attempt: a.attempt, worker: a.worker, reason: a.reason }, 'result ignored');
        return this.taskEvent(a.task, a.attempt, a.worker, 'ignored', a.reason);
      case 'commitStep':
        return this.commitStep(a);
      case 'stepApplied':
        return this.stepDone(a, null);
      case 'evaluate':
        this.epochTrainSeconds = (performance.now() - this.epochStarted) / 1000;
        // Outside the event queue: workers asking meanwhile are told to wait ('evaluating').
        setImmediate(() => void this.evaluateEpoch(a.epoch));
        return;
      case 'ignoreEval':
        return this.log.warn({ epoch: a.epoch, reason: a.reason }, 'evaluation result ignored');
      case 'shardEval':
        if (a.split === 'valid') this.epochTrainSeconds = (performance.now() - this.epochStarted) / 1000;
        this.evalStarted = performance.now();
        return this.log.info({ epoch: a.epoch, split: a.split, ranges: a.ranges.length, workers: this.state.evaluators.length }, 'evaluation sharded over the workers');
      case 'leaseRange':
        this.opts.onRangeLease?.({ worker: a.worker, range: a.range, attempt: a.attempt });
        return this.log.debug({ range: rangeKey(a.range), attempt: a.attempt, worker: a.worker }, 'evaluation range leased');
      case 'requeueRange':
        return this.log.info({ range: rangeKey(a.range), attempt: a.attempt, worker: a.worker, reason: a.reason }, 'evaluation range re-queued');
      case 'acceptRange':
        return this.log.debug({ range: rangeKey(a.range), attempt: a.attempt, worker: a.worker }, 'evaluation range accepted');
      case 'ignoreRange':
        return this.log.debug({ range: rangeKey(a.range), attempt: a.attempt, worker: a.worker, reason: a.reason }, 'evaluation range result ignored');
      case 'evalMerged':
        return this.evalMerged(a);
      case 'epochEnd':
        return this.epochEnd(a);
      case 'finish':
        return this.finish(a.reason);
      case 'fail':
        return this.failJob(a.reason);
    }
  }

  private taskEvent(t: TaskRef, attempt: number, worker: string, state: 'leased' | 'accepted' | 'requeued' | 'ignored', reason?: string): void {
    this.emit('task', { epoch: t.epoch, step: t.step, index: t.index, attempt, worker, state, ...(reason ? { reason } : {}) });
  }

  /** An accepted result: its parts, its timing, and its staleness (ssp/async: now, from its push; bsp: at the commit). */
  private accepted(task: TaskRef, r: TaskReport): void {
    this.traffic.task(r.worker, r.timing ?? {});
    const slot = this.stepResults.get(task.step)?.[task.index];
    if (slot) {
      slot.parts = { ...r.parts };
      slot.reads = r.reads ?? [];
    }
    if (this.onArrival) this.noteStaleness(stalenessSamples(r.reads ?? [], r.applied ?? []));
  }

  private noteStaleness(samples: { table: string; staleness: number }[]): void {
    this.epochStaleness = mergeHistograms(this.epochStaleness, histogramOf(samples));
  }

  private async commitStep(a: Action & { kind: 'commitStep' }): Promise<void> {
    const psStep = this.committed + 1;
    const t0 = performance.now();
    const before = await this.opts.store.commitStep(
      psStep,
      a.tasks.map((t) => taskKey({ epoch: a.epoch, step: a.step, index: t.index })),
    );
    this.committed = psStep;
    const commitSeconds = (performance.now() - t0) / 1000;
    for (const r of this.stepResults.get(a.step) ?? []) this.noteStaleness(stalenessSamples(r.reads, before));
    this.stepDone(a, psStep, commitSeconds);
  }

  /** A step is done (committed, or every task applied on arrival): its parts join the epoch's. */
  private stepDone(a: { epoch: number; step: number; loss: number; tasks: readonly AcceptedTask[] }, psStep: number | null, commitSeconds = 0): void {
    this.traffic.step(commitSeconds);
    const parts: Record<string, number> = {};
    for (const r of this.stepResults.get(a.step) ?? []) for (const [k, v] of Object.entries(r.parts)) parts[k] = (parts[k] ?? 0) + v;
    for (const [k, v] of Object.entries(parts)) this.epochParts[k] = (this.epochParts[k] ?? 0) + v;
    this.stepResults.delete(a.step);
    this.log.debug({ epoch: a.epoch, step: a.step, psStep, loss: a.loss }, 'step done');
    this.opts.onStep?.({ epoch: a.epoch, step: a.step, psStep, loss: a.loss, parts, tasks: a.tasks.map(({ index, attempt, worker }) => ({ index, attempt, worker })) });
  }

  private evalInputs() {
    return { model: this.opts.model, store: this.opts.store, prep: this.prep, hyper: this.hyper, data: this.opts.data, evaluator: this.opts.evaluator };
  }

  private async evaluateEpoch(epoch: number): Promise<void> {
    let metrics: Record<string, number>;
    try {
      const valid = await evaluateSplit('valid', this.evalInputs());
      this.lastValid = { metrics: valid.metrics, seconds: valid.seconds };
      metrics = valid.metrics;
    } catch (err) {
      await this.enqueue(() => this.failJob(`evaluation of epoch ${epoch}: ${(err as Error).message}`, err));
      return;
    }
    await this.feed({ kind: 'evalDone', epoch, metrics, now: Date.now() });
  }

  /** The workers' sums merged: the split's metrics, as the coordinator's own evaluation would have given them. */
  private evalMerged(a: Action & { kind: 'evalMerged' }): void {
    const seconds = (performance.now() - this.evalStarted) / 1000;
    const workers = [...new Set(a.ranges.map((r) => r.worker))].sort();
    this.epochEval[a.split] = { ranges: a.ranges.length, workers, seconds };
    if (a.split === 'valid') this.lastValid = { metrics: { ...a.metrics }, seconds };
    this.log.info({ epoch: a.epoch, split: a.split, users: a.users, ranges: a.ranges.length, workers, seconds }, 'sharded evaluation merged');
  }

  /** The test metrics of an improved epoch: the workers' (sharded), or the coordinator's own evaluation. */
  private async testMetrics(a: Action & { kind: 'epochEnd' }): Promise<{ metrics: Record<string, number>; seconds: number }> {
    if (a.test) return { metrics: { ...a.test }, seconds: this.epochEval.test?.seconds ?? 0 };
    const test = await evaluateSplit('test', this.evalInputs());
    return { metrics: test.metrics, seconds: test.seconds };
  }

  /** The single-process trainer's epoch record: metrics.jsonl, test metrics and best.ckpt when improved, last.ckpt. */
  private async epochEnd(a: Action & { kind: 'epochEnd' }): Promise<void> {
    const steps = this.policyConfig.stepSizes.length;
    const trainSeconds = a.metrics ? this.epochTrainSeconds : (performance.now() - this.epochStarted) / 1000;
    const s = this.trainer;
    const staleness = summarizeStaleness(this.epochStaleness);
    s.epochTrainSeconds.push(trainSeconds);
    s.epoch = a.epoch;
    s.earlyStop = { ...this.state.earlyStop };
    const line: Record<string, unknown> = {
      epoch: a.epoch,
      loss: a.loss,
      parts: Object.fromEntries(Object.entries(this.epochParts).map(([k, v]) => [k, v / steps])),
      trainSeconds,
      distributed: { ...this.traffic.close(), consistency: formatConsistency(this.opts.consistency), staleness, ...this.evaluationRecord() },
    };
    this.runStaleness = mergeHistograms(this.runStaleness, this.epochStaleness);
    this.opts.onEpoch?.({ epoch: a.epoch, staleness });
    this.emit('epoch', { epoch: a.epoch, state: 'ended', loss: Number.isFinite(a.loss) ? a.loss : null, seconds: trainSeconds });
    if (a.metrics && this.lastValid) {
      s.evalSeconds.push(this.lastValid.seconds);
      line.valid = a.metrics;
      line.evalSeconds = this.lastValid.seconds;
      this.emit('metrics', { epoch: a.epoch, split: 'valid', metrics: a.metrics });
      if (a.improved) {
        const test = await this.testMetrics(a);
        line.test = test.metrics;
        line.testEvalSeconds = test.seconds;
        s.bestValid = a.metrics;
        s.bestTest = test.metrics;
        this.emit('metrics', { epoch: a.epoch, split: 'test', metrics: test.metrics });
        await this.checkpoint('best', a.epoch);
      }
      const sel = this.opts.cfg.selectMetric;
      this.log.info({ epoch: a.epoch, loss: a.loss, [sel]: a.metrics[sel], best: s.earlyStop.best, bestEpoch: s.earlyStop.bestEpoch }, 'epoch');
    } else {
      this.log.info({ epoch: a.epoch, loss: a.loss }, 'epoch');
    }
    this.opts.dir.appendMetrics(line);
    await this.checkpoint('last', a.epoch);
  }

  /** metrics.jsonl `distributed.evaluation`: the splits the workers evaluated (none: the coordinator did). */
  private evaluationRecord(): { evaluation?: Record<string, { ranges: number; workers: readonly string[] }> } {
    const splits = Object.entries(this.epochEval).map(([split, e]) => [split, { ranges: e.ranges, workers: e.workers }]);
    return splits.length ? { evaluation: Object.fromEntries(splits) } : {};
  }

  private async checkpoint(which: 'best' | 'last', epoch: number): Promise<void> {
    const { cfg, data, model } = this.opts;
    const path = this.opts.dir.file(`${which}.ckpt`);
    const state: CoordinatorCheckpointState = { ...this.trainer, distributed: { consistency: formatConsistency(this.opts.consistency), staleness: this.runStaleness } };
    const meta = checkpointMeta(cfg, this.seed, data, model, this.hyper, epoch, state);
    writeCheckpoint(path, { meta, store: await this.opts.store.exportState() });
    this.emit('checkpoint', { epoch, which, path });
  }

  private finish(reason: StoppedBy): void {
    const s = this.trainer;
    if (!s.bestValid || !s.bestTest) {
      void this.failJob('training ended without an evaluation');
      return;
    }
    const mean = (xs: number[]) => (xs.length ? xs.reduce((x, y) => x + y, 0) / xs.length : 0);
    const result: SeedResult = {
      seed: this.seed,
      model: this.opts.model.name,
      hyper: this.hyper,
      dataset: describeDataset(this.opts.data),
      epochsRun: s.epoch,
      bestEpoch: s.earlyStop.bestEpoch,
      stoppedBy: reason,
      valid: s.bestValid,
      test: s.bestTest,
      meanEpochTrainSeconds: mean(s.epochTrainSeconds),
      meanEvalSeconds: mean(s.evalSeconds),
      totalSeconds: (performance.now() - this.t0) / 1000,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
      provenance: this.provenance(),
    };
    this.opts.dir.writeJson('result.json', result);
    this.emit('finished', { reason, epochs: s.epoch, bestEpoch: s.earlyStop.bestEpoch, valid: s.bestValid, test: s.bestTest });
    this.log.info({ reason, epochs: s.epoch, bestEpoch: s.earlyStop.bestEpoch }, 'job finished');
    this.settle.resolve(result);
  }

  /** result.json's provenance: the caller's, with the run's staleness under `distributed`. */
  private provenance(): Record<string, unknown> {
    const p = this.opts.provenance;
    const distributed = (p.distributed ?? {}) as Record<string, unknown>;
    return { ...p, distributed: { ...distributed, consistency: formatConsistency(this.opts.consistency), staleness: summarizeStaleness(this.runStaleness) } };
  }

  /** The job fails: under bsp the open step is aborted on every shard (best effort); workers are told to stop. */
  private async failJob(reason: string, cause?: unknown): Promise<void> {
    if (this.failed) return;
    this.failed = true;
    if (this.state.phase !== 'failed') this.state = { ...this.state, phase: 'failed', tasks: [], book: [], taskLoss: [], evaluation: null };
    if (!this.onArrival) await this.opts.store.abortStep(this.committed + 1).catch((err: unknown) => this.log.warn({ err }, 'abort failed'));
    this.emit('failed', { reason });
    this.log.error({ reason, err: cause }, 'job failed');
    this.settle.reject(new Error(reason, { cause }));
    this.wake();
  }

  private emit<K extends EventKind>(kind: K, data: EventData<K>): void {
    this.opts.bus.publish(this.opts.job, kind, data).catch((err: unknown) => this.log.warn({ err, kind }, 'event not published'));
  }
}

/**
 * `--resume`: the run directory's last.ckpt when it is one of this run's (same model, training identity, data and
 * consistency mode); null when there is none yet (a fresh start, as `camrec train --resume` does).
 */
export function readResumePoint(o: {
  readonly dir: RunDir;
  readonly cfg: Readonly<TrainConfig>;
  readonly data: Dataset;
  readonly model: AnyModel;
  readonly consistency: Consistency;
}): Checkpoint | null {
  const { dir, consistency } = o;
  if (!dir.has('last.ckpt')) return null;
  const fresh: ResumeIdentity = {
    model: o.model.name,
    configHash: trainingIdentity(o.cfg, o.cfg.seed),
    datasetChecksum: o.data.checksum,
    hyper: o.model.hyper.parse(o.cfg.hyper) as Record<string, unknown>,
  };
  const tables = o.model.tables(o.data, fresh.hyper).map((t: { name: string }) => t.name);
  const path = dir.file('last.ckpt');
  const ckpt = readMatchingCheckpoint(path, { ...fresh, tables });
  const written = (ckpt.meta.trainer as Partial<CoordinatorCheckpointState>).distributed?.consistency ?? 'bsp';
  if (written !== formatConsistency(consistency)) {
    throw new CheckpointError(`${path}: was written under --consistency ${written}; resume it with the same mode, not ${formatConsistency(consistency)}`);
  }
  return ckpt;
}

/** Resolves when `p` does or after `ms`, whichever comes first, leaving no timer behind. */
function untilOr(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, ms)))]).finally(() => clearTimeout(timer));
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
