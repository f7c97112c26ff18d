import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { shutdownCompute } from '../../src/compute/index.js';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointError } from '../../src/errors/index.js';
import { adam, LocalParamStore, readCheckpoint, readMatchingCheckpoint, writeCheckpoint, type CheckpointMeta } from '../../src/train/index.js';

after(async () => {
  await shutdownCompute();
});

const meta: CheckpointMeta = {
  model: 'lightgcn',
  hyper: { dim: 4 },
  config: { lr: 0.001 },
  configHash: 'abc',
  datasetChecksum: 'def',
  epoch: 7,
  trainer: { epoch: 7, best: 0.5 },
};

async function storeWithHistory() {
  const specs = [
    { name: 'user', rows: 3, dim: 4, init: { kind: 'xavierUniform' as const }, trainable: true },
    { name: 'item', rows: 5, dim: 4, init: { kind: 'normal' as const, std: 0.1 }, trainable: true },
  ];
  const store = new LocalParamStore(specs, adam(0.01), 1);
  await store.push([{ table: 'item', ids: Int32Array.from([0, 4]), grad: new Float32Array(8).fill(0.5) }]);
  return store;
}

test('checkpoint round trip keeps tables, optimizer state, step and meta exactly', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
  const store = await storeWithHistory();
  const state = await store.exportState();
  const path = join(dir, 'last.ckpt');
  writeCheckpoint(path, { meta, store: state });
  const back = readCheckpoint(path);
  assert.deepEqual(back.meta, meta);
  assert.equal(back.store.step, 1);
  assert.deepEqual(back.store.tables, state.tables);
  assert.deepEqual(readdirSync(dir), ['last.ckpt'], 'no temporary file is left behind');
});

test('a corrupt or truncated checkpoint is refused with the file named; the good file is untouched', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
  const store = await storeWithHistory();
  const path = join(dir, 'best.ckpt');
  writeCheckpoint(path, { meta, store: await store.exportState() });
  const good = readFileSync(path);
  const flipped = Buffer.from(good);
  flipped[flipped.length - 3] ^= 0xff;
  const bad = join(dir, 'bad.ckpt');
  writeFileSync(bad, flipped);
  assert.throws(() => readCheckpoint(bad), (e: unknown) => e instanceof CheckpointError && /bad\.ckpt: checksum mismatch/.test(e.message));
  writeFileSync(bad, good.subarray(0, good.length - 10));
  assert.throws(() => readCheckpoint(bad), /bad\.ckpt: expected \d+ bytes/);
  writeFileSync(bad, 'hello');
  assert.throws(() => readCheckpoint(bad), /bad magic/);
  assert.throws(() => readCheckpoint(join(dir, 'missing.ckpt')), /missing\.ckpt: cannot read/);
  assert.ok(existsSync(path));
  assert.deepEqual(readFileSync(path), good);
});

test('a checkpoint resumes only for the same model, identity, data and resolved hyper-parameters', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
  const path = join(dir, 'last.ckpt');
  const written = { ...meta, hyper: { dim: 4, reg: 0.001, layers: 2 } };
  writeCheckpoint(path, { meta: written, store: await (await storeWithHistory()).exportState() });
  const fresh = { model: 'lightgcn', configHash: 'abc', datasetChecksum: 'def', hyper: { dim: 4, reg: 0.001, layers: 2 } };
  assert.equal(readMatchingCheckpoint(path, fresh).meta.epoch, 7);
  assert.throws(() => readMatchingCheckpoint(path, { ...fresh, configHash: 'xyz' }), /last\.ckpt: was written with another configHash \(abc ≠ xyz\)/);
  assert.throws(() => readMatchingCheckpoint(path, { ...fresh, datasetChecksum: 'x' }), /another datasetChecksum/);
  // the same config, a default that changed since: refused, naming the value it was written with and the way on
  assert.throws(
    () => readMatchingCheckpoint(path, { ...fresh, hyper: { dim: 4, reg: 0.5, layers: 2 } }),
    (e: unknown) =>
      e instanceof CheckpointError &&
      /last\.ckpt: was written with hyper reg=0\.001, this run resolves reg=0\.5 .*resume with --hyper reg=0\.001/.test(e.message),
  );
  assert.throws(() => readMatchingCheckpoint(path, { ...fresh, hyper: { dim: 8, reg: 1, layers: 2 } }), /hyper dim=4, this run resolves dim=8 \(and 1 more\)/);
  // an option the checkpoint does not name was added since; its default is taken to keep the run as it was
  assert.equal(readMatchingCheckpoint(path, { ...fresh, hyper: { ...fresh.hyper, gate: true } }).meta.epoch, 7);
  // ... unless that default drops or adds a table (the checkpoint holds user and item): refused, naming the table
  assert.equal(readMatchingCheckpoint(path, { ...fresh, tables: ['item', 'user'] }).meta.epoch, 7);
  assert.throws(() => readMatchingCheckpoint(path, { ...fresh, tables: ['user'] }), /last\.ckpt: holds table item, which this run's model does not declare/);
  assert.throws(() => readMatchingCheckpoint(path, { ...fresh, tables: ['user', 'item', 'image.env.in'] }), /last\.ckpt: lacks table image\.env\.in, which this run's model declares/);
});
