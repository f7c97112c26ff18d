/**
 * Sharded evaluation in the pure policy (docs/coordinator.md §2.2): the evaluated users cut into ranges, leased to
 * the workers that evaluate like tasks, re-leased when lost, and their sums merged into the metrics of evaluating
 * every user at once. Each range reports made-up per-user values, so the whole mean is known in closed form.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide, RANGES_PER_WORKER, rangeKey, splitUsers, type Action, type EvalRange, type EvalSplit, type PolicyConfig } from '../../src/coordinator/index.js';
import type { MetricTotals } from '../../src/eval/index.js';
import { CounterRng } from '../../src/random/index.js';
import { Driver, only } from './drive.js';

const EVAL_USERS = { valid: 23, test: 17 } as const;
const sharded: Partial<PolicyConfig> = { evalUsers: EVAL_USERS };

type LeaseRange = Extract<Action, { kind: 'leaseRange' }>;

/** A made-up metric value of the evaluated user at position `pos`, different per epoch and split. */
function perUser(epoch: number, split: EvalSplit, pos: number): Record<string, number> {
  const r = ((pos * 7919 + epoch * 31 + (split === 'test' ? 5 : 0)) % 101) / 101;
  return { 'recall@20': r, 'ndcg@20': r * r / 3 };
}

/** What a worker reports for a range: the sums of its users' values and their count. */
function totalsOf(r: EvalRange, users = r.end - r.start): MetricTotals {
  const sums: Record<string, number> = { 'recall@20': 0, 'ndcg@20': 0 };
  for (let pos = r.start; pos < r.end; pos++) for (const [k, v] of Object.entries(perUser(r.epoch, r.split, pos))) sums[k] += v;
  return { sums, users };
}

/** Evaluating every user at once: each value's sum over the users, in user order. */
function wholeSums(epoch: number, split: EvalSplit): Record<string, number> {
  return totalsOf({ epoch, split, index: 0, start: 0, end: EVAL_USERS[split] }).sums as Record<string, number>;
}

function assertSameMetrics(got: Readonly<Record<string, number>>, epoch: number, split: EvalSplit, at = ''): void {
  const whole = wholeSums(epoch, split);
  assert.deepEqual(Object.keys(got).sort(), Object.keys(whole).sort());
  for (const [k, sum] of Object.entries(whole)) {
    const mean = sum / EVAL_USERS[split];
    assert.ok(Math.abs(got[k] - mean) <= 1e-12 * Math.abs(mean), `${at}${k}: merged ${got[k]} vs whole ${mean}`);
  }
}

function report(d: Driver, worker: string, l: Action, totals?: MetricTotals, now = d.state.now): Action[] {
  if (l.kind !== 'leaseRange') throw new Error(`not a range lease: ${JSON.stringify(l)}`);
  return d.send({ kind: 'rangeReported', worker, range: l.range, attempt: l.attempt, totals: totals ?? totalsOf(l.range), now });
}

/** `worker` trains the current epoch to its end (every step committed). */
function train(d: Driver, worker: string): void {
  for (let i = 0; i < d.state.config.stepSizes.length; i++) d.finishStep(worker);
}

/** Leases every range of the evaluation in progress, taking turns among `workers`. */
function leaseAll(d: Driver, workers: readonly string[]): LeaseRange[] {
  const out: LeaseRange[] = [];
  for (let i = 0; ; i++) {
    const w = workers[i % workers.length];
    const l = d.lease(w);
    if (l.kind !== 'leaseRange') return out;
    out.push(l);
  }
}

test('splitUsers: ranges cover every evaluated user exactly once, contiguous, balanced, two per worker', () => {
  for (let users = 1; users <= 40; users++) {
    for (let workers = 1; workers <= 7; workers++) {
      const ranges = splitUsers(4, 'valid', users, workers);
      assert.equal(ranges.length, Math.min(users, RANGES_PER_WORKER * workers));
      ranges.forEach((r, i) => {
        assert.deepEqual([r.epoch, r.split, r.index], [4, 'valid', i]);
        assert.equal(r.start, i === 0 ? 0 : ranges[i - 1].end, 'contiguous');
        assert.ok(r.end > r.start, 'none empty');
      });
      assert.equal(ranges.at(-1)?.end, users, 'every user');
      const sizes = ranges.map((r) => r.end - r.start);
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `balanced: ${sizes}`);
    }
  }
  assert.equal(rangeKey({ epoch: 3, split: 'test', index: 2 }), '3.test.2');
  assert.throws(() => splitUsers(1, 'valid', 0, 2), /evaluated users must be a positive integer/);
  assert.throws(() => splitUsers(1, 'valid', 5, 0), /workers must be a positive integer/);
});

