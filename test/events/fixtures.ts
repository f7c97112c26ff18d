/** Valid data for every event kind, and a collector that waits for what a subscription receives. */
import type { EventBus, EventData, EventKind, JobEvent } from '../../src/events/index.js';

export const sample: { [K in EventKind]: EventData<K> } = {
  started: { model: 'lightgcn', dataset: 'baby', maxEpochs: 10, stepsPerEpoch: 3, tasksPerStep: 4, configHash: 'abc' },
  epoch: { epoch: 1, state: 'ended', loss: 0.69, seconds: 1.5 },
  task: { epoch: 1, step: 0, index: 2, attempt: 1, worker: 'w1', state: 'accepted' },
  'worker.joined': { worker: 'w1' },
  'worker.left': { worker: 'w1', reason: 'SIGTERM' },
  metrics: { epoch: 1, split: 'valid', metrics: { 'recall@20': 0.05 } },
  checkpoint: { epoch: 1, which: 'best', path: 'runs/x/best.ckpt' },
  finished: { reason: 'early_stop', epochs: 5, bestEpoch: 3, valid: { 'recall@20': 0.05 }, test: { 'recall@20': 0.04 } },
  failed: { reason: 'task 1.0.2 failed 5 attempts' },
};

export async function publishAll(bus: EventBus, job: string, kinds: readonly EventKind[]): Promise<void> {
  for (const k of kinds) await bus.publish(job, k, sample[k] as never);
}

/** What one subscription received: events and errors, with a wait for a count. */
export class Collector {
  readonly events: JobEvent[] = [];
  readonly errors: Error[] = [];
  private waiters: (() => void)[] = [];

  readonly onEvent = (e: JobEvent) => {
    this.events.push(e);
    this.poke();
  };

  readonly onError = (err: Error) => {
    this.errors.push(err);
    this.poke();
  };

  private poke(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves when at least `events` events and `errors` errors arrived; rejects after timeoutMs. */
  async until(events: number, errors = 0, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.events.length < events || this.errors.length < errors) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`timed out with ${this.events.length}/${events} events and ${this.errors.length}/${errors} errors`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

/** Gives a bus a moment to deliver anything it would have delivered, so a test can say nothing more came. */
export const settle = (ms = 200) => new Promise((r) => setTimeout(r, ms));
