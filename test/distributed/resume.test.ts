/**
 * Resuming a distributed job (docs/distributed.md §1) with real processes on loopback, under bsp:
 *  - the whole `camrec train --distributed local:1:1` job is SIGKILLed (its process group: CLI, coordinator, shard,
 *    worker) once epoch 1's last.ckpt exists, then run again with --resume;
 *  - a coordinator and its worker are SIGKILLed while the two shards, still running, are part-way into the next
 *    epoch; a new coordinator with --resume rolls the shards back to last.ckpt and continues.
 * Both end with the metrics, result and parameters of an uninterrupted run. Also: the shard forgets the task keys
 * an import rolls back, and --resume under another --consistency is refused.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { ShardClient, ShardState } from '../../src/paramserver/index.js';
import { adam, readCheckpoint } from '../../src/train/index.js';
import { camrec } from '../helpers/cli.js';
import { tempDir, writeInter } from '../helpers/files.js';
import { randomDataset } from '../helpers/tiny.js';
import { assertSameState } from '../paramserver/helpers.js';
import { CAMREC_DEV, spawnShard, type ShardProcess } from '../paramserver/children.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const EPOCHS = 4;
let dataDir = '';
let reference = '';
const started: ChildProcess[] = [];
const shards: ShardProcess[] = [];

// 120 users × 4 training items = 480 triples, batches of 40: 12 steps an epoch, 2 tasks each.
const trainFlags = (out: string) => [
  '--model', 'lightgcn', '--data', dataDir, '--out', out, '--epochs', String(EPOCHS), '--batch', '40', '--dim', '8', '--seed', '11',
  '--patience', '9', '--backend', 'wasm', '--threads', '1', '--no-native',
];

before(async () => {
  dataDir = writeInter(tempDir('resume-data'), randomDataset(120, 100, 6, 3));
  reference = join(tempDir('resume-ref'), 'run');
  const r = await camrec(['train', ...trainFlags(reference), '--distributed', 'local:1:1', '--tasks-per-step', '2']);
  assert.equal(r.code, 0, r.stderr);
});

after(async () => {
  for (const c of [...started, ...shards.map((s) => s.proc)]) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

const metrics = (dir: string) => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
const result = (dir: string) => JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')) as Record<string, unknown>;

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 40));
  }
}

function close(a: number, b: number, what: string): void {
  assert.ok(Math.abs(a - b) <= 1e-5 * Math.max(Math.abs(b), 1e-12), `${what}: ${a} vs ${b}`);
}

/** The resumed run's metrics.jsonl, result.json and last.ckpt equal the uninterrupted run's. */
function assertSameRun(dir: string): void {
  const [got, want] = [metrics(dir), metrics(reference)];
  assert.deepEqual(got.map((l) => l.epoch), want.map((l) => l.epoch), 'one metrics line per epoch, none twice');
  got.forEach((l, k) => {
    close(l.loss as number, want[k].loss as number, `epoch ${k + 1} loss`);
    for (const [m, v] of Object.entries(want[k].valid as Record<string, number>)) close((l.valid as Record<string, number>)[m], v, `epoch ${k + 1} valid ${m}`);
  });
  const [a, b] = [result(dir), result(reference)];
  assert.deepEqual([a.epochsRun, a.bestEpoch, a.stoppedBy], [b.epochsRun, b.bestEpoch, b.stoppedBy]);
  for (const [m, v] of Object.entries(b.test as Record<string, number>)) close((a.test as Record<string, number>)[m], v, `test ${m}`);
  assertSameState(readCheckpoint(join(dir, 'last.ckpt')).store, readCheckpoint(join(reference, 'last.ckpt')).store, 1e-5);
}

