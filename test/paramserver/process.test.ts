/**
 * Shards as real child processes (`camrec paramserver`): a checkpoint survives a killed shard, SIGTERM flushes
 * one, and a client that dies between two shards' prepares leaves, after an abort, no shard changed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { shutdownCompute } from '../../src/compute/index.js';
import { StaleVersion } from '../../src/errors/index.js';
import { RemoteParamStore, ShardClient } from '../../src/paramserver/index.js';
import { adam, LocalParamStore } from '../../src/train/index.js';
import { camrec } from '../helpers/cli.js';
import { runScript, spawnShard, type ShardProcess } from './children.js';
import { assertSameState, placement, randomGrads, SPECS } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'camrec-ps-proc-'));
const children: ShardProcess[] = [];
const stores: RemoteParamStore[] = [];

after(async () => {
  for (const s of stores) s.close();
  for (const c of children) c.proc.kill('SIGKILL');
  await Promise.all(children.map((c) => c.exited));
  rmSync(dir, { recursive: true, force: true });
  await shutdownCompute();
});

async function shards(n: number, extra: readonly string[] = []): Promise<ShardProcess[]> {
  const started = await Promise.all(Array.from({ length: n }, (_, s) => spawnShard(s, n, extra)));
  children.push(...started);
  return started;
}

async function connect(ps: readonly ShardProcess[]): Promise<RemoteParamStore> {
  const store = await RemoteParamStore.connect({ addresses: ps.map((p) => p.address), specs: SPECS, optimizer: adam(0.01), seed: 11, placement });
  stores.push(store);
  return store;
}

test('checkpoint, kill the shard, restart it on the same folder: the same state, and training goes on as in one process', async () => {
  const ckpt = join(dir, 'kill');
  const [a0, a1] = await shards(2, ['--checkpoint-dir', ckpt]);
  const local = new LocalParamStore(SPECS, adam(0.01), 11);
  const store = await connect([a0, a1]);
  for (let step = 1; step <= 5; step++) {
    await store.push(randomGrads(step));
    await local.push(randomGrads(step));
  }
  const saved = await store.exportState();
  const c1 = new ShardClient(a1.address);
  assert.equal((await c1.checkpoint()).step, 5);
  c1.close();
  a1.proc.kill('SIGKILL');
  assert.equal(await a1.exited, 'SIGKILL');
  const [b1] = await Promise.all([spawnShard(1, 2, ['--checkpoint-dir', ckpt])]);
  children.push(b1);
  const again = await connect([a0, b1]);
  assert.equal(again.step, 5, 'the restarted shard resumed at step 5');
  assertSameState(await again.exportState(), saved, 0);
  await again.push(randomGrads(6));
  await local.push(randomGrads(6));
  assertSameState(await again.exportState(), await local.exportState());
  local.dispose();
});

test('SIGTERM flushes a checkpoint: a restarted shard holds every step applied before it', async () => {
  const ckpt = join(dir, 'term');
  const [s0] = await shards(1, ['--checkpoint-dir', ckpt]);
  const store = await connect([s0]);
  for (let step = 1; step <= 3; step++) await store.push(randomGrads(step));
  const before = await store.exportState();
  s0.proc.kill('SIGTERM');
  assert.equal(await s0.exited, 0, 'a graceful exit');
  const [t0] = await shards(1, ['--checkpoint-dir', ckpt]);
  const again = await connect([t0]);
  assertSameState(await again.exportState(), before, 0);
});

test('a client dying after prepare on shard 0 and before shard 1, then abort: no shard changed', async () => {
  const ps = await shards(2);
  const store = await connect(ps);
  const initial = await store.exportState();
  const died = await runScript('test/paramserver/dying-client.ts', ps.map((p) => p.address));
  assert.equal(died.code, 'SIGKILL', `the client killed itself mid-step: ${died.stderr}`);
  const stats = await store.stats();
  assert.deepEqual(stats.map((s) => s.stagedTasks), [1, 0], 'shard 0 holds the staged task, shard 1 none');
  const clients = ps.map((p) => new ShardClient(p.address));
  try {
    await Promise.all(clients.map((c) => c.abort({ step: 1 })));
    assertSameState(await store.exportState(), initial, 0);
    await assert.rejects(clients[0].commit({ step: 1, tasks: [] }), StaleVersion, 'the aborted step cannot be committed');
  } finally {
    for (const c of clients) c.close();
  }
  await store.push(randomGrads(1));
  assert.equal(store.step, 1, 'the step is prepared and committed again afterwards');
});

test('camrec paramserver refuses an open address without a token (exit 2) and a shard outside [0, shards)', async () => {
  const open = await camrec(['paramserver', '--shard', '0', '--shards', '1', '--host', '0.0.0.0', '--port', '0']);
  assert.equal(open.code, 2);
  assert.match(open.stderr, /without a token/);
  const bad = await camrec(['paramserver', '--shard', '2', '--shards', '2', '--port', '0']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--shard: 2 is not in \[0, 2\)/);
});
