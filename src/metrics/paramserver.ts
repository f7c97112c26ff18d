/**
 * A parameter-server shard's metrics, read from its state at scrape time (ShardState.counters, versions, step):
 * the shard's hot paths carry no metric code. Every series has a `shard` label.
 */
import type { ShardState } from '../paramserver/index.js';
import type { Registry } from './registry.js';

type ShardCounterName = keyof ShardState['counters'];

/** Each shard counter, its exported name and what it counts. */
const COUNTERS: readonly (readonly [ShardCounterName, string, string])[] = [
  ['rowsPulled', 'camrec_ps_rows_pulled_total', 'rows returned by Pull'],
  ['rowsPushed', 'camrec_ps_rows_pushed_total', 'gradient rows received by Push and Prepare'],
  ['bytesPulled', 'camrec_ps_pulled_bytes_total', 'payload bytes (ids and values, as they travel) returned by Pull'],
  ['bytesPushed', 'camrec_ps_pushed_bytes_total', 'payload bytes (ids and gradients, as they travel) received by Push and Prepare'],
  ['pulls', 'camrec_ps_pulls_total', 'Pull calls answered'],
  ['pushes', 'camrec_ps_pushes_total', 'Push and Prepare calls accepted'],
  ['commits', 'camrec_ps_commits_total', 'bsp steps committed'],
  ['aborts', 'camrec_ps_aborts_total', 'bsp steps aborted'],
  ['duplicates', 'camrec_ps_duplicates_total', 'pushes recognised as an already applied or staged (task, attempt)'],
  ['tasksApplied', 'camrec_ps_tasks_applied_total', 'task gradients applied: each task of a committed bsp step, each push applied on arrival'],
];

/** What the collector reads: the server's shard state (null until Init or a restored checkpoint). */
export interface ShardSource {
  readonly shard: ShardState | null;
}

export function paramServerMetrics(registry: Registry, shard: number, source: ShardSource): void {
  const labels = { shard: String(shard) };
  const counters = COUNTERS.map(([key, name, help]) => [key, registry.counter(name, help, ['shard'])] as const);
  const initialised = registry.gauge('camrec_ps_initialised', '1 once the shard holds its tables (Init or a restored checkpoint)', ['shard']);
  const step = registry.gauge('camrec_ps_step', 'the shard\'s optimizer step: bsp steps committed, or pushes applied under async/ssp', ['shard']);
  const staged = registry.gauge('camrec_ps_staged_tasks', 'bsp tasks prepared and not yet committed', ['shard']);
  const waiters = registry.gauge('camrec_ps_clock_waiters', 'ssp Clock calls waiting for slower workers', ['shard']);
  const version = registry.gauge('camrec_ps_table_version', 'updates applied to each table this shard holds', ['shard', 'table']);
  registry.onCollect(() => {
    const s = source.shard;
    initialised.set(labels, s ? 1 : 0);
    if (!s) return;
    for (const [key, c] of counters) c.setTotal(labels, s.counters[key]);
    step.set(labels, s.step);
    staged.set(labels, s.stagedTasks);
    waiters.set(labels, s.clockWaiters);
    for (const v of s.versions()) version.set({ ...labels, table: v.table }, v.version);
  });
}
