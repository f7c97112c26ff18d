import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { initBackend, shutdownCompute, tf } from '../../src/compute/index.js';
import type { Dataset, Modality } from '../../src/data/types.js';
import { normalizedBipartiteAdjacency } from '../../src/graph/index.js';
import { camrec, type CamrecHyper, explainCamrec, itemSideInternals, models } from '../../src/models/index.js';
import { entryEdges, messageWeights, warmupFactor } from '../../src/models/camrec.js';
import { LocalParamStore, TrainSampler, adam, lossAndGrads, pullRows, trainStep } from '../../src/train/index.js';
import { randomDataset } from '../helpers/tiny.js';
import { randomFloats, rng } from '../compute/helpers.js';

before(async () => {
  await initBackend('wasm');
});
after(shutdownCompute);

/** A tiny dataset with two random modalities (raw features, no kNN files: the graph is built from them). */
function tinyMultimodal(seed = 1): Dataset {
  const base = randomDataset(40, 30, 6, seed);
  const r = rng(seed + 100);
  const modality = (name: string, dim: number): Modality => ({
    name,
    dim,
    features: randomFloats(r, base.nItems * dim),
    standIn: false,
    provenance: 'random test features',
  });
  return { ...base, modalities: [modality('image', 12), modality('text', 8)] };
}

const small: Partial<CamrecHyper> = { dim: 8, denoiserHidden: 8, envDim: 6, codebookSize: 5, maskHidden: 8, knnK: 4, sslBlock: 16, diffusionSteps: 6, inferStep: 3, sslWarmup: 0 };
const parse = (extra: Record<string, unknown> = {}) => camrec.hyper.parse({ ...small, ...extra });

function setup(extra: Record<string, unknown> = {}, seed = 3) {
  const data = tinyMultimodal();
  const hyper = parse(extra);
  const prep = camrec.prepare(data, hyper, { seed });
  const store = new LocalParamStore(camrec.tables(data, hyper), adam(1e-2), seed);
  const batch = new TrainSampler(data, seed, 64).epoch(1)[0];
  return { data, hyper, prep, store, batch, close: () => (store.dispose(), prep.release()) };
}

/** Each named table's largest-magnitude gradient entry against a central difference of `loss`. */
function checkLargestGradients(
  pulled: Awaited<ReturnType<typeof pullRows>>,
  grads: ReturnType<typeof lossAndGrads>['grads'],
  names: readonly string[],
  loss: () => number,
): void {
  for (const name of names) {
    const p = pulled.find((x) => x.spec.name === name)!;
    const g = grads.find((x) => x.table === name)!;
    const c = Array.from(g.grad.keys()).sort((a, b) => Math.abs(g.grad[b]) - Math.abs(g.grad[a]))[0];
    const h = 1e-2 * Math.max(1e-2, Math.abs(p.values[c]));
    const orig = p.values[c];
    p.values[c] = orig + h;
    const plus = loss();
    p.values[c] = orig - h;
    const minus = loss();
    p.values[c] = orig;
    const fd = (plus - minus) / (2 * h);
    assert.ok(g.grad[c] !== 0, `${name}: a gradient`);
    assert.ok(Math.abs(fd - g.grad[c]) <= 2e-3 + 0.05 * Math.abs(g.grad[c]), `${name}[${c}]: analytic ${g.grad[c]}, finite difference ${fd}`);
  }
}

test('camrec is registered and its hyper-parameters reject an inference step beyond the schedule', () => {
  assert.equal(models.get('camrec'), camrec);
  assert.throws(() => camrec.hyper.parse({ diffusionSteps: 5, inferStep: 5 }), /inferStep/);
});

