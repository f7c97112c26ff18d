/**
 * Row values on the wire (docs/paramserver.md "Reduced-precision wire"): float32 as the tables hold them, or a
 * 16-bit form that halves the bytes moved — bfloat16 (float32's sign and exponent, 7 mantissa bits) or IEEE
 * binary16 (5 exponent bits, 10 mantissa bits). A sender narrows float32 rows as it writes them into a message,
 * rounding to nearest, ties to even; a receiver widens them back to float32, exactly. Shards keep float32 tables
 * and optimizer state whatever travels, so rounding does not accumulate across steps (the workers compute at
 * rounded parameters, the shards apply rounded gradients to float32 state).
 *
 * binary16: values whose magnitude is below 2^-14 become subnormals (multiples of 2^-24, rounded to nearest
 * even), below 2^-25 zero; from 65520 on infinity. bfloat16 has float32's range: only NaN needs care (kept NaN,
 * quiet). The native addon runs the same conversions (native/wire.cc, the same bits); these loops are the
 * reference and the fallback.
 */
import type { NativeKernels } from '../compute/index.js';
import { nativeKernels } from '../compute/index.js';
import { ConfigError } from '../errors/index.js';
import { gatherRowsInto, scatterRowsInto } from './wire.js';

/** How a row value travels: float32 (the default, the tables' own bits), bfloat16 or binary16. */
export type WireEncoding = 'f32' | 'bf16' | 'f16';

/** A 16-bit encoding. */
export type NarrowEncoding = Exclude<WireEncoding, 'f32'>;

export const WIRE_ENCODINGS: readonly WireEncoding[] = ['f32', 'bf16', 'f16'];

export function isWireEncoding(v: unknown): v is WireEncoding {
  return typeof v === 'string' && (WIRE_ENCODINGS as readonly string[]).includes(v);
}

/** A --wire flag or a JobSpec's `wire` (empty from a coordinator that predates the field: f32). */
export function parseWire(v: string | undefined, where: string): WireEncoding {
  const e = v || 'f32';
  if (isWireEncoding(e)) return e;
  throw new ConfigError(`${where}: '${v}' is not a wire encoding (${WIRE_ENCODINGS.join(', ')})`);
}

/** Bytes one value takes on the wire. */
export function bytesPerValue(e: WireEncoding): 2 | 4 {
  return e === 'f32' ? 4 : 2;
}

/** The native addon's code for an encoding. */
const NATIVE_KIND: Record<NarrowEncoding, 1 | 2> = { bf16: 1, f16: 2 };

/** float32 bits → bfloat16 bits, round to nearest even; NaN stays NaN (quiet). */
export function bf16FromBits(x: number): number {
  if ((x & 0x7fffffff) > 0x7f800000) return (x >>> 16) | 0x40;
  return ((x >>> 0) + 0x7fff + ((x >>> 16) & 1)) >>> 16;
}

/** float32 bits → binary16 bits, round to nearest even, with subnormals; ≥ 65520 in magnitude → ±∞, NaN → quiet NaN. */
export function f16FromBits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const a = x & 0x7fffffff;
  if (a >= 0x477ff000) return sign | (a > 0x7f800000 ? 0x7e00 : 0x7c00);
  if (a >= 0x38800000) {
    // A normal binary16: rebias the exponent by 15 − 127 and round away the low 13 mantissa bits.
    const v = a - 0x38000000;
    return sign | ((v + 0xfff + ((v >>> 13) & 1)) >>> 13);
  }
  if (a < 0x33000000) return sign; // at most 2^-25, half the least subnormal: rounds to (even) zero
  // A subnormal binary16: the 24-bit significand shifted down to units of 2^-24, rounded to nearest even.
  const shift = 126 - (a >>> 23);
  const m = (a & 0x7fffff) | 0x800000;
  const q = m >>> shift;
  const rest = m - q * 2 ** shift;
  const half = 2 ** (shift - 1);
  return sign | (rest > half || (rest === half && (q & 1) === 1) ? q + 1 : q);
}

/** bfloat16 bits → float32 bits (exact). */
function bitsFromBf16(h: number): number {
  return h << 16;
}

let f16Table: Float32Array | null = null;

/** Every binary16 value as float32 (exact; NaN payloads kept). */
function f16Values(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  const bits = new Uint32Array(t.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    if (e === 0) t[h] = (sign ? -m : m) * 2 ** -24;
    else if (e === 31) bits[h] = sign | 0x7f800000 | (m << 13);
    else bits[h] = sign | ((e + 112) << 23) | (m << 13);
  }
  return (f16Table = t);
}

