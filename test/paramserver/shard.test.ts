/** The shard's state rules without a network: placement, init, exactly-once, two-phase bsp, ssp clocks, checkpoints. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CheckpointError, StaleVersion } from '../../src/errors/index.js';
import {
  Fenced,
  InvalidRequest,
  NotReady,
  ShardState,
  readShardCheckpoint,
  sumRows,
  wholeOwner,
  writeShardCheckpoint,
  type Consistency,
  type ShardConfig,
} from '../../src/paramserver/index.js';
import { adam, applyRows, initialState, initTable } from '../../src/train/index.js';
import { copySnapshot, placement, SPECS } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'camrec-shard-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const OPT = adam(0.01);

function config(shard: number, shards: number, consistency: Consistency = { mode: 'bsp' }, dense: readonly string[] = []): ShardConfig {
  return {
    shard,
    shards,
    seed: 7,
    optimizer: OPT,
    consistency,
    tables: SPECS.map((s) => {
      const held = s.init.kind === 'values' ? Array.from({ length: s.rows }, (_, i) => i).filter((i) => placement(s) === 'whole' || i % shards === shard) : [];
      const init = s.init.kind === 'values' ? { kind: 'values' as const, values: Float32Array.from(held.flatMap((i) => Array.from(initTable(s, 7).subarray(i * s.dim, i * s.dim + s.dim)))) } : s.init;
      return { name: s.name, rows: s.rows, dim: s.dim, trainable: s.trainable, ...(dense.includes(s.name) ? { dense: true } : {}), placement: placement(s), init };
    }),
  };
}

const f32 = (xs: number[]) => Float32Array.from(xs);
const u32 = (xs: number[]) => Uint32Array.from(xs);

test('a shard holds exactly the rows initTable gives those ids, row-sharded by id % S or whole on one shard', () => {
  for (const S of [1, 2, 3]) {
    for (let s = 0; s < S; s++) {
      const shard = ShardState.create(config(s, S));
      for (const spec of SPECS) {
        const full = initTable(spec, 7);
        const whole = placement(spec) === 'whole';
        if (whole && wholeOwner(spec.name, S) !== s) {
          assert.throws(() => shard.pull(spec.name, null), InvalidRequest, `${spec.name} is not on shard ${s}`);
          continue;
        }
        const got = shard.pull(spec.name, null);
        const want = Array.from({ length: spec.rows }, (_, i) => i).filter((i) => whole || i % S === s);
        assert.deepEqual(Array.from(got.ids), want, `${spec.name} ids on shard ${s}/${S}`);
        assert.deepEqual(got.values, Float32Array.from(want.flatMap((i) => Array.from(full.subarray(i * spec.dim, (i + 1) * spec.dim)))));
      }
    }
  }
});

test('async: a push is applied on arrival, once per (task, attempt); another attempt of an applied task is stale', () => {
  const shard = ShardState.create(config(0, 2, { mode: 'async' }));
  const before = shard.pull('users', u32([0, 2])).values;
  const grad = f32(Array.from({ length: 16 }, (_, k) => k - 8));
  assert.deepEqual(shard.push('t1', 0, [{ table: 'users', ids: u32([0, 2]), values: grad }]), { duplicate: false });
  const p = before.slice();
  const st = initialState(OPT, 16);
  applyRows(OPT, p, st, 8, null, grad, 1);
  const after1 = shard.pull('users', u32([0, 2]));
  assert.deepEqual(after1.values, p, 'applied with optimizer step 1');
  assert.equal(after1.version, 1);
  assert.deepEqual(shard.push('t1', 0, [{ table: 'users', ids: u32([0, 2]), values: grad }]), { duplicate: true });
  assert.deepEqual(shard.pull('users', u32([0, 2])).values, p, 'the re-sent push changed nothing');
  assert.throws(() => shard.push('t1', 1, [{ table: 'users', ids: u32([0, 2]), values: grad }]), StaleVersion);
  assert.equal(shard.step, 1);
  assert.equal(shard.counters.duplicates, 1);
  assert.equal(shard.counters.tasksApplied, 1, 'one task applied, once');
});

test('bsp: prepare changes nothing; commit applies the sum of the staged tasks once, at the step given', () => {
  const shard = ShardState.create(config(0, 1));
  const ids = u32([1, 4]);
  const before = copySnapshot(shard.snapshot());
  const g1 = f32(Array.from({ length: 16 }, (_, k) => 0.1 * k));
  const g2 = f32(Array.from({ length: 8 }, (_, k) => -0.3 * k));
  shard.prepare(1, 'a', 0, [{ table: 'users', ids, values: g1 }]);
  shard.prepare(1, 'b', 0, [{ table: 'users', ids: u32([4]), values: g2 }]);
  assert.deepEqual(copySnapshot(shard.snapshot()), before, 'nothing applied before commit');
  assert.equal(shard.stagedTasks, 2);
  assert.deepEqual(shard.commit(1, ['a', 'b']), { tasks: 2 });
  const sum = g1.slice();
  for (let j = 0; j < 8; j++) sum[8 + j] += g2[j];
  const want = before.tables.find((t) => t.name === 'users')!.values.slice();
  applyRows(OPT, want, initialState(OPT, want.length), 8, Int32Array.from([1, 4]), sum, 1);
  assert.deepEqual(shard.pull('users', null).values, want);
  assert.equal(shard.step, 1);
  assert.throws(() => shard.commit(1), StaleVersion, 'a committed step cannot commit again');
  assert.throws(() => shard.prepare(1, 'c', 0, []), StaleVersion, 'a prepare for a committed step is stale');
  assert.deepEqual(shard.prepare(1, 'a', 0, []), { duplicate: true }, 'a re-sent prepare of an applied task is acknowledged');
  assert.throws(() => shard.prepare(3, 'd', 0, []), NotReady, 'step 3 before step 2');
  assert.equal(shard.counters.tasksApplied, 2, 'the committed step\'s two tasks, each once');
});

test('held pulls: untilVersion waits for a commit that reaches the version (after the commit returns), or for its hold, or for shutdown', async () => {
  const shard = ShardState.create(config(0, 1));
  assert.equal(shard.untilVersion('users', 0, 1000), null, 'already there: no hold');
  assert.equal(shard.untilVersion('users', 1, 0), null, 'no hold asked');
  assert.throws(() => shard.untilVersion('nope', 1, 1000), /nope/);
  const order: string[] = [];
  const byCommit = shard.untilVersion('users', 1, 60_000)!.then(() => order.push('released'));
  const tooFar = shard.untilVersion('users', 2, 60_000)!.then(() => order.push('shutdown'));
  const byTime = shard.untilVersion('items', 1, 30)!.then(() => order.push('hold ran out'));
  assert.equal(shard.heldPulls, 3);
  shard.prepare(1, 'a', 0, [{ table: 'users', ids: u32([1]), values: f32(Array.from({ length: 8 }, () => 0.5)) }]);
  shard.commit(1, ['a']);
  order.push('commit returned');
  await byCommit;
  await byTime;
  assert.deepEqual(order, ['commit returned', 'released', 'hold ran out']);
  assert.equal(shard.heldPulls, 1, 'the pull for version 2 still waits');
  shard.cancelWaiters(new Error('stopping'));
  await tooFar;
  assert.equal(shard.heldPulls, 0);
});

test('bsp: abort discards a staged step on a shard, and its commit is then refused as stale', () => {
  const shard = ShardState.create(config(0, 1));
  const before = copySnapshot(shard.snapshot());
  shard.prepare(1, 'a', 0, [{ table: 'users', ids: u32([3]), values: new Float32Array(8).fill(1) }]);
  assert.deepEqual(shard.abort(1), { discarded: 1 });
  assert.throws(() => shard.commit(1), StaleVersion);
  assert.deepEqual(copySnapshot(shard.snapshot()), before);
  assert.equal(shard.counters.tasksApplied, 0, 'an aborted step applies no task');
  shard.prepare(1, 'a', 1, [{ table: 'users', ids: u32([3]), values: new Float32Array(8).fill(1) }]);
  shard.commit(1);
  assert.equal(shard.step, 1, 'the step can be prepared again after an abort');
  assert.equal(shard.counters.tasksApplied, 1);
});

test('bsp: a later attempt of a staged task replaces it; an earlier one is stale; commit checks the task list', () => {
  const shard = ShardState.create(config(0, 1));
  const one = new Float32Array(8).fill(1);
  shard.prepare(1, 'a', 0, [{ table: 'users', ids: u32([3]), values: one }]);
  shard.prepare(1, 'a', 2, [{ table: 'users', ids: u32([5]), values: one }]);
  assert.throws(() => shard.prepare(1, 'a', 1, []), StaleVersion);
  assert.throws(() => shard.commit(1, ['a', 'b']), NotReady, 'task b was never prepared');
  const before3 = shard.pull('users', u32([3])).values;
  shard.commit(1, ['a']);
  assert.deepEqual(shard.pull('users', u32([3])).values, before3, 'attempt 0 (row 3) did not count');
  assert.equal(shard.pull('users', u32([5])).rowVersions[0], 1, 'attempt 2 (row 5) did');
});

test('bad requests are refused with InvalidRequest and change nothing', () => {
  const shard = ShardState.create(config(1, 2, { mode: 'async' }));
  const before = copySnapshot(shard.snapshot());
  const row = new Float32Array(8);
  const bad: [string, () => unknown][] = [
    ['unknown table', () => shard.push('x', 0, [{ table: 'nope', ids: u32([1]), values: row }])],
    ['wrong row width', () => shard.push('x', 0, [{ table: 'users', ids: u32([1]), values: new Float32Array(7) }])],
    ['unsorted ids', () => shard.push('x', 0, [{ table: 'users', ids: u32([5, 1]), values: new Float32Array(16) }])],
    ['duplicate ids', () => shard.push('x', 0, [{ table: 'users', ids: u32([1, 1]), values: new Float32Array(16) }])],
    ['out of range', () => shard.push('x', 0, [{ table: 'users', ids: u32([37]), values: row }])],
    ['row of another shard', () => shard.push('x', 0, [{ table: 'users', ids: u32([2]), values: row }])],
    ['frozen table', () => shard.push('x', 0, [{ table: 'feat', ids: u32([1]), values: new Float32Array(3) }])],
    ['second block bad', () => shard.push('x', 0, [{ table: 'users', ids: u32([1]), values: row }, { table: 'items', ids: u32([0]), values: row }])],
    ['pull out of range', () => shard.pull('items', u32([1, 99]))],
  ];
  for (const [what, fn] of bad) {
    assert.throws(fn, InvalidRequest, what);
    assert.deepEqual(copySnapshot(shard.snapshot()), before, `${what} left the shard unchanged`);
  }
  assert.throws(() => shard.pull('items', u32([2])), /belongs to shard 0/);
});

test('a pull with changed_only returns just the rows updated after the given version', () => {
  const shard = ShardState.create(config(0, 1, { mode: 'async' }));
  shard.push('a', 0, [{ table: 'items', ids: u32([2, 9]), values: new Float32Array(16).fill(1) }]);
  shard.push('b', 0, [{ table: 'items', ids: u32([9, 11]), values: new Float32Array(16).fill(1) }]);
  const since1 = shard.pull('items', u32([1, 2, 9, 11, 12]), 1);
  assert.deepEqual(Array.from(since1.ids), [9, 11]);
  assert.deepEqual(Array.from(since1.rowVersions), [2, 2]);
  assert.deepEqual(since1.values, shard.pull('items', u32([9, 11])).values);
  assert.deepEqual(Array.from(shard.pull('items', null, 0).ids), [2, 9, 11]);
  assert.equal(shard.pull('items', null, 2).ids.length, 0);
});

test('ssp: a worker more than s clocks ahead of the slowest waits until the slowest catches up', async () => {
  const shard = ShardState.create(config(0, 1, { mode: 'ssp', staleness: 1, workers: 2 }));
  assert.deepEqual(await shard.clock(0, 1), { minClock: 0, waited: false });
  let done = false;
  const ahead = shard.clock(0, 2).then((r) => ((done = true), r));
  await new Promise((r) => setImmediate(r));
  assert.equal(done, false, 'worker 0 at clock 2 waits while worker 1 is at 0');
  assert.equal(shard.clockWaiters, 1);
  assert.deepEqual(await shard.clock(1, 1), { minClock: 1, waited: false });
  assert.deepEqual(await ahead, { minClock: 1, waited: true });
  await assert.rejects(shard.clock(2, 1), InvalidRequest, 'worker out of range');
});

test('sumRows adds overlapping rows of several tasks over the union of their ids', () => {
  const a = { local: Int32Array.from([0, 3]), grad: f32([1, 2, 3, 4]) };
  const b = { local: Int32Array.from([1, 3]), grad: f32([10, 20, 30, 40]) };
  assert.deepEqual(sumRows([a, b], 2, 5), { local: Int32Array.from([0, 1, 3]), grad: f32([1, 2, 10, 20, 33, 44]) });
  const all = { local: null, grad: new Float32Array(10).fill(1) };
  assert.deepEqual(sumRows([a, all], 2, 5), { local: null, grad: f32([2, 3, 1, 1, 1, 1, 4, 5, 1, 1]) });
});

test('sumRows into a reused array gives the bits of a fresh one, whatever the array held (NaN here)', () => {
  const rand = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + k) * 1e-3);
  const parts = [
    { local: null, grad: rand(10, 1) },
    { local: Int32Array.from([1, 4]), grad: rand(4, 2) },
    { local: null, grad: rand(10, 3) },
  ];
  const reused = new Float32Array(10).fill(Number.NaN);
  const scratch = (n: number) => {
    assert.equal(n, reused.length);
    return reused;
  };
  // The first part dense (the sum starts as its copy) and sparse (the sum starts at zero).
  for (const order of [parts, [parts[1], parts[0], parts[2]]]) {
    for (const dense of [false, true]) {
      const fresh = sumRows(order, 2, 5, dense);
      reused.fill(Number.NaN);
      const into = sumRows(order, 2, 5, dense, scratch);
      assert.equal(into.grad, reused);
      assert.deepEqual(into, fresh);
      assert.ok(fresh.grad.every(Number.isFinite));
    }
  }
  assert.deepEqual(sumRows([{ local: null, grad: rand(10, 4) }, { local: null, grad: rand(10, 5) }], 2, 5, false, scratch).grad, sumRows([{ local: null, grad: rand(10, 4) }, { local: null, grad: rand(10, 5) }], 2, 5).grad);
});

test('sumRows over a dense table covers every held row, with or without parts', () => {
  const a = { local: Int32Array.from([0, 3]), grad: f32([1, 2, 3, 4]) };
  assert.deepEqual(sumRows([a], 2, 5, true), { local: null, grad: f32([1, 2, 0, 0, 0, 0, 3, 4, 0, 0]) });
  assert.deepEqual(sumRows([], 2, 3, true), { local: null, grad: new Float32Array(6) });
});

for (const mode of ['bsp', 'async'] as const) {
  test(`${mode}: a dense table updates every held row at every step, rows without a gradient with zero (dense Adam)`, () => {
    const shard = ShardState.create(config(1, 2, { mode }, ['users']));
    const held = shard.pull('users', null);
    const ids = Int32Array.from(held.ids);
    const want = held.values.slice();
    const state = initialState(OPT, want.length);
    const update = (step: number, task: string, blocks: { table: string; ids: Uint32Array; values: Float32Array }[]) => {
      if (mode === 'async') shard.push(task, 0, blocks);
      else {
        shard.prepare(step, task, 0, blocks);
        shard.commit(step);
      }
    };
    // step 1: rows 1 and 5 (local 0 and 2); step 2: only the items table, nothing for users
    const g = f32(Array.from({ length: 16 }, (_, k) => 0.2 * k - 1));
    update(1, 'a', [{ table: 'users', ids: u32([1, 5]), values: g }]);
    update(2, 'b', [{ table: 'items', ids: u32([1]), values: f32(Array.from({ length: 8 }, () => 1)) }]);
    const dense = new Float32Array(want.length);
    dense.set(g.subarray(0, 8), 0);
    dense.set(g.subarray(8), 16);
    applyRows(OPT, want, state, 8, null, dense, 1);
    applyRows(OPT, want, state, 8, null, new Float32Array(want.length), 2);
    const got = shard.pull('users', null);
    assert.deepEqual(got.values, want, 'every held row updated at steps 1 and 2');
    assert.deepEqual(Array.from(got.ids), Array.from(ids));
    assert.equal(got.version, 2, 'the dense table changed at both steps');
  });
}

test('a fence refuses updates from older coordinator generations, never goes down, and survives a checkpoint', () => {
  const one = () => [{ table: 'users', ids: u32([3]), values: new Float32Array(8).fill(1) }];
  const bsp = ShardState.create(config(0, 1));
  assert.equal(bsp.generation, 0);
  bsp.prepare(1, 'a', 1, one());
  assert.equal(bsp.fence(2), 2);
  const before = copySnapshot(bsp.snapshot());
  assert.throws(() => bsp.prepare(1, 'b', 1, one(), 1), Fenced, 'a prepare from generation 1');
  assert.throws(() => bsp.prepare(1, 'b', 1, one()), Fenced, 'a prepare that names no generation');
  assert.throws(() => bsp.commit(1, ['a'], 1), /commit of step 1 comes from coordinator generation 1, fenced off: shard 0 follows generation 2/);
  assert.throws(() => bsp.abort(1, 0), Fenced);
  assert.equal(bsp.stagedTasks, 1, 'the refused calls staged and discarded nothing');
  assert.deepEqual(copySnapshot(bsp.snapshot()), before);
  assert.equal(bsp.fence(1), 2, 'a lower fence leaves it where it is');
  assert.throws(() => bsp.fence(-1), InvalidRequest);
  // The current generation (or a newer one) goes through; the stale-attempt rules are unchanged.
  assert.deepEqual(bsp.prepare(1, 'a', 2, one(), 2), { duplicate: false });
  assert.deepEqual(bsp.prepare(1, 'b', 1, one(), 3), { duplicate: false });
  assert.deepEqual(bsp.commit(1, ['a', 'b'], 2), { tasks: 2 });

  const async = ShardState.create(config(0, 1, { mode: 'async' }));
  async.fence(5);
  assert.throws(() => async.push('t', 1, one(), 4), Fenced);
  assert.throws(() => async.push('t', 1, one(), 4), (e: Error) => !(e instanceof StaleVersion), 'not a StaleVersion: clients read those as "applied elsewhere"');
  assert.deepEqual(async.push('t', 1, one(), 5), { duplicate: false });
  const path = join(dir, 'fenced.ckpt');
  writeShardCheckpoint(path, async.snapshot());
  const back = ShardState.restore(readShardCheckpoint(path)!);
  assert.equal(back.generation, 5);
  assert.throws(() => back.push('u', 1, one(), 4), Fenced, 'the fence is restored with the checkpoint');
});

test('a checkpoint round-trips every array, version and applied key, and a damaged file is refused', () => {
  const shard = ShardState.create(config(0, 2, { mode: 'async' }));
  shard.push('a', 0, [{ table: 'items', ids: u32([2, 4]), values: new Float32Array(16).fill(0.5) }]);
  const path = join(dir, 'shard.ckpt');
  writeShardCheckpoint(path, shard.snapshot());
  const back = ShardState.restore(readShardCheckpoint(path)!);
  assert.deepEqual(copySnapshot(back.snapshot()), copySnapshot(shard.snapshot()));
  assert.equal(back.fingerprint, shard.fingerprint);
  assert.deepEqual(back.push('a', 0, []), { duplicate: true }, 'applied keys survive the checkpoint');
  const bytes = readFileSync(path);
  bytes[bytes.length - 3] ^= 0xff;
  writeFileSync(path, bytes);
  assert.throws(() => readShardCheckpoint(path), CheckpointError);
  assert.equal(readShardCheckpoint(join(dir, 'none.ckpt')), null);
});
