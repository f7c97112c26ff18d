import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachIsa, nativeFor } from './fixtures.js';

/** A dense grid over [-12, 12], tiny values around the 4e-4 switch, the clamp at ±7.905, ±0, ±∞. */
function inputs(): Float32Array {
  const grid = Array.from({ length: 240_001 }, (_, i) => -12 + i / 10_000);
  const special = [0, -0, 1e-30, -1e-30, 1e-8, 3.99e-4, 4.01e-4, -4.01e-4, 7.9053, 7.9054, -7.9054, 9, 50, Infinity, -Infinity];
  return Float32Array.from([...grid, ...special]);
}

test('tanh is within 4e-7 relative (about 7 float32 ulp) of Math.tanh, odd, and keeps NaN, for each instruction set', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const x = inputs();
  forEachIsa(native, (isa) => {
    const out = new Float32Array(x.length);
    native.tanh(x, out, 1);
    for (let i = 0; i < x.length; i++) {
      const ref = Math.tanh(x[i]);
      assert.ok(Math.abs(out[i] - ref) <= 4e-7 * Math.abs(ref), `${isa}: tanh(${x[i]}) = ${out[i]}, expected ${ref}`);
    }
    const neg = new Float32Array(x.length);
    native.tanh(x.map((v) => -v), neg, 1);
    neg.forEach((v, i) => assert.equal(v, -out[i], `${isa}: odd at ${x[i]}`));
    const nan = new Float32Array(3);
    native.tanh(Float32Array.of(Number.NaN, 1, Number.NaN), nan, 1);
    assert.ok(Number.isNaN(nan[0]) && Number.isNaN(nan[2]) && Math.abs(nan[1] - Math.tanh(1)) < 5e-7, `${isa}: NaN`);
  });
});

test('tanh gives the same bits on any number of threads and in place', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const x = inputs();
  const one = new Float32Array(x.length);
  native.tanh(x, one, 1);
  for (const threads of [2, 3, 16]) {
    const out = new Float32Array(x.length);
    native.tanh(x, out, threads);
    assert.deepEqual(out, one, `${threads} threads`);
  }
  const inPlace = Float32Array.from(x);
  native.tanh(inPlace, inPlace, 2);
  assert.deepEqual(inPlace, one);
});

test('tanh refuses mismatched or partly overlapping arrays', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const x = new Float32Array(8);
  assert.throws(() => native.tanh(x, new Float32Array(7), 1), RangeError);
  assert.throws(() => native.tanh(x.subarray(0, 4), x.subarray(2, 6), 1), RangeError);
  assert.throws(() => native.tanh(x, new Float32Array(8), 0), RangeError);
  assert.throws(() => native.tanh([1, 2] as unknown as Float32Array, new Float32Array(2), 1), TypeError);
});
