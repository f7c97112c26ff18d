/**
 * The EventBus seam (DESIGN.md §5): the in-memory bus (the default, one process) and the NATS bus behave the same
 * to a publisher and a subscriber; only `mode` and `replay` tell them apart.
 */
import { EventBusError } from './errors.js';
import { checkData, decodeEvent, EVENT_SCHEMA_VERSION, isJobId, subjectOf, type EventData, type EventKind, type JobEvent } from './schema.js';

export type BusMode = 'memory' | 'jetstream' | 'core';

export interface SubscribeOptions {
  /** 'now' (default): events published from here on. 'start': every event of the job, then new ones (needs replay). */
  readonly from?: 'now' | 'start';
  /** Only these kinds (default: all). */
  readonly kinds?: readonly EventKind[];
  /** Called once per valid event, one at a time, in the order the bus delivers them. */
  readonly onEvent: (e: JobEvent) => void | Promise<void>;
  /** A payload that failed validation (EventPayloadError), or an error thrown by onEvent; delivery goes on. */
  readonly onError: (err: Error) => void;
}

export interface EventSubscription {
  close(): Promise<void>;
}

export interface EventBus {
  readonly mode: BusMode;
  /** Whether a subscriber can start from the job's first event. */
  readonly replay: boolean;
  /**
   * Validates and publishes one event. Resolves once the bus has it: stored in the job's stream (jetstream, retried
   * across a server restart until acknowledged), handed to the connection (core), or queued for delivery (memory).
   */
  publish<K extends EventKind>(job: string, kind: K, data: EventData<K>): Promise<JobEvent<K>>;
  /**
   * Puts bytes on a subject as they are, without validation: for tools and for tests of what a reader does with a
   * payload written by someone else.
   */
  publishRaw(subject: string, payload: Uint8Array): Promise<void>;
  subscribe(job: string, opts: SubscribeOptions): Promise<EventSubscription>;
  /** Stops the subscriptions, waits for publishes in flight, and releases the connection the bus owns. */
  close(): Promise<void>;
}

export function checkJob(job: string): void {
  if (!isJobId(job)) throw new EventBusError(`job id ${JSON.stringify(job)} must be 1-64 characters of A-Z a-z 0-9 _ -`);
}

/** Builds an outgoing event: checks the job id and the data, stamps id and time. */
export function makeEvent<K extends EventKind>(job: string, kind: K, data: EventData<K>, id: string, time: number): JobEvent<K> {
  checkJob(job);
  const checked = checkData(subjectOf(job, kind), kind, data);
  return { schema: EVENT_SCHEMA_VERSION, job, kind, id, time, data: checked } as JobEvent<K>;
}

/**
 * One subscriber's delivery: decode and validate, filter by kind, then call onEvent strictly one after another.
 * `idle()` resolves when everything handed in so far has been handled.
 */
export class Delivery {
  private chain: Promise<void> = Promise.resolve();
  private readonly kinds: ReadonlySet<EventKind> | null;

  constructor(private readonly opts: SubscribeOptions) {
    this.kinds = opts.kinds ? new Set(opts.kinds) : null;
  }

  push(subject: string, bytes: Uint8Array): void {
    this.chain = this.chain.then(() => this.handle(subject, bytes));
  }

  private async handle(subject: string, bytes: Uint8Array): Promise<void> {
    try {
      const event = decodeEvent(subject, bytes);
      if (this.kinds && !this.kinds.has(event.kind)) return;
      await this.opts.onEvent(event);
    } catch (err) {
      this.opts.onError(err instanceof Error ? err : new Error(String(err)));
    }
  }

  idle(): Promise<void> {
    return this.chain;
  }
}
