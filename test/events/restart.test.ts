/**
 * A NATS server restart during a job (DESIGN.md §6 "Faults"): the server is killed mid-job and started again on the
 * same port and store directory while the publisher goes on. Nothing is lost from the job's durable stream and
 * nothing is stored twice (retried publishes carry the same message id), and a subscriber that was replaying
 * through the restart ends up with every event exactly once.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NatsEventBus, type JobEvent } from '../../src/events/index.js';
import { natsSkipReason, startNats, type NatsServer } from '../helpers/nats.js';
import { Collector } from './fixtures.js';

const taskEvent = (index: number) => ({ epoch: 1, step: 0, index, attempt: 1, worker: 'w1', state: 'accepted' as const });
const indices = (es: JobEvent[]) => es.map((e) => (e.kind === 'task' ? e.data.index : -1));

describe('NATS restart during a job', { skip: natsSkipReason({ control: true }) }, () => {
  let srv: NatsServer;
  let publisher: NatsEventBus;
  let reader: NatsEventBus | undefined;
  before(async () => {
    srv = await startNats({ jetstream: true, control: true });
    publisher = await NatsEventBus.connect({ servers: srv.url }, { publishTimeoutMs: 20_000 });
  });
  after(async () => {
    await reader?.close();
    await publisher?.close();
    await srv?.close();
  });

  test('every event published before, during and after the outage is in the stream exactly once', async () => {
    const job = 'restart-job';
    const N = 30;
    const live = new Collector();
    const liveSub = await publisher.subscribe(job, { from: 'start', onEvent: live.onEvent, onError: live.onError });
    for (let i = 0; i < 10; i++) await publisher.publish(job, 'task', taskEvent(i));
    await srv.kill();
    // Published while the server is down: each call keeps retrying until the server is back.
    const during = Array.from({ length: 10 }, (_, k) => publisher.publish(job, 'task', taskEvent(10 + k)));
    await new Promise((r) => setTimeout(r, 500));
    await srv.restart();
    await Promise.all(during);
    for (let i = 20; i < N; i++) await publisher.publish(job, 'task', taskEvent(i));

    reader = await NatsEventBus.connect({ servers: srv.url });
    const late = new Collector();
    const sub = await reader.subscribe(job, { from: 'start', onEvent: late.onEvent, onError: late.onError });
    await late.until(N);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(late.errors, []);
    assert.equal(late.events.length, N, 'no event stored twice');
    assert.deepEqual([...indices(late.events)].sort((a, b) => a - b), Array.from({ length: N }, (_, i) => i));
    assert.deepEqual(indices(late.events).slice(0, 10), Array.from({ length: 10 }, (_, i) => i), 'order before the outage kept');

    await live.until(N, 0, 15_000);
    assert.equal(live.events.length, N, 'the subscriber replaying through the restart saw each event once');
    assert.deepEqual(live.events.map((e) => e.id), late.events.map((e) => e.id), 'in stream order');
    await sub.close();
    await liveSub.close();
  });
});
