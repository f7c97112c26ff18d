/**
 * Metrics and probes of real processes over HTTP on loopback, while a small job runs: two parameter-server
 * shards, a coordinator and two workers (`camrec paramserver|coordinator|worker --metrics-port 0`), the second
 * joining once steps have been committed and leaving (SIGTERM, as a scale-down) before the job ends; and a worker
 * whose coordinator is not there, alive but not ready.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { stepSizes } from '../../src/coordinator/index.js';
import { ShardClient } from '../../src/paramserver/index.js';
import { tempDir, writeInter } from '../helpers/files.js';
import { randomDataset } from '../helpers/tiny.js';
import { httpGet, scrape, type Scrape } from './prom.js';
import { camrecProc, freePort, sleep, stopAll, type Proc } from './procs.js';

const BATCH = 64;
const TASKS_PER_STEP = 3;
const data = randomDataset(80, 90, 6, 2);
let dataDir = '';

before(() => {
  dataDir = writeInter(tempDir('ops-data'), data);
});
after(stopAll);

/** Scrapes `port` every 100 ms while `proc` runs; the scrapes that succeeded, in order. */
function poll(port: number, proc: Proc): { scrapes: Scrape[]; ready: number[]; done: Promise<void> } {
  const scrapes: Scrape[] = [];
  const ready: number[] = [];
  let over = false;
  void proc.exited.then(() => (over = true));
  const done = (async () => {
    while (!over) {
      try {
        scrapes.push(await scrape(port));
        ready.push((await httpGet(port, '/readyz')).status);
      } catch {
        // the process is gone between two scrapes
      }
      await sleep(100);
    }
  })();
  return { scrapes, ready, done };
}

/** Resolves once `cond()` holds; fails when `proc` ends first. */
async function waitUntil(cond: () => boolean, proc: Proc): Promise<void> {
  let over = false;
  void proc.exited.then(() => (over = true));
  while (!cond()) {
    assert.ok(!over, 'the process ended first');
    await sleep(50);
  }
}

function series(scrapes: Scrape[], f: (s: Scrape) => number): number[] {
  return scrapes.map(f);
}

function nonDecreasing(xs: number[], what: string): void {
  xs.forEach((x, i) => i > 0 && assert.ok(x >= xs[i - 1], `${what} went down: ${xs.slice(0, i + 1).join(', ')}`));
}

