import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configureCompute, shutdownCompute } from '../../src/compute/index.js';
import {
  intPerRow,
  intPerRowReference,
  normalRows,
  normalRowsReference,
  type NoiseCoordinates,
  uniformRows,
  uniformRowsReference,
} from '../../src/models/modules/noise.js';
import { purposeKey } from '../../src/random/index.js';
import { forEachIsa, nativeFor } from './fixtures.js';

const COORDINATES: NoiseCoordinates[] = [
  { seed: 1, purpose: 'noise', epoch: 1, step: 0 },
  { seed: 2023, purpose: 'noise', epoch: 7, step: 57 },
  { seed: 0xffffffff, purpose: 'mask', epoch: 0, step: 4_000_000_000 },
];

const args = (at: NoiseCoordinates, entityOffset: number) => [at.seed >>> 0, purposeKey(at.purpose), at.epoch, at.step, entityOffset] as const;

test('native normals are the bits of the TypeScript generator (odd and even widths, entity offsets, wrapping entities), for each ISA', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  // avx2 runs four pairs at a time on libmvec: widths 8, 9, 10 and 17 cover whole vectors and every tail
  const shapes = [[2_000, 64, 0], [301, 7, 7050], [50, 1, 2 ** 32 - 20], [400, 8, 3], [300, 9, 0], [300, 10, 0], [200, 17, 5]] as const;
  forEachIsa(native, (isa) => {
    for (const at of COORDINATES) {
      for (const [rows, dim, offset] of shapes) {
        const out = new Float32Array(rows * dim);
        native.normalRows(...args(at, offset), dim, out, 1);
        assert.deepEqual(out, normalRowsReference(at, rows, dim, offset), `${isa} ${at.seed}/${at.epoch}/${at.step}: ${rows}×${dim} from ${offset}`);
      }
    }
  });
});

test('native uniforms and integers are the bits of the TypeScript generator', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  for (const at of COORDINATES) {
    const u = new Float32Array(5_000 * 3);
    native.uniformRows(...args(at, 11), 3, u, 1);
    assert.deepEqual(u, uniformRowsReference(at, 5_000, 3, 11));
    for (const n of [1, 20, 1000]) {
      const k = new Int32Array(4_000);
      native.intPerRow(...args(at, 3), n, k, 1);
      assert.deepEqual(k, intPerRowReference(at, 4_000, n, 3), `n = ${n}`);
    }
  }
});

test('native noise gives the same bits on any number of threads', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const at = COORDINATES[1];
  const one = new Float32Array(3_000 * 64);
  native.normalRows(...args(at, 5), 64, one, 1);
  const ints = new Int32Array(3_000);
  native.intPerRow(...args(at, 5), 20, ints, 1);
  for (const threads of [2, 3, 16]) {
    const out = new Float32Array(one.length);
    native.normalRows(...args(at, 5), 64, out, threads);
    assert.deepEqual(out, one, `${threads} threads`);
    const k = new Int32Array(ints.length);
    native.intPerRow(...args(at, 5), 20, k, threads);
    assert.deepEqual(k, ints, `${threads} threads`);
  }
});

test('normalRows, uniformRows and intPerRow take the addon and equal their references', async (t) => {
  if (!nativeFor(t)) return;
  await configureCompute({ threads: 2, native: true });
  try {
    const at = COORDINATES[0];
    assert.deepEqual(normalRows(at, 1_000, 64, 7050), normalRowsReference(at, 1_000, 64, 7050));
    assert.deepEqual(uniformRows(at, 1_000, 2), uniformRowsReference(at, 1_000, 2));
    assert.deepEqual(intPerRow(at, 1_000, 20), intPerRowReference(at, 1_000, 20));
  } finally {
    await shutdownCompute();
  }
});

test('native noise refuses bad coordinates and partial rows', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  assert.throws(() => native.normalRows(-1, 0, 0, 0, 0, 4, new Float32Array(8), 1), RangeError);
  assert.throws(() => native.normalRows(0, 0, 0, 0, 2 ** 32, 4, new Float32Array(8), 1), RangeError);
  assert.throws(() => native.normalRows(0, 0, 0, 0, 0, 3, new Float32Array(8), 1), RangeError);
  assert.throws(() => native.uniformRows(0, 0, 0, 0, 0, 0, new Float32Array(8), 1), RangeError);
  assert.throws(() => native.intPerRow(0, 0, 0, 0, 0, 5, new Float32Array(8) as unknown as Int32Array, 1), TypeError);
});
