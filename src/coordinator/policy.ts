/**
 * The coordinator's decisions as pure functions (STYLE.md "Decisions are pure"): `decide(state, event)` returns the
 * next state and the actions the coordinator process must carry out, in order, before it feeds the next event. No
 * network, no clock: every event carries `now` (milliseconds), and time never runs backwards inside the state.
 *
 * A step is a fixed set of tasks (splitStep). The consistency mode (consistency.ts) sets how many steps of an epoch
 * are open at once: one under bsp, s + 1 under ssp:s, all of them under async. The tasks of the open steps are
 * leased to admitted workers with a deadline, lowest (step, index) first; a lease that expires or whose worker
 * leaves re-queues the task with attempt + 1 — or, under queue leasing, a TaskQueue leases them and the policy
 * records which worker took which task under which attempt. A step is done when every task has exactly one accepted
 * result: under bsp the driver then commits it on the shards, under ssp/async its gradients were applied on arrival.
 * Steps retire in order, and each retirement opens the next step the window allows. After the last step of an epoch the
 * job evaluates (every `evalEvery` epochs) and early stopping (src/train/earlystop.ts) decides whether the job
 * finishes. An evaluation is sharded over the workers when at least two that evaluate are admitted as it starts:
 * its users are cut into ranges (ranges.ts), leased like tasks, and the ranges' metric sums merged; otherwise the
 * coordinator evaluates alone. docs/coordinator.md draws the state machine.
 */
import { ConfigError } from '../errors/index.js';
import { mergeTotals, metricMeans, type MetricTotals } from '../eval/index.js';
import { initialEarlyStop, updateEarlyStop, type EarlyStopState } from '../train/index.js';
import { stepWindow, type Consistency } from './consistency.js';
import {
  addItems,
  allDone,
  complete,
  dropFront,
  expire,
  grant,
  openBook,
  record,
  releaseWorker,
  take,
  type LeaseBook,
  type Requeued,
  type StaleReason,
} from './leases.js';
import { rangeKey, splitUsers, type EvalRange, type EvalSplit, type RangeRef } from './ranges.js';
import { splitStep, taskKey, type Task, type TaskRef } from './split.js';

export interface PolicyConfig {
  /** Tasks in every global step (fewer only when a batch has fewer triples). */
  readonly tasksPerStep: number;
  /**
   * Who leases tasks: 'policy' — this state machine grants, expires and re-queues leases (workers ask the
   * coordinator); 'queue' — a TaskQueue does (a JetStream work queue: the lease is its ack wait, a dead worker's
   * task is redelivered by the server): a worker that took a task tells the policy (`taskTaken`), which records
   * who holds it under which attempt, and the first result of each task is accepted, whatever its attempt.
   */
  readonly leasing: 'policy' | 'queue';
  /** bsp, ssp:s or async: how many steps are open at once, and whether a done step is committed. */
  readonly consistency: Consistency;
  /** How long a lease lasts, in milliseconds (policy leasing). */
  readonly leaseMs: number;
  /** A task whose attempts would exceed this fails the job (a task that kills every worker it meets). */
  readonly maxAttempts: number;
  /** The global batch size of each step of an epoch (stepSizes(pairs, batchSize)); the same every epoch. */
  readonly stepSizes: readonly number[];
  readonly maxEpochs: number;
  readonly patience: number;
  /** Evaluate after every `evalEvery`-th epoch, as the single-process trainer does. */
  readonly evalEvery: number;
  /** The validation metric early stopping watches (e.g. 'recall@20'). */
  readonly selectMetric: string;
  /**
   * How many users each split evaluates (those with ground truth). Given, an evaluation that starts while at least
   * two admitted workers evaluate is sharded over them in ranges of these users (policy leasing only); absent
   * (`--eval-on-coordinator`), the coordinator always evaluates alone.
   */
  readonly evalUsers?: Readonly<Record<EvalSplit, number>>;
  /**
   * The first epoch waits until this many workers are admitted (default 1: it opens at once). Workers that come
   * later are admitted whenever they join, and the job carries on when some leave (elastic): the wait is only at
   * the start, so that the first steps and evaluations are spread over the workers the job was launched with.
   */
  readonly minWorkers?: number;
  /**
   * How long the first epoch waits for `minWorkers`, in milliseconds from `begin` (default: no limit). Past it, the
   * epoch opens as soon as one worker is admitted.
   */
  readonly gatherMs?: number;
}

export type Phase = 'training' | 'evaluating' | 'finished' | 'failed';

export type FinishReason = 'early_stop' | 'max_epochs' | 'nan_loss';