/**
 * out[k, :] = narrow(src[rows[k], :]) (every row of src in order when rows is null): float32 rows of `dim`
 * values into 16-bit ones. The TypeScript reference of `narrowRows`.
 */
export function narrowRowsReference(out: Uint16Array, src: Float32Array, dim: number, rows: ArrayLike<number> | null, e: NarrowEncoding): void {
  const bits = new Int32Array(src.buffer, src.byteOffset, src.length);
  const narrow = e === 'bf16' ? bf16FromBits : f16FromBits;
  if (!rows) {
    for (let i = 0; i < src.length; i++) out[i] = narrow(bits[i]);
    return;
  }
  for (let k = 0; k < rows.length; k++) {
    const from = rows[k] * dim;
    const to = k * dim;
    for (let j = 0; j < dim; j++) out[to + j] = narrow(bits[from + j]);
  }
}

/** out[rows[k], :] = widen(src[k, :]) (in order when rows is null): 16-bit rows back to float32. The reference of `widenRows`. */
export function widenRowsReference(out: Float32Array, src: Uint16Array, dim: number, rows: ArrayLike<number> | null, e: NarrowEncoding): void {
  const n = src.length / dim;
  if (e === 'f16') {
    const table = f16Values();
    for (let k = 0; k < n; k++) {
      const to = (rows ? rows[k] : k) * dim;
      for (let j = 0; j < dim; j++) out[to + j] = table[src[k * dim + j]];
    }
    return;
  }
  const bits = new Int32Array(out.buffer, out.byteOffset, out.length);
  for (let k = 0; k < n; k++) {
    const to = (rows ? rows[k] : k) * dim;
    for (let j = 0; j < dim; j++) bits[to + j] = bitsFromBf16(src[k * dim + j]);
  }
}

/** The row list as the addon takes it (an Int32Array, or null), or undefined when it cannot. */
function nativeRows(rows: ArrayLike<number> | null): Int32Array | null | undefined {
  if (rows === null || rows instanceof Int32Array) return rows;
  if (rows instanceof Uint32Array) return new Int32Array(rows.buffer, rows.byteOffset, rows.length);
  return undefined;
}

/** float32 rows into 16-bit ones, as narrowRowsReference, on the native addon when it is there. */
export function narrowRows(out: Uint16Array, src: Float32Array, dim: number, rows: ArrayLike<number> | null, e: NarrowEncoding, native: NativeKernels | null = nativeKernels()): void {
  const r = nativeRows(rows);
  if (native && r !== undefined) native.narrowRows(src, dim, r, out, NATIVE_KIND[e]);
  else narrowRowsReference(out, src, dim, rows, e);
}

/** 16-bit rows back to float32, as widenRowsReference, on the native addon when it is there. */
export function widenRows(out: Float32Array, src: Uint16Array, dim: number, rows: ArrayLike<number> | null, e: NarrowEncoding, native: NativeKernels | null = nativeKernels()): void {
  const r = nativeRows(rows);
  if (native && r !== undefined) native.widenRows(src, dim, r, out, NATIVE_KIND[e]);
  else widenRowsReference(out, src, dim, rows, e);
}

/** Row values as they travel: float32, or 16-bit in a NarrowEncoding (a message's `values` field, viewed). */
export type WireValues = { readonly encoding: 'f32'; readonly array: Float32Array } | { readonly encoding: NarrowEncoding; readonly array: Uint16Array };

/** out's rows = src[rows[k], :] (src's rows in order when rows is null), narrowed when out is 16-bit. */
export function writeRows(out: WireValues, src: Float32Array, dim: number, rows: ArrayLike<number> | null): void {
  if (out.encoding !== 'f32') narrowRows(out.array, src, dim, rows, out.encoding);
  else if (rows) gatherRowsInto(out.array, src, dim, rows);
  else out.array.set(src);
}

/** out[dest[k], :] = the k-th row of src (in order when dest is null), widened when src is 16-bit. */
export function readRows(out: Float32Array, src: WireValues, dim: number, dest: ArrayLike<number> | null): void {
  if (src.encoding !== 'f32') widenRows(out, src.array, dim, dest, src.encoding);
  else if (dest) scatterRowsInto(out, src.array, dest, dim);
  else out.set(src.array);
}

/** The values as float32: the array itself when it is float32, else widened into a new one. */
export function floatValues(v: WireValues): Float32Array {
  if (v.encoding === 'f32') return v.array;
  const out = new Float32Array(v.array.length);
  widenRows(out, v.array, 1, null, v.encoding);
  return out;
}
