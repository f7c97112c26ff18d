import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasEntry } from '../../src/graph/index.js';
import { TrainSampler } from '../../src/train/index.js';
import { randomDataset } from '../helpers/tiny.js';

test('an epoch covers every training pair once, negatives are never training items', () => {
  const data = randomDataset(40, 30, 8);
  const s = new TrainSampler(data, 3, 16);
  const batches = s.epoch(1);
  assert.equal(batches.length, Math.ceil(s.pairs / 16));
  const seen = new Map<string, number>();
  for (const b of batches) {
    for (let k = 0; k < b.users.length; k++) {
      const key = `${b.users[k]}:${b.pos[k]}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
      assert.ok(hasEntry(data.trainByUser, b.users[k], b.pos[k]), 'positive is a training pair');
      assert.ok(!hasEntry(data.trainByUser, b.users[k], b.neg[k]), 'negative is not a training item');
      assert.ok(b.neg[k] >= 0 && b.neg[k] < data.nItems);
    }
  }
  assert.equal(seen.size, s.pairs);
  assert.ok([...seen.values()].every((c) => c === 1));
});

test('batches depend on (seed, epoch) only; negatives do not depend on the batch size', () => {
  const data = randomDataset(40, 30, 8);
  const a = new TrainSampler(data, 3, 16).epoch(2);
  const b = new TrainSampler(data, 3, 16).epoch(2);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a[0].users, new TrainSampler(data, 3, 16).epoch(3)[0].users);
  const negOf = (batches: ReturnType<TrainSampler['epoch']>) => {
    const m = new Map<string, number>();
    for (const bt of batches) for (let k = 0; k < bt.users.length; k++) m.set(`${bt.users[k]}:${bt.pos[k]}`, bt.neg[k]);
    return m;
  };
  assert.deepEqual(negOf(new TrainSampler(data, 3, 7).epoch(2)), negOf(a));
});

test('negatives are uniform over the items the user has not seen', () => {
  const data = randomDataset(1, 10, 5);
  // user 0 has 3 train items; 7 candidates remain
  const s = new TrainSampler(data, 11, 1000);
  const counts = new Map<number, number>();
  for (let e = 1; e <= 3000; e++) {
    for (const b of s.epoch(e)) for (const n of b.neg) counts.set(n, (counts.get(n) ?? 0) + 1);
  }
  assert.equal(counts.size, 7);
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const e = total / 7;
  const chi2 = [...counts.values()].reduce((acc, c) => acc + ((c - e) * (c - e)) / e, 0);
  assert.ok(chi2 < 22.46, `chi2 ${chi2} (6 dof) beyond the 0.999 quantile`);
});
