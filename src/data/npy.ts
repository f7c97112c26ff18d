/**
 * NumPy's .npy format (numpy.lib.format, versions 1.0, 2.0 and 3.0):
 *
 *   "\x93NUMPY" | major | minor | header length (uint16 LE in 1.0, uint32 LE in 2.0/3.0) | header | data
 *
 * The header is a Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (6710, 128), }`,
 * padded with spaces and ended by '\n' (latin-1 in 1.0/2.0, UTF-8 in 3.0). The data is the array's raw bytes.
 * Only little-endian numeric dtypes in C order are read; anything else is refused, never guessed at.
 */
import { readFile } from 'node:fs/promises';
import { DataError } from '../errors/index.js';
import { writeFileAtomic } from './atomic.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
const PREAMBLE_V1 = 10; // magic 6 + version 2 + uint16 length
const PREAMBLE_V2 = 12; // magic 6 + version 2 + uint32 length
const HEADER_ALIGN = 64; // numpy pads the preamble + header to a multiple of 64 bytes
const HEADER_KEYS = ['descr', 'fortran_order', 'shape'] as const;

/** Floating dtypes decode to Float32Array, integer dtypes to Int32Array. */
export type NpyKind = 'float' | 'int';
export type NpyDescr = '<f2' | '<f4' | '<f8' | '<i4' | '<i8' | '|u1';

export interface NpyHeader {
  readonly descr: string;
  readonly fortranOrder: boolean;
  readonly shape: readonly number[];
}

export interface NpyArray<T extends Float32Array | Int32Array = Float32Array | Int32Array> {
  /** The dtype as stored in the file (a `<f2` array is returned as float32, an `<i8` one as int32). */
  readonly descr: NpyDescr;
  readonly shape: readonly number[];
  readonly data: T; // row-major
}

/** What the caller requires; `null` in `shape` accepts any length along that axis. */
export interface NpyExpect {
  readonly kind?: NpyKind;
  readonly shape?: readonly (number | null)[];
}

type DataFor<E> = E extends { kind: 'float' } ? Float32Array : E extends { kind: 'int' } ? Int32Array : Float32Array | Int32Array;

type Fail = (field: string, reason: string) => never;

interface Dtype {
  readonly kind: NpyKind;
  readonly itemSize: number;
  /** Decodes n elements from `view`; `bad(i, reason)` reports element i as unrepresentable. */
  decode(view: DataView, n: number, bad: (i: number, reason: string) => never): Float32Array | Int32Array;
}

const DTYPES: Record<NpyDescr, Dtype> = {
  '<f2': { kind: 'float', itemSize: 2, decode: decodeFloat16 },
  '<f4': {
    kind: 'float',
    itemSize: 4,
    decode(view, n) {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
      return out;
    },
  },
  // float64 is narrowed to float32, as features are used; values beyond its range become ±Infinity.
  '<f8': {
    kind: 'float',
    itemSize: 8,
    decode(view, n) {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true);
      return out;
    },
  },
  '<i4': {
    kind: 'int',
    itemSize: 4,
    decode(view, n) {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getInt32(4 * i, true);
      return out;
    },
  },
  '<i8': { kind: 'int', itemSize: 8, decode: decodeInt64 },
  '|u1': {
    kind: 'int',
    itemSize: 1,
    decode(view, n) {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getUint8(i);
      return out;
    },
  },
};

/** Reads and checks one .npy file (see parseNpy). */
export async function readNpy<E extends NpyExpect>(path: string, expect?: E): Promise<NpyArray<DataFor<E>>> {
  return parseNpy(await readFile(path), path, expect);
}

