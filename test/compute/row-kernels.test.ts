import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SharedHeap, spmmReference } from '../../src/compute/index.js';
import { rowKernels, simdSupported } from '../../src/compute/kernels/row-kernels.js';
import { sleb, uleb } from '../../src/compute/kernels/wasm-asm.js';
import { assertClose, randomCsr, randomFloats, rng } from './helpers.js';

test('LEB128 encodings match the spec examples', () => {
  assert.deepEqual(uleb(0), [0]);
  assert.deepEqual(uleb(624485), [0xe5, 0x8e, 0x26]);
  assert.deepEqual(uleb(2 ** 32 - 1), [0xff, 0xff, 0xff, 0xff, 0x0f]);
  assert.deepEqual(sleb(-1), [0x7f]);
  assert.deepEqual(sleb(-123456), [0xc0, 0xbb, 0x78]);
  assert.deepEqual(sleb(63), [0x3f]);
  assert.deepEqual(sleb(64), [0xc0, 0x00]);
});

test('the wasm SIMD module validates on Node 20', () => {
  assert.equal(simdSupported(), true);
});

test('SIMD and TypeScript-loop row kernels both match the reference, on any row range and row width', () => {
  const r = rng(21);
  const heap = new SharedHeap(1);
  const simd = rowKernels(heap.memory, true);
  const loops = rowKernels(heap.memory, false);
  for (const d of [1, 3, 4, 13, 16, 64]) {
    for (const binary of [false, true]) {
      const m = randomCsr(r, 37, 29, 0.2, binary);
      const x = randomFloats(r, 29 * d);
      const args = [heap.put(m.indptr), heap.put(m.indices), m.values ? heap.put(m.values) : 0, heap.put(x), heap.alloc(37 * d * 4), d];
      const expected = spmmReference(m, x, d);
      for (const kernels of [simd, loops]) {
        heap.f32(args[4], 37 * d).fill(Number.NaN);
        kernels.spmm(args, 0, 11);
        kernels.spmm(args, 11, 37);
        assertClose(heap.f32(args[4], 37 * d), expected, 1e-5, 1e-6, `d=${d} binary=${binary}`);
      }
      const rowsBefore = heap.f32(args[4], 5 * d).slice();
      simd.spmm(args, 5, 5);
      assert.deepEqual(heap.f32(args[4], 5 * d), rowsBefore, 'an empty range writes nothing');
    }
  }
});
