import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { groupLayout, groupMaximaJs, type GroupLayout } from '../../src/eval/groups.js';
import { TopK } from '../../src/eval/index.js';
import { kthLargest } from '../../src/eval/topk.js';
import { rng } from './fixtures.js';

/** Reference: a full sort by (score desc, id asc) of the rankable entries, cut at k and -1-padded. */
function sortedTopK(row: Float32Array, k: number): number[] {
  const ids = [...row.keys()].filter((j) => row[j] > -Infinity);
  ids.sort((a, b) => row[b] - row[a] || a - b);
  return Array.from({ length: k }, (_, r) => ids[r] ?? -1);
}

/** A layout with the given group count (width follows), as opposed to groupLayout's choice. */
function layoutWithGroups(nItems: number, groups: number): GroupLayout {
  const width = Math.ceil(nItems / groups);
  return { nItems, groups, width, stride: groups * width };
}

/** Pads the row to the layout's stride with -Infinity, takes its group maxima and selects. */
function select(row: Float32Array, k: number, layout = groupLayout(row.length, k)): number[] {
  const padded = new Float32Array(layout.stride).fill(-Infinity);
  padded.set(row);
  const maxima = new Float32Array(layout.groups);
  groupMaximaJs(padded, 1, layout, maxima);
  const out = new Int32Array(k + 2).fill(99); // the two slots around the list must stay untouched
  new TopK(k).selectRow(padded, 0, maxima, 0, layout, out, 1);
  assert.equal(out[0], 99);
  assert.equal(out[k + 1], 99);
  return [...out.subarray(1, k + 1)];
}

function randomRow(rand: () => number, n: number, opts: { levels?: number; masked?: number }): Float32Array {
  const row = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    row[j] = opts.levels === undefined ? rand() * 2 - 1 : Math.floor(rand() * opts.levels);
    if (rand() < (opts.masked ?? 0)) row[j] = -Infinity;
  }
  return row;
}

describe('TopK', () => {
  it('matches a full sort on random rows', () => {
    const rand = rng(1);
    for (const [n, k] of [[1000, 5], [7050, 50], [257, 1], [64, 20], [10, 10]]) {
      for (let t = 0; t < 10; t++) {
        const row = randomRow(rand, n, {});
        assert.deepEqual(select(row, k), sortedTopK(row, k), `n=${n} k=${k}`);
      }
    }
  });

  it('matches a full sort with any group layout, from one group to one item per group', () => {
    const rand = rng(2);
    for (const groups of [1, 2, 7, 19, 50, 99, 200]) {
      const row = randomRow(rand, 200, { levels: groups % 2 ? 5 : undefined, masked: 0.2 });
      assert.deepEqual(select(row, 20, layoutWithGroups(200, groups)), sortedTopK(row, 20), `groups=${groups}`);
    }
  });

  it('breaks ties by the lower item id', () => {
    const rand = rng(3);
    for (const levels of [1, 2, 3, 7]) {
      for (let t = 0; t < 10; t++) {
        const row = randomRow(rand, 301, { levels });
        assert.deepEqual(select(row, 40), sortedTopK(row, 40), `levels=${levels}`);
      }
    }
    assert.deepEqual(select(new Float32Array(10).fill(0.5), 4), [0, 1, 2, 3]);
    assert.deepEqual(select(Float32Array.of(1, 2, 2, 1, 2, 3, 2), 4), [5, 1, 2, 4]);
  });

  it('never takes masked (-Infinity) entries, and pads short rows with -1', () => {
    const rand = rng(4);
    for (let t = 0; t < 20; t++) {
      const row = randomRow(rand, 90, { masked: t < 10 ? 0.5 : 0.95, levels: t % 2 ? 4 : undefined });
      assert.deepEqual(select(row, 50), sortedTopK(row, 50));
    }
    assert.deepEqual(select(Float32Array.of(9, -Infinity, 3, 7, -Infinity), 4), [0, 3, 2, -1]);
    assert.deepEqual(select(new Float32Array(3).fill(-Infinity), 2), [-1, -1]);
  });

  it('handles K larger than the row', () => {
    assert.deepEqual(select(Float32Array.of(0.1, 0.3, 0.2), 5), [1, 2, 0, -1, -1]);
    assert.deepEqual(select(Float32Array.of(-5), 1), [0]);
  });

  it('selects within rows of a larger block', () => {
    const rand = rng(5);
    const layout = groupLayout(77, 10);
    const block = new Float32Array(3 * layout.stride).fill(-Infinity);
    for (let r = 0; r < 3; r++) block.set(randomRow(rand, 77, { levels: 5 }), r * layout.stride);
    const maxima = new Float32Array(3 * layout.groups);
    groupMaximaJs(block, 3, layout, maxima);
    const out = new Int32Array(3 * 10);
    const topK = new TopK(10);
    for (let r = 0; r < 3; r++) topK.selectRow(block, r * layout.stride, maxima, r * layout.groups, layout, out, r * 10);
    for (let r = 0; r < 3; r++) {
      const row = block.subarray(r * layout.stride, r * layout.stride + 77);
      assert.deepEqual([...out.subarray(r * 10, r * 10 + 10)], sortedTopK(row, 10));
    }
  });
});

describe('kthLargest', () => {
  it('matches a sort, with duplicates', () => {
    const rand = rng(6);
    for (const n of [1, 2, 5, 50, 300]) {
      const values = Float64Array.from({ length: n }, () => Math.floor(rand() * 10));
      const sorted = [...values].sort((a, b) => b - a);
      for (const k of [1, Math.ceil(n / 2), n]) assert.equal(kthLargest(values.slice(), n, k), sorted[k - 1], `n=${n} k=${k}`);
    }
  });
});

describe('groupLayout', () => {
  it('covers every item once, with fewer than width padding columns', () => {
    for (const [n, k] of [[1, 50], [7050, 50], [103, 20], [5, 1]]) {
      const { groups, width, stride } = groupLayout(n, k);
      assert.equal(stride, groups * width);
      assert.ok(stride >= n && stride - n < width, `n=${n} k=${k}`);
    }
  });
});
