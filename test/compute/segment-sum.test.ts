import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { initBackend, kernelCounters, segmentSum, segmentSumReference, shutdownCompute, tf } from '../../src/compute/index.js';
import { BACKENDS, assertClose, randomFloats, rng } from './helpers.js';

before(async () => {
  await initBackend('wasm');
});

after(async () => {
  await tf.setBackend('wasm');
  await shutdownCompute();
});

function valuesOf(f: () => tf.Tensor): Float32Array | Int32Array {
  const t = tf.tidy(f);
  const v = t.dataSync().slice() as Float32Array | Int32Array;
  t.dispose();
  return v;
}

/** Segment ids in [-1, numSegments): duplicates, a dropped negative id now and then, some segments unused. */
function randomIds(seed: number, n: number, numSegments: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: n }, (_, i) => (i % 9 === 4 ? -1 : r.nextInt(Math.max(1, numSegments - 1))));
}

const CASES: { shape: number[]; numSegments: number }[] = [
  { shape: [7], numSegments: 4 },
  { shape: [10, 3], numSegments: 12 },
  { shape: [6, 2, 5], numSegments: 3 },
  { shape: [300, 64], numSegments: 50 },
  { shape: [0, 4], numSegments: 5 },
  { shape: [5, 4], numSegments: 0 },
];

for (const backend of BACKENDS) {
  test(`UnsortedSegmentSum matches the reference on ${backend} (float32 and int32, duplicates, dropped ids)`, async () => {
    await tf.setBackend(backend);
    const r = rng(11);
    CASES.forEach(({ shape, numSegments }, c) => {
      const n = shape[0];
      const rowSize = shape.slice(1).reduce((a, b) => a * b, 1);
      const ids = numSegments === 0 ? Int32Array.from({ length: n }, () => -1) : randomIds(c, n, numSegments);
      const x = randomFloats(r, n * rowSize);
      const expected = segmentSumReference(x, rowSize, ids, numSegments);
      const got = valuesOf(() => segmentSum(tf.tensor(x, shape), tf.tensor1d(ids, 'int32'), numSegments));
      assertClose(got, expected, 1e-5, 1e-6, `${backend} ${shape.join('×')} float32`);
      const xi = Int32Array.from(x, (v) => Math.round(v * 100));
      const gotInt = valuesOf(() => segmentSum(tf.tensor(xi, shape, 'int32'), tf.tensor1d(ids, 'int32'), numSegments));
      assert.deepEqual(Array.from(gotInt), Array.from(segmentSumReference(xi, rowSize, ids, numSegments)));
    });
  });

  test(`UnsortedSegmentSum rejects ids at or past numSegments on ${backend}`, async () => {
    await tf.setBackend(backend);
    assert.throws(() => tf.tidy(() => segmentSum(tf.ones([3, 2]), [0, 3, 1], 3)), /segment id 3 at 1 is not below numSegments 3/);
  });

  test(`UnsortedSegmentSum is linear in its input (100k segments, 20k rows) on ${backend}`, async () => {
    await tf.setBackend(backend);
    const n = 20_000;
    const numSegments = 100_000;
    const ids = Int32Array.from({ length: n }, (_, i) => (i * 7919) % numSegments);
    const x = tf.ones([n, 8]);
    const t = performance.now();
    const out = segmentSum(x, ids, numSegments);
    const ms = performance.now() - t;
    // segments × rows × 8 = 1.6e10 operations would take minutes; one pass takes milliseconds.
    assert.ok(ms < 2000, `${ms.toFixed(0)} ms`);
    assert.equal(out.sum().dataSync()[0], n * 8);
    tf.dispose([x, out]);
  });
}

test("tf.gather's gradient runs our kernel on wasm and equals the reference and the cpu backend", async () => {
  const r = rng(12);
  const [n, d] = [50, 6];
  const indices = Int32Array.from({ length: 80 }, () => r.nextInt(n));
  const w = randomFloats(r, indices.length * d);
  const x = randomFloats(r, n * d);
  const gradOn = async (backend: string): Promise<Float32Array | Int32Array> => {
    await tf.setBackend(backend);
    return valuesOf(() =>
      tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, tf.tensor1d(indices, 'int32')), tf.tensor2d(w, [indices.length, d]))))(
        tf.tensor2d(x, [n, d]),
      ),
    );
  };
  const calls = kernelCounters().UnsortedSegmentSum ?? 0;
  const onWasm = await gradOn('wasm');
  assert.equal(kernelCounters().UnsortedSegmentSum, calls + 1);
  assertClose(onWasm, segmentSumReference(w, d, indices, n), 1e-5, 1e-6, 'wasm vs reference');
  assert.deepEqual(Array.from(onWasm), Array.from(await gradOn('cpu')));
});

test('the gradient of segmentSum gathers dy, zero for dropped ids, and leaks no tensors', async () => {
  await tf.setBackend('wasm');
  const ids = Int32Array.from([2, -1, 0, 2]);
  const dy = tf.tensor2d([
    [1, 2],
    [3, 4],
    [5, 6],
  ]);
  const x = tf.zeros([4, 2]);
  const before = tf.memory().numTensors;
  const g = valuesOf(() => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(segmentSum(t, ids, 3), dy)))(x));
  assert.deepEqual(Array.from(g), [5, 6, 0, 0, 1, 2, 5, 6]);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([dy, x]);
});