/** Parses the bytes of a .npy file; `file` names it in errors. Throws DataError for anything it cannot read exactly. */
export function parseNpy<E extends NpyExpect>(bytes: Uint8Array, file: string, expect?: E): NpyArray<DataFor<E>> {
  const fail: Fail = (field, reason) => {
    throw new DataError({ file, field }, reason);
  };
  const { header, dataStart } = readHeader(bytes, fail);
  const descr = checkDescr(header.descr, fail);
  if (header.fortranOrder) {
    fail('fortran_order', 'Fortran-order arrays are not supported; save a C-order copy (np.ascontiguousarray)');
  }
  const dtype = DTYPES[descr];
  if (expect?.kind !== undefined && dtype.kind !== expect.kind) {
    fail('descr', `dtype ${descr} is not ${kindName(expect.kind)} (expected one of ${descrsOfKind(expect.kind)})`);
  }
  if (expect?.shape !== undefined) checkShape(header.shape, expect.shape, fail);

  const count = checkDataLength(header.shape, dtype.itemSize, bytes.length - dataStart, descr, fail);
  const view = new DataView(bytes.buffer, bytes.byteOffset + dataStart, count * dtype.itemSize);
  const data = dtype.decode(view, count, (i, reason) => fail('data', `element ${formatIndex(i, header.shape)}: ${reason}`));
  return { descr, shape: header.shape, data: data as DataFor<E> };
}

/** The .npy bytes of a float32 or int32 array in C order (format 1.0, or 2.0 when the header needs it). */
export function encodeNpy(data: Float32Array | Int32Array, shape: readonly number[]): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new RangeError(`shape ${formatShape(shape)} holds ${count} elements, the array has ${data.length}`);
  }
  const isFloat = data instanceof Float32Array;
  const head = encodeNpyHeader({ descr: isFloat ? '<f4' : '<i4', fortranOrder: false, shape });
  const out = new Uint8Array(head.length + 4 * count);
  out.set(head);
  const view = new DataView(out.buffer, head.length);
  for (let i = 0; i < count; i++) {
    if (isFloat) view.setFloat32(4 * i, data[i], true);
    else view.setInt32(4 * i, data[i], true);
  }
  return out;
}

/** Writes a float32 or int32 array as .npy, atomically (temp file, fsync, rename). */
export async function writeNpy(path: string, data: Float32Array | Int32Array, shape: readonly number[]): Promise<void> {
  writeFileAtomic(path, [encodeNpy(data, shape)]);
}

/**
 * The preamble and padded header of a .npy file, as numpy writes them. The version defaults to the smallest
 * that can hold the header; any version may be forced (tests use this to write files numpy could have written).
 */
export function encodeNpyHeader(header: NpyHeader, version?: 1 | 2 | 3): Uint8Array {
  const dict =
    `{'descr': '${header.descr}', 'fortran_order': ${header.fortranOrder ? 'True' : 'False'}, ` +
    `'shape': ${formatShape(header.shape)}, }`;
  const text = new TextEncoder().encode(dict);
  const padded = (preamble: number) => Math.ceil((preamble + text.length + 1) / HEADER_ALIGN) * HEADER_ALIGN - preamble;
  const v = version ?? (padded(PREAMBLE_V1) <= 0xffff ? 1 : 2);
  const preamble = v === 1 ? PREAMBLE_V1 : PREAMBLE_V2;
  const len = padded(preamble);
  const out = new Uint8Array(preamble + len).fill(0x20);
  out.set(MAGIC);
  out[6] = v;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (v === 1) view.setUint16(8, len, true);
  else view.setUint32(8, len, true);
  out.set(text, preamble);
  out[out.length - 1] = 0x0a;
  return out;
}

function readHeader(bytes: Uint8Array, fail: Fail): { header: NpyHeader; dataStart: number } {
  if (bytes.length < PREAMBLE_V1 || MAGIC.some((b, i) => bytes[i] !== b)) {
    fail('magic', 'not a .npy file (it does not start with "\\x93NUMPY")');
  }
  const [major, minor] = [bytes[6], bytes[7]];
  if (major < 1 || major > 3 || minor !== 0) fail('version', `unsupported .npy format version ${major}.${minor}`);
  const preamble = major === 1 ? PREAMBLE_V1 : PREAMBLE_V2;
  if (bytes.length < preamble) fail('header', 'file ends inside the preamble');
  const view = new DataView(bytes.buffer, bytes.byteOffset, preamble);
  const len = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = preamble + len;
  if (dataStart > bytes.length) fail('header', `file ends inside the header (${len} bytes announced)`);
  const raw = bytes.subarray(preamble, dataStart);
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(raw);
  return { header: parseHeaderDict(text, fail), dataStart };
}

