/**
 * The parameter server over real gRPC on loopback, shards in this process: RemoteParamStore equals
 * LocalParamStore (with a 16-bit wire: LocalParamStore reading and fed the rows rounded to 16 bits), bad requests
 * get their status codes and change nothing, ssp waits, async applies on arrival.
 */
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { shutdownCompute } from '../../src/compute/index.js';
import { PeerUnavailable, StaleVersion } from '../../src/errors/index.js';
import {
  bytesOf,
  grpcStatusOf,
  PARAM_SERVER_SERVICE,
  ParamServer,
  RemoteParamStore,
  ShardClient,
  type Consistency,
  type ParamServerOptions,
  type ShardTableVersion,
} from '../../src/paramserver/index.js';
import { narrowRowsReference, widenRowsReference, type NarrowEncoding } from '../../src/paramserver/encoding.js';
import { adagrad, adam, LocalParamStore, type OptimizerConfig, type RowGrad } from '../../src/train/index.js';
import { assertSameState, copySnapshot, maxRelDiff, placement, randomGrads, SPECS } from './helpers.js';

const log = pino({ level: 'silent' });
const servers: ParamServer[] = [];
const stores: RemoteParamStore[] = [];
const locals: LocalParamStore[] = [];

after(async () => {
  for (const s of stores) s.close();
  for (const s of servers) s.forceClose();
  for (const l of locals) l.dispose();
  await shutdownCompute();
});

async function startShards(shards: number, extra: Partial<ParamServerOptions> = {}): Promise<ParamServer[]> {
  const started = await Promise.all(Array.from({ length: shards }, (_, shard) => ParamServer.start({ shard, shards, log, ...extra })));
  servers.push(...started);
  return started;
}

const addresses = (ps: readonly ParamServer[]) => ps.map((p) => `127.0.0.1:${p.port}`);

async function connect(ps: readonly ParamServer[], optimizer: OptimizerConfig, consistency?: Consistency, extra = {}): Promise<RemoteParamStore> {
  const store = await RemoteParamStore.connect({ addresses: addresses(ps), specs: SPECS, optimizer, seed: 11, placement, consistency, ...extra });
  stores.push(store);
  return store;
}

for (const shards of [1, 2]) {
  for (const optimizer of [adam(0.01), adagrad(0.05)]) {
    test(`20 steps of random sparse and dense gradients through ${shards} shard(s) (${optimizer.kind}, bsp) equal LocalParamStore`, async () => {
      const ps = await startShards(shards);
      const remote = await connect(ps, optimizer);
      const local = new LocalParamStore(SPECS, optimizer, 11);
      locals.push(local);
      assertSameState(await remote.exportState(), await local.exportState(), 0);
      let rows = 0;
      for (let step = 1; step <= 20; step++) {
        const grads = randomGrads(step);
        rows += grads.reduce((n, g) => n + (g.ids ? g.ids.length : SPECS.find((s) => s.name === g.table)!.rows), 0);
        for (const g of grads) {
          const diff = maxRelDiff(await remote.pull(g.table, g.ids), await local.pull(g.table, g.ids));
          assert.ok(diff <= 1e-5, `pull ${g.table} at step ${step} differs by ${diff}`);
        }
        await remote.push(grads);
        await local.push(grads);
      }
      assert.equal(remote.step, 20);
      assertSameState(await remote.exportState(), await local.exportState());
      const stats = await remote.stats();
      assert.equal(stats.reduce((n, s) => n + s.rowsPushed, 0), rows, 'every pushed row reached a shard once');
      assert.ok(stats.every((s) => s.rowsPulled > 0 && s.rowsPushed > 0 && s.commits === 20 && s.tasksApplied === 20), 'every shard served pulls and committed 20 steps, one task each, over gRPC');
      const versions = stats.flatMap((s) => s.versions).filter((v) => v.table === 'users');
      assert.ok(versions.every((v) => v.version === 20), 'users was updated at every step on every shard');
    });
  }
}

