/**
 * The 16-bit wire encodings (src/paramserver/encoding.ts) against their definitions: every 16-bit value widens to
 * the float32 it denotes and narrows back to itself; between two neighbouring 16-bit values the float32 midpoint
 * rounds to the even one and the float32 values on either side of it to the nearer one (this covers every
 * rounding boundary: normals, binary16 subnormals and the step to infinity); NaN, ±0 and ±∞ are kept. Rows with
 * and without a row list; the native addon gives the same bits as the TypeScript reference.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors/index.js';
import { bf16FromBits, f16FromBits, narrowRows, narrowRowsReference, parseWire, widenRows, widenRowsReference, type NarrowEncoding } from '../../src/paramserver/encoding.js';
import { RandomStream } from '../../src/random/index.js';
import { nativeFor } from '../native/fixtures.js';

const ENCODINGS: readonly NarrowEncoding[] = ['bf16', 'f16'];
const narrowBits = { bf16: bf16FromBits, f16: f16FromBits };

/** The float32 bits of x. */
function bitsOf(x: number): number {
  return new Uint32Array(Float32Array.of(x).buffer)[0];
}

function floatOf(bits: number): number {
  return new Float32Array(Uint32Array.of(bits).buffer)[0];
}

/** Every 16-bit pattern widened (reference). */
function widenAll(e: NarrowEncoding): Float32Array {
  const out = new Float32Array(65536);
  widenRowsReference(out, Uint16Array.from({ length: 65536 }, (_, h) => h), 1, null, e);
  return out;
}

/** The value a 16-bit pattern denotes, from the format's definition. */
function denoted(h: number, e: NarrowEncoding): number {
  const sign = h & 0x8000 ? -1 : 1;
  if (e === 'bf16') return floatOf(h * 65536);
  const exp = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (exp === 0) return sign * m * 2 ** -24;
  if (exp === 31) return m ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + m / 1024);
}