export interface State {
  readonly config: PolicyConfig;
  readonly phase: Phase;
  /** The latest time seen. */
  readonly now: number;
  /** The current epoch (1-based). */
  readonly epoch: number;
  /** The oldest step of the epoch not yet done (0-based): every step before it is committed (bsp) or applied. */
  readonly step: number;
  /** Steps of the epoch opened so far: steps [step, opened) are open. Under bsp opened = step + 1. */
  readonly opened: number;
  /** The open steps' tasks in (step, index) order, and their leases (book slot i is tasks[i]). */
  readonly tasks: readonly Task[];
  readonly book: LeaseBook;
  /** The loss each task's accepted result reported (null until accepted), parallel to `tasks`. */
  readonly taskLoss: readonly (number | null)[];
  /** Σ of the done steps' losses in this epoch. */
  readonly epochLossSum: number;
  /** Admitted workers, sorted. */
  readonly workers: readonly string[];
  /** The admitted workers that evaluate ranges (they joined with `evaluates`), sorted. */
  readonly evaluators: readonly string[];
  /** The sharded evaluation in progress (phase 'evaluating'); null when none, or when the coordinator evaluates. */
  readonly evaluation: Evaluation | null;
  readonly earlyStop: EarlyStopState;
  /** The first epoch is waiting for `minWorkers` until this time (ms); null once it opened. */
  readonly gatherUntil: number | null;
}

/** An evaluation sharded over workers: its ranges, their leases (book slot i is ranges[i]) and reported sums. */
export interface Evaluation {
  readonly split: EvalSplit;
  readonly ranges: readonly EvalRange[];
  readonly book: LeaseBook;
  readonly totals: readonly (MetricTotals | null)[];
  /** test: the epoch's end, decided on the valid metrics, that waits for the test metrics. */
  readonly end: EpochEnd | null;
}

export type Event =
  /** `evaluates`: the worker can evaluate ranges of users (workers older than sharded evaluation cannot). */
  | { readonly kind: 'workerJoined'; readonly worker: string; readonly evaluates?: boolean; readonly now: number }
  | { readonly kind: 'workerLeft'; readonly worker: string; readonly now: number }
  | { readonly kind: 'leaseRequested'; readonly worker: string; readonly now: number }
  /** Queue leasing: `worker` took `task` from the TaskQueue, delivered there for the `attempt`-th time. */
  | { readonly kind: 'taskTaken'; readonly worker: string; readonly task: TaskRef; readonly attempt: number; readonly now: number }
  | {
      readonly kind: 'resultArrived';
      readonly worker: string;
      readonly task: TaskRef;
      readonly attempt: number;
      /** The task's own loss: the mean over its triples (what the worker's trainStep reports). */
      readonly loss: number;
      readonly now: number;
    }
  | {
      readonly kind: 'rangeReported';
      readonly worker: string;
      readonly range: RangeRef;
      readonly attempt: number;
      /**
       * The range's metric sums and its user count (src/eval evaluateRange). Every report of a job has the same
       * metrics, those of its cut-offs: the server refuses any other.
       */
      readonly totals: MetricTotals;
      readonly now: number;
    }
  | { readonly kind: 'tick'; readonly now: number }
  | { readonly kind: 'evalDone'; readonly epoch: number; readonly metrics: Readonly<Record<string, number>>; readonly now: number };

/** One accepted result of a committed step: the parameter server applies exactly these pushes. */
export interface AcceptedTask {
  readonly index: number;
  readonly attempt: number;
  readonly worker: string;
  readonly weight: number;
}

export type RequeueReason = 'expired' | 'worker left' | 'worker rejoined';

/** Why a range's report was not taken: a stale lease, not the evaluation in progress, or not the range's users. */
export type RangeIgnoreReason = StaleReason | 'other evaluation' | 'wrong user count';

/** The epoch's record: the driver appends metrics.jsonl and writes the checkpoints. */
export interface EpochEnd {
  readonly kind: 'epochEnd';
  readonly epoch: number;
  /** Mean of the epoch's step losses, as the single-process trainer logs it. */
  readonly loss: number;
  readonly metrics: Readonly<Record<string, number>> | null;
  /** The validation metric improved: the driver writes best.ckpt, and evaluates test unless `test` is given. */
  readonly improved: boolean;
  /** The test metrics when the workers evaluated them (improved, sharded). */
  readonly test?: Readonly<Record<string, number>>;
}

/**
 * Why a worker gets no task now: every task of the open steps is out ('step busy'); under ssp, the next step is more
 * than s steps beyond the oldest step not yet applied ('staleness bound'); the epoch is being evaluated; a
 * TaskQueue, not the policy, leases; or the first epoch waits for `minWorkers` ('gathering workers').
 */
