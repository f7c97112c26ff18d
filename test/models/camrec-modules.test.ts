import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { configureCompute, initBackend, shutdownCompute, tf } from '../../src/compute/index.js';
import { nativeKernels } from '../../src/compute/pool.js';
import { codebookPerplexity, nearestCodes, softAssignment, softQuantize, straightThrough, vqLoss } from '../../src/models/modules/codebook.js';
import { forwardNoise, linearSchedule } from '../../src/models/modules/diffusion.js';
import { concreteMask } from '../../src/models/modules/edge-mask.js';
import { infoNce } from '../../src/models/modules/infonce.js';
import { intPerRow, normalRows, uniformRows } from '../../src/models/modules/noise.js';
import { matMul, mse, stopGradient } from '../../src/models/modules/ops.js';
import { knnFromFeatures, knnItemGraph, mixGraphs, modalityWeights } from '../../src/models/modules/semantic-graph.js';
import { assertClose, randomFloats, rng } from '../compute/helpers.js';

before(async () => {
  await initBackend('wasm');
});
after(shutdownCompute);

const at = { seed: 7, purpose: 'noise' as const, epoch: 2, step: 3 };

test('row noise: standard normal moments, reproducible by coordinates, independent of how rows are split', () => {
  const all = normalRows(at, 400, 64);
  let s = 0;
  let s2 = 0;
  for (const v of all) {
    s += v;
    s2 += v * v;
  }
  const n = all.length;
  assert.ok(Math.abs(s / n) < 0.02, `mean ${s / n}`);
  assert.ok(Math.abs(s2 / n - 1) < 0.03, `variance ${s2 / n}`);
  // rows 100..199 drawn alone are the same numbers: a draw depends on its coordinates only
  assert.deepEqual(normalRows(at, 100, 64, 100), all.subarray(100 * 64, 200 * 64));
  assert.notDeepEqual(normalRows({ ...at, step: 4 }, 1, 64), all.subarray(0, 64));
  const u = uniformRows(at, 5000, 2);
  assert.ok(u.every((x) => x > 0 && x < 1));
  const mean = u.reduce((a, b) => a + b, 0) / u.length;
  assert.ok(Math.abs(mean - 0.5) < 0.01, `uniform mean ${mean}`);
  const steps = intPerRow(at, 4000, 20);
  const counts = new Array(20).fill(0);
  for (const t of steps) counts[t]++;
  assert.ok(counts.every((c) => c > 120 && c < 280), `step counts ${counts}`);
});

test('diffusion schedule: ᾱ_t is the product of (1 − β_s); forward noise is √ᾱ h0 + √(1 − ᾱ) ε', () => {
  const s = linearSchedule(20, 1e-4, 0.02);
  assert.ok(Math.abs(s.betas[0] - 1e-4) < 1e-12 && Math.abs(s.betas[19] - 0.02) < 1e-12);
  let prod = 1;
  for (let t = 0; t < 20; t++) {
    prod *= 1 - s.betas[t];
    assert.ok(Math.abs(s.sqrtAlphaBar[t] ** 2 - prod) < 1e-6);
    assert.ok(Math.abs(s.sqrtAlphaBar[t] ** 2 + s.sqrtOneMinusAlphaBar[t] ** 2 - 1) < 1e-6);
  }
  const h0 = [1, -2, 0.5, 3];
  const eps = [0.3, 0.1, -1, 2];
  const steps = Int32Array.from([0, 19]);
  const got = tf.tidy(() => forwardNoise(tf.tensor2d(h0, [2, 2]), steps, tf.tensor2d(eps, [2, 2]), s).dataSync());
  const want = h0.map((v, k) => {
    const t = steps[Math.floor(k / 2)];
    return s.sqrtAlphaBar[t] * v + s.sqrtOneMinusAlphaBar[t] * eps[k];
  });
  assertClose(got, want, 1e-6, 1e-6, 'h_t');
  const mean = tf.tidy(() => forwardNoise(tf.tensor2d(h0, [2, 2]), steps, null, s).dataSync());
  assertClose(mean, h0.map((v, k) => s.sqrtAlphaBar[steps[Math.floor(k / 2)]] * v), 1e-6, 1e-6, 'noise-free');
  assert.throws(() => linearSchedule(0, 1e-4, 0.02), /steps must be ≥ 1/);
});

