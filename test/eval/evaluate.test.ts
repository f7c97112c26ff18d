import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../../src/errors/index.js';
import { createEvaluator, evaluate, evaluatedUsers, mergeTotals, metricMeans, type Evaluator, type EvalData, type ScoreKernel } from '../../src/eval/index.js';
import { csrFromRows, randomSplit, type RandomSplit, type SplitShape } from './fixtures.js';
import { referenceEvaluate } from './reference.js';

const KS = [1, 5, 10, 20];

function assertMetricsClose(actual: Record<string, number>, expected: Record<string, number>, tol: number): void {
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort());
  for (const [key, v] of Object.entries(expected)) {
    assert.ok(Math.abs(actual[key] - v) <= tol, `${key}: ${actual[key]} vs reference ${v}`);
  }
}

/** Random shapes with a item count that is not a multiple of 4 and users without ground truth. */
const SHAPE: SplitShape = { nUsers: 61, nItems: 103, dim: 16, trainPerUser: [0, 12], truthPerUser: [0, 4] };

/** One user, dim 1: item j scores itemScores[j], so rankings can be written by hand. */
function handMade(itemScores: number[], train: number[], truth: number[]): EvalData {
  const nItems = itemScores.length;
  return {
    userEmb: Float32Array.of(1),
    itemEmb: Float32Array.from(itemScores),
    dim: 1,
    nUsers: 1,
    nItems,
    mask: csrFromRows(nItems, [train]),
    truth: csrFromRows(nItems, [truth]),
    ks: [1, 3, 5],
  };
}

