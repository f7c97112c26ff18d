import { after, test } from 'node:test';
import { shutdownCompute } from '../../src/compute/index.js';
import assert from 'node:assert/strict';
import { adagrad, adam, applyRows, initialState, LocalParamStore } from '../../src/train/index.js';

after(async () => {
  await shutdownCompute();
});

/** Adam written out per scalar from Kingma & Ba, Algorithm 1, in double precision. */
function adamReference(p0: number, grads: number[], lr: number): number {
  let p = p0;
  let m = 0;
  let v = 0;
  grads.forEach((g, k) => {
    const t = k + 1;
    m = 0.9 * m + 0.1 * g;
    v = 0.999 * v + 0.001 * g * g;
    const mh = m / (1 - 0.9 ** t);
    const vh = v / (1 - 0.999 ** t);
    p -= (lr * mh) / (Math.sqrt(vh) + 1e-8);
  });
  return p;
}

test('row-wise Adam equals the scalar reference on every updated row', () => {
  const dim = 3;
  const p = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const state = initialState(adam(0.01), p.length);
  const gradsPerStep = [
    [0.5, -1, 2],
    [0.25, 0.1, -3],
    [1, 1, 1],
  ];
  gradsPerStep.forEach((g, k) => applyRows(adam(0.01), p, state, dim, Int32Array.from([1]), Float32Array.from(g), k + 1));
  for (let j = 0; j < dim; j++) {
    const ref = adamReference(4 + j, gradsPerStep.map((g) => g[j]), 0.01);
    assert.ok(Math.abs(p[dim + j] - ref) < 1e-6, `col ${j}: ${p[dim + j]} vs ${ref}`);
  }
  assert.deepEqual(Array.from(p.subarray(0, 3)), [1, 2, 3], 'row 0 was not touched');
  assert.deepEqual(Array.from(p.subarray(6, 9)), [7, 8, 9], 'row 2 was not touched');
  assert.deepEqual(Array.from(state[0].subarray(0, 3)), [0, 0, 0], 'untouched rows keep their moments');
});

test('Adagrad matches its closed form', () => {
  const p = Float32Array.from([1, 1]);
  const st = initialState(adagrad(0.1), 2);
  applyRows(adagrad(0.1), p, st, 2, null, Float32Array.from([2, -1]), 1);
  applyRows(adagrad(0.1), p, st, 2, null, Float32Array.from([2, -1]), 2);
  // s1 = g², step1 = lr·g/|g| = lr·sign(g); s2 = 2g², step2 = lr·g/(√2|g|)
  const expect = (g: number) => 1 - 0.1 * Math.sign(g) - (0.1 * Math.sign(g)) / Math.SQRT2;
  assert.ok(Math.abs(p[0] - expect(2)) < 1e-6);
  assert.ok(Math.abs(p[1] - expect(-1)) < 1e-6);
});

test('LocalParamStore updates only pushed rows, refuses bad ids, and round-trips its state', async () => {
  const specs = [{ name: 'user', rows: 5, dim: 2, init: { kind: 'xavierUniform' as const }, trainable: true }];
  const store = new LocalParamStore(specs, adam(0.1), 7);
  const before = await store.pull('user', null);
  await store.push([{ table: 'user', ids: Int32Array.from([1, 3]), grad: Float32Array.from([1, 1, -1, -1]) }]);
  const after = await store.pull('user', null);
  for (const r of [0, 2, 4]) assert.deepEqual(after.subarray(r * 2, r * 2 + 2), before.subarray(r * 2, r * 2 + 2));
  for (const r of [1, 3]) assert.notDeepEqual(after.subarray(r * 2, r * 2 + 2), before.subarray(r * 2, r * 2 + 2));
  assert.equal(store.step, 1);
  await assert.rejects(store.push([{ table: 'user', ids: Int32Array.from([3, 1]), grad: new Float32Array(4) }]), /sorted/);
  await assert.rejects(store.push([{ table: 'user', ids: Int32Array.from([9]), grad: new Float32Array(2) }]), /out of range/);
  await assert.rejects(store.push([{ table: 'nope', ids: null, grad: new Float32Array(10) }]), /unknown table nope/);
  assert.equal(store.step, 1, 'refused pushes do not count');
  const state = await store.exportState();
  const other = new LocalParamStore(specs, adam(0.1), 99);
  await other.importState(state);
  assert.deepEqual(await other.pull('user', null), after);
  assert.equal(other.step, 1);
});

