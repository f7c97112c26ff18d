/**
 * Measured staleness through real shard processes and real workers on loopback (docs/distributed.md §1). Two
 * workers run in this process so that the test can hold them: worker a pulls its first task and waits until b has
 * pulled its own; b then waits until a's result is accepted (a's gradient is on the shards). Under bsp both tasks
 * are applied together on top of what they read: staleness 0. Under async a's gradient lands between b's pull and
 * b's push: b's staleness is at least 1 on every table. Under ssp:1 every gradient stays within the bound the
 * window implies. The figures go to metrics.jsonl (`distributed.staleness`, beside the epoch's traffic) and
 * result.json's provenance.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import type { CommittedStep, Consistency, EpochTraffic, StalenessSummary, TaskMsg } from '../../src/coordinator/index.js';
import { runWorker } from '../../src/worker/index.js';
import { tempDir } from '../helpers/files.js';
import { randomDataset } from '../helpers/tiny.js';
import { clusterFixture, startCluster } from './cluster.js';

const TASKS = 2;
const { clusters, dataDir } = clusterFixture('stale-data', () => randomDataset(90, 80, 5, 4));

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

interface Run {
  readonly epochs: { epoch: number; distributed: EpochTraffic & { consistency: string; staleness: Record<string, StalenessSummary> } }[];
  readonly run: Record<string, StalenessSummary>;
  readonly tasks: number;
}

/** A two-epoch LightGCN job on 2 shards with the two held workers; its staleness per epoch and for the run. */
async function runHeld(consistency: Consistency): Promise<Run> {
  const out = join(tempDir('stale-run'), 'run');
  const aPulled = deferred();
  const bPulled = deferred();
  const aAccepted = deferred();
  const held = { a: true, b: true };
  const cluster = await startCluster({
    dataDir: dataDir(),
    out,
    shards: 2,
    workers: 0,
    consistency,
    tasksPerStep: TASKS,
    cfg: { model: 'lightgcn', batch: 50, epochs: 2, lr: 0.01, seed: 5, hyper: { dim: 8 } },
    onAccept: (worker) => worker === 'a' && aAccepted.resolve(),
  });
  clusters.push(cluster);
  const afterPull: Record<'a' | 'b', (t: TaskMsg) => Promise<void>> = {
    a: async () => {
      if (!held.a) return;
      held.a = false;
      aPulled.resolve();
      await bPulled.promise;
    },
    b: async () => {
      if (!held.b) return;
      held.b = false;
      await aPulled.promise;
      bPulled.resolve();
      await aAccepted.promise;
    },
  };
  const result = cluster.run();
  const log = pino({ level: 'silent' });
  const workers = (['a', 'b'] as const).map((id) =>
    runWorker({ coordinator: `127.0.0.1:${cluster.port}`, id, threads: 1, native: false, log, afterPull: afterPull[id] }),
  );
  const [r, ...w] = await Promise.all([result, ...workers]);
  assert.ok(w.every((s) => s.accepted > 0), 'both workers did accepted work');
  assert.ok(!held.a && !held.b, 'both workers were held');
  const epochs = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Run['epochs'][number]);
  const dist = (r.provenance as { distributed: { staleness: Record<string, StalenessSummary>; consistency: string } }).distributed;
  assert.equal(dist.consistency, consistency.mode === 'ssp' ? `ssp:${consistency.staleness}` : consistency.mode);
  assertTraffic(epochs, cluster.steps, consistency);
  return { epochs, run: dist.staleness, tasks: cluster.steps.reduce((n, s) => n + s.tasks.length, 0) };
}

const TABLES = ['user', 'item'];

/**
 * metrics.jsonl `distributed` holds the epoch's traffic beside its staleness, under every mode: its steps and tasks
 * are the ones done (committed under bsp, applied on arrival under ssp/async), the workers timed the prepare or the
 * push, and only bsp spends time in commits.
 */
function assertTraffic(epochs: Run['epochs'], steps: readonly CommittedStep[], consistency: Consistency): void {
  for (const e of epochs) {
    const d = e.distributed;
    const done = steps.filter((s) => s.epoch === e.epoch);
    const tasks = done.flatMap((s) => s.tasks);
    assert.deepEqual([d.steps, d.tasks, d.workers], [done.length, tasks.length, new Set(tasks.map((t) => t.worker)).size], `epoch ${e.epoch}: steps, tasks, workers`);
    assert.ok(d.taskMs.push > 0 && d.rowsPushed > 0 && d.bytesPushed > 0, `epoch ${e.epoch}: pushed rows and their time ${JSON.stringify(d)}`);
    assert.ok(d.rowsPulled > 0 && d.bytesPulled > 0, `epoch ${e.epoch}: pulled rows`);
    if (consistency.mode === 'bsp') assert.ok(d.commitMs > 0, `epoch ${e.epoch}: bsp commits take time`);
    else assert.equal(d.commitMs, 0, `epoch ${e.epoch}: nothing is committed under ${consistency.mode}`);
  }
}

function tablesOf(s: Record<string, StalenessSummary>): string[] {
  return Object.keys(s).sort();
}

test('bsp: every applied gradient has staleness 0, even with the workers interleaved', async (t) => {
  const r = await runHeld({ mode: 'bsp' });
  t.diagnostic(`bsp staleness ${JSON.stringify(r.run)}`);
  assert.equal(r.epochs.length, 2);
  assert.deepEqual(tablesOf(r.run).length, TABLES.length, `tables ${tablesOf(r.run)}`);
  for (const [table, s] of Object.entries(r.run)) {
    assert.deepEqual([s.mean, s.p50, s.p95, s.max], [0, 0, 0, 0], table);
    assert.ok(s.count >= r.tasks, `${table}: ${s.count} samples for ${r.tasks} tasks (one per task and shard it updated)`);
  }
  for (const e of r.epochs) for (const s of Object.values(e.distributed.staleness)) assert.equal(s.max, 0);
  const perEpoch = r.epochs.reduce((n, e) => n + Object.values(e.distributed.staleness).reduce((m, s) => m + s.count, 0), 0);
  assert.equal(perEpoch, Object.values(r.run).reduce((m, s) => m + s.count, 0), 'the run is the sum of its epochs');
});

test('async: a gradient applied after another worker\'s is stale by at least 1 on every table', async (t) => {
  const r = await runHeld({ mode: 'async' });
  t.diagnostic(`async staleness ${JSON.stringify(r.run)}`);
  const first = r.epochs[0].distributed.staleness;
  assert.equal(tablesOf(first).length, TABLES.length);
  for (const [table, s] of Object.entries(first)) {
    assert.ok(s.max >= 1, `${table}: max staleness ${s.max} in epoch 1`);
    assert.ok(s.mean > 0, `${table}: mean ${s.mean}`);
  }
  for (const [table, s] of Object.entries(r.run)) {
    assert.ok(s.max >= 1 && s.max <= r.tasks / 2 - 1, `${table}: ${s.max} (at most the other tasks of an epoch)`);
  }
});

test('ssp:1: staleness stays within the window\'s bound of (2s + 1)·T − 1 other gradients', async (t) => {
  const s = 1;
  const r = await runHeld({ mode: 'ssp', staleness: s });
  t.diagnostic(`ssp:1 staleness ${JSON.stringify(r.run)}`);
  for (const [table, x] of Object.entries(r.run)) {
    assert.ok(x.max >= 1, `${table}: the held workers make one gradient stale (${x.max})`);
    assert.ok(x.max <= (2 * s + 1) * TASKS - 1, `${table}: ${x.max}`);
  }
});
