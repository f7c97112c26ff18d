/**
 * A lease book: the pure record of which of a fixed set of work items is queued, leased (to whom, until when, under
 * which attempt) or done. The coordinator's policy keeps one per step and the in-process TaskQueue keeps one for
 * its items, so both follow the same rules:
 *  - the lowest-numbered queued item is leased first, so a re-queued item goes out again before newer ones;
 *  - a lease that expires, is handed back, or whose worker leaves re-queues the item with attempt + 1;
 *  - a result counts only for the live lease, named by (item, attempt, worker); anything else is stale.
 * Time is an input (`now`, in milliseconds); nothing here reads a clock.
 */

export type SlotState = 'queued' | 'leased' | 'done';

export interface Slot {
  readonly index: number;
  /** The attempt that is queued, leased, or was accepted (1-based). */
  readonly attempt: number;
  readonly state: SlotState;
  readonly worker: string | null;
  readonly deadline: number | null;
}

export type LeaseBook = readonly Slot[];

/** Why a result was not accepted. */
export type StaleReason = 'unknown task' | 'already done' | 'not leased' | 'expired attempt' | 'not your lease';

export type CompleteOutcome = { readonly accepted: true } | { readonly accepted: false; readonly reason: StaleReason };

/** A lease that ended without a result, and the attempt under which its item is queued again. */
export interface Requeued {
  readonly index: number;
  readonly worker: string;
  readonly attempt: number;
}

export function openBook(items: number): LeaseBook {
  return Array.from({ length: items }, (_, index) => queued(index, 1));
}

function queued(index: number, attempt: number): Slot {
  return { index, attempt, state: 'queued', worker: null, deadline: null };
}

function replace(book: LeaseBook, slot: Slot): LeaseBook {
  return book.map((s) => (s.index === slot.index ? slot : s));
}

/** Appends `items` queued items (numbered after the existing ones). */
export function addItems(book: LeaseBook, items: number): LeaseBook {
  return [...book, ...Array.from({ length: items }, (_, k) => queued(book.length + k, 1))];
}

/** Removes the first `n` items (retired), renumbering the rest from 0; their leases carry over. */
export function dropFront(book: LeaseBook, n: number): LeaseBook {
  return n === 0 ? book : book.slice(n).map((s) => ({ ...s, index: s.index - n }));
}

/**
 * Leases the lowest queued item to `worker` until now + leaseMs; null when nothing is queued. Items queued under
 * an attempt above `maxAttempt` are never leased again.
 */
export function grant(
  book: LeaseBook,
  worker: string,
  now: number,
  leaseMs: number,
  maxAttempt = Infinity,
): { book: LeaseBook; slot: Slot | null } {
  const free = book.find((s) => s.state === 'queued' && s.attempt <= maxAttempt);
  if (!free) return { book, slot: null };
  const slot: Slot = { ...free, state: 'leased', worker, deadline: now + leaseMs };
  return { book: replace(book, slot), slot };
}

/**
 * `worker` took item `index` from a queue that holds the leases (a JetStream work queue), delivered there for the
 * `delivered`-th time. It is leased to `worker` until `deadline` under that attempt — or, when another worker's lease
 * of the item is still recorded here, under one above it: a queue may deliver an item twice (a redelivery after its
 * ack wait while the first taker still computes, a publish repeated after a reconnect, a delivery held across a
 * coordinator restart), and two attempts never share a number. Null when the item is done or unknown.
 */
export function take(book: LeaseBook, index: number, delivered: number, worker: string, deadline: number): { book: LeaseBook; slot: Slot } | null {
  const s = Number.isInteger(index) ? book[index] : undefined;
  if (!s || s.state === 'done') return null;
  const attempt = Math.max(delivered, s.state === 'leased' ? s.attempt + 1 : s.attempt);
  const slot: Slot = { index, attempt, state: 'leased', worker, deadline };
  return { book: replace(book, slot), slot };
}

