import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  csrFromRows,
  forEachIsa,
  nativeFor,
  nativeTopK,
  nativeTopKAsync,
  randomMatrix,
  randomRows,
  scoreRow,
  stream,
  topKReference,
  type TopKProblem,
} from './fixtures.js';

interface Shape {
  nUsers: number;
  nItems: number;
  dim: number;
  k: number;
}

/**
 * A problem whose mask has, per user: nothing, a few items (rows left unsorted, one repeated), every item but
 * fewer than k, or every item. Listed users are a shuffled subset with a repeat, and not a multiple of the tile.
 */
function problem(seed: number, shape: Shape, intRange?: number): TopKProblem {
  const s = stream(seed);
  const { nUsers, nItems, dim, k } = shape;
  const rows = randomRows(s, nUsers, nItems, (u) => {
    if (u % 5 === 0) return 0;
    if (u % 7 === 1) return Math.max(0, nItems - k + 1 + s.nextInt(k));
    return s.nextInt(Math.min(nItems, 12) + 1);
  });
  if (nUsers > 2) rows[2] = [...rows[2], ...rows[2].slice(0, 1)];
  const listed = Array.from({ length: nUsers }, (_, u) => u).filter(() => s.nextInt(4) !== 0);
  listed.push(listed[0] ?? 0);
  return {
    userEmb: randomMatrix(s, nUsers * dim, intRange),
    users: Int32Array.from(listed.reverse()),
    itemEmb: randomMatrix(s, nItems * dim, intRange),
    nItems,
    dim,
    mask: csrFromRows(rows),
    k,
  };
}

const SHAPES: Shape[] = [
  { nUsers: 1, nItems: 1, dim: 1, k: 1 },
  { nUsers: 7, nItems: 5, dim: 3, k: 8 },
  { nUsers: 13, nItems: 16, dim: 8, k: 5 },
  { nUsers: 20, nItems: 17, dim: 13, k: 4 },
  { nUsers: 31, nItems: 203, dim: 64, k: 20 },
  { nUsers: 25, nItems: 1029, dim: 67, k: 50 },
  { nUsers: 9, nItems: 300, dim: 5, k: 120 },
];

test('scoreTopK equals a full sort on integer data (exact scores, ties to the lower item)', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  forEachIsa(native, (isa) => {
    SHAPES.forEach((shape, i) => {
      // Integers in [-2, 2] make every dot product exact in float32 and ties common.
      const p = problem(100 + i, shape, 2);
      const ref = topKReference(p);
      for (const threads of [1, 3]) {
        const got = nativeTopK(native, p, threads);
        const where = `${isa}, ${JSON.stringify(shape)}, ${threads} threads`;
        assert.deepEqual(Array.from(got.items), Array.from(ref.items), where);
        assert.deepEqual(Array.from(got.scores), Array.from(ref.scores, Math.fround), where);
      }
    });
  });
});

test('scoreTopK on float data: each score is its item\'s dot product and nothing better is left out', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  forEachIsa(native, (isa) => {
    SHAPES.forEach((shape, i) => {
      const p = problem(200 + i, shape);
      const ref = topKReference(p);
      const got = nativeTopK(native, p, 2);
      const tol = 1e-4 * Math.sqrt(p.dim);
      p.users.forEach((u, row) => {
        const exact = scoreRow(p, u);
        for (let j = 0; j < p.k; j++) {
          const at = row * p.k + j;
          const where = `${isa}, ${JSON.stringify(shape)}, user ${u}, rank ${j}`;
          assert.equal(got.items[at] === -1, ref.items[at] === -1, where);
          if (got.items[at] === -1) continue;
          assert.ok(Math.abs(got.scores[at] - exact[got.items[at]]) <= tol, where);
          assert.ok(Math.abs(got.scores[at] - ref.scores[at]) <= tol, where);
          if (j > 0) assert.ok(got.scores[at] <= got.scores[at - 1], `${where}: not sorted`);
        }
        const kept = Array.from(got.items.subarray(row * p.k, (row + 1) * p.k)).filter((x) => x >= 0);
        assert.equal(new Set(kept).size, kept.length, `user ${u}: an item twice`);
        const masked = new Set(p.mask.indices.subarray(p.mask.indptr[u], p.mask.indptr[u + 1]));
        assert.ok(kept.every((x) => !masked.has(x)), `user ${u}: a masked item ranked`);
      });
    });
  });
});

test('scoreTopK gives the same bits on 1, 2 and 5 threads, and scoreTopKAsync the same as scoreTopK', async (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const p = problem(300, { nUsers: 97, nItems: 517, dim: 40, k: 10 });
  const one = nativeTopK(native, p, 1);
  for (const threads of [2, 5]) assert.deepEqual(nativeTopK(native, p, threads), one, `${threads} threads`);
  assert.deepEqual(await nativeTopKAsync(native, p, 2), one);
});

test('scoreTopK never ranks NaN or -Infinity scores, and ranks -0 and +0 as a tie', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  // One user [1]; item scores: 2, NaN, -0, -Infinity, +0, 1.
  const p: TopKProblem = {
    userEmb: Float32Array.of(1),
    users: Int32Array.of(0),
    itemEmb: Float32Array.of(2, NaN, -0, -Infinity, 0, 1),
    nItems: 6,
    dim: 1,
    mask: csrFromRows([[]]),
    k: 6,
  };
  forEachIsa(native, (isa) => {
    const got = nativeTopK(native, p, 1);
    assert.deepEqual(Array.from(got.items), [0, 5, 2, 4, -1, -1], isa);
    assert.deepEqual(Array.from(got.scores, (x) => x + 0), [2, 1, 0, 0, -Infinity, -Infinity], isa);
  });
});

test('scoreTopK refuses arguments that would take it outside its arrays', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const p = problem(400, { nUsers: 4, nItems: 10, dim: 3, k: 2 });
  type Change = Partial<TopKProblem> & { outItems?: Int32Array; threads?: number; maskIndices?: Int32Array };
  const call = (change: Change) => {
    const q = { ...p, ...change };
    const outItems = change.outItems ?? new Int32Array(q.users.length * q.k);
    native.scoreTopK(
      q.userEmb,
      q.users,
      q.itemEmb,
      q.nItems,
      q.dim,
      q.mask.indptr,
      change.maskIndices ?? q.mask.indices,
      q.k,
      outItems,
      new Float32Array(q.users.length * q.k),
      change.threads ?? 1,
    );
  };
  assert.throws(() => call({ users: Int32Array.of(0, 4) }), RangeError);
  assert.throws(() => call({ users: Int32Array.of(-1) }), RangeError);
  assert.throws(() => call({ nItems: 11 }), RangeError);
  assert.throws(() => call({ dim: 2 }), RangeError);
  assert.throws(() => call({ k: 0 }), RangeError);
  assert.throws(() => call({ k: 1.5 }), RangeError);
  assert.throws(() => call({ threads: 0 }), RangeError);
  assert.throws(() => call({ outItems: new Int32Array(1) }), RangeError);
  assert.throws(() => call({ maskIndices: p.mask.indices.map(() => 10) }), RangeError);
  assert.throws(() => call({ mask: csrFromRows([[], [], []]) }), RangeError);
  assert.throws(() => call({ userEmb: new Float64Array(12) as unknown as Float32Array }), TypeError);
  assert.throws(() => call({ users: new Uint32Array(1) as unknown as Int32Array }), TypeError);
});