export type WaitReason = 'step busy' | 'staleness bound' | 'evaluating' | 'the queue leases' | 'gathering workers';

export type Action =
  | { readonly kind: 'admit'; readonly worker: string }
  /** The first epoch waits for `minWorkers` admitted workers, until `until` (ms; Infinity: no limit). */
  | { readonly kind: 'gather'; readonly minWorkers: number; readonly until: number }
  /** The wait is over: the first epoch opens with these workers (`timedOut`: fewer than `minWorkers` came in time). */
  | { readonly kind: 'gathered'; readonly workers: readonly string[]; readonly timedOut: boolean }
  | { readonly kind: 'reject'; readonly worker: string; readonly reason: string }
  | { readonly kind: 'startEpoch'; readonly epoch: number; readonly steps: number }
  /** A step opens: the driver draws its global batch; under queue leasing it puts these tasks on the TaskQueue. */
  | { readonly kind: 'startStep'; readonly epoch: number; readonly step: number; readonly tasks: readonly Task[] }
  | { readonly kind: 'lease'; readonly worker: string; readonly task: Task; readonly attempt: number; readonly deadline: number }
  | { readonly kind: 'wait'; readonly worker: string; readonly reason: WaitReason }
  | { readonly kind: 'stop'; readonly worker: string }
  | { readonly kind: 'requeue'; readonly task: TaskRef; readonly attempt: number; readonly worker: string; readonly reason: RequeueReason }
  | { readonly kind: 'accept'; readonly task: TaskRef; readonly attempt: number; readonly worker: string }
  | { readonly kind: 'ignore'; readonly task: TaskRef; readonly attempt: number; readonly worker: string; readonly reason: StaleReason | 'other step' }
  /** bsp: the driver commits exactly these (task, attempt) pushes on every shard. */
  | {
      readonly kind: 'commitStep';
      readonly epoch: number;
      readonly step: number;
      readonly tasks: readonly AcceptedTask[];
      /** Σ_t w_t · loss_t: the global batch's mean loss. */
      readonly loss: number;
    }
  /** ssp/async: every task of the step was applied on arrival; nothing is left to commit. */
  | {
      readonly kind: 'stepApplied';
      readonly epoch: number;
      readonly step: number;
      readonly tasks: readonly AcceptedTask[];
      readonly loss: number;
    }
  /** The coordinator evaluates the valid split alone and feeds `evalDone`. */
  | { readonly kind: 'evaluate'; readonly epoch: number }
  | { readonly kind: 'ignoreEval'; readonly epoch: number; readonly reason: string }
  /** An evaluation sharded over workers starts: these ranges are queued under attempt 1. */
  | { readonly kind: 'shardEval'; readonly epoch: number; readonly split: EvalSplit; readonly ranges: readonly EvalRange[] }
  | { readonly kind: 'leaseRange'; readonly worker: string; readonly range: EvalRange; readonly attempt: number; readonly deadline: number }
  | { readonly kind: 'requeueRange'; readonly range: EvalRange; readonly attempt: number; readonly worker: string; readonly reason: RequeueReason }
  | { readonly kind: 'acceptRange'; readonly range: EvalRange; readonly attempt: number; readonly worker: string }
  | { readonly kind: 'ignoreRange'; readonly range: RangeRef; readonly attempt: number; readonly worker: string; readonly reason: RangeIgnoreReason }
  /** Every range reported: their merged metrics (what evaluating all users at once gives), who evaluated which. */
  | {
      readonly kind: 'evalMerged';
      readonly epoch: number;
      readonly split: EvalSplit;
      readonly metrics: Readonly<Record<string, number>>;
      readonly users: number;
      readonly ranges: readonly { readonly index: number; readonly attempt: number; readonly worker: string }[];
    }
  | EpochEnd
  | { readonly kind: 'finish'; readonly reason: FinishReason; readonly epoch: number; readonly bestEpoch: number; readonly best: number }
  | { readonly kind: 'fail'; readonly reason: string };

export interface Decision {
  readonly state: State;
  readonly actions: readonly Action[];
}

/** Where a resumed job picks up: the epochs already done and the early-stopping state after them. */
export interface ResumePoint {
  readonly epochsDone: number;
  readonly earlyStop: EarlyStopState;
}