test('the same seed gives the same initial table; another seed another one', async () => {
  const specs = [{ name: 'item', rows: 50, dim: 8, init: { kind: 'xavierUniform' as const }, trainable: true }];
  const a = await new LocalParamStore(specs, adam(1), 1).pull('item', null);
  const b = await new LocalParamStore(specs, adam(1), 1).pull('item', null);
  const c = await new LocalParamStore(specs, adam(1), 2).pull('item', null);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  const bound = Math.sqrt(6 / (50 + 8));
  assert.ok(a.every((x) => Math.abs(x) <= bound));
  const mean = a.reduce((s, x) => s + x, 0) / a.length;
  assert.ok(Math.abs(mean) < bound / 5);
});

test('the dense SIMD Adam of the store equals the row-wise reference within float32 rounding', async () => {
  const specs = [{ name: 'item', rows: 37, dim: 13, init: { kind: 'xavierUniform' as const }, trainable: true }];
  const store = new LocalParamStore(specs, adam(0.01), 3);
  const p = await store.pull('item', null);
  const ref = { p: p.slice(), st: initialState(adam(0.01), p.length) };
  try {
    for (let step = 1; step <= 5; step++) {
      const g = Float32Array.from(p, (_, i) => Math.sin(i * 0.37 + step));
      await store.push([{ table: 'item', ids: null, grad: g }]);
      applyRows(adam(0.01), ref.p, ref.st, 13, null, g, step);
    }
    const got = await store.pull('item', null);
    for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i] - ref.p[i]) < 1e-5, `${i}: ${got[i]} vs ${ref.p[i]}`);
    const state = await store.exportState();
    for (let i = 0; i < got.length; i++) assert.ok(Math.abs(state.tables.item.state[1][i] - ref.st[1][i]) < 1e-6 * (1 + ref.st[1][i]));
  } finally {
    store.dispose();
  }
});

test('LocalParamStore: a dense table moves every row at every step; a gradient naming some rows (or none) equals the dense one with zeros', async () => {
  const lazy = [{ name: 'user', rows: 6, dim: 3, init: { kind: 'xavierUniform' as const }, trainable: true }];
  const dense = [{ ...lazy[0], dense: true }];
  const sparse = new LocalParamStore(dense, adam(0.1), 5);
  const full = new LocalParamStore(dense, adam(0.1), 5);
  const rowWise = new LocalParamStore(lazy, adam(0.1), 5);
  try {
    // step 1 touches rows 1 and 4, step 2 row 2 only, step 3 no row of the table
    const steps = [[1, 4], [2], []];
    for (const ids of steps) {
      const grad = Float32Array.from({ length: ids.length * 3 }, (_, k) => Math.cos(k + ids.length));
      const zeros = new Float32Array(18);
      ids.forEach((id, r) => zeros.set(grad.subarray(r * 3, r * 3 + 3), id * 3));
      await sparse.push(ids.length ? [{ table: 'user', ids: Int32Array.from(ids), grad }] : []);
      await full.push([{ table: 'user', ids: null, grad: zeros }]);
      await rowWise.push(ids.length ? [{ table: 'user', ids: Int32Array.from(ids), grad }] : []);
    }
    const [a, b] = [await sparse.exportState(), await full.exportState()];
    assert.deepEqual(a, b, 'the same values and moments, bit for bit');
    const lazyState = await rowWise.exportState();
    // row 1 had a gradient at step 1 only: Adam's momentum moved it at steps 2 and 3 on the dense table, not on the lazy one
    assert.notDeepEqual(a.tables.user.values.subarray(3, 6), lazyState.tables.user.values.subarray(3, 6));
    assert.deepEqual(a.tables.user.values.subarray(0, 3), lazyState.tables.user.values.subarray(0, 3), 'row 0 never had a gradient: it stays');
  } finally {
    [sparse, full, rowWise].forEach((s) => s.dispose());
  }
});
