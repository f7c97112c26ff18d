/**
 * The exposition encoder: an exact expected text for a small registry, escaping read back by an independent
 * parser, histogram buckets against counts computed directly from the observations, and refusals.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  CoordinatorMetrics,
  grpcServerMetrics,
  MetricError,
  paramServerMetrics,
  processMetrics,
  Readiness,
  Registry,
  WORKER_JOINED,
  workerMetrics,
} from '../../src/metrics/index.js';
import { histogramOf, summarizeStaleness } from '../../src/coordinator/index.js';
import type { TaskStats } from '../../src/worker/index.js';
import { parseExposition } from './prom.js';

test('a counter, a gauge and a histogram are written in the text format, byte for byte', () => {
  const r = new Registry();
  const c = r.counter('demo_requests_total', 'requests\nby code', ['code']);
  const g = r.gauge('demo_temperature', 'back\\slash');
  const h = r.histogram('demo_seconds', 'durations', [0.1, 1]);
  c.inc({ code: 'OK' });
  c.inc({ code: 'OK' }, 2);
  c.inc({ code: 'NOT_FOUND' });
  g.set({}, -1.5);
  h.observe({}, 0.05);
  h.observe({}, 0.5);
  h.observe({}, 7);
  assert.equal(
    r.expose(),
    [
      '# HELP demo_requests_total requests\\nby code',
      '# TYPE demo_requests_total counter',
      'demo_requests_total{code="OK"} 3',
      'demo_requests_total{code="NOT_FOUND"} 1',
      '# HELP demo_temperature back\\\\slash',
      '# TYPE demo_temperature gauge',
      'demo_temperature -1.5',
      '# HELP demo_seconds durations',
      '# TYPE demo_seconds histogram',
      'demo_seconds_bucket{le="0.1"} 1',
      'demo_seconds_bucket{le="1"} 2',
      'demo_seconds_bucket{le="+Inf"} 3',
      'demo_seconds_sum 7.55',
      'demo_seconds_count 3',
      '',
    ].join('\n'),
  );
});

test('label values with quotes, backslashes and newlines, and non-finite values, read back unchanged', () => {
  const r = new Registry();
  const g = r.gauge('demo_value', 'v', ['name']);
  const odd = ['say "hi"', 'C:\\path\\', 'two\nlines', 'ünïcode, {braces}=x'];
  odd.forEach((name, i) => g.set({ name }, i));
  g.set({ name: 'nan' }, NaN);
  g.set({ name: 'inf' }, Infinity);
  g.set({ name: 'ninf' }, -Infinity);
  const s = parseExposition(r.expose());
  odd.forEach((name, i) => assert.equal(s.value('demo_value', { name }), i, name));
  assert.ok(Number.isNaN(s.value('demo_value', { name: 'nan' })));
  assert.equal(s.value('demo_value', { name: 'inf' }), Infinity);
  assert.equal(s.value('demo_value', { name: 'ninf' }), -Infinity);
});

test('histogram buckets count the observations at or below each bound, per label set', () => {
  const r = new Registry();
  const bounds = [0.01, 0.1, 0.5, 1, 5];
  const h = r.histogram('demo_latency_seconds', 'latency', bounds, ['method']);
  const obs: Record<string, number[]> = { Pull: [], Push: [] };
  let x = 0.37;
  for (let i = 0; i < 500; i++) {
    x = (x * 9301 + 49297) % 233280; // a fixed sequence, no Math.random
    const v = (x / 233280) * 8;
    const method = i % 3 === 0 ? 'Push' : 'Pull';
    obs[method].push(v);
    h.observe({ method }, v);
  }
  obs.Pull.push(1); // exactly on a bound: counted in le="1"
  h.observe({ method: 'Pull' }, 1);
  const s = parseExposition(r.expose());
  for (const [method, vs] of Object.entries(obs)) {
    for (const b of bounds) assert.equal(s.value('demo_latency_seconds_bucket', { method, le: String(b) }), vs.filter((v) => v <= b).length, `${method} le=${b}`);
    assert.equal(s.value('demo_latency_seconds_count', { method }), vs.length);
    assert.ok(Math.abs(s.value('demo_latency_seconds_sum', { method })! - vs.reduce((a, b) => a + b, 0)) < 1e-9);
  }
});

test('collect callbacks run before each exposition, so values read elsewhere are current', () => {
  const r = new Registry();
  const g = r.gauge('demo_source', 'copied at scrape time');
  let source = 1;
  r.onCollect(() => g.set({}, source));
  assert.equal(parseExposition(r.expose()).value('demo_source'), 1);
  source = 42;
  assert.equal(parseExposition(r.expose()).value('demo_source'), 42);
});

test('names, labels and values Prometheus would refuse are refused when the metric is made or set', () => {
  const r = new Registry();
  assert.throws(() => r.counter('requests', 'no _total'), MetricError);
  assert.throws(() => r.gauge('9lives', 'bad name'), MetricError);
  assert.throws(() => r.gauge('demo_x', 'reserved label', ['__name']), MetricError);
  assert.throws(() => r.histogram('demo_h', 'le is the bucket label', [1], ['le']), MetricError);
  assert.throws(() => r.histogram('demo_h2', 'not increasing', [1, 1]), MetricError);
  const c = r.counter('demo_total', 'c', ['code']);
  assert.throws(() => c.inc({ code: 'OK' }, -1), /finite number ≥ 0/);
  assert.throws(() => c.inc({}), /labels \{\} are not \{code\}/);
  assert.throws(() => c.inc({ code: 'OK', extra: 'x' }), MetricError);
  assert.throws(() => r.gauge('demo_total', 'twice'), /registered twice/);
  assert.equal(c.get({ code: 'OK' }), 0, 'a refused increment changes nothing');
});

test('a metric without labels is exported at 0 before it is first touched; one with labels has no series yet', () => {
  const r = new Registry();
  r.counter('demo_expiries_total', 'not yet');
  r.counter('demo_by_code_total', 'by code', ['code']);
  r.histogram('demo_wait_seconds', 'not yet', [1]);
  const s = parseExposition(r.expose());
  assert.equal(s.value('demo_expiries_total'), 0);
  assert.equal(s.value('demo_wait_seconds_bucket', { le: '1' }), 0);
  assert.equal(s.value('demo_wait_seconds_count'), 0);
  assert.equal(s.samples.filter((x) => x.name === 'demo_by_code_total').length, 0);
  assert.equal(s.types.get('demo_by_code_total'), 'counter');
});

test('the coordinator exports its consistency mode and the last ended epoch\'s staleness summary as metrics.jsonl has it', () => {
  const r = new Registry();
  const m = new CoordinatorMetrics(r, 'ssp:2');
  // Epoch 1: item gradients stale by 0, 0, 1, 3; user by 2. Epoch 2: only 0s.
  const epoch1 = summarizeStaleness(histogramOf([0, 0, 1, 3].map((v) => ({ table: 'item', staleness: v })).concat({ table: 'user', staleness: 2 })));
  m.epochEnded({ epoch: 1, staleness: epoch1 });
  let s = parseExposition(r.expose());
  assert.equal(s.value('camrec_coordinator_consistency', { mode: 'ssp:2' }), 1);
  assert.equal(s.samples.filter((x) => x.name === 'camrec_coordinator_consistency').length, 1);
  const item = { count: 4, mean: 1, p50: 0, p95: 3, max: 3 };
  for (const [stat, v] of Object.entries(item)) assert.equal(s.value('camrec_coordinator_staleness', { table: 'item', stat }), v, `item ${stat}`);
  assert.equal(s.value('camrec_coordinator_staleness', { table: 'user', stat: 'mean' }), 2);
  m.epochEnded({ epoch: 2, staleness: summarizeStaleness(histogramOf([{ table: 'item', staleness: 0 }, { table: 'user', staleness: 0 }])) });
  s = parseExposition(r.expose());
  for (const table of ['item', 'user']) {
    assert.equal(s.value('camrec_coordinator_staleness', { table, stat: 'max' }), 0, `${table}: the newest epoch replaces the last`);
    assert.equal(s.value('camrec_coordinator_staleness', { table, stat: 'count' }), 1);
  }
});

test('a worker\'s phase, row and byte counters are the sums of the TaskStats it reports', () => {
  const r = new Registry();
  const w = workerMetrics(r, new Readiness([WORKER_JOINED]));
  const tasks: TaskStats[] = [
    { rowsPulled: 10, rowsPushed: 4, bytesPulled: 360, bytesPushed: 144, pullSeconds: 0.25, computeSeconds: 1.5, pushSeconds: 0.5, waitSeconds: 2, reportSeconds: 0 },
    { rowsPulled: 3, rowsPushed: 2, bytesPulled: 108, bytesPushed: 72, pullSeconds: 0.125, computeSeconds: 1, pushSeconds: 0.25, waitSeconds: 0.5, reportSeconds: 0.0625 },
  ];
  w.taskDone({ outcome: 'accepted', seconds: 3, stats: tasks[0] });
  w.taskDone({ outcome: 'failed', seconds: 1, stats: null });
  w.taskDone({ outcome: 'not_accepted', seconds: 2, stats: tasks[1] });
  const s = parseExposition(r.expose());
  const total = (k: keyof TaskStats) => tasks[0][k] + tasks[1][k];
  const phases = { wait: 'waitSeconds', pull: 'pullSeconds', compute: 'computeSeconds', push: 'pushSeconds', report: 'reportSeconds' } as const;
  for (const [phase, k] of Object.entries(phases)) assert.equal(s.value('camrec_worker_phase_seconds_total', { phase }), total(k), phase);
  assert.equal(s.value('camrec_worker_rows_total', { direction: 'pulled' }), total('rowsPulled'));
  assert.equal(s.value('camrec_worker_rows_total', { direction: 'pushed' }), total('rowsPushed'));
  assert.equal(s.value('camrec_worker_bytes_total', { direction: 'pulled' }), total('bytesPulled'));
  assert.equal(s.value('camrec_worker_bytes_total', { direction: 'pushed' }), total('bytesPushed'));
  assert.equal(s.sum('camrec_worker_tasks_total'), 3);
  assert.equal(s.value('camrec_worker_task_seconds_sum'), 6);
});

test('every metric a camrec process registers is described in docs/operations.md', () => {
  const r = new Registry();
  const readiness = new Readiness([WORKER_JOINED]);
  processMetrics(r, 'test', '0');
  grpcServerMetrics(r);
  paramServerMetrics(r, 0, { shard: null });
  new CoordinatorMetrics(r, 'bsp');
  workerMetrics(r, readiness);
  const names = [...parseExposition(r.expose()).types.keys()];
  assert.ok(names.length >= 30, `${names.length} metrics`);
  const doc = readFileSync(fileURLToPath(new URL('../../docs/operations.md', import.meta.url)), 'utf8');
  assert.deepEqual(names.filter((n) => !doc.includes(`\`${n}\``)), []);
});