test('an import rolls a shard back: the task keys applied after the imported step are forgotten', () => {
  const shard = ShardState.create({
    shard: 0,
    shards: 1,
    seed: 1,
    optimizer: adam(0.1),
    consistency: { mode: 'bsp' },
    tables: [{ name: 't', rows: 2, dim: 2, trainable: true, placement: 'whole', init: { kind: 'zeros' } }],
  });
  const grad = [{ table: 't', ids: null, values: Float32Array.from([1, 2, 3, 4]) }];
  shard.prepare(1, '1.0.0', 1, grad);
  shard.commit(1, ['1.0.0']);
  const atStep1 = [...shard.exportChunks(100)].map((c) => ({ ...c, values: c.values.slice() }));
  shard.prepare(2, '1.1.0', 1, grad);
  shard.commit(2, ['1.1.0']);
  shard.importState(1, atStep1);
  assert.equal(shard.step, 1);
  assert.deepEqual(shard.prepare(2, '1.1.0', 1, grad), { duplicate: false }, 'the redone task is staged again, not a duplicate');
  assert.deepEqual(shard.commit(2, ['1.1.0']), { tasks: 1 });
  assert.deepEqual(shard.prepare(3, '1.0.0', 1, grad), { duplicate: true }, 'a key from before the imported step is still known');
});

test('the whole local job SIGKILLed after epoch 1 and resumed ends as the uninterrupted run', async () => {
  const out = join(tempDir('resume-local'), 'run');
  const flags = [...trainFlags(out), '--distributed', 'local:1:1', '--tasks-per-step', '2'];
  // Its own process group, so that one SIGKILL takes the CLI and every child it started.
  const job = spawn(CAMREC_DEV[0], [...CAMREC_DEV.slice(1), 'train', ...flags], { cwd: root, detached: true, stdio: ['ignore', 'ignore', 'ignore'] });
  started.push(job);
  await until('epoch 1 of the local job', () => existsSync(join(out, 'last.ckpt')));
  process.kill(-(job.pid as number), 'SIGKILL');
  const killedAt = readCheckpoint(join(out, 'last.ckpt')).meta.epoch;
  assert.ok(killedAt >= 1 && killedAt < EPOCHS, `killed after epoch ${killedAt}`);
  assert.ok(!existsSync(join(out, 'result.json')), 'the killed job did not finish');

  const resumed = await camrec(['train', ...flags, '--resume']);
  assert.equal(resumed.code, 0, resumed.stderr);
  const line = resumed.stderr.split('\n').find((l) => l.includes('"msg":"resumed"'));
  assert.ok(line, 'the coordinator resumed');
  assert.equal((JSON.parse(line) as { epoch: number }).epoch, killedAt);
  assertSameRun(out);
});

/** `camrec coordinator` as a child; resolves with it and its port once it listens. */
async function startCoordinator(args: string[]): Promise<{ proc: ChildProcess; port: number; stderr: () => string }> {
  const proc = spawn(CAMREC_DEV[0], [...CAMREC_DEV.slice(1), 'coordinator', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(proc);
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
    });
    proc.once('exit', (code) => reject(new Error(`coordinator exited with ${code}: ${err}`)));
  });
  return { proc, port: (JSON.parse(line) as { port: number }).port, stderr: () => err };
}

