import { test } from 'node:test';
import assert from 'node:assert/strict';
import { codesByUse, effectiveRank, explainFigure, histogram, pca2, project, sampleItems } from '../../src/cli/explain-figure.js';
import { rng } from '../compute/helpers.js';
import { escapeXml, niceCeiling, px } from '../../src/report/svg.js';

test('niceCeiling: the axis top is the next 1, 2, 2.5 or 5 × 10^k; escapeXml; px has no -0.0', () => {
  assert.deepEqual([0.0279, 0.25, 0.26, 0.8, 43.9, 1, 0, NaN].map(niceCeiling), [0.05, 0.25, 0.5, 1, 50, 1, 1, 1]);
  assert.equal(escapeXml('<&>"'), '&lt;&amp;&gt;&quot;');
  assert.deepEqual([px(-0.01), px(1.26), px(-2)], ['0.0', '1.3', '-2.0']);
});

test('pca2 recovers a planted plane: axes, variances, projections', () => {
  // x = 3·a·e1' + 1·b·e2' + 0.01·noise in 5 dimensions, e1' and e2' orthonormal but not coordinate axes
  const r = rng(4);
  const n = 2000;
  const dim = 5;
  const e1 = [1, 1, 0, 0, 0].map((v) => v / Math.SQRT2);
  const e2 = [0, 0, 1, -1, 0].map((v) => v / Math.SQRT2);
  const x = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const a = r.nextNormal() * 3;
    const b = r.nextNormal();
    for (let c = 0; c < dim; c++) x[i * dim + c] = 7 + a * e1[c] + b * e2[c] + 0.01 * r.nextNormal();
  }
  const p = pca2(x, n, dim);
  const dot = (u: ArrayLike<number>, v: ArrayLike<number>) => Array.from(u).reduce((s, ui, c) => s + ui * v[c], 0);
  assert.ok(Math.abs(Math.abs(dot(p.axes[0], e1)) - 1) < 1e-3, `axis 1 ${p.axes[0]}`);
  assert.ok(Math.abs(Math.abs(dot(p.axes[1], e2)) - 1) < 1e-3, `axis 2 ${p.axes[1]}`);
  assert.ok(Math.abs(dot(p.axes[0], p.axes[1])) < 1e-6);
  assert.ok(Math.abs(p.variance[0] / 9 - 1) < 0.1 && Math.abs(p.variance[1] - 1) < 0.1, `variances ${p.variance}`);
  assert.ok(p.mean.every((m) => Math.abs(m - 7) < 0.3));
  // the projection is the centred row on the axes
  const [u, v] = project(p, x, 3, dim);
  const row = Array.from(x.subarray(3 * dim, 4 * dim), (val, c) => val - p.mean[c]);
  assert.ok(Math.abs(u - dot(row, p.axes[0])) < 1e-9 && Math.abs(v - dot(row, p.axes[1])) < 1e-9);
});

test('sampleItems, codesByUse and histogram', () => {
  assert.deepEqual(Array.from(sampleItems(3, 5)), [0, 1, 2]);
  assert.deepEqual(Array.from(sampleItems(10, 4)), [0, 2, 5, 7]);
  assert.deepEqual(codesByUse(Int32Array.from([2, 2, 0, 2, 0, 3]), 5), [2, 0, 3, 1, 4]);
  const h = histogram([0, 1, 2, 3, 4], 4);
  assert.deepEqual([h.lo, h.hi, h.counts], [0, 4, [1, 1, 1, 2]]);
  assert.deepEqual(histogram([5, 5], 3).counts, [2, 0, 0]);
});

function explanation(withEdges: boolean, withEnvs: boolean) {
  const r = rng(9);
  const n = 30;
  const dim = 3;
  const z = Float32Array.from({ length: n * dim }, () => r.nextNormal());
  return {
    edgeUsers: Int32Array.from([0, 0, 1, 1]),
    edgeItems: Int32Array.from([0, 1, 0, 2]),
    edgeScores: withEdges ? Float32Array.from([1, 1, 0.5, 0]) : null,
    edgeLogits: withEdges ? Float32Array.from([4, 9, 0, -5]) : null,
    environments: withEnvs
      ? [{ modality: 'image<1>', codes: Int32Array.from({ length: n }, (_, i) => i % 4), confidence: new Float32Array(n).fill(0.5), z, codebook: Float32Array.from({ length: 4 * dim }, () => r.nextNormal()), dim }]
      : [],
  };
}

test('explain.svg: a point per item and a cross per code per modality, a bin per histogram bar summing to the edges, saturation counted', () => {
  const svg = explainFigure(explanation(true, true), { title: 't', codebookSize: 4 })!;
  assert.equal((svg.match(/<circle class="item"/g) ?? []).length, 30);
  assert.equal((svg.match(/<path class="code"/g) ?? []).length, 4);
  const bins = [...svg.matchAll(/<rect class="bin" data-count="(\d+)"/g)].map((m) => Number(m[1]));
  assert.equal(bins.length, 40);
  assert.equal(bins.reduce((a, b) => a + b, 0), 4);
  assert.match(svg, /gates exactly 1 \(kept\): 2 \(50\.0%\); exactly 0 \(pruned\): 1 \(25\.0%\)/);
  assert.match(svg, /Environments \(image&lt;1&gt;\)/);
  assert.ok(!/NaN/.test(svg), 'no NaN coordinates');
  const noEdges = explainFigure(explanation(false, true), { title: 't', codebookSize: 4 })!;
  assert.doesNotMatch(noEdges, /class="edge-mask"/);
  const noEnvs = explainFigure(explanation(true, false), { title: 't', codebookSize: 4 })!;
  assert.doesNotMatch(noEnvs, /class="environments"/);
  assert.equal(explainFigure(explanation(false, false), { title: 't', codebookSize: 4 }), null);
});

test('effectiveRank: exp of the eigenvalue shares\' entropy (k equal directions → k)', () => {
  assert.ok(Math.abs(effectiveRank([2, 2, 2, 0]) - 3) < 1e-12);
  assert.equal(effectiveRank([5, 0, 0]), 1);
  assert.equal(effectiveRank([0, 0]), 0);
  assert.ok(effectiveRank([0.65, 0.35, 1e-4]) < 2 && effectiveRank([0.65, 0.35, 1e-4]) > 1.9);
});