function checkDescr(descr: string, fail: Fail): NpyDescr {
  if (Object.hasOwn(DTYPES, descr)) return descr as NpyDescr;
  if (descr.startsWith('>')) fail('descr', `big-endian dtype ${descr} is not supported; save it little-endian (astype('<${descr.slice(1)}'))`);
  if (descr.replace(/^[|<=]/, '').startsWith('O')) fail('descr', 'object arrays are not supported');
  return fail('descr', `unsupported dtype ${descr} (supported: ${Object.keys(DTYPES).join(', ')})`);
}

function checkShape(shape: readonly number[], want: readonly (number | null)[], fail: Fail): void {
  const ok = shape.length === want.length && want.every((w, i) => w === null || w === shape[i]);
  if (!ok) {
    const expected = want.map((w) => (w === null ? '*' : String(w)));
    fail('shape', `shape ${formatShape(shape)} does not match the expected ${formatShape(expected)}`);
  }
}

/** The element count; the data must hold exactly count × itemSize bytes. */
function checkDataLength(shape: readonly number[], itemSize: number, available: number, descr: string, fail: Fail): number {
  let count = 1;
  for (const d of shape) count *= d;
  const needed = count * itemSize;
  if (needed > available) {
    fail('data', `truncated: shape ${formatShape(shape)} of ${descr} needs ${needed} data bytes, the file has ${available}`);
  }
  if (needed < available) fail('data', `${available - needed} unexpected bytes after the array data`);
  return count;
}

/** Every element of a row-major [rows, cols] matrix is finite; else a DataError naming the file, row and column. */
export function requireFinite(data: Float32Array, cols: number, file: string): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) throw new DataError({ file, field: cellField(i, cols) }, `${data[i]} is not finite`);
  }
}

/** "row r, column c" of flat element i of a row-major matrix with `cols` columns. */
export function cellField(i: number, cols: number): string {
  return `row ${Math.floor(i / cols)}, column ${i % cols}`;
}

// ---- header dict: the subset of Python literal syntax numpy writes ----

type PyValue = string | boolean | number[];

interface Cursor {
  readonly text: string;
  pos: number;
}

function parseHeaderDict(text: string, fail: Fail): NpyHeader {
  const c: Cursor = { text, pos: 0 };
  const syntax = (what: string): never => fail('header', `malformed header at character ${c.pos}: expected ${what} in ${JSON.stringify(text.trim())}`);
  const entries = new Map<string, PyValue>();
  skipSpace(c);
  if (!eat(c, '{')) syntax("'{'");
  for (skipSpace(c); !eat(c, '}'); skipSpace(c)) {
    const key = parseString(c) ?? syntax('a quoted key');
    skipSpace(c);
    if (!eat(c, ':')) syntax("':'");
    skipSpace(c);
    if (entries.has(key)) fail('header', `key '${key}' appears twice`);
    entries.set(key, parseValue(c, fail) ?? syntax('a string, True, False or a tuple of integers'));
    skipSpace(c);
    if (!eat(c, ',') && text[c.pos] !== '}') syntax("',' or '}'");
  }
  if (text.slice(c.pos).trim() !== '') syntax('the end of the header');

  for (const key of entries.keys()) {
    if (!(HEADER_KEYS as readonly string[]).includes(key)) fail('header', `unexpected key '${key}'`);
  }
  const get = (key: (typeof HEADER_KEYS)[number]) => entries.get(key) ?? fail(key, `header has no '${key}'`);
  const descr = get('descr');
  const fortranOrder = get('fortran_order');
  const shape = get('shape');
  if (typeof descr !== 'string') fail('descr', 'descr is not a string');
  if (typeof fortranOrder !== 'boolean') fail('fortran_order', 'fortran_order is not True or False');
  if (!Array.isArray(shape)) fail('shape', 'shape is not a tuple of integers');
  return { descr, fortranOrder, shape };
}

