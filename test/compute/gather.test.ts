import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { initBackend, kernelCounters, shutdownCompute, tf } from '../../src/compute/index.js';
import { GATHER, gatherGradient, stockGatherGradient } from '../../src/compute/kernels/gather.js';
import { BACKENDS, randomFloats, rng } from './helpers.js';

before(async () => {
  await initBackend('wasm');
});

after(async () => {
  await tf.setBackend('wasm');
  await shutdownCompute();
});

/** out[i, …] = x[indices[i], …] along the first axis, from the definition. */
function gatherReference(x: Float32Array, rowSize: number, indices: Int32Array): Float32Array {
  const out = new Float32Array(indices.length * rowSize);
  indices.forEach((row, i) => {
    for (let k = 0; k < rowSize; k++) out[i * rowSize + k] = x[row * rowSize + k];
  });
  return out;
}

function valuesOf(f: () => tf.Tensor): { shape: number[]; values: number[] } {
  const t = tf.tidy(f);
  const result = { shape: t.shape, values: Array.from(t.dataSync()) };
  t.dispose();
  return result;
}

for (const backend of BACKENDS) {
  test(`GatherV2 along the first axis copies rows as the definition says on ${backend}`, async () => {
    await tf.setBackend(backend);
    const r = rng(51);
    for (const shape of [[9], [12, 5], [7, 3, 4]]) {
      const rowSize = shape.slice(1).reduce((a, b) => a * b, 1);
      const x = randomFloats(r, shape[0] * rowSize);
      const indices = Int32Array.from({ length: 10 }, () => r.nextInt(shape[0]));
      const calls = kernelCounters().GatherV2 ?? 0;
      const got = valuesOf(() => tf.gather(tf.tensor(x, shape), tf.tensor2d(indices, [2, 5], 'int32')));
      assert.equal(kernelCounters().GatherV2, calls + 1);
      assert.deepEqual(got.shape, [2, 5, ...shape.slice(1)]);
      assert.deepEqual(got.values, Array.from(gatherReference(x, rowSize, indices)));
    }
  });

  test(`GatherV2 on an inner axis, with batch dimensions, and of bools follows TensorFlow's definition on ${backend}`, async () => {
    await tf.setBackend(backend);
    const x = tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [2, 3, 2]);
    const onAxis1 = valuesOf(() => tf.gather(x, [2, 0, 2], 1));
    assert.deepEqual(onAxis1.shape, [2, 3, 2]);
    assert.deepEqual(onAxis1.values, [5, 6, 1, 2, 5, 6, 11, 12, 7, 8, 11, 12]);
    assert.deepEqual(valuesOf(() => tf.gather(x, [1, 1, 0], 2)).values, [2, 2, 1, 4, 4, 3, 6, 6, 5, 8, 8, 7, 10, 10, 9, 12, 12, 11]);
    // batchDims = 1: out[b, i, :] = x[b, indices[b, i], :] (tfjs-wasm's own kernel gets this wrong)
    const batched = valuesOf(() => tf.gather(x, tf.tensor2d([2, 0, 1, 1], [2, 2], 'int32'), 1, 1));
    assert.deepEqual(batched.shape, [2, 2, 2]);
    assert.deepEqual(batched.values, [5, 6, 1, 2, 9, 10, 9, 10]);
    assert.deepEqual(valuesOf(() => tf.gather(tf.tensor1d([true, false, true], 'bool'), [1, 2])).values, [0, 1]);
    x.dispose();
  });

  test(`GatherV2 refuses an index out of range and leaks nothing on ${backend}`, async () => {
    await tf.setBackend(backend);
    const x = tf.ones([4, 3]);
    const before = tf.memory().numTensors;
    assert.throws(() => tf.tidy(() => tf.gather(x, [0, 4])), /index 4 at 1 is not in \[0, 3\]/);
    assert.equal(tf.memory().numTensors, before);
    x.dispose();
  });
}

/** ∂x of Σ w ⊙ gather(x, indices, axis) under the GatherV2 gradient registered now. */
function gatherGrad(x: tf.Tensor, indices: tf.Tensor, axis: number, w: Float32Array): { shape: number[]; bits: Uint32Array } {
  const g = tf.tidy(() => tf.grad((v: tf.Tensor) => {
    const out = tf.gather(v, indices, axis);
    return tf.sum(tf.mul(out, tf.tensor(w, out.shape)));
  })(x));
  const result = { shape: g.shape, bits: new Uint32Array(Float32Array.from(g.dataSync()).buffer) };
  g.dispose();
  return result;
}

test('the GatherV2 gradient gives tfjs\'s own bits along the first axis (repeated rows summed in order) and hands other axes to it', () => {
  const stock = stockGatherGradient();
  assert.ok(stock && stock !== gatherGradient, 'the stock gradient was captured');
  const r = rng(52);
  const cases: { shape: number[]; axis: number; indexShape: number[] }[] = [
    { shape: [300, 64], axis: 0, indexShape: [2048] }, // rows repeat: the segment sum adds in index order
    { shape: [7, 3, 4], axis: 0, indexShape: [2, 5] },
    { shape: [6, 5, 3], axis: 1, indexShape: [4] },
  ];
  for (const { shape, axis, indexShape } of cases) {
    const x = tf.tensor(randomFloats(r, shape.reduce((a, b) => a * b, 1)), shape);
    const count = indexShape.reduce((a, b) => a * b, 1);
    const indices = tf.tensor(Int32Array.from({ length: count }, () => r.nextInt(shape[axis])), indexShape, 'int32');
    const outSize = (x.size / shape[axis]) * count;
    const w = randomFloats(r, outSize);
    const before = tf.memory().numTensors;
    const ours = gatherGrad(x, indices, axis, w);
    assert.equal(tf.memory().numTensors, before, 'ours leaked');
    tf.registerGradient(stock);
    try {
      const theirs = gatherGrad(x, indices, axis, w);
      assert.deepEqual(ours.shape, shape);
      assert.deepEqual(ours.shape, theirs.shape);
      assert.deepEqual(ours.bits, theirs.bits, `axis ${axis} shape [${shape}]`);
    } finally {
      tf.registerGradient(gatherGradient);
    }
    assert.equal(tf.getGradient(GATHER), gatherGradient);
    tf.dispose([x, indices]);
  }
});
