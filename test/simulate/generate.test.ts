import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gini, resolveSettings, simStatistics, simulate, splitSizes, type SimEdges, type SimulatedData } from '../../src/simulate/index.js';

const tiny = resolveSettings('tiny');
const data = simulate(tiny, 1);

function sameArrays(a: SimulatedData, b: SimulatedData): boolean {
  const eq = (x: ArrayLike<number>, y: ArrayLike<number>) => x.length === y.length && Array.prototype.every.call(x, (v: number, i: number) => v === y[i]);
  return (
    eq(a.itemEnv, b.itemEnv) &&
    eq(a.train.items, b.train.items) &&
    eq(a.train.users, b.train.users) &&
    eq(a.train.noise, b.train.noise) &&
    eq(a.test.items, b.test.items) &&
    a.modalities.every((m, k) => eq(m.features, b.modalities[k].features))
  );
}

test('the same seed gives the same data; another seed gives other data', () => {
  assert.ok(sameArrays(data, simulate(tiny, 1)));
  assert.ok(!sameArrays(data, simulate(tiny, 2)));
});

/** Per-user item sets of a split. */
function sets(e: SimEdges, users: number): Set<number>[] {
  const out = Array.from({ length: users }, () => new Set<number>());
  for (let j = 0; j < e.users.length; j++) out[e.users[j]].add(e.items[j]);
  return out;
}

test('splits are sorted by (user, item), disjoint per user, and every user has train, valid and test edges', () => {
  for (const e of [data.train, data.valid, data.test]) {
    for (let j = 1; j < e.users.length; j++) {
      const before = e.users[j - 1] < e.users[j] || (e.users[j - 1] === e.users[j] && e.items[j - 1] < e.items[j]);
      assert.ok(before, `edge ${j} out of order`);
    }
  }
  const [tr, va, te] = [data.train, data.valid, data.test].map((e) => sets(e, tiny.users));
  for (let u = 0; u < tiny.users; u++) {
    assert.ok(tr[u].size > 0 && va[u].size > 0 && te[u].size > 0, `user ${u}`);
    for (const i of va[u]) assert.ok(!tr[u].has(i) && !te[u].has(i));
    for (const i of te[u]) assert.ok(!tr[u].has(i));
  }
  // the clean part of each user's history has the 8:1:1-style sizes of splitSizes
  const clean = new Int32Array(tiny.users);
  for (let j = 0; j < data.train.users.length; j++) if (data.train.noise[j] === 0) clean[data.train.users[j]]++;
  for (let u = 0; u < tiny.users; u++) {
    const n = clean[u] + va[u].size + te[u].size;
    assert.deepEqual({ train: clean[u], valid: va[u].size, test: te[u].size }, splitSizes(n, tiny), `user ${u}`);
    assert.ok(n >= tiny.minPerUser);
  }
});

test('the injected noise fraction of train matches the noise rate within sampling error', () => {
  for (const rate of [0.05, 0.2]) {
    const s = resolveSettings('tiny', { noiseRate: rate, users: 1500 });
    const d = simulate(s, 3);
    let noise = 0;
    for (const f of d.train.noise) noise += f;
    const clean = d.train.noise.length - noise;
    // noise ~ Poisson(ρ/(1−ρ) · clean): within 4 standard deviations
    const expected = (rate / (1 - rate)) * clean;
    assert.ok(Math.abs(noise - expected) < 4 * Math.sqrt(expected), `rate ${rate}: ${noise} noise edges, expected ${expected}`);
  }
  const none = simulate(resolveSettings('tiny', { noiseRate: 0 }), 1);
  assert.ok(none.train.noise.every((f) => f === 0));
});

test('all K environments are used, in proportions consistent with a uniform draw', () => {
  const counts = new Float64Array(tiny.k);
  for (const z of data.itemEnv) counts[z]++;
  const p = 1 / tiny.k;
  const sd = Math.sqrt(tiny.items * p * (1 - p));
  for (const c of counts) assert.ok(Math.abs(c - tiny.items * p) < 4 * sd, `environment size ${c}`);
});