for (const kernel of ['js', 'wasm'] as ScoreKernel[]) {
  describe(`evaluate (kernel ${kernel})`, () => {
    let two: Evaluator;
    let one: Evaluator;
    before(async () => {
      [two, one] = await Promise.all([createEvaluator({ threads: 2, kernel }), createEvaluator({ threads: 1, kernel })]);
    });
    after(async () => {
      await Promise.all([two.close(), one.close()]);
    });

    it('matches the brute-force reference on integer embeddings (exact scores, many ties)', async () => {
      for (const seed of [1, 2, 3]) {
        const s = randomSplit(seed, { ...SHAPE, levels: 2 });
        const ref = referenceEvaluate(s, KS);
        const res = await two.evaluate({ ...s, ks: KS, userBatch: 7 });
        assert.equal(res.users, ref.users);
        assertMetricsClose(res.metrics, ref.metrics, 1e-12);
      }
    });

    it('matches the brute-force reference on continuous embeddings', async () => {
      const s = randomSplit(4, { ...SHAPE, nUsers: 200, dim: 64 });
      const ref = referenceEvaluate(s, KS);
      const res = await two.evaluate({ ...s, ks: KS });
      assert.equal(res.users, ref.users);
      // js rounds the same float64 sums as the reference; XNNPACK sums in float32 in its own order, which can
      // at most reorder near-equal scores: allow that for one user.
      assertMetricsClose(res.metrics, ref.metrics, kernel === 'js' ? 1e-12 : 1 / ref.users);
    });

    it('gives identical metrics with 1 or 2 threads and any user block size', async () => {
      const s = randomSplit(5, { ...SHAPE, nUsers: 150 });
      const base = await one.evaluate({ ...s, ks: KS, userBatch: 1 });
      for (const [ev, userBatch] of [[one, 64], [two, 1], [two, 7], [two, undefined]] as const) {
        const res = await ev.evaluate({ ...s, ks: KS, userBatch });
        assert.deepEqual(res.metrics, base.metrics, `threads=${ev.threads} userBatch=${userBatch}`);
        assert.equal(res.users, base.users);
      }
    });

    it('masks train items: the top-scoring train item never ranks or counts', async () => {
      // Item 0 scores highest but is a train item; item 1 is the best remaining item.
      const res = await two.evaluate(handMade([9, 8, 7, 6], [0], [1]));
      assert.equal(res.metrics['recall@1'], 1);
      assert.equal(res.metrics['mrr@5'], 1);
      // A ground-truth item that is also a train item is never a hit, but counts in |GT|.
      const both = await two.evaluate(handMade([9, 8, 7, 6], [0], [0, 1]));
      assert.equal(both.metrics['recall@5'], 1 / 2);
      assert.equal(both.metrics['mrr@5'], 1);
      assert.equal(both.metrics['precision@1'], 1);
    });

    it('breaks score ties by the lower item id', async () => {
      const flat = [1, 1, 1, 1, 1, 1];
      assert.equal((await two.evaluate(handMade(flat, [], [3]))).metrics['mrr@5'], 1 / 4);
      assert.equal((await two.evaluate(handMade(flat, [1], [3]))).metrics['mrr@5'], 1 / 3);
      const res = await two.evaluate(handMade([2, 5, 5, 2, 5], [], [4, 3]));
      // Ranking: 1, 2, 4 (score 5), then 0, 3 (score 2).
      assert.equal(res.metrics['mrr@5'], 1 / 3);
      assert.ok(Math.abs(res.metrics['ndcg@5'] - (1 / 2 + 1 / Math.log2(6)) / (1 + 1 / Math.log2(3))) < 1e-12);
    });

    it('ranks right when every score is negative (row padding must never count as an item)', async () => {
      // 103 items at K = 20 pad each score row with one column; item j scores -(j + 1).
      const scores = Array.from({ length: 103 }, (_, j) => -(j + 1));
      const res = await two.evaluate({ ...handMade(scores, [], [19]), ks: [20] });
      assert.equal(res.metrics['mrr@20'], 1 / 20);
      const masked = await two.evaluate({ ...handMade(scores, [0, 5], [21]), ks: [20] });
      assert.equal(masked.metrics['mrr@20'], 1 / 20);
    });

    it('evaluates only users with ground truth', async () => {
      const s = randomSplit(6, { ...SHAPE, truthPerUser: [1, 3] });
      // Double the users; the new ones have embeddings and train items but no ground truth.
      const grown: RandomSplit = {
        ...s,
        nUsers: 2 * s.nUsers,
        userEmb: Float32Array.from([...s.userEmb, ...s.userEmb.map((x) => -x)]),
        mask: csrFromRows(s.nItems, Array.from({ length: 2 * s.nUsers }, (_, u) => [u % s.nItems])),
        truth: csrFromRows(s.nItems, Array.from({ length: 2 * s.nUsers }, (_, u) =>
          u < s.nUsers ? [...s.truth.indices.subarray(s.truth.indptr[u], s.truth.indptr[u + 1])] : [])),
      };
      const res = await two.evaluate({ ...grown, ks: KS });
      const ref = referenceEvaluate(grown, KS);
      assert.equal(res.users, s.nUsers);
      assert.equal(ref.users, s.nUsers);
      assertMetricsClose(res.metrics, ref.metrics, 1e-12);
    });

    it('pads lists when fewer items than K are left, and counts K in precision', async () => {
      const res = await two.evaluate({ ...handMade([3, 2, 1], [2], [1]), ks: [2, 5] });
      assert.equal(res.metrics['precision@5'], 1 / 5);
      assert.equal(res.metrics['mrr@5'], 1 / 2);
    });

    it('uses the latest data on a warm evaluator', async () => {
      const a = randomSplit(7, { ...SHAPE, levels: 3 });
      const b = randomSplit(8, { ...SHAPE, nItems: 57, dim: 5, levels: 3 });
      for (const s of [a, b, a]) {
        const res = await two.evaluate({ ...s, ks: KS });
        assertMetricsClose(res.metrics, referenceEvaluate(s, KS).metrics, 1e-12);
      }
    });

    it('ranges of the evaluated users merge into the whole evaluation (sums, user count, means)', async () => {
      const s = randomSplit(14, { ...SHAPE, nUsers: 150, dim: 24 });
      const whole = await two.evaluate({ ...s, ks: KS, userBatch: 16 });
      const n = evaluatedUsers(s.truth).length;
      assert.equal(n, whole.users);
      assert.ok(n > 100 && n < 150, 'some users have no ground truth and are not counted');
      for (const cuts of [[0, n], [0, 1, n], [0, 37, 38, 90, n], [0, 0, 60, n, n]]) {
        const parts = await Promise.all(cuts.slice(1).map((end, i) => one.evaluateRange({ ...s, ks: KS, userBatch: 7 }, { start: cuts[i], end })));
        parts.forEach((p, i) => assert.equal(p.users, cuts[i + 1] - cuts[i], `range ${i} counts its own users`));
        const merged = mergeTotals(parts);
        assert.equal(merged.users, whole.users);
        const means = metricMeans(merged);
        assert.deepEqual(Object.keys(means), Object.keys(whole.metrics), 'the same metrics in the same order');
        for (const [k, v] of Object.entries(whole.metrics)) {
          assert.ok(Math.abs(means[k] - v) <= 1e-12 * Math.abs(v), `cuts ${cuts}: ${k} ${means[k]} vs whole ${v}`);
        }
      }
    });

    it('refuses a range outside the evaluated users', async () => {
      const s = randomSplit(15, SHAPE);
      const n = evaluatedUsers(s.truth).length;
      for (const r of [{ start: -1, end: 2 }, { start: 3, end: 2 }, { start: 0, end: n + 1 }, { start: 0.5, end: 2 }]) {
        await assert.rejects(two.evaluateRange({ ...s, ks: KS }, r), new RegExp(`range \\[${r.start}, ${r.end}\\) is not within the ${n} evaluated users`));
      }
    });

    it('runs concurrent calls one after another, each with its own result', async () => {
      const a = randomSplit(9, { ...SHAPE, levels: 3 });
      const b = randomSplit(10, { ...SHAPE, levels: 3 });
      const [ra, rb] = await Promise.all([two.evaluate({ ...a, ks: KS }), two.evaluate({ ...b, ks: KS })]);
      assertMetricsClose(ra.metrics, referenceEvaluate(a, KS).metrics, 1e-12);
      assertMetricsClose(rb.metrics, referenceEvaluate(b, KS).metrics, 1e-12);
    });
  });
}