test('codebook: nearest code, straight-through gradient is the identity in z and nothing in c, VQ loss gradient in closed form', () => {
  const r = rng(3);
  const [n, k, d] = [9, 4, 3];
  const zv = randomFloats(r, n * d);
  const cv = randomFloats(r, k * d);
  const z = tf.tensor2d(zv, [n, d]);
  const c = tf.tensor2d(cv, [k, d]);
  const codes = nearestCodes(z, c);
  for (let i = 0; i < n; i++) {
    const dist = (j: number) => [0, 1, 2].reduce((s, x) => s + (zv[i * d + x] - cv[j * d + x]) ** 2, 0);
    for (let j = 0; j < k; j++) assert.ok(dist(codes[i]) <= dist(j) + 1e-6, `row ${i}: code ${codes[i]} is not nearest`);
  }
  const upstream = tf.tensor2d(randomFloats(r, n * d), [n, d]);
  const [gz, gc] = tf.grads((zz: tf.Tensor, cc: tf.Tensor) => tf.sum(tf.mul(straightThrough(zz as tf.Tensor2D, cc as tf.Tensor2D, codes), upstream)))([z, c]);
  assertClose(gz.dataSync(), upstream.dataSync(), 0, 1e-6, '∂/∂z');
  assert.ok(gc.dataSync().every((v) => v === 0), 'no gradient reaches the codebook through the straight-through path');
  const value = tf.tidy(() => straightThrough(z, c, codes).dataSync());
  for (let i = 0; i < n; i++) assertClose(value.subarray(i * d, i * d + d), cv.subarray(codes[i] * d, codes[i] * d + d), 1e-5, 1e-6, `value row ${i}`);
  // L = mean‖sg(z) − c_k‖² + β mean‖z − sg(c_k)‖²:  ∂L/∂c_j = Σ_{i: k_i = j} 2 (c_j − z_i) / (n d),  ∂L/∂z_i = 2β (z_i − c_k) / (n d)
  const beta = 0.25;
  const [lz, lc] = tf.grads((zz: tf.Tensor, cc: tf.Tensor) => vqLoss(zz as tf.Tensor2D, cc as tf.Tensor2D, codes, beta))([z, c]);
  const wantC = new Float64Array(k * d);
  const wantZ = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let x = 0; x < d; x++) {
      const diff = cv[codes[i] * d + x] - zv[i * d + x];
      wantC[codes[i] * d + x] += (2 * diff) / (n * d);
      wantZ[i * d + x] = (-2 * beta * diff) / (n * d);
    }
  }
  assertClose(lc.dataSync(), wantC, 1e-4, 1e-6, '∂L_vq/∂c');
  assertClose(lz.dataSync(), wantZ, 1e-4, 1e-6, '∂L_vq/∂z');
  tf.dispose([z, c, upstream, gz, gc, lz, lc]);
});

test('codebook: the straight-through op gives the bits of the composed z + stopGradient(c_k − z), value and both gradients, in a loss that also reads c', () => {
  const r = rng(31);
  const [n, k, d] = [700, 50, 64];
  const z = tf.tensor2d(randomFloats(r, n * d), [n, d]);
  const c = tf.tensor2d(randomFloats(r, k * d), [k, d]);
  const codes = nearestCodes(z, c);
  const upstream = tf.tensor2d(randomFloats(r, n * d), [n, d]);
  const composed = (zz: tf.Tensor2D, cc: tf.Tensor2D) => tf.add(zz, stopGradient(tf.sub(tf.gather(cc, tf.tensor1d(codes, 'int32')), zz))) as tf.Tensor2D;
  const bits = (t: tf.Tensor) => Array.from(new Uint32Array(Float32Array.from(t.dataSync()).buffer));
  const run = (st: typeof straightThrough | typeof composed) =>
    tf.tidy(() => {
      // as in the model: the codebook also gets the VQ loss's gradient, added to the straight-through path's zeros
      const f = (zz: tf.Tensor, cc: tf.Tensor) =>
        tf.add(tf.sum(tf.mul(st(zz as tf.Tensor2D, cc as tf.Tensor2D, codes), upstream)), vqLoss(zz as tf.Tensor2D, cc as tf.Tensor2D, codes, 0.2));
      const { value, grads } = tf.valueAndGrads(f)([z, c]);
      return { value: bits(st(z, c, codes)), loss: bits(value), gz: bits(grads[0]), gc: bits(grads[1]) };
    });
  const ours = run(straightThrough);
  const theirs = run(composed);
  assert.deepEqual(ours.value, theirs.value, 'value');
  assert.deepEqual(ours.loss, theirs.loss, 'loss');
  assert.deepEqual(ours.gz, theirs.gz, '∂/∂z');
  assert.deepEqual(ours.gc, theirs.gc, '∂/∂c');
  tf.dispose([z, c, upstream]);
});

