/**
 * Workers on message-flow blocks (`camrec worker --neighbourhood blocks`, docs/distributed.md §5) through real
 * shard and worker processes on loopback: 20 LightGCN steps with 1 worker + 1 shard and 2 workers + 2 shards, bsp,
 * give one process's per-step losses, parameters and Adam moments (one process propagates the whole graph), while
 * the shards' counters show that each task pulled and pushed exactly the rows of its triples' 3-hop neighbourhood
 * (task 0 also its batch's rows, for EmbLoss) — a fraction of the tables on a graph of many small communities.
 * `camrec train --distributed local:1:1 --neighbourhood blocks` passes the mode to its worker; a model without a block
 * forward, a mode other than full|blocks and the flag without --distributed are refused with exit code 2, by
 * `camrec train` before any cluster starts and by `camrec worker` when it learns the job's model.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { splitStep, taskTriples } from '../../src/coordinator/index.js';
import type { TrainConfig } from '../../src/config/index.js';
import type { Dataset } from '../../src/data/types.js';
import { readCheckpoint, TrainSampler, type StoreState } from '../../src/train/index.js';
import { camrec } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { communityDataset } from '../helpers/tiny.js';
import { clusterFixture, jobConfig, startCluster } from './cluster.js';
import { assertCloseState, assertSameLosses, singleProcess } from './one-process.js';

// 1100 users in 220 communities of 5 users and 5 items, one training item each: 1100 triples, batches of 110 are
// 10 steps an epoch, 2 epochs are 20 steps of 4 tasks. Tables over 1024 rows are row-sharded. The coordinator
// evaluates alone, through its own store: the shards' counters less its pulls are the tasks' pulls.
const STEPS = 20;
const TASKS = 4;
const LAYERS = 3;
const data = communityDataset(1100, 1100, 220, 3, 5);
const cfg: Partial<TrainConfig> = { model: 'lightgcn', batch: 110, epochs: 2, lr: 0.01, seed: 7, hyper: { dim: 16, reg: 0.01, layers: LAYERS } };
const { clusters, dataDir } = clusterFixture('blocks-data', () => data);

let reference: Promise<{ losses: number[]; state: StoreState }> | null = null;
const referenceRun = () => (reference ??= singleProcess(jobConfig({ dataDir: dataDir(), out: tempDir('blocks-ref'), shards: 1, workers: 1, cfg })));

/** Users and items within `layers` hops of some nodes, by breadth-first search on the training graph. */
function reach(d: Dataset, users: Iterable<number>, items: Iterable<number>, layers: number): { users: Set<number>; items: Set<number> } {
  const byItem = new Map<number, number[]>();
  const { indptr, indices } = d.trainByUser;
  for (let u = 0; u < d.nUsers; u++) for (let p = indptr[u]; p < indptr[u + 1]; p++) byItem.set(indices[p], [...(byItem.get(indices[p]) ?? []), u]);
  const seen = { users: new Set(users), items: new Set(items) };
  let front = { users: [...seen.users], items: [...seen.items] };
  for (let k = 0; k < layers; k++) {
    const next = { users: [] as number[], items: [] as number[] };
    for (const u of front.users) for (let p = indptr[u]; p < indptr[u + 1]; p++) next.items.push(indices[p]);
    for (const i of front.items) next.users.push(...(byItem.get(i) ?? []));
    next.items = next.items.filter((i) => !seen.items.has(i) && seen.items.add(i));
    next.users = next.users.filter((u) => !seen.users.has(u) && seen.users.add(u));
    front = next;
  }
  return seen;
}

/** Rows every task of the job reads: its triples' neighbourhood, and for task 0 its batch's own rows too. */
function expectedRows(c: TrainConfig): number {
  const sampler = new TrainSampler(data, c.seed, c.batch);
  let rows = 0;
  for (let epoch = 1; epoch <= c.epochs; epoch++) {
    sampler.epoch(epoch).forEach((batch, step) => {
      for (const task of splitStep(epoch, step, batch.users.length, TASKS)) {
        const t = taskTriples(batch, task);
        const r = reach(data, t.users, [...t.pos, ...t.neg], LAYERS);
        if (task.index === 0) {
          batch.users.forEach((u) => r.users.add(u));
          [...batch.pos, ...batch.neg].forEach((i) => r.items.add(i));
        }
        rows += r.users.size + r.items.size;
      }
    });
  }
  return rows;
}