/** `camrec worker` as a child; `log()` is what it wrote to stderr so far (warnings and errors). */
function startWorker(port: number, id: string): { proc: ChildProcess; log: () => string } {
  const proc = spawn(CAMREC_DEV[0], [...CAMREC_DEV.slice(1), 'worker', '--coordinator', `127.0.0.1:${port}`, '--id', id, '--threads', '1', '--no-native', '--log-level', 'warn'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  started.push(proc);
  let log = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
  return { proc, log: () => log };
}

const exitOf = (c: ChildProcess) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve(c.exitCode ?? -1) : new Promise<number>((r) => c.once('exit', (code) => r(code ?? -1))));

test('a coordinator SIGKILLed mid-epoch while its shards run on: a new one with --resume rolls them back and continues', async () => {
  shards.push(...(await Promise.all([spawnShard(0, 2), spawnShard(1, 2)])));
  const out = join(tempDir('resume-coord'), 'run');
  const args = [...trainFlags(out), '--shards', shards.map((s) => s.address).join(','), '--port', '0', '--tasks-per-step', '2'];
  const first = await startCoordinator(args);
  const { proc: worker } = startWorker(first.port, 'w0');
  const probe = new ShardClient(shards[0].address);
  try {
    await until('epoch 1', () => existsSync(join(out, 'last.ckpt')));
    const ckptStep = readCheckpoint(join(out, 'last.ckpt')).store.step;
    await until('a step of epoch 2 on the shards', async () => (await probe.describe()).step > ckptStep);
    first.proc.kill('SIGKILL');
    worker.kill('SIGKILL');
    await Promise.all([exitOf(first.proc), exitOf(worker)]);
    const ckpt = readCheckpoint(join(out, 'last.ckpt'));
    const shardStep = (await probe.describe()).step;
    assert.ok(ckpt.meta.epoch < EPOCHS, `killed after epoch ${ckpt.meta.epoch}`);
    assert.ok(shardStep > ckpt.store.step, `the shards (step ${shardStep}) ran past last.ckpt (step ${ckpt.store.step})`);

    const second = await startCoordinator([...args, '--resume']);
    startWorker(second.port, 'w1');
    assert.equal(await exitOf(second.proc), 0, second.stderr());
    assert.match(second.stderr(), /"msg":"resumed"/);
    assertSameRun(out);
  } finally {
    probe.close();
  }
});

test('a worker outlives its coordinator: SIGKILLed mid-epoch and restarted with --resume on its port, it takes the same worker back', async () => {
  const own = await Promise.all([spawnShard(0, 2), spawnShard(1, 2)]);
  shards.push(...own);
  const out = join(tempDir('resume-keep-worker'), 'run');
  const args = [...trainFlags(out), '--shards', own.map((s) => s.address).join(','), '--tasks-per-step', '2'];
  const first = await startCoordinator([...args, '--port', '0']);
  const { proc: worker, log: workerLog } = startWorker(first.port, 'w0');
  const probe = new ShardClient(own[0].address);
  try {
    await until('epoch 1', () => existsSync(join(out, 'last.ckpt')));
    const ckptStep = readCheckpoint(join(out, 'last.ckpt')).store.step;
    await until('a step of epoch 2 on the shards', async () => (await probe.describe()).step > ckptStep);
    first.proc.kill('SIGKILL');
    await exitOf(first.proc);
    await until('the worker to notice', () => workerLog().includes('coordinator unreachable'));
    assert.equal(worker.exitCode, null, `the worker is still running: ${workerLog()}`);

    const second = await startCoordinator([...args, '--port', String(first.port), '--resume']);
    assert.equal(await exitOf(second.proc), 0, second.stderr());
    assert.equal(await exitOf(worker), 0, workerLog());
    assert.match(workerLog(), /"msg":"coordinator reachable again"/);
    assert.match(workerLog(), /"msg":"lease refused: joining again"/);
    assert.match(second.stderr(), /"msg":"resumed"/);
    assert.match(second.stderr(), /"generation":2,"msg":"shards fenced"/);
    assert.equal((await probe.describe()).generation, 2);
    assertSameRun(out);
  } finally {
    probe.close();
  }
});

test('--resume under another --consistency, and a malformed --consistency, are refused naming the flag', async () => {
  const out = join(tempDir('resume-refused'), 'run');
  const other = await camrec(['coordinator', ...trainFlags(reference), '--shards', '127.0.0.1:1', '--resume', '--consistency', 'async']);
  assert.equal(other.code, 2, other.stderr);
  assert.match(other.stderr, /last\.ckpt: was written under --consistency bsp; resume it with the same mode, not async/);
  const bad = await camrec(['train', ...trainFlags(out), '--distributed', 'local:1:1', '--consistency', 'ssp:x']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--consistency: 'ssp:x' is not bsp, ssp:<s>/);
  const single = await camrec(['train', ...trainFlags(out), '--consistency', 'async']);
  assert.equal(single.code, 2);
  assert.match(single.stderr, /flag --consistency needs --distributed/);
  const noOut = await camrec(['coordinator', '--model', 'lightgcn', '--data', dataDir, '--shards', '127.0.0.1:1', '--resume']);
  assert.equal(noOut.code, 2);
  assert.match(noOut.stderr, /--resume needs --out/);
});