test('every stored entry of Â maps to its own user–item edge', () => {
  const data = tinyMultimodal();
  const adj = normalizedBipartiteAdjacency(data.trainByUser);
  const edges = entryEdges(data.trainByUser, adj);
  const seen = new Int32Array(data.trainByUser.indices.length);
  for (let r = 0; r < adj.nRows; r++) {
    for (let p = adj.indptr[r]; p < adj.indptr[r + 1]; p++) {
      const e = edges[p];
      const u = r < data.nUsers ? r : adj.indices[p];
      const i = (r < data.nUsers ? adj.indices[p] : r) - data.nUsers;
      assert.ok(e >= data.trainByUser.indptr[u] && e < data.trainByUser.indptr[u + 1], `entry ${p}: edge ${e} is not user ${u}'s`);
      assert.equal(data.trainByUser.indices[e], i);
      seen[e]++;
    }
  }
  assert.ok(seen.every((c) => c === 2), 'each edge appears once in each direction');
});

test('the loss is finite and decreases on a tiny dataset, with every part present', async () => {
  const s = setup();
  try {
    const losses: number[] = [];
    let parts: Record<string, number> = {};
    for (let k = 0; k < 40; k++) {
      const r = await trainStep(camrec, s.batch, s.store, s.prep, s.hyper);
      losses.push(r.loss);
      parts = r.parts;
    }
    assert.ok(losses.every(Number.isFinite), 'finite');
    assert.deepEqual(Object.keys(parts).sort(), ['bpr', 'bprMasked', 'diffusion', 'reg', 'ssl', 'vq']);
    assert.ok(losses[39] < 0.8 * losses[0], `loss went from ${losses[0]} to ${losses[39]}`);
  } finally {
    s.close();
  }
});

test('ablation switches remove exactly their modules: tables and loss parts', async () => {
  const cases: [Record<string, unknown>, string[], (n: string[]) => boolean][] = [
    [{ backdoor: false }, ['bpr', 'bprMasked', 'reg', 'ssl'], (n) => !n.includes('codebook') && !n.some((x) => x.includes('denoise'))],
    [{ frontdoor: false }, ['bpr', 'diffusion', 'reg', 'vq'], (n) => !n.some((x) => x.startsWith('mask'))],
    [{ diffusion: false }, ['bpr', 'bprMasked', 'reg', 'ssl', 'vq'], (n) => n.includes('codebook') && !n.some((x) => x.includes('denoise'))],
    [{ backdoor: false, frontdoor: false }, ['bpr', 'reg'], (n) => n.length === 8 && n.includes('image.gate')],
    [{ backdoor: false, frontdoor: false, modalityGate: false }, ['bpr', 'reg'], (n) => n.length === 6],
  ];
  for (const [switches, parts, tablesOk] of cases) {
    const s = setup(switches);
    try {
      const names = s.store.specs.map((t) => t.name);
      assert.ok(tablesOk(names), `${JSON.stringify(switches)}: tables ${names}`);
      const r = await trainStep(camrec, s.batch, s.store, s.prep, s.hyper);
      assert.deepEqual(Object.keys(r.parts).sort(), parts, JSON.stringify(switches));
    } finally {
      s.close();
    }
  }
});

test('itemIds=false: items are their modality channels alone (the authors\' form): no item table, finite decreasing loss, gradients by central differences', async () => {
  assert.throws(() => parse({ itemIds: false }), /itemGraph needs itemIds/);
  assert.throws(() => parse({ itemIds: false, itemGraph: false, modalityWeight: 0 }), /modalityWeight must be positive with itemIds=false/);
  const s = setup({ itemIds: false, itemGraph: false, modalityGate: false, modalityWeight: 1 });
  try {
    assert.ok(!s.store.specs.some((t) => t.name === 'item'));
    const pulled = await pullRows(s.store, camrec.rows(s.batch, s.prep, s.hyper));
    const { grads } = lossAndGrads(camrec, s.batch, pulled, s.prep, { ...s.hyper, assignment: 'soft', diffWeight: 0, vqWeight: 0 });
    checkLargestGradients(pulled, grads, ['user', 'image.proj', 'text.proj', 'mask0.item'], () =>
      lossAndGrads(camrec, s.batch, pulled, s.prep, { ...s.hyper, assignment: 'soft', diffWeight: 0, vqWeight: 0 }).result.loss,
    );
    const losses: number[] = [];
    for (let k = 0; k < 40; k++) losses.push((await trainStep(camrec, s.batch, s.store, s.prep, s.hyper)).loss);
    assert.ok(losses.every(Number.isFinite), 'finite');
    assert.ok(losses[39] < 0.8 * losses[0], `loss went from ${losses[0]} to ${losses[39]}`);
  } finally {
    s.close();
  }
});