test('with two workers that evaluate, valid and test are sharded, and the merged metrics end the epoch as the coordinator\'s own evaluation would', () => {
  const d = new Driver(sharded);
  d.joinEvaluator('a');
  d.joinEvaluator('b');
  d.join('old'); // a worker that cannot evaluate (older than sharded evaluation)
  train(d, 'a');
  const [start] = only(d.log, 'shardEval');
  assert.deepEqual(start, { kind: 'shardEval', epoch: 1, split: 'valid', ranges: splitUsers(1, 'valid', 23, 2) });
  assert.equal(only(d.log, 'evaluate').length, 0, 'the coordinator does not evaluate');
  assert.deepEqual(d.lease('old'), { kind: 'wait', worker: 'old', reason: 'evaluating' });
  const leases = leaseAll(d, ['a', 'b']);
  assert.deepEqual(leases.map((l) => [l.worker, l.range.index, l.attempt]), [['a', 0, 1], ['b', 1, 1], ['a', 2, 1], ['b', 3, 1]], 'lowest range first');
  assert.deepEqual(d.lease('a'), { kind: 'wait', worker: 'a', reason: 'evaluating' }, 'every range is out');
  for (const l of [...leases].reverse().slice(0, 3)) assert.deepEqual(d.kinds(report(d, l.worker, l)), ['acceptRange']);
  const last = report(d, leases[0].worker, leases[0]);
  assert.deepEqual(d.kinds(last), ['acceptRange', 'evalMerged', 'shardEval'], 'valid improved: test is sharded next');
  const [merged] = only(last, 'evalMerged');
  assert.deepEqual([merged.epoch, merged.split, merged.users], [1, 'valid', 23]);
  assert.deepEqual(merged.ranges, leases.map((l) => ({ index: l.range.index, attempt: 1, worker: l.worker })));
  assertSameMetrics(merged.metrics, 1, 'valid');

  // The coordinator evaluating alone, fed the same metrics, decides the same.
  const ref = new Driver();
  ref.join('a');
  train(ref, 'a');
  const refEnd = only(ref.send({ kind: 'evalDone', epoch: 1, metrics: merged.metrics, now: ref.state.now }), 'epochEnd')[0];
  assert.deepEqual(d.state.earlyStop, ref.state.earlyStop);

  const test = leaseAll(d, ['b', 'a']);
  assert.deepEqual(test.map((l) => l.range), splitUsers(1, 'test', 17, 2));
  const acts = test.flatMap((l) => report(d, l.worker, l));
  const [testMerged] = only(acts, 'evalMerged');
  assertSameMetrics(testMerged.metrics, 1, 'test');
  const [end] = only(acts, 'epochEnd');
  assert.deepEqual(end, { ...refEnd, test: testMerged.metrics }, 'the epoch ends with the valid and the test metrics');
  assert.deepEqual(d.kinds(acts).slice(-3), ['epochEnd', 'startEpoch', 'startStep']);
  assert.equal(d.state.phase, 'training');
});

test('the merged metrics are the same bits whatever order the ranges report in', () => {
  const run = (order: (n: number) => number[]) => {
    const d = new Driver({ ...sharded, maxEpochs: 1 });
    d.joinEvaluator('a');
    d.joinEvaluator('b');
    train(d, 'a');
    const leases = leaseAll(d, ['a', 'b']);
    for (const i of order(leases.length)) report(d, leases[i].worker, leases[i]);
    return only(d.log, 'evalMerged')[0].metrics;
  };
  const inOrder = run((n) => [...Array(n).keys()]);
  assert.deepEqual(run((n) => [...Array(n).keys()].reverse()), inOrder);
  assert.deepEqual(run((n) => [2, 0, 3, 1].slice(0, n)), inOrder);
});

