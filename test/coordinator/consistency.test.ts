/**
 * The ssp and async policies, with no network and no clock: which steps are open, what a worker may lease, when a
 * step counts as done, and that epochs, evaluation, re-leases and joins behave as under bsp.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConsistency, splitStep, type Action, type Consistency } from '../../src/coordinator/index.js';
import { Driver, only } from './drive.js';

const ssp = (staleness: number): Consistency => ({ mode: 'ssp', staleness });
type Lease = Extract<Action, { kind: 'lease' }>;

function leaseAll(d: Driver, worker: string): Lease[] {
  const out: Lease[] = [];
  for (;;) {
    const a = d.lease(worker);
    if (a.kind !== 'lease') return out;
    out.push(a);
  }
}

test('--consistency parses bsp, ssp:<s> and async; anything else is refused naming the flag', () => {
  assert.deepEqual(parseConsistency('bsp'), { mode: 'bsp' });
  assert.deepEqual(parseConsistency('async'), { mode: 'async' });
  assert.deepEqual(parseConsistency('ssp:0'), ssp(0));
  assert.deepEqual(parseConsistency('ssp:12'), ssp(12));
  for (const bad of ['ssp:x', 'ssp', 'ssp:-1', 'ssp:1.5', 'BSP', '', 'async:1', 'ssp:99999999']) {
    assert.throws(() => parseConsistency(bad), (e: Error) => e.message.startsWith(`--consistency: '${bad}' is not bsp, ssp:<s>`), bad);
  }
  assert.throws(() => parseConsistency('x', 'JobSpec.consistency'), (e: Error) => e.message.startsWith("JobSpec.consistency: 'x'"));
});

test('ssp:s opens s + 1 steps; a worker is held back at the bound until the oldest step is applied', () => {
  const d = new Driver({ consistency: ssp(1), stepSizes: [4, 4, 4, 4], tasksPerStep: 2, maxEpochs: 1 });
  assert.deepEqual(only(d.log, 'startStep').map((s) => s.step), [0, 1], 'steps 0 and 1 open at once');
  d.join('a');
  const leases = leaseAll(d, 'a');
  assert.deepEqual(leases.map((l) => [l.task.step, l.task.index]), [[0, 0], [0, 1], [1, 0], [1, 1]], 'lowest (step, index) first');
  assert.deepEqual(d.lease('a'), { kind: 'wait', worker: 'a', reason: 'staleness bound' });
  // Step 1 finishes first: it is done but cannot retire before step 0, and the window does not move.
  assert.deepEqual(d.kinds(d.result('a', leases[2])), ['accept']);
  assert.deepEqual(d.kinds(d.result('a', leases[3])), ['accept']);
  assert.equal(d.lease('a').kind, 'wait');
  assert.deepEqual(d.kinds(d.result('a', leases[0])), ['accept']);
  const last = d.result('a', leases[1], { loss: 3 });
  assert.deepEqual(d.kinds(last), ['accept', 'stepApplied', 'stepApplied', 'startStep', 'startStep'], 'steps 0 and 1 retire in order, 2 and 3 open');
  assert.deepEqual(only(last, 'stepApplied').map((s) => [s.step, s.loss]), [[0, 0.5 * 1 + 0.5 * 3], [1, 1]]);
  assert.equal(only(d.log, 'commitStep').length, 0, 'nothing to commit: gradients were applied on arrival');
  assert.deepEqual([d.state.step, d.state.opened], [2, 4]);
});

test('ssp:0 hands out one step at a time, in the order bsp does', () => {
  const run = (consistency: Consistency) => {
    const d = new Driver({ consistency, stepSizes: [5, 5, 3], tasksPerStep: 2, maxEpochs: 1 });
    d.join('a');
    d.join('b');
    const order: string[] = [];
    while (d.state.phase === 'training') {
      const [la, lb] = [d.lease('a'), d.lease('b')];
      for (const [w, l] of [['a', la], ['b', lb]] as const) {
        if (l.kind !== 'lease') continue;
        order.push(`${w}:${l.task.step}.${l.task.index}`);
        d.result(w, l);
      }
    }
    return { order, ends: d.log.filter((a) => a.kind === 'commitStep' || a.kind === 'stepApplied').map((a) => a.kind) };
  };
  const bsp = run({ mode: 'bsp' });
  const s0 = run(ssp(0));
  assert.deepEqual(s0.order, bsp.order);
  assert.deepEqual(bsp.ends, ['commitStep', 'commitStep', 'commitStep']);
  assert.deepEqual(s0.ends, ['stepApplied', 'stepApplied', 'stepApplied']);
});

test('async opens every step of the epoch at once and evaluates only after every task is applied', () => {
  const d = new Driver({ consistency: { mode: 'async' }, stepSizes: [4, 4, 2], tasksPerStep: 2, maxEpochs: 2, patience: 5 });
  assert.deepEqual(only(d.log, 'startStep').map((s) => s.step), [0, 1, 2]);
  d.join('a');
  d.join('b');
  const a = leaseAll(d, 'a');
  assert.equal(a.length, 6, 'one worker may take the whole epoch');
  assert.deepEqual(d.lease('b'), { kind: 'wait', worker: 'b', reason: 'step busy' });
  // Results in reverse order: nothing retires until step 0 is done, then all three at once, then evaluation.
  const losses = [1, 2, 3, 4, 5, 6];
  for (let k = 5; k >= 1; k--) {
    const acts = d.result('a', a[k], { loss: losses[k] });
    assert.deepEqual(d.kinds(acts), ['accept'], `result ${k}`);
    assert.notEqual(d.state.phase, 'evaluating');
  }
  const end = d.result('a', a[0], { loss: losses[0] });
  assert.deepEqual(d.kinds(end), ['accept', 'stepApplied', 'stepApplied', 'stepApplied', 'evaluate']);
  const stepLoss = [0, 1, 2].map((s) => splitStep(1, s, [4, 4, 2][s], 2).reduce((x, t, i) => x + t.weight * losses[2 * s + i], 0));
  assert.deepEqual(only(end, 'stepApplied').map((s) => s.loss), stepLoss);
  assert.deepEqual(d.lease('b'), { kind: 'wait', worker: 'b', reason: 'evaluating' });
  const [epochEnd] = only(d.evalDone(1, 0.2), 'epochEnd');
  assert.equal(epochEnd.loss, (stepLoss[0] + stepLoss[1] + stepLoss[2]) / 3, 'the mean of the step losses');
  assert.deepEqual(only(d.log, 'startStep').filter((s) => s.epoch === 2).map((s) => s.step), [0, 1, 2], 'epoch 2 opens whole');
});

test('async: a worker that leaves gives back leases of several steps; they go out again first, with attempt + 1', () => {
  const d = new Driver({ consistency: { mode: 'async' }, stepSizes: [4, 4], tasksPerStep: 2, maxEpochs: 1, leaseMs: 1000 });
  d.join('a');
  d.join('b');
  const a1 = d.lease('a');
  const b1 = d.lease('b');
  const a2 = d.lease('a');
  assert.ok(a1.kind === 'lease' && b1.kind === 'lease' && a2.kind === 'lease');
  assert.deepEqual([a1.task.step, a1.task.index, b1.task.index, a2.task.step, a2.task.index], [0, 0, 1, 1, 0]);
  const left = d.send({ kind: 'workerLeft', worker: 'a', now: 5 });
  assert.deepEqual(left.map((x) => x.kind === 'requeue' && [x.task.step, x.task.index, x.attempt]), [
    [0, 0, 2],
    [1, 0, 2],
  ]);
  assert.deepEqual(d.kinds(d.result('a', a1)), ['ignore'], 'the departed worker\'s result does not count');
  const again = leaseAll(d, 'b');
  assert.deepEqual(again.map((l) => [l.task.step, l.task.index, l.attempt]), [[0, 0, 2], [1, 0, 2], [1, 1, 1]]);
  // An expired lease under async, too.
  const t = d.send({ kind: 'tick', now: 5 + 1000 });
  assert.deepEqual(t.map((x) => x.kind === 'requeue' && [x.task.step, x.task.index, x.attempt, x.reason]), [
    [0, 0, 3, 'expired'],
    [0, 1, 2, 'expired'],
    [1, 0, 3, 'expired'],
    [1, 1, 2, 'expired'],
  ]);
});

test('a late result of a step that already retired is ignored, under ssp as under bsp', () => {
  const d = new Driver({ consistency: ssp(1), stepSizes: [2, 2, 2], tasksPerStep: 1, maxEpochs: 1, leasing: 'queue' });
  const res = (step: number) => d.send({ kind: 'resultArrived', worker: 'w', task: { epoch: 1, step, index: 0 }, attempt: 1, loss: 1, now: 0 });
  assert.deepEqual(d.kinds(res(2)), ['ignore'], 'step 2 is not open yet');
  assert.deepEqual(d.kinds(res(0)), ['accept', 'stepApplied', 'startStep']);
  assert.deepEqual(res(0).map((a) => a.kind === 'ignore' && a.reason), ['other step']);
  assert.deepEqual(d.kinds(res(2)), ['accept'], 'open now, under queue leasing the first result counts');
});
