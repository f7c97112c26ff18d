/**
 * The in-memory bus: one process, the default. Events go through the same encoding and validation as on NATS, and
 * the job's log is kept, so a late subscriber can replay it as from a JetStream stream.
 */
import { checkJob, Delivery, makeEvent, type EventBus, type EventSubscription, type SubscribeOptions } from './bus.js';
import { EventBusError } from './errors.js';
import { encodeEvent, subjectOf, SUBJECT_ROOT, type EventData, type EventKind, type JobEvent } from './schema.js';

interface Logged {
  readonly subject: string;
  readonly bytes: Uint8Array;
}

export interface MemoryBusOptions {
  /** Milliseconds since the epoch for event timestamps (default Date.now). */
  readonly clock?: () => number;
}

export class InMemoryEventBus implements EventBus {
  readonly mode = 'memory' as const;
  readonly replay = true;
  private readonly logs = new Map<string, Logged[]>();
  private readonly subs = new Map<string, Set<Delivery>>();
  private seq = 0;
  private closed = false;
  private readonly clock: () => number;

  constructor(opts: MemoryBusOptions = {}) {
    this.clock = opts.clock ?? (() => Date.now());
  }

  async publish<K extends EventKind>(job: string, kind: K, data: EventData<K>): Promise<JobEvent<K>> {
    this.open();
    const event = makeEvent(job, kind, data, `mem-${++this.seq}`, this.clock());
    this.put(job, subjectOf(job, kind), encodeEvent(event));
    return event;
  }

  async publishRaw(subject: string, payload: Uint8Array): Promise<void> {
    this.open();
    const job = jobOfSubject(subject);
    if (job !== null) this.put(job, subject, payload.slice());
  }

  async subscribe(job: string, opts: SubscribeOptions): Promise<EventSubscription> {
    this.open();
    checkJob(job);
    const d = new Delivery(opts);
    if (opts.from === 'start') for (const m of this.logs.get(job) ?? []) d.push(m.subject, m.bytes);
    const set = this.subs.get(job) ?? new Set<Delivery>();
    set.add(d);
    this.subs.set(job, set);
    return {
      close: async () => {
        set.delete(d);
        await d.idle();
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const all = [...this.subs.values()].flatMap((s) => [...s]);
    this.subs.clear();
    await Promise.all(all.map((d) => d.idle()));
  }

  private open(): void {
    if (this.closed) throw new EventBusError('the event bus is closed');
  }

  private put(job: string, subject: string, bytes: Uint8Array): void {
    const log = this.logs.get(job) ?? [];
    log.push({ subject, bytes });
    this.logs.set(job, log);
    for (const d of this.subs.get(job) ?? []) d.push(subject, bytes);
  }
}

/** The job id in `camrec.job.<job>.<kind…>`, or null for a subject outside the job tree. */
function jobOfSubject(subject: string): string | null {
  const prefix = `${SUBJECT_ROOT}.`;
  if (!subject.startsWith(prefix)) return null;
  const job = subject.slice(prefix.length).split('.')[0];
  return job || null;
}