test('a lost range is leased again under attempt + 1 (worker left, lease expired, worker restarted); stale reports are ignored', () => {
  const d = new Driver({ ...sharded, leaseMs: 1000 });
  d.joinEvaluator('a');
  d.joinEvaluator('b');
  train(d, 'a');
  const t0 = d.state.now;
  const [a0, b1, a2, b3] = leaseAll(d, ['a', 'b']);
  assert.equal(a0.deadline, t0 + 1000);

  // b leaves holding ranges 1 and 3: both are queued again, and the lowest goes out first.
  const left = d.send({ kind: 'workerLeft', worker: 'b', now: t0 + 10 });
  assert.deepEqual(left.map((x) => x.kind === 'requeueRange' && [x.range.index, x.attempt, x.worker, x.reason]), [[1, 2, 'b', 'worker left'], [3, 2, 'b', 'worker left']]);
  const again = d.lease('a');
  assert.ok(again.kind === 'leaseRange' && again.range.index === 1 && again.attempt === 2);
  const late = report(d, 'b', b1);
  assert.deepEqual(late.map((x) => x.kind === 'ignoreRange' && x.reason), ['expired attempt'], 'the old attempt\'s report is ignored');
  assert.deepEqual(d.kinds(report(d, 'a', again)), ['acceptRange']);
  assert.deepEqual(report(d, 'a', again).map((x) => x.kind === 'ignoreRange' && x.reason), ['already done']);

  // a's range 2 expires (no tick needed: every event checks deadlines first).
  const expired = d.send({ kind: 'tick', now: t0 + 1000 });
  assert.deepEqual(expired.map((x) => x.kind === 'requeueRange' && [x.range.index, x.attempt, x.reason]), [[0, 2, 'expired'], [2, 2, 'expired']]);
  assert.deepEqual(report(d, 'a', a2).map((x) => x.kind === 'ignoreRange' && x.reason), ['expired attempt']);

  // a restarts (joins again) holding a fresh lease: it is re-queued too.
  const r0 = d.lease('a');
  assert.ok(r0.kind === 'leaseRange' && r0.range.index === 0 && r0.attempt === 2);
  const rejoined = d.joinEvaluator('a');
  assert.deepEqual(rejoined.map((x) => x.kind === 'requeueRange' ? [x.range.index, x.attempt, x.reason] : x.kind), [[0, 3, 'worker rejoined'], 'admit']);

  // Not the range's users, or not this evaluation: ignored, the lease stays.
  const r = d.lease('a');
  assert.ok(r.kind === 'leaseRange');
  assert.deepEqual(report(d, 'a', r, totalsOf(r.range, r.range.end - r.range.start + 1)).map((x) => x.kind === 'ignoreRange' && x.reason), ['wrong user count']);
  const other = d.send({ kind: 'rangeReported', worker: 'a', range: { ...r.range, split: 'test' }, attempt: r.attempt, totals: totalsOf(r.range), now: d.state.now });
  assert.deepEqual(other.map((x) => x.kind === 'ignoreRange' && x.reason), ['other evaluation']);
  assert.deepEqual(d.send({ kind: 'evalDone', epoch: 1, metrics: { 'recall@20': 1 }, now: d.state.now }).map((x) => x.kind), ['ignoreEval'], 'the coordinator\'s own result does not count while the workers evaluate');

  // decide never mutates its input, here either.
  const before = structuredClone(d.state);
  decide(d.state, { kind: 'rangeReported', worker: 'a', range: r.range, attempt: r.attempt, totals: totalsOf(r.range), now: d.state.now });
  assert.deepEqual(d.state, before);

  // Whatever was lost, each range counts once, from its live lease, and the merge is the whole evaluation.
  d.joinEvaluator('b');
  report(d, 'a', r);
  for (const l of leaseAll(d, ['a', 'b'])) report(d, l.worker, l);
  const [merged] = only(d.log, 'evalMerged');
  assertSameMetrics(merged.metrics, 1, 'valid');
  assert.deepEqual(only(d.log, 'acceptRange').map((x) => x.range.index).sort(), [0, 1, 2, 3]);
  assert.ok(b3.range.index === 3);
});

test('a range that fails every attempt fails the job', () => {
  const d = new Driver({ ...sharded, leaseMs: 10, maxAttempts: 2 });
  d.joinEvaluator('a');
  d.joinEvaluator('b');
  train(d, 'a');
  const t0 = d.state.now;
  d.lease('a');
  d.send({ kind: 'tick', now: t0 + 10 });
  d.lease('b');
  const acts = d.send({ kind: 'tick', now: t0 + 20 });
  assert.deepEqual(d.kinds(acts), ['requeueRange', 'fail']);
  assert.match(JSON.stringify(acts[1]), /evaluation range 1\.valid\.0 \(users \[0, 5\)\) failed 2 attempts \(last on worker b\)/);
  assert.equal(d.state.phase, 'failed');
  assert.equal(d.state.evaluation, null);
  assert.deepEqual(d.lease('a'), { kind: 'stop', worker: 'a' });
});

