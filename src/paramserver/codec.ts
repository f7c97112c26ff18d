/**
 * Hand-written protobuf codecs for the three messages that carry rows — PullReply, PushRequest and
 * PrepareRequest (RowBlock) of proto/paramserver.proto — in place of protobufjs, which builds a list of
 * operations, then a buffer, and copies every bytes field once more (docs/paramserver.md "Wire codec").
 *
 * Encoding: one pass measures, one buffer is allocated, one pass writes; the rows are copied once, into it.
 * The output is protobuf wire format that any parser reads as the same message, written in field-number order
 * with every field the object holds, as protobufjs writes it, with one difference: the tag in front of a bulk
 * `bytes` field (ids, values, row versions) may be written as an overlong varint of 2–4 bytes (0x80 continuation
 * bytes; protobuf parsers accept varints of up to 10 bytes, protobufjs too) so that the field's data starts at a
 * message offset ≡ 3 (mod 4). grpc frames a message behind a 5-byte header in a buffer of its own, so there
 * the data starts at a multiple of 4 and the receiver views it as a Float32Array/Uint32Array without copying
 * (wire.ts copies when it is not aligned, e.g. from another encoder). The message itself starts at byte 1 of its
 * ArrayBuffer, so the same data is aligned in the sender's buffer too and rows can be gathered straight into it —
 * narrowed to 16 bits on the way when the message's `encoding` says so (encoding.ts). The `encoding` field is
 * written only when the object holds it; a client leaves it out for float32, so those bytes are as they were
 * before the field existed.
 *
 * Decoding: fields in any order, unknown fields skipped, missing ones given their proto3 defaults (as
 * @grpc/proto-loader with `defaults: true, longs: Number` gives them); `bytes` fields are views into the message.
 * Malformed bytes throw, which grpc-js answers with INTERNAL, as for protobufjs.
 */
import { encodingFromMsg, encodingToMsg } from './convert.js';
import { bytesPerValue, writeRows, type WireEncoding, type WireValues } from './encoding.js';
import type { BufferPool } from './pool.js';
import type { PickedRows, PrepareRequest, PrepareRequestOut, PullReply, PushRequest, PushRequestOut, RowBlockMsg, RowBlockOut, ValueEncodingMsg } from './proto.js';

/** grpc's message header: a compression flag and a 4-byte length. */
const FRAME_HEADER_BYTES = 5;
/** Where a bulk field's data starts in a message, mod 4, so that it is aligned behind the frame header. */
const BULK_DATA_PHASE = (4 - (FRAME_HEADER_BYTES % 4)) % 4;

const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const FIXED32 = 5;

const TWO_32 = 4294967296;

/** proto ValueEncoding's names, by number. */
const ENCODING_NAMES: readonly ValueEncodingMsg[] = ['VALUE_ENCODING_F32', 'VALUE_ENCODING_BF16', 'VALUE_ENCODING_F16'];

/** A ValueEncoding's name as protobufjs decodes it (enums: String), or its number when this build does not know it. */
function encodingName(n: number): ValueEncodingMsg {
  return ENCODING_NAMES[n] ?? n;
}

