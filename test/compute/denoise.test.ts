import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  configureCompute,
  denoiseBackwardReference,
  denoiseForwardReference,
  type DenoiseProblem,
  fusedDenoise,
  kernelCounters,
  tf,
} from '../../src/compute/index.js';
import { DENOISE, DENOISE_GRAD } from '../../src/compute/kernels/denoise.js';
import { crossModalDenoiser, forwardNoise, linearSchedule } from '../../src/models/modules/diffusion.js';
import { stopGradient } from '../../src/models/modules/ops.js';
import { nativeFor } from '../native/fixtures.js';
import { BACKENDS, assertClose, randomFloats, rng, useWasmCompute } from './helpers.js';

useWasmCompute();

const SCHEDULE = linearSchedule(20, 1e-4, 0.02);

/** A random problem: rows at random steps of SCHEDULE, with noise unless `noised` is false. */
function problem(seed: number, n: number, d: number, h: number, noised = true): DenoiseProblem {
  const r = rng(seed);
  const steps = Int32Array.from({ length: n }, () => r.nextInt(SCHEDULE.steps));
  const scale = (v: Float32Array, s: number) => v.map((x) => x * s);
  return {
    n,
    d,
    h,
    h0: randomFloats(r, n * d),
    cond: randomFloats(r, n * d),
    noise: noised ? randomFloats(r, n * d) : null,
    signal: Float32Array.from(steps, (t) => SCHEDULE.sqrtAlphaBar[t]),
    noiseScale: noised ? Float32Array.from(steps, (t) => SCHEDULE.sqrtOneMinusAlphaBar[t]) : null,
    steps,
    wNoisy: scale(randomFloats(r, d * h), 0.3),
    wCond: scale(randomFloats(r, d * h), 0.3),
    stepEmb: randomFloats(r, SCHEDULE.steps * h),
    bias: randomFloats(r, h),
    wOut: scale(randomFloats(r, h * d), 0.3),
    outBias: randomFloats(r, d),
  };
}

type Op = (w: tf.Tensor2D[], h0: tf.Tensor2D, cond: tf.Tensor2D) => { estimate: tf.Tensor2D; loss: tf.Scalar };

const fused = (p: DenoiseProblem): Op => (w, h0, cond) => {
  const [wNoisy, wCond, stepEmb, bias, wOut, outBias] = w;
  const noising = { steps: Int32Array.from(p.steps), signal: Float32Array.from(p.signal), noise: p.noise ? { values: Float32Array.from(p.noise), scale: Float32Array.from(p.noiseScale ?? []) } : null };
  const out = fusedDenoise({ wNoisy, wCond, stepEmb, bias, wOut, outBias }, h0, cond, noising);
  if (!out) throw new Error('fusedDenoise did not run');
  return out;
};

/** The model's composed ops (forwardNoise, crossModalDenoiser, the mean squared error to sg(h0)). */
const composed = (p: DenoiseProblem): Op => (w, h0, cond) => {
  const [noisy, condition, step, bias, out, outBias] = w;
  const noise = p.noise ? tf.tensor2d(Float32Array.from(p.noise), [p.n, p.d]) : null;
  const steps = Int32Array.from(p.steps);
  const estimate = crossModalDenoiser({ noisy, condition, step, bias, out, outBias }, forwardNoise(h0, steps, noise, SCHEDULE), cond, steps);
  return { estimate, loss: tf.mean(tf.squaredDifference(stopGradient(h0), estimate)) };
};

/** est, loss, and the eight gradients of ⟨dEst, est⟩ + dLoss·loss, read back. */
function run(p: DenoiseProblem, op: Op, dEst: Float32Array, dLoss: number) {
  return tf.tidy(() => {
    const t2 = (v: ArrayLike<number>, shape: [number, number]) => tf.tensor2d(Float32Array.from(v), shape);
    const { n, d, h } = p;
    const w = [t2(p.wNoisy, [d, h]), t2(p.wCond, [d, h]), t2(p.stepEmb, [SCHEDULE.steps, h]), t2(p.bias, [1, h]), t2(p.wOut, [h, d]), t2(p.outBias, [1, d])];
    const [h0, cond] = [t2(p.h0, [n, d]), t2(p.cond, [n, d])];
    const value = op(w, h0, cond);
    const out = { est: value.estimate.dataSync().slice(), loss: value.loss.dataSync()[0] };
    const f = (...xs: tf.Tensor[]) => {
      const r = op(xs.slice(2) as tf.Tensor2D[], xs[0] as tf.Tensor2D, xs[1] as tf.Tensor2D);
      return tf.add(tf.sum(tf.mul(r.estimate, tf.tensor2d(dEst, [n, d]))), tf.mul(r.loss, dLoss)) as tf.Scalar;
    };
    const grads = tf.grads(f)([h0, cond, ...w]).map((g) => g.dataSync().slice() as Float32Array);
    return { ...out, grads };
  });
}

const NAMES = ['dh0', 'dCond', 'dWNoisy', 'dWCond', 'dStepEmb', 'dBias', 'dWOut', 'dOutBias'] as const;

// [n, d, h, noised]: tiny and odd widths, a step table larger than the rows, CaMRec's widths, no noise (inference)
const CASES: [number, number, number, boolean][] = [
  [1, 1, 1, true],
  [7, 5, 3, true],
  [40, 13, 9, false],
  [500, 64, 64, true],
];

