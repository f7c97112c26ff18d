import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SharedHeap } from '../../src/compute/index.js';
import { Scratch } from '../../src/compute/heap.js';

test('heap blocks are 64-byte aligned, never at 0, never overlap, and freed space is merged and reused', () => {
  const heap = new SharedHeap(1);
  const a = heap.alloc(100);
  const b = heap.alloc(1);
  const c = heap.alloc(1000);
  for (const p of [a, b, c]) assert.ok(p > 0 && p % 64 === 0, `offset ${p}`);
  assert.ok(a + 128 <= b && b + 64 <= c, `${a} ${b} ${c}`);
  heap.release(a);
  heap.release(b);
  assert.equal(heap.alloc(190), a, 'the two freed neighbours merge into one block');
  assert.throws(() => heap.release(b), /not allocated/);
});

test('the heap grows past its initial pages, keeps earlier contents, and accounts for every byte', () => {
  const heap = new SharedHeap(1);
  const first = heap.put(Float32Array.from([1, 2, 3]));
  const big = heap.alloc(5 * 65536);
  assert.ok(heap.byteLength >= 6 * 65536);
  heap.f32(big, 5 * 16384).fill(7);
  assert.deepEqual(Array.from(heap.f32(first, 3)), [1, 2, 3]);
  assert.equal(heap.allocatedBytes, 64 + 5 * 65536);
  heap.release(big);
  heap.release(first);
  assert.equal(heap.allocatedBytes, 0);
  assert.ok(heap.memory.buffer instanceof SharedArrayBuffer);
});

test('scratch keeps its block while it is big enough and moves to a larger one when not', () => {
  const heap = new SharedHeap(1);
  const s = new Scratch(heap);
  const p = s.ensure(1000);
  assert.equal(s.ensure(500), p);
  const q = s.ensure(100_000);
  assert.equal(heap.allocatedBytes, 100_032);
  assert.notEqual(q, 0);
});