function encodingNumber(v: ValueEncodingMsg): number {
  if (typeof v === 'number') return v;
  const n = ENCODING_NAMES.indexOf(v);
  if (n < 0) throw new RangeError(`unknown value encoding '${v}'`);
  return n;
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/**
 * Writes a message, or only measures it (no buffer): both passes take the same path, so the sizes they see agree.
 * `pos` is the offset in the message.
 */
class Out {
  pos = 0;
  constructor(readonly buf: Buffer | null) {}

  varint(n: number, width = varintSize(n)): void {
    const buf = this.buf;
    if (buf) {
      let v = n;
      for (let k = 0; k < width - 1; k++) {
        buf[this.pos + k] = (v % 128) | 0x80;
        v = Math.floor(v / 128);
      }
      buf[this.pos + width - 1] = v;
    }
    this.pos += width;
  }

  tag(field: number, wire: number, width = 1): void {
    this.varint(field * 8 + wire, width);
  }

  uint(field: number, n: number | undefined): void {
    if (n == null) return;
    this.tag(field, VARINT);
    this.varint(n);
  }

  uint32(field: number, n: number | undefined): void {
    this.uint(field, n == null ? n : n >>> 0);
  }

  bool(field: number, b: boolean | undefined): void {
    this.uint(field, b == null ? b : b ? 1 : 0);
  }

  encoding(field: number, v: ValueEncodingMsg | undefined): void {
    this.uint(field, v == null ? v : encodingNumber(v));
  }

  string(field: number, s: string | undefined): void {
    if (s == null) return;
    const n = Buffer.byteLength(s);
    this.tag(field, LEN);
    this.varint(n);
    this.buf?.write(s, this.pos, n, 'utf8');
    this.pos += n;
  }

  /** A bulk bytes field, its data placed at BULK_DATA_PHASE; returns where the data starts. */
  bulkHeader(field: number, byteLength: number): number {
    const lenWidth = varintSize(byteLength);
    const tagWidth = 1 + ((BULK_DATA_PHASE - ((this.pos + 1 + lenWidth) % 4) + 4) % 4);
    this.tag(field, LEN, tagWidth);
    this.varint(byteLength, lenWidth);
    const at = this.pos;
    this.pos += byteLength;
    return at;
  }

  /** A bulk field from bytes, or from rows to gather (and narrow to `encoding`). */
  bulk(field: number, bytes: Uint8Array | PickedRows | undefined, encoding: WireEncoding = 'f32'): void {
    if (bytes == null) return;
    const at = this.bulkHeader(field, bulkByteLength(bytes, encoding));
    if (!this.buf) return;
    if (bytes instanceof Uint8Array) this.buf.set(bytes, at);
    else gatherInto(this.buf, at, bytes, encoding);
  }

  /** An embedded message of `size(start)` bytes (its length varint padded when the size needs it). */
  message(field: number, size: (start: number) => number, write: (out: Out) => void): void {
    this.tag(field, LEN);
    let width = 1;
    let n = size(this.pos + width);
    while (varintSize(n) > width) n = size(this.pos + ++width);
    this.varint(n, width);
    write(this);
  }
}

/** The bytes a bulk field's data takes (picked rows in `encoding`). */
export function bulkByteLength(v: Uint8Array | PickedRows, encoding: WireEncoding = 'f32'): number {
  return v instanceof Uint8Array ? v.byteLength : bytesPerValue(encoding) * (v.pick ? v.pick.length * v.dim : v.from.length);
}

/** `n` values in `encoding` viewed at byte `at` of buf (which must be aligned for them). */
function valuesAt(buf: Buffer, at: number, n: number, encoding: WireEncoding): WireValues {
  const offset = buf.byteOffset + at;
  return encoding === 'f32' ? { encoding, array: new Float32Array(buf.buffer, offset, n) } : { encoding, array: new Uint16Array(buf.buffer, offset, n) };
}

/** Gathers picked rows into buf at `at`: in place when that is 4-byte aligned (encode() makes it so), else through a copy. */
function gatherInto(buf: Buffer, at: number, rows: PickedRows, encoding: WireEncoding): void {
  const n = rows.pick ? rows.pick.length * rows.dim : rows.from.length;
  const aligned = (buf.byteOffset + at) % 4 === 0;
  const scratch = aligned ? null : Buffer.alloc(n * bytesPerValue(encoding));
  writeRows(scratch ? valuesAt(scratch, 0, n, encoding) : valuesAt(buf, at, n, encoding), rows.from, rows.dim, rows.pick);
  if (scratch) buf.set(scratch, at);
}

/** Gives an ArrayBuffer of at least `bytes` bytes to encode into (default: a new one). */
export type Allocate = (bytes: number) => ArrayBuffer;

const allocate: Allocate = (bytes) => Buffer.allocUnsafeSlow(bytes).buffer;

/** Buffers lent out for one reply each, by the pool they go back to (lendFrom). */
const lent = new WeakMap<ArrayBuffer, BufferPool>();

/**
 * Allocates a reply from `pool`, lent until the reply is serialized: grpc-js calls a response serializer
 * (encodePullReply) only to copy its result into the frame it sends, in the same synchronous run, so once the
 * serializer has been called nothing reads the buffer again. A reply never serialized (a cancelled call) is
 * left to the garbage collector.
 */
export function lendFrom(pool: BufferPool): Allocate {
  return (bytes) => {
    const b = pool.take(bytes);
    lent.set(b, pool);
    return b;
  };
}

/** Gives a lent reply's buffer back to its pool (nothing for any other buffer). */
function giveBack(m: Buffer): void {
  const buffer = m.buffer as ArrayBuffer;
  const pool = lent.get(buffer);
  if (!pool) return;
  lent.delete(buffer);
  pool.give(buffer);
}

/** Runs `write` on a measuring pass, then on a buffer of that size whose message starts at byte 1 of its ArrayBuffer. */
function encode(write: (out: Out) => void, alloc = allocate): Buffer {
  const sizer = new Out(null);
  write(sizer);
  const out = new Out(Buffer.from(alloc(sizer.pos + 1), 1, sizer.pos));
  write(out);
  return out.buf!;
}

/** The size a write takes when it starts at message offset `start` (only `start % 4` matters). */
function sizeAt(start: number, write: (out: Out) => void): number {
  const o = new Out(null);
  o.pos = start;
  write(o);
  return o.pos - start;
}

function writeRowBlock(out: Out, b: RowBlockOut): void {
  out.string(1, b.table);
  out.bulk(2, b.ids);
  out.bulk(3, b.values, b.values instanceof Uint8Array ? 'f32' : encodingFromMsg(b.encoding, `table ${b.table}`));
  out.bool(4, b.allRows);
  out.encoding(5, b.encoding);
}

function writeBlocks(out: Out, field: number, blocks: readonly RowBlockOut[] | undefined): void {
  for (const b of blocks ?? []) {
    const write = (o: Out) => writeRowBlock(o, b);
    out.message(field, (start) => sizeAt(start, write), write);
  }
}

/** A PushRequest as a message (a Buffer is taken as one already encoded and sent as it is). */
export function encodePushRequest(m: PushRequestOut | Buffer, alloc?: Allocate): Buffer {
  if (Buffer.isBuffer(m)) return m;
  return encode((out) => {
    out.string(1, m.task);
    out.uint32(2, m.attempt);
    out.uint(3, m.clock);
    writeBlocks(out, 4, m.blocks);
    out.uint(5, m.generation);
  }, alloc);
}

/** A PrepareRequest as a message (a Buffer is taken as one already encoded and sent as it is). */
export function encodePrepareRequest(m: PrepareRequestOut | Buffer, alloc?: Allocate): Buffer {
  if (Buffer.isBuffer(m)) return m;
  return encode((out) => {
    out.uint(1, m.step);
    out.string(2, m.task);
    out.uint32(3, m.attempt);
    writeBlocks(out, 4, m.blocks);
    out.uint(5, m.generation);
  }, alloc);
}

/** A PullReply with room for `rows` rows of `dim` values: fill the three views, then send `message`. */
export interface PullReplyFrame {
  readonly message: Buffer;
  readonly ids: Uint32Array;
  readonly values: WireValues;
  readonly rowVersions: Uint32Array;
}

/**
 * The frame of a reply whose values travel in `encoding` (the field is written only when it is not float32), in a
 * buffer from `alloc` (default: a new one).
 */
export function pullReplyFrame(table: string, rows: number, dim: number, version: number, incarnation: number, encoding: WireEncoding = 'f32', alloc?: Allocate): PullReplyFrame {
  const at = { ids: 0, values: 0, rowVersions: 0 };
  const message = encode((out) => {
    out.string(1, table);
    at.ids = out.bulkHeader(2, 4 * rows);
    at.values = out.bulkHeader(3, bytesPerValue(encoding) * rows * dim);
    at.rowVersions = out.bulkHeader(4, 4 * rows);
    out.uint(5, version);
    out.uint(6, incarnation);
    out.encoding(7, encodingToMsg(encoding));
  }, alloc);
  const { buffer, byteOffset } = message;
  return {
    message,
    ids: new Uint32Array(buffer, byteOffset + at.ids, rows),
    values: valuesAt(message, at.values, rows * dim, encoding),
    rowVersions: new Uint32Array(buffer, byteOffset + at.rowVersions, rows),
  };
}

/**
 * A PullReply object as a message. A Buffer, e.g. one from pullReplyFrame, is sent as it is, and when it was lent
 * (lendFrom) goes back to its pool: the caller copies it before it runs anything else (grpc-js does).
 */
export function encodePullReply(m: PullReply | Buffer): Buffer {
  if (Buffer.isBuffer(m)) {
    giveBack(m);
    return m;
  }
  return encode((out) => {
    out.string(1, m.table);
    out.bulk(2, m.ids);
    out.bulk(3, m.values);
    out.bulk(4, m.rowVersions);
    out.uint(5, m.version);
    out.uint(6, m.incarnation);
    out.encoding(7, m.encoding);
  });
}

class In {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  /** A varint (as a number: exact up to 2^53); `wire`, when given, is the field's wire type, checked. */
  varint(wire = VARINT): number {
    expectWire(wire, VARINT);
    let value = 0;
    let scale = 1;
    for (let k = 0; k < 10; k++) {
      if (this.pos >= this.end) throw new RangeError('truncated varint');
      const b = this.buf[this.pos++];
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 128;
    }
    throw new RangeError('varint longer than 10 bytes');
  }

  uint32(wire = VARINT): number {
    return this.varint(wire) % TWO_32;
  }

  /** A length-delimited field's [start, end). */
  span(wire = LEN): [number, number] {
    expectWire(wire, LEN);
    const n = this.varint();
    const start = this.pos;
    if (n > this.end - start) throw new RangeError(`length ${n} runs past the message`);
    this.pos += n;
    return [start, this.pos];
  }

  /** A view of the field's bytes (no copy). */
  bytes(wire: number): Buffer {
    const [s, e] = this.span(wire);
    return this.buf.subarray(s, e);
  }

  string(wire: number): string {
    const [s, e] = this.span(wire);
    return this.buf.toString('utf8', s, e);
  }

  skip(wire: number): void {
    if (wire === VARINT) this.varint();
    else if (wire === LEN) this.span();
    else if (wire === FIXED64 || wire === FIXED32) {
      this.pos += wire === FIXED64 ? 8 : 4;
      if (this.pos > this.end) throw new RangeError('truncated fixed-width field');
    } else throw new RangeError(`wire type ${wire} is not supported`);
  }

  /** Reads every field, calling `field` with its number and wire type; it returns false for a field it does not know. */
  fields(field: (n: number, wire: number) => boolean): void {
    while (this.pos < this.end) {
      const key = this.uint32();
      const n = Math.floor(key / 8);
      if (n === 0) throw new RangeError('field number 0');
      if (!field(n, key & 7)) this.skip(key & 7);
    }
  }
}

function expectWire(wire: number, want: number): void {
  if (wire !== want) throw new RangeError(`wire type ${wire} where the message declares ${want}`);
}

const EMPTY = Buffer.alloc(0);

function readRowBlock(r: In): RowBlockMsg {
  const b: RowBlockMsg = { table: '', ids: EMPTY, values: EMPTY, allRows: false, encoding: ENCODING_NAMES[0] };
  r.fields((field, wire) => {
    switch (field) {
      case 1: b.table = r.string(wire); return true;
      case 2: b.ids = r.bytes(wire); return true;
      case 3: b.values = r.bytes(wire); return true;
      case 4: b.allRows = r.varint(wire) !== 0; return true;
      case 5: b.encoding = encodingName(r.varint(wire)); return true;
      default: return false;
    }
  });
  return b;
}

function readBlock(r: In, wire: number): RowBlockMsg {
  const [s, e] = r.span(wire);
  return readRowBlock(new In(r.buf, s, e));
}

export function decodePushRequest(buf: Buffer): PushRequest {
  const m: PushRequest = { task: '', attempt: 0, clock: 0, blocks: [], generation: 0 };
  const r = new In(buf, 0, buf.length);
  r.fields((field, wire) => {
    switch (field) {
      case 1: m.task = r.string(wire); return true;
      case 2: m.attempt = r.uint32(wire); return true;
      case 3: m.clock = r.varint(wire); return true;
      case 4: m.blocks.push(readBlock(r, wire)); return true;
      case 5: m.generation = r.varint(wire); return true;
      default: return false;
    }
  });
  return m;
}

export function decodePrepareRequest(buf: Buffer): PrepareRequest {
  const m: PrepareRequest = { step: 0, task: '', attempt: 0, blocks: [], generation: 0 };
  const r = new In(buf, 0, buf.length);
  r.fields((field, wire) => {
    switch (field) {
      case 1: m.step = r.varint(wire); return true;
      case 2: m.task = r.string(wire); return true;
      case 3: m.attempt = r.uint32(wire); return true;
      case 4: m.blocks.push(readBlock(r, wire)); return true;
      case 5: m.generation = r.varint(wire); return true;
      default: return false;
    }
  });
  return m;
}

export function decodePullReply(buf: Buffer): PullReply {
  const m: PullReply = { table: '', ids: EMPTY, values: EMPTY, rowVersions: EMPTY, version: 0, incarnation: 0, encoding: ENCODING_NAMES[0] };
  const r = new In(buf, 0, buf.length);
  r.fields((field, wire) => {
    switch (field) {
      case 1: m.table = r.string(wire); return true;
      case 2: m.ids = r.bytes(wire); return true;
      case 3: m.values = r.bytes(wire); return true;
      case 4: m.rowVersions = r.bytes(wire); return true;
      case 5: m.version = r.varint(wire); return true;
      case 6: m.incarnation = r.varint(wire); return true;
      case 7: m.encoding = encodingName(r.varint(wire)); return true;
      default: return false;
    }
  });
  return m;
}
