/**
 * The TaskQueue on JetStream (DESIGN.md §5): a work-queue stream `CAMREC_TASKS_<job>` on `camrec.tasks.<job>`
 * and one durable pull consumer `workers` that every worker shares. A worker's lease is the consumer's ack wait: a
 * task taken and not acked in time (the worker died, or hung) is redelivered by the server with its delivery count
 * as the attempt; `extend` is JetStream's in-progress ack, `handBack` a nak, and an ack removes the task for good.
 * A put is retried through a disconnect or a server restart under one message id, so the stream keeps one copy.
 */
import {
  AckPolicy,
  DeliverPolicy,
  nanos,
  nuid,
  RetentionPolicy,
  StorageType,
  type Consumer,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type NatsConnection,
} from 'nats';
import { pino, type Logger } from 'pino';
import { ConfigError, PeerUnavailable } from '../errors/index.js';
import { isJobId } from '../events/index.js';
import { taskKey, type Task } from './split.js';
import { taskSchema, type TaskLease, type TaskQueue } from './taskqueue.js';

export interface JetStreamQueueOptions {
  readonly job: string;
  /** The lease: the consumer's ack wait, in milliseconds. */
  readonly leaseMs: number;
  /** Deliveries per task (the consumer's max_deliver); unlimited when absent. */
  readonly maxAttempts?: number;
  /**
   * Delete the job's queue first, if there is one: the coordinator starting a job (or resuming it) drops the tasks
   * an earlier coordinator of the job put there, and the consumer is made again with this lease.
   */
  readonly fresh?: boolean;
  /** The server's address as the user gave it, for error messages (default: the one connected to). */
  readonly server?: string;
  /** How long a put keeps retrying through a disconnect or a server restart (ms, default 30 000). */
  readonly publishTimeoutMs?: number;
  readonly log?: Logger;
  /** Milliseconds; only used to tell whether a lease is still live when it is acked. */
  readonly clock?: () => number;
}

const CONSUMER = 'workers';
/** JetStream refuses pull requests that wait less than this. */
const MIN_WAIT_MS = 1000;

export function taskStreamName(job: string): string {
  return `CAMREC_TASKS_${job}`;
}

export function taskSubject(job: string): string {
  return `camrec.tasks.${job}`;
}

