/**
 * The usual process metrics (the names Prometheus client libraries share), read at scrape time, and a
 * `camrec_build_info` series naming the component and version.
 */
import type { Registry } from './registry.js';

export function processMetrics(registry: Registry, component: string, version: string): void {
  const cpu = registry.counter('process_cpu_seconds_total', 'user and system CPU time of this process, in seconds');
  const rss = registry.gauge('process_resident_memory_bytes', 'resident set size, in bytes');
  const heap = registry.gauge('nodejs_heap_used_bytes', 'V8 heap in use, in bytes');
  const start = registry.gauge('process_start_time_seconds', 'when this process started, in seconds since the epoch');
  const info = registry.gauge('camrec_build_info', 'always 1; the labels name the component and the package version', ['component', 'version']);
  const startedAt = (Date.now() - process.uptime() * 1000) / 1000;
  registry.onCollect(() => {
    const u = process.cpuUsage();
    const m = process.memoryUsage();
    cpu.setTotal({}, (u.user + u.system) / 1e6);
    rss.set({}, m.rss);
    heap.set({}, m.heapUsed);
    start.set({}, startedAt);
    info.set({ component, version }, 1);
  });
}
