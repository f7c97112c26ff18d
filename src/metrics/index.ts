/**
 * Operations: Prometheus metrics and the health/readiness endpoints of every server (docs/operations.md).
 * Counters live here, not in the code they count: shards and jobs are read at scrape time or observed through
 * the events they already publish, so training code carries no metric calls.
 */
export { Counter, Gauge, Histogram, MetricError, Registry, SECONDS_BUCKETS, formatValue } from './registry.js';
export type { Labels } from './registry.js';
export { EXPOSITION_CONTENT_TYPE, OpsServer, Readiness } from './http.js';
export type { OpsServerOptions } from './http.js';
export { grpcServerMetrics, splitPath } from './grpc.js';
export { paramServerMetrics } from './paramserver.js';
export type { ShardSource } from './paramserver.js';
export { CoordinatorMetrics, meteredBus } from './coordinator.js';
export { WORKER_JOINED, workerMetrics } from './worker.js';
export { processMetrics } from './process.js';
