import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CounterRng } from '../../src/random/index.js';
import { dirichlet, gamma, geometric, poisson, sampleDistinct, sampleUniformDistinct, searchCumulative } from '../../src/simulate/sampling.js';

const N = 40000;

/** |mean − μ| within 5 standard errors. */
function assertMean(xs: number[], mu: number, variance: number, what: string): void {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const se = Math.sqrt(variance / xs.length);
  assert.ok(Math.abs(mean - mu) < 5 * se, `${what}: mean ${mean} vs ${mu} (se ${se})`);
}

function sampleVar(xs: number[]): number {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1);
}

test('Gamma(shape) has mean shape and variance shape, for shape below and above 1', () => {
  for (const shape of [0.3, 1, 2.5]) {
    const st = new CounterRng(1).stream('simulate', 0, 0, Math.round(shape * 10));
    const xs = Array.from({ length: N }, () => gamma(st, shape));
    assert.ok(xs.every((x) => x >= 0));
    assertMean(xs, shape, shape, `gamma(${shape})`);
    const v = sampleVar(xs);
    assert.ok(Math.abs(v - shape) < 0.1 * shape, `gamma(${shape}) variance ${v}`);
  }
});

test('Dirichlet(α) rows sum to 1 with component mean 1/K and variance (1/K)(1−1/K)/(Kα+1)', () => {
  const k = 4;
  const alpha = 0.3;
  const st = new CounterRng(2).stream('simulate', 0, 0, 0);
  const w = new Float64Array(k);
  const first: number[] = [];
  for (let r = 0; r < N / 4; r++) {
    dirichlet(st, alpha, w);
    assert.ok(Math.abs(w.reduce((a, b) => a + b, 0) - 1) < 1e-12);
    first.push(w[0]);
  }
  const variance = ((1 / k) * (1 - 1 / k)) / (k * alpha + 1);
  assertMean(first, 1 / k, variance, 'dirichlet component');
  assert.ok(Math.abs(sampleVar(first) - variance) < 0.1 * variance);
});

test('Poisson(λ) and the geometric count have their closed-form means and variances', () => {
  const st = new CounterRng(3).stream('simulate', 0, 0, 0);
  for (const lambda of [0, 0.6, 7]) {
    const xs = Array.from({ length: N }, () => poisson(st, lambda));
    if (lambda === 0) assert.ok(xs.every((x) => x === 0));
    else {
      assertMean(xs, lambda, lambda, `poisson(${lambda})`);
      assert.ok(Math.abs(sampleVar(xs) - lambda) < 0.06 * lambda);
    }
  }
  const m = 7;
  const gs = Array.from({ length: N }, () => geometric(st, m));
  assert.ok(gs.every((g) => Number.isInteger(g) && g >= 0));
  assertMean(gs, m, m * (1 + m), 'geometric'); // variance (1−p)/p² with p = 1/(1+m)
  assert.throws(() => poisson(st, -1), RangeError);
});

test('searchCumulative finds the first entry above x, skipping zero-weight entries', () => {
  const cum = Float64Array.from([1, 1, 3, 6]); // weights 1, 0, 2, 3
  assert.deepEqual([0, 0.999, 1, 2.5, 3, 5.99].map((x) => searchCumulative(cum, 4, x)), [0, 0, 2, 2, 3, 3]);
});

test('sampleDistinct follows the Plackett–Luce law of sampling without replacement', () => {
  // weights 1, 2, 3, 4 (and item 4 excluded): P(first i, then j) = w_i/W · w_j/(W − w_i), W = 10.
  const weights = Float64Array.from([1, 2, 3, 4, 100]);
  const taken = new Int32Array(5);
  const cum = new Float64Array(5);
  const counts = new Map<string, number>();
  const trials = 30000;
  for (let t = 0; t < trials; t++) {
    taken[4] = t + 1; // excluded this round
    const st = new CounterRng(4).stream('simulate', 0, 0, t);
    const pick = sampleDistinct(st, weights, 5, 2, taken, t + 1, cum);
    assert.notEqual(pick[0], pick[1]);
    assert.ok(taken[pick[0]] === t + 1 && taken[pick[1]] === t + 1);
    const key = `${pick[0]},${pick[1]}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const w = [1, 2, 3, 4];
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 4; j++) {
      if (i === j) continue;
      const p = (w[i] / 10) * (w[j] / (10 - w[i]));
      const observed = (counts.get(`${i},${j}`) ?? 0) / trials;
      const se = Math.sqrt((p * (1 - p)) / trials);
      assert.ok(Math.abs(observed - p) < 5 * se, `P(${i},${j}) ${observed} vs ${p}`);
    }
  }
  assert.equal(counts.get('4,0') ?? 0, 0);
});

test('sampleDistinct stays exact when one item holds nearly all the weight (the rebuild path)', () => {
  const weights = Float64Array.from([1e9, 1, 1, 1, 1]);
  const taken = new Int32Array(5);
  const cum = new Float64Array(5);
  const st = new CounterRng(5).stream('simulate', 0, 0, 0);
  const pick = sampleDistinct(st, weights, 5, 5, taken, 1, cum);
  assert.equal(pick[0], 0);
  assert.deepEqual(Array.from(pick).sort(), [0, 1, 2, 3, 4]);
  assert.throws(() => sampleDistinct(st, weights, 5, 1, taken, 1, cum), /no weight left/);
});

test('sampleUniformDistinct avoids taken items and is uniform over the rest', () => {
  const taken = new Int32Array(6);
  const hits = new Float64Array(6);
  for (let t = 1; t <= 6000; t++) {
    taken[2] = t;
    const st = new CounterRng(6).stream('simulate', 0, 0, t);
    for (const i of sampleUniformDistinct(st, 6, 2, taken, t)) hits[i]++;
  }
  assert.equal(hits[2], 0);
  for (const i of [0, 1, 3, 4, 5]) assert.ok(Math.abs(hits[i] / 12000 - 0.2) < 5 * Math.sqrt(0.16 / 12000), `item ${i}: ${hits[i]}`);
});
