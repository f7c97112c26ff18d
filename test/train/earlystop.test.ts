import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initialEarlyStop, updateEarlyStop, type EarlyStopState } from '../../src/train/index.js';

test('early stopping: strictly better resets, patience + 1 non-improving evaluations stop (MMRec)', () => {
  let s: EarlyStopState = initialEarlyStop;
  const values = [0.1, 0.2, 0.2, 0.15, 0.19];
  const improved: boolean[] = [];
  values.forEach((v, i) => {
    const r = updateEarlyStop(s, v, i + 1, 2);
    improved.push(r.improved);
    s = r;
  });
  assert.deepEqual(improved, [true, true, false, false, false]);
  assert.equal(s.bestEpoch, 2);
  assert.equal(s.best, 0.2);
  assert.equal(s.stopped, true, '3 evaluations without improvement exceed patience 2');
  const notYet = updateEarlyStop(updateEarlyStop(updateEarlyStop(initialEarlyStop, 1, 1, 2), 0.5, 2, 2), 0.5, 3, 2);
  assert.equal(notYet.stopped, false, '2 evaluations without improvement do not exceed patience 2');
});