test('shards, coordinator and workers serve /metrics, /healthz and /readyz; the values move with the job and agree with the shards\' own Stats', async () => {
  const shards = [0, 1].map((i) => camrecProc(['paramserver', '--shard', String(i), '--shards', '2', '--port', '0', '--metrics-port', '0', '--log-level', 'info']));
  const psPorts = await Promise.all(shards.map((s) => s.firstLine<{ port: number }>().then((l) => l.port)));
  const psMetrics = await Promise.all(shards.map((s) => s.loggedPort('metrics serving')));
  for (const p of psMetrics) {
    assert.equal((await httpGet(p, '/healthz')).status, 200);
    assert.equal((await httpGet(p, '/readyz')).status, 200, 'a listening shard with nothing to restore is ready');
    assert.equal((await scrape(p)).value('camrec_ps_initialised', { shard: String(psMetrics.indexOf(p)) }), 0, 'no Init yet');
  }

  // A worker whose coordinator is not there (yet): alive, not ready.
  const workerArgs = (coordinator: number, id: string) => ['worker', '--coordinator', `127.0.0.1:${coordinator}`, '--id', id, '--threads', '1', '--no-native', '--metrics-port', '0', '--log-level', 'debug', '--json'];
  const lonely = camrecProc(workerArgs(await freePort(), 'lonely'));
  const lonelyPort = await lonely.loggedPort('metrics serving');
  assert.equal((await httpGet(lonelyPort, '/healthz')).status, 200);
  const notReady = await httpGet(lonelyPort, '/readyz');
  assert.equal(notReady.status, 503);
  assert.match(notReady.body, /joined the coordinator/);
  assert.equal((await scrape(lonelyPort)).value('camrec_worker_joined'), 0);
  lonely.proc.kill('SIGKILL');

  const out = join(tempDir('ops-run'), 'run');
  const coord = camrecProc([
    'coordinator', '--model', 'lightgcn', '--data', dataDir, '--epochs', '12', '--batch', String(BATCH), '--dim', '8', '--seed', '3',
    '--backend', 'wasm', '--threads', '1', '--no-native', '--shards', psPorts.map((p) => `127.0.0.1:${p}`).join(','),
    '--port', '0', '--tasks-per-step', String(TASKS_PER_STEP), '--out', out, '--metrics-port', '0', '--log-level', 'info',
  ]);
  const coordMetrics = await coord.loggedPort('metrics serving');
  const coordPoll = poll(coordMetrics, coord);
  const { port: coordPort } = await coord.firstLine<{ port: number }>();
  const early = camrecProc(workerArgs(coordPort, 'early'));
  const earlyPoll = poll(await early.loggedPort('metrics serving'), early);
  const health = new ShardClient(`127.0.0.1:${coordPort}`);
  assert.equal((await health.healthCheck()).status, 'SERVING', 'the coordinator answers grpc.health.v1');
  health.close();

  // A second worker joins once the first has committed steps.
  await waitUntil(() => (coordPoll.scrapes.at(-1)?.value('camrec_coordinator_steps_committed_total') ?? 0) >= 2, coord);
  const late = camrecProc(workerArgs(coordPort, 'late'));
  const latePort = await late.loggedPort('metrics serving');
  const latePoll = poll(latePort, late);
  // Both are counted live; then the late one is scaled away (SIGTERM: it finishes its task and leaves).
  const coordNow = (name: string) => coordPoll.scrapes.at(-1)?.value(name) ?? 0;
  await waitUntil(() => coordNow('camrec_coordinator_workers') === 2, coord);
  const stepsWithTwo = coordNow('camrec_coordinator_steps_committed_total');
  await waitUntil(() => coordNow('camrec_coordinator_steps_committed_total') >= stepsWithTwo + 2, coord);
  // Scale it away only once it has finished a task of its own: on a loaded machine the early worker can take every
  // task of those steps while the late one is still loading its data.
  await waitUntil(() => latePoll.scrapes.some((sc) => sc.sum('camrec_worker_tasks_total') >= 1), coord);
  late.proc.kill('SIGTERM');
  assert.equal(await late.exited, 0, late.stderr());
  await waitUntil(() => coordNow('camrec_coordinator_workers_left_total') === 1 && coordNow('camrec_coordinator_workers') === 1, coord);

  assert.equal(await coord.exited, 0, coord.stderr());
  await Promise.all([coordPoll.done, earlyPoll.done, latePoll.done, early.exited, late.exited]);

  // The coordinator: the values moved and never went back.
  const cs = coordPoll.scrapes;
  assert.ok(cs.length >= 3, `${cs.length} scrapes of the coordinator`);
  const committed = series(cs, (s) => s.value('camrec_coordinator_steps_committed_total') ?? 0);
  nonDecreasing(committed, 'steps committed');
  assert.ok(new Set(committed).size >= 2, `steps committed moved: ${committed.join(', ')}`);
  nonDecreasing(series(cs, (s) => s.value('camrec_coordinator_tasks_total', { state: 'accepted' }) ?? 0), 'tasks accepted');
  for (const s of cs) {
    const leased = s.value('camrec_coordinator_tasks_total', { state: 'leased' }) ?? 0;
    const accepted = s.value('camrec_coordinator_tasks_total', { state: 'accepted' }) ?? 0;
    assert.ok(leased >= accepted, `leased ${leased} ≥ accepted ${accepted}`);
    // A step is committed only after all its tasks were accepted.
    assert.ok(accepted >= TASKS_PER_STEP * (s.value('camrec_coordinator_steps_committed_total') ?? 0));
    assert.equal(s.value('camrec_coordinator_lease_expiries_total'), 0);
    assert.equal(s.value('camrec_coordinator_step_seconds_count'), s.value('camrec_coordinator_steps_committed_total'), 'one step time per committed step');
  }
  assert.equal(cs.at(-1)!.value('camrec_coordinator_workers_joined_total'), 2);
  assert.equal(cs.at(-1)!.value('camrec_coordinator_workers_left_total'), 1, 'the late worker left; the early one was told to stop');
  assert.ok(Math.max(...series(cs, (s) => s.value('camrec_coordinator_epoch') ?? 0)) >= 2);
  assert.ok(cs.some((s) => (s.value('camrec_grpc_server_handled_total', { grpc_service: 'camrec.coordinator.v1.Coordinator', grpc_method: 'Join', grpc_code: 'OK' }) ?? 0) >= 1));
  assert.ok(coordPoll.ready.includes(200), 'the coordinator was ready while the job ran');
  // Its mode, and each scrape's staleness summary is one of metrics.jsonl's epochs (bsp: all 0, counted per task).
  for (const s of cs) assert.equal(s.value('camrec_coordinator_consistency', { mode: 'bsp' }), 1);
  const epochs = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { distributed: { staleness: Record<string, Record<string, number>> } });
  const asText = (st: Record<string, Record<string, number>>) => JSON.stringify(Object.entries(st).flatMap(([table, by]) => Object.entries(by).map(([stat, v]) => [table, stat, v])).sort());
  const recorded = new Set(epochs.map((e) => asText(e.distributed.staleness)));
  const scraped = cs.map((s) => {
    const st: Record<string, Record<string, number>> = {};
    for (const x of s.samples.filter((x) => x.name === 'camrec_coordinator_staleness')) (st[x.labels.table] ??= {})[x.labels.stat] = x.value;
    return st;
  });
  const withStaleness = scraped.filter((st) => Object.keys(st).length > 0);
  assert.ok(withStaleness.length > 0, 'an epoch ended while the coordinator was scraped');
  for (const st of withStaleness) assert.ok(recorded.has(asText(st)), `${asText(st)} is not in metrics.jsonl`);
  assert.ok(epochs.every((e) => Object.values(e.distributed.staleness).every((t) => t.count > 0 && t.max === 0)), 'bsp: staleness 0');

  // The workers: not ready before the join, ready after; per scrape the histogram counts every task.
  assert.ok(earlyPoll.ready.includes(200) && latePoll.ready.includes(200), 'the workers were ready once they joined');
  for (const { scrapes } of [earlyPoll, latePoll]) {
    for (const s of scrapes) assert.equal(s.value('camrec_worker_task_seconds_count'), s.sum('camrec_worker_tasks_total'));
    nonDecreasing(series(scrapes, (s) => s.sum('camrec_worker_tasks_total')), 'worker tasks');
  }
  const earlyTasks = series(earlyPoll.scrapes, (s) => s.sum('camrec_worker_tasks_total'));
  assert.ok(new Set(earlyTasks).size >= 2, `the early worker's task count moved: ${earlyTasks.join(', ')}`);
  // Each worker's last scrape counts at most what it reports at exit (--json totals): tasks, rows, bytes, waiting.
  for (const [p, w] of [[earlyPoll, early], [latePoll, late]] as const) {
    const summary = JSON.parse(w.stdout().trim().split('\n').at(-1)!) as { tasks: number; accepted: number; rowsPulled: number; bytesPulled: number; waitSeconds: number; stoppedBy: string };
    assert.equal(summary.stoppedBy, w === late ? 'signal' : 'coordinator');
    const last = p.scrapes.at(-1);
    assert.ok(last, 'the worker was scraped');
    assert.ok(last.sum('camrec_worker_tasks_total') <= summary.tasks);
    assert.ok((last.value('camrec_worker_tasks_total', { outcome: 'accepted' }) ?? 0) <= summary.accepted);
    assert.ok((last.value('camrec_worker_rows_total', { direction: 'pulled' }) ?? 0) <= summary.rowsPulled);
    assert.ok((last.value('camrec_worker_bytes_total', { direction: 'pulled' }) ?? 0) <= summary.bytesPulled);
    assert.ok((last.value('camrec_worker_phase_seconds_total', { phase: 'wait' }) ?? 0) <= summary.waitSeconds + 1e-9);
  }
  // The late worker ran tasks before it left.
  const lateSummary = JSON.parse(late.stdout().trim().split('\n').at(-1)!) as { tasks: number };
  assert.ok(latePoll.scrapes.some((s) => s.sum('camrec_worker_tasks_total') >= 1), 'the late worker ran tasks');
  assert.ok(lateSummary.tasks >= 1);

  // The shards outlive the job: their final values are exact.
  const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as { epochsRun: number };
  const totalSteps = result.epochsRun * stepSizes(data.train.users.length, BATCH).length;
  let rowsMoved = 0;
  for (const [i, port] of psMetrics.entries()) {
    const s = await scrape(port);
    const shard = { shard: String(i) };
    assert.equal(s.value('camrec_ps_initialised', shard), 1);
    assert.equal(s.value('camrec_ps_step', shard), totalSteps);
    assert.equal(s.value('camrec_ps_commits_total', shard), totalSteps);
    assert.equal(s.value('camrec_grpc_server_handled_total', { grpc_service: 'camrec.paramserver.v1.ParamServer', grpc_method: 'Commit', grpc_code: 'OK' }), totalSteps);
    assert.ok(s.value('camrec_grpc_server_handled_total', { grpc_service: 'camrec.paramserver.v1.ParamServer', grpc_method: 'Init', grpc_code: 'OK' })! >= 3, 'the coordinator and both workers');
    assert.equal(s.value('camrec_grpc_server_handling_seconds_count', { grpc_service: 'camrec.paramserver.v1.ParamServer', grpc_method: 'Commit' }), totalSteps);
    // The same numbers as the shard's own Stats call.
    const client = new ShardClient(`127.0.0.1:${psPorts[i]}`);
    const stats = await client.stats();
    client.close();
    rowsMoved += stats.rowsPulled + stats.rowsPushed;
    assert.equal(s.value('camrec_ps_rows_pulled_total', shard), stats.rowsPulled);
    assert.equal(s.value('camrec_ps_rows_pushed_total', shard), stats.rowsPushed);
    assert.equal(s.value('camrec_ps_pulled_bytes_total', shard), stats.bytesPulled);
    assert.equal(s.value('camrec_ps_pushed_bytes_total', shard), stats.bytesPushed);
    for (const v of stats.versions) assert.equal(s.value('camrec_ps_table_version', { ...shard, table: v.table }), v.version, v.table);
    // Small tables are held whole by one shard (placement.ts); a shard holding any has one updated at every step.
    if (stats.versions.length) assert.ok(stats.versions.some((v) => v.version === totalSteps), 'a table updated at every step');
  }
  assert.ok(rowsMoved > 0, 'the shards served rows');

  // SIGTERM: the shards stop gracefully.
  for (const s of shards) s.proc.kill('SIGTERM');
  assert.deepEqual(await Promise.all(shards.map((s) => s.exited)), [0, 0]);
});

test('bad metrics flags exit 2 with one clear line', async () => {
  const cases: [string[], RegExp][] = [
    [['--metrics-port', '70000'], /flag --metrics-port: 70000 is not a port in \[0, 65535\]/],
    [['--metrics-port', 'x'], /flag --metrics-port: 'x' is not a number/],
    [['--metrics-host', '0.0.0.0'], /flag --metrics-host needs --metrics-port/],
    [['--metrics-port', '0', '--metrics-host', 'pod-name'], /flag --metrics-host: 'pod-name' is not an IP address/],
  ];
  for (const [flags, message] of cases) {
    const p = camrecProc(['paramserver', '--shard', '0', '--shards', '1', '--port', '0', ...flags]);
    assert.equal(await p.exited, 2, flags.join(' '));
    assert.match(p.stderr(), message);
    assert.equal(p.stderr().trim().split('\n').length, 1, p.stderr());
  }
});