test('codebook: the soft assignment is a softmax over NEGATIVE distances, so the nearest code weighs most', () => {
  const z = tf.tensor2d([0, 0, 5, 5], [2, 2]);
  const c = tf.tensor2d([0, 0.1, 5, 4.9, 10, 10], [3, 2]);
  const q = softAssignment(z, c, 1).arraySync() as number[][];
  assert.ok(q[0][0] > q[0][1] && q[0][1] > q[0][2], `row 0 ${q[0]}`);
  assert.ok(q[1][1] > q[1][0] && q[1][1] > q[1][2], `row 1 ${q[1]}`);
  // closed form for row 0: squared distances [0.01, 49.01, 200], weights softmax(−distance)
  const e = [-0.01, -(25 + 24.01), -200].map(Math.exp);
  const sum = e.reduce((a, b) => a + b, 0);
  assertClose(q[0], e.map((v) => v / sum), 1e-4, 1e-7, 'row 0');
  const hq = softQuantize(z, c, 1).arraySync() as number[][];
  assert.ok(Math.abs(hq[1][0] - 5) < 0.2 && Math.abs(hq[1][1] - 4.9) < 0.2, `Ĥ_c near c_1: ${hq[1]}`);
  tf.dispose([z, c]);
});

test('codebook perplexity: K for uniform use, 1 for collapse', () => {
  assert.ok(Math.abs(codebookPerplexity(Int32Array.from([0, 1, 2, 3, 0, 1, 2, 3]), 4) - 4) < 1e-12);
  assert.equal(codebookPerplexity(Int32Array.from([2, 2, 2]), 4), 1);
  assert.ok(Math.abs(codebookPerplexity(Int32Array.from([0, 0, 1, 1]), 8) - 2) < 1e-12);
});

test('concrete mask: σ((log ε − log(1 − ε) + ω)/τ), and σ(ω/τ) without noise', () => {
  const w = [-1, 0, 2];
  const u = Float32Array.from([0.2, 0.5, 0.9]);
  const tau = 0.2;
  const got = tf.tidy(() => concreteMask(tf.tensor1d(w), u, tau).dataSync());
  const want = w.map((x, e) => 1 / (1 + Math.exp(-(Math.log(u[e]) - Math.log(1 - u[e]) + x) / tau)));
  assertClose(got, want, 1e-5, 1e-7, 'ρ');
  const det = tf.tidy(() => concreteMask(tf.tensor1d(w), null, tau).dataSync());
  assertClose(det, w.map((x) => 1 / (1 + Math.exp(-x / tau))), 1e-5, 1e-7, 'ρ at ε = 1/2');
});

/** InfoNCE by definition, in float64, blocks of `block` consecutive rows. */
function infoNceReference(a: Float32Array, b: Float32Array, n: number, d: number, t: number, block: number): number {
  const unit = (x: Float32Array, i: number) => {
    const row = Array.from(x.subarray(i * d, i * d + d));
    const norm = Math.sqrt(row.reduce((s, v) => s + v * v, 0));
    return row.map((v) => v / norm);
  };
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const start = Math.floor(i / block) * block;
    const ai = unit(a, i);
    const dot = (j: number) => unit(b, j).reduce((s, v, x) => s + v * ai[x], 0) / t;
    let denom = 0;
    for (let j = start; j < Math.min(n, start + block); j++) denom += Math.exp(dot(j));
    loss += Math.log(denom) - dot(i);
  }
  return loss / n;
}

test('InfoNCE equals its definition, with whole and partial blocks, and differentiates with one block', () => {
  const r = rng(5);
  const [n, d] = [11, 5];
  const a = randomFloats(r, n * d);
  const b = randomFloats(r, n * d);
  for (const block of [4, 11, 32]) {
    const got = tf.tidy(() => infoNce(tf.tensor2d(a, [n, d]), tf.tensor2d(b, [n, d]), 0.2, block).dataSync()[0]);
    const want = infoNceReference(a, b, n, d, 0.2, block);
    assert.ok(Math.abs(got - want) < 1e-4 * Math.max(1, Math.abs(want)), `block ${block}: ${got} vs ${want}`);
    const g = tf.tidy(() => tf.grad((x: tf.Tensor) => infoNce(x as tf.Tensor2D, tf.tensor2d(b, [n, d]), 0.2, block))(tf.tensor2d(a, [n, d])).dataSync());
    assert.ok(g.every(Number.isFinite) && g.some((v) => v !== 0), `block ${block}: gradient`);
  }
});

