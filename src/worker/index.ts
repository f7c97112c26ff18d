/** The stateless worker (DESIGN.md §5, docs/distributed.md). */
export { runWorker } from './worker.js';
export type { WorkerOptions, WorkerSummary } from './worker.js';
