/**
 * The NATS bus. With JetStream on the server every job gets a durable stream `CAMREC_JOB_<jobId>` over
 * `camrec.job.<jobId>.>`; publishes are acknowledged by the stream, retried (same message id, so the stream drops
 * repeats) across a disconnect or a server restart, and a subscriber may replay the job from its first event.
 * Without JetStream the bus falls back to core NATS, says so in the log, and offers no replay.
 */
import {
  connect,
  DeliverPolicy,
  nuid,
  RetentionPolicy,
  StorageType,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
  type Subscription,
} from 'nats';
import { pino, type Logger } from 'pino';
import { PeerUnavailable } from '../errors/index.js';
import { checkJob, Delivery, makeEvent, type EventBus, type EventSubscription, type SubscribeOptions } from './bus.js';
import { EventBusError } from './errors.js';
import { encodeEvent, jobWildcard, subjectOf, type EventData, type EventKind, type JobEvent } from './schema.js';

export interface NatsConnectOptions {
  readonly servers: string | readonly string[];
  /** The client name the server shows (e.g. 'coordinator', 'worker-3'). */
  readonly name?: string;
  readonly log?: Logger;
}

/** A connection that keeps trying to reconnect (a server restart is an outage, not the end of the job). */
export async function connectNats(opts: NatsConnectOptions): Promise<NatsConnection> {
  const servers = typeof opts.servers === 'string' ? opts.servers : [...opts.servers];
  try {
    const nc = await connect({ servers, name: opts.name, reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    watchStatus(nc, (opts.log ?? silent).child({ component: 'nats' }));
    return nc;
  } catch (cause) {
    throw new PeerUnavailable(`cannot reach NATS at ${String(servers)}: ${(cause as Error).message}`, { cause });
  }
}

const silent = pino({ level: 'silent' });

function watchStatus(nc: NatsConnection, log: Logger): void {
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect') log.warn({ server: s.data }, `NATS ${s.type}`);
    }
  })();
}

export interface NatsBusOptions {
  /** Use JetStream when the server has it (default true); false forces core NATS. */
  readonly jetstream?: boolean;
  /** How long a durable publish keeps retrying before it fails with PeerUnavailable (ms, default 30 000). */
  readonly publishTimeoutMs?: number;
  /** Whether close() also drains and closes the connection (default true for NatsEventBus.connect). */
  readonly ownsConnection?: boolean;
  readonly log?: Logger;
  readonly clock?: () => number;
}

export function jobStreamName(job: string): string {
  return `CAMREC_JOB_${job}`;
}

