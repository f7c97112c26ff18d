/**
 * Message-flow blocks (src/graph/blocks.ts) against a set-based breadth-first search and dense matrix powers on
 * random sparse bipartite graphs with isolated nodes: the frontiers are the L-hop neighbourhoods, each a prefix of
 * the next, and the product of the blocks equals Â^L at the seeds.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { csrFromCoo, messageFlowBlocks, normalizedBipartiteAdjacency, type Csr } from '../../src/graph/index.js';
import { CounterRng } from '../../src/random/index.js';

/** A random bipartite graph where users ≥ nUsers − 3 and items ≥ nItems − 3 have no edge, and its Â. */
function randomGraph(seed: number, nUsers: number, nItems: number, p: number): Csr {
  const s = new CounterRng(seed).stream('simulate');
  const us: number[] = [];
  const is: number[] = [];
  for (let u = 0; u < nUsers - 3; u++) {
    for (let i = 0; i < nItems - 3; i++) {
      if (s.nextFloat() >= p) continue;
      us.push(u);
      is.push(i);
    }
  }
  return normalizedBipartiteAdjacency(csrFromCoo(nUsers, nItems, Int32Array.from(us), Int32Array.from(is)));
}

/** F_0 … F_L as sets, by breadth-first search. */
function referenceFrontiers(a: Csr, seeds: Int32Array, layers: number): Set<number>[] {
  const out = [new Set(seeds)];
  for (let k = 1; k <= layers; k++) {
    const next = new Set(out[k - 1]);
    for (const v of out[k - 1]) for (let p = a.indptr[v]; p < a.indptr[v + 1]; p++) next.add(a.indices[p]);
    out.push(next);
  }
  return out;
}

function denseOf(m: Csr): Float64Array[] {
  const d = Array.from({ length: m.nRows }, () => new Float64Array(m.nCols));
  for (let r = 0; r < m.nRows; r++) for (let p = m.indptr[r]; p < m.indptr[r + 1]; p++) d[r][m.indices[p]] += m.values![p];
  return d;
}

function product(m: Float64Array[], x: Float64Array[]): Float64Array[] {
  return m.map((row) => {
    const y = new Float64Array(x[0].length);
    row.forEach((w, c) => {
      if (w !== 0) for (let j = 0; j < y.length; j++) y[j] += w * x[c][j];
    });
    return y;
  });
}

for (const layers of [0, 1, 2, 3]) {
  test(`L = ${layers}: frontiers are the L-hop neighbourhoods, prefixes of each other, seeds first; blocks are Â's rows; B_1…B_L x = Â^L x at the seeds`, () => {
    const nUsers = 40;
    const nItems = 30;
    const a = randomGraph(layers + 1, nUsers, nItems, 0.04);
    const n = nUsers + nItems;
    // repeated seeds, and isolated ones: user 39 and item 29 (node 69) have no edge
    const seeds = Int32Array.from([5, 12, 5, 39, nUsers + 3, nUsers + 3, n - 1, 12, nUsers + 17]);
    const flow = messageFlowBlocks(a, seeds, layers);
    const want = referenceFrontiers(a, seeds, layers);

    assert.equal(flow.sizes.length, layers + 1);
    assert.equal(flow.blocks.length, layers);
    assert.deepEqual(Array.from(flow.nodes.subarray(0, flow.sizes[0])), [5, 12, 39, nUsers + 3, n - 1, nUsers + 17], 'F_0: distinct seeds in order of first appearance');
    assert.deepEqual(Array.from(flow.seedIndex, (k) => flow.nodes[k]), Array.from(seeds), 'seedIndex points at each seed');
    assert.equal(flow.nodes.length, flow.sizes[layers]);
    assert.equal(new Set(flow.nodes).size, flow.nodes.length, 'no node twice');
    for (let k = 0; k <= layers; k++) {
      assert.deepEqual(new Set(flow.nodes.subarray(0, flow.sizes[k])), want[k], `F_${k} is the ${k}-hop neighbourhood`);
    }
    if (layers >= 2) assert.ok(flow.sizes[layers] < n, `the graph is sparse enough that F_${layers} (${flow.sizes[layers]}) is not every node`);

    for (let k = 1; k <= layers; k++) {
      const b = flow.blocks[k - 1];
      assert.equal(b.nRows, flow.sizes[k - 1]);
      assert.equal(b.nCols, flow.sizes[k]);
      for (let r = 0; r < b.nRows; r++) {
        const v = flow.nodes[r];
        const cols = Array.from(b.indices.subarray(b.indptr[r], b.indptr[r + 1]), (c) => flow.nodes[c]);
        assert.deepEqual(cols, Array.from(a.indices.subarray(a.indptr[v], a.indptr[v + 1])), `B_${k} row ${r} holds node ${v}'s neighbours`);
        assert.deepEqual(b.values!.subarray(b.indptr[r], b.indptr[r + 1]), a.values!.subarray(a.indptr[v], a.indptr[v + 1]));
      }
    }

    // x over all nodes; Â^L x at F_0 against B_1 (B_2 (… B_L x[F_L]))
    const s = new CounterRng(9).stream('noise');
    const x = Array.from({ length: n }, () => Float64Array.from({ length: 3 }, () => s.nextNormal()));
    let full: Float64Array[] = x;
    const dense = denseOf(a);
    for (let k = 0; k < layers; k++) full = product(dense, full);
    let h: Float64Array[] = Array.from(flow.nodes, (v) => x[v]);
    for (let k = layers; k >= 1; k--) h = product(denseOf(flow.blocks[k - 1]), h);
    for (let r = 0; r < flow.sizes[0]; r++) {
      const v = flow.nodes[r];
      for (let j = 0; j < 3; j++) assert.ok(Math.abs(h[r][j] - full[v][j]) <= 1e-12 * (1 + Math.abs(full[v][j])), `node ${v}: ${h[r][j]} vs ${full[v][j]}`);
    }
  });
}

test('messageFlowBlocks refuses a seed outside the graph, negative layers and a non-square adjacency', () => {
  const a = randomGraph(1, 10, 8, 0.3);
  assert.throws(() => messageFlowBlocks(a, Int32Array.from([18]), 1), /seed 18 is not a node of \[0, 18\)/);
  assert.throws(() => messageFlowBlocks(a, Int32Array.from([-1]), 1), RangeError);
  assert.throws(() => messageFlowBlocks(a, Int32Array.from([0]), -1), /layers/);
  assert.throws(() => messageFlowBlocks(csrFromCoo(2, 3, new Int32Array(0), new Int32Array(0)), Int32Array.from([0]), 1), /square/);
});