function checkConfig(c: PolicyConfig): void {
  const positiveInt = (name: string, v: number) => {
    if (!(Number.isInteger(v) && v >= 1)) throw new ConfigError(`coordinator: ${name} must be a positive integer, got ${v}`);
  };
  positiveInt('tasksPerStep', c.tasksPerStep);
  positiveInt('maxAttempts', c.maxAttempts);
  positiveInt('maxEpochs', c.maxEpochs);
  positiveInt('evalEvery', c.evalEvery);
  if (c.minWorkers !== undefined) positiveInt('minWorkers', c.minWorkers);
  if (c.gatherMs !== undefined && !(c.gatherMs > 0)) throw new ConfigError(`coordinator: gatherMs must be positive, got ${c.gatherMs}`);
  if (!(c.leaseMs > 0)) throw new ConfigError(`coordinator: leaseMs must be positive, got ${c.leaseMs}`);
  if (!(Number.isInteger(c.patience) && c.patience >= 0)) throw new ConfigError(`coordinator: patience must be a non-negative integer, got ${c.patience}`);
  if (c.leasing !== 'policy' && c.leasing !== 'queue') throw new ConfigError(`coordinator: leasing must be 'policy' or 'queue', got ${String(c.leasing)}`);
  const m = c.consistency?.mode;
  if (m !== 'bsp' && m !== 'async' && m !== 'ssp') throw new ConfigError(`coordinator: consistency must be bsp, ssp or async, got ${String(m)}`);
  if (c.consistency.mode === 'ssp' && !(Number.isInteger(c.consistency.staleness) && c.consistency.staleness >= 0)) {
    throw new ConfigError(`coordinator: ssp staleness must be a non-negative integer, got ${c.consistency.staleness}`);
  }
  if (c.stepSizes.length === 0) throw new ConfigError('coordinator: an epoch needs at least one step');
  c.stepSizes.forEach((n, i) => positiveInt(`stepSizes[${i}]`, n));
  for (const split of c.evalUsers ? (['valid', 'test'] as const) : []) {
    const n = c.evalUsers?.[split];
    if (!(Number.isInteger(n) && (n as number) >= 0)) throw new ConfigError(`coordinator: evalUsers.${split} must be a non-negative integer, got ${n}`);
  }
}

/** Opens the steps the window allows after the last opened one, each with its tasks queued under attempt 1. */
function openSteps(s: State): Decision {
  const last = Math.min(s.config.stepSizes.length, s.step + stepWindow(s.config.consistency));
  if (s.opened >= last) return { state: s, actions: [] };
  const actions: Action[] = [];
  const tasks = [...s.tasks];
  let book = s.book;
  for (let step = s.opened; step < last; step++) {
    const added = splitStep(s.epoch, step, s.config.stepSizes[step], s.config.tasksPerStep);
    tasks.push(...added);
    book = addItems(book, added.length);
    actions.push({ kind: 'startStep', epoch: s.epoch, step, tasks: added });
  }
  const taskLoss = [...s.taskLoss, ...Array.from({ length: tasks.length - s.tasks.length }, () => null)];
  return { state: { ...s, opened: last, tasks, book, taskLoss }, actions };
}

function startEpoch(s: State, epoch: number): Decision {
  const opened: Decision = {
    state: { ...s, phase: 'training', epoch, step: 0, opened: 0, tasks: [], book: [], taskLoss: [], epochLossSum: 0 },
    actions: [{ kind: 'startEpoch', epoch, steps: s.config.stepSizes.length }],
  };
  return then(opened, openSteps);
}

/** The job's first decision: its first epoch starts (after `resume.epochsDone`, when resuming). */
export function begin(config: PolicyConfig, now: number, resume?: ResumePoint): Decision {
  checkConfig(config);
  const done = resume?.epochsDone ?? 0;
  const base: State = {
    config: { ...config, stepSizes: [...config.stepSizes] },
    phase: 'training',
    now,
    epoch: done,
    step: 0,
    opened: 0,
    tasks: [],
    book: [],
    taskLoss: [],
    epochLossSum: 0,
    workers: [],
    evaluators: [],
    evaluation: null,
    earlyStop: resume?.earlyStop ?? initialEarlyStop,
    gatherUntil: null,
  };
  if (base.earlyStop.stopped) return finish(base, 'early_stop');
  if (done >= config.maxEpochs) return finish(base, 'max_epochs');
  const minWorkers = config.minWorkers ?? 1;
  if (minWorkers <= 1) return startEpoch(base, done + 1);
  const until = now + (config.gatherMs ?? Infinity);
  return { state: { ...base, gatherUntil: until }, actions: [{ kind: 'gather', minWorkers, until }] };
}

/**
 * While the first epoch waits for workers: it opens once `minWorkers` are admitted, or once the wait's time is up
 * and at least one is. Otherwise nothing happens.
 */
