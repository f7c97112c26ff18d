/**
 * Distributed bsp equals one process (DESIGN.md §6, docs/distributed.md): 20 LightGCN steps through real shard and
 * worker processes on loopback — 1 worker + 1 shard, 2 workers + 2 shards — give the per-step losses, parameters and
 * optimizer state of single-process training with the same global batch; the shards' counters show rows pulled
 * and pushed. A worker SIGKILLed while it holds a task: the task is leased again and the result is the same.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TrainConfig } from '../../src/config/index.js';
import { loadDataset } from '../../src/data/index.js';
import { models } from '../../src/models/index.js';
import { adam, LocalParamStore, readCheckpoint, TrainSampler, trainStep, type StoreState } from '../../src/train/index.js';
import { tempDir } from '../helpers/files.js';
import { randomDataset } from '../helpers/tiny.js';
import { maxRelDiff } from '../paramserver/helpers.js';
import { clusterFixture, jobConfig, startCluster, type Cluster } from './cluster.js';

// 1100 users × 2 training items = 2200 triples: batches of 220 are 10 steps an epoch, 2 epochs are 20 steps. Tables
// over 1024 rows are row-sharded (src/paramserver/placement.ts), so with 2 shards each holds half of every table.
const STEPS = 20;
const cfg: Partial<TrainConfig> = { model: 'lightgcn', batch: 220, epochs: 2, lr: 0.01, seed: 7, hyper: { dim: 16, reg: 0.01 } };
const { clusters, dataDir } = clusterFixture('dist-data', () => randomDataset(1100, 1050, 4, 3));

/** One process, the same global batches: each step's loss and the final store state. */
async function singleProcess(c: TrainConfig): Promise<{ losses: number[]; state: StoreState }> {
  const data = await loadDataset(c.data);
  const model = models.get(c.model);
  const hyper = model.hyper.parse(c.hyper) as Record<string, unknown>;
  const prep = model.prepare(data, hyper, { seed: c.seed });
  const store = new LocalParamStore(model.tables(data, hyper), adam(c.lr), c.seed);
  try {
    const sampler = new TrainSampler(data, c.seed, c.batch);
    const losses: number[] = [];
    for (let epoch = 1; epoch <= c.epochs; epoch++) {
      for (const batch of sampler.epoch(epoch)) losses.push((await trainStep(model, batch, store, prep, hyper)).loss);
    }
    return { losses, state: await store.exportState() };
  } finally {
    store.dispose();
    prep.release();
  }
}

let reference: Promise<{ losses: number[]; state: StoreState }> | null = null;
const referenceRun = () => (reference ??= singleProcess(jobConfig({ dataDir: dataDir(), out: tempDir('dist-ref'), shards: 1, workers: 1, cfg })));

function assertSameLosses(got: readonly number[], want: readonly number[]): void {
  assert.equal(got.length, want.length, 'steps');
  got.forEach((l, k) => assert.ok(Math.abs(l - want[k]) <= 1e-5 * Math.abs(want[k]), `step ${k}: loss ${l} vs one process ${want[k]}`));
}

/** ‖a − b‖ / ‖b‖ over a whole array. */
function relL2(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    d += (a[i] - b[i]) ** 2;
    n += b[i] ** 2;
  }
  return Math.sqrt(d / n);
}

/**
 * The same step, and every table's values and optimizer state within a relative (L2) difference of 1e-5. Element by
 * element the differences reach ~1e-5 in absolute terms: a row whose gradient nearly cancels has a gradient known
 * only to float32 summation order, and Adam divides by its magnitude (docs/distributed.md, measured figures).
 */
function assertCloseState(got: StoreState, want: StoreState): { worst: number; rel: number } {
  assert.equal(got.step, want.step, 'step');
  let worst = 0;
  let rel = 0;
  for (const [name, w] of Object.entries(want.tables)) {
    const g = got.tables[name];
    const arrays: [string, Float32Array, Float32Array][] = [[`${name} values`, g.values, w.values], ...w.state.map((s, k): [string, Float32Array, Float32Array] => [`${name} state ${k}`, g.state[k], s])];
    for (const [what, a, b] of arrays) {
      assert.ok(relL2(a, b) <= 1e-5, `${what}: relative difference ${relL2(a, b)}`);
      worst = Math.max(worst, maxRelDiff(a, b));
      rel = Math.max(rel, relL2(a, b));
    }
  }
  return { worst, rel };
}

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
