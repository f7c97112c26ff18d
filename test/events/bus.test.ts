/**
 * One contract, three buses: the in-memory bus, the NATS bus over JetStream and the NATS bus over core NATS (a
 * real nats-server). Publish/subscribe, kind filters, schema rejection and replay behave the same on each; only
 * replay's availability differs, and the bus says which it offers.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EVENT_KINDS,
  EventBusError,
  EventPayloadError,
  InMemoryEventBus,
  NatsEventBus,
  subjectOf,
  type EventBus,
} from '../../src/events/index.js';
import { natsSkipReason, startNats, type NatsServer } from '../helpers/nats.js';
import { Collector, publishAll, sample, settle } from './fixtures.js';

const enc = (s: string) => new TextEncoder().encode(s);

let jobs = 0;
const newJob = () => `job-${process.pid}-${++jobs}`;

function contract(name: string, skip: string | false, make: () => Promise<EventBus>, done: () => Promise<void>): void {
  describe(`event bus contract: ${name}`, { skip }, () => {
    let bus: EventBus;
    before(async () => {
      bus = await make();
    });
    after(async () => {
      await bus?.close();
      await done();
    });

    test('every kind published after a subscription is delivered once, in order, as published', async () => {
      const job = newJob();
      const c = new Collector();
      const sub = await bus.subscribe(job, { onEvent: c.onEvent, onError: c.onError });
      await publishAll(bus, job, EVENT_KINDS);
      await c.until(EVENT_KINDS.length);
      await settle();
      assert.deepEqual(c.errors, []);
      assert.deepEqual(c.events.map((e) => e.kind), EVENT_KINDS);
      for (const e of c.events) {
        assert.equal(e.job, job);
        assert.equal(e.schema, 1);
        assert.deepEqual(e.data, sample[e.kind]);
      }
      assert.equal(new Set(c.events.map((e) => e.id)).size, EVENT_KINDS.length, 'event ids are unique');
      await sub.close();
    });

    test('a subscription sees only its job and the kinds it asked for', async () => {
      const job = newJob();
      const other = newJob();
      const c = new Collector();
      const sub = await bus.subscribe(job, { kinds: ['task', 'finished'], onEvent: c.onEvent, onError: c.onError });
      await publishAll(bus, other, ['task', 'finished']);
      await publishAll(bus, job, ['started', 'task', 'epoch', 'finished']);
      await c.until(2);
      await settle();
      assert.deepEqual(c.events.map((e) => `${e.job}:${e.kind}`), [`${job}:task`, `${job}:finished`]);
      await sub.close();
    });

    test('bad payloads are reported as EventPayloadError and delivery goes on', async () => {
      const job = newJob();
      const c = new Collector();
      const sub = await bus.subscribe(job, { onEvent: c.onEvent, onError: c.onError });
      const good = { schema: 1, job, kind: 'worker.joined', id: 'x1', time: 0, data: { worker: 'w1' } };
      const bad: [string, string][] = [
        [subjectOf(job, 'worker.joined'), '{not json'],
        [subjectOf(job, 'worker.joined'), JSON.stringify({ ...good, data: { worker: 7 } })],
        [subjectOf(job, 'worker.joined'), JSON.stringify({ ...good, schema: 2 })],
        [subjectOf(job, 'task'), JSON.stringify(good)],
        [subjectOf(job, 'worker.joined'), JSON.stringify({ ...good, data: { worker: 'w1', extra: true } })],
      ];
      for (const [subject, text] of bad) await bus.publishRaw(subject, enc(text));
      await bus.publishRaw(subjectOf(job, 'worker.joined'), enc(JSON.stringify(good)));
      await c.until(1, bad.length);
      assert.equal(c.errors.length, bad.length);
      for (const err of c.errors) assert.ok(err instanceof EventPayloadError, String(err));
      const messages = c.errors.map((e) => e.message);
      assert.match(messages[0], /not UTF-8 JSON/);
      assert.match(messages[1], /data\.worker|worker/);
      assert.match(messages[2], /schema version 2 is newer/);
      assert.match(messages[3], /does not belong on this subject/);
      assert.match(messages[4], /extra|unrecognized/i);
      assert.deepEqual(c.events.map((e) => e.data), [{ worker: 'w1' }], 'the valid event after them still arrives');
      await sub.close();
    });

    test('publishing invalid data fails at the publisher', async () => {
      const job = newJob();
      await assert.rejects(bus.publish(job, 'epoch', { epoch: 0, state: 'started' }), EventPayloadError);
      await assert.rejects(bus.publish('bad.job', 'worker.joined', { worker: 'w' }), EventBusError);
    });

    test('a late subscriber replays the job from its first event when the bus offers replay', async () => {
      const job = newJob();
      await publishAll(bus, job, ['started', 'worker.joined', 'epoch']);
      const c = new Collector();
      if (!bus.replay) {
        await assert.rejects(bus.subscribe(job, { from: 'start', onEvent: c.onEvent, onError: c.onError }), EventBusError);
        return;
      }
      const sub = await bus.subscribe(job, { from: 'start', onEvent: c.onEvent, onError: c.onError });
      await publishAll(bus, job, ['finished']);
      await c.until(4);
      await settle();
      assert.deepEqual(c.events.map((e) => e.kind), ['started', 'worker.joined', 'epoch', 'finished']);
      await sub.close();
    });
  });
}

let js: NatsServer | undefined;
let core: NatsServer | undefined;

contract(
  'in-memory',
  false,
  async () => new InMemoryEventBus(),
  async () => undefined,
);

contract(
  'NATS with JetStream',
  natsSkipReason(),
  async () => {
    js = await startNats({ jetstream: true });
    const bus = await NatsEventBus.connect({ servers: js.url });
    assert.equal(bus.mode, 'jetstream');
    assert.equal(bus.replay, true);
    return bus;
  },
  async () => js?.close(),
);

contract(
  'core NATS (no JetStream on the server)',
  natsSkipReason({ control: true }),
  async () => {
    core = await startNats({ jetstream: false, control: true });
    const bus = await NatsEventBus.connect({ servers: core.url });
    assert.equal(bus.mode, 'core', 'falls back to core NATS');
    assert.equal(bus.replay, false);
    return bus;
  },
  async () => core?.close(),
);