function gathered(s: State): Decision {
  if (s.gatherUntil === null || over(s)) return { state: s, actions: [] };
  const enough = s.workers.length >= (s.config.minWorkers ?? 1);
  const timedOut = !enough && s.now >= s.gatherUntil && s.workers.length > 0;
  if (!enough && !timedOut) return { state: s, actions: [] };
  const opened = startEpoch({ ...s, gatherUntil: null }, s.epoch + 1);
  return { state: opened.state, actions: [{ kind: 'gathered', workers: s.workers, timedOut }, ...opened.actions] };
}

function finish(s: State, reason: FinishReason): Decision {
  const { bestEpoch, best } = s.earlyStop;
  return {
    state: { ...s, phase: 'finished', tasks: [], book: [], taskLoss: [], evaluation: null },
    actions: [{ kind: 'finish', reason, epoch: s.epoch, bestEpoch, best }],
  };
}

function fail(s: State, reason: string): Decision {
  return { state: { ...s, phase: 'failed', tasks: [], book: [], taskLoss: [], evaluation: null }, actions: [{ kind: 'fail', reason }] };
}

const over = (s: State) => s.phase === 'finished' || s.phase === 'failed';

/** Turns re-queued leases into actions; fails the job when a task has run out of attempts. */
function requeued(s: State, r: readonly Requeued[], reason: RequeueReason): Decision {
  const actions: Action[] = r.map((q) => ({ kind: 'requeue', task: s.tasks[q.index], attempt: q.attempt, worker: q.worker, reason }));
  const spent = r.find((q) => q.attempt > s.config.maxAttempts);
  if (!spent) return { state: s, actions };
  const t = s.tasks[spent.index];
  const failed = fail(s, `task ${taskKey(t)} failed ${s.config.maxAttempts} attempts (last on worker ${spent.worker})`);
  return { state: failed.state, actions: [...actions, ...failed.actions] };
}

/** Turns re-queued ranges into actions; fails the job when a range has run out of attempts. */
function requeuedRanges(s: State, r: readonly Requeued[], reason: RequeueReason): Decision {
  const ranges = s.evaluation?.ranges ?? [];
  const actions: Action[] = r.map((q) => ({ kind: 'requeueRange', range: ranges[q.index], attempt: q.attempt, worker: q.worker, reason }));
  const spent = r.find((q) => q.attempt > s.config.maxAttempts);
  if (!spent) return { state: s, actions };
  const g = ranges[spent.index];
  const failed = fail(s, `evaluation range ${rangeKey(g)} (users [${g.start}, ${g.end})) failed ${s.config.maxAttempts} attempts (last on worker ${spent.worker})`);
  return { state: failed.state, actions: [...actions, ...failed.actions] };
}

/** Ends the leases that `release` selects in the sharded evaluation's book (none when there is no such evaluation). */
function releaseRanges(s: State, release: (b: LeaseBook) => { book: LeaseBook; requeued: Requeued[] }, reason: RequeueReason): Decision {
  if (!s.evaluation) return { state: s, actions: [] };
  const r = release(s.evaluation.book);
  return requeuedRanges({ ...s, evaluation: { ...s.evaluation, book: r.book } }, r.requeued, reason);
}

/** Time passes: leases (of tasks, or of ranges while a sharded evaluation runs) due at `now` expire. */
function advance(s: State, now: number): Decision {
  const t = Math.max(s.now, now);
  const moved: State = t === s.now ? s : { ...s, now: t };
  if (moved.gatherUntil !== null) return gathered(moved);
  if (moved.phase === 'evaluating') return releaseRanges(moved, (b) => expire(b, t), 'expired');
  if (moved.phase !== 'training' || moved.config.leasing === 'queue') return { state: moved, actions: [] };
  const e = expire(moved.book, t);
  return requeued({ ...moved, book: e.book }, e.requeued, 'expired');
}

/** Runs `next` after `first`, concatenating their actions. */
function then(first: Decision, next: (s: State) => Decision): Decision {
  const d = next(first.state);
  return first.actions.length === 0 ? d : { state: d.state, actions: [...first.actions, ...d.actions] };
}

export function decide(state: State, event: Event): Decision {
  return then(advance(state, event.now), (s) => handle(s, event));
}

function handle(s: State, e: Event): Decision {
  switch (e.kind) {
    case 'tick':
      return { state: s, actions: [] };
    case 'workerJoined':
      return workerJoined(s, e.worker, e.evaluates ?? false);
    case 'workerLeft':
      return workerLeft(s, e.worker);
    case 'leaseRequested':
      return leaseRequested(s, e.worker);
    case 'taskTaken':
      return taskTaken(s, e.worker, e.task, e.attempt);
    case 'resultArrived':
      return resultArrived(s, e.worker, e.task, e.attempt, e.loss);
    case 'rangeReported':
      return rangeReported(s, e.worker, e.range, e.attempt, e.totals);
    case 'evalDone':
      return evalDone(s, e.epoch, e.metrics);
  }
}