test('row cache: whole pulls equal an uncached store, and move only the rows changed since the last one', async () => {
  const ps = await startShards(2);
  const writer = await connect(ps, adam(0.01));
  const cached = await connect(ps, adam(0.01), undefined, { rowCache: true });
  const plain = await connect(ps, adam(0.01));
  const moved = () => cached.traffic.rowsPulled;
  for (let step = 1; step <= 6; step++) {
    const before = moved();
    for (const t of ['users', 'items', 'mlp', 'feat']) assert.deepEqual(await cached.pull(t, null), await plain.pull(t, null), `${t} at step ${step}`);
    const all = SPECS.reduce((n, s) => n + s.rows, 0);
    if (step === 1) assert.equal(moved() - before, all, 'the first whole pull moves every row');
    const again = moved();
    for (const t of ['users', 'items', 'mlp', 'feat']) await cached.pull(t, null);
    assert.equal(moved(), again, 'nothing changed: a second whole pull moves no row');
    const grads = randomGrads(step);
    await writer.push(grads);
    const touched = grads.reduce((n, g) => n + (g.ids ? g.ids.length : SPECS.find((s) => s.name === g.table)!.rows), 0);
    const next = moved();
    for (const t of ['users', 'items', 'mlp']) assert.deepEqual(await cached.pull(t, null), await plain.pull(t, null), `${t} after step ${step}`);
    assert.equal(moved() - next, touched, 'after a push only the rows it touched move (lazy Adam)');
  }
});

test('prefetch: a pull asked before a commit is held until it and brings its rows; the next pull then equals an uncached one', async () => {
  const ps = await startShards(2);
  const writer = await connect(ps, adam(0.01));
  const cached = await connect(ps, adam(0.01), undefined, { rowCache: true });
  const plain = await connect(ps, adam(0.01));
  const tables = ['users', 'items', 'mlp', 'feat'];
  for (const t of tables) await cached.pull(t, null);
  for (let step = 1; step <= 4; step++) {
    cached.prefetch();
    // One held pull per cached table and shard that holds it (users and items on both shards, mlp and feat whole).
    await waitFor(async () => ps.reduce((n, p) => n + p.heldPulls(), 0), (n) => n === 2 + 2 + 1 + 1);
    const grads = randomGrads(step);
    await writer.push(grads);
    const touched = grads.reduce((n, g) => n + (g.ids ? g.ids.length : SPECS.find((x) => x.name === g.table)!.rows), 0);
    const before = cached.traffic.rowsPulled;
    for (const t of tables) assert.deepEqual(await cached.pull(t, null), await plain.pull(t, null), `${t} after step ${step}`);
    assert.equal(cached.traffic.rowsPulled - before, touched, 'the rows the step changed moved once, in the prefetch replies');
    assert.equal(ps.reduce((n, p) => n + p.heldPulls(), 0), 0);
  }
});

test('prefetch: more held pulls than EventTarget\'s default of 10 listeners print no MaxListenersExceededWarning', async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.name);
  process.on('warning', onWarning);
  try {
    const ps = await startShards(6);
    const writer = await connect(ps, adam(0.01));
    const cached = await connect(ps, adam(0.01), undefined, { rowCache: true });
    const tables = ['users', 'items', 'mlp', 'feat'];
    for (const t of tables) await cached.pull(t, null);
    cached.prefetch();
    // users and items on each of the 6 shards, mlp and feat whole on one each: 14 calls on one abort signal
    await waitFor(async () => ps.reduce((n, p) => n + p.heldPulls(), 0), (n) => n === 6 + 6 + 1 + 1);
    await writer.push(randomGrads(1));
    for (const t of tables) await cached.pull(t, null);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(warnings.filter((w) => w === 'MaxListenersExceededWarning'), []);
  } finally {
    process.off('warning', onWarning);
  }
});

