/**
 * The TaskQueue seam: one contract run against the in-process twin and the JetStream work queue on a real
 * nats-server — each task delivered to one worker at a time, redelivered with attempt + 1 when its lease ends
 * unacked or is handed back, an ack from an ended lease not counted — plus, on JetStream, a worker whose connection
 * dies without acking: its task is redelivered to another worker; a queue opened fresh (a coordinator starting its
 * job again) drops the old tasks while workers' handles go on; a put retried through a server restart stores each
 * task once; a server without JetStream is a ConfigError.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { NatsConnection } from 'nats';
import {
  InProcessTaskQueue,
  JetStreamTaskQueue,
  splitStep,
  taskKey,
  taskStreamName,
  taskSubject,
  type TaskLease,
  type TaskQueue,
} from '../../src/coordinator/index.js';
import { ConfigError } from '../../src/errors/index.js';
import { connectNats } from '../../src/events/index.js';
import { natsSkipReason, startNats, type NatsServer } from '../helpers/nats.js';

/** The in-process queue's lease; JetStream's is longer because its shortest pull waits 1 s. */
const LEASE_MS = 400;
const JS_LEASE_MS = 2000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const keys = (ls: TaskLease[]) => ls.map((l) => `${taskKey(l.task)}#${l.attempt}`).sort();

/** Takes until the queue answers null. */
async function drain(q: TaskQueue, worker: string, waitMs: number): Promise<TaskLease[]> {
  const out: TaskLease[] = [];
  for (let l = await q.take(worker, waitMs); l; l = await q.take(worker, waitMs)) out.push(l);
  return out;
}

function contract(
  name: string,
  skip: string | false,
  leaseMs: number,
  open: (job: string) => Promise<TaskQueue>,
  cleanup: () => Promise<void>,
): void {
  describe(`task queue contract: ${name}`, { skip }, () => {
    let n = 0;
    const queues: TaskQueue[] = [];
    const fresh = async () => {
      const q = await open(`q${process.pid}-${++n}`);
      queues.push(q);
      return q;
    };
    after(async () => {
      for (const q of queues) await q.close();
      await cleanup();
    });

    test('each task goes to one worker, attempt 1, and an acked task is gone', async () => {
      const q = await fresh();
      const tasks = splitStep(1, 0, 10, 4);
      await q.put(tasks);
      const a = await q.take('a', 500);
      const b = await q.take('b', 500);
      const rest = await drain(q, 'a', 200);
      const all = [a, b, ...rest].filter((l): l is TaskLease => l !== null);
      assert.deepEqual(keys(all), tasks.map((t) => `${taskKey(t)}#1`).sort(), 'every task once, none twice');
      assert.deepEqual(all.find((l) => l.task.index === 2)?.task, tasks[2], 'the task arrives intact');
      for (const l of all) assert.equal(await l.ack(), true);
      assert.equal(await q.take('a', 200), null);
      await sleep(leaseMs * 1.3);
      assert.equal(await q.take('a', 200), null, 'acked tasks are not redelivered');
    });

    test('a task handed back comes again at once with attempt 2', async () => {
      const q = await fresh();
      await q.put(splitStep(1, 0, 2, 1));
      const first = await q.take('a', 500);
      assert.ok(first);
      await first.handBack();
      const again = await q.take('b', 500);
      assert.ok(again);
      assert.deepEqual([again.task.index, again.attempt, again.worker], [0, 2, 'b']);
      assert.equal(await again.ack(), true);
    });

    test('a lease that ends unacked is redelivered with attempt + 1; the old lease\'s ack does not count', async () => {
      const q = await fresh();
      await q.put(splitStep(2, 3, 5, 1));
      const dead = await q.take('a', 500);
      assert.ok(dead);
      assert.equal(dead.attempt, 1);
      const t0 = Date.now();
      const again = await q.take('b', leaseMs * 3);
      assert.ok(again, 'redelivered');
      assert.ok(Date.now() - t0 >= leaseMs * 0.7, 'not before the lease ran out');
      assert.deepEqual([taskKey(again.task), again.attempt], ['2.3.0', 2]);
      assert.equal(await dead.ack(), false, 'the ended lease is not live');
      assert.equal(await again.ack(), true);
      assert.equal(await q.take('a', 200), null);
    });

    test('extend keeps a lease alive past its first deadline', async () => {
      const q = await fresh();
      await q.put(splitStep(1, 0, 1, 1));
      const l = await q.take('a', 500);
      assert.ok(l);
      for (let i = 0; i < 3; i++) {
        await sleep(leaseMs * 0.5);
        await l.extend();
      }
      assert.equal(await q.take('b', 200), null, 'still leased to a after 1.5 lease periods');
      assert.equal(await l.ack(), true);
    });
  });
}

contract(
  'in-process',
  false,
  LEASE_MS,
  async () => new InProcessTaskQueue({ leaseMs: LEASE_MS }),
  async () => undefined,
);

let srv: NatsServer | undefined;
let nc: NatsConnection | undefined;
const jsSkip = natsSkipReason();

contract(
  'JetStream work queue',
  jsSkip,
  JS_LEASE_MS,
  async (job) => {
    if (!nc) {
      srv = await startNats({ jetstream: true });
      nc = await connectNats({ servers: srv.url });
    }
    return JetStreamTaskQueue.open(nc, { job, leaseMs: JS_LEASE_MS });
  },
  async () => {
    await nc?.drain();
    await srv?.close();
  },
);