function workerJoined(s: State, worker: string, evaluates: boolean): Decision {
  if (over(s)) return { state: s, actions: [{ kind: 'stop', worker }] };
  const others = s.evaluators.filter((w) => w !== worker);
  const evaluators = evaluates ? [...others, worker].sort() : others;
  if (!s.workers.includes(worker)) {
    const workers = [...s.workers, worker].sort();
    return then({ state: { ...s, workers, evaluators }, actions: [{ kind: 'admit', worker }] }, gathered);
  }
  // A known worker joining again restarted (possibly as another version): whatever it held is lost.
  return then(releaseAll({ ...s, evaluators }, worker, 'worker rejoined'), (t) => ({
    state: t,
    actions: [{ kind: 'admit', worker }],
  }));
}

function workerLeft(s: State, worker: string): Decision {
  const workers = s.workers.filter((w) => w !== worker);
  const evaluators = s.evaluators.filter((w) => w !== worker);
  if (workers.length === s.workers.length || over(s)) return { state: { ...s, workers, evaluators }, actions: [] };
  return releaseAll({ ...s, workers, evaluators }, worker, 'worker left');
}

/** Every lease `worker` holds, of tasks and of ranges, is re-queued with attempt + 1. */
function releaseAll(s: State, worker: string, reason: RequeueReason): Decision {
  const r = releaseWorker(s.book, worker);
  return then(requeued({ ...s, book: r.book }, r.requeued, reason), (t) => releaseRanges(t, (b) => releaseWorker(b, worker), reason));
}

function leaseRequested(s: State, worker: string): Decision {
  if (over(s)) return { state: s, actions: [{ kind: 'stop', worker }] };
  if (!s.workers.includes(worker)) {
    return { state: s, actions: [{ kind: 'reject', worker, reason: 'not admitted: a worker joins before it asks for tasks' }] };
  }
  if (s.phase === 'evaluating') return leaseRange(s, worker);
  if (s.gatherUntil !== null) return { state: s, actions: [{ kind: 'wait', worker, reason: 'gathering workers' }] };
  if (s.config.leasing === 'queue') return { state: s, actions: [{ kind: 'wait', worker, reason: 'the queue leases' }] };
  const g = grant(s.book, worker, s.now, s.config.leaseMs);
  if (!g.slot) {
    const bound = s.config.consistency.mode === 'ssp' && s.opened < s.config.stepSizes.length;
    return { state: s, actions: [{ kind: 'wait', worker, reason: bound ? 'staleness bound' : 'step busy' }] };
  }
  const { attempt, deadline } = g.slot;
  return {
    state: { ...s, book: g.book },
    actions: [{ kind: 'lease', worker, task: s.tasks[g.slot.index], attempt, deadline: deadline as number }],
  };
}

/**
 * Queue leasing: a worker took a task from the queue and asks for it. It is leased to the worker under the queue's
 * delivery count, or above the attempt another worker still holds it under (leases.ts `take`); a task that is done
 * or not of an open step is ignored (the worker drops the delivery); an attempt past `maxAttempts` fails the job.
 */
function taskTaken(s: State, worker: string, task: TaskRef, attempt: number): Decision {
  if (over(s)) return { state: s, actions: [{ kind: 'stop', worker }] };
  if (!s.workers.includes(worker)) {
    return { state: s, actions: [{ kind: 'reject', worker, reason: 'not admitted: a worker joins before it takes tasks' }] };
  }
  if (s.config.leasing !== 'queue') {
    return { state: s, actions: [{ kind: 'reject', worker, reason: 'this job leases its tasks itself: ask for one, do not take it from a queue' }] };
  }
  const at = s.phase === 'training' ? slotOf(s, task) : -1;
  if (at < 0) return { state: s, actions: [{ kind: 'ignore', task, attempt, worker, reason: 'other step' }] };
  const t = take(s.book, at, attempt, worker, s.now + s.config.leaseMs);
  if (!t) return { state: s, actions: [{ kind: 'ignore', task, attempt, worker, reason: 'already done' }] };
  const { slot } = t;
  if (slot.attempt > s.config.maxAttempts) {
    return fail(s, `task ${taskKey(s.tasks[at])} failed ${s.config.maxAttempts} attempts (delivered again, to worker ${worker})`);
  }
  return {
    state: { ...s, book: t.book },
    actions: [{ kind: 'lease', worker, task: s.tasks[at], attempt: slot.attempt, deadline: slot.deadline as number }],
  };
}