test('plain-layout matMul: the same values and gradients as tf.matMul, and stopGradient blocks the gradient', () => {
  const r = rng(9);
  const a = tf.tensor2d(randomFloats(r, 12), [3, 4]);
  const b = tf.tensor2d(randomFloats(r, 20), [5, 4]);
  const up = tf.tensor2d(randomFloats(r, 15), [3, 5]);
  const ours = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(matMul(x as tf.Tensor2D, y as tf.Tensor2D, true), up)))([a, b]);
  const stock = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, false, true), up)))([a, b]);
  assertClose(ours[0].dataSync(), stock[0].dataSync(), 1e-5, 1e-6, '∂/∂a');
  assertClose(ours[1].dataSync(), stock[1].dataSync(), 1e-5, 1e-6, '∂/∂b');
  const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(stopGradient(x), x)))(a);
  assertClose(g.dataSync(), a.dataSync(), 1e-6, 1e-6, 'd/dx sum(sg(x)·x) = sg(x)');
  tf.dispose([a, b, up, ...ours, ...stock, g]);
});

test('semantic graph: kNN from features equals brute force; S^m has 1/k entries; mixing sums weighted entries', () => {
  const r = rng(11);
  const [n, d, k] = [40, 6, 5];
  const f = randomFloats(r, n * d);
  const knn = knnFromFeatures(f, n, d, k);
  const cos = (i: number, j: number) => {
    let s = 0;
    let ni = 0;
    let nj = 0;
    for (let x = 0; x < d; x++) {
      s += f[i * d + x] * f[j * d + x];
      ni += f[i * d + x] ** 2;
      nj += f[j * d + x] ** 2;
    }
    return s / Math.sqrt(ni * nj);
  };
  for (let i = 0; i < n; i++) {
    const brute = Array.from({ length: n }, (_, j) => j).sort((x, y) => cos(i, y) - cos(i, x) || x - y).slice(0, k);
    assert.deepEqual(Array.from(knn.idx.subarray(i * k, i * k + k)), brute, `row ${i}`);
    assert.equal(knn.idx[i * k], i, 'an item is its own nearest neighbour');
  }
  const s = knnItemGraph(knn, n);
  assert.equal(s.indices.length, n * k);
  assert.ok(s.values!.every((v) => Math.abs(v - 1 / k) < 1e-7));
  const mixed = mixGraphs([s, s], [0.1, 0.9]);
  assert.equal(mixed.indices.length, n * k);
  assert.ok(mixed.values!.every((v) => Math.abs(v - 1 / k) < 1e-6));
  assert.deepEqual(modalityWeights(['image', 'text'], 0.1), [0.1, 0.9]);
  assert.deepEqual(modalityWeights(['audio', 'video'], 0.1), [0.5, 0.5]);
});

test('semantic graph: kNN from features is the same with the native top-k and with blocks of tfjs products', async () => {
  const r = rng(12);
  const [n, d, k] = [600, 24, 10]; // more than two blocks of 256 rows
  const f = randomFloats(r, n * d);
  const withNative = nativeKernels() !== null;
  if (process.env.REQUIRE_NATIVE === '1') assert.ok(withNative, 'REQUIRE_NATIVE=1 but the native addon did not load');
  const first = knnFromFeatures(f, n, d, k);
  await configureCompute({ native: false });
  await initBackend('wasm');
  try {
    assert.equal(nativeKernels(), null);
    const blocks = knnFromFeatures(f, n, d, k);
    assert.deepEqual(blocks.idx, first.idx, `idx, native ${withNative} vs tfjs blocks`);
    assertClose(blocks.sim, first.sim, 1e-5, 1e-6, 'similarities');
  } finally {
    await configureCompute({});
    await initBackend('wasm');
  }
});

test('the diffusion loss against a stopped target: ∂/∂prediction = 2(pred − target)/n, nothing to the target', () => {
  const target = tf.tensor2d([1, 2, 3, 4], [2, 2]);
  const pred = tf.tensor2d([0.5, 2.5, 2, 5], [2, 2]);
  const [gt, gp] = tf.grads((t: tf.Tensor, p: tf.Tensor) => mse(stopGradient(t), p))([target, pred]);
  assert.ok(gt.dataSync().every((v) => v === 0));
  assertClose(gp.dataSync(), [-0.25, 0.25, -0.5, 0.5], 1e-6, 1e-7, '∂/∂pred');
  tf.dispose([target, pred, gt, gp]);
});