/** Re-queues, with attempt + 1, every leased item that `ends` selects. */
function requeueWhere(book: LeaseBook, ends: (s: Slot) => boolean): { book: LeaseBook; requeued: Requeued[] } {
  const requeued: Requeued[] = [];
  const next = book.map((s) => {
    if (s.state !== 'leased' || !ends(s)) return s;
    requeued.push({ index: s.index, worker: s.worker as string, attempt: s.attempt + 1 });
    return queued(s.index, s.attempt + 1);
  });
  return { book: requeued.length ? next : book, requeued };
}

/** Leases whose deadline is at or before `now` end: their items are queued again. */
export function expire(book: LeaseBook, now: number): { book: LeaseBook; requeued: Requeued[] } {
  return requeueWhere(book, (s) => (s.deadline as number) <= now);
}

/** Every lease held by `worker` ends (it left, or restarted and lost its work). */
export function releaseWorker(book: LeaseBook, worker: string): { book: LeaseBook; requeued: Requeued[] } {
  return requeueWhere(book, (s) => s.worker === worker);
}

/** The live lease (index, attempt, worker) is handed back unfinished. */
export function handBack(book: LeaseBook, index: number, attempt: number, worker: string): { book: LeaseBook; requeued: Requeued[] } {
  return requeueWhere(book, (s) => s.index === index && s.attempt === attempt && s.worker === worker);
}

/** The live lease (index, attempt, worker) gets a new deadline; false when that lease is not live. */
export function extend(
  book: LeaseBook,
  index: number,
  attempt: number,
  worker: string,
  deadline: number,
): { book: LeaseBook; extended: boolean } {
  const s = book[index];
  if (staleReason(book, index, attempt, worker) !== null) return { book, extended: false };
  return { book: replace(book, { ...s, deadline }), extended: true };
}

function staleReason(book: LeaseBook, index: number, attempt: number, worker: string): StaleReason | null {
  const s = Number.isInteger(index) ? book[index] : undefined;
  if (!s) return 'unknown task';
  if (s.state === 'done') return 'already done';
  if (attempt < s.attempt) return 'expired attempt';
  if (s.state !== 'leased' || attempt !== s.attempt) return 'not leased';
  if (s.worker !== worker) return 'not your lease';
  return null;
}

/** A result for (index, attempt) from `worker`: accepted only for the live lease, at most once per item. */
export function complete(
  book: LeaseBook,
  index: number,
  attempt: number,
  worker: string,
): { book: LeaseBook; outcome: CompleteOutcome } {
  const reason = staleReason(book, index, attempt, worker);
  if (reason !== null) return { book, outcome: { accepted: false, reason } };
  return { book: replace(book, { ...book[index], state: 'done', deadline: null }), outcome: { accepted: true } };
}

/**
 * A result for (index, attempt) when something else (a JetStream work queue) holds the leases: the first result
 * for an item is accepted whatever its attempt, later ones are duplicates.
 */
export function record(
  book: LeaseBook,
  index: number,
  attempt: number,
  worker: string,
): { book: LeaseBook; outcome: CompleteOutcome } {
  const s = Number.isInteger(index) ? book[index] : undefined;
  if (!s) return { book, outcome: { accepted: false, reason: 'unknown task' } };
  if (s.state === 'done') return { book, outcome: { accepted: false, reason: 'already done' } };
  const done: Slot = { index, attempt, state: 'done', worker, deadline: null };
  return { book: replace(book, done), outcome: { accepted: true } };
}

export function allDone(book: LeaseBook): boolean {
  return book.every((s) => s.state === 'done');
}

/** The earliest deadline of a live lease, or null when none is leased. */
export function nextDeadline(book: LeaseBook): number | null {
  let d: number | null = null;
  for (const s of book) if (s.state === 'leased' && (d === null || (s.deadline as number) < d)) d = s.deadline;
  return d;
}
