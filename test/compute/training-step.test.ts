import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { normalizedBipartiteAdjacency, csrFromCoo } from '../../src/graph/index.js';
import { initBackend, kernelCounters, registerSparse, shutdownCompute, spmm, tf, type SparseHandle } from '../../src/compute/index.js';
import { assertClose, centralDifference, randomFloats, rng } from './helpers.js';

before(async () => {
  await initBackend('wasm');
});

after(async () => {
  await tf.setBackend('wasm');
  await shutdownCompute();
});

const [nUsers, nItems, d, layers] = [60, 45, 16, 3];
const r = rng(41);
const users: number[] = [];
const items: number[] = [];
for (let u = 0; u < nUsers; u++) {
  for (let i = 0; i < nItems; i++) {
    if (r.nextFloat() >= 0.08) continue;
    users.push(u);
    items.push(i);
  }
}
const graph = normalizedBipartiteAdjacency(csrFromCoo(nUsers, nItems, Int32Array.from(users), Int32Array.from(items)));
const embeddings = randomFloats(r, (nUsers + nItems) * d).map((v) => 0.1 * v);
const batch = {
  users: Int32Array.from({ length: 32 }, () => r.nextInt(nUsers)),
  pos: Int32Array.from({ length: 32 }, () => nUsers + r.nextInt(nItems)),
  neg: Int32Array.from({ length: 32 }, () => nUsers + r.nextInt(nItems)),
};

/** LightGCN's BPR loss: mean softplus(s_neg − s_pos) on the mean of the layer outputs (He et al. 2020, eqs. 8, 15). */
function lightgcnLoss(h: SparseHandle, e0: tf.Tensor2D): tf.Scalar {
  const outputs = [e0];
  for (let l = 0; l < layers; l++) outputs.push(spmm(h, outputs[l]));
  const e = tf.div(tf.addN(outputs), layers + 1) as tf.Tensor2D;
  const pick = (ids: Int32Array): tf.Tensor2D => tf.gather(e, tf.tensor1d(ids, 'int32'));
  const u = pick(batch.users);
  const score = (items: Int32Array): tf.Tensor1D => tf.sum(tf.mul(u, pick(items)), 1);
  return tf.mean(tf.softplus(tf.sub(score(batch.neg), score(batch.pos))));
}

function stepGradient(h: SparseHandle, table: Float32Array): Float32Array {
  const g = tf.tidy(() => tf.grad((t: tf.Tensor) => lightgcnLoss(h, t as tf.Tensor2D))(tf.tensor2d(table, [nUsers + nItems, d])));
  const values = Float32Array.from(g.dataSync());
  g.dispose();
  return values;
}

test('a LightGCN step runs our kernels (3 forward + 3 backward products, gather gradients), leaks nothing, and agrees across backends', async () => {
  const h = registerSparse(graph, { symmetric: true });
  const results: Float32Array[] = [];
  for (const backend of ['wasm', 'cpu']) {
    await tf.setBackend(backend);
    const before = kernelCounters();
    const tensors = tf.memory().numTensors;
    results.push(stepGradient(h, embeddings));
    const after = kernelCounters();
    assert.equal(after.CamrecSpmm - (before.CamrecSpmm ?? 0), 2 * layers, `${backend}: products`);
    assert.equal(after.UnsortedSegmentSum - (before.UnsortedSegmentSum ?? 0), 3, `${backend}: one per gathered table`);
    assert.equal(tf.memory().numTensors, tensors, `${backend}: tensors leaked`);
  }
  assertClose(results[0], results[1], 1e-4, 1e-7, 'wasm vs cpu');
  assert.ok(results[0].some((v) => v !== 0));
});

test('the LightGCN step gradient matches central finite differences', async () => {
  await tf.setBackend('wasm');
  const h = registerSparse(graph, { symmetric: true });
  const g = stepGradient(h, embeddings);
  const lossAt = (table: Float32Array): number => {
    const loss = tf.tidy(() => lightgcnLoss(h, tf.tensor2d(table, [nUsers + nItems, d])));
    const value = loss.dataSync()[0];
    loss.dispose();
    return value;
  };
  const coords = [batch.users[0] * d, batch.pos[1] * d + 3, batch.neg[2] * d + 7, (nUsers + 1) * d + 5, 2 * d + 1];
  for (const i of coords) {
    const fd = centralDifference(lossAt, embeddings, i, 5e-3);
    assert.ok(Math.abs(g[i] - fd) <= 2e-4 + 2e-2 * Math.abs(fd), `coordinate ${i}: autodiff ${g[i]}, finite difference ${fd}`);
  }
});
