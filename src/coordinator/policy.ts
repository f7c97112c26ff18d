/**
 * The coordinator's decisions as pure functions (STYLE.md "Decisions are pure"): `decide(state, event)` returns the
 * next state and the actions the coordinator process must carry out, in order, before it feeds the next event. No
 * network, no clock: every event carries `now` (milliseconds), and time never runs backwards inside the state.
 *
 * Consistency is bsp: one global step at a time. A step is a fixed set of tasks (splitStep); its tasks are leased
 * to admitted workers with a deadline; a lease that expires or whose worker leaves re-queues the task with
 * attempt + 1; the step commits when every task has exactly one accepted result; after the last step of an epoch
 * the coordinator evaluates (every `evalEvery` epochs) and early stopping (src/train/earlystop.ts) decides whether
 * the job finishes. docs/coordinator.md draws the state machine.
 */
import { ConfigError } from '../errors/index.js';
import { initialEarlyStop, updateEarlyStop, type EarlyStopState } from '../train/index.js';
import {
  allDone,
  complete,
  expire,
  grant,
  openBook,
  record,
  releaseWorker,
  type LeaseBook,
  type Requeued,
  type StaleReason,
} from './leases.js';
import { splitStep, taskKey, type Task, type TaskRef } from './split.js';

export interface PolicyConfig {
  /** Tasks in every global step (fewer only when a batch has fewer triples). */
  readonly tasksPerStep: number;
  /**
   * Who leases tasks: 'policy' — this state machine grants, expires and re-queues leases (workers ask the
   * coordinator); 'queue' — a TaskQueue does (a JetStream work queue: the lease is its ack wait, a dead worker's
   * task is redelivered by the server), and the policy accepts the first result of each task, whatever its attempt.
   */
  readonly leasing: 'policy' | 'queue';
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
}

export type Phase = 'training' | 'evaluating' | 'finished' | 'failed';

export type FinishReason = 'early_stop' | 'max_epochs' | 'nan_loss';

export interface State {
  readonly config: PolicyConfig;
  readonly phase: Phase;
  /** The latest time seen. */
  readonly now: number;
  /** The current epoch (1-based) and step within it (0-based). */
  readonly epoch: number;
  readonly step: number;
  /** The current step's tasks and their leases (slot i is task i). */
  readonly tasks: readonly Task[];
  readonly book: LeaseBook;
  /** The loss each task's accepted result reported (null until accepted). */
  readonly taskLoss: readonly (number | null)[];
  /** Σ of the committed steps' losses in this epoch. */
  readonly epochLossSum: number;
  /** Admitted workers, sorted. */
  readonly workers: readonly string[];
  readonly earlyStop: EarlyStopState;
}

export type Event =
  | { readonly kind: 'workerJoined'; readonly worker: string; readonly now: number }
  | { readonly kind: 'workerLeft'; readonly worker: string; readonly now: number }
  | { readonly kind: 'leaseRequested'; readonly worker: string; readonly now: number }
  | {
      readonly kind: 'resultArrived';
      readonly worker: string;
      readonly task: TaskRef;
      readonly attempt: number;
      /** The task's own loss: the mean over its triples (what the worker's trainStep reports). */
      readonly loss: number;
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

export type Action =
  | { readonly kind: 'admit'; readonly worker: string }
  | { readonly kind: 'reject'; readonly worker: string; readonly reason: string }
  | { readonly kind: 'startEpoch'; readonly epoch: number; readonly steps: number }
  /** A step opens: the driver draws its global batch; under queue leasing it puts these tasks on the TaskQueue. */
  | { readonly kind: 'startStep'; readonly epoch: number; readonly step: number; readonly tasks: readonly Task[] }
  | { readonly kind: 'lease'; readonly worker: string; readonly task: Task; readonly attempt: number; readonly deadline: number }
  | { readonly kind: 'wait'; readonly worker: string; readonly reason: 'step busy' | 'evaluating' | 'the queue leases' }
  | { readonly kind: 'stop'; readonly worker: string }
  | { readonly kind: 'requeue'; readonly task: TaskRef; readonly attempt: number; readonly worker: string; readonly reason: RequeueReason }
  | { readonly kind: 'accept'; readonly task: TaskRef; readonly attempt: number; readonly worker: string }
  | { readonly kind: 'ignore'; readonly task: TaskRef; readonly attempt: number; readonly worker: string; readonly reason: StaleReason | 'other step' }
  | {
      readonly kind: 'commitStep';
      readonly epoch: number;
      readonly step: number;
      readonly tasks: readonly AcceptedTask[];
      /** Σ_t w_t · loss_t: the global batch's mean loss. */
      readonly loss: number;
    }
  | { readonly kind: 'evaluate'; readonly epoch: number }
  | { readonly kind: 'ignoreEval'; readonly epoch: number; readonly reason: string }
  | {
      readonly kind: 'epochEnd';
      readonly epoch: number;
      /** Mean of the epoch's step losses, as the single-process trainer logs it. */
      readonly loss: number;
      readonly metrics: Readonly<Record<string, number>> | null;
      /** The validation metric improved: the driver evaluates test and writes best.ckpt. */
      readonly improved: boolean;
    }
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
  if (!(c.leaseMs > 0)) throw new ConfigError(`coordinator: leaseMs must be positive, got ${c.leaseMs}`);
  if (!(Number.isInteger(c.patience) && c.patience >= 0)) throw new ConfigError(`coordinator: patience must be a non-negative integer, got ${c.patience}`);
  if (c.leasing !== 'policy' && c.leasing !== 'queue') throw new ConfigError(`coordinator: leasing must be 'policy' or 'queue', got ${String(c.leasing)}`);
  if (c.stepSizes.length === 0) throw new ConfigError('coordinator: an epoch needs at least one step');
  c.stepSizes.forEach((n, i) => positiveInt(`stepSizes[${i}]`, n));
}

