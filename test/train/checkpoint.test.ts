import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { shutdownCompute } from '../../src/compute/index.js';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointError } from '../../src/errors/index.js';
import { adam, LocalParamStore, readCheckpoint, writeCheckpoint, type CheckpointMeta } from '../../src/train/index.js';

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
