/**
 * The TaskQueue seam (DESIGN.md §5): where workers take the tasks of a step. Under a lease a task belongs to one
 * worker until the lease ends — acked (finished), handed back, or expired (the worker died): then the task is
 * delivered again with attempt + 1. Two implementations: `InProcessTaskQueue` (single-machine runs and tests) and
 * `JetStreamTaskQueue` (a JetStream work-queue stream; the lease is the consumer's ack wait).
 */
import { z } from 'zod';
import { addItems, allDone, complete, expire, extend, grant, handBack, nextDeadline, type LeaseBook } from './leases.js';
import type { Task } from './split.js';

export interface TaskLease {
  readonly task: Task;
  /** 1-based: how many times the task has been delivered, this time included. */
  readonly attempt: number;
  readonly worker: string;
  /**
   * The task is finished and leaves the queue. Resolves false when the queue no longer counted this lease as live
   * (it had expired): another attempt of the task may be running or done.
   */
  ack(): Promise<boolean>;
  /** The task goes back unfinished (a worker shutting down): it is delivered again at once, attempt + 1. */
  handBack(): Promise<void>;
  /** Still working: the lease runs for another full lease period from now. */
  extend(): Promise<void>;
}

export interface TaskQueue {
  readonly kind: 'in-process' | 'jetstream';
  /** Adds tasks; each is delivered to one worker at a time until one attempt is acked. */
  put(tasks: readonly Task[]): Promise<void>;
  /** The next task for `worker`, waiting up to `waitMs` for one; null when none came. */
  take(worker: string, waitMs: number): Promise<TaskLease | null>;
  close(): Promise<void>;
}

/** A task as it travels: checked field by field on receipt. */
export const taskSchema = z
  .object({
    epoch: z.number().int().min(1),
    step: z.number().int().min(0),
    index: z.number().int().min(0),
    start: z.number().int().min(0),
    end: z.number().int().min(0),
    batchSize: z.number().int().min(1),
    weight: z.number().gt(0).max(1),
  })
  .strict()
  .refine((t) => t.start < t.end && t.end <= t.batchSize, { message: 'a task covers 0 <= start < end <= batchSize' });

export interface InProcessQueueOptions {
  readonly leaseMs: number;
  /** Deliveries per task; a task whose lease ends after the last one is not delivered again. */
  readonly maxAttempts?: number;
  /** Milliseconds; injectable so tests can move time. */
  readonly clock?: () => number;
}

/**
 * The in-process twin: the same lease rules as the coordinator's policy (leases.ts). A lease expires when the queue
 * next looks at it (a take, an ack, or the timer of a waiting take), so a dead worker's task goes to the next taker.
 */
export class InProcessTaskQueue implements TaskQueue {
  readonly kind = 'in-process' as const;
  private book: LeaseBook = [];
  private items: Task[] = [];
  private readonly waiters = new Set<() => void>();
  private closed = false;
  private readonly clock: () => number;
  private readonly maxAttempts: number;

  constructor(private readonly opts: InProcessQueueOptions) {
    this.clock = opts.clock ?? (() => Date.now());
    this.maxAttempts = opts.maxAttempts ?? Infinity;
  }

  async put(tasks: readonly Task[]): Promise<void> {
    if (allDone(this.book)) {
      this.book = [];
      this.items = [];
    }
    this.book = addItems(this.book, tasks.length);
    this.items.push(...tasks);
    this.wake();
  }

  async take(worker: string, waitMs: number): Promise<TaskLease | null> {
    const until = this.clock() + waitMs;
    for (;;) {
      if (this.closed) return null;
      const lease = this.tryGrant(worker);
      if (lease) return lease;
      const left = until - this.clock();
      if (left <= 0) return null;
      const due = nextDeadline(this.book);
      await this.sleep(due === null ? left : Math.min(left, Math.max(0, due - this.clock())));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake();
  }

  private tryGrant(worker: string): TaskLease | null {
    const now = this.clock();
    this.book = expire(this.book, now).book;
    const g = grant(this.book, worker, now, this.opts.leaseMs, this.maxAttempts);
    if (!g.slot) return null;
    this.book = g.book;
    return this.lease(g.slot.index, g.slot.attempt, worker);
  }

  private lease(index: number, attempt: number, worker: string): TaskLease {
    return {
      task: this.items[index],
      attempt,
      worker,
      ack: async () => {
        this.book = expire(this.book, this.clock()).book;
        const c = complete(this.book, index, attempt, worker);
        this.book = c.book;
        return c.outcome.accepted;
      },
      handBack: async () => {
        this.book = handBack(this.book, index, attempt, worker).book;
        this.wake();
      },
      extend: async () => {
        this.book = extend(this.book, index, attempt, worker, this.clock() + this.opts.leaseMs).book;
      },
    };
  }

  private wake(): void {
    for (const w of this.waiters) w();
    this.waiters.clear();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }
}