test('envProjection=false: the codebook quantises H_c itself (the paper\'s form): no env.in table, the VQ gradient reaches the denoiser', async () => {
  assert.throws(() => parse({ envProjection: false }), /envDim must equal dim with envProjection=false/);
  const s = setup({ envProjection: false, envDim: small.dim, modalityGate: false });
  try {
    const names = s.store.specs.map((t) => t.name);
    assert.ok(!names.some((n) => n.endsWith('.env.in')) && names.includes('image.env.out'), `tables ${names}`);
    const pulled = await pullRows(s.store, camrec.rows(s.batch, s.prep, s.hyper));
    // only the VQ term: with P gone, its commitment gradient must reach the denoiser that makes H_c
    const vqOnly = { ...s.hyper, diffWeight: 0, sslWeight: 0, envWeight: 0, modalityWeight: 1e-9 };
    const { grads, result } = lossAndGrads(camrec, s.batch, pulled, s.prep, vqOnly);
    assert.ok(result.parts.vq > 0);
    const out = grads.find((g) => g.table === 'image.denoise.out')!;
    assert.ok(out.grad.some((v) => Math.abs(v) > 1e-6), 'the commitment term moves the denoiser');
    const losses: number[] = [];
    for (let k = 0; k < 40; k++) losses.push((await trainStep(camrec, s.batch, s.store, s.prep, s.hyper)).loss);
    assert.ok(losses.every(Number.isFinite) && losses[39] < 0.8 * losses[0], `loss went from ${losses[0]} to ${losses[39]}`);
  } finally {
    s.close();
  }
});

// L_dm and L_vq stop gradients by definition (sg on the target and in the VQ terms), so a finite difference
// of them is not their gradient: they are weighted 0 here and checked against their closed forms in
// camrec-modules.test.ts. Every module still shapes the BPR and InfoNCE terms through the forward pass.
test('gradients match central differences for every kind of table (soft assignment, noise fixed by the step)', async () => {
  // the zero-initialised modality gates would zero every gradient upstream of them: open them for this check
  const s = setup({ assignment: 'soft', diffWeight: 0, vqWeight: 0, modalityGate: false });
  try {
    const pulled = await pullRows(s.store, camrec.rows(s.batch, s.prep, s.hyper));
    const lossAt = () => lossAndGrads(camrec, s.batch, pulled, s.prep, s.hyper);
    const { grads } = lossAt();
    const r = rng(17);
    const checked: string[] = [];
    for (const name of ['user', 'item', 'image.proj', 'text.denoise.noisy', 'image.denoise.step', 'text.env.in', 'image.env.out', 'codebook', 'mask0.user', 'mask1.out']) {
      const k = pulled.findIndex((p) => p.spec.name === name);
      const g = grads.find((x) => x.table === name);
      assert.ok(k >= 0 && g, `table ${name}`);
      const values = pulled[k].values;
      // the coordinates with the largest gradients, plus random ones
      const order = Array.from(g.grad.keys()).sort((a, b) => Math.abs(g.grad[b]) - Math.abs(g.grad[a]));
      const coords = [order[0], order[1], r.nextInt(values.length)];
      for (const c of coords) {
        const h = 1e-2 * Math.max(1e-2, Math.abs(values[c]));
        const orig = values[c];
        values[c] = orig + h;
        const plus = lossAt().result.loss;
        values[c] = orig - h;
        const minus = lossAt().result.loss;
        values[c] = orig;
        const fd = (plus - minus) / (2 * h);
        const tol = 2e-3 + 0.05 * Math.abs(g.grad[c]);
        assert.ok(Math.abs(fd - g.grad[c]) <= tol, `${name}[${c}]: analytic ${g.grad[c]}, finite difference ${fd}`);
      }
      checked.push(name);
    }
    assert.equal(checked.length, 10);
  } finally {
    s.close();
  }
});