/** Where (step, index) of the current epoch sits among the open tasks; -1 when its step is not open. */
function slotOf(s: State, task: TaskRef): number {
  if (task.epoch !== s.epoch) return -1;
  return s.tasks.findIndex((t) => t.step === task.step && t.index === task.index);
}

function resultArrived(s: State, worker: string, task: TaskRef, attempt: number, loss: number): Decision {
  const at = s.phase === 'training' ? slotOf(s, task) : -1;
  if (at < 0) return { state: s, actions: [{ kind: 'ignore', task, attempt, worker, reason: 'other step' }] };
  const c = (s.config.leasing === 'queue' ? record : complete)(s.book, at, attempt, worker);
  if (!c.outcome.accepted) return { state: s, actions: [{ kind: 'ignore', task, attempt, worker, reason: c.outcome.reason }] };
  const taskLoss = s.taskLoss.map((l, i) => (i === at ? loss : l));
  const accepted: Decision = {
    state: { ...s, book: c.book, taskLoss },
    actions: [{ kind: 'accept', task: s.tasks[at], attempt, worker }],
  };
  return then(accepted, retireDoneSteps);
}

/** The open tasks of the oldest open step: how many lead the book, and whether every one was accepted. */
function frontStep(s: State): { count: number; done: boolean } {
  let count = 0;
  while (count < s.tasks.length && s.tasks[count].step === s.step) count++;
  return { count, done: count > 0 && s.book.slice(0, count).every((slot) => slot.state === 'done') };
}

/**
 * Retires the done steps at the front, in step order (under bsp the driver commits each), then opens the steps the
 * window now allows; after the epoch's last step, training of the epoch ends.
 */
function retireDoneSteps(s: State): Decision {
  const front = frontStep(s);
  if (!front.done) return openSteps(s);
  const n = front.count;
  const tasks: AcceptedTask[] = s.book.slice(0, n).map((slot, i) => ({
    index: s.tasks[i].index,
    attempt: slot.attempt,
    worker: slot.worker as string,
    weight: s.tasks[i].weight,
  }));
  const loss = s.taskLoss.slice(0, n).reduce((sum: number, l, i) => sum + s.tasks[i].weight * (l as number), 0);
  const kind = s.config.consistency.mode === 'bsp' ? 'commitStep' : 'stepApplied';
  const retired: Decision = {
    state: {
      ...s,
      step: s.step + 1,
      tasks: s.tasks.slice(n),
      book: dropFront(s.book, n),
      taskLoss: s.taskLoss.slice(n),
      epochLossSum: s.epochLossSum + loss,
    },
    actions: [{ kind, epoch: s.epoch, step: s.step, tasks, loss }],
  };
  return then(retired, s.step + 1 >= s.config.stepSizes.length ? endTraining : retireDoneSteps);
}

/** The epoch's last step committed: evaluate now, or close the epoch without evaluating. */
function endTraining(s: State): Decision {
  const idle: State = { ...s, tasks: [], book: [], taskLoss: [] };
  const loss = s.epochLossSum / s.config.stepSizes.length;
  if (!Number.isFinite(loss)) {
    return then({ state: idle, actions: [{ kind: 'epochEnd', epoch: s.epoch, loss, metrics: null, improved: false }] }, (t) =>
      finish(t, 'nan_loss'),
    );
  }
  if (s.epoch % s.config.evalEvery === 0) return startEvaluation(idle, 'valid', null);
  return closeEpoch(idle, { kind: 'epochEnd', epoch: s.epoch, loss, metrics: null, improved: false });
}

/**
 * Evaluates `split` of the current epoch: sharded over the workers that evaluate when at least two are admitted
 * (and the split has users), else on the coordinator — valid through `evaluate`, test by the driver at `end`.
 */
function startEvaluation(s: State, split: EvalSplit, end: EpochEnd | null): Decision {
  const users = s.config.evalUsers?.[split] ?? 0;
  const sharded = s.config.leasing === 'policy' && s.evaluators.length >= 2 && users >= 1;
  if (!sharded && split === 'valid') return { state: { ...s, phase: 'evaluating' }, actions: [{ kind: 'evaluate', epoch: s.epoch }] };
  if (!sharded) return closeEpoch({ ...s, phase: 'training' }, end as EpochEnd);
  const ranges = splitUsers(s.epoch, split, users, s.evaluators.length);
  const evaluation: Evaluation = { split, ranges, book: openBook(ranges.length), totals: ranges.map(() => null), end };
  return { state: { ...s, phase: 'evaluating', evaluation }, actions: [{ kind: 'shardEval', epoch: s.epoch, split, ranges }] };
}