/** A step opens with its tasks all queued under attempt 1. */
function startStep(s: State, epoch: number, step: number): Decision {
  const tasks = splitStep(epoch, step, s.config.stepSizes[step], s.config.tasksPerStep);
  return {
    state: { ...s, epoch, step, tasks, book: openBook(tasks.length), taskLoss: tasks.map(() => null) },
    actions: [{ kind: 'startStep', epoch, step, tasks }],
  };
}

function startEpoch(s: State, epoch: number): Decision {
  const opened: Decision = {
    state: { ...s, phase: 'training', epochLossSum: 0 },
    actions: [{ kind: 'startEpoch', epoch, steps: s.config.stepSizes.length }],
  };
  return then(opened, (t) => startStep(t, epoch, 0));
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
    tasks: [],
    book: [],
    taskLoss: [],
    epochLossSum: 0,
    workers: [],
    earlyStop: resume?.earlyStop ?? initialEarlyStop,
  };
  if (base.earlyStop.stopped) return finish(base, 'early_stop');
  if (done >= config.maxEpochs) return finish(base, 'max_epochs');
  return startEpoch(base, done + 1);
}

function finish(s: State, reason: FinishReason): Decision {
  const { bestEpoch, best } = s.earlyStop;
  return {
    state: { ...s, phase: 'finished', tasks: [], book: [], taskLoss: [] },
    actions: [{ kind: 'finish', reason, epoch: s.epoch, bestEpoch, best }],
  };
}

function fail(s: State, reason: string): Decision {
  return { state: { ...s, phase: 'failed', tasks: [], book: [], taskLoss: [] }, actions: [{ kind: 'fail', reason }] };
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

/** Time passes: leases due at `now` expire. */
function advance(s: State, now: number): Decision {
  const t = Math.max(s.now, now);
  const moved: State = t === s.now ? s : { ...s, now: t };
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
      return workerJoined(s, e.worker);
    case 'workerLeft':
      return workerLeft(s, e.worker);
    case 'leaseRequested':
      return leaseRequested(s, e.worker);
    case 'resultArrived':
      return resultArrived(s, e.worker, e.task, e.attempt, e.loss);
    case 'evalDone':
      return evalDone(s, e.epoch, e.metrics);
  }
}

function workerJoined(s: State, worker: string): Decision {
  if (over(s)) return { state: s, actions: [{ kind: 'stop', worker }] };
  if (!s.workers.includes(worker)) {
    const workers = [...s.workers, worker].sort();
    return { state: { ...s, workers }, actions: [{ kind: 'admit', worker }] };
  }
  // A known worker joining again restarted: whatever it held is lost.
  const r = releaseWorker(s.book, worker);
  return then(requeued({ ...s, book: r.book }, r.requeued, 'worker rejoined'), (t) => ({
    state: t,
    actions: [{ kind: 'admit', worker }],
  }));
}

function workerLeft(s: State, worker: string): Decision {
  const workers = s.workers.filter((w) => w !== worker);
  if (workers.length === s.workers.length || over(s)) return { state: { ...s, workers }, actions: [] };
  const r = releaseWorker(s.book, worker);
  return requeued({ ...s, workers, book: r.book }, r.requeued, 'worker left');
}