test('prefetch: an exact read does not wait for a held pull; a shard answers a held pull after hold_ms with what it has', async () => {
  const ps = await startShards(1);
  const cached = await connect(ps, adam(0.01), undefined, { rowCache: true });
  await cached.pull('users', null);
  const before = cached.traffic.rowsPulled;
  cached.prefetch(10_000);
  await waitFor(async () => ps[0].heldPulls(), (n) => n === 1);
  // No commit comes: the exact read (float32 wire, so through the cache) goes on without the prefetch, which the
  // shard still holds when the read is back.
  const fresh = await connect(ps, adam(0.01));
  assert.deepEqual(await cached.exactReads().pull('users', null), await fresh.pull('users', null));
  assert.equal(ps[0].heldPulls(), 1, 'the exact read did not wait for the held pull');
  assert.equal(cached.traffic.rowsPulled, before, 'nothing changed, nothing moved');
  const client = new ShardClient(`127.0.0.1:${ps[0].port}`);
  try {
    const v = Number((await client.describe()).tables.find((t) => t.name === 'users')!.version);
    const t1 = performance.now();
    const reply = await client.pull({ table: 'users', allRows: true, changedOnly: true, sinceVersion: v, minVersion: v + 1, holdMs: 100 });
    assert.ok(performance.now() - t1 >= 90, 'held for hold_ms');
    assert.equal(Number(reply.version), v);
    assert.equal(reply.ids.byteLength, 0, 'nothing changed');
  } finally {
    client.close();
  }
  cached.close();
});

test('concurrent pulls, whose replies reuse the shards\' reply buffers, each get the rows a pull on its own gets', async () => {
  const ps = await startShards(2);
  const remote = await connect(ps, adam(0.01));
  for (let step = 1; step <= 3; step++) {
    await remote.push(randomGrads(step));
    const asks = Array.from({ length: 24 }, (_, k) => {
      const spec = SPECS[k % SPECS.length];
      const ids = k % 3 === 0 ? null : Int32Array.from({ length: spec.rows }, (_, r) => r).filter((r) => (r + k) % (2 + (k % 5)) === 0);
      return { table: spec.name, ids };
    });
    const alone: Float32Array[] = [];
    for (const a of asks) alone.push(await remote.pull(a.table, a.ids));
    const together = await Promise.all(asks.map((a) => remote.pull(a.table, a.ids)));
    for (const [k, a] of asks.entries()) assert.deepEqual(together[k], alone[k], `pull ${k} of ${a.table} at step ${step}`);
  }
});

test('concurrent Prepares from one client, encoded into its pooled (reused, dirty) buffers, each stage their own gradient', async () => {
  const ps = await startShards(2);
  const remote = await connect(ps, adam(0.01));
  const local = new LocalParamStore(SPECS, adam(0.01), 11);
  locals.push(local);
  for (let step = 1; step <= 4; step++) {
    const tasks = [0, 1, 2].map((k) => ({ task: `${step}.${k}`, grads: randomGrads(step, SPECS, 10 + k) }));
    await Promise.all(tasks.map((t) => remote.prepareTask(step, t.task, 0, t.grads)));
    await remote.commitStep(step, tasks.map((t) => t.task));
    await local.push(SPECS.filter((s) => s.trainable).map((s) => unionSum(s, tasks.flatMap((t) => t.grads.filter((g) => g.table === s.name)))));
  }
  assertSameState(await remote.exportState(), await local.exportState());
});

/** The sum of gradients of one table over the union of their rows (what a bsp commit applies; rows a gradient leaves out count as zero). */
function unionSum(spec: (typeof SPECS)[number], grads: readonly RowGrad[]): RowGrad {
  const rowsOf = (g: RowGrad) => g.ids ?? Int32Array.from({ length: spec.rows }, (_, r) => r);
  const ids = Int32Array.from(new Set(grads.flatMap((g) => [...rowsOf(g)]))).sort();
  const at = new Map(Array.from(ids, (id, k) => [id, k]));
  const sum = new Float32Array(ids.length * spec.dim);
  for (const g of grads) {
    rowsOf(g).forEach((id, r) => {
      for (let j = 0; j < spec.dim; j++) sum[at.get(id)! * spec.dim + j] += g.grad[r * spec.dim + j];
    });
  }
  return { table: spec.name, ids: grads.some((g) => g.ids === null) ? null : ids, grad: sum };
}

