/**
 * The coordinator's gRPC server listens before its job starts (`camrec coordinator` prints its port, then fences the
 * shards), so a worker can Join while start() is still fencing. That Join once reached the policy before it had a
 * state and failed with INTERNAL ("Cannot read properties of undefined"), seen in CI as a flaky staleness test. Here
 * the fencing is held until a worker's Join is in the coordinator, so the order is certain, not a matter of timing.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../helpers/files.js';
import { randomDataset } from '../helpers/tiny.js';
import { clusterFixture, startCluster } from './cluster.js';

const { clusters, dataDir } = clusterFixture('early-join-data', () => randomDataset(60, 50, 5, 4));

test('a worker that joins while the coordinator is still fencing the shards waits, is admitted and the job runs', { timeout: 120_000 }, async () => {
  const cluster = await startCluster({
    dataDir: dataDir(),
    out: join(tempDir('early-join'), 'run'),
    shards: 1,
    workers: 0,
    minWorkers: 1,
    tasksPerStep: 2,
    cfg: { model: 'lightgcn', batch: 100, epochs: 1, lr: 0.01, seed: 3, hyper: { dim: 8 } },
  });
  clusters.push(cluster);
  let signal!: () => void;
  const joinArrived = new Promise<void>((r) => (signal = r));
  const admissions: { admitted: boolean; reason: string }[] = [];
  const job = cluster.job;
  const originalJoin = job.join.bind(job);
  job.join = async (worker, evaluates) => {
    signal();
    const r = await originalJoin(worker, evaluates);
    admissions.push(r);
    return r;
  };
  const store = cluster.store;
  const takeOver = store.takeOver.bind(store);
  let fencedAfterJoin = false;
  store.takeOver = async () => {
    await joinArrived; // start() fences only once the worker's Join is in the coordinator
    fencedAfterJoin = true;
    return takeOver();
  };
  const proc = cluster.addWorker('w0');
  const exit = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  // a worker whose Join failed exits non-zero, and the job would wait for a worker forever: fail then, not hang
  const failedEarly = exit.then((c) => (c === 0 ? new Promise<never>(() => undefined) : Promise.reject(new Error(`the worker exited with ${c} before the job ended`))));
  const result = await Promise.race([cluster.run(), failedEarly]);
  assert.ok(fencedAfterJoin, 'the Join came in before the shards were fenced');
  assert.deepEqual(admissions[0], { admitted: true, reason: '' }, 'the early Join was admitted, not failed');
  assert.equal(result.epochsRun, 1);
  assert.ok(cluster.steps.length > 0 && cluster.steps.every((s) => s.tasks.every((t) => t.worker === 'w0')), 'the early worker did the steps');
  assert.equal(await exit, 0, 'the worker was told to stop and exited cleanly');
});
