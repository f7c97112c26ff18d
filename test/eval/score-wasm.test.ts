import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { groupLayout, groupMaximaJs } from '../../src/eval/groups.js';
import { JsScorer } from '../../src/eval/score-js.js';
import { WasmScorer, initWasmBackend } from '../../src/eval/score-wasm.js';
import { randomMatrix, rng } from './fixtures.js';

// The wasm kernel against the plain-TypeScript reference, in this test's own process.
describe('WasmScorer', () => {
  before(initWasmBackend);

  it('scores like the TypeScript kernel (integer data: exact in any summation order)', () => {
    const rand = rng(1);
    for (const [rows, nItems, dim, k] of [[1, 1, 1, 1], [3, 103, 16, 20], [17, 250, 64, 50]]) {
      const layout = groupLayout(nItems, k);
      const items = randomMatrix(rand, nItems, dim, 3);
      const users = randomMatrix(rand, rows, dim, 3);
      const wasm = new WasmScorer(items, layout, dim);
      const js = new JsScorer(items, layout, dim);
      const a = wasm.score(users, rows);
      const b = js.score(users, rows);
      assert.equal(a.length, rows * layout.stride);
      for (let r = 0; r < rows; r++) {
        const row = (s: Float32Array) => [...s.subarray(r * layout.stride, r * layout.stride + nItems)];
        assert.deepEqual(row(a), row(b), `rows=${rows} nItems=${nItems} dim=${dim} row ${r}`);
      }
      wasm.dispose();
    }
  });

  it('takes group maxima like groupMaximaJs, after the caller masks the block in place', () => {
    const rand = rng(2);
    const rows = 9;
    const layout = groupLayout(1000, 50);
    const wasm = new WasmScorer(randomMatrix(rand, 1000, 8), layout, 8);
    const scores = wasm.score(randomMatrix(rand, rows, 8), rows);
    for (let i = 0; i < scores.length; i++) if (rand() < 0.3 || i % layout.stride >= 1000) scores[i] = -Infinity;
    const expected = new Float32Array(rows * layout.groups);
    groupMaximaJs(scores, rows, layout, expected);
    assert.deepEqual(wasm.groupMaxima(rows), expected);
    wasm.dispose();
  });
});