test('each modality has the stated signal-to-noise ratio, and float32 features', () => {
  for (const snr of [0.5, 2]) {
    const d = simulate(resolveSettings('tiny', { snr }), 1);
    for (const m of d.modalities) {
      assert.ok(m.features instanceof Float32Array);
      assert.equal(m.features.length, tiny.items * m.dim);
      let signal = 0;
      let noise = 0;
      for (let j = 0; j < m.features.length; j++) {
        signal += m.signal[j] ** 2;
        noise += (m.features[j] - m.signal[j]) ** 2;
      }
      // noise power over n = items·dim Gaussian draws has relative sd √(2/n): allow 5 of them
      const n = m.features.length;
      const ratio = signal / noise;
      assert.ok(Math.abs(ratio / snr - 1) < 5 * Math.sqrt(2 / n), `${m.name}: SNR ${ratio} vs ${snr}`);
    }
  }
});

test('environments drive the features: items of one environment are closer to their own mean', () => {
  // with almost no noise and the environment holding 90% of the signal, the true-mean classifier is nearly exact;
  // at the default settings it is noisy (docs/simulator.md §4) but far above chance 1/K
  const clean = simStatistics(simulate(resolveSettings('tiny', { snr: 100, envShare: 0.9 }), 1));
  assert.ok(clean.oracleEnvAccuracy > 0.97, `${clean.oracleEnvAccuracy}`);
  const noisy = simStatistics(simulate(resolveSettings('tiny', { snr: 0.05, envShare: 0.05 }), 1));
  assert.ok(noisy.oracleEnvAccuracy < clean.oracleEnvAccuracy - 0.3, `${noisy.oracleEnvAccuracy}`);
});

test('default settings: confounded exposure in train/valid, not in test; the claims of docs/simulator.md §4', () => {
  const d = simulate(resolveSettings('default'), 1);
  const st = simStatistics(d);
  // popularity skew: train and valid follow the Zipf exposure, the test split much less
  assert.ok(st.gini.trainClean > st.gini.test + 0.1, JSON.stringify(st.gini));
  assert.ok(st.gini.valid > st.gini.test + 0.1, JSON.stringify(st.gini));
  // clicks follow the user's confounder mixture in train and valid (affinity ≫ 1), not in test or noise (≈ 1 or less)
  assert.ok(st.envAffinity.trainClean > 1.8 && st.envAffinity.valid > 1.8, JSON.stringify(st.envAffinity));
  assert.ok(st.envAffinity.test < 1.1 && Math.abs(st.envAffinity.trainNoise - 1) < 0.1, JSON.stringify(st.envAffinity));
  // the environment is recoverable from the features, but only noisily
  assert.ok(st.oracleEnvAccuracy > 0.5 && st.oracleEnvAccuracy < 0.95, `${st.oracleEnvAccuracy}`);
  // on the unconfounded test split, true preference ranks far better than the confounded click law
  assert.ok(st.oracleTestRecall20.truePreference > 1.5 * st.oracleTestRecall20.confounded, JSON.stringify(st.oracleTestRecall20));
  // popular items (top 5% by exposure propensity) take a larger share of train clicks than of test clicks
  const cut = Float64Array.from(d.itemExposure).sort().reverse()[Math.floor(0.05 * d.settings.items)];
  const share = (items: Int32Array) => items.reduce((a, i) => a + (d.itemExposure[i] > cut ? 1 : 0), 0) / items.length;
  assert.ok(share(d.train.items) > 2 * share(d.test.items), `${share(d.train.items)} vs ${share(d.test.items)}`);
});

test('gini is 0 for equal counts and (n−1)/n when one item has them all', () => {
  assert.equal(gini(Float64Array.from([3, 3, 3, 3])), 0);
  assert.ok(Math.abs(gini(Float64Array.from([0, 0, 0, 8])) - 0.75) < 1e-12);
});