const PULL_EXPIRES_MS = 4000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class NatsEventBus implements EventBus {
  readonly replay: boolean;
  private readonly ensured = new Map<string, Promise<void>>();
  private readonly subs = new Set<() => Promise<void>>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly publishTimeoutMs: number;
  private readonly publisher = nuid.next();
  private seq = 0;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: { client: JetStreamClient; manager: JetStreamManager } | null,
    private readonly opts: NatsBusOptions,
    log: Logger,
  ) {
    this.replay = js !== null;
    this.log = log;
    this.clock = opts.clock ?? (() => Date.now());
    this.publishTimeoutMs = opts.publishTimeoutMs ?? 30_000;
  }

  get mode(): 'jetstream' | 'core' {
    return this.js ? 'jetstream' : 'core';
  }

  /** Connects and returns a bus that owns the connection. */
  static async connect(conn: NatsConnectOptions, opts: NatsBusOptions = {}): Promise<NatsEventBus> {
    const nc = await connectNats({ ...conn, log: opts.log ?? conn.log });
    return NatsEventBus.over(nc, { ownsConnection: true, ...opts });
  }

  /** A bus over an existing connection (not closed by the bus unless ownsConnection). */
  static async over(nc: NatsConnection, opts: NatsBusOptions = {}): Promise<NatsEventBus> {
    const log = (opts.log ?? silent).child({ component: 'events' });
    const js = opts.jetstream === false ? null : await findJetStream(nc, log);
    if (!js && opts.jetstream !== false) log.warn('JetStream is not available: job events go over core NATS, without durability or replay');
    const bus = new NatsEventBus(nc, js, opts, log);
    log.info({ mode: bus.mode }, 'event bus ready');
    return bus;
  }

  async publish<K extends EventKind>(job: string, kind: K, data: EventData<K>): Promise<JobEvent<K>> {
    this.open();
    const event = makeEvent(job, kind, data, `${this.publisher}-${++this.seq}`, this.clock());
    const bytes = encodeEvent(event);
    const subject = subjectOf(job, kind);
    if (!this.js) {
      this.nc.publish(subject, bytes);
      return event;
    }
    await this.track(this.publishDurable(job, subject, bytes, event.id));
    return event;
  }

  async publishRaw(subject: string, payload: Uint8Array): Promise<void> {
    this.open();
    this.nc.publish(subject, payload);
    await this.nc.flush();
  }

  async subscribe(job: string, opts: SubscribeOptions): Promise<EventSubscription> {
    this.open();
    checkJob(job);
    if (opts.from === 'start' && !this.js) {
      throw new EventBusError('replay from the start needs JetStream, and this server has none (core NATS fallback)');
    }
    const d = new Delivery(opts);
    const stop = this.js ? await this.consume(job, d, opts.from === 'start') : await this.coreSubscribe(job, d);
    const close = async () => {
      if (!this.subs.delete(close)) return;
      await stop();
      await d.idle();
    };
    this.subs.add(close);
    return { close };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
    await Promise.all([...this.subs].map((c) => c()));
    if (this.opts.ownsConnection && !this.nc.isClosed()) await this.nc.drain();
  }

  private open(): void {
    if (this.closed) throw new EventBusError('the event bus is closed');
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    return p.finally(() => this.inFlight.delete(p));
  }

  /** Stores one event in the job's stream, retrying until acknowledged or the publish timeout passes. */
  private async publishDurable(job: string, subject: string, bytes: Uint8Array, id: string): Promise<void> {
    const js = this.js as NonNullable<typeof this.js>;
    const until = Date.now() + this.publishTimeoutMs;
    for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
      try {
        await this.ensureStream(job);
        await js.client.publish(subject, bytes, { msgID: id, timeout: 2000 });
        return;
      } catch (cause) {
        this.ensured.delete(job);
        if (this.nc.isClosed() || Date.now() + delay > until) {
          throw new PeerUnavailable(`could not store the event on ${subject} in JetStream: ${(cause as Error).message}`, { cause });
        }
        this.log.debug({ subject, err: (cause as Error).message }, 'event publish failed; retrying');
        await sleep(delay);
      }
    }
  }

  /** The job's stream exists (created once; a second creator with the same config is fine). */
  private ensureStream(job: string): Promise<void> {
    let p = this.ensured.get(job);
    if (!p) {
      p = createStream((this.js as NonNullable<typeof this.js>).manager, job);
      this.ensured.set(job, p);
      p.catch(() => this.ensured.delete(job));
    }
    return p;
  }

  private async consume(job: string, d: Delivery, fromStart: boolean): Promise<() => Promise<void>> {
    await this.ensureStream(job);
    const js = this.js as NonNullable<typeof this.js>;
    // An ordered consumer starts at stream sequence 1 by default: that is replay. (Asking for DeliverPolicy.All
    // explicitly makes nats.js send a start sequence along with it, which nats-server 2.9 refuses, and the consumer
    // retries forever.)
    const consumer = await js.client.consumers.get(jobStreamName(job), fromStart ? {} : { deliver_policy: DeliverPolicy.New });
    // Short pulls with heartbeats: after a server restart the lost consumer is noticed and recreated from the next
    // stream sequence within a few seconds.
    const messages: ConsumerMessages = await consumer.consume({ expires: PULL_EXPIRES_MS });
    const loop = (async () => {
      for await (const m of messages) d.push(m.subject, m.data);
    })();
    return async () => {
      await messages.close();
      await loop;
    };
  }

  private async coreSubscribe(job: string, d: Delivery): Promise<() => Promise<void>> {
    const sub: Subscription = this.nc.subscribe(jobWildcard(job), {
      callback: (err, msg) => (err ? this.log.error({ err: err.message }, 'subscription error') : d.push(msg.subject, msg.data)),
    });
    await this.nc.flush();
    return async () => {
      if (!this.nc.isClosed()) await sub.drain();
    };
  }
}

async function findJetStream(nc: NatsConnection, log: Logger): Promise<{ client: JetStreamClient; manager: JetStreamManager } | null> {
  try {
    const manager = await nc.jetstreamManager();
    return { client: nc.jetstream(), manager };
  } catch (err) {
    log.debug({ err: (err as Error).message }, 'no JetStream');
    return null;
  }
}

async function createStream(jsm: JetStreamManager, job: string): Promise<void> {
  const name = jobStreamName(job);
  try {
    await jsm.streams.info(name);
    return;
  } catch {
    // not there yet
  }
  await jsm.streams.add({
    name,
    subjects: [jobWildcard(job)],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
  });
}