test('maskAgreement adds a_l·⟨e_u, e_i⟩ to the edge logits: same loss while a_l = 0, gradients by central differences', async () => {
  const base = setup({ modalityGate: false, assignment: 'soft', diffWeight: 0, vqWeight: 0 });
  const s = setup({ modalityGate: false, assignment: 'soft', diffWeight: 0, vqWeight: 0, maskAgreement: true });
  try {
    const names = s.store.specs.map((t) => t.name);
    assert.deepEqual(names.filter((n) => n.endsWith('.agree')), ['mask0.agree', 'mask1.agree', 'mask2.agree'].slice(0, s.hyper.layers));
    const pulledBase = await pullRows(base.store, camrec.rows(base.batch, base.prep, base.hyper));
    const pulled = await pullRows(s.store, camrec.rows(s.batch, s.prep, s.hyper));
    const lossAt = () => lossAndGrads(camrec, s.batch, pulled, s.prep, s.hyper);
    // a_l starts at 0: the paper's mask, to the bit
    assert.equal(lossAt().result.loss, lossAndGrads(camrec, base.batch, pulledBase, base.prep, base.hyper).result.loss);
    const agree = pulled.find((p) => p.spec.name === 'mask0.agree')!;
    agree.values[0] = 0.7;
    const moved = lossAt();
    assert.notEqual(moved.result.loss, lossAndGrads(camrec, base.batch, pulledBase, base.prep, base.hyper).result.loss);
    checkLargestGradients(pulled, moved.grads, ['mask0.agree', 'mask1.agree', 'user', 'item'], () => lossAt().result.loss);
  } finally {
    s.close();
    base.close();
  }
});

test("maskObjective 'ib' flips the sign of the InfoNCE term and of its gradient, and nothing else", async () => {
  const s = setup({ modalityGate: false });
  try {
    const pulled = await pullRows(s.store, camrec.rows(s.batch, s.prep, s.hyper));
    const run = (extra: Record<string, unknown>) => lossAndGrads(camrec, s.batch, pulled, s.prep, { ...s.hyper, ...extra });
    const [max, ib, none] = [run({}), run({ maskObjective: 'ib' }), run({ sslWeight: 0 })];
    assert.ok(max.result.parts.ssl > 0);
    assert.equal(ib.result.parts.ssl, -max.result.parts.ssl);
    for (const [k, v] of Object.entries(max.result.parts)) if (k !== 'ssl') assert.equal(ib.result.parts[k], v, k);
    // The gradients are g0 ± g_ssl, with g0 the gradient without InfoNCE: their mean is g0.
    let moved = 0;
    for (const g of max.grads) {
      const gi = ib.grads.find((x) => x.table === g.table)!.grad;
      const g0 = none.grads.find((x) => x.table === g.table)!.grad;
      g.grad.forEach((v, i) => {
        assert.ok(Math.abs((v + gi[i]) / 2 - g0[i]) <= 1e-6 + 1e-4 * Math.abs(g0[i]), `${g.table}[${i}]: ${v}, ${gi[i]} around ${g0[i]}`);
        if (g.table.startsWith('mask') && Math.abs(v - gi[i]) > 1e-7) moved++;
      });
    }
    assert.ok(moved > 0, 'InfoNCE reaches the mask tables, in opposite directions under the two objectives');
    assert.throws(() => camrec.hyper.parse({ maskObjective: 'cgi' }), /maskObjective/);
  } finally {
    s.close();
  }
});