test('row cache: a whole pull that moves few or no rows still records the versions read, as an uncached pull does', async () => {
  const ps = await startShards(2);
  const writer = await connect(ps, adam(0.01));
  const cached = await connect(ps, adam(0.01), undefined, { rowCache: true });
  const plain = await connect(ps, adam(0.01));
  const sorted = (v: readonly ShardTableVersion[]) => [...v].sort((a, b) => a.table.localeCompare(b.table) || a.shard - b.shard);
  const total = (v: readonly ShardTableVersion[]) => v.reduce((n, x) => n + x.version, 0);
  let previous = -1;
  for (let step = 1; step <= 4; step++) {
    for (const t of ['users', 'items', 'mlp']) {
      await cached.pull(t, null);
      await plain.pull(t, null);
    }
    const read = sorted(cached.takeReads());
    assert.deepEqual(read, sorted(plain.takeReads()), `step ${step}: the cached rows are the tables at the versions read`);
    assert.ok(total(read) > previous, `step ${step}: the versions read moved on with the pushes (${JSON.stringify(read)})`);
    previous = total(read);
    await writer.push(randomGrads(step));
  }
  assert.ok(cached.traffic.rowsPulled < plain.traffic.rowsPulled, 'the cached pulls moved fewer rows');
});

for (const wire of ['f32', 'bf16'] as const) {
  test(`row cache (${wire} wire): a whole pull lends the cached table, which keeps the values pulled until the next pull of that table`, async () => {
    const ps = await startShards(2);
    const cached = await connect(ps, adam(0.01), undefined, { rowCache: true, wire });
    const plain = await connect(ps, adam(0.01), undefined, { wire });
    const tables = ['users', 'items', 'mlp'];
    const lent = await Promise.all(tables.map((t) => cached.pull(t, null)));
    for (let step = 1; step <= 4; step++) {
      const held = lent.map((a) => a.slice());
      await cached.push(randomGrads(step));
      for (const t of tables) await cached.exactReads().pull(t, Int32Array.of(3, 1));
      if (wire !== 'f32') for (const t of tables) await cached.exactReads().pull(t, null);
      for (const [k, t] of tables.entries()) {
        assert.deepEqual(lent[k], held[k], `${t} at step ${step}: the push, the commit and reads that bypass the cache left the lent table as pulled`);
        const again = await cached.pull(t, null);
        assert.equal(again, lent[k], `${t}: the next whole pull lends the same array`);
        assert.notDeepEqual(again, held[k], `${t} at step ${step}: updated in place by the pull`);
        assert.deepEqual(again, await plain.pull(t, null), `${t} at step ${step}: as an uncached pull reads it`);
        for (const [j, u] of tables.entries()) if (j > k) assert.deepEqual(lent[j], held[j], `${t}'s pull left ${u} as pulled`);
      }
    }
  });
}

test('row cache: a shard restarted in another incarnation, at the same version, is read whole again', async () => {
  const [p0] = await startShards(1);
  await (await connect([p0], adam(0.01))).push(randomGrads(1));
  const cached = await connect([p0], adam(0.01), undefined, { rowCache: true });
  const first = await cached.pull('users', null);
  p0.forceClose();
  const [p1] = await startShards(1, { port: p0.port });
  const writer = await connect([p1], adam(0.01));
  await writer.push(randomGrads(2)); // version 1 again, other values: a cache trusting versions alone keeps `first`
  const want = await writer.pull('users', null);
  assert.notDeepEqual(want, first);
  assert.deepEqual(await cached.pull('users', null), want);
});

test('a sparse gradient whose rows all live on one shard: the other stages an empty block, and the step commits on both', async () => {
  const ps = await startShards(2);
  const remote = await connect(ps, adam(0.01));
  const local = new LocalParamStore(SPECS, adam(0.01), 11);
  locals.push(local);
  const grads = [{ table: 'users', ids: Int32Array.of(2, 4), grad: new Float32Array(16).fill(0.5) }];
  await remote.push(grads);
  await local.push(grads);
  assertSameState(await remote.exportState(), await local.exportState());
});