for (const backend of BACKENDS) {
  test(`the fused denoiser equals the float64 reference, est, loss and eight gradients, on ${backend}`, async (t) => {
    if (!nativeFor(t)) return;
    await tf.setBackend(backend);
    CASES.forEach(([n, d, h, noised], i) => {
      const p = problem(60 + i, n, d, h, noised);
      const dEst = randomFloats(rng(70 + i), n * d);
      const label = `${backend} n=${n} d=${d} h=${h}${noised ? '' : ' without noise'}`;
      const calls = [kernelCounters()[DENOISE] ?? 0, kernelCounters()[DENOISE_GRAD] ?? 0];
      const got = run(p, fused(p), dEst, 3.5);
      assert.deepEqual([kernelCounters()[DENOISE], kernelCounters()[DENOISE_GRAD]], [calls[0] + 2, calls[1] + 1], `${label}: kernel calls`);
      const ref = denoiseForwardReference(p);
      assertClose(got.est, ref.est, 1e-5, 1e-5 * Math.sqrt(d + h), `${label}: est`);
      assertClose([got.loss], [ref.loss], 1e-5, 1e-7, `${label}: loss`);
      const grads = denoiseBackwardReference(p, dEst, 3.5);
      NAMES.forEach((name, k) => assertClose(got.grads[k], grads[name], 1e-4, 1e-5 * Math.sqrt(n) * (d + h), `${label}: ${name}`));
    });
    await tf.setBackend('wasm');
  });
}

test('the reference gradients equal central differences of the reference', () => {
  const p = problem(80, 4, 3, 5);
  const dEst = randomFloats(rng(81), 12);
  const objective = (q: DenoiseProblem) => {
    const f = denoiseForwardReference(q);
    return f.est.reduce((s, v, i) => s + v * dEst[i], 0) + 2 * f.loss;
  };
  const grads = denoiseBackwardReference(p, dEst, 2);
  const fields = ['h0', 'cond', 'wNoisy', 'wCond', 'stepEmb', 'bias', 'wOut', 'outBias'] as const;
  fields.forEach((field, k) => {
    const base = Float64Array.from(p[field] as ArrayLike<number>);
    for (let i = 0; i < base.length; i++) {
      const at = (delta: number) => {
        const v = Float64Array.from(base);
        v[i] += delta;
        // the loss's target is sg(h0): move h0 in the noising only
        return field === 'h0' ? objectiveWithNoisyH0(p, v, dEst) : objective({ ...p, [field]: v });
      };
      assertClose([(at(1e-6) - at(-1e-6)) / 2e-6], [grads[NAMES[k]][i]], 1e-5, 1e-6, `${NAMES[k]}[${i}]`);
    }
  });
});

/** The objective with h0 moved in the noising and held fixed as the loss's target (the stop-gradient). */
function objectiveWithNoisyH0(p: DenoiseProblem, h0: Float64Array, dEst: Float32Array): number {
  const { n, d } = p;
  const moved = denoiseForwardReference({ ...p, h0, noise: p.noise, noiseScale: p.noiseScale });
  let loss = 0;
  for (let i = 0; i < n * d; i++) loss += (p.h0[i] - moved.est[i]) ** 2;
  return moved.est.reduce((s, v, i) => s + v * dEst[i], 0) + (2 * loss) / (n * d);
}

test('the fused forward is the composed ops’ bits; gradients agree; the same bits twice; nothing leaks', async (t) => {
  if (!nativeFor(t)) return;
  await tf.setBackend('wasm');
  const p = problem(90, 700, 64, 64);
  const dEst = randomFloats(rng(91), 700 * 64);
  const tensors = tf.memory().numTensors;
  const first = run(p, fused(p), dEst, 0.5);
  assert.deepEqual(run(p, fused(p), dEst, 0.5), first, 'the same bits twice');
  assert.equal(tf.memory().numTensors, tensors, 'no leaked tensors');
  const stock = run(p, composed(p), dEst, 0.5);
  assert.deepEqual(first.est, stock.est, 'est: the composed ops’ bits');
  assertClose([first.loss], [stock.loss], 1e-5, 0, 'loss'); // the stock Mean sums 44,800 squares in float32
  NAMES.forEach((name, k) => assertClose(first.grads[k], stock.grads[k], 1e-4, 1e-3, name));
});

test('fusedDenoise answers null without the addon or rows', async () => {
  await tf.setBackend('wasm');
  const p = problem(95, 3, 2, 2);
  const noising = { steps: Int32Array.from(p.steps), signal: Float32Array.from(p.signal), noise: null };
  const w = () => {
    const z = (r: number, c: number) => tf.zeros([r, c]) as tf.Tensor2D;
    return { wNoisy: z(2, 2), wCond: z(2, 2), stepEmb: z(20, 2), bias: z(1, 2), wOut: z(2, 2), outBias: z(1, 2) };
  };
  tf.tidy(() => assert.equal(fusedDenoise(w(), tf.zeros([0, 2]), tf.zeros([0, 2]), { steps: new Int32Array(0), signal: new Float32Array(0), noise: null }), null));
  await configureCompute({ native: false });
  tf.tidy(() => assert.equal(fusedDenoise(w(), tf.ones([3, 2]), tf.ones([3, 2]), noising), null));
  await configureCompute({ native: true });
});