test("maskSparsityWeight 'message' prices each gate by its edge's 1/√(d_u d_i), mean 1, and changes only the sparsity term", async () => {
  const data = tinyMultimodal();
  const m = data.trainByUser;
  const adj = normalizedBipartiteAdjacency(m);
  const w = messageWeights(adj, entryEdges(m, adj), data.nUsers, m.indices.length);
  const itemDegree = new Int32Array(data.nItems);
  for (const i of m.indices) itemDegree[i]++;
  const raw = Array.from(w.keys(), (e) => {
    let u = 0;
    while (m.indptr[u + 1] <= e) u++;
    return 1 / Math.sqrt((m.indptr[u + 1] - m.indptr[u]) * itemDegree[m.indices[e]]);
  });
  const scale = raw.reduce((a, b) => a + b, 0) / raw.length;
  raw.forEach((r, e) => assert.ok(Math.abs(w[e] - r / scale) <= 1e-6 * (r / scale), `edge ${e}: ${w[e]} against ${r / scale}`));
  assert.ok(Math.abs(w.reduce((a, b) => a + b, 0) / w.length - 1) < 1e-6);
  assert.ok(Math.max(...w) > 1.2 * Math.min(...w), 'the tiny graph has unequal degrees');
  const s = setup({ modalityGate: false, maskSparsity: 0.1 });
  const t = setup({ modalityGate: false, maskSparsity: 0.1, maskSparsityWeight: 'message' });
  try {
    const a = lossAndGrads(camrec, s.batch, await pullRows(s.store, camrec.rows(s.batch, s.prep, s.hyper)), s.prep, s.hyper).result.parts;
    const b = lossAndGrads(camrec, t.batch, await pullRows(t.store, camrec.rows(t.batch, t.prep, t.hyper)), t.prep, t.hyper).result.parts;
    for (const k of Object.keys(a)) if (k !== 'sparsity') assert.equal(b[k], a[k], k);
    assert.ok(a.sparsity > 0 && b.sparsity > 0 && b.sparsity !== a.sparsity);
  } finally {
    s.close();
    t.close();
  }
});

test("maskHoldout leaves the batch's positive edges out of X*: only the masked terms move, gradients by central differences", async () => {
  const s = setup({ modalityGate: false, assignment: 'soft', diffWeight: 0, vqWeight: 0 });
  try {
    const pulled = await pullRows(s.store, camrec.rows(s.batch, s.prep, s.hyper));
    const run = (extra: Record<string, unknown>) => lossAndGrads(camrec, s.batch, pulled, s.prep, { ...s.hyper, ...extra });
    const [kept, held] = [run({}), run({ maskHoldout: true })];
    for (const k of ['bpr', 'reg']) assert.equal(held.result.parts[k], kept.result.parts[k], k);
    assert.notEqual(held.result.parts.bprMasked, kept.result.parts.bprMasked);
    // Every edge held out: X* keeps only the ego layer, whatever the mask says, so the mask gets no gradient
    // from the masked BPR; with InfoNCE off, none at all.
    const all = { ...s.batch, users: s.prep.edges.users, pos: s.prep.edges.items, neg: s.prep.edges.items };
    const none = lossAndGrads(camrec, all, await pullRows(s.store, camrec.rows(all, s.prep, s.hyper)), s.prep, { ...s.hyper, maskHoldout: true, sslWeight: 0 });
    for (const g of none.grads) if (g.table.startsWith('mask')) assert.ok(g.grad.every((v) => v === 0), `${g.table}: no gradient`);
    const lossAt = () => run({ maskHoldout: true }).result.loss;
    checkLargestGradients(pulled, held.grads, ['mask0.user', 'mask0.out', 'user', 'item'], lossAt);
  } finally {
    s.close();
  }
});

