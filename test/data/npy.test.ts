import assert from 'node:assert/strict';
import { readdirSync, readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { encodeNpy, float16ToNumber, parseNpy, readNpy, writeNpy } from '../../src/data/index.js';
import { assertDataError, leBytes, npyBytes, put, tempDir } from './helpers.js';

/** np.save(f, np.arange(6, dtype='<f4').reshape(2, 3)) with numpy 2.4: the reference for the writer. */
const NUMPY_ARANGE_2X3 =
  'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAg' +
  'ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAACAPwAAAEAAAEBAAACAQAAAoEA=';

/** binary16 bit patterns and their values, as numpy decodes them. */
const FLOAT16_CASES: [number, number][] = [
  [0x0000, 0],
  [0x8000, -0],
  [0x0001, 5.960464477539063e-8], // smallest subnormal, 2^-24
  [0x8001, -5.960464477539063e-8],
  [0x03ff, 6.097555160522461e-5], // largest subnormal
  [0x0400, 6.103515625e-5], // smallest normal, 2^-14
  [0x3555, 0.333251953125],
  [0x3c00, 1],
  [0xc000, -2],
  [0x7bff, 65504], // largest finite
  [0x7c00, Infinity],
  [0xfc00, -Infinity],
  [0x7e00, NaN],
  [0x7c01, NaN], // signalling NaN payload
];

const setU16 = (v: DataView, o: number, x: number) => v.setUint16(o, x, true);
const setF32 = (v: DataView, o: number, x: number) => v.setFloat32(o, x, true);
const setF64 = (v: DataView, o: number, x: number) => v.setFloat64(o, x, true);
const setI64 = (v: DataView, o: number, x: bigint) => v.setBigInt64(o, x, true);

describe('npy writer', () => {
  it('writes byte for byte what numpy writes', () => {
    const bytes = encodeNpy(Float32Array.from([0, 1, 2, 3, 4, 5]), [2, 3]);
    assert.deepEqual(Buffer.from(bytes), Buffer.from(NUMPY_ARANGE_2X3, 'base64'));
  });

  it('aligns the data to 64 bytes and refuses a shape that does not fit the array', () => {
    for (const shape of [[5], [1, 5], [5, 1, 1], [100000, 0, 3]]) {
      const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
      const bytes = encodeNpy(data, shape);
      assert.equal((bytes.length - data.byteLength) % 64, 0);
    }
    assert.throws(() => encodeNpy(new Int32Array(6), [4, 2]), RangeError);
  });

  it('round-trips float32 and int32 arrays of several shapes through a file', async () => {
    const dir = tempDir();
    const cases: [Float32Array | Int32Array, number[]][] = [
      [Float32Array.from([1.5, -0, Infinity, -3.25e-39, 3.4e38, NaN]), [2, 3]],
      [Int32Array.from([-2147483648, 2147483647, 0, 7]), [4]],
      [Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), [2, 2, 2]],
      [new Float32Array(0), [0, 128]],
      [Float32Array.from([42]), []],
    ];
    for (const [data, shape] of cases) {
      const path = join(dir, `a${shape.join('x')}.npy`);
      await writeNpy(path, data, shape);
      const back = await readNpy(path);
      assert.deepEqual(back.shape, shape);
      assert.equal(back.descr, data instanceof Float32Array ? '<f4' : '<i4');
      assert.deepEqual(back.data, data);
    }
  });

  it('replaces a file atomically and leaves no temp file, also when the rename fails', async () => {
    const dir = tempDir();
    const path = join(dir, 'x.npy');
    await writeNpy(path, Int32Array.from([1, 2]), [2]);
    await writeNpy(path, Int32Array.from([3, 4, 5]), [3]);
    assert.deepEqual((await readNpy(path, { kind: 'int' })).data, Int32Array.from([3, 4, 5]));
    const blocked = join(dir, 'blocked.npy');
    mkdirSync(blocked); // renaming a file over a directory fails
    await assert.rejects(writeNpy(blocked, Int32Array.from([1]), [1]));
    assert.deepEqual(readdirSync(dir).sort(), ['blocked.npy', 'x.npy']);
  });
});