describe('evaluate (one-shot)', () => {
  it('defaults to K in {5, 10, 20, 50} and matches the reference', async () => {
    const s = randomSplit(12, { ...SHAPE, levels: 2 });
    const res = await evaluate({ ...s, threads: 2 });
    assert.ok(res.seconds > 0);
    assertMetricsClose(res.metrics, referenceEvaluate(s, [5, 10, 20, 50]).metrics, 1e-12);
  });

  it('rejects bad cut-offs, block sizes, shapes and non-finite embeddings', async () => {
    const s = randomSplit(13, SHAPE);
    const ev = await createEvaluator({ threads: 1, kernel: 'js' });
    try {
      await assert.rejects(ev.evaluate({ ...s, ks: [] }), ConfigError);
      await assert.rejects(ev.evaluate({ ...s, ks: [5, 0] }), ConfigError);
      await assert.rejects(ev.evaluate({ ...s, userBatch: 2.5 }), ConfigError);
      await assert.rejects(ev.evaluate({ ...s, dim: s.dim + 1 }), RangeError);
      await assert.rejects(ev.evaluate({ ...s, nItems: s.nItems - 1 }), RangeError);
      const nan = s.itemEmb.slice();
      nan[5] = NaN;
      await assert.rejects(ev.evaluate({ ...s, itemEmb: nan }), /itemEmb\[0, 5\] is NaN/);
      // A failed call leaves the evaluator usable.
      assert.ok((await ev.evaluate(s)).users > 0);
    } finally {
      await ev.close();
    }
    await assert.rejects(ev.evaluate(s), /closed/);
    await assert.rejects(createEvaluator({ threads: 0 }), ConfigError);
  });

  it('never keeps the process alive: a warm evaluator left open still lets node exit', () => {
    const child = fileURLToPath(new URL('./keepalive-child.ts', import.meta.url));
    for (const kernel of ['wasm', 'js']) {
      const run = spawnSync(process.execPath, ['--import', 'tsx', child, kernel], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(run.signal, null, `${kernel}: killed after the timeout, so the workers held the process open`);
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stdout, /^\d+\n$/);
    }
  });
});
