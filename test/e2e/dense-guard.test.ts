import { after, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { shutdownCompute } from '../../src/compute/index.js';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/compute/index.js';
import { loadDataset } from '../../src/data/index.js';
import { models } from '../../src/models/index.js';
import { adam, LocalParamStore, TrainSampler, trainStep } from '../../src/train/index.js';

after(async () => {
  await shutdownCompute();
});

const BABY = new URL('../../../shared/datasets/baby', import.meta.url).pathname;

before(async () => {
  await initBackend('wasm');
});

/** Records the largest tensor (in elements) created while `fn` runs, by hooking the engine's tensor tracking. */
async function largestTensor(fn: () => Promise<void>): Promise<{ size: number; shape: number[] }> {
  const engine = tf.engine() as unknown as { trackTensor: (t: tf.Tensor, b: unknown) => void };
  const original = engine.trackTensor;
  let largest = { size: 0, shape: [] as number[] };
  engine.trackTensor = function (this: unknown, t: tf.Tensor, b: unknown) {
    if (t.size > largest.size) largest = { size: t.size, shape: t.shape.slice() };
    return original.call(this, t, b);
  };
  try {
    await fn();
  } finally {
    engine.trackTensor = original;
  }
  return largest;
}

for (const name of ['lightgcn', 'bpr', 'camrec']) {
  test(`a ${name} training step on baby allocates no tensor of users×items or items×items elements`, async () => {
    const data = await loadDataset(BABY);
    const model = models.get(name);
    const hyper = model.hyper.parse({});
    const prep = model.prepare(data, hyper, { seed: 1 });
    try {
      const store = new LocalParamStore(model.tables(data, hyper), adam(1e-3), 1);
      const batch = new TrainSampler(data, 1, 2048).epoch(1)[0];
      const seen = await largestTensor(async () => {
        await trainStep(model, batch, store, prep, hyper);
      });
      const limit = Math.min(data.nUsers * data.nItems, data.nItems * data.nItems);
      assert.ok(seen.size > 0, 'the hook saw the step');
      assert.ok(seen.size < limit, `largest tensor [${seen.shape}] has ${seen.size} ≥ ${limit} elements`);
    } finally {
      prep.release();
    }
  });
}
