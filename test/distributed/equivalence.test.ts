/**
 * Distributed bsp equals one process (DESIGN.md §6, docs/distributed.md): 20 LightGCN steps through real shard and
 * worker processes on loopback — 1 worker + 1 shard, 2 workers + 2 shards — give the per-step losses, parameters and
 * optimizer state of single-process training with the same global batch; the shards' counters show rows pulled
 * and pushed. A worker SIGKILLed while it holds a task: the task is leased again and the result is the same.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TrainConfig } from '../../src/config/index.js';
import { readCheckpoint, type StoreState } from '../../src/train/index.js';
import { tempDir } from '../helpers/files.js';
import { randomDataset } from '../helpers/tiny.js';
import { clusterFixture, jobConfig, startCluster, type Cluster } from './cluster.js';
import { assertCloseState, assertSameLosses, singleProcess } from './one-process.js';

// 1100 users × 2 training items = 2200 triples: batches of 220 are 10 steps an epoch, 2 epochs are 20 steps. Tables
// over 1024 rows are row-sharded (src/paramserver/placement.ts), so with 2 shards each holds half of every table.
const STEPS = 20;
const cfg: Partial<TrainConfig> = { model: 'lightgcn', batch: 220, epochs: 2, lr: 0.01, seed: 7, hyper: { dim: 16, reg: 0.01 } };
const { clusters, dataDir } = clusterFixture('dist-data', () => randomDataset(1100, 1050, 4, 3));

let reference: Promise<{ losses: number[]; state: StoreState }> | null = null;
const referenceRun = () => (reference ??= singleProcess(jobConfig({ dataDir: dataDir(), out: tempDir('dist-ref'), shards: 1, workers: 1, cfg })));

async function assertEqualsOneProcess(c: Cluster, out: string): Promise<string> {
  const ref = await referenceRun();
  assert.equal(ref.losses.length, STEPS);
  assertSameLosses(c.steps.map((s) => s.loss), ref.losses);
  assert.deepEqual(c.steps.map((s) => s.psStep), Array.from({ length: STEPS }, (_, k) => k + 1), 'each step committed once, in order');
  const { worst, rel } = assertCloseState(readCheckpoint(`${out}/last.ckpt`).store, ref.state);
  assert.ok(worst <= 1e-4, `largest element difference ${worst}`);
  const lossDiff = Math.max(...c.steps.map((s, k) => Math.abs(s.loss - ref.losses[k]) / Math.abs(ref.losses[k])));
  const stats = await c.store.stats();
  for (const s of stats) {
    assert.equal(s.commits, STEPS, `shard ${s.shard} committed every step`);
    assert.ok(s.rowsPulled > 0 && s.rowsPushed > 0, `shard ${s.shard} served rows: pulled ${s.rowsPulled}, pushed ${s.rowsPushed}`);
  }
  const rows = stats.map((s) => `shard ${s.shard}: ${s.rowsPulled} rows pulled, ${s.rowsPushed} pushed`).join('; ');
  return `largest relative step-loss difference ${lossDiff.toExponential(2)}; state: relative L2 ≤ ${rel.toExponential(2)}, largest element ${worst.toExponential(2)}; ${rows}`;
}

for (const [workers, shards] of [
  [1, 1],
  [2, 2],
] as const) {
  test(`${workers} worker(s) + ${shards} shard(s), bsp: 20 LightGCN steps equal one process (losses, parameters, optimizer state)`, async (t) => {
    const out = tempDir('dist-run');
    const c = await startCluster({ dataDir: dataDir(), out, shards, workers, cfg });
    clusters.push(c);
    const result = await c.run();
    assert.equal(result.epochsRun, 2);
    t.diagnostic(await assertEqualsOneProcess(c, out));
    // Every task of a step is counted: 4 per step, each from one worker.
    assert.ok(c.steps.every((s) => s.tasks.length === 4));
    // Workers prefetch after each prepare; a worker's next task of the same step must not wait for that prefetch
    // (the shard holds it until the step commits, for PREFETCH_HOLD_MS = 5 s): pulls here take milliseconds.
    const epochs = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { distributed: { taskMs: { pull: number } } });
    for (const e of epochs) assert.ok(e.distributed.taskMs.pull < 2500, `mean pull ${e.distributed.taskMs.pull} ms per task`);
  });
}

test('a worker SIGKILLed while it holds a task: the task is leased again (attempt 2) and the job ends as one process', async (t) => {
  const out = tempDir('dist-kill');
  let killed = '';
  const c = await startCluster({
    dataDir: dataDir(),
    out,
    shards: 2,
    workers: 2,
    cfg,
    workerTimeoutMs: 1500,
    leaseMs: 60_000,
    // In epoch 1, step 3, the first worker that leases a task dies holding it.
    onLease: (l, cl) => {
      if (killed || l.task.epoch !== 1 || l.task.step !== 3) return;
      killed = l.worker;
      cl.workers.get(l.worker)!.kill('SIGKILL');
    },
  });
  clusters.push(c);
  const result = await c.run();
  assert.ok(killed, 'a worker was killed');
  assert.equal(result.epochsRun, 2);
  assert.ok(c.requeues >= 1, 'its task was re-queued');
  const redone = c.steps.find((s) => s.epoch === 1 && s.step === 3)!;
  assert.ok(redone.tasks.some((t) => t.attempt >= 2), `step 3's tasks: ${JSON.stringify(redone.tasks)}`);
  assert.ok(c.steps.slice(4).every((s) => s.tasks.every((t) => t.worker !== killed)), 'the dead worker did nothing after');
  t.diagnostic(await assertEqualsOneProcess(c, out));
});
