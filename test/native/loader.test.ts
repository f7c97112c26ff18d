import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { defaultAddonPath, loadNative, NATIVE_ABI_VERSION, probeNative } from '../../src/compute/native.js';
import { nativeFor } from './fixtures.js';

test('loadNative answers null, without throwing, when disabled or when the addon is absent', () => {
  assert.equal(loadNative({ disabled: true }), null);
  const missing = join(tmpdir(), 'camrec-no-such-dir', 'camrec_native.node');
  assert.equal(loadNative({ addonPath: missing }), null);
  const probe = probeNative({ addonPath: missing });
  assert.match(probe.reason ?? '', /not built/);
});

test('loadNative answers null when the file is not a loadable addon', () => {
  const dir = mkdtempSync(join(tmpdir(), 'camrec-native-'));
  try {
    const bogus = join(dir, 'camrec_native.node');
    writeFileSync(bogus, 'not a shared library');
    const probe = probeNative({ addonPath: bogus });
    assert.equal(probe.kernels, null);
    assert.match(probe.reason ?? '', /failed to load/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the built addon loads from the package root with the expected ABI and a working instruction set', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  assert.ok(existsSync(defaultAddonPath()));
  assert.equal(native.abiVersion, NATIVE_ABI_VERSION);
  assert.ok(native.isas.includes('generic'));
  assert.equal(native.isa(), native.isas[0]);
  assert.throws(() => native.setIsa('sse9' as 'generic'), RangeError);
});

test('the addon runs in a worker thread, whose instruction-set choice is its own', async (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const m = require(workerData.path);
    m.setIsa('generic');
    const out = new Float32Array(2);
    m.spmm(Int32Array.of(0, 2), Int32Array.of(0, 1), null, Float32Array.of(1, 2, 3, 4), 2, out, 0, 1);
    parentPort.postMessage({ isa: m.isa(), out: Array.from(out) });`;
  const worker = new Worker(code, { eval: true, workerData: { path: defaultAddonPath() } });
  const [reply] = (await once(worker, 'message')) as [{ isa: string; out: number[] }];
  await worker.terminate();
  assert.deepEqual(reply, { isa: 'generic', out: [4, 6] });
  assert.equal(native.isa(), native.isas[0]);
});
