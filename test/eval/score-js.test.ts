import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scoreBlockJs } from '../../src/eval/score-js.js';
import { randomMatrix, rng } from './fixtures.js';

/** Unblocked reference: one dot product per (user, item), accumulated in float64 over d in order. */
function naiveScores(users: Float32Array, rows: number, items: Float32Array, nItems: number, dim: number): Float32Array {
  const out = new Float32Array(rows * nItems);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < nItems; j++) {
      let s = 0;
      for (let d = 0; d < dim; d++) s += users[r * dim + d] * items[j * dim + d];
      out[r * nItems + j] = s;
    }
  }
  return out;
}

describe('scoreBlockJs (2 users × 4 items tiles)', () => {
  it('is bit-identical to the unblocked dot products, with tile remainders in both directions', () => {
    const rand = rng(5);
    for (const [rows, nItems, dim] of [[1, 1, 1], [2, 4, 64], [3, 7, 64], [5, 103, 64], [8, 33, 3], [7, 4, 17]]) {
      const users = randomMatrix(rand, rows, dim);
      const items = randomMatrix(rand, nItems, dim);
      const out = new Float32Array(rows * nItems).fill(NaN);
      scoreBlockJs(users, rows, items, nItems, dim, out);
      assert.deepEqual(out, naiveScores(users, rows, items, nItems, dim), `rows=${rows} nItems=${nItems} dim=${dim}`);
    }
  });

  it('computes U · Iᵀ (a hand-checked case)', () => {
    const users = Float32Array.of(1, 2, 3, -1, 0, 1);
    const items = Float32Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1, 2, 0, -2);
    const out = new Float32Array(2 * 5);
    scoreBlockJs(users, 2, items, 5, 3, out);
    assert.deepEqual([...out], [1, 2, 3, 6, -4, -1, 0, 1, 0, -4]);
  });
});