for (const [workers, shards] of [
  [1, 1],
  [2, 2],
] as const) {
  test(`${workers} worker(s) + ${shards} shard(s), bsp, --neighbourhood blocks: 20 LightGCN steps equal one process; each task pulls its 3-hop neighbourhood's rows only`, async (t) => {
    const out = tempDir('blocks-run');
    const c = await startCluster({ dataDir: dataDir(), out, shards, workers, cfg, tasksPerStep: TASKS, evalOnCoordinator: true, workerFlags: ['--neighbourhood', 'blocks'] });
    clusters.push(c);
    const result = await c.run();
    assert.equal(result.epochsRun, 2);
    const ref = await referenceRun();
    assert.equal(ref.losses.length, STEPS);
    assertSameLosses(c.steps.map((s) => s.loss), ref.losses);
    assert.ok(c.steps.every((s) => s.tasks.length === TASKS));
    const { worst, rel } = assertCloseState(readCheckpoint(`${out}/last.ckpt`).store, ref.state);
    assert.ok(worst <= 1e-4, `largest element difference ${worst}`);

    const stats = await c.store.stats();
    const pulled = stats.reduce((n, s) => n + s.rowsPulled, 0) - c.store.traffic.rowsPulled;
    const pushed = stats.reduce((n, s) => n + s.rowsPushed, 0);
    const want = expectedRows(jobConfig({ dataDir: dataDir(), out, shards, workers, cfg }));
    const whole = STEPS * TASKS * (data.nUsers + data.nItems);
    assert.equal(pulled, want, 'the shards served exactly the rows of every task\'s neighbourhood');
    assert.equal(pushed, want, 'and took gradients for exactly those rows');
    assert.ok(pulled < 0.5 * whole, `rows pulled ${pulled}, whole tables for every task ${whole}`);
    const lossDiff = Math.max(...c.steps.map((s, k) => Math.abs(s.loss - ref.losses[k]) / Math.abs(ref.losses[k])));
    t.diagnostic(`largest relative step-loss difference ${lossDiff.toExponential(2)}; state: relative L2 ≤ ${rel.toExponential(2)}, largest element ${worst.toExponential(2)}; rows pulled ${pulled} (${(pulled / (STEPS * TASKS)).toFixed(0)} per task of ${data.nUsers + data.nItems}, ${((100 * pulled) / whole).toFixed(1)}% of whole tables), pushed ${pushed}`);
  });
}

const common = ['--epochs', '1', '--batch', '220', '--dim', '8', '--seed', '3', '--backend', 'wasm', '--threads', '1', '--no-native', '--log-level', 'warn'];

test('camrec train --distributed local:1:1 --neighbourhood blocks: its worker pulls the tasks\' neighbourhoods, not whole tables', async () => {
  const out = join(tempDir('blocks-local'), 'run');
  const r = await camrec(['train', '--model', 'lightgcn', '--data', dataDir(), ...common, '--distributed', 'local:1:1', '--tasks-per-step', '2', '--neighbourhood', 'blocks', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const epoch = JSON.parse(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n')[0]) as { distributed: { tasks: number; rowsPulled: number } };
  const whole = data.nUsers + data.nItems;
  assert.equal(epoch.distributed.tasks, 10, '5 steps of 2 tasks');
  assert.ok(epoch.distributed.rowsPulled < 0.5 * epoch.distributed.tasks * whole, `rows pulled ${epoch.distributed.rowsPulled} over ${epoch.distributed.tasks} tasks, tables of ${whole} rows`);
});

test('--neighbourhood blocks is refused for a model without a block forward, a mode other than full|blocks, and without --distributed (exit 2, one line)', async () => {
  const train = (model: string, ...flags: string[]) => camrec(['train', '--model', model, '--data', dataDir(), ...common, ...flags]);
  for (const model of ['bpr', 'camrec']) {
    const r = await train(model, '--distributed', 'local:1:1', '--neighbourhood', 'blocks');
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim(), `camrec: --neighbourhood blocks: model ${model} has no block forward (docs/distributed.md §5); use --neighbourhood full`);
  }
  const mode = await train('lightgcn', '--distributed', 'local:1:1', '--neighbourhood', 'sparse');
  assert.equal(mode.code, 2);
  assert.match(mode.stderr, /--neighbourhood <mode>' argument 'sparse' is invalid/);
  const alone = await train('lightgcn', '--neighbourhood', 'blocks');
  assert.equal(alone.code, 2);
  assert.match(alone.stderr, /flag --neighbourhood needs --distributed local:W:S/);

  // a worker learns the model from its coordinator
  const c = await startCluster({ dataDir: dataDir(), out: tempDir('blocks-bpr'), shards: 1, workers: 0, cfg: { ...cfg, model: 'bpr', hyper: { dim: 8 } } });
  clusters.push(c);
  const w = await camrec(['worker', '--coordinator', `127.0.0.1:${c.port}`, '--neighbourhood', 'blocks', '--threads', '1', '--no-native']);
  assert.equal(w.code, 2);
  assert.match(w.stderr, /^camrec: --neighbourhood blocks: model bpr has no block forward/m);
});
