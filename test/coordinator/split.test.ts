/**
 * Splitting a global step into tasks: a partition of the batch that does not depend on the number of workers, with
 * weights that make the weighted sum of task losses (and gradients) the batch's mean loss — and the regulariser
 * case where that equality breaks unless the worker is given the batch-wide norm (docs/coordinator.md).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitStep, stepSizes, taskTriples } from '../../src/coordinator/index.js';
import { TrainSampler } from '../../src/train/index.js';
import { CounterRng } from '../../src/random/index.js';
import { randomDataset } from '../helpers/tiny.js';

const shapes: [number, number][] = [
  [1, 1],
  [1, 4],
  [3, 4],
  [7, 3],
  [2048, 4],
  [2049, 7],
  [100, 100],
  [101, 100],
];

test('the tasks of a step cover every triple of the batch exactly once, contiguously, none empty', () => {
  for (const [n, T] of shapes) {
    const tasks = splitStep(2, 5, n, T);
    assert.equal(tasks.length, Math.min(n, T), `${n}/${T}: min(batch, T) tasks`);
    const covered = new Int32Array(n);
    tasks.forEach((t, k) => {
      assert.deepEqual([t.epoch, t.step, t.index, t.batchSize], [2, 5, k, n]);
      assert.ok(t.end > t.start, 'no empty task');
      if (k > 0) assert.equal(t.start, tasks[k - 1].end, 'contiguous');
      for (let i = t.start; i < t.end; i++) covered[i]++;
    });
    assert.ok(covered.every((c) => c === 1), `${n}/${T}: each triple in exactly one task`);
    const sizes = tasks.map((t) => t.end - t.start);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, 'balanced to within one triple');
  }
});

test('task weights are their shares of the batch and sum to 1', () => {
  for (const [n, T] of shapes) {
    const tasks = splitStep(1, 0, n, T);
    for (const t of tasks) assert.equal(t.weight, (t.end - t.start) / n);
    const sum = tasks.reduce((s, t) => s + t.weight, 0);
    assert.ok(Math.abs(sum - 1) <= 1e-12, `${n}/${T}: Σw = ${sum}`);
  }
});

test('the split is a function of (batch size, tasks per step) only: the same on every call', () => {
  assert.deepEqual(splitStep(3, 1, 2049, 7), splitStep(3, 1, 2049, 7));
});

test('stepSizes cuts an epoch as TrainSampler does', () => {
  const data = randomDataset(40, 60, 8, 3);
  for (const bs of [1, 7, 32, 1000]) {
    const sampler = new TrainSampler(data, 11, bs);
    assert.deepEqual(stepSizes(sampler.pairs, bs), sampler.epoch(1).map((b) => b.users.length), `batch size ${bs}`);
  }
});

test('taskTriples views the task\'s slice of the batch and refuses a batch of another size', () => {
  const batch = { epoch: 1, step: 0, users: Int32Array.from([0, 1, 2, 3, 4]), pos: Int32Array.from([5, 6, 7, 8, 9]), neg: Int32Array.from([1, 1, 2, 2, 3]) };
  const [, second] = splitStep(1, 0, 5, 2);
  const part = taskTriples(batch, second);
  assert.deepEqual([...part.users], [2, 3, 4]);
  assert.deepEqual([...part.pos], [7, 8, 9]);
  assert.equal(part.epoch, 1);
  assert.throws(() => taskTriples({ ...batch, users: batch.users.subarray(1) }, second), /batch of 5 triples/);
});

/** A batch of per-example embedding rows (n × d) drawn from the generator. */
function rows(n: number, d: number, seed: number): Float64Array[] {
  const s = new CounterRng(seed).stream('noise');
  return Array.from({ length: n }, () => Float64Array.from({ length: d }, () => s.nextNormal()));
}

const sq = (v: Float64Array) => v.reduce((a, x) => a + x * x, 0);

/** BPR-like per-example term and its gradient in u_i: any differentiable ℓ(u_i) works. */
const ell = (u: Float64Array) => Math.log1p(Math.exp(-u[0] + 0.5 * u[1]));
const dEll = (u: Float64Array) => {
  const g = -1 / (1 + Math.exp(u[0] - 0.5 * u[1]));
  return Float64Array.from(u, (_, j) => (j === 0 ? g : j === 1 ? -0.5 * g : 0));
};

test('Σ_t w_t · (mean loss of task t) and its gradient equal the batch mean loss and its gradient', () => {
  const n = 37;
  const U = rows(n, 4, 5);
  const batchLoss = U.reduce((a, u) => a + ell(u), 0) / n;
  const batchGrad = U.map((u) => dEll(u).map((g) => g / n));
  for (const T of [1, 2, 5, 37]) {
    let loss = 0;
    const grad = U.map((u) => new Float64Array(u.length));
    for (const t of splitStep(1, 0, n, T)) {
      const m = t.end - t.start;
      let taskLoss = 0;
      for (let i = t.start; i < t.end; i++) taskLoss += ell(U[i]) / m;
      loss += t.weight * taskLoss;
      for (let i = t.start; i < t.end; i++) dEll(U[i]).forEach((g, j) => (grad[i][j] += (t.weight * g) / m));
    }
    assert.ok(Math.abs(loss - batchLoss) <= 1e-12 * Math.abs(batchLoss), `T=${T}: loss`);
    grad.forEach((g, i) => g.forEach((x, j) => assert.ok(Math.abs(x - batchGrad[i][j]) <= 1e-15, `T=${T}: grad[${i}][${j}]`)));
  }
});

test('MMRec\'s EmbLoss (‖E_batch‖_F / n) breaks the equality; the linearised per-task term given ‖E_batch‖ restores it', () => {
  const n = 24;
  const U = rows(n, 3, 9);
  const S = Math.sqrt(U.reduce((a, u) => a + sq(u), 0));
  const exact = S / n;
  const exactGrad = U.map((u) => u.map((x) => x / (n * S)));
  const tasks = splitStep(1, 0, n, 4);

  // Naive: each task computes EmbLoss over its own rows: ‖E_t‖_F / n_t.
  const naive = tasks.reduce((a, t) => a + t.weight * (Math.sqrt(U.slice(t.start, t.end).reduce((b, u) => b + sq(u), 0)) / (t.end - t.start)), 0);
  assert.ok(naive - exact > 1e-3 * exact, `naive ${naive} > exact ${exact}: Σ_t ‖E_t‖ ≥ ‖E‖ (triangle inequality)`);

  // Linearised: with S = ‖E_batch‖ handed to every task, R_t = (‖E_t‖²/(2S) + w_t S/2) / n_t.
  let lin = 0;
  const grad = U.map((u) => new Float64Array(u.length));
  for (const t of tasks) {
    const m = t.end - t.start;
    const X = U.slice(t.start, t.end).reduce((b, u) => b + sq(u), 0);
    lin += t.weight * ((X / (2 * S) + (t.weight * S) / 2) / m);
    // ∂R_t/∂u_i with S held constant (a stop-gradient) = u_i / (S · n_t); weighted by w_t = n_t / n.
    for (let i = t.start; i < t.end; i++) U[i].forEach((x, j) => (grad[i][j] += (t.weight * x) / (S * m)));
  }
  assert.ok(Math.abs(lin - exact) <= 1e-12 * exact, `value ${lin} vs ${exact}`);
  grad.forEach((g, i) => g.forEach((x, j) => assert.ok(Math.abs(x - exactGrad[i][j]) <= 1e-15, `grad[${i}][${j}]`)));
});
