/**
 * The coordinator's policy, unit-tested with no network and no clock: each test states one property of
 * `decide(state, event) → { state, actions }`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { begin, decide, splitStep, type Action, type Event, type State } from '../../src/coordinator/index.js';
import { initialEarlyStop, updateEarlyStop } from '../../src/train/index.js';
import { baseConfig, Driver, only } from './drive.js';

test('begin opens epoch 1 with the first step\'s tasks queued; a bad config is refused', () => {
  const d = new Driver();
  assert.deepEqual(d.kinds(), ['startEpoch', 'startStep']);
  const [, step] = d.log;
  assert.equal(step.kind, 'startStep');
  assert.deepEqual(step.kind === 'startStep' && step.tasks, splitStep(1, 0, 10, 3));
  assert.throws(() => begin({ ...baseConfig, tasksPerStep: 0 }, 0), /tasksPerStep/);
  assert.throws(() => begin({ ...baseConfig, stepSizes: [] }, 0), /at least one step/);
  assert.throws(() => begin({ ...baseConfig, leaseMs: 0 }, 0), /leaseMs/);
});

test('determinism: the same events give the same states and actions, and decide never mutates its input', () => {
  const events: Event[] = [
    { kind: 'workerJoined', worker: 'a', now: 0 },
    { kind: 'workerJoined', worker: 'b', now: 1 },
    { kind: 'leaseRequested', worker: 'a', now: 2 },
    { kind: 'leaseRequested', worker: 'b', now: 3 },
    { kind: 'tick', now: 1500 },
    { kind: 'leaseRequested', worker: 'b', now: 1600 },
    { kind: 'resultArrived', worker: 'a', task: { epoch: 1, step: 0, index: 0 }, attempt: 1, loss: 0.5, now: 1700 },
    { kind: 'workerLeft', worker: 'b', now: 1800 },
  ];
  const run = () => {
    let s: State = begin(baseConfig, 0).state;
    const trace: unknown[] = [];
    for (const e of events) {
      const before = structuredClone(s);
      const d = decide(s, e);
      assert.deepEqual(s, before, `decide mutated its state on ${e.kind}`);
      trace.push(structuredClone(d));
      s = d.state;
    }
    return trace;
  };
  assert.deepEqual(run(), run());
});

test('the tasks committed for a step are the same partition whatever the number of workers', () => {
  const committed = (workers: number) => {
    const d = new Driver({ maxEpochs: 1 });
    const names = Array.from({ length: workers }, (_, i) => `w${i}`);
    for (const w of names) d.join(w);
    for (let step = 0; step < 3; step++) {
      while (!d.log.some((a) => a.kind === 'commitStep' && a.step === step)) {
        const round = names.map((w) => d.lease(w));
        round.forEach((l, i) => l.kind === 'lease' && d.result(names[i], l));
      }
    }
    return only(d.log, 'commitStep').map((c) => ({ step: c.step, tasks: c.tasks.map((t) => [t.index, t.weight]) }));
  };
  const one = committed(1);
  assert.equal(one.length, 3);
  for (const c of one) assert.equal(c.tasks.length, 3, 'every task of the step, once');
  for (const w of [2, 3, 7]) assert.deepEqual(committed(w), one, `${w} workers`);
});

test('a committed step\'s loss is Σ w_t loss_t: the global batch\'s mean loss', () => {
  const d = new Driver({ stepSizes: [10], tasksPerStep: 3 });
  d.join('a');
  const losses = [0.9, 0.3, 0.6];
  const [commit] = only(d.finishStep('a', (i) => losses[i]), 'commitStep');
  const tasks = splitStep(1, 0, 10, 3);
  assert.ok(Math.abs(commit.loss - tasks.reduce((s, t, i) => s + t.weight * losses[i], 0)) < 1e-15);
  assert.ok(Math.abs(commit.loss - (3 * 0.9 + 3 * 0.3 + 4 * 0.6) / 10) < 1e-15, 'tasks of 3, 3 and 4 triples');
});

test('an expired lease is re-queued with attempt + 1 and the late result of the old attempt is ignored', () => {
  const d = new Driver({ leaseMs: 1000 });
  d.join('a');
  d.join('b');
  const first = d.lease('a', 0);
  assert.equal(first.kind === 'lease' && first.deadline, 1000);
  assert.deepEqual(d.send({ kind: 'tick', now: 999 }), [], 'not yet due');
  const expired = d.send({ kind: 'tick', now: 1000 });
  assert.deepEqual(expired, [{ kind: 'requeue', task: splitStep(1, 0, 10, 3)[0], attempt: 2, worker: 'a', reason: 'expired' }]);
  const again = d.lease('b');
  assert.ok(again.kind === 'lease' && again.task.index === 0 && again.attempt === 2, 'the re-queued task goes out first');
  const late = d.result('a', first, { now: 1100 });
  assert.deepEqual(late.map((x) => x.kind === 'ignore' && [x.task.index, x.attempt, x.worker, x.reason]), [[0, 1, 'a', 'expired attempt']]);
  assert.deepEqual(d.kinds(d.result('b', again)), ['accept']);
  assert.deepEqual(d.kinds(d.result('b', again)), ['ignore'], 'a duplicate of an accepted result is ignored');
});

test('a result that arrives after its deadline is ignored even when no tick came in between', () => {
  const d = new Driver({ leaseMs: 1000 });
  d.join('a');
  const l = d.lease('a', 0);
  const acts = d.result('a', l, { now: 1000 });
  assert.deepEqual(d.kinds(acts), ['requeue', 'ignore']);
});

test('a task that exhausts its attempts fails the job', () => {
  const d = new Driver({ leaseMs: 10, maxAttempts: 2 });
  d.join('a');
  d.lease('a', 0);
  d.send({ kind: 'tick', now: 10 });
  d.lease('a', 10);
  const acts = d.send({ kind: 'tick', now: 20 });
  assert.deepEqual(d.kinds(acts), ['requeue', 'fail']);
  assert.match(JSON.stringify(acts[1]), /task 1\.0\.0 failed 2 attempts/);
  assert.equal(d.state.phase, 'failed');
  assert.deepEqual(d.kinds([d.lease('a')]), ['stop']);
});

test('workers join mid-job, leave with their leases re-queued, and must join before asking', () => {
  const d = new Driver();
  assert.deepEqual(d.lease('ghost'), { kind: 'reject', worker: 'ghost', reason: 'not admitted: a worker joins before it asks for tasks' });
  assert.deepEqual(d.join('a'), [{ kind: 'admit', worker: 'a' }]);
  const a1 = d.lease('a');
  const a2 = d.lease('a');
  assert.deepEqual(d.join('b', 5), [{ kind: 'admit', worker: 'b' }], 'admitted mid-step');
  const b1 = d.lease('b');
  assert.ok(b1.kind === 'lease' && b1.task.index === 2, 'a joiner gets the next queued task');
  const left = d.send({ kind: 'workerLeft', worker: 'a', now: 6 });
  assert.deepEqual(
    left.map((a) => a.kind === 'requeue' && [a.task.index, a.attempt, a.reason]),
    [
      [0, 2, 'worker left'],
      [1, 2, 'worker left'],
    ],
  );
  assert.deepEqual(d.kinds(d.result('a', a1)), ['ignore'], 'a result from a worker that left does not count');
  assert.deepEqual(d.state.workers, ['b']);
  assert.equal(d.lease('a').kind, 'reject');
  assert.ok(a2.kind === 'lease');
  const b2 = d.lease('b');
  assert.ok(b2.kind === 'lease' && b2.task.index === 0 && b2.attempt === 2);
});

test('a worker that joins again (restarted) loses its leases', () => {
  const d = new Driver();
  d.join('a');
  d.lease('a');
  assert.deepEqual(d.kinds(d.join('a')), ['requeue', 'admit']);
  const l = d.lease('a');
  assert.ok(l.kind === 'lease' && l.task.index === 0 && l.attempt === 2);
});

test('while the step\'s tasks are all out, a worker is told to wait; during evaluation too', () => {
  const d = new Driver({ stepSizes: [2], tasksPerStep: 1 });
  d.join('a');
  d.join('b');
  const l = d.lease('a');
  assert.deepEqual(d.lease('b'), { kind: 'wait', worker: 'b', reason: 'step busy' });
  d.result('a', l);
  assert.equal(d.state.phase, 'evaluating');
  assert.deepEqual(d.lease('b'), { kind: 'wait', worker: 'b', reason: 'evaluating' });
});

test('an epoch ends exactly once: one evaluate, one epochEnd; repeated or stray evalDone is ignored', () => {
  const d = new Driver({ maxEpochs: 2, patience: 5 });
  d.join('a');
  for (let s = 0; s < 3; s++) d.finishStep('a');
  assert.deepEqual(d.kinds().filter((k) => k === 'evaluate'), ['evaluate']);
  assert.deepEqual(d.kinds(d.evalDone(2, 0.1)), ['ignoreEval'], 'not the pending epoch');
  assert.deepEqual(d.kinds(d.evalDone(1, 0.1)), ['epochEnd', 'startEpoch', 'startStep']);
  assert.deepEqual(d.kinds(d.evalDone(1, 0.1)), ['ignoreEval'], 'already done');
  const stray = d.send({ kind: 'resultArrived', worker: 'a', task: { epoch: 1, step: 2, index: 0 }, attempt: 1, loss: 1, now: 0 });
  assert.deepEqual(stray.map((a) => a.kind === 'ignore' && a.reason), ['other step']);
  assert.equal(only(d.log, 'epochEnd').length, 1);
  assert.equal(d.state.epoch, 2);
});

test('epochEnd reports the mean of the step losses and whether validation improved', () => {
  const d = new Driver({ stepSizes: [4, 4], tasksPerStep: 2, patience: 3 });
  d.join('a');
  d.finishStep('a', () => 0.5);
  d.finishStep('a', () => 1.5);
  const [end] = only(d.evalDone(1, 0.2), 'epochEnd');
  assert.deepEqual(end, { kind: 'epochEnd', epoch: 1, loss: 1, metrics: { 'recall@20': 0.2 }, improved: true });
});

test('early stopping follows updateEarlyStop: patience + 1 evaluations without improvement finish the job', () => {
  const values = [0.1, 0.3, 0.2, 0.3, 0.25, 0.9];
  const patience = 2;
  const d = new Driver({ stepSizes: [1], tasksPerStep: 1, maxEpochs: 50, patience });
  d.join('a');
  let es = initialEarlyStop;
  let stoppedAt = 0;
  for (let e = 1; e <= values.length && !stoppedAt; e++) {
    d.finishStep('a');
    es = updateEarlyStop(es, values[e - 1], e, patience);
    const acts = d.evalDone(e, values[e - 1]);
    if (es.stopped) stoppedAt = e;
    assert.equal(acts.some((a) => a.kind === 'finish'), es.stopped, `epoch ${e}`);
  }
  assert.equal(stoppedAt, 5, '0.2, 0.3, 0.25 do not beat 0.3');
  assert.deepEqual(only(d.log, 'finish'), [{ kind: 'finish', reason: 'early_stop', epoch: 5, bestEpoch: 2, best: 0.3 }]);
  assert.equal(d.state.phase, 'finished');
  assert.deepEqual(d.kinds([d.lease('a')]), ['stop']);
  assert.deepEqual(d.join('late'), [{ kind: 'stop', worker: 'late' }]);
});

test('max epochs, evalEvery and a non-finite loss end the job as the single-process trainer does', () => {
  const d = new Driver({ stepSizes: [1], tasksPerStep: 1, maxEpochs: 3, evalEvery: 2, patience: 9 });
  d.join('a');
  d.finishStep('a');
  assert.deepEqual(d.kinds(d.log.slice(-4)), ['commitStep', 'epochEnd', 'startEpoch', 'startStep'], 'epoch 1 closes unevaluated');
  assert.equal(only(d.log, 'evaluate').length, 0, 'epoch 1 is not an evaluation epoch');
  d.finishStep('a');
  assert.equal(only(d.log, 'evaluate').length, 1);
  d.evalDone(2, 0.1);
  const last = d.finishStep('a');
  assert.deepEqual(d.kinds(last).slice(-3), ['commitStep', 'epochEnd', 'finish']);
  assert.equal(only(last, 'finish')[0].reason, 'max_epochs');

  const n = new Driver({ stepSizes: [2], tasksPerStep: 2 });
  n.join('a');
  const acts = n.finishStep('a', (i) => (i === 1 ? NaN : 1));
  assert.deepEqual(n.kinds(acts).slice(-3), ['commitStep', 'epochEnd', 'finish']);
  assert.equal(only(acts, 'finish')[0].reason, 'nan_loss');
});

test('an evaluation without the selection metric fails the job with a clear reason', () => {
  const d = new Driver({ stepSizes: [1], tasksPerStep: 1 });
  d.join('a');
  d.finishStep('a');
  const acts = d.send({ kind: 'evalDone', epoch: 1, metrics: { 'ndcg@20': 0.1 }, now: 0 });
  assert.deepEqual(acts, [{ kind: 'fail', reason: 'evaluation of epoch 1 did not report recall@20' }]);
});

test('resume starts after the epochs already done, or finishes at once when they used up the budget', () => {
  const r = begin(baseConfig, 0, { epochsDone: 2, earlyStop: { ...initialEarlyStop, best: 0.4, bestEpoch: 2 } });
  assert.deepEqual(r.actions.map((a) => a.kind), ['startEpoch', 'startStep']);
  assert.equal(r.state.epoch, 3);
  const done = begin(baseConfig, 0, { epochsDone: 3, earlyStop: initialEarlyStop });
  assert.deepEqual(done.actions.map((a) => a.kind), ['finish']);
});

test('queue leasing: the first result of each task counts whatever its attempt; nothing expires in the policy', () => {
  const d = new Driver({ leasing: 'queue', stepSizes: [6], tasksPerStep: 2 });
  d.join('a');
  assert.deepEqual(d.lease('a'), { kind: 'wait', worker: 'a', reason: 'the queue leases' });
  assert.deepEqual(d.send({ kind: 'tick', now: 1e9 }), [], 'the queue, not the policy, expires leases');
  const res = (worker: string, index: number, attempt: number) =>
    d.send({ kind: 'resultArrived', worker, task: { epoch: 1, step: 0, index }, attempt, loss: 1, now: d.state.now });
  assert.deepEqual(d.kinds(res('b', 1, 3)), ['accept'], 'a redelivered attempt from a worker the policy never saw');
  assert.deepEqual(res('a', 1, 2).map((a) => a.kind === 'ignore' && a.reason), ['already done']);
  const commit = only(res('a', 0, 1), 'commitStep')[0];
  assert.deepEqual(commit.tasks.map((t) => [t.index, t.attempt, t.worker]), [
    [0, 1, 'a'],
    [1, 3, 'b'],
  ]);
});

test('queue leasing: a task taken from the queue is leased under its delivery count, never under an attempt another taker holds', () => {
  const d = new Driver({ leasing: 'queue', stepSizes: [6, 6], tasksPerStep: 2, maxAttempts: 3, leaseMs: 500 });
  const t0 = { epoch: 1, step: 0, index: 0 };
  const t1 = { epoch: 1, step: 0, index: 1 };
  assert.deepEqual(d.kinds(d.taken('x', t0, 1)), ['reject'], 'a worker joins before it takes tasks');
  d.join('a');
  d.join('b');
  const lease = (acts: Action[]) => acts.map((a) => (a.kind === 'lease' ? [a.worker, a.task.index, a.attempt, a.deadline] : a.kind));
  assert.deepEqual(lease(d.taken('a', t0, 1, 100)), [['a', 0, 1, 600]], 'the delivery count, with a deadline of leaseMs');
  assert.deepEqual(lease(d.taken('b', t0, 1)), [['b', 0, 2, 600]], 'delivered twice: the second taker gets attempt 2');
  assert.deepEqual(lease(d.taken('a', t0, 2)), [['a', 0, 3, 600]], 'a redelivery while b holds attempt 2: attempt 3');
  assert.deepEqual(d.taken('a', { epoch: 1, step: 1, index: 0 }, 1).map((a) => a.kind === 'ignore' && a.reason), ['other step']);
  assert.deepEqual(d.send({ kind: 'tick', now: 1e6 }), [], 'the queue, not the policy, ends leases');
  assert.deepEqual(d.kinds(d.send({ kind: 'resultArrived', worker: 'b', task: t0, attempt: 2, loss: 1, now: d.state.now })), ['accept']);
  assert.deepEqual(d.taken('a', t0, 4).map((a) => a.kind === 'ignore' && a.reason), ['already done'], 'a done task is dropped');

  assert.deepEqual(lease(d.taken('a', t1, 1)), [['a', 1, 1, 1e6 + 500]]);
  const left = d.send({ kind: 'workerLeft', worker: 'a', now: d.state.now });
  assert.deepEqual(left.map((a) => a.kind === 'requeue' && [a.task.index, a.attempt, a.reason]), [[1, 2, 'worker left']], 'the queue will deliver it again');
  assert.deepEqual(lease(d.taken('b', t1, 2)), [['b', 1, 2, 1e6 + 500]], 'the nak\'d task comes back under attempt 2');
  const commit = only(d.send({ kind: 'resultArrived', worker: 'b', task: t1, attempt: 2, loss: 1, now: d.state.now }), 'commitStep');
  assert.deepEqual(commit[0].tasks.map((t) => [t.index, t.attempt, t.worker]), [[0, 2, 'b'], [1, 2, 'b']]);

  const s1 = { epoch: 1, step: 1, index: 0 };
  d.join('c');
  assert.deepEqual(lease(d.taken('c', s1, 3)), [['c', 0, 3, 1e6 + 500]], 'the last allowed attempt');
  const spent = d.taken('b', s1, 4);
  assert.deepEqual(d.kinds(spent), ['fail']);
  assert.match((spent[0] as Extract<Action, { kind: 'fail' }>).reason, /task 1\.1\.0 failed 3 attempts/);
});

test('a task taken from a queue under policy leasing is refused', () => {
  const d = new Driver();
  d.join('a');
  assert.deepEqual(d.kinds(d.taken('a', { epoch: 1, step: 0, index: 0 }, 1)), ['reject']);
});

test('minWorkers: the first epoch opens when that many workers are admitted; until then workers wait; later joins and leaves change nothing', () => {
  const d = new Driver({ minWorkers: 2 }, 10);
  assert.deepEqual(d.log, [{ kind: 'gather', minWorkers: 2, until: Infinity }], 'no epoch, no step before the workers');
  assert.deepEqual(d.join('a'), [{ kind: 'admit', worker: 'a' }]);
  assert.deepEqual(d.lease('a'), { kind: 'wait', worker: 'a', reason: 'gathering workers' });
  assert.deepEqual(d.send({ kind: 'tick', now: 1e9 }), [], 'no time limit by default');
  d.send({ kind: 'workerLeft', worker: 'a', now: d.state.now });
  d.join('b');
  assert.deepEqual(d.kinds(d.join('a')), ['admit', 'gathered', 'startEpoch', 'startStep'], 'the second admitted worker opens epoch 1');
  assert.deepEqual(d.log.find((a) => a.kind === 'gathered'), { kind: 'gathered', workers: ['a', 'b'], timedOut: false });
  assert.equal(d.state.epoch, 1);
  assert.equal(d.lease('b').kind, 'lease');
  d.send({ kind: 'workerLeft', worker: 'a', now: d.state.now });
  assert.equal(d.lease('b').kind, 'lease', 'once open, one worker carries on');
  assert.deepEqual(d.kinds(d.join('c')), ['admit'], 'a later worker is only admitted');

  assert.throws(() => begin({ ...baseConfig, minWorkers: 0 }, 0), /minWorkers/);
  assert.throws(() => begin({ ...baseConfig, minWorkers: 2, gatherMs: 0 }, 0), /gatherMs/);
  assert.deepEqual(new Driver({ minWorkers: 1 }).kinds(), ['startEpoch', 'startStep'], 'one worker: no wait');
});

test('gatherMs: past the wait, the first epoch opens with the workers admitted, or with the first to join; a resumed job waits too', () => {
  const d = new Driver({ minWorkers: 3, gatherMs: 500 }, 100);
  assert.deepEqual(d.log, [{ kind: 'gather', minWorkers: 3, until: 600 }]);
  d.join('a', 200);
  assert.deepEqual(d.send({ kind: 'tick', now: 599 }), []);
  assert.deepEqual(d.kinds(d.send({ kind: 'tick', now: 600 })), ['gathered', 'startEpoch', 'startStep']);
  assert.deepEqual(d.log.find((a) => a.kind === 'gathered'), { kind: 'gathered', workers: ['a'], timedOut: true });

  const empty = new Driver({ minWorkers: 2, gatherMs: 50 });
  assert.deepEqual(empty.send({ kind: 'tick', now: 1000 }), [], 'no worker: nothing to open the epoch for');
  const late = empty.send({ kind: 'leaseRequested', worker: 'x', now: 1001 });
  assert.deepEqual(empty.kinds(late), ['reject'], 'a worker that has not joined is still refused');
  assert.deepEqual(empty.kinds(empty.join('x')), ['admit', 'gathered', 'startEpoch', 'startStep']);
  assert.equal(empty.lease('x').kind, 'lease');

  const resumed = begin({ ...baseConfig, minWorkers: 2 }, 0, { epochsDone: 1, earlyStop: { ...initialEarlyStop, best: 0.4, bestEpoch: 1 } });
  assert.deepEqual(resumed.actions.map((a) => a.kind), ['gather']);
  let s = resumed.state;
  for (const w of ['a', 'b']) s = decide(s, { kind: 'workerJoined', worker: w, now: 1 }).state;
  assert.equal(s.epoch, 2, 'the resumed job opens the epoch after those done');
  const spent = begin({ ...baseConfig, minWorkers: 2 }, 0, { epochsDone: 3, earlyStop: initialEarlyStop });
  assert.deepEqual(spent.actions.map((a) => a.kind), ['finish'], 'nothing left to do: no wait');
});
