/**
 * A bsp step's tasks add up to one process's step (docs/distributed.md): the contributions of T tasks
 * (taskLossAndGrads: weight × the mean terms over the task's triples, plus the batch terms over the whole batch in
 * task 0) sum to the whole batch's loss, parts and row gradients — for EmbLoss too, which a naive per-task loss
 * gets wrong by up to √T. And every model's parts sum to its total (the split needs it).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { initBackend, readFloatsInto, shutdownCompute, tf } from '../../src/compute/index.js';
import { splitStep, taskTriples } from '../../src/coordinator/index.js';
import type { Dataset } from '../../src/data/types.js';
import { camrec, models, type Batch, type Model, type Prepared } from '../../src/models/index.js';
import type { Modality } from '../../src/data/types.js';
import { randomFloats, rng } from '../compute/helpers.js';
import { GradientBuffers, LocalParamStore, TrainSampler, adam, lossAndGrads, pullRows, taskLossAndGrads, taskRows, type RowGrad } from '../../src/train/index.js';
import { randomDataset } from '../helpers/tiny.js';

before(async () => {
  await initBackend('wasm');
});
after(shutdownCompute);

type Prepare = (d: Dataset, h: unknown, c: { seed: number }) => Prepared;

function setup(name: string, opts: { data?: Dataset; hyper?: Record<string, unknown>; model?: Model; epoch?: number } = {}) {
  const data = opts.data ?? randomDataset(50, 70, 8, 4);
  const model = opts.model ?? models.get(name);
  // reg raised so that EmbLoss is a visible share of the loss and gradient
  const hyper = model.hyper.parse({ dim: 8, reg: 0.05, ...opts.hyper }) as Record<string, unknown>;
  const prep = (model.prepare.bind(model) as Prepare)(data, hyper, { seed: 2 });
  const store = new LocalParamStore(model.tables(data, hyper), adam(0.01), 2);
  const batch = new TrainSampler(data, 2, 96).epoch(opts.epoch ?? 1)[0];
  return { model, hyper, prep, store, batch, close: () => (store.dispose(), prep.release()) };
}

/** Row gradients summed into dense tables (rows absent from a push count as zero), and the set of rows pushed. */
function densify(grads: readonly RowGrad[], rows: Record<string, number>, dims: number | Record<string, number>) {
  const out: Record<string, Float64Array> = {};
  const touched: Record<string, Set<number>> = {};
  for (const g of grads) {
    const dim = typeof dims === 'number' ? dims : dims[g.table];
    const t = (out[g.table] ??= new Float64Array(rows[g.table] * dim));
    const seen = (touched[g.table] ??= new Set());
    const ids = g.ids ?? Int32Array.from({ length: rows[g.table] }, (_, i) => i);
    ids.forEach((id, r) => {
      seen.add(id);
      for (let j = 0; j < dim; j++) t[id * dim + j] += g.grad[r * dim + j];
    });
  }
  return { out, touched };
}

function relL2(a: Float64Array, b: Float64Array): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i] - b[i]) ** 2;
    n += b[i] ** 2;
  }
  return Math.sqrt(d / Math.max(n, 1e-30));
}

async function tasksOf(s: ReturnType<typeof setup>, T: number) {
  const grads: RowGrad[] = [];
  const parts: Record<string, number> = {};
  let loss = 0;
  for (const task of splitStep(1, 0, s.batch.users.length, T)) {
    const share = { batch: taskTriples(s.batch, task) as Batch, weight: task.weight, whole: task.index === 0 ? s.batch : null };
    const pulled = await pullRows(s.store, taskRows(s.model, share, s.prep, s.hyper));
    const r = taskLossAndGrads(s.model, share, pulled, s.prep, s.hyper);
    grads.push(...r.grads);
    loss += r.result.loss;
    for (const [k, v] of Object.entries(r.result.parts)) parts[k] = (parts[k] ?? 0) + v;
  }
  return { grads, parts, loss };
}

