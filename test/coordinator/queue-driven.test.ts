/**
 * The pieces together, as the coordinator process will use them under queue leasing: the policy decides, a
 * TaskQueue leases, workers take tasks, report results and ack. One worker dies holding a task (no ack; on JetStream
 * its connection closes). The job still finishes with every task of every step accepted exactly once, the dead
 * worker's task from its second attempt on another worker.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { NatsConnection } from 'nats';
import {
  begin,
  decide,
  InProcessTaskQueue,
  JetStreamTaskQueue,
  taskKey,
  type Action,
  type Event,
  type PolicyConfig,
  type TaskQueue,
} from '../../src/coordinator/index.js';
import { connectNats } from '../../src/events/index.js';
import { natsSkipReason, startNats, type NatsServer } from '../helpers/nats.js';
import { only } from './drive.js';

const config: PolicyConfig = {
  leasing: 'queue',
  consistency: { mode: 'bsp' },
  tasksPerStep: 3,
  leaseMs: 0.001, // unused under queue leasing
  maxAttempts: 10,
  stepSizes: [6, 6],
  maxEpochs: 2,
  patience: 5,
  evalEvery: 1,
  selectMetric: 'recall@20',
};

/** A worker's queue handle and how to kill its process. */
interface WorkerSide {
  readonly name: string;
  readonly queue: TaskQueue;
  kill(): Promise<void>;
}

/** Runs a job: the coordinator feeds events to the policy one at a time and carries out its actions. */
async function runJob(coordinatorQueue: TaskQueue, workers: WorkerSide[], waitMs: number): Promise<Action[]> {
  const log: Action[] = [];
  const inbox: Event[] = [];
  let wake: (() => void) | null = null;
  const post = (e: Event) => {
    inbox.push(e);
    wake?.();
  };
  let d = begin(config, Date.now());
  let over = false;
  const carryOut = async (actions: readonly Action[]) => {
    log.push(...actions);
    for (const a of actions) {
      if (a.kind === 'startStep') await coordinatorQueue.put(a.tasks);
      if (a.kind === 'evaluate') post({ kind: 'evalDone', epoch: a.epoch, metrics: { 'recall@20': 0.1 * a.epoch }, now: Date.now() });
      if (a.kind === 'finish' || a.kind === 'fail') over = true;
    }
  };
  const work = async (w: WorkerSide, dieOnFirst: boolean) => {
    post({ kind: 'workerJoined', worker: w.name, now: Date.now() });
    while (!over) {
      const lease = await w.queue.take(w.name, waitMs);
      if (!lease) continue;
      if (dieOnFirst) return w.kill();
      post({ kind: 'resultArrived', worker: w.name, task: lease.task, attempt: lease.attempt, loss: 1, now: Date.now() });
      await lease.ack();
    }
  };
  await carryOut(d.actions);
  const running = workers.map((w, i) => work(w, i === 0));
  while (!over) {
    const e = inbox.shift();
    if (!e) {
      await new Promise<void>((r) => (wake = r));
      continue;
    }
    d = decide(d.state, e);
    await carryOut(d.actions);
  }
  await Promise.all(running);
  return log;
}

function checkJob(log: Action[]): void {
  assert.deepEqual(only(log, 'finish').map((f) => f.reason), ['max_epochs']);
  const accepted = only(log, 'accept').map((a) => taskKey(a.task));
  assert.equal(new Set(accepted).size, accepted.length, 'no task accepted twice');
  assert.equal(accepted.length, 2 * 2 * 3, 'every task of 2 epochs × 2 steps');
  const commits = only(log, 'commitStep');
  assert.deepEqual(commits.map((c) => `${c.epoch}.${c.step}`), ['1.0', '1.1', '2.0', '2.1']);
  const retried = commits.flatMap((c) => c.tasks).filter((t) => t.attempt > 1);
  assert.equal(retried.length, 1, 'exactly the dead worker\'s task needed a second attempt');
  assert.equal(retried[0].attempt, 2);
  assert.notEqual(retried[0].worker, 'w0', 'and another worker did it');
}

describe('policy + TaskQueue, a worker dying mid-job', () => {
  test('in-process queue', async () => {
    const q = new InProcessTaskQueue({ leaseMs: 300 });
    const workers = ['w0', 'w1', 'w2'].map((name) => ({ name, queue: q, kill: async () => undefined }));
    checkJob(await runJob(q, workers, 100));
    await q.close();
  });

  describe('JetStream work queue', { skip: natsSkipReason() }, () => {
    let srv: NatsServer | undefined;
    const conns: NatsConnection[] = [];
    after(async () => {
      for (const c of conns) if (!c.isClosed()) await c.close();
      await srv?.close();
    });

    test('each worker on its own connection; the dead one\'s connection closes', async () => {
      srv = await startNats({ jetstream: true });
      const url = srv.url;
      const open = async () => {
        const nc = await connectNats({ servers: url });
        conns.push(nc);
        return { nc, queue: await JetStreamTaskQueue.open(nc, { job: `e2e${process.pid}`, leaseMs: 1500 }) };
      };
      const coordinator = await open();
      const workers: WorkerSide[] = [];
      for (const name of ['w0', 'w1', 'w2']) {
        const { nc, queue } = await open();
        workers.push({ name, queue, kill: () => nc.close() });
      }
      checkJob(await runJob(coordinator.queue, workers, 1000));
      await coordinator.queue.delete();
    });
  });
});