test('a pull in any order, with repeated ids, returns the rows in the caller order', async () => {
  const ps = await startShards(2);
  const remote = await connect(ps, adam(0.01));
  const local = new LocalParamStore(SPECS, adam(0.01), 11);
  locals.push(local);
  const ids = Int32Array.from([40, 3, 3, 17, 0, 52, 40]);
  assert.deepEqual(await remote.pull('items', ids), await local.pull('items', ids));
  assert.deepEqual(await remote.pull('mlp', null), await local.pull('mlp', null));
  assert.deepEqual(await remote.pull('feat', Int32Array.from([5, 1])), await local.pull('feat', Int32Array.from([5, 1])));
});

test('importState then exportState gives back the same StoreState across 2 shards', async () => {
  const ps = await startShards(2);
  const remote = await connect(ps, adam(0.01));
  const local = new LocalParamStore(SPECS, adam(0.01), 3);
  locals.push(local);
  for (let step = 1; step <= 3; step++) await local.push(randomGrads(step));
  await remote.importState(await local.exportState());
  assert.equal(remote.step, 3);
  assertSameState(await remote.exportState(), await local.exportState(), 0);
});

describe('bad requests: status codes, and the stored tables stay as they were', () => {
  let ps: ParamServer[];
  let client: ShardClient;
  before(async () => {
    ps = await startShards(2, { maxMessageBytes: 64 * 1024 });
    await connect(ps, adam(0.01), undefined, { maxMessageBytes: 64 * 1024 });
    client = new ShardClient(addresses(ps)[0], { maxMessageBytes: 1 << 20 });
  });
  after(() => client.close());

  /** Runs a refused call and checks its status, its message and that shard 0 did not change. */
  async function refused(call: () => Promise<unknown>, status: grpc.status, message: RegExp): Promise<void> {
    const beforeState = copySnapshot(ps[0].shard!.snapshot());
    const err = await call().then(
      () => assert.fail('the call succeeded'),
      (e: unknown) => e,
    );
    assert.equal(grpcStatusOf(err), status, `${grpc.status[status]} expected, got ${String(err)}`);
    assert.match((err as Error).message, message);
    assert.deepEqual(copySnapshot(ps[0].shard!.snapshot()), beforeState, 'shard 0 unchanged');
  }

  const ids = (xs: number[]) => bytesOf(Uint32Array.from(xs));
  const rows = (n: number, dim = 8) => bytesOf(new Float32Array(n * dim).fill(1));
  const prep = (blocks: object[]) => () => client.prepare({ step: 1, task: 'bad', attempt: 0, blocks: blocks as never });

  test('unknown table → INVALID_ARGUMENT', () => refused(prep([{ table: 'nope', ids: ids([0]), values: rows(1) }]), grpc.status.INVALID_ARGUMENT, /unknown table 'nope'/));
  test('wrong row width → INVALID_ARGUMENT', () => refused(prep([{ table: 'users', ids: ids([0, 2]), values: rows(1) }]), grpc.status.INVALID_ARGUMENT, /wrong row width/));
  test('unsorted ids → INVALID_ARGUMENT', () => refused(prep([{ table: 'users', ids: ids([4, 2]), values: rows(2) }]), grpc.status.INVALID_ARGUMENT, /sorted and unique/));
  test('duplicate ids → INVALID_ARGUMENT', () => refused(prep([{ table: 'users', ids: ids([2, 2]), values: rows(2) }]), grpc.status.INVALID_ARGUMENT, /sorted and unique/));
  test('out-of-range ids → INVALID_ARGUMENT', () => refused(prep([{ table: 'users', ids: ids([36, 38]), values: rows(2) }]), grpc.status.INVALID_ARGUMENT, /row 38 out of range/));
  test('a second bad block after a good one → INVALID_ARGUMENT', () =>
    refused(prep([{ table: 'users', ids: ids([0]), values: rows(1) }, { table: 'items', ids: ids([1]), values: rows(1) }]), grpc.status.INVALID_ARGUMENT, /belongs to shard 1/));
  test('ids not a multiple of 4 bytes → INVALID_ARGUMENT', () => refused(prep([{ table: 'users', ids: Buffer.from([0, 0, 0]), values: rows(1) }]), grpc.status.INVALID_ARGUMENT, /multiple of 4/));
  test('pull of an unknown table → INVALID_ARGUMENT', () => refused(() => client.pull({ table: 'nope', allRows: true }), grpc.status.INVALID_ARGUMENT, /unknown table/));
  test('a message over the size limit → RESOURCE_EXHAUSTED', () => refused(prep([{ table: 'users', ids: ids([0]), values: rows(3000) }]), grpc.status.RESOURCE_EXHAUSTED, /RESOURCE_EXHAUSTED/));
  test('a value encoding the shard does not know (a newer peer\'s) → INVALID_ARGUMENT', () =>
    refused(prep([{ table: 'users', ids: ids([0]), values: rows(1), encoding: 7 }]), grpc.status.INVALID_ARGUMENT, /table users: unknown value encoding 7/));
  test('a pull asking for an encoding the shard does not know → INVALID_ARGUMENT', () =>
    refused(() => client.pull({ table: 'users', allRows: true, encoding: 9 }), grpc.status.INVALID_ARGUMENT, /unknown value encoding 9/));
  test('16-bit values of an odd byte count → INVALID_ARGUMENT', () =>
    refused(prep([{ table: 'users', ids: ids([0]), values: Buffer.alloc(15), encoding: 'VALUE_ENCODING_BF16' }]), grpc.status.INVALID_ARGUMENT, /15 bytes is not a multiple of 2/));
  test('float32 bytes labelled 16-bit → INVALID_ARGUMENT (twice the values a row has)', () =>
    refused(prep([{ table: 'users', ids: ids([0]), values: rows(1), encoding: 'VALUE_ENCODING_F16' }]), grpc.status.INVALID_ARGUMENT, /wrong row width: 16 values for 1 rows of dim 8/));

  test('undecodable bytes → the transport error (INTERNAL)', () =>
    refused(
      () =>
        new Promise((resolve, reject) => {
          const raw = new grpc.Client(addresses(ps)[0], grpc.credentials.createInsecure());
          raw.makeUnaryRequest(`/${PARAM_SERVER_SERVICE}/Prepare`, (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(11, 0xff) /* a varint tag of wire type 7: not protobuf */, (err, res) => {
            raw.close();
            if (err) reject(Object.assign(new Error(`${grpc.status[err.code]}: ${err.details}`), { cause: err }));
            else resolve(res);
          });
        }),
      grpc.status.INTERNAL,
      /INTERNAL/,
    ));

  test('a stale version: commit of an already-committed step, prepare for an old step → ABORTED', async () => {
    await client.prepare({ step: 1, task: 'good', attempt: 0, blocks: [{ table: 'users', ids: ids([0]), values: rows(1), allRows: false }] });
    await client.commit({ step: 1, tasks: ['good'] });
    await refused(() => client.commit({ step: 1, tasks: [] }), grpc.status.ABORTED, /already committed/);
    await refused(prep([{ table: 'users', ids: ids([0]), values: rows(1) }]), grpc.status.ABORTED, /already committed/);
    await assert.rejects(client.commit({ step: 1, tasks: [] }), StaleVersion, 'ABORTED surfaces as StaleVersion');
  });
});

test('a shard that is gone surfaces as PeerUnavailable', async () => {
  const [p] = await startShards(1);
  const client = new ShardClient(`127.0.0.1:${p.port}`);
  p.forceClose();
  await assert.rejects(client.describe(), PeerUnavailable);
  client.close();
});

test('with a token, calls without it are UNAUTHENTICATED while health checks answer SERVING', async () => {
  const [p] = await startShards(1, { token: 's3cret' });
  const anon = new ShardClient(`127.0.0.1:${p.port}`);
  const authed = new ShardClient(`127.0.0.1:${p.port}`, { token: 's3cret' });
  try {
    const err = await anon.describe().catch((e: unknown) => e);
    assert.equal(grpcStatusOf(err), grpc.status.UNAUTHENTICATED);
    assert.equal((await authed.describe()).shard, 0);
    assert.deepEqual(await anon.healthCheck(), { status: 'SERVING' });
  } finally {
    anon.close();
    authed.close();
  }
});

test('async: a push is visible to the next pull at once, and a re-sent (task, attempt) is ignored', async () => {
  const ps = await startShards(2);
  await connect(ps, adam(0.01), { mode: 'async' });
  const c = new ShardClient(addresses(ps)[1]);
  try {
    const before = await c.pull({ table: 'users', ids: bytesOf(Uint32Array.from([1, 3])) });
    const push = { task: 'w0:1', attempt: 0, clock: 1, blocks: [{ table: 'users', ids: bytesOf(Uint32Array.from([3])), values: bytesOf(new Float32Array(8).fill(1)), allRows: false }] };
    assert.equal((await c.push(push)).duplicate, false);
    const after1 = await c.pull({ table: 'users', ids: bytesOf(Uint32Array.from([1, 3])) });
    assert.deepEqual(after1.values.subarray(0, 32), before.values.subarray(0, 32), 'row 1 untouched');
    assert.notDeepEqual(after1.values.subarray(32), before.values.subarray(32), 'row 3 updated on arrival');
    assert.equal(after1.version, before.version + 1);
    assert.equal((await c.push(push)).duplicate, true);
    assert.deepEqual((await c.pull({ table: 'users', ids: bytesOf(Uint32Array.from([1, 3])) })).values, after1.values, 'the duplicate changed nothing');
  } finally {
    c.close();
  }
});

test('takeOver fences every shard one generation up: the previous coordinator\'s task updates get FAILED_PRECONDITION', async () => {
  const ps = await startShards(2);
  const first = await connect(ps, adam(0.01));
  assert.equal(await first.takeOver(), 1);
  const worker = await connect(ps, adam(0.01));
  worker.generation = first.generation;
  const grads = randomGrads(1);
  await worker.prepareTask(1, '1.0.0', 1, grads);
  // A second coordinator takes over; the first one's worker, still busy, stages the next task.
  const second = await connect(ps, adam(0.01));
  assert.equal(await second.takeOver(), 2);
  const before = await second.exportState();
  const refused = await worker.prepareTask(1, '1.0.1', 1, grads).catch((e: unknown) => e);
  assert.equal(grpcStatusOf(refused), grpc.status.FAILED_PRECONDITION, String(refused));
  assert.match(String((refused as Error).message), /comes from coordinator generation 1, fenced off: shard \d follows generation 2/);
  await assert.rejects(first.commitStep(1, ['1.0.0']), (e: unknown) => grpcStatusOf(e) === grpc.status.FAILED_PRECONDITION);
  assertSameState(await second.exportState(), before, 0);
  assert.deepEqual((await Promise.all(addresses(ps).map(async (a) => { const c = new ShardClient(a); const d = await c.describe(); c.close(); return d.generation; }))), [2, 2]);
  // Under the new generation the step goes through.
  worker.generation = 2;
  await worker.prepareTask(1, '1.0.0', 2, grads);
  await second.commitStep(1, ['1.0.0']);
  assert.equal((await second.stats()).every((st) => st.commits === 1), true);
});

test('ssp: a worker s+1 clocks ahead of the slowest waits on Clock until the slowest reports', async () => {
  const ps = await startShards(1);
  const ssp: Consistency = { mode: 'ssp', staleness: 1, workers: 2 };
  const fast = await connect(ps, adam(0.01), ssp, { worker: 0, clientId: 'fast' });
  const slow = await connect(ps, adam(0.01), ssp, { worker: 1, clientId: 'slow' });
  await fast.push(randomGrads(1));
  let done = false;
  const second = fast.push(randomGrads(2)).then(() => (done = true));
  const stats = await waitFor(() => fast.stats(), (s) => s[0].clockWaiters === 1);
  assert.equal(stats[0].step, 2, 'the push was applied on arrival; only the clock waits');
  assert.equal(done, false, 'the fast worker waits at clock 2 while the slow one is at 0');
  await slow.push(randomGrads(3));
  await second;
  assert.equal((await fast.stats())[0].clockWaiters, 0);
});

/** Polls `get` until `ok` holds (a state, not a time, is awaited). */
async function waitFor<T>(get: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Float32 values rounded to the 16-bit encoding and widened back: what the other side of a 16-bit wire sees. */
function rounded(x: Float32Array, e: NarrowEncoding): Float32Array {
  const h = new Uint16Array(x.length);
  narrowRowsReference(h, x, 1, null, e);
  const out = new Float32Array(x.length);
  widenRowsReference(out, h, 1, null, e);
  return out;
}

for (const e of ['bf16', 'f16'] as const) {
  for (const shards of [1, 2]) {
    test(`${e} wire, ${shards} shard(s), bsp: pulls are the tables rounded to ${e}, and the shards apply the rounded gradients to float32 state`, async () => {
      const ps = await startShards(shards);
      const remote = await connect(ps, adam(0.01), undefined, { wire: e, rowCache: shards === 2 });
      const local = new LocalParamStore(SPECS, adam(0.01), 11);
      locals.push(local);
      for (let step = 1; step <= 10; step++) {
        const grads = randomGrads(step).map((g): RowGrad => ({ ...g, grad: g.grad.map((x, k) => (k % 5 === 0 ? x * 1e-6 : x)) }));
        for (const g of grads) {
          for (const ids of [g.ids, null]) {
            const want = await local.pull(g.table, ids);
            assert.deepEqual(await remote.pull(g.table, ids), rounded(want, e), `pull ${g.table} at step ${step}`);
            assert.ok(maxRelDiff(await remote.exactReads().pull(g.table, ids), want) <= 1e-5, `exact (float32) pull ${g.table} at step ${step}`);
          }
        }
        await remote.push(grads);
        await local.push(grads.map((g) => ({ ...g, grad: rounded(g.grad, e) })));
      }
      assertSameState(await remote.exportState(), await local.exportState());
    });
  }

  test(`${e} wire: half the payload bytes of float32 both ways, counted by the client and the shards`, async () => {
    const ps = await startShards(2);
    /** One whole pull, one pull of 3 named ids and one push; the payload bytes the store and the shards counted. */
    const moved = async (wire: 'f32' | NarrowEncoding) => {
      const store = await connect(ps, adam(0.01), undefined, { wire });
      const before = await store.stats();
      await store.pull('users', null);
      await store.pull('items', Int32Array.from([1, 4, 9]));
      await store.push(randomGrads(1));
      const after = await store.stats();
      const shards = (k: 'bytesPulled' | 'bytesPushed') => after.reduce((b, st, s) => b + st[k] - before[s][k], 0);
      const ids = { pulled: (37 + 3) * 4, pushed: randomGrads(1).reduce((b, g) => b + (g.ids ? 4 * g.ids.length : 0), 0) };
      assert.equal(shards('bytesPulled'), store.traffic.bytesPulled, 'the shards count the bytes they sent');
      assert.equal(shards('bytesPushed'), store.traffic.bytesPushed, 'the shards count the bytes they received');
      return { pulled: store.traffic.bytesPulled - ids.pulled, pushed: store.traffic.bytesPushed - ids.pushed };
    };
    const wide = await moved('f32');
    const narrow = await moved(e);
    assert.equal(wide.pulled, (37 + 3) * 8 * 4, 'float32: 4 bytes a value');
    assert.deepEqual(narrow, { pulled: wide.pulled / 2, pushed: wide.pushed / 2 });
  });
}
