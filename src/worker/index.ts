/** The stateless worker (DESIGN.md §5, docs/distributed.md). */
export { runWorker } from './worker.js';
export type { TaskStats, WorkerObserver, WorkerOptions, WorkerSummary, WorkerTaskRecord } from './worker.js';
