import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { initBackend, kernelCounters, shutdownCompute, tf } from '../../src/compute/index.js';
import { FAST_ADD_N, FAST_SPLIT, FAST_TILE, SHARED_CAST, SHARED_IDENTITY } from '../../src/compute/kernels/wasm-copies.js';
import { randomFloats, rng } from './helpers.js';

before(async () => {
  await initBackend('wasm');
});

after(async () => {
  await shutdownCompute();
});

const count = (name: string): number => kernelCounters()[name] ?? 0;
const backendData = (): number => (tf.backend() as unknown as { numDataIds(): number }).numDataIds();

test('Identity (clone) shares its input memory: same values, no new buffer, and each tensor disposes on its own', () => {
  const x = tf.tensor2d(randomFloats(rng(1), 12), [3, 4]);
  const [ids, calls] = [backendData(), count(SHARED_IDENTITY)];
  const y = tf.clone(x);
  assert.equal(count(SHARED_IDENTITY), calls + 1);
  assert.equal(backendData(), ids, 'no new buffer');
  assert.deepEqual(y.dataSync(), x.dataSync());
  x.dispose();
  assert.deepEqual(Array.from(y.shape), [3, 4]);
  assert.equal(y.dataSync().length, 12, 'the clone outlives its source');
  const kept = Float32Array.from(y.dataSync());
  const z = tf.add(y, 1); // a later kernel never writes into the shared memory
  assert.deepEqual(y.dataSync(), kept);
  tf.dispose([y, z]);
  assert.equal(backendData(), ids - 1);
});

test('Cast to the same dtype shares its input memory; to another dtype it converts as the stock kernel does', () => {
  const x = tf.tensor2d(randomFloats(rng(4), 12), [3, 4]);
  const [ids, calls] = [backendData(), count(SHARED_CAST)];
  const y = tf.cast(x, 'float32');
  assert.equal(count(SHARED_CAST), calls + 1);
  assert.equal(backendData(), ids, 'no new buffer');
  assert.deepEqual(y.dataSync(), x.dataSync());
  x.dispose();
  assert.equal(y.dataSync().length, 12, 'the cast outlives its source');
  const i = tf.tensor1d([1.7, -2.2, 3], 'float32');
  const asInt = tf.cast(i, 'int32');
  assert.equal(count(SHARED_CAST), calls + 1, 'a conversion is not shared');
  assert.equal(asInt.dtype, 'int32');
  assert.deepEqual(Array.from(asInt.dataSync()), [1, -2, 3]);
  const back = tf.cast(asInt, 'float32');
  assert.deepEqual(Array.from(back.dataSync()), [1, -2, 3]);
  tf.dispose([y, i, asInt, back]);
  assert.equal(backendData(), ids - 1);
});

test('gradients through shared clones equal the cpu backend', async () => {
  const a = randomFloats(rng(2), 20);
  const f = (x: tf.Tensor) => tf.sum(tf.mul(tf.tanh(tf.mul(x, x)), tf.exp(x)));
  const grad = () => tf.tidy(() => Float32Array.from(tf.grad(f)(tf.tensor2d(a, [4, 5])).dataSync()));
  const ours = grad();
  await tf.setBackend('cpu');
  const reference = grad();
  await tf.setBackend('wasm');
  ours.forEach((v, i) => assert.ok(Math.abs(v - reference[i]) <= 1e-6 * (1 + Math.abs(reference[i])), `∂x[${i}] ${v} vs ${reference[i]}`));
});

test('SplitV along any axis, with a -1 size and with equal parts, equals the cpu backend; odd cases fall back', async () => {
  const r = rng(3);
  const cases: [number[], number[] | number, number][] = [
    [[7, 5], [3, 4], 0],
    [[7, 5], [2, -1, 1], 1],
    [[2, 6, 3], 3, 1],
    [[2, 6, 3], [0, 3], 2],
    [[4, 3, 2], [1, 3], -3],
  ];
  for (const [shape, sizes, axis] of cases) {
    const x = randomFloats(r, shape.reduce((p, v) => p * v, 1));
    const split = () => tf.tidy(() => tf.split(tf.tensor(x, shape), sizes, axis).map((t) => ({ shape: t.shape, values: Array.from(t.dataSync()) })));
    const calls = count(FAST_SPLIT);
    const ours = split();
    assert.equal(count(FAST_SPLIT), calls + 1, `[${shape}] ${JSON.stringify(sizes)} axis ${axis}: our kernel`);
    await tf.setBackend('cpu');
    const reference = split();
    await tf.setBackend('wasm');
    assert.deepEqual(ours, reference, `[${shape}] ${JSON.stringify(sizes)} axis ${axis}`);
  }
  assert.throws(() => tf.split(tf.zeros([5, 2]), 2, 0), /split|divisible|evenly/i);
});

test('AddN gives the bits of sequential float32 adds, leaks nothing, and leaves int32 to the stock kernel', () => {
  const r = rng(4);
  const xs = [0, 1, 2, 3].map(() => tf.tensor2d(randomFloats(r, 30), [5, 6]));
  const [tensors, ids, calls] = [tf.memory().numTensors, backendData(), count(FAST_ADD_N)];
  const sum = tf.addN(xs);
  assert.equal(count(FAST_ADD_N), calls + 1);
  assert.equal(backendData(), ids + 1, 'intermediate sums are freed');
  const expected = new Float32Array(30);
  const parts = xs.map((x) => x.dataSync());
  for (let i = 0; i < 30; i++) {
    let s = parts[0][i];
    for (let k = 1; k < parts.length; k++) s = Math.fround(s + parts[k][i]);
    expected[i] = s;
  }
  assert.deepEqual(sum.dataSync(), expected);
  sum.dispose();
  assert.equal(tf.memory().numTensors, tensors);
  const ints = tf.addN([tf.tensor1d([1, 2], 'int32'), tf.tensor1d([3, 4], 'int32')]);
  assert.deepEqual(Array.from(ints.dataSync()), [4, 6]);
  assert.equal(count(FAST_ADD_N), calls + 1, 'int32 went to the stock kernel');
  tf.dispose([...xs, ints]);
});

test('Tile over one, several, none and zero repeats, float32 and int32, equals the cpu backend', async () => {
  const r = rng(6);
  const cases: [number[], number[]][] = [
    [[7, 1], [1, 64]],
    [[1, 5], [9, 1]],
    [[3, 4], [2, 3]],
    [[2, 1, 3], [2, 4, 1]],
    [[4], [1]],
    [[2, 3], [0, 2]],
  ];
  for (const [shape, reps] of cases) {
    for (const dtype of ['float32', 'int32'] as const) {
      const n = shape.reduce((p, v) => p * v, 1);
      const x = dtype === 'float32' ? randomFloats(r, n) : Int32Array.from({ length: n }, (_, i) => i * 7 - 3);
      const run = () => tf.tidy(() => {
        const t = tf.tile(tf.tensor(x, shape, dtype), reps);
        return { shape: t.shape, values: Array.from(t.dataSync()) };
      });
      const calls = count(FAST_TILE);
      const ours = run();
      assert.equal(count(FAST_TILE), calls + 1, `[${shape}] × [${reps}] ${dtype}: our kernel`);
      await tf.setBackend('cpu');
      const reference = run();
      await tf.setBackend('wasm');
      assert.deepEqual(ours, reference, `[${shape}] × [${reps}] ${dtype}`);
    }
  }
});
