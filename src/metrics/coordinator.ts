/**
 * The coordinator's metrics, taken from what it already says: every job event it publishes (epoch, task,
 * worker.joined/left, metrics, finished, failed) passes through `observe`, each done step through `stepDone` (the
 * job's onStep), and each ended epoch's staleness summary, as metrics.jsonl records it, through `epochEnded` (the
 * job's onEpoch). `meteredBus` wraps the job's EventBus so that the job itself carries no metric code, whichever
 * bus (memory or NATS) it publishes on.
 */
import type { CommittedStep, EndedEpoch } from '../coordinator/index.js';
import type { EventBus, EventData, EventKind, EventSubscription, JobEvent, SubscribeOptions } from '../events/index.js';
import { SECONDS_BUCKETS, type Registry } from './registry.js';

export class CoordinatorMetrics {
  private readonly epoch;
  private readonly step;
  private readonly stepsCommitted;
  private readonly stepLoss;
  private readonly stepSeconds;
  /** When the current step began: the previous commit, or the epoch's start. */
  private stepBegan: number | null = null;
  private readonly tasks;
  private readonly expiries;
  private readonly workers;
  private readonly joined;
  private readonly left;
  private readonly validMetric;
  private readonly jobState;
  private readonly staleness;
  private readonly live = new Set<string>();

  /** `consistency`: the job's mode as `--consistency` spells it (bsp, ssp:<s>, async). */
  constructor(registry: Registry, consistency: string) {
    this.epoch = registry.gauge('camrec_coordinator_epoch', 'the epoch being trained (1-based; 0 before the first)');
    this.step = registry.gauge('camrec_coordinator_step', 'the last done step of the current epoch (0-based; -1 before its first)');
    this.stepsCommitted = registry.counter('camrec_coordinator_steps_committed_total', 'global steps done: committed on every shard (bsp), every task applied (ssp, async)');
    this.stepLoss = registry.gauge('camrec_coordinator_step_loss', 'the last done step\'s loss (Σ weight × task loss)');
    this.stepSeconds = registry.histogram('camrec_coordinator_step_seconds', 'wall time of a global step, from the previous step done (or the epoch\'s start) to this one done', SECONDS_BUCKETS);
    this.tasks = registry.counter('camrec_coordinator_tasks_total', 'task events: leased, accepted, requeued (expired lease, worker left or rejoined), ignored results', ['state']);
    this.expiries = registry.counter('camrec_coordinator_lease_expiries_total', 'leases that ran out before their result came (the task was re-queued)');
    this.workers = registry.gauge('camrec_coordinator_workers', 'workers admitted and not left or dropped');
    this.joined = registry.counter('camrec_coordinator_workers_joined_total', 'worker admissions (a restarted worker counts again)');
    this.left = registry.counter('camrec_coordinator_workers_left_total', 'workers that left or were dropped as silent');
    this.validMetric = registry.gauge('camrec_coordinator_valid_metric', 'the latest validation metrics', ['metric']);
    this.jobState = registry.gauge('camrec_coordinator_job_state', '1 for the job\'s current state', ['state']);
    this.staleness = registry.gauge('camrec_coordinator_staleness', 'the last ended epoch\'s staleness of the gradients applied to each table: count, mean, p50, p95, max', ['table', 'stat']);
    registry.gauge('camrec_coordinator_consistency', '1, labelled with the job\'s consistency mode', ['mode']).set({ mode: consistency }, 1);
    this.setState('running');
    this.step.set({}, -1);
  }

  /** One job event as the coordinator publishes it. */
  observe<K extends EventKind>(kind: K, data: EventData<K>): void {
    const d = data as Record<string, unknown>;
    switch (kind) {
      case 'epoch':
        if (d.state === 'started') {
          this.epoch.set({}, d.epoch as number);
          this.step.set({}, -1);
          this.stepBegan = performance.now();
        }
        return;
      case 'task':
        this.tasks.inc({ state: d.state as string });
        if (d.state === 'requeued' && d.reason === 'expired') this.expiries.inc();
        return;
      case 'worker.joined':
        this.joined.inc();
        this.live.add(d.worker as string);
        return this.workers.set({}, this.live.size);
      case 'worker.left':
        this.left.inc();
        this.live.delete(d.worker as string);
        return this.workers.set({}, this.live.size);
      case 'metrics':
        if (d.split === 'valid') for (const [k, v] of Object.entries(d.metrics as Record<string, number>)) this.validMetric.set({ metric: k }, v);
        return;
      case 'finished':
        return this.setState('finished');
      case 'failed':
        return this.setState('failed');
    }
  }

  /** A step committed on every shard, or every task of it applied under ssp/async (CoordinatorJob's onStep). */
  stepDone(s: CommittedStep): void {
    this.stepsCommitted.inc();
    this.step.set({}, s.step);
    this.stepLoss.set({}, s.loss);
    const now = performance.now();
    if (this.stepBegan !== null) this.stepSeconds.observe({}, (now - this.stepBegan) / 1000);
    this.stepBegan = now;
  }

  /** An epoch's staleness summary (CoordinatorJob's onEpoch), the same numbers as its metrics.jsonl line. */
  epochEnded(e: EndedEpoch): void {
    for (const [table, summary] of Object.entries(e.staleness)) {
      for (const [stat, v] of Object.entries(summary)) this.staleness.set({ table, stat }, v);
    }
  }

  private setState(state: 'running' | 'finished' | 'failed'): void {
    for (const s of ['running', 'finished', 'failed']) this.jobState.set({ state: s }, s === state ? 1 : 0);
  }
}

/** `bus`, with every event the job publishes also counted by `metrics`. */
export function meteredBus(bus: EventBus, metrics: CoordinatorMetrics): EventBus {
  return {
    get mode() {
      return bus.mode;
    },
    get replay() {
      return bus.replay;
    },
    publish<K extends EventKind>(job: string, kind: K, data: EventData<K>): Promise<JobEvent<K>> {
      const out = bus.publish(job, kind, data);
      metrics.observe(kind, data);
      return out;
    },
    publishRaw: (subject: string, payload: Uint8Array) => bus.publishRaw(subject, payload),
    subscribe: (job: string, opts: SubscribeOptions): Promise<EventSubscription> => bus.subscribe(job, opts),
    close: () => bus.close(),
  };
}
