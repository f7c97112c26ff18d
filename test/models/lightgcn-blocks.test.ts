/**
 * LightGCN on message-flow blocks (docs/distributed.md §5) equals LightGCN on the whole graph: on a sparse random
 * graph with isolated users and items, for L = 1, 2, 3 and a batch whose users and items repeat, the layer mean at
 * the seed nodes, the loss, its parts and the gradient of every row agree within 1e-5 (relative), from the rows of
 * the last frontier alone; the whole-graph gradient is exactly zero on every other row. And through the step code:
 * a task on blocks gives the full task's contribution and pulls fewer rows.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend, shutdownCompute } from '../../src/compute/index.js';
import { lightgcn, propagate, type Batch, type Params, type Prepared } from '../../src/models/index.js';
import { LocalParamStore, adam, pullRows, taskBlocks, taskLossAndGrads, taskRows, type RowGrad } from '../../src/train/index.js';
import { blockLayerMean, type RegisteredBlocks } from '../../src/models/modules/blocks.js';
import { communityDataset } from '../helpers/tiny.js';

before(async () => {
  await initBackend('wasm');
});
after(shutdownCompute);

// 60 users in 8 communities (2 training items each), 48 items; users 57–59 and items 45–47 have no edge
const data = communityDataset(60, 48, 8, 4, 3, { isolatedUsers: 3, isolatedItems: 3 });
const DIM = 8;

// users and items repeat; user 58 and items 46, 47 are isolated
const batch: Batch = {
  epoch: 1,
  step: 0,
  users: Int32Array.from([0, 9, 9, 58, 17, 0, 3]),
  pos: Int32Array.from([8, 1, 1, 46, 25, 16, 11]),
  neg: Int32Array.from([5, 47, 30, 2, 47, 8, 1]),
};

type Hyper = ReturnType<typeof lightgcn.hyper.parse>;
type Blocks = RegisteredBlocks;

function setup(layers: number) {
  const hyper: Hyper = lightgcn.hyper.parse({ dim: DIM, layers, reg: 0.05 });
  const prep = lightgcn.prepare(data, hyper, { seed: 1 });
  const store = new LocalParamStore(lightgcn.tables(data, hyper), adam(0.01), 4);
  const tables = { user: store.pullSync('user', null), item: store.pullSync('item', null) };
  return { hyper, prep, store, tables, close: () => (store.dispose(), prep.release()) };
}

function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    d += (a[i] - b[i]) ** 2;
    n += b[i] ** 2;
  }
  return Math.sqrt(d / Math.max(n, 1e-30));
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

/** Rows `ids` of a [rows, DIM] table. */
function rowsOf(values: Float32Array, ids: Int32Array): Float32Array {
  const out = new Float32Array(ids.length * DIM);
  ids.forEach((id, r) => out.set(values.subarray(id * DIM, id * DIM + DIM), r * DIM));
  return out;
}

/** Value, parts and gradients of `loss` in the (user, item) values, for params with these ids (null: every row). */
function valueAndGrads(user: Float32Array, item: Float32Array, ids: { user: Int32Array | null; item: Int32Array | null }, loss: (p: Params) => { total: tf.Scalar; parts: Record<string, tf.Scalar> }) {
  const u = tf.tensor2d(user, [user.length / DIM, DIM]);
  const i = tf.tensor2d(item, [item.length / DIM, DIM]);
  let parts: Record<string, number> = {};
  const { value, grads } = tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor) => {
    const out = loss({ user: { value: a as tf.Tensor2D, ids: ids.user }, item: { value: b as tf.Tensor2D, ids: ids.item } });
    parts = Object.fromEntries(Object.entries(out.parts).map(([k, v]) => [k, v.dataSync()[0]]));
    return out.total;
  })([u, i]);
  const result = { loss: value.dataSync()[0], parts, user: grads[0].dataSync() as Float32Array, item: grads[1].dataSync() as Float32Array };
  tf.dispose([u, i, value, ...grads]);
  return result;
}