test('the coordinator evaluates alone with fewer than two workers that evaluate, without evalUsers, or under queue leasing', () => {
  const alone = (config: Partial<PolicyConfig>, join: (d: Driver) => void, queue = false) => {
    const d = new Driver({ ...config, maxEpochs: 1 });
    join(d);
    if (queue) {
      for (let step = 0; d.state.phase === 'training'; step++) {
        const open = only(d.log, 'startStep').filter((s) => s.step === step)[0];
        for (const t of open.tasks) d.send({ kind: 'resultArrived', worker: 'a', task: t, attempt: 1, loss: 1, now: d.state.now });
      }
    } else {
      train(d, 'a');
    }
    assert.deepEqual(d.kinds(d.log.slice(-1)), ['evaluate'], JSON.stringify(config));
    const acts = d.evalDone(1, 0.5);
    assert.deepEqual(d.kinds(acts), ['epochEnd', 'finish']);
    assert.equal(only(acts, 'epochEnd')[0].test, undefined, 'the driver evaluates test itself');
    assert.equal(only(d.log, 'shardEval').length, 0);
  };
  alone(sharded, (d) => {
    d.joinEvaluator('a');
    d.join('b');
  });
  alone({}, (d) => {
    d.joinEvaluator('a');
    d.joinEvaluator('b');
  });
  alone({ ...sharded, leasing: 'queue' }, (d) => {
    d.joinEvaluator('a');
    d.joinEvaluator('b');
  }, true);
  alone({ evalUsers: { valid: 0, test: 0 } }, (d) => {
    d.joinEvaluator('a');
    d.joinEvaluator('b');
  });
});

test('each split decides when it starts: valid on the coordinator, then test sharded once two workers evaluate', () => {
  const d = new Driver({ ...sharded, maxEpochs: 1 });
  d.joinEvaluator('a');
  train(d, 'a');
  assert.deepEqual(d.kinds(d.log.slice(-1)), ['evaluate']);
  d.joinEvaluator('b');
  const acts = d.evalDone(1, 0.5);
  assert.deepEqual(d.kinds(acts), ['shardEval']);
  for (const l of leaseAll(d, ['a', 'b'])) report(d, l.worker, l);
  const [end] = only(d.log, 'epochEnd');
  assert.deepEqual([end.metrics, end.improved], [{ 'recall@20': 0.5 }, true]);
  assertSameMetrics(end.test ?? {}, 1, 'test');
  assert.deepEqual(d.kinds(d.log.slice(-1)), ['finish']);
});

/**
 * Random schedules with workers that evaluate: they join, leave, die silently and restart; range reports arrive
 * late, twice or after their lease ended; training tasks run as in schedule.test.ts. Every evaluation accepts each
 * range exactly once from its latest lease and merges into the whole evaluation's metrics; each epoch ends once.
 */