describe('npy reader', () => {
  it('decodes float16 bit patterns exactly: zeros, subnormals, normals, infinities and NaN', () => {
    const bits = FLOAT16_CASES.map(([h]) => h);
    const arr = parseNpy(npyBytes('<f2', [bits.length], leBytes(bits, 2, setU16)), 'h.npy', { kind: 'float' });
    assert.equal(arr.descr, '<f2');
    FLOAT16_CASES.forEach(([h, want], i) => {
      assert.ok(Object.is(arr.data[i], want), `0x${h.toString(16)}: got ${arr.data[i]}, want ${want}`);
      assert.ok(Object.is(float16ToNumber(h), want));
    });
  });

  it('decodes every float16 pattern as numpy would: finite patterns are exact and monotone in their bits', () => {
    // Positive finite patterns 0x0000..0x7bff are strictly increasing and each step is one ulp of binary16.
    for (let h = 1; h <= 0x7bff; h++) {
      const [lo, hi] = [float16ToNumber(h - 1), float16ToNumber(h)];
      const exponent = Math.max((h - 1) >> 10, 1);
      assert.equal(hi - lo, 2 ** (exponent - 25), `step at 0x${h.toString(16)}`);
      assert.ok(Object.is(float16ToNumber(h | 0x8000), -hi));
    }
  });

  it('reads float64, int64, uint8 and format versions 2.0 and 3.0', () => {
    const f8 = parseNpy(npyBytes('<f8', [3], leBytes([0.5, -1e300, 1 / 3], 8, setF64)), 'f8.npy', { kind: 'float' });
    assert.deepEqual(f8.data, Float32Array.from([0.5, -Infinity, 1 / 3]));
    const i8 = parseNpy(npyBytes('<i8', [2, 2], leBytes([-2147483648n, 2147483647n, -1n, 0n], 8, setI64)), 'i8.npy', { kind: 'int' });
    assert.deepEqual(i8.data, Int32Array.from([-2147483648, 2147483647, -1, 0]));
    const u1 = parseNpy(npyBytes('|u1', [3], Uint8Array.from([0, 128, 255])), 'u1.npy');
    assert.deepEqual(u1.data, Int32Array.from([0, 128, 255]));
    for (const version of [2, 3] as const) {
      const arr = parseNpy(npyBytes('<f4', [2], leBytes([1.25, -2], 4, setF32), { version }), 'v.npy', { kind: 'float', shape: [2] });
      assert.deepEqual(arr.data, Float32Array.from([1.25, -2]));
    }
  });

  it('reads a file numpy wrote, checking dtype kind and shape', () => {
    const arr = parseNpy(Buffer.from(NUMPY_ARANGE_2X3, 'base64'), 'a.npy', { kind: 'float', shape: [null, 3] });
    assert.deepEqual(arr.shape, [2, 3]);
    assert.deepEqual(arr.data, Float32Array.from([0, 1, 2, 3, 4, 5]));
  });

  it('reads the bundled TikTok features (float16, 6710 x 128) as the raw bits say', () => {
    const path = 'data/tiktok/image_feat.npy';
    const arr = parseNpy(readFileSync(path), path, { kind: 'float', shape: [6710, 128] });
    const raw = readFileSync(path);
    const view = new DataView(raw.buffer, raw.byteOffset + 128);
    for (const i of [0, 1, 4095, 6710 * 128 - 1]) assert.equal(arr.data[i], float16ToNumber(view.getUint16(2 * i, true)));
  });
});