for (const layers of [1, 2, 3]) {
  test(`L = ${layers}: on its blocks, the batch's layer mean at the seeds, loss, parts and row gradients equal the whole graph's (≤ 1e-5), from F_${layers}'s rows only`, (t) => {
    const s = setup(layers);
    const blocks = lightgcn.neighbourhood!.blocks(batch, s.prep, s.hyper) as Blocks;
    try {
      const { user, item } = lightgcn.neighbourhood!.rows(blocks);
      const rows = { user, item };
      assert.ok(rows.user.length < data.nUsers && rows.item.length < data.nItems, `F_${layers} holds ${rows.user.length} of ${data.nUsers} users and ${rows.item.length} of ${data.nItems} items: the test reads part of the graph`);
      for (const u of batch.users) assert.ok(rows.user.includes(u), `seed user ${u} is pulled`);
      for (const i of [...batch.pos, ...batch.neg]) assert.ok(rows.item.includes(i), `seed item ${i} is pulled`);

      // the layer mean at F_0: whole graph against blocks
      const ego = tf.concat([tf.tensor2d(s.tables.user, [data.nUsers, DIM]), tf.tensor2d(s.tables.item, [data.nItems, DIM])]) as tf.Tensor2D;
      const nodes = blocks.flow.nodes;
      const f0 = blocks.flow.sizes[0];
      const full = tf.gather(propagate(s.prep.adjacency, ego, layers), tf.tensor1d(nodes.subarray(0, f0), 'int32')).dataSync();
      const onBlocks = valueAndGrads(rowsOf(s.tables.user, rows.user), rowsOf(s.tables.item, rows.item), rows, (p) => lightgcn.neighbourhood!.loss(p, batch, blocks, s.prep, s.hyper));
      const whole = valueAndGrads(s.tables.user, s.tables.item, { user: null, item: null }, (p) => lightgcn.loss(p, batch, s.prep, s.hyper));
      const seedMean = tf.tidy(() => blockLayerMean(blocks, tf.gather(ego, tf.tensor1d(nodes, 'int32')) as tf.Tensor2D).dataSync());
      tf.dispose(ego);
      assert.ok(relL2(seedMean, full) <= 1e-5, `layer mean at the seeds: relative difference ${relL2(seedMean, full)}`);

      assert.ok(rel(onBlocks.loss, whole.loss) <= 1e-5, `loss ${onBlocks.loss} vs ${whole.loss}`);
      for (const k of ['bpr', 'reg']) assert.ok(rel(onBlocks.parts[k], whole.parts[k]) <= 1e-5, `${k}: ${onBlocks.parts[k]} vs ${whole.parts[k]}`);
      assert.ok(whole.parts.reg / whole.loss > 1e-3, 'the reg part is visible');
      for (const table of ['user', 'item'] as const) {
        const ids = rows[table];
        const want = rowsOf(whole[table], ids);
        assert.ok(relL2(onBlocks[table], want) <= 1e-5, `${table} gradient at F_${layers}: relative difference ${relL2(onBlocks[table], want)}`);
        const outside = whole[table].filter((_, k) => !ids.includes(Math.floor(k / DIM)));
        assert.ok(outside.every((g) => g === 0), `${table}: the whole-graph gradient is 0 outside F_${layers}`);
        assert.ok(want.some((g) => g !== 0), `${table}: some gradient inside`);
      }
      const gradDiff = Math.max(...(['user', 'item'] as const).map((tb) => relL2(onBlocks[tb], rowsOf(whole[tb], rows[tb]))));
      t.diagnostic(`F_${layers}: ${user.length}/${data.nUsers} users, ${item.length}/${data.nItems} items; relative differences: layer mean ${relL2(seedMean, full).toExponential(1)}, loss ${rel(onBlocks.loss, whole.loss).toExponential(1)}, gradients ${gradDiff.toExponential(1)}`);
    } finally {
      blocks.release();
      s.close();
    }
  });
}

/** Row gradients summed into dense [rows, DIM] arrays (rows absent from a push are zero). */
function densify(grads: readonly RowGrad[]): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = { user: new Float32Array(data.nUsers * DIM), item: new Float32Array(data.nItems * DIM) };
  for (const g of grads) {
    const t = out[g.table];
    if (!g.ids) t.set(g.grad);
    else g.ids.forEach((id, r) => t.set(g.grad.subarray(r * DIM, r * DIM + DIM), id * DIM));
  }
  return out;
}

test('a task on blocks (the batch terms included) gives the full task\'s loss, parts and gradients, and reads and pushes its neighbourhood\'s rows only', async () => {
  const s = setup(3);
  let blocks: Prepared | null = null;
  try {
    const hyper = s.hyper as Record<string, unknown>;
    blocks = taskBlocks(lightgcn, batch, s.prep, hyper, 'blocks')!;
    const full = { batch, weight: 0.5, whole: batch };
    const local = { ...full, blocks };
    const fullRows = taskRows(lightgcn, full, s.prep, hyper);
    const localRows = taskRows(lightgcn, local, s.prep, hyper);
    assert.deepEqual(fullRows, { user: null, item: null });
    assert.ok(localRows.user!.length < data.nUsers && localRows.item!.length < data.nItems);
    const a = taskLossAndGrads(lightgcn, full, await pullRows(s.store, fullRows), s.prep, hyper);
    const b = taskLossAndGrads(lightgcn, local, await pullRows(s.store, localRows), s.prep, hyper);
    assert.ok(rel(b.result.loss, a.result.loss) <= 1e-5, `loss ${b.result.loss} vs ${a.result.loss}`);
    for (const k of ['bpr', 'reg']) assert.ok(rel(b.result.parts[k], a.result.parts[k]) <= 1e-5, `${k}: ${b.result.parts[k]} vs ${a.result.parts[k]}`);
    const [ga, gb] = [densify(a.grads), densify(b.grads)];
    for (const t of ['user', 'item']) assert.ok(relL2(gb[t], ga[t]) <= 1e-5, `${t}: relative gradient difference ${relL2(gb[t], ga[t])}`);
    assert.deepEqual(b.grads.map((g) => [g.table, Array.from(g.ids!)]), [['user', Array.from(localRows.user!)], ['item', Array.from(localRows.item!)]], 'pushed rows = pulled rows');
  } finally {
    blocks?.release();
    s.close();
  }
});

test('bpr and camrec have no block forward: blocks is refused with one line naming the model; full is accepted', async () => {
  const { bpr, camrec } = await import('../../src/models/index.js');
  for (const m of [bpr, camrec]) {
    assert.throws(() => taskBlocks(m, batch, { release: () => undefined }, {}, 'blocks'), new RegExp(`^.*model ${m.name} has no block forward`));
    assert.equal(taskBlocks(m, batch, { release: () => undefined }, {}, 'full'), null);
  }
});
