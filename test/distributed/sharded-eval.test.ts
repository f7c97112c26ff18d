/**
 * Sharded evaluation through real shard and worker processes on loopback (docs/distributed.md §2): a worker
 * SIGKILLed as it is handed its first evaluation range loses it; the range is leased again to the other worker
 * under attempt 2, and the job's metrics are those of the same job evaluated on the coordinator. ReportEval refuses
 * sums that are not the job's metrics.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CoordinatorCallError, CoordinatorClient, type EvalRange } from '../../src/coordinator/index.js';
import type { TrainConfig } from '../../src/config/index.js';
import { METRICS, metricKey } from '../../src/eval/index.js';
import { tempDir } from '../helpers/files.js';
import { randomDataset } from '../helpers/tiny.js';
import { clusterFixture, startCluster, type Cluster } from './cluster.js';

// 120 users with one valid and one test item each: 4 ranges of 30 users over 2 workers; 480 training pairs, 4 steps.
const cfg: Partial<TrainConfig> = { model: 'lightgcn', batch: 128, epochs: 1, lr: 0.01, seed: 5, hyper: { dim: 8 } };
const { clusters, dataDir } = clusterFixture('sharded-eval-data', () => randomDataset(120, 100, 6, 5));

const firstLine = (dir: string) => JSON.parse(readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n')[0]) as Record<string, unknown>;

function assertMetricsClose(a: unknown, b: unknown, rel: number, what: string): void {
  const [x, y] = [a as Record<string, number>, b as Record<string, number>];
  assert.deepEqual(Object.keys(x).sort(), Object.keys(y).sort(), `${what}: the same metrics`);
  for (const [k, v] of Object.entries(y)) assert.ok(Math.abs(x[k] - v) <= rel * Math.max(Math.abs(x[k]), Math.abs(v)), `${what} ${k}: ${x[k]} vs ${v}`);
}

let sharded: Cluster;
let shardedOut = '';

test('a worker killed as it is handed an evaluation range: the range goes to the other worker (attempt 2), and the metrics are the coordinator\'s own', async () => {
  shardedOut = tempDir('sharded-eval-run');
  const onCoordinatorOut = tempDir('sharded-eval-coord');
  const leases: { worker: string; range: EvalRange; attempt: number }[] = [];
  let killed = '';
  sharded = await startCluster({
    // Training waits for both workers (--min-workers 2, the cluster's default): on a loaded machine one worker may start seconds after the
    // other, which would otherwise train the 4 steps and leave valid and test to the coordinator alone, as it
    // evaluates alone while fewer than two workers are admitted. 6 s without a heartbeat drops a worker: soon enough
    // to find the killed one, late enough that a live worker whose step blocks its heartbeat timer on a loaded
    // machine is not dropped before evaluation.
    dataDir: dataDir(), out: shardedOut, shards: 1, workers: 2, cfg, tasksPerStep: 2, workerTimeoutMs: 6000,
    onRangeLease: (l, c) => {
      leases.push(l);
      if (killed) return;
      killed = l.worker;
      c.workers.get(l.worker)?.kill('SIGKILL');
    },
  });
  clusters.push(sharded);
  const onCoordinator = await startCluster({ dataDir: dataDir(), out: onCoordinatorOut, shards: 1, workers: 2, cfg, tasksPerStep: 2, evalOnCoordinator: true });
  clusters.push(onCoordinator);
  const [a, b] = await Promise.all([sharded.run(), onCoordinator.run()]);

  assert.ok(leases.length > 0, 'an evaluation range was leased (both workers were admitted when evaluation began)');
  const survivor = killed === 'w0' ? 'w1' : 'w0';
  // The kill falls on valid's first range, unless a worker was dropped for silence (and rejoined) while valid was
  // evaluated: then the coordinator evaluated valid alone and the kill falls on test's.
  const lost = leases[0].range;
  assert.ok(
    leases.some((l) => l.range.index === lost.index && l.range.split === lost.split && l.attempt === 2 && l.worker === survivor),
    `range ${lost.index} leased again to ${survivor} under attempt 2: ${JSON.stringify(leases)}`,
  );
  assert.equal(leases.filter((l) => l.range.split !== lost.split).length, 0, 'every other split was evaluated by the coordinator alone');
  const [ls, lc] = [firstLine(shardedOut), firstLine(onCoordinatorOut)];
  assert.deepEqual(
    (ls.distributed as Record<string, unknown>).evaluation,
    { [lost.split]: { ranges: 4, workers: [survivor] } },
    `${lost.split} merged from the survivor's four ranges`,
  );
  assert.equal((lc.distributed as Record<string, unknown>).evaluation, undefined);
  assertMetricsClose(ls.valid, lc.valid, 1e-9, 'valid');
  assertMetricsClose(ls.test, lc.test, 1e-9, 'test');
  assertMetricsClose(a.valid, b.valid, 1e-9, 'result valid');
  assertMetricsClose(a.test, b.test, 1e-9, 'result test');
});

test('ReportEval refuses sums that are not the job\'s metrics (INVALID_ARGUMENT) and ignores a range of no evaluation in progress', async () => {
  const client = new CoordinatorClient(`127.0.0.1:${sharded.port}`);
  try {
    const head = { worker: 'probe', epoch: 1, split: 'valid', index: 0, attempt: 1, users: 30 };
    const sums = Object.fromEntries([5, 10, 20, 50].flatMap((k) => METRICS.map((m) => [metricKey(m, k), 0.5])));
    const refused = async (r: Parameters<CoordinatorClient['reportEval']>[0], message: RegExp) => {
      const err = await client.reportEval(r).then(() => null, (e: unknown) => e);
      assert.ok(err instanceof CoordinatorCallError, `refused: ${String(err)}`);
      assert.equal(err.status, 3, 'INVALID_ARGUMENT');
      assert.match(err.message, message);
    };
    await refused({ ...head, sums: { 'recall@20': 0.5 } }, /sums lack a finite 'recall@5'/);
    await refused({ ...head, sums: { ...sums, 'recall@7': 1 } }, /sums have 'recall@7', not a metric of this job's cut-offs 5, 10, 20, 50/);
    await refused({ ...head, sums: { ...sums, 'ndcg@10': Number.NaN } }, /sums lack a finite 'ndcg@10'/);
    await refused({ ...head, split: 'train', sums }, /split 'train' is not valid or test/);
    assert.deepEqual(await client.reportEval({ ...head, sums }), { accepted: false, reason: 'other evaluation', stop: true }, 'the job is over');
  } finally {
    client.close();
  }
});
