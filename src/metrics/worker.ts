/**
 * A worker's metrics, fed by the worker loop's observer hooks (WorkerObserver in src/worker): tasks by outcome,
 * the time a task takes (a histogram), its phases' seconds and the rows and bytes it moved — the same TaskStats the
 * worker reports to the coordinator (metrics.jsonl `distributed`).
 */
import type { WorkerObserver, WorkerTaskRecord } from '../worker/index.js';
import { SECONDS_BUCKETS, type Registry } from './registry.js';
import type { Readiness } from './http.js';

export const WORKER_JOINED = 'joined the coordinator';

export function workerMetrics(registry: Registry, readiness: Readiness): WorkerObserver {
  const tasks = registry.counter('camrec_worker_tasks_total', 'tasks this worker ran, by outcome: accepted, not accepted (a stale lease), failed', ['outcome']);
  const seconds = registry.histogram('camrec_worker_task_seconds', 'wall time of one task: pull, compute, push (prepare or push on every shard), report', SECONDS_BUCKETS);
  const phase = registry.counter('camrec_worker_phase_seconds_total', 'seconds in each phase of a task: wait (from the previous report to its lease), pull, compute, push (prepare or push on every shard), report (the previous Report call)', ['phase']);
  const rows = registry.counter('camrec_worker_rows_total', 'rows pulled from and gradient rows pushed to the parameter server', ['direction']);
  const bytes = registry.counter('camrec_worker_bytes_total', 'row payload bytes (ids and values) pulled from and pushed to the parameter server', ['direction']);
  const joined = registry.gauge('camrec_worker_joined', '1 while the worker is admitted to a job');
  joined.set({}, 0);
  return {
    joined(admitted: boolean) {
      joined.set({}, admitted ? 1 : 0);
      if (admitted) readiness.met(WORKER_JOINED);
    },
    taskDone(t: WorkerTaskRecord) {
      tasks.inc({ outcome: t.outcome });
      seconds.observe({}, t.seconds);
      if (!t.stats) return;
      const s = t.stats;
      for (const [p, v] of [['wait', s.waitSeconds], ['pull', s.pullSeconds], ['compute', s.computeSeconds], ['push', s.pushSeconds], ['report', s.reportSeconds]] as const) {
        phase.inc({ phase: p }, v);
      }
      rows.inc({ direction: 'pulled' }, s.rowsPulled);
      rows.inc({ direction: 'pushed' }, s.rowsPushed);
      bytes.inc({ direction: 'pulled' }, s.bytesPulled);
      bytes.inc({ direction: 'pushed' }, s.bytesPushed);
    },
  };
}
