/**
 * Sharded evaluation (docs/distributed.md §2): an epoch's evaluation of a split cut into ranges of its evaluated
 * users (those with ground truth, ascending by id: src/eval evaluatedUsers), which workers evaluate and report as
 * metric sums. The sums of every range, merged, are the metrics of evaluating all users at once (src/eval
 * mergeTotals), whatever the cut; the cut only decides how the work is shared.
 */
import { ConfigError } from '../errors/index.js';

export type EvalSplit = 'valid' | 'test';

/** Where a range sits in the job: the epoch evaluated, the split, and its 0-based index among the evaluation's ranges. */
export interface RangeRef {
  readonly epoch: number;
  readonly split: EvalSplit;
  readonly index: number;
}

/** One range: the evaluated users at positions [start, end). */
export interface EvalRange extends RangeRef {
  readonly start: number;
  readonly end: number;
}

/**
 * Ranges per worker that evaluates. Two rather than one: a worker that finishes early takes a range of a slower
 * one's share instead of idling, and a lost range costs half a worker's share to redo.
 */
export const RANGES_PER_WORKER = 2;

/** The stable identity of a range, the same across attempts: `<epoch>.<split>.<index>`. */
export function rangeKey(r: RangeRef): string {
  return `${r.epoch}.${r.split}.${r.index}`;
}

/**
 * The ranges of one evaluation of `users` evaluated users over `workers` workers: min(users, RANGES_PER_WORKER ×
 * workers) contiguous ranges whose lengths differ by at most one (range k covers [⌊k·n/R⌋, ⌊(k+1)·n/R⌋), the cut
 * splitStep makes), so none is empty and together they cover every user exactly once.
 */
export function splitUsers(epoch: number, split: EvalSplit, users: number, workers: number): EvalRange[] {
  if (!(Number.isInteger(users) && users >= 1)) throw new ConfigError(`evaluated users must be a positive integer, got ${users}`);
  if (!(Number.isInteger(workers) && workers >= 1)) throw new ConfigError(`workers must be a positive integer, got ${workers}`);
  const n = Math.min(users, RANGES_PER_WORKER * workers);
  const bound = (k: number) => Math.floor((k * users) / n);
  return Array.from({ length: n }, (_, index) => ({ epoch, split, index, start: bound(index), end: bound(index + 1) }));
}
