import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CounterRng, philox4x32, RandomStream } from '../../src/random/index.js';
import { mulhi32 } from '../../src/random/philox.js';

const hex = (a: Uint32Array) => Array.from(a, (x) => x.toString(16).padStart(8, '0')).join(' ');

test('philox4x32-10 matches the Random123 known-answer vectors', () => {
  const out = new Uint32Array(4);
  philox4x32(0, 0, 0, 0, 0, 0, out);
  assert.equal(hex(out), '6627e8d5 e169c58d bc57ac4c 9b00dbd8');
  philox4x32(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, out);
  assert.equal(hex(out), '408f276d 41c83b0e a20bc7c6 6d5451fd');
  philox4x32(0xa4093822, 0x299f31d0, 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, out);
  assert.equal(hex(out), 'd16cfe09 94fdcceb 5001e420 24126ea1');
});

test('mulhi32 equals the BigInt product', () => {
  const s = new RandomStream(7, 'noise', 0, 0, 0);
  for (let i = 0; i < 2000; i++) {
    const a = s.nextUint32();
    const b = s.nextUint32();
    assert.equal(mulhi32(a, b), Number((BigInt(a) * BigInt(b)) >> 32n));
  }
});

test('a draw depends only on its coordinates, not on the order streams are made', () => {
  const rng = new CounterRng(42);
  const a = rng.stream('negative', 3, 5, 1000);
  const firstA = [a.nextUint32(), a.nextUint32(), a.nextUint32(), a.nextUint32(), a.nextUint32()];
  const other = rng.stream('negative', 3, 5, 999);
  other.nextUint32();
  const b = new CounterRng(42).stream('negative', 3, 5, 1000);
  const firstB = [b.nextUint32(), b.nextUint32(), b.nextUint32(), b.nextUint32(), b.nextUint32()];
  assert.deepEqual(firstA, firstB);
  const c = rng.stream('shuffle', 3, 5, 1000);
  assert.notDeepEqual(firstA, [c.nextUint32(), c.nextUint32(), c.nextUint32(), c.nextUint32(), c.nextUint32()]);
});

test('nextInt is uniform (chi-square) and in range', () => {
  const s = new CounterRng(1).stream('noise');
  const n = 7;
  const counts = new Array(n).fill(0);
  const draws = 70000;
  for (let i = 0; i < draws; i++) {
    const v = s.nextInt(n);
    assert.ok(v >= 0 && v < n && Number.isInteger(v));
    counts[v]++;
  }
  const e = draws / n;
  const chi2 = counts.reduce((acc, c) => acc + ((c - e) * (c - e)) / e, 0);
  assert.ok(chi2 < 22.46, `chi2 ${chi2} over 6 dof exceeds the 0.999 quantile`);
});

test('nextFloat has mean 1/2 and nextNormal mean 0, variance 1', () => {
  const s = new CounterRng(9).stream('noise');
  let sum = 0;
  let sumN = 0;
  let sumN2 = 0;
  const n = 100000;
  for (let i = 0; i < n; i++) {
    const u = s.nextFloat();
    assert.ok(u >= 0 && u < 1);
    sum += u;
    const z = s.nextNormal();
    sumN += z;
    sumN2 += z * z;
  }
  assert.ok(Math.abs(sum / n - 0.5) < 0.005);
  assert.ok(Math.abs(sumN / n) < 0.015);
  assert.ok(Math.abs(sumN2 / n - 1) < 0.02);
});

test('permutation is a permutation and depends on the epoch', () => {
  const rng = new CounterRng(3);
  const p = rng.permutation(1000, 'shuffle', 1);
  assert.deepEqual(Array.from(p).sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i));
  assert.notDeepEqual(p, rng.permutation(1000, 'shuffle', 2));
  assert.deepEqual(p, new CounterRng(3).permutation(1000, 'shuffle', 1));
});
