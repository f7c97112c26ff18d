/**
 * The addon's helper-thread pool: threaded kernels reuse its threads instead of starting their own, and calls from
 * several threads at once (the main thread and worker threads) share it and still compute exactly what one
 * thread computes.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { defaultAddonPath } from '../../src/compute/native.js';
import { nativeFor, randomMatrix, stream } from './fixtures.js';

// [m, k, n] large enough that gemm splits its rows over threads (m·n·k ≥ 2¹⁸).
const M = 300;
const K = 64;
const N = 200;

/** a [M, K] and b [K, N] of integers in [-3, 3]: every partial sum is exact in float32, so no split changes a bit. */
function operands(seed: number): [Float32Array, Float32Array] {
  const s = stream(seed);
  return [randomMatrix(s, M * K, 3), randomMatrix(s, K * N, 3)];
}

test('threaded calls reuse the pool: it grows to the most helpers asked for, not by one per call', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const [a, b] = operands(7);
  const c = new Float32Array(M * N);
  const before = native.helperThreads();
  for (let i = 0; i < 50; i++) native.gemm(a, b, c, M, K, N, 0, 0, 4);
  const after = native.helperThreads();
  assert.ok(after >= 1, `no helper thread was started (pool holds ${after})`);
  assert.ok(after <= Math.max(before, 3), `50 calls at 4 threads left ${after} helpers (before: ${before}); at most 3 are needed`);
  for (let i = 0; i < 10; i++) native.gemm(a, b, c, M, K, N, 0, 0, 2);
  assert.equal(native.helperThreads(), after, 'calls asking for fewer helpers started more');
  native.gemm(a, b, c, M, K, N, 0, 0, 6);
  assert.ok(native.helperThreads() <= Math.max(after, 5));
});

test('worker threads and the main thread running threaded products at once all get the one-thread result', async (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const [a, b] = operands(8);
  const expected = new Float32Array(M * N);
  native.gemm(a, b, expected, M, K, N, 0, 0, 1);
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const m = require(workerData.path);
    const { a, b, M, K, N } = workerData;
    let mismatches = 0;
    const c = new Float32Array(M * N);
    parentPort.postMessage({ ready: true });
    for (let i = 0; i < 200; i++) {
      m.gemm(a, b, c, M, K, N, 0, 0, 3);
      for (let j = 0; j < c.length; j++) if (c[j] !== workerData.expected[j]) mismatches++;
    }
    parentPort.postMessage({ mismatches });`;
  const workers = [0, 1].map(() => new Worker(code, { eval: true, workerData: { path: defaultAddonPath(), a, b, expected, M, K, N } }));
  await Promise.all(workers.map((w) => once(w, 'message'))); // both are about to start their products
  const replies = workers.map((w) => once(w, 'message'));
  let mismatches = 0;
  const c = new Float32Array(M * N);
  for (let i = 0; i < 200; i++) {
    native.gemm(a, b, c, M, K, N, 0, 0, 3);
    for (let j = 0; j < c.length; j++) if (c[j] !== expected[j]) mismatches++;
  }
  const fromWorkers = (await Promise.all(replies)).map(([r]) => (r as { mismatches: number }).mismatches);
  await Promise.all(workers.map((w) => w.terminate()));
  assert.deepEqual([mismatches, ...fromWorkers], [0, 0, 0]);
});
