/**
 * Rows on the wire (proto/paramserver.proto): ids as little-endian uint32 and values as little-endian float32
 * (or 16-bit, encoding.ts) in `bytes` fields. A decoded `bytes` field is a Buffer at any byte offset, and a typed-array view needs an
 * offset that is a multiple of the element size, so a misaligned buffer is copied first (DESIGN.md §5).
 */
import { endianness } from 'node:os';
import type { WireEncoding, WireValues } from './encoding.js';
import { InvalidRequest } from './errors.js';

if (endianness() !== 'LE') throw new Error('the parameter server wire format needs a little-endian host');

function aligned(buf: Uint8Array, what: string, size = 4): Uint8Array {
  if (buf.byteLength % size !== 0) throw new InvalidRequest(`${what}: ${buf.byteLength} bytes is not a multiple of ${size}`);
  return buf.byteOffset % size === 0 ? buf : new Uint8Array(buf);
}

/** The float32 values in `buf`, viewed in place when aligned, copied when not. */
export function floatsOf(buf: Uint8Array, what = 'values'): Float32Array {
  const a = aligned(buf, what);
  return new Float32Array(a.buffer, a.byteOffset, a.byteLength / 4);
}

/** The uint32 values in `buf`, viewed in place when aligned, copied when not. */
export function uintsOf(buf: Uint8Array, what = 'ids'): Uint32Array {
  const a = aligned(buf, what);
  return new Uint32Array(a.buffer, a.byteOffset, a.byteLength / 4);
}

/** The uint16 values in `buf`, viewed in place when aligned, copied when not. */
export function halvesOf(buf: Uint8Array, what = 'values'): Uint16Array {
  const a = aligned(buf, what, 2);
  return new Uint16Array(a.buffer, a.byteOffset, a.byteLength / 2);
}

/** A `values` field's bytes as the values they carry in `encoding` (a view when aligned). */
export function wireValuesOf(buf: Uint8Array, encoding: WireEncoding, what = 'values'): WireValues {
  return encoding === 'f32' ? { encoding, array: floatsOf(buf, what) } : { encoding, array: halvesOf(buf, what) };
}

/** A Buffer over a typed array's bytes, without copying. */
export function bytesOf(a: Float32Array | Uint32Array | Int32Array | Uint16Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Below this many values a plain loop copies faster than a view and a native copy. */
const ROW_COPY_MIN_DIM = 16;

/** out[k] = src[rows[k]], rows of `dim` values; a run of consecutive rows is one copy. */
export function gatherRowsInto(out: Float32Array, src: Float32Array, dim: number, rows: ArrayLike<number>): void {
  for (let k = 0; k < rows.length; ) {
    const run = runLength(rows, k);
    copyRows(out, k * dim, src, rows[k] * dim, run * dim);
    k += run;
  }
}

/** Rows `rows` of a [n, dim] array, in that order. */
export function gatherRows(src: Float32Array, dim: number, rows: ArrayLike<number>): Float32Array {
  const out = new Float32Array(rows.length * dim);
  gatherRowsInto(out, src, dim, rows);
  return out;
}

/** out[dest[k]] = rows[k], rows of `dim` values; a run of consecutive destinations is one copy. */
export function scatterRowsInto(out: Float32Array, rows: Float32Array, dest: ArrayLike<number>, dim: number): void {
  for (let k = 0; k < dest.length; ) {
    const run = runLength(dest, k);
    copyRows(out, dest[k] * dim, rows, k * dim, run * dim);
    k += run;
  }
}

/** How many of rows[k], rows[k + 1], … go up by one from rows[k]. */
function runLength(rows: ArrayLike<number>, k: number): number {
  let n = 1;
  while (k + n < rows.length && rows[k + n] === rows[k] + n) n++;
  return n;
}

function copyRows(out: Float32Array, to: number, src: Float32Array, from: number, length: number): void {
  if (length >= ROW_COPY_MIN_DIM) out.set(src.subarray(from, from + length), to);
  else for (let j = 0; j < length; j++) out[to + j] = src[from + j];
}