/** While evaluating: the lowest queued range to a worker that evaluates; otherwise wait. */
function leaseRange(s: State, worker: string): Decision {
  const wait: Decision = { state: s, actions: [{ kind: 'wait', worker, reason: 'evaluating' }] };
  if (!s.evaluation || !s.evaluators.includes(worker)) return wait;
  const g = grant(s.evaluation.book, worker, s.now, s.config.leaseMs);
  if (!g.slot) return wait;
  return {
    state: { ...s, evaluation: { ...s.evaluation, book: g.book } },
    actions: [{ kind: 'leaseRange', worker, range: s.evaluation.ranges[g.slot.index], attempt: g.slot.attempt, deadline: g.slot.deadline as number }],
  };
}

function rangeReported(s: State, worker: string, ref: RangeRef, attempt: number, totals: MetricTotals): Decision {
  const ev = s.evaluation;
  const ignore = (reason: RangeIgnoreReason): Decision => ({ state: s, actions: [{ kind: 'ignoreRange', range: ref, attempt, worker, reason }] });
  const at = ev && ref.epoch === s.epoch && ref.split === ev.split ? ev.ranges.findIndex((r) => r.index === ref.index) : -1;
  if (!ev || at < 0) return ignore('other evaluation');
  const range = ev.ranges[at];
  if (totals.users !== range.end - range.start) return ignore('wrong user count');
  const c = complete(ev.book, at, attempt, worker);
  if (!c.outcome.accepted) return ignore(c.outcome.reason);
  const evaluation: Evaluation = { ...ev, book: c.book, totals: ev.totals.map((t, i) => (i === at ? totals : t)) };
  const accepted: Decision = { state: { ...s, evaluation }, actions: [{ kind: 'acceptRange', range, attempt, worker }] };
  return allDone(c.book) ? then(accepted, rangesDone) : accepted;
}

/** Every range reported: the merged metrics go on as the coordinator's own evaluation would (valid), or end the epoch (test). */
function rangesDone(s: State): Decision {
  const ev = s.evaluation as Evaluation;
  const merged = mergeTotals(ev.totals as MetricTotals[]);
  const metrics = metricMeans(merged);
  const ranges = ev.book.map((slot) => ({ index: slot.index, attempt: slot.attempt, worker: slot.worker as string }));
  const done: Decision = {
    state: { ...s, evaluation: null },
    actions: [{ kind: 'evalMerged', epoch: s.epoch, split: ev.split, metrics, users: merged.users, ranges }],
  };
  if (ev.split === 'valid') return then(done, (t) => validDone(t, s.epoch, metrics));
  return then(done, (t) => closeEpoch({ ...t, phase: 'training' }, { ...(ev.end as EpochEnd), test: metrics }));
}

function closeEpoch(s: State, end: EpochEnd): Decision {
  const closed: Decision = { state: s, actions: [end] };
  if (s.earlyStop.stopped) return then(closed, (t) => finish(t, 'early_stop'));
  if (s.epoch >= s.config.maxEpochs) return then(closed, (t) => finish(t, 'max_epochs'));
  return then(closed, (t) => startEpoch(t, t.epoch + 1));
}

/** The coordinator's own evaluation of the valid split. */
function evalDone(s: State, epoch: number, metrics: Readonly<Record<string, number>>): Decision {
  if (s.phase !== 'evaluating' || s.evaluation !== null || epoch !== s.epoch) {
    return { state: s, actions: [{ kind: 'ignoreEval', epoch, reason: `no evaluation of epoch ${epoch} is pending` }] };
  }
  return validDone(s, epoch, metrics);
}

/** The valid metrics of the epoch: early stopping; when they improved, the test split is evaluated before the epoch ends. */
function validDone(s: State, epoch: number, metrics: Readonly<Record<string, number>>): Decision {
  const score = metrics[s.config.selectMetric];
  if (typeof score !== 'number' || Number.isNaN(score)) {
    return fail(s, `evaluation of epoch ${epoch} did not report ${s.config.selectMetric}`);
  }
  const es = updateEarlyStop(s.earlyStop, score, epoch, s.config.patience);
  const earlyStop: EarlyStopState = { best: es.best, bestEpoch: es.bestEpoch, sinceBest: es.sinceBest, stopped: es.stopped };
  const loss = s.epochLossSum / s.config.stepSizes.length;
  const end: EpochEnd = { kind: 'epochEnd', epoch, loss, metrics: { ...metrics }, improved: es.improved };
  if (es.improved) return startEvaluation({ ...s, earlyStop }, 'test', end);
  return closeEpoch({ ...s, phase: 'training', earlyStop }, end);
}