test("maskInput 'modal' feeds the items' modal features to the edge MLP: only the masked terms move, gradients by central differences, no leaks", async () => {
  const s = setup({ modalityGate: false, assignment: 'soft', diffWeight: 0, vqWeight: 0 });
  try {
    const pulled = await pullRows(s.store, camrec.rows(s.batch, s.prep, s.hyper));
    const run = (extra: Record<string, unknown>) => lossAndGrads(camrec, s.batch, pulled, s.prep, { ...s.hyper, ...extra });
    const [layer, modal] = [run({}), run({ maskInput: 'modal' })];
    for (const k of ['bpr', 'reg']) assert.equal(modal.result.parts[k], layer.result.parts[k], k);
    assert.notEqual(modal.result.parts.bprMasked, layer.result.parts.bprMasked);
    // The projections now reach the mask through x^m, not only through the propagation: their gradients differ.
    const proj = (r: typeof layer) => r.grads.find((g) => g.table === 'image.proj')!.grad;
    assert.ok(proj(modal).some((v, i) => Math.abs(v - proj(layer)[i]) > 1e-7), 'image.proj gradient changes');
    const lossAt = () => run({ maskInput: 'modal' }).result.loss;
    checkLargestGradients(pulled, modal.grads, ['mask0.item', 'mask1.item', 'mask0.user', 'image.proj', 'text.proj', 'user', 'item'], lossAt);
    assert.throws(() => camrec.hyper.parse({ maskInput: 'raw' }), /maskInput/);
    // One step and an explanation with it leave no tensors behind, and the explanation's scores are the modal mask's.
    const hyper = { ...s.hyper, maskInput: 'modal' as const };
    await trainStep(camrec, s.batch, s.store, s.prep, hyper);
    const before = tf.memory().numTensors;
    await trainStep(camrec, s.batch, s.store, s.prep, hyper);
    assert.equal(tf.memory().numTensors, before, 'train step');
    const params = await paramsOf(s.store);
    const [a, b] = [explainCamrec(params, s.prep, hyper), explainCamrec(params, s.prep, s.hyper)];
    tf.dispose(Object.values(params).map((p) => p.value));
    assert.equal(tf.memory().numTensors, before, 'explain');
    assert.ok(a.edgeLogits!.some((v, e) => v !== b.edgeLogits![e]), 'the two inputs score the edges differently');
  } finally {
    s.close();
  }
});

test('a step leaks no tensors; representations and explanations leak none either', async () => {
  const s = setup();
  try {
    await trainStep(camrec, s.batch, s.store, s.prep, s.hyper); // warm up (kernel scratch, first-use tensors)
    const before = tf.memory().numTensors;
    await trainStep(camrec, s.batch, s.store, s.prep, s.hyper);
    assert.equal(tf.memory().numTensors, before, 'train step');
    const params = await paramsOf(s.store);
    const reps = tf.tidy(() => {
      const r = camrec.represent(params, s.prep, s.hyper);
      return [r.users, r.items];
    });
    tf.dispose(reps);
    explainCamrec(params, s.prep, s.hyper);
    tf.dispose(Object.values(params).map((p) => p.value));
    assert.equal(tf.memory().numTensors, before, 'represent + explain');
  } finally {
    s.close();
  }
});

async function paramsOf(store: LocalParamStore) {
  const out: Record<string, { value: tf.Tensor2D; ids: null }> = {};
  for (const spec of store.specs) out[spec.name] = { value: tf.tensor2d(await store.pull(spec.name, null), [spec.rows, spec.dim]), ids: null };
  return out;
}

test('deterministic under a seed: the same steps give bit-identical parameters; another seed differs', async () => {
  const run = async (seed: number) => {
    const s = setup({}, seed);
    try {
      for (let k = 0; k < 3; k++) await trainStep(camrec, s.batch, s.store, s.prep, s.hyper);
      return (await s.store.exportState()).tables;
    } finally {
      s.close();
    }
  };
  const [a, b, c] = [await run(5), await run(5), await run(6)];
  for (const name of Object.keys(a)) assert.deepEqual(a[name].values, b[name].values, name);
  assert.notDeepEqual(a.user.values, c.user.values);
});

test('scoring is deterministic: two representations of the same parameters are identical', async () => {
  const s = setup();
  try {
    await trainStep(camrec, s.batch, s.store, s.prep, s.hyper);
    const params = await paramsOf(s.store);
    const once = () => tf.tidy(() => camrec.represent(params, s.prep, s.hyper).items.dataSync());
    assert.deepEqual(once(), once());
    const ex = explainCamrec(params, s.prep, s.hyper);
    assert.equal(ex.edgeScores?.length, s.data.trainByUser.indices.length);
    assert.ok(ex.edgeScores!.every((v) => v > 0 && v < 1));
    assert.equal(ex.environments.length, 2);
    assert.ok(ex.environments[0].codes.every((c) => c >= 0 && c < 5));
    tf.dispose(Object.values(params).map((p) => p.value));
  } finally {
    s.close();
  }
});