function simulate(seed: number): Driver {
  const rng = new CounterRng(seed).stream('simulate', 1);
  const d = new Driver({ ...sharded, leaseMs: 100, tasksPerStep: 2, stepSizes: [9, 5], maxEpochs: 4, patience: 4, maxAttempts: 10_000 });
  type Lease = Extract<Action, { kind: 'lease' | 'leaseRange' }>;
  const workers: { name: string; alive: boolean; job: { lease: Lease; doneAt: number } | null }[] = [];
  const sent: { worker: string; lease: Lease }[] = [];
  let now = d.state.now;
  const live = () => workers.filter((w) => w.alive);
  const pick = <T>(xs: T[]) => xs[rng.nextInt(xs.length)];
  const join = (w: (typeof workers)[number]) => {
    w.alive = true;
    w.job = null;
    d.send({ kind: 'workerJoined', worker: w.name, evaluates: w.name !== 'w1', now });
  };
  const send = (worker: string, l: Lease) =>
    l.kind === 'lease'
      ? d.send({ kind: 'resultArrived', worker, task: l.task, attempt: l.attempt, loss: 1, now })
      : d.send({ kind: 'rangeReported', worker, range: l.range, attempt: l.attempt, totals: totalsOf(l.range), now });
  for (let i = 0; i < 200_000 && (d.state.phase === 'training' || d.state.phase === 'evaluating'); i++) {
    now += 1 + rng.nextInt(20);
    if (live().length < 2) join(workers[workers.push({ name: `w${workers.length}`, alive: false, job: null }) - 1]);
    if (d.state.phase === 'evaluating' && d.state.evaluation === null) {
      // The coordinator evaluated alone (fewer than two workers that evaluate when the epoch's training ended).
      d.send({ kind: 'evalDone', epoch: d.state.epoch, metrics: wholeMeans(d.state.epoch), now });
      continue;
    }
    const r = rng.nextFloat();
    if (r < 0.02 && live().length < 5) join(workers[workers.push({ name: `w${workers.length}`, alive: false, job: null }) - 1]);
    else if (r < 0.03 && workers.some((w) => !w.alive)) join(pick(workers.filter((w) => !w.alive)));
    else if (r < 0.045) {
      const w = pick(live());
      w.alive = false;
      d.send({ kind: 'workerLeft', worker: w.name, now });
    } else if (r < 0.06) {
      const w = pick(live());
      w.alive = false; // dies silently: its lease expires
      if (rng.nextFloat() < 0.5) join(w);
    } else if (r < 0.08 && sent.length) {
      const s = pick(sent);
      send(s.worker, s.lease);
    } else if (r < 0.12) d.send({ kind: 'tick', now });
    else {
      const w = pick(live());
      if (!w.job) {
        const [a] = d.send({ kind: 'leaseRequested', worker: w.name, now });
        if (a.kind === 'lease' || a.kind === 'leaseRange') w.job = { lease: a, doneAt: now + 1 + rng.nextInt(130) };
      } else if (now >= w.job.doneAt) {
        sent.push({ worker: w.name, lease: w.job.lease });
        send(w.name, w.job.lease);
        w.job = null;
      }
    }
  }
  return d;
}

function wholeMeans(epoch: number): Record<string, number> {
  return Object.fromEntries(Object.entries(wholeSums(epoch, 'valid')).map(([k, v]) => [k, v / EVAL_USERS.valid]));
}

test('randomised schedules: every range of every sharded evaluation counts exactly once, from its latest lease, and merges into the whole', () => {
  let shardedEvals = 0;
  let requeued = 0;
  let ignored = 0;
  for (let seed = 1; seed <= 10; seed++) {
    const d = simulate(seed);
    const at = `seed ${seed}`;
    assert.equal(d.state.phase, 'finished', `${at}: the job finishes`);
    const epochs = only(d.log, 'finish')[0].epoch;
    assert.deepEqual(only(d.log, 'epochEnd').map((e) => e.epoch), Array.from({ length: epochs }, (_, i) => i + 1), `${at}: each epoch ends once`);
    for (const start of only(d.log, 'shardEval')) {
      shardedEvals++;
      const key = `${start.epoch}.${start.split}`;
      const merges = only(d.log, 'evalMerged').filter((m) => m.epoch === start.epoch && m.split === start.split);
      assert.equal(merges.length, 1, `${at} ${key}: merged once`);
      assertSameMetrics(merges[0].metrics, start.epoch, start.split, `${at} ${key}: `);
      const mine = <T extends { range: { epoch: number; split: string } }>(xs: T[]) => xs.filter((x) => x.range.epoch === start.epoch && x.range.split === start.split);
      const accepted = mine(only(d.log, 'acceptRange'));
      assert.deepEqual(accepted.map((a) => a.range.index).sort((x, y) => x - y), start.ranges.map((r) => r.index), `${at} ${key}: each range accepted once`);
      const lastLease = new Map<number, LeaseRange>();
      for (const l of mine(only(d.log, 'leaseRange'))) lastLease.set(l.range.index, l);
      for (const a of accepted) {
        const l = lastLease.get(a.range.index) as LeaseRange;
        assert.deepEqual([a.attempt, a.worker], [l.attempt, l.worker], `${at} ${key}.${a.range.index}: only the latest lease counts`);
        assert.notEqual(a.worker, 'w1', 'a worker that does not evaluate is never leased a range');
      }
      requeued += mine(only(d.log, 'requeueRange')).length;
      ignored += mine(only(d.log, 'ignoreRange')).length;
    }
  }
  assert.ok(shardedEvals >= 10, `the schedules sharded ${shardedEvals} evaluations`);
  assert.ok(requeued > 0 && ignored > 0, `ranges were lost (${requeued}) and stale reports ignored (${ignored})`);
});
