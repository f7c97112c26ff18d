/**
 * The consistency mode of a distributed job (DESIGN.md §5, docs/coordinator.md §2): how far the coordinator lets
 * workers run ahead of the steps already applied, and how a task's gradient reaches the parameters.
 *
 *  - `bsp`: one step at a time; a step's tasks are staged on every shard and committed together (their weighted
 *    sum, one optimizer step), so the run equals one process with the same global batch.
 *  - `ssp:<s>` (stale synchronous parallel, Ho et al., NIPS 2013): tasks of steps up to s steps beyond the oldest
 *    step not yet fully applied may be leased; each task's gradient is applied on arrival.
 *  - `async`: every task of the epoch may be leased at once; each gradient is applied on arrival.
 */
import { ConfigError } from '../errors/index.js';
import type { Consistency as ShardConsistency } from '../paramserver/index.js';

export type Consistency =
  | { readonly mode: 'bsp' }
  | { readonly mode: 'ssp'; readonly staleness: number }
  | { readonly mode: 'async' };

/** The largest staleness bound accepted (beyond an epoch's steps ssp is async anyway). */
const MAX_STALENESS = 1_000_000;

/** `bsp`, `ssp:<s>` (s a non-negative integer) or `async`; `flag` names where the text came from in the error. */
export function parseConsistency(text: string, flag = '--consistency'): Consistency {
  if (text === 'bsp' || text === 'async') return { mode: text };
  const m = /^ssp:(\d{1,7})$/.exec(text);
  if (m && Number(m[1]) <= MAX_STALENESS) return { mode: 'ssp', staleness: Number(m[1]) };
  throw new ConfigError(`${flag}: '${text}' is not bsp, ssp:<s> (s an integer from 0 to ${MAX_STALENESS}) or async`);
}

export function formatConsistency(c: Consistency): string {
  return c.mode === 'ssp' ? `ssp:${c.staleness}` : c.mode;
}

/** How many steps of an epoch may be open (leasable) at once: 1 under bsp, s + 1 under ssp:s, all under async. */
export function stepWindow(c: Consistency): number {
  if (c.mode === 'bsp') return 1;
  if (c.mode === 'ssp') return c.staleness + 1;
  return Infinity;
}

/** Whether gradients are applied on arrival (Push) rather than staged and committed per step (Prepare/Commit). */
export function appliesOnArrival(c: Consistency): boolean {
  return c.mode !== 'bsp';
}

/**
 * The mode the shards run. ssp's bound is kept by the coordinator's leasing (it knows which steps are applied, and
 * workers come and go), so under ssp the shards apply on arrival, as under async; their own ssp clocks (a fixed
 * set of workers declared at Init) serve clients without a coordinator.
 */
export function shardConsistency(c: Consistency): ShardConsistency {
  return c.mode === 'bsp' ? { mode: 'bsp' } : { mode: 'async' };
}