for (const name of ['bpr', 'lightgcn']) {
  test(`${name}: T task contributions sum to the whole batch's loss, parts and row gradients, EmbLoss included (T = 1, 2, 4, 7)`, async () => {
    const s = setup(name);
    try {
      const pulled = await pullRows(s.store, s.model.rows(s.batch, s.prep, s.hyper));
      const one = lossAndGrads(s.model, s.batch, pulled, s.prep, s.hyper);
      const rows = Object.fromEntries(s.store.specs.map((t) => [t.name, t.rows]));
      const ref = densify(one.grads, rows, 8);
      assert.ok(one.result.parts.reg / one.result.loss > 1e-3, `the reg part is visible (${one.result.parts.reg})`);
      for (const T of [1, 2, 4, 7]) {
        const got = await tasksOf(s, T);
        const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
        assert.ok(rel(got.loss, one.result.loss) <= 1e-6, `T=${T}: loss ${got.loss} vs ${one.result.loss}`);
        for (const k of Object.keys(one.result.parts)) assert.ok(rel(got.parts[k], one.result.parts[k]) <= 1e-5, `T=${T}: part ${k} ${got.parts[k]} vs ${one.result.parts[k]}`);
        const d = densify(got.grads, rows, 8);
        for (const table of Object.keys(ref.out)) {
          assert.ok(relL2(d.out[table], ref.out[table]) <= 1e-6, `T=${T} ${table}: relative L2 gradient difference ${relL2(d.out[table], ref.out[table])}`);
          assert.deepEqual([...d.touched[table]].sort((a, b) => a - b), [...ref.touched[table]].sort((a, b) => a - b), `T=${T} ${table}: the same rows are pushed`);
        }
      }
    } finally {
      s.close();
    }
  });
}

test('bpr: a naive split (each task its own model loss, weighted) is off in the reg part by about √T, so the batch terms are needed', async () => {
  const s = setup('bpr');
  try {
    const pulled = await pullRows(s.store, s.model.rows(s.batch, s.prep, s.hyper));
    const one = lossAndGrads(s.model, s.batch, pulled, s.prep, s.hyper);
    let reg = 0;
    for (const task of splitStep(1, 0, s.batch.users.length, 4)) {
      const b = taskTriples(s.batch, task) as Batch;
      const p = await pullRows(s.store, s.model.rows(b, s.prep, s.hyper));
      reg += task.weight * lossAndGrads(s.model, b, p, s.prep, s.hyper).result.parts.reg;
    }
    const ratio = reg / one.result.parts.reg;
    assert.ok(ratio > 1.8 && ratio < 2.2, `naive reg / exact reg = ${ratio}, about √4`);
  } finally {
    s.close();
  }
});

test('the parts of bpr and lightgcn losses sum to the total, and only their BPR term is declared a mean over triples', async () => {
  for (const name of ['bpr', 'lightgcn']) {
    const s = setup(name);
    try {
      const pulled = await pullRows(s.store, s.model.rows(s.batch, s.prep, s.hyper));
      const { result } = lossAndGrads(s.model, s.batch, pulled, s.prep, s.hyper);
      const sum = Object.values(result.parts).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - result.loss) <= 1e-6 * Math.abs(result.loss), `${name}: Σ parts ${sum} vs total ${result.loss}`);
      assert.deepEqual(s.model.meanTerms, ['bpr']);
    } finally {
      s.close();
    }
  }
});

/** CaMRec's data: two random modalities. */
function multimodal(): Dataset {
  const base = randomDataset(40, 30, 6, 1);
  const r = rng(101);
  const modality = (name: string, dim: number): Modality => ({ name, dim, features: randomFloats(r, base.nItems * dim), standIn: false, provenance: 'random test features' });
  return { ...base, modalities: [modality('image', 12), modality('text', 8)] };
}

const camrecSmall = { denoiserHidden: 8, envDim: 6, codebookSize: 5, maskHidden: 8, knnK: 4, sslBlock: 16, diffusionSteps: 6, inferStep: 3 };

