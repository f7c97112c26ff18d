import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { ComputePool, SharedHeap, balancedRowBounds, spmmReference } from '../../src/compute/index.js';
import { assertClose, randomCsr, randomFloats, rng } from './helpers.js';

const pools: ComputePool[] = [];
after(async () => {
  await Promise.all(pools.map((p) => p.close()));
});

function newPool(threads: number, heap: SharedHeap): ComputePool {
  const pool = new ComputePool({ threads, heap });
  pools.push(pool);
  return pool;
}

/** A random product laid out in `heap`: the row kernel's args, its output and expected values. */
function product(heap: SharedHeap, seed: number, nRows: number, nCols: number, d: number) {
  const r = rng(seed);
  const m = randomCsr(r, nRows, nCols, 0.02);
  const x = randomFloats(r, nCols * d);
  const y = heap.alloc(nRows * d * 4);
  const args = [heap.put(m.indptr), heap.put(m.indices), heap.put(m.values!), heap.put(x), y, d];
  const bounds = balancedRowBounds(m.indptr, nRows, 16);
  const output = (): Float32Array => heap.f32(y, nRows * d).slice();
  return { m, x, args, bounds, output, expected: () => spmmReference(m, x, d) };
}

test('balanced row bounds cover every row once and give blocks of about equal nnz + rows', () => {
  const r = rng(31);
  const m = randomCsr(r, 500, 400, 0.03);
  const bounds = balancedRowBounds(m.indptr, 500, 8);
  assert.equal(bounds[0], 0);
  assert.equal(bounds[bounds.length - 1], 500);
  let maxRow = 0;
  for (let i = 0; i < 500; i++) maxRow = Math.max(maxRow, m.indptr[i + 1] - m.indptr[i] + 1);
  const total = m.indptr[500] + 500;
  for (let c = 0; c + 1 < bounds.length; c++) {
    assert.ok(bounds[c + 1] > bounds[c]);
    const cost = m.indptr[bounds[c + 1]] - m.indptr[bounds[c]] + bounds[c + 1] - bounds[c];
    assert.ok(cost <= total / 8 + maxRow, `block ${c} costs ${cost}`);
  }
  assert.deepEqual(balancedRowBounds(Int32Array.from([0]), 0, 4), [0]);
});

test('a pool with workers gives bit-for-bit the single-thread result, and its workers take chunks', async () => {
  const heap = new SharedHeap();
  const p = product(heap, 32, 3000, 2500, 24);
  newPool(1, heap).runSync('spmm', p.args, p.bounds);
  const single = p.output();
  assertClose(single, p.expected(), 1e-5, 1e-6, 'single thread');
  const pool = newPool(3, heap);
  assert.equal(await pool.ready(), 3);
  heap.f32(p.args[4], 3000 * 24).fill(0);
  for (let i = 0; i < 50 && pool.workerChunks === 0; i++) pool.runSync('spmm', p.args, p.bounds);
  assert.ok(pool.workerChunks > 0, 'a worker ran at least one chunk');
  assert.deepEqual(p.output(), single);
});

test('the async variant runs on the workers and equals the synchronous one', async () => {
  const heap = new SharedHeap();
  const p = product(heap, 33, 800, 900, 16);
  const pool = newPool(2, heap);
  await pool.ready();
  pool.runSync('spmm', p.args, p.bounds);
  const sync = p.output();
  heap.f32(p.args[4], 800 * 16).fill(Number.NaN);
  await pool.run('spmm', p.args, p.bounds);
  assert.deepEqual(p.output(), sync);
});

test('a failing chunk fails the job with the worker\'s reason, and the pool keeps working', async () => {
  const heap = new SharedHeap();
  const p = product(heap, 34, 400, 300, 8);
  const pool = newPool(2, heap);
  await pool.ready();
  const outOfBounds = [...p.args];
  outOfBounds[3] = 2 ** 32 - 64; // x far past the end of memory
  await assert.rejects(pool.run('spmm', outOfBounds, p.bounds), /compute worker failed in row kernel 'spmm': RuntimeError: memory access out of bounds/);
  assert.throws(() => pool.runSync('spmm', outOfBounds, p.bounds), /out of bounds/);
  pool.runSync('spmm', p.args, p.bounds);
  assertClose(p.output(), p.expected(), 1e-5, 1e-6, 'after the failures');
});

test('a closed pool runs jobs inline', async () => {
  const heap = new SharedHeap();
  const p = product(heap, 35, 200, 200, 4);
  const pool = newPool(2, heap);
  await pool.ready();
  await pool.close();
  assert.equal(pool.threads, 1);
  await pool.run('spmm', p.args, p.bounds);
  assertClose(p.output(), p.expected(), 1e-5, 1e-6, 'inline');
});

test('an open pool does not keep the process alive', () => {
  const fixture = fileURLToPath(new URL('./fixtures/open-pool.ts', import.meta.url));
  const t = Date.now();
  const res = spawnSync(process.execPath, ['--import', 'tsx', fixture], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(res.status, 0, res.stderr);
  assert.match(res.stdout, /threads 2 ok/);
  assert.ok(Date.now() - t < 60_000);
});