describe('JetStream work queue: a worker that dies without acking', { skip: jsSkip }, () => {
  let server: NatsServer;
  const conns: NatsConnection[] = [];
  const connect = async () => {
    const c = await connectNats({ servers: server.url });
    conns.push(c);
    return c;
  };
  before(async () => {
    server = await startNats({ jetstream: true });
  });
  after(async () => {
    for (const c of conns) if (!c.isClosed()) await c.close();
    await server?.close();
  });

  test('its task is redelivered to another worker, which finishes it, and the stream is then empty', async () => {
    const job = `dies${process.pid}`;
    const coordinator = await JetStreamTaskQueue.open(await connect(), { job, leaseMs: JS_LEASE_MS });
    const tasks = splitStep(1, 0, 8, 2);
    await coordinator.put(tasks);

    const deadConn = await connect();
    const dying = await JetStreamTaskQueue.open(deadConn, { job, leaseMs: JS_LEASE_MS });
    const held = await dying.take('a', 500);
    assert.ok(held);
    await deadConn.close(); // the worker's process is gone: no ack, no nak

    const survivor = await JetStreamTaskQueue.open(await connect(), { job, leaseMs: JS_LEASE_MS });
    const other = await survivor.take('b', 500);
    assert.ok(other);
    assert.deepEqual([other.task.index, other.attempt], [1 - held.task.index, 1], 'the task nobody held, first time');
    assert.equal(await other.ack(), true);
    const redelivered = await survivor.take('b', JS_LEASE_MS * 2);
    assert.ok(redelivered, 'the dead worker\'s task comes back once its lease runs out');
    assert.deepEqual([taskKey(redelivered.task), redelivered.attempt], [taskKey(held.task), 2]);
    assert.equal(await redelivered.ack(), true);

    const jsm = await conns[0].jetstreamManager();
    const info = await jsm.streams.info(taskStreamName(job));
    assert.equal(info.state.messages, 0, 'a work queue keeps no acked task');
    await coordinator.delete();
  });

  test('a message that is not a task is terminated, not handed out', async () => {
    const job = `junk${process.pid}`;
    const c = await connect();
    const q = await JetStreamTaskQueue.open(c, { job, leaseMs: JS_LEASE_MS });
    c.publish(taskSubject(job), new TextEncoder().encode('{"epoch":0}'));
    await c.flush();
    await q.put(splitStep(1, 0, 3, 1));
    const l = await q.take('a', 1500);
    assert.ok(l, 'the valid task behind it arrives');
    assert.equal(l.task.batchSize, 3);
    assert.equal(await l.ack(), true);
    assert.equal(await q.take('a', 200), null);
  });
});

describe('JetStream work queue: opening it', { skip: natsSkipReason({ control: true }) }, () => {
  const servers: NatsServer[] = [];
  const conns: NatsConnection[] = [];
  const connect = async (url: string) => {
    const c = await connectNats({ servers: url });
    conns.push(c);
    return c;
  };
  after(async () => {
    for (const c of conns) if (!c.isClosed()) await c.close();
    for (const s of servers) await s.close();
  });

  test('fresh: a coordinator starting the job again drops the tasks an earlier one left, and a worker\'s handle from before still takes', async () => {
    const srv = await startNats({ jetstream: true, control: true });
    servers.push(srv);
    const job = `fresh${process.pid}`;
    const old = await JetStreamTaskQueue.open(await connect(srv.url), { job, leaseMs: JS_LEASE_MS });
    await old.put(splitStep(1, 0, 4, 2));
    const worker = await JetStreamTaskQueue.open(await connect(srv.url), { job, leaseMs: JS_LEASE_MS });
    const held = await worker.take('a', 500);
    assert.ok(held, 'a worker holds a task of the earlier coordinator');

    const again = await JetStreamTaskQueue.open(await connect(srv.url), { job, leaseMs: 3 * JS_LEASE_MS, fresh: true });
    assert.equal(again.leaseMs, 3 * JS_LEASE_MS, 'the consumer was made again with the new lease');
    const later = await JetStreamTaskQueue.open(await connect(srv.url), { job, leaseMs: JS_LEASE_MS });
    assert.equal(later.leaseMs, 3 * JS_LEASE_MS, 'a queue that exists keeps its lease, and says which');
    assert.equal(await worker.take('a', 200), null, 'the earlier tasks are gone');
    await again.put(splitStep(2, 0, 3, 1));
    const next = await worker.take('a', 1500);
    assert.ok(next, 'the handle opened before the queue was made again takes its new tasks');
    assert.deepEqual([taskKey(next.task), next.attempt], ['2.0.0', 1]);
    assert.equal(await next.ack(), true);
    await again.delete();
  });

  test('a put goes through a server restart, and each task is in the queue once', async () => {
    const srv = await startNats({ jetstream: true, control: true });
    servers.push(srv);
    const q = await JetStreamTaskQueue.open(await connect(srv.url), { job: `restart${process.pid}`, leaseMs: JS_LEASE_MS });
    const tasks = splitStep(1, 0, 6, 3);
    await srv.kill();
    const put = q.put(tasks);
    await sleep(500);
    await srv.restart();
    await put;
    const all = await drain(q, 'a', 1000);
    assert.deepEqual(keys(all), tasks.map((t) => `${taskKey(t)}#1`).sort(), 'every task once: a retried publish is stored once');
    for (const l of all) assert.equal(await l.ack(), true);
  });

  test('a NATS server without JetStream is a ConfigError naming it', async () => {
    const srv = await startNats({ jetstream: false, control: true });
    servers.push(srv);
    await assert.rejects(
      JetStreamTaskQueue.open(await connect(srv.url), { job: 'nojs', leaseMs: JS_LEASE_MS, server: srv.url }),
      (err: Error) => err instanceof ConfigError && err.message.includes(`NATS server at ${srv.url} has none`) && /-js/.test(err.message),
    );
  });
});