describe('npy reader refuses what it cannot read exactly', () => {
  const f4 = (n: number) => leBytes(Array.from({ length: n }, (_, i) => i), 4, setF32);

  it('refuses a big-endian dtype', async () => {
    const path = put(tempDir(), 'be.npy', npyBytes('>f4', [2], f4(2)));
    await assertDataError(() => readNpy(path), { file: path, field: 'descr' }, /big-endian dtype >f4 is not supported/);
  });

  it('refuses Fortran order', async () => {
    const path = put(tempDir(), 'fo.npy', npyBytes('<f4', [2, 2], f4(4), { fortranOrder: true }));
    await assertDataError(() => readNpy(path), { file: path, field: 'fortran_order' }, /Fortran-order arrays are not supported/);
  });

  it('refuses object and unknown dtypes', async () => {
    const dir = tempDir();
    const obj = put(dir, 'o.npy', npyBytes('|O', [1], new Uint8Array(8)));
    await assertDataError(() => readNpy(obj), { file: obj, field: 'descr' }, /object arrays are not supported/);
    const str = put(dir, 'u.npy', npyBytes('<U3', [1], new Uint8Array(12)));
    await assertDataError(() => readNpy(str), { file: str, field: 'descr' }, /unsupported dtype <U3 \(supported: <f2, <f4/);
  });

  it('refuses truncated data and trailing bytes', async () => {
    const dir = tempDir();
    const short = put(dir, 'short.npy', npyBytes('<f4', [2, 3], f4(5)));
    await assertDataError(() => readNpy(short), { file: short, field: 'data' }, /truncated: shape \(2, 3\) of <f4 needs 24 data bytes, the file has 20/);
    const long = put(dir, 'long.npy', npyBytes('<f4', [2], f4(3)));
    await assertDataError(() => readNpy(long), { file: long, field: 'data' }, /4 unexpected bytes after the array data/);
    const cut = put(dir, 'cut.npy', npyBytes('<f4', [2], f4(2)).subarray(0, 40));
    await assertDataError(() => readNpy(cut), { file: cut, field: 'header' }, /file ends inside the header/);
  });

  it('refuses a file that is not .npy, an unknown version and a malformed header', async () => {
    const dir = tempDir();
    const text = put(dir, 'text.npy', 'userID\titemID\n');
    await assertDataError(() => readNpy(text), { file: text, field: 'magic' }, /not a \.npy file/);
    const v4 = npyBytes('<f4', [1], f4(1));
    v4[6] = 4;
    const v4path = put(dir, 'v4.npy', v4);
    await assertDataError(() => readNpy(v4path), { file: v4path, field: 'version' }, /unsupported \.npy format version 4\.0/);
    const bad = npyBytes('<f4', [1], f4(1));
    bad.set(new TextEncoder().encode("{'descr' '<f4'"), 10);
    const badPath = put(dir, 'bad.npy', bad);
    await assertDataError(() => readNpy(badPath), { file: badPath, field: 'header' }, /malformed header at character 9: expected ':'/);
  });

  it('refuses a header without shape, with an extra key, or with a non-tuple shape', async () => {
    const header = (dict: string) => {
      const bytes = npyBytes('<f4', [1], f4(1));
      bytes.fill(0x20, 10, 127).set(new TextEncoder().encode(dict), 10);
      return bytes;
    };
    const cases: [string, string, RegExp][] = [
      ["{'descr': '<f4', 'fortran_order': False}", 'shape', /header has no 'shape'/],
      ["{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", 'header', /expected a string, True, False or a tuple/],
      ["{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': (1,)}", 'header', /unexpected key 'x'/],
      ["{'descr': '<f4', 'fortran_order': False, 'shape': (1)}", 'header', /expected a string, True, False or a tuple/],
      ["{'descr': '<f4', 'fortran_order': 'no', 'shape': (1,)}", 'fortran_order', /not True or False/],
      ["{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}", 'descr', /structured dtypes are not supported/],
    ];
    for (const [dict, field, reason] of cases) await assertDataError(() => parseNpy(header(dict), 'h.npy'), { file: 'h.npy', field }, reason);
  });

  it('refuses a shape or dtype kind other than the caller expects', async () => {
    const path = put(tempDir(), 'm.npy', npyBytes('<f4', [2, 3], f4(6)));
    await assertDataError(() => readNpy(path, { shape: [null, 4] }), { file: path, field: 'shape' }, /shape \(2, 3\) does not match the expected \(\*, 4\)/);
    await assertDataError(() => readNpy(path, { shape: [6] }), { file: path, field: 'shape' }, /shape \(2, 3\) does not match the expected \(6,\)/);
    await assertDataError(() => readNpy(path, { kind: 'int' }), { file: path, field: 'descr' }, /dtype <f4 is not an integer type \(expected one of <i4, <i8, \|u1\)/);
  });

  it('refuses int64 values outside the int32 range, naming the element', async () => {
    const path = put(tempDir(), 'big.npy', npyBytes('<i8', [2, 2], leBytes([0n, 1n, 2147483648n, 3n], 8, setI64)));
    await assertDataError(() => readNpy(path, { kind: 'int' }), { file: path, field: 'data' }, /element \[1, 0\]: 2147483648 is outside the int32 range/);
    const neg = put(tempDir(), 'neg.npy', npyBytes('<i8', [1], leBytes([-2147483649n], 8, setI64)));
    await assertDataError(() => readNpy(neg), { file: neg, field: 'data' }, /element \[0\]: -2147483649 is outside/);
  });
});
