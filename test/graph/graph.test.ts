import { test } from 'node:test';
import assert from 'node:assert/strict';
import { csrFromCoo, hasEntry, normalizedBipartiteAdjacency, transpose } from '../../src/graph/index.js';
import { CounterRng } from '../../src/random/index.js';

test('csrFromCoo sorts columns within rows and transpose inverts it', () => {
  const rows = Int32Array.from([2, 0, 2, 1, 0]);
  const cols = Int32Array.from([1, 3, 0, 2, 1]);
  const vals = Float32Array.from([1, 2, 3, 4, 5]);
  const m = csrFromCoo(3, 4, rows, cols, vals);
  assert.deepEqual(Array.from(m.indptr), [0, 2, 3, 5]);
  assert.deepEqual(Array.from(m.indices), [1, 3, 2, 0, 1]);
  assert.deepEqual(Array.from(m.values!), [5, 2, 4, 3, 1]);
  const tt = transpose(transpose(m));
  assert.deepEqual(tt, m);
  assert.ok(hasEntry(m, 2, 0) && !hasEntry(m, 2, 2));
});

test('normalised bipartite adjacency equals D^-1/2 A D^-1/2 computed densely on a small graph', () => {
  const nU = 6;
  const nI = 5;
  const rng = new CounterRng(5).stream('simulate');
  const us: number[] = [];
  const is: number[] = [];
  for (let u = 0; u < nU; u++) {
    for (let i = 0; i < nI; i++) {
      if (rng.nextFloat() >= 0.4) continue;
      us.push(u);
      is.push(i);
    }
  }
  const r = csrFromCoo(nU, nI, Int32Array.from(us), Int32Array.from(is));
  const a = normalizedBipartiteAdjacency(r);
  const n = nU + nI;
  const dense = Array.from({ length: n }, () => new Array(n).fill(0));
  us.forEach((u, k) => {
    dense[u][nU + is[k]] = 1;
    dense[nU + is[k]][u] = 1;
  });
  const deg = dense.map((row) => row.reduce((s, x) => s + x, 0) + 1e-7);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const expect = dense[i][j] / Math.sqrt(deg[i] * deg[j]);
      let got = 0;
      for (let k = a.indptr[i]; k < a.indptr[i + 1]; k++) if (a.indices[k] === j) got = a.values![k];
      assert.ok(Math.abs(got - expect) < 1e-6, `(${i},${j}) ${got} vs ${expect}`);
    }
  }
});