function leaseRequested(s: State, worker: string): Decision {
  if (over(s)) return { state: s, actions: [{ kind: 'stop', worker }] };
  if (!s.workers.includes(worker)) {
    return { state: s, actions: [{ kind: 'reject', worker, reason: 'not admitted: a worker joins before it asks for tasks' }] };
  }
  if (s.phase === 'evaluating') return { state: s, actions: [{ kind: 'wait', worker, reason: 'evaluating' }] };
  if (s.config.leasing === 'queue') return { state: s, actions: [{ kind: 'wait', worker, reason: 'the queue leases' }] };
  const g = grant(s.book, worker, s.now, s.config.leaseMs);
  if (!g.slot) return { state: s, actions: [{ kind: 'wait', worker, reason: 'step busy' }] };
  const { attempt, deadline } = g.slot;
  return {
    state: { ...s, book: g.book },
    actions: [{ kind: 'lease', worker, task: s.tasks[g.slot.index], attempt, deadline: deadline as number }],
  };
}

function resultArrived(s: State, worker: string, task: TaskRef, attempt: number, loss: number): Decision {
  if (s.phase !== 'training' || task.epoch !== s.epoch || task.step !== s.step) {
    return { state: s, actions: [{ kind: 'ignore', task, attempt, worker, reason: 'other step' }] };
  }
  const c = (s.config.leasing === 'queue' ? record : complete)(s.book, task.index, attempt, worker);
  if (!c.outcome.accepted) return { state: s, actions: [{ kind: 'ignore', task, attempt, worker, reason: c.outcome.reason }] };
  const taskLoss = s.taskLoss.map((l, i) => (i === task.index ? loss : l));
  const accepted: Decision = {
    state: { ...s, book: c.book, taskLoss },
    actions: [{ kind: 'accept', task: s.tasks[task.index], attempt, worker }],
  };
  return allDone(c.book) ? then(accepted, commitStep) : accepted;
}

function commitStep(s: State): Decision {
  const tasks: AcceptedTask[] = s.book.map((slot) => ({
    index: slot.index,
    attempt: slot.attempt,
    worker: slot.worker as string,
    weight: s.tasks[slot.index].weight,
  }));
  const loss = s.taskLoss.reduce((sum: number, l, i) => sum + s.tasks[i].weight * (l as number), 0);
  const committed: Decision = {
    state: { ...s, epochLossSum: s.epochLossSum + loss },
    actions: [{ kind: 'commitStep', epoch: s.epoch, step: s.step, tasks, loss }],
  };
  if (s.step + 1 < s.config.stepSizes.length) return then(committed, (t) => startStep(t, t.epoch, t.step + 1));
  return then(committed, endTraining);
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
  if (s.epoch % s.config.evalEvery === 0) {
    return { state: { ...idle, phase: 'evaluating' }, actions: [{ kind: 'evaluate', epoch: s.epoch }] };
  }
  return closeEpoch(idle, { kind: 'epochEnd', epoch: s.epoch, loss, metrics: null, improved: false });
}

function closeEpoch(s: State, end: Action & { kind: 'epochEnd' }): Decision {
  const closed: Decision = { state: s, actions: [end] };
  if (s.earlyStop.stopped) return then(closed, (t) => finish(t, 'early_stop'));
  if (s.epoch >= s.config.maxEpochs) return then(closed, (t) => finish(t, 'max_epochs'));
  return then(closed, (t) => startEpoch(t, t.epoch + 1));
}

function evalDone(s: State, epoch: number, metrics: Readonly<Record<string, number>>): Decision {
  if (s.phase !== 'evaluating' || epoch !== s.epoch) {
    return { state: s, actions: [{ kind: 'ignoreEval', epoch, reason: `no evaluation of epoch ${epoch} is pending` }] };
  }
  const score = metrics[s.config.selectMetric];
  if (typeof score !== 'number' || Number.isNaN(score)) {
    return fail(s, `evaluation of epoch ${epoch} did not report ${s.config.selectMetric}`);
  }
  const es = updateEarlyStop(s.earlyStop, score, epoch, s.config.patience);
  const earlyStop: EarlyStopState = { best: es.best, bestEpoch: es.bestEpoch, sinceBest: es.sinceBest, stopped: es.stopped };
  const loss = s.epochLossSum / s.config.stepSizes.length;
  return closeEpoch(
    { ...s, phase: 'training', earlyStop },
    { kind: 'epochEnd', epoch, loss, metrics: { ...metrics }, improved: es.improved },
  );
}