function parseValue(c: Cursor, fail: Fail): PyValue | undefined {
  const s = parseString(c);
  if (s !== undefined) return s;
  if (eat(c, 'True')) return true;
  if (eat(c, 'False')) return false;
  if (c.text[c.pos] === '[') fail('descr', 'structured dtypes are not supported');
  return parseIntTuple(c);
}

function parseString(c: Cursor): string | undefined {
  const quote = c.text[c.pos];
  if (quote !== "'" && quote !== '"') return undefined;
  const end = c.text.indexOf(quote, c.pos + 1);
  if (end < 0 || c.text.slice(c.pos + 1, end).includes('\\')) return undefined;
  const s = c.text.slice(c.pos + 1, end);
  c.pos = end + 1;
  return s;
}

function parseIntTuple(c: Cursor): number[] | undefined {
  if (!eat(c, '(')) return undefined;
  const dims: number[] = [];
  for (skipSpace(c); !eat(c, ')'); skipSpace(c)) {
    const m = /^\d+/.exec(c.text.slice(c.pos));
    if (m === null) return undefined;
    const d = Number(m[0]);
    if (!Number.isSafeInteger(d)) return undefined;
    dims.push(d);
    c.pos += m[0].length;
    skipSpace(c);
    // A 1-tuple needs its trailing comma: "(5,)"; "(5)" is just an integer.
    if (!eat(c, ',') && (c.text[c.pos] !== ')' || dims.length === 1)) return undefined;
  }
  return dims;
}

function skipSpace(c: Cursor): void {
  while (c.pos < c.text.length && /\s/.test(c.text[c.pos])) c.pos++;
}

function eat(c: Cursor, token: string): boolean {
  if (!c.text.startsWith(token, c.pos)) return false;
  c.pos += token.length;
  return true;
}

// ---- decoders ----

/** IEEE 754 binary16 → number, for all 2^16 bit patterns (subnormals, ±0, ±Inf and NaN included). */
export function float16ToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24; // zero or subnormal: 0.m × 2^-14
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mantissa) * 2 ** (exponent - 25); // 1.m × 2^(e-15)
}

let halfTable: Float32Array | undefined;

function decodeFloat16(view: DataView, n: number): Float32Array {
  if (halfTable === undefined) {
    halfTable = new Float32Array(0x10000);
    for (let h = 0; h < 0x10000; h++) halfTable[h] = float16ToNumber(h);
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = halfTable[view.getUint16(2 * i, true)];
  return out;
}

/** int64 → int32; a value is in range exactly when its high word is the sign extension of its low word. */
function decodeInt64(view: DataView, n: number, bad: (i: number, reason: string) => never): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const lo = view.getInt32(8 * i, true);
    if (view.getInt32(8 * i + 4, true) !== lo >> 31) {
      bad(i, `${view.getBigInt64(8 * i, true)} is outside the int32 range`);
    }
    out[i] = lo;
  }
  return out;
}

// ---- formatting ----

function kindName(kind: NpyKind): string {
  return kind === 'float' ? 'a floating-point type' : 'an integer type';
}

function descrsOfKind(kind: NpyKind): string {
  return (Object.keys(DTYPES) as NpyDescr[]).filter((d) => DTYPES[d].kind === kind).join(', ');
}

/** Python's tuple notation: (), (5,), (5, 3). */
function formatShape(shape: readonly (number | string)[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

/** A flat C-order index as [i, j, ...]. */
function formatIndex(flat: number, shape: readonly number[]): string {
  const idx: number[] = [];
  for (let a = shape.length - 1; a >= 0; a--) {
    idx.unshift(flat % shape[a]);
    flat = Math.floor(flat / shape[a]);
  }
  return `[${idx.join(', ')}]`;
}
