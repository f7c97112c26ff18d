/** Single-process training to compare a distributed run with (test/distributed/equivalence and camrec tests). */
import assert from 'node:assert/strict';
import type { TrainConfig } from '../../src/config/index.js';
import { loadDataset } from '../../src/data/index.js';
import { models } from '../../src/models/index.js';
import { adam, LocalParamStore, TrainSampler, trainStep, type StoreState } from '../../src/train/index.js';
import { maxRelDiff } from '../paramserver/helpers.js';

/** One process, the same global batches: each step's loss and the final store state. */
export async function singleProcess(c: TrainConfig): Promise<{ losses: number[]; state: StoreState }> {
  const data = await loadDataset(c.data);
  const model = models.get(c.model);
  const hyper = model.hyper.parse(c.hyper) as Record<string, unknown>;
  const prep = model.prepare(data, hyper, { seed: c.seed });
  const store = new LocalParamStore(model.tables(data, hyper), adam(c.lr), c.seed);
  try {
    const sampler = new TrainSampler(data, c.seed, c.batch);
    const losses: number[] = [];
    for (let epoch = 1; epoch <= c.epochs; epoch++) {
      for (const batch of sampler.epoch(epoch)) losses.push((await trainStep(model, batch, store, prep, hyper)).loss);
    }
    return { losses, state: await store.exportState() };
  } finally {
    store.dispose();
    prep.release();
  }
}

export function assertSameLosses(got: readonly number[], want: readonly number[]): void {
  assert.equal(got.length, want.length, 'steps');
  got.forEach((l, k) => assert.ok(Math.abs(l - want[k]) <= 1e-5 * Math.abs(want[k]), `step ${k}: loss ${l} vs one process ${want[k]}`));
}

/** ‖a − b‖ / ‖b‖ over a whole array. */
export function relL2(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    d += (a[i] - b[i]) ** 2;
    n += b[i] ** 2;
  }
  return Math.sqrt(d / n);
}

/**
 * The same step, and every table's values and optimizer state within a relative (L2) difference of `tolerance`
 * (1e-5 unless given). Element by element the differences reach ~1e-5 in absolute terms: a row whose gradient
 * nearly cancels has a gradient known only to float32 summation order, and Adam divides by its magnitude
 * (docs/distributed.md, measured figures).
 */
export function assertCloseState(got: StoreState, want: StoreState, tolerance = 1e-5): { worst: number; rel: number } {
  assert.equal(got.step, want.step, 'step');
  let worst = 0;
  let rel = 0;
  for (const [name, w] of Object.entries(want.tables)) {
    const g = got.tables[name];
    const arrays: [string, Float32Array, Float32Array][] = [[`${name} values`, g.values, w.values], ...w.state.map((s, k): [string, Float32Array, Float32Array] => [`${name} state ${k}`, g.state[k], s])];
    for (const [what, a, b] of arrays) {
      assert.ok(relL2(a, b) <= tolerance, `${what}: relative difference ${relL2(a, b)}`);
      worst = Math.max(worst, maxRelDiff(a, b));
      rel = Math.max(rel, relL2(a, b));
    }
  }
  return { worst, rel };
}