for (const e of ENCODINGS) {
  test(`${e}: every 16-bit value widens to the number it denotes and narrows back to itself`, () => {
    const wide = widenAll(e);
    for (let h = 0; h < 65536; h++) {
      const want = denoted(h, e);
      if (Number.isNaN(want)) {
        assert.ok(Number.isNaN(wide[h]), `${h.toString(16)} is NaN`);
        assert.ok(Number.isNaN(denoted(narrowBits[e](bitsOf(wide[h])), e)), `NaN ${h.toString(16)} narrows to a NaN`);
        continue;
      }
      assert.ok(Object.is(wide[h], want), `${h.toString(16)}: ${wide[h]} vs ${want}`);
      assert.equal(narrowBits[e](bitsOf(wide[h])), h, `${h.toString(16)} round trip`);
    }
  });

  test(`${e}: rounds to nearest, ties to even, at every boundary between two 16-bit values (and to infinity)`, () => {
    const wide = widenAll(e);
    const top = e === 'bf16' ? 0x7f80 : 0x7c00; // +∞
    for (let h = 0; h < top; h++) {
      // The float32 halfway between h and the next 16-bit value up (2^128 above bfloat16's largest, 65536 above
      // binary16's): bfloat16 drops 16 bits of a float32, binary16 has at most 11 significant bits.
      const lo = bitsOf(wide[h]);
      const mid = e === 'bf16' ? lo + 0x8000 : bitsOf((wide[h] + (h + 1 === top ? 65536 : wide[h + 1])) / 2);
      if (e === 'f16') assert.equal(floatOf(mid), (wide[h] + (h + 1 === top ? 65536 : wide[h + 1])) / 2, 'midpoint exact');
      const even = h % 2 === 0 ? h : h + 1;
      for (const sign of [0, 0x80000000]) {
        const s16 = sign ? 0x8000 : 0;
        assert.equal(narrowBits[e]((mid | sign) >>> 0), even | s16, `midpoint above ${h.toString(16)}`);
        assert.equal(narrowBits[e](((mid - 1) | sign) >>> 0), h | s16, `below the midpoint above ${h.toString(16)}`);
        assert.equal(narrowBits[e](((mid + 1) | sign) >>> 0), (h + 1) | s16, `above the midpoint above ${h.toString(16)}`);
      }
    }
  });

  test(`${e}: ±0, ±∞, NaN and float32 extremes`, () => {
    const inf = e === 'bf16' ? 0x7f80 : 0x7c00;
    assert.equal(narrowBits[e](bitsOf(0)), 0);
    assert.equal(narrowBits[e](bitsOf(-0)), 0x8000);
    assert.equal(narrowBits[e](bitsOf(Infinity)), inf);
    assert.equal(narrowBits[e](bitsOf(-Infinity)), inf | 0x8000);
    assert.equal(narrowBits[e](0x7f7fffff), inf, 'the largest float32 rounds up to infinity');
    for (const nan of [0x7fc00000, 0x7f800001, 0xffffffff, 0x7fa00000]) assert.ok((narrowBits[e](nan) & 0x7fff) > inf, `NaN ${nan.toString(16)} stays NaN`);
    assert.equal(narrowBits[e](1), 0, 'the least float32 subnormal: zero');
  });

  test(`${e}: gradient-sized values keep their relative precision where the format has range`, () => {
    // bfloat16 keeps 8 significant bits down to 1e-38; binary16 11 bits down to 2^-14 ≈ 6.1e-5, fewer below.
    const rel = e === 'bf16' ? 2 ** -8 : 2 ** -11; // the unit roundoff of 8 and 11 significant bits
    const wide = widenAll(e);
    for (const x of [0.1, 3.7e-3, -2.2e-5, 1e-8, 7e-12, 4e-20]) {
      const back = wide[narrowBits[e](bitsOf(x))];
      const inRange = e === 'bf16' || Math.abs(x) >= 2 ** -14;
      if (inRange) assert.ok(Math.abs(back - x) <= rel * Math.abs(x), `${x} → ${back}`);
      else assert.ok(Math.abs(back - x) <= 2 ** -25, `${x} → ${back}: absolute error at most half a subnormal`);
    }
  });

  test(`${e}: rows are narrowed from a row list and widened into one, as row-by-row copies`, () => {
    const dim = 5;
    const s = new RandomStream(3, 'noise', 0, 0, 0);
    const src = Float32Array.from({ length: 40 * dim }, () => s.nextNormal() * 10 ** (s.nextInt(9) - 6));
    const rows = Int32Array.from([7, 3, 3, 39, 0, 12]);
    const narrow = new Uint16Array(rows.length * dim);
    narrowRowsReference(narrow, src, dim, rows, e);
    rows.forEach((r, k) => {
      for (let j = 0; j < dim; j++) assert.equal(narrow[k * dim + j], narrowBits[e](bitsOf(src[r * dim + j])));
    });
    const dest = Int32Array.from([5, 1, 9, 0, 2, 30]);
    const out = new Float32Array(40 * dim).fill(-1);
    widenRowsReference(out, narrow, dim, dest, e);
    const wide = widenAll(e);
    dest.forEach((d, k) => {
      for (let j = 0; j < dim; j++) assert.equal(out[d * dim + j], wide[narrow[k * dim + j]]);
    });
    assert.equal(out[3 * dim], -1, 'rows not listed are left alone');
  });

  test(`${e}: the native addon gives the reference's bits, with and without row lists`, (t) => {
    const native = nativeFor(t);
    if (!native) return;
    const s = new RandomStream(5, 'noise', 0, 0, 1);
    const dim = 37; // not a multiple of a vector width
    const n = 3000;
    const bits = Uint32Array.from({ length: n * dim }, (_, k) => (k % 3 === 0 ? s.nextUint32() : bitsOf(s.nextNormal() * 10 ** (s.nextInt(12) - 9))));
    const src = new Float32Array(bits.buffer);
    const rows = Int32Array.from({ length: 1000 }, () => s.nextInt(n));
    for (const r of [null, rows]) {
      const m = r ? r.length : n;
      const [ref, nat] = [new Uint16Array(m * dim), new Uint16Array(m * dim)];
      narrowRowsReference(ref, src, dim, r, e);
      narrowRows(nat, src, dim, r, e, native);
      assert.deepEqual(nat, ref, `narrow, ${r ? 'row list' : 'all rows'}`);
      const [wRef, wNat] = [new Float32Array(n * dim).fill(3), new Float32Array(n * dim).fill(3)];
      const dest = r ? Int32Array.from({ length: m }, (_, k) => (k * 7) % n) : null;
      widenRowsReference(wRef, ref, dim, dest, e);
      widenRows(wNat, ref, dim, dest, e, native);
      assert.deepEqual(new Uint32Array(wNat.buffer), new Uint32Array(wRef.buffer), `widen, ${r ? 'row list' : 'all rows'}`);
    }
    const all = Uint16Array.from({ length: 65536 }, (_, h) => h);
    const [a, b] = [new Float32Array(65536), new Float32Array(65536)];
    widenRowsReference(a, all, 1, null, e);
    widenRows(b, all, 1, null, e, native);
    assert.deepEqual(new Uint32Array(b.buffer), new Uint32Array(a.buffer), 'every 16-bit pattern');
  });
}

test('the native conversions refuse bad arguments', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const src = new Float32Array(8);
  const out = new Uint16Array(8);
  assert.throws(() => native.narrowRows(src, 4, Int32Array.of(0, 2), out.subarray(0, 8), 1), RangeError, 'a row past the end');
  assert.throws(() => native.narrowRows(src, 4, Int32Array.of(0), out, 1), RangeError, 'a row list of the wrong length');
  assert.throws(() => native.narrowRows(src, 3, null, out, 1), RangeError, 'not whole rows');
  assert.throws(() => native.narrowRows(src, 4, null, out, 3 as never), RangeError, 'an unknown kind');
  assert.throws(() => native.widenRows(src as never, 4, null, new Float32Array(8), 1), TypeError, 'src must be a Uint16Array');
  assert.throws(() => native.widenRows(out, 4, Int32Array.of(-1, 0), new Float32Array(8), 2), RangeError, 'a negative row');
});

test('parseWire: a --wire flag or a JobSpec field; empty (a coordinator that predates it) is f32', () => {
  assert.equal(parseWire('', 'JobSpec.wire'), 'f32');
  assert.equal(parseWire(undefined, 'flag --wire'), 'f32');
  assert.equal(parseWire('bf16', 'flag --wire'), 'bf16');
  assert.throws(() => parseWire('f8', 'flag --wire'), (e: Error) => e instanceof ConfigError && /flag --wire: 'f8' is not a wire encoding \(f32, bf16, f16\)/.test(e.message));
});
