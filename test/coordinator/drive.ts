/** Helpers that feed events to the coordinator's policy and keep what it decided. */
import { begin, decide, type Action, type Event, type PolicyConfig, type State } from '../../src/coordinator/index.js';

export const baseConfig: PolicyConfig = {
  leasing: 'policy',
  consistency: { mode: 'bsp' },
  tasksPerStep: 3,
  leaseMs: 1000,
  maxAttempts: 5,
  stepSizes: [10, 10, 4],
  maxEpochs: 3,
  patience: 1,
  evalEvery: 1,
  selectMetric: 'recall@20',
};

/** A policy with its state and every action so far. */
export class Driver {
  state: State;
  readonly log: Action[] = [];

  constructor(config: Partial<PolicyConfig> = {}, now = 0) {
    const d = begin({ ...baseConfig, ...config }, now);
    this.state = d.state;
    this.log.push(...d.actions);
  }

  /** Feeds one event; returns this event's actions. */
  send(e: Event): Action[] {
    const d = decide(this.state, e);
    this.state = d.state;
    this.log.push(...d.actions);
    return [...d.actions];
  }

  join(worker: string, now = this.state.now): Action[] {
    return this.send({ kind: 'workerJoined', worker, now });
  }

  /** A worker that also evaluates ranges of users (sharded evaluation) joins. */
  joinEvaluator(worker: string, now = this.state.now): Action[] {
    return this.send({ kind: 'workerJoined', worker, evaluates: true, now });
  }

  lease(worker: string, now = this.state.now): Action {
    const [a] = this.send({ kind: 'leaseRequested', worker, now });
    return a;
  }

  /** Leases a task to `worker` and returns it with its result (loss defaults to 1). */
  result(worker: string, lease: Action, opts: { now?: number; loss?: number } = {}): Action[] {
    if (lease.kind !== 'lease') throw new Error(`not a lease: ${JSON.stringify(lease)}`);
    return this.send({
      kind: 'resultArrived',
      worker,
      task: lease.task,
      attempt: lease.attempt,
      loss: opts.loss ?? 1,
      now: opts.now ?? this.state.now,
    });
  }

  /** One worker takes and finishes tasks until the current step commits (or the phase leaves training). */
  finishStep(worker: string, loss: (index: number) => number = () => 1): Action[] {
    const out: Action[] = [];
    for (;;) {
      const l = this.lease(worker);
      if (l.kind !== 'lease') return out;
      const acts = this.result(worker, l, { loss: loss(l.task.index) });
      out.push(...acts);
      if (acts.some((a) => a.kind === 'commitStep')) return out;
    }
  }

  /** Queue leasing: `worker` took (epoch, step, index) from the queue, delivered there for the `attempt`-th time. */
  taken(worker: string, task: { epoch: number; step: number; index: number }, attempt: number, now = this.state.now): Action[] {
    return this.send({ kind: 'taskTaken', worker, task, attempt, now });
  }

  evalDone(epoch: number, value: number): Action[] {
    return this.send({ kind: 'evalDone', epoch, metrics: { 'recall@20': value }, now: this.state.now });
  }

  kinds(actions: readonly Action[] = this.log): string[] {
    return actions.map((a) => a.kind);
  }
}

export function only<K extends Action['kind']>(actions: readonly Action[], kind: K): Extract<Action, { kind: K }>[] {
  return actions.filter((a): a is Extract<Action, { kind: K }> => a.kind === kind);
}
