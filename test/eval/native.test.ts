import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createEvaluator, mergeTotals, metricMeans } from '../../src/eval/index.js';
import { nativeFor } from '../native/fixtures.js';
import { randomSplit } from './fixtures.js';
import { referenceEvaluate } from './reference.js';

const KS = [1, 5, 10, 20];

test('the native evaluator matches the brute-force reference and the wasm evaluator', async (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const [nat, wasm] = await Promise.all([createEvaluator({ threads: 2, native }), createEvaluator({ threads: 2, kernel: 'wasm' })]);
  try {
    assert.equal(nat.kernel, 'native');
    for (const seed of [1, 2, 3]) {
      // integer embeddings: exact scores, many ties, so the tie-break is checked too
      const s = randomSplit(seed, { nUsers: 90, nItems: 131, dim: 16, trainPerUser: [0, 12], truthPerUser: [0, 4], levels: 2 });
      const ref = referenceEvaluate(s, KS);
      const res = await nat.evaluate({ ...s, ks: KS });
      assert.equal(res.users, ref.users);
      for (const [k, v] of Object.entries(ref.metrics)) assert.ok(Math.abs(res.metrics[k] - v) <= 1e-12, `${k}: ${res.metrics[k]} vs ${v}`);
      assert.deepEqual(res.metrics, (await wasm.evaluate({ ...s, ks: KS })).metrics);
      // Ranges merge into the whole evaluation here too (docs/distributed.md: sharded evaluation).
      const cut = Math.floor(res.users / 3);
      const parts = [await nat.evaluateRange({ ...s, ks: KS }, { start: 0, end: cut }), await nat.evaluateRange({ ...s, ks: KS }, { start: cut, end: res.users })];
      const merged = metricMeans(mergeTotals(parts));
      for (const [k, v] of Object.entries(res.metrics)) assert.ok(Math.abs(merged[k] - v) <= 1e-12 * Math.abs(v), `${k}: ranges ${merged[k]} vs whole ${v}`);
    }
  } finally {
    await Promise.all([nat.close(), wasm.close()]);
  }
});
