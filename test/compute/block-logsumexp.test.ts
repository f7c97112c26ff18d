import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { blockLogSumExp, initBackend, shutdownCompute, tf } from '../../src/compute/index.js';
import { assertClose, randomFloats, rng } from './helpers.js';

before(async () => {
  await initBackend('wasm');
});

after(async () => {
  await shutdownCompute();
});

/** lse_r and ∂(Σ w ⊙ lse)/∂a, ∂/∂b in float64 from the definition. */
function reference(a: ArrayLike<number>, b: ArrayLike<number>, n: number, d: number, t: number, block: number, w: ArrayLike<number>) {
  const lse = new Float64Array(n);
  const da = new Float64Array(n * d);
  const db = new Float64Array(n * d);
  for (let start = 0; start < n; start += block) {
    const end = Math.min(n, start + block);
    for (let r = start; r < end; r++) {
      const x = [];
      for (let s = start; s < end; s++) {
        let dot = 0;
        for (let k = 0; k < d; k++) dot += a[r * d + k] * b[s * d + k];
        x.push(dot / t);
      }
      const m = Math.max(...x);
      const sum = x.reduce((acc, v) => acc + Math.exp(v - m), 0);
      lse[r] = m + Math.log(sum);
      x.forEach((v, j) => {
        const g = (w[r] * Math.exp(v - lse[r])) / t;
        for (let k = 0; k < d; k++) {
          da[r * d + k] += g * b[(start + j) * d + k];
          db[(start + j) * d + k] += g * a[r * d + k];
        }
      });
    }
  }
  return { lse, da, db };
}

function problem(seed: number, n: number, d: number) {
  const r = rng(seed);
  return { a: randomFloats(r, n * d), b: randomFloats(r, n * d), w: randomFloats(r, n) };
}

function run(a: Float32Array, b: Float32Array, w: Float32Array, n: number, d: number, t: number, block: number, f = blockLogSumExp) {
  return tf.tidy(() => {
    const [at, bt] = [tf.tensor2d(a, [n, d]), tf.tensor2d(b, [n, d])];
    const lse = f(at, bt, t, block).dataSync().slice();
    const [da, db] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(f(x as tf.Tensor2D, y as tf.Tensor2D, t, block), tf.tensor1d(w))))([at, bt]);
    return { lse, da: da.dataSync().slice(), db: db.dataSync().slice() };
  });
}

// [n, d, T, block]: one block, a shorter last block, a block of one row, CaMRec's own shape
const CASES: [number, number, number, number][] = [
  [1, 1, 0.5, 4],
  [7, 5, 0.2, 3],
  [9, 3, 1, 1],
  [100, 13, 0.2, 32],
  [513, 64, 0.2, 256],
];

test('the stock-op normaliser equals float64 references, forward and both gradients', () => {
  CASES.forEach(([n, d, temp, block], i) => {
    const { a, b, w } = problem(10 + i, n, d);
    const label = `n=${n} d=${d} T=${temp} block=${block}`;
    const got = run(a, b, w, n, d, temp, block);
    const ref = reference(a, b, n, d, temp, block, w);
    // float32 scores of d terms, divided by T: gradients cancel terms up to |w|/T, so the bound is absolute
    const atol = (2e-6 * d) / temp;
    assertClose(got.lse, ref.lse, 1e-5, atol, `${label} lse`);
    assertClose(got.da, ref.da, 1e-5, atol, `${label} ∂a`);
    assertClose(got.db, ref.db, 1e-5, atol, `${label} ∂b`);
  });
});

test('both gradients match central differences of the float64 forward', () => {
  const [n, d, temp, block] = [10, 4, 0.3, 4];
  const { a, b, w } = problem(20, n, d);
  const got = run(a, b, w, n, d, temp, block);
  const loss = (x: ArrayLike<number>, y: ArrayLike<number>) => reference(x, y, n, d, temp, block, w).lse.reduce((s, v, r) => s + w[r] * v, 0);
  const diff = (v: Float32Array, i: number, f: (x: Float64Array) => number) => {
    const [plus, minus] = [Float64Array.from(v), Float64Array.from(v)];
    plus[i] += 1e-5;
    minus[i] -= 1e-5;
    return (f(plus) - f(minus)) / 2e-5;
  };
  assertClose(got.da, Array.from(a, (_, i) => diff(a, i, (x) => loss(x, b))), 1e-3, 1e-4, '∂a');
  assertClose(got.db, Array.from(b, (_, i) => diff(b, i, (y) => loss(a, y))), 1e-3, 1e-4, '∂b');
});

test('no leaked tensors, the same bits twice, and clear errors', () => {
  const [n, d, temp, block] = [300, 16, 0.2, 64];
  const { a, b, w } = problem(30, n, d);
  const before = tf.memory().numTensors;
  const first = run(a, b, w, n, d, temp, block);
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(run(a, b, w, n, d, temp, block), first);
  assert.throws(() => blockLogSumExp(tf.zeros([3, 2]) as tf.Tensor2D, tf.zeros([3, 3]) as tf.Tensor2D, 1, 2), RangeError);
  assert.throws(() => blockLogSumExp(tf.zeros([3, 2]) as tf.Tensor2D, tf.zeros([3, 2]) as tf.Tensor2D, 1, 0), RangeError);
});
