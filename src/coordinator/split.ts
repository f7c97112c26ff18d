/**
 * Splitting a global step into tasks (DESIGN.md §5, bsp). A step's global batch of (user, pos, neg) triples is
 * cut into a fixed number of contiguous tasks; the cut depends on the batch size and the task count only, never on
 * how many workers there are. Each task carries its weight, its share of the batch, so that for a loss that is a
 * mean over the batch's triples
 *
 *   L(batch) = (1/n) Σ_i ℓ_i = Σ_t (n_t/n) · (1/n_t) Σ_{i∈t} ℓ_i = Σ_t w_t · L(task t),
 *
 * and, the gradient being linear, ∇L(batch) = Σ_t w_t ∇L(task t). docs/coordinator.md says when this fails.
 */
import { ConfigError } from '../errors/index.js';

/** Where a task sits in the job: epochs are 1-based, steps and task indices 0-based. */
export interface TaskRef {
  readonly epoch: number;
  readonly step: number;
  readonly index: number;
}

/** One task of a step: the triples [start, end) of the step's global batch and their share of it. */
export interface Task extends TaskRef {
  readonly start: number;
  readonly end: number;
  /** Triples in the step's global batch; the task's weight is (end - start) / batchSize. */
  readonly batchSize: number;
  readonly weight: number;
}

/** The stable identity of a task, the same across attempts: `<epoch>.<step>.<index>`. */
export function taskKey(t: TaskRef): string {
  return `${t.epoch}.${t.step}.${t.index}`;
}

/** The sizes of an epoch's global batches, as TrainSampler cuts them: full batches, the last one shorter. */
export function stepSizes(pairs: number, batchSize: number): number[] {
  if (!(Number.isInteger(pairs) && pairs >= 1)) throw new ConfigError(`pairs must be a positive integer, got ${pairs}`);
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) {
    throw new ConfigError(`batch size must be a positive integer, got ${batchSize}`);
  }
  const sizes: number[] = [];
  for (let start = 0; start < pairs; start += batchSize) sizes.push(Math.min(batchSize, pairs - start));
  return sizes;
}

/**
 * The tasks of one step: min(tasksPerStep, batchSize) contiguous ranges whose lengths differ by at most one
 * (task k covers [⌊k·n/T⌋, ⌊(k+1)·n/T⌋)), so no task is empty and together they cover the batch exactly once.
 */
export function splitStep(epoch: number, step: number, batchSize: number, tasksPerStep: number): Task[] {
  if (!(Number.isInteger(tasksPerStep) && tasksPerStep >= 1)) {
    throw new ConfigError(`tasks per step must be a positive integer, got ${tasksPerStep}`);
  }
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) {
    throw new ConfigError(`batch size must be a positive integer, got ${batchSize}`);
  }
  const t = Math.min(tasksPerStep, batchSize);
  const bound = (k: number) => Math.floor((k * batchSize) / t);
  return Array.from({ length: t }, (_, index) => {
    const start = bound(index);
    const end = bound(index + 1);
    return { epoch, step, index, start, end, batchSize, weight: (end - start) / batchSize };
  });
}

/** The (user, pos, neg) triples of a batch, as TrainSampler produces them. */
export interface Triples {
  readonly users: Int32Array;
  readonly pos: Int32Array;
  readonly neg: Int32Array;
}

/** A task's triples: views (no copy) of the global batch's arrays. */
export function taskTriples<B extends Triples>(batch: B, task: Task): B {
  if (batch.users.length !== task.batchSize) {
    throw new ConfigError(
      `task ${taskKey(task)} was cut from a batch of ${task.batchSize} triples, this batch has ${batch.users.length}`,
    );
  }
  return {
    ...batch,
    users: batch.users.subarray(task.start, task.end),
    pos: batch.pos.subarray(task.start, task.end),
    neg: batch.neg.subarray(task.start, task.end),
  };
}
