import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import os from 'node:os';
import { after, test } from 'node:test';
import { BackendError } from '../../src/errors/index.js';
import { BACKEND_CHOICES, initBackend, shutdownCompute, tf } from '../../src/compute/index.js';

after(async () => {
  await shutdownCompute();
});

function installed(pkg: string): boolean {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

test('wasm is the default: SIMD, one thread per core, our kernels registered for wasm and cpu', async () => {
  const info = await initBackend();
  assert.deepEqual(info, { backend: 'wasm', threads: os.availableParallelism(), simd: true });
  assert.equal(tf.getBackend(), 'wasm');
  for (const backend of ['wasm', 'cpu']) {
    for (const kernel of ['UnsortedSegmentSum', 'CamrecSpmm']) assert.ok(tf.getKernel(kernel, backend), `${kernel} on ${backend}`);
  }
});

test('initBackend is idempotent: a second call changes no registration', async () => {
  const before = ['wasm', 'cpu'].map((b) => tf.getKernel('UnsortedSegmentSum', b));
  const gradient = tf.getGradient('CamrecSpmm');
  const info = await initBackend('wasm');
  assert.equal(info.backend, 'wasm');
  assert.deepEqual(['wasm', 'cpu'].map((b) => tf.getKernel('UnsortedSegmentSum', b)), before);
  assert.equal(tf.getGradient('CamrecSpmm'), gradient);
});

for (const [choice, pkg] of [
  ['tensorflow', '@tensorflow/tfjs-node'],
  ['tensorflow-gpu', '@tensorflow/tfjs-node-gpu'],
] as const) {
  test(`--backend ${choice} starts when ${pkg} is installed, and is a one-line BackendError naming the install otherwise`, async () => {
    if (installed(pkg) && choice === 'tensorflow') {
      assert.equal((await initBackend(choice)).backend, 'tensorflow');
      return;
    }
    const err = await initBackend(choice).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (err === undefined) {
      assert.ok(installed(pkg), `${choice} started without ${pkg}`);
      return;
    }
    assert.ok(err instanceof BackendError, String(err));
    assert.equal(err.exitCode, 2);
    assert.ok(!err.message.includes('\n'), err.message);
    assert.match(err.message, new RegExp(`^backend '${choice}' `));
    if (!installed(pkg)) assert.match(err.message, new RegExp(`${pkg} is not installed; install it with \`npm install ${pkg}\``));
  });
}

test('auto takes tensorflow when a tfjs-node package is installed and wasm otherwise', async () => {
  await tf.setBackend('wasm');
  const info = await initBackend('auto');
  const native = installed('@tensorflow/tfjs-node') || installed('@tensorflow/tfjs-node-gpu');
  assert.equal(info.backend, native ? 'tensorflow' : 'wasm');
  assert.equal(tf.getBackend(), info.backend);
  assert.deepEqual([...BACKEND_CHOICES], ['auto', 'wasm', 'tensorflow', 'tensorflow-gpu']);
});