for (const [label, meanTerms] of [
  ['with no part declared a mean (task 0 computes the whole loss)', undefined],
  ['as registered: bpr and bprMasked declared means (everything else a batch term)', ['bpr', 'bprMasked']],
] as const) {
  test(`camrec ${label}: 4 task contributions sum to one process's loss, parts and gradients`, async () => {
    if (meanTerms) assert.deepEqual(camrec.meanTerms, meanTerms);
    const model = { ...camrec, meanTerms } as Model;
    // epoch 30: past the InfoNCE warm-up, so that every part is present
    const s = setup('camrec', { data: multimodal(), hyper: camrecSmall, model, epoch: 30 });
    try {
      const pulled = await pullRows(s.store, s.model.rows(s.batch, s.prep, s.hyper));
      const one = lossAndGrads(s.model, s.batch, pulled, s.prep, s.hyper);
      for (const k of ['bpr', 'bprMasked', 'reg', 'diffusion', 'vq', 'ssl']) assert.ok(one.result.parts[k] > 0, `part ${k} present`);
      const got = await tasksOf(s, 4);
      assert.ok(Math.abs(got.loss - one.result.loss) <= 1e-5 * one.result.loss, `loss ${got.loss} vs ${one.result.loss}`);
      const rows = Object.fromEntries(s.store.specs.map((t) => [t.name, t.rows]));
      const dims = Object.fromEntries(s.store.specs.map((t) => [t.name, t.dim]));
      const ref = densify(one.grads, rows, dims);
      const d = densify(got.grads, rows, dims);
      for (const table of Object.keys(ref.out)) {
        assert.ok(relL2(d.out[table], ref.out[table]) <= 1e-5, `${table}: relative L2 gradient difference ${relL2(d.out[table], ref.out[table])}`);
      }
    } finally {
      s.close();
    }
  });
}

test('with GradientBuffers a task\'s gradients are the same values in arrays kept from task to task (the worker\'s path)', async () => {
  const s = setup('lightgcn');
  try {
    const buffers = new GradientBuffers();
    const tasks = [...splitStep(1, 0, s.batch.users.length, 2)];
    const kept: Float32Array[][] = [];
    for (const task of tasks) {
      const share = { batch: taskTriples(s.batch, task) as Batch, weight: task.weight, whole: task.index === 0 ? s.batch : null };
      const pulled = await pullRows(s.store, taskRows(s.model, share, s.prep, s.hyper));
      const fresh = taskLossAndGrads(s.model, share, pulled, s.prep, s.hyper);
      const lent = taskLossAndGrads(s.model, share, pulled, s.prep, s.hyper, buffers);
      assert.equal(lent.result.loss, fresh.result.loss);
      assert.equal(lent.grads.length, fresh.grads.length);
      lent.grads.forEach((g, k) => {
        assert.equal(g.table, fresh.grads[k].table);
        assert.deepEqual(g.grad, fresh.grads[k].grad, `task ${task.index} ${g.table}: the same gradient bits`);
      });
      kept.push(lent.grads.map((g) => g.grad));
    }
    // The second task's gradients went into the first task's arrays.
    kept[1].forEach((a, k) => assert.equal(a, kept[0][k], 'the same array, reused'));
  } finally {
    s.close();
  }
});

test('readFloatsInto copies a float32 tensor on wasm and on cpu, and refuses another dtype or length', async () => {
  for (const backend of ['wasm', 'cpu']) {
    await tf.setBackend(backend);
    const values = Float32Array.from({ length: 12 }, (_, i) => i * 0.5 - 2);
    const t = tf.tensor2d(values, [3, 4]);
    const out = new Float32Array(12).fill(Number.NaN);
    assert.equal(readFloatsInto(t, out), out);
    assert.deepEqual(out, values, backend);
    assert.throws(() => readFloatsInto(t, new Float32Array(11)), /out has 11 values, the tensor 12/);
    const ints = tf.tensor1d([1, 2], 'int32');
    assert.throws(() => readFloatsInto(ints, new Float32Array(2)), /dtype int32/);
    tf.dispose([t, ints]);
  }
  await tf.setBackend('wasm');
});
