/**
 * Job events on the wire (DESIGN.md §5): subject `camrec.job.<jobId>.<kind>`, payload a JSON envelope
 * `{ schema, job, kind, id, time, data }` whose `data` has one zod schema per kind. Every receiver validates what it
 * reads; a payload that fails becomes an EventPayloadError naming the subject and the field, never a crash.
 */
import { z } from 'zod';
import { EventPayloadError } from './errors.js';

/** The envelope version this code writes and reads. A reader refuses a newer one rather than guess. */
export const EVENT_SCHEMA_VERSION = 1;

export const SUBJECT_ROOT = 'camrec.job';

const count = z.number().int().min(0);
const epoch = z.number().int().min(1);
const name = z.string().min(1).max(256);
const metricTable = z.record(z.string(), z.number());

export const eventData = {
  started: z
    .object({
      model: name,
      dataset: name,
      maxEpochs: epoch,
      stepsPerEpoch: z.number().int().min(1),
      tasksPerStep: z.number().int().min(1),
      configHash: z.string(),
    })
    .strict(),
  epoch: z
    .object({
      epoch,
      state: z.enum(['started', 'ended']),
      /** Mean step loss of an ended epoch; null when it was not finite (JSON has no NaN). */
      loss: z.number().nullable().optional(),
      seconds: z.number().min(0).optional(),
    })
    .strict(),
  task: z
    .object({
      epoch,
      step: count,
      index: count,
      attempt: z.number().int().min(1),
      worker: name,
      state: z.enum(['leased', 'accepted', 'requeued', 'ignored']),
      reason: z.string().optional(),
    })
    .strict(),
  'worker.joined': z.object({ worker: name }).strict(),
  'worker.left': z.object({ worker: name, reason: z.string() }).strict(),
  metrics: z.object({ epoch, split: z.enum(['valid', 'test']), metrics: metricTable }).strict(),
  checkpoint: z.object({ epoch: count, which: z.enum(['best', 'last']), path: z.string().min(1) }).strict(),
  finished: z
    .object({
      reason: z.enum(['early_stop', 'max_epochs', 'nan_loss', 'bench']),
      epochs: count,
      bestEpoch: count,
      valid: metricTable,
      test: metricTable,
    })
    .strict(),
  failed: z.object({ reason: z.string().min(1), code: z.string().optional() }).strict(),
} as const;

export type EventKind = keyof typeof eventData;
export type EventData<K extends EventKind> = z.infer<(typeof eventData)[K]>;

export const EVENT_KINDS = Object.keys(eventData) as EventKind[];

/** One job event as received. */
export type JobEvent<K extends EventKind = EventKind> = {
  [P in K]: {
    readonly schema: number;
    readonly job: string;
    readonly kind: P;
    /** Unique per event; JetStream drops a retried publish with the same id. */
    readonly id: string;
    /** Milliseconds since the epoch, on the publisher's clock. */
    readonly time: number;
    readonly data: EventData<P>;
  };
}[K];

const JOB_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function isJobId(job: string): boolean {
  return JOB_ID.test(job);
}

export function subjectOf(job: string, kind: EventKind): string {
  return `${SUBJECT_ROOT}.${job}.${kind}`;
}

/** Every event of a job. */
export function jobWildcard(job: string): string {
  return `${SUBJECT_ROOT}.${job}.>`;
}

const envelope = z
  .object({
    schema: z.number().int().min(1),
    job: z.string().regex(JOB_ID),
    kind: z.enum(EVENT_KINDS as [EventKind, ...EventKind[]]),
    id: z.string().min(1),
    time: z.number(),
    data: z.unknown(),
  })
  .strict();

function issuesText(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');
}

/** Checks an outgoing event's data, so that a bad publish fails at the publisher, not at every reader. */
export function checkData<K extends EventKind>(subject: string, kind: K, data: unknown): EventData<K> {
  const r = eventData[kind].safeParse(data);
  if (!r.success) throw new EventPayloadError(subject, `data of a ${kind} event: ${issuesText(r.error)}`);
  return r.data as EventData<K>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeEvent<K extends EventKind>(e: JobEvent<K>): Uint8Array {
  return encoder.encode(JSON.stringify(e));
}

function parseJson(subject: string, bytes: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch (cause) {
    throw new EventPayloadError(subject, 'not UTF-8 JSON', { cause });
  }
}

/** Reads and validates one event received on `subject`; throws EventPayloadError on anything wrong. */
export function decodeEvent(subject: string, bytes: Uint8Array): JobEvent {
  const env = envelope.safeParse(parseJson(subject, bytes));
  if (!env.success) throw new EventPayloadError(subject, `envelope: ${issuesText(env.error)}`);
  const e = env.data;
  if (e.schema > EVENT_SCHEMA_VERSION) {
    throw new EventPayloadError(subject, `schema version ${e.schema} is newer than this reader's (${EVENT_SCHEMA_VERSION})`);
  }
  if (subject !== subjectOf(e.job, e.kind)) {
    throw new EventPayloadError(subject, `a ${e.kind} event of job ${e.job} does not belong on this subject`);
  }
  return { ...e, data: checkData(subject, e.kind, e.data) } as JobEvent;
}