test('itemSideInternals gives what the codebook quantises: its nearest unit code is the explained stratum', async () => {
  const s = setup();
  try {
    await trainStep(camrec, s.batch, s.store, s.prep, s.hyper);
    const params = await paramsOf(s.store);
    const before = tf.memory().numTensors;
    const internals = itemSideInternals(params, s.prep, s.hyper);
    assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
    const codes = explainCamrec(params, s.prep, s.hyper).environments;
    const book = params.codebook.value.arraySync() as number[][];
    const unit = (v: number[]) => v.map((x) => x / Math.hypot(...v));
    const books = book.map(unit);
    const [n, e] = [s.data.nItems, s.hyper.envDim];
    internals.forEach((m, k) => {
      assert.equal(m.modality, codes[k].modality);
      assert.equal(m.semantic.length, n * s.hyper.dim);
      assert.equal(m.confounder.length, n * s.hyper.dim);
      assert.notDeepEqual(m.confounder, m.semantic, 'the diffusion changes h^m');
      assert.ok(m.z && m.z.length === n * e);
      for (let i = 0; i < n; i++) {
        const z = Array.from(m.z.subarray(i * e, (i + 1) * e));
        const d: number[] = books.map((c: number[]) => c.reduce((acc: number, x: number, j: number) => acc + (x - z[j]) ** 2, 0));
        assert.equal(codes[k].codes[i], d.indexOf(Math.min(...d)), `${m.modality} item ${i}`);
      }
    });
    tf.dispose(Object.values(params).map((p) => p.value));
  } finally {
    s.close();
  }
  const plain = setup({ diffusion: false });
  try {
    const params = await paramsOf(plain.store);
    for (const m of itemSideInternals(params, plain.prep, plain.hyper)) assert.deepEqual(m.confounder, m.semantic, 'without diffusion H_c = h^m');
    tf.dispose(Object.values(params).map((p) => p.value));
  } finally {
    plain.close();
  }
  const noBackdoor = setup({ backdoor: false });
  try {
    const params = await paramsOf(noBackdoor.store);
    assert.ok(itemSideInternals(params, noBackdoor.prep, noBackdoor.hyper).every((m) => m.z === null));
    tf.dispose(Object.values(params).map((p) => p.value));
  } finally {
    noBackdoor.close();
  }
});

test('a dataset without modalities is refused with a clear message', () => {
  const data = randomDataset(10, 10, 4, 1);
  assert.throws(() => camrec.prepare(data, parse(), { seed: 1 }), /camrec needs item modalities/);
});

test('a closed modality gate (α = 0 at initialisation) still gets the gradient that opens it', async () => {
  const s = setup({ assignment: 'soft', diffWeight: 0, vqWeight: 0 });
  try {
    const pulled = await pullRows(s.store, camrec.rows(s.batch, s.prep, s.hyper));
    const k = pulled.findIndex((p) => p.spec.name === 'text.gate');
    assert.equal(pulled[k].values[0], 0);
    const g = lossAndGrads(camrec, s.batch, pulled, s.prep, s.hyper).grads.find((x) => x.table === 'text.gate')!;
    const h = 1e-3;
    pulled[k].values[0] = h;
    const plus = lossAndGrads(camrec, s.batch, pulled, s.prep, s.hyper).result.loss;
    pulled[k].values[0] = -h;
    const minus = lossAndGrads(camrec, s.batch, pulled, s.prep, s.hyper).result.loss;
    const fd = (plus - minus) / (2 * h);
    assert.ok(g.grad[0] !== 0, 'the gate has a gradient');
    assert.ok(Math.abs(fd - g.grad[0]) <= 2e-3 + 0.05 * Math.abs(g.grad[0]), `analytic ${g.grad[0]}, finite difference ${fd}`);
  } finally {
    s.close();
  }
});

test('the InfoNCE warm-up ramps linearly from 0 at epoch 1 to full weight after `warmup` epochs', () => {
  assert.deepEqual([1, 2, 6, 11, 12, 50].map((e) => warmupFactor(e, 10)), [0, 0.1, 0.5, 1, 1, 1]);
  assert.equal(warmupFactor(1, 0), 1);
});
