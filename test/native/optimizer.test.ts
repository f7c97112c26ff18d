import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adagrad, adam, applyRows, initialState, type OptimizerConfig } from '../../src/train/index.js';
import { nativeFor, randomMatrix, stream } from './fixtures.js';

const DIM = 37; // not a multiple of any vector width: the column loop's tail runs on every row
const ROWS = 300;

/** Six steps on random rows (repeats inside a step included, sparse and all-rows steps mixed), once in the
 * JavaScript loop and once in the addon; every parameter and every state value must have the same bits. */
function run(cfg: OptimizerConfig, native: ReturnType<typeof nativeFor>): Float32Array[] {
  const s = stream(73);
  const param = randomMatrix(s, ROWS * DIM);
  const state = initialState(cfg, ROWS * DIM);
  for (let step = 1; step <= 6; step++) {
    const ids = step % 3 === 0 ? null : Int32Array.from({ length: 120 }, () => s.nextInt(ROWS));
    const n = ids ? ids.length : ROWS;
    // Gradients over several orders of magnitude, a few of them exactly 0 or subnormal.
    const grad = randomMatrix(s, n * DIM).map((x, i) => (i % 97 === 0 ? 0 : i % 89 === 0 ? 1e-41 : x * 10 ** ((i % 7) - 4)));
    applyRows(cfg, param, state, DIM, ids, grad, step, native);
  }
  return [param, ...state];
}

for (const cfg of [adam(0.01), adam(0.003, 0.8, 0.95, 1e-6), adagrad(0.05), adagrad(0.1, 1e-7, 0.1)]) {
  test(`native ${cfg.kind} rows give the same bits as the JavaScript loop (${JSON.stringify(cfg)})`, (t) => {
    const native = nativeFor(t);
    if (!native) return;
    const js = run(cfg, null);
    const nat = run(cfg, native);
    js.forEach((a, k) => {
      const [x, y] = [new Uint32Array(a.buffer), new Uint32Array(nat[k].buffer)];
      const first = x.findIndex((v, i) => v !== y[i]);
      assert.equal(first, -1, `array ${k} differs first at ${first}: ${a[first]} vs ${nat[k][first]}`);
    });
    assert.ok(js[0].some((v, i) => v !== randomMatrix(stream(73), ROWS * DIM)[i]), 'the parameters moved');
  });
}

test('native rows optimizers refuse bad arguments before changing anything', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const p = new Float32Array(8).fill(1);
  const m = new Float32Array(8);
  const v = new Float32Array(8);
  const g = new Float32Array(4).fill(0.5);
  const a = (ids: Int32Array | null, grad = g, pp = p, mm = m) => () => native.adamRows(pp, mm, v, ids, grad, 4, 0.9, 0.999, 0.1, 0.03, 1e-8);
  assert.throws(a(Int32Array.of(2)), /adamRows: id 2 at position 0 is outside \[0, 2\)/);
  assert.throws(a(Int32Array.of(-1)), RangeError);
  assert.throws(a(null), /g has 4 floats, expected 2 rows of 4/);
  assert.throws(a(Int32Array.of(0), g, p, new Float32Array(4)), /m has 4 floats, p has 8/);
  assert.throws(a(Int32Array.of(0), p.subarray(4), p), /p overlaps g or ids/);
  assert.throws(a(Int32Array.of(0), g, p, p), /p overlaps m/);
  assert.throws(() => native.adamRows(p, m, v, Int32Array.of(0), g, 4, 0.9, 0.999, Number.NaN, 0.03, 1e-8), /stepSize must be finite/);
  assert.throws(() => native.adagradRows(p, m, new Uint32Array(1) as unknown as Int32Array, g, 4, 0.1, 1e-8), /ids must be null or a Int32Array/);
  assert.deepEqual([...p], new Array(8).fill(1));
  assert.deepEqual([...m], new Array(8).fill(0));
});

test('an empty id list updates no row (an empty typed array has no storage; it was taken for null: every row)', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const p = new Float32Array(8).fill(1);
  const [m, v] = [new Float32Array(8), new Float32Array(8)];
  native.adamRows(p, m, v, new Int32Array(0), new Float32Array(0), 4, 0.9, 0.999, 0.1, 0.03, 1e-8);
  native.adagradRows(p, m, new Int32Array(0), new Float32Array(0), 4, 0.1, 1e-8);
  assert.deepEqual([...p, ...m, ...v], [...new Array(8).fill(1), ...new Array(16).fill(0)]);
});