const encoder = new TextEncoder();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class JetStreamTaskQueue implements TaskQueue {
  readonly kind = 'jetstream' as const;
  private closed = false;
  private readonly clock: () => number;
  /** With a counter, the message id of each put: a retried publish is stored once, a put by another handle never matches. */
  private readonly publisher = nuid.next();
  private seq = 0;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly consumer: Consumer,
    private readonly opts: JetStreamQueueOptions,
    /** The consumer's ack wait: `opts.leaseMs`, or the lease of a queue that already existed with another. */
    readonly leaseMs: number,
    private readonly log: Logger,
  ) {
    this.clock = opts.clock ?? (() => Date.now());
  }

  /**
   * Opens the job's queue over `nc`, creating the stream and the shared consumer when they do not exist yet. A server
   * without JetStream is a ConfigError naming it.
   */
  static async open(nc: NatsConnection, opts: JetStreamQueueOptions): Promise<JetStreamTaskQueue> {
    if (!isJobId(opts.job)) throw new ConfigError(`job id ${JSON.stringify(opts.job)} must be 1-64 characters of A-Z a-z 0-9 _ -`);
    if (!(opts.leaseMs >= 1)) throw new ConfigError(`leaseMs must be at least 1 ms, got ${opts.leaseMs}`);
    const log = (opts.log ?? pino({ level: 'silent' })).child({ component: 'taskqueue', job: opts.job });
    const jsm = await nc.jetstreamManager().catch((cause: unknown) => {
      const server = opts.server ?? nc.getServer();
      throw new ConfigError(`the task queue needs JetStream, and the NATS server at ${server} has none (${(cause as Error).message}): start it with -js`, { cause });
    });
    if (opts.fresh) await jsm.streams.delete(taskStreamName(opts.job)).catch(() => false);
    await ensureStream(jsm, opts.job);
    const leaseMs = await ensureConsumer(jsm, opts, log);
    const js = nc.jetstream();
    const consumer = await js.consumers.get(taskStreamName(opts.job), CONSUMER);
    return new JetStreamTaskQueue(nc, js, jsm, consumer, opts, leaseMs, log);
  }

  /**
   * Stores each task in the stream, retrying through a disconnect or a server restart (under the same message id, so
   * that the stream keeps one copy) for up to `publishTimeoutMs`; then PeerUnavailable.
   */
  async put(tasks: readonly Task[]): Promise<void> {
    for (const t of tasks) await this.publish(t, `${this.publisher}-${++this.seq}`);
  }

  private async publish(t: Task, msgID: string): Promise<void> {
    const until = this.clock() + (this.opts.publishTimeoutMs ?? 30_000);
    for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
      try {
        await this.js.publish(taskSubject(this.opts.job), encoder.encode(JSON.stringify(t)), { msgID, timeout: 2000 });
        return;
      } catch (cause) {
        if (this.nc.isClosed() || this.clock() + delay > until) {
          const server = this.opts.server ?? this.nc.getServer();
          throw new PeerUnavailable(`could not put task ${taskKey(t)} on the JetStream task queue at ${server}: ${(cause as Error).message}`, { cause });
        }
        this.log.debug({ task: taskKey(t), err: (cause as Error).message }, 'task put failed; retrying');
        await sleep(delay);
      }
    }
  }

  /** Waits at least 1 s when nothing is queued: JetStream's shortest pull. */
  async take(worker: string, waitMs: number): Promise<TaskLease | null> {
    const until = this.clock() + waitMs;
    while (!this.closed) {
      const msg = await this.consumer.next({ expires: Math.max(MIN_WAIT_MS, until - this.clock()) });
      if (!msg) return null;
      const lease = this.toLease(msg, worker);
      if (lease) return lease;
      if (this.clock() >= until) return null;
    }
    return null;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Removes the job's queue (the coordinator, once the job is over). */
  async delete(): Promise<void> {
    await this.jsm.streams.delete(taskStreamName(this.opts.job));
  }

  /** A valid task becomes a lease; anything else is terminated (never redelivered) and logged. */
  private toLease(msg: JsMsg, worker: string): TaskLease | null {
    let task: Task;
    try {
      task = taskSchema.parse(JSON.parse(new TextDecoder().decode(msg.data)));
    } catch (err) {
      this.log.error({ seq: msg.seq, err: (err as Error).message }, 'not a task: terminated');
      msg.term();
      return null;
    }
    const leaseMs = this.leaseMs;
    // The server started its ack-wait timer a little before we got the message: count the lease as ended a
    // little early, so that "live" here never outlasts the server's lease.
    const margin = Math.min(250, leaseMs / 10);
    let deadline = this.clock() + leaseMs - margin;
    const live = () => this.clock() < deadline;
    return {
      task,
      attempt: msg.info.redeliveryCount,
      worker,
      ack: async () => {
        // An ack on an ended lease would still remove the task (JetStream accepts it while another delivery is
        // out), so an ended lease leaves the task to its live attempt, as the in-process queue does.
        if (!live()) return false;
        return msg.ackAck();
      },
      handBack: async () => msg.nak(),
      extend: async () => {
        msg.working();
        deadline = this.clock() + leaseMs - margin;
      },
    };
  }
}

async function ensureStream(jsm: JetStreamManager, job: string): Promise<void> {
  const name = taskStreamName(job);
  const exists = await jsm.streams.info(name).then(
    () => true,
    () => false,
  );
  if (exists) return;
  await jsm.streams.add({ name, subjects: [taskSubject(job)], retention: RetentionPolicy.Workqueue, storage: StorageType.File });
}

/** The shared consumer exists; resolves with its ack wait in milliseconds (the lease length). */
async function ensureConsumer(jsm: JetStreamManager, opts: JetStreamQueueOptions, log: Logger): Promise<number> {
  const stream = taskStreamName(opts.job);
  const info = await jsm.consumers.info(stream, CONSUMER).catch(() => null);
  if (info) {
    const ackWaitMs = (info.config.ack_wait ?? 0) / 1e6;
    if (ackWaitMs !== opts.leaseMs) log.warn({ ackWaitMs, leaseMs: opts.leaseMs }, 'the queue exists with another lease length; keeping it');
    return ackWaitMs || opts.leaseMs;
  }
  await jsm.consumers.add(stream, {
    durable_name: CONSUMER,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(opts.leaseMs),
    max_deliver: opts.maxAttempts ?? -1,
  });
  return opts.leaseMs;
}
