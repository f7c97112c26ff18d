/**
 * codec.ts against protobufjs (what @grpc/proto-loader serialises with): on random messages — with and without
 * the `encoding` field, known values and one from a newer peer — each reads the other's bytes as the same message,
 * bulk fields land 4-byte aligned behind grpc's 5-byte frame header, bytes from another encoder decode at any
 * offset, and malformed bytes throw. Rows gathered in 16 bits are the narrowed rows; float32 messages are byte for
 * byte what they were before the field existed.
 */
import * as protoLoader from '@grpc/proto-loader';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  decodePrepareRequest,
  decodePullReply,
  decodePushRequest,
  encodePrepareRequest,
  encodePullReply,
  encodePushRequest,
  pullReplyFrame,
} from '../../src/paramserver/codec.js';
import { narrowRowsReference } from '../../src/paramserver/encoding.js';
import { PROTO_DIR } from '../../src/paramserver/proto.js';
import { floatsOf, gatherRows, scatterRowsInto } from '../../src/paramserver/wire.js';
import { RandomStream } from '../../src/random/index.js';

const def = protoLoader.loadSync(join(PROTO_DIR, 'paramserver.proto'), { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true });
const methods = def['camrec.paramserver.v1.ParamServer'] as unknown as Record<string, protoLoader.MethodDefinition<unknown, unknown>>;
const reference = {
  push: { encode: methods.Push.requestSerialize, decode: methods.Push.requestDeserialize },
  prepare: { encode: methods.Prepare.requestSerialize, decode: methods.Prepare.requestDeserialize },
  pull: { encode: methods.Pull.responseSerialize, decode: methods.Pull.responseDeserialize },
};

type Codec = { encode: (m: never) => Buffer; decode: (b: Buffer) => unknown };
const ours: Record<keyof typeof reference, Codec> = {
  push: { encode: encodePushRequest, decode: decodePushRequest },
  prepare: { encode: encodePrepareRequest, decode: decodePrepareRequest },
  pull: { encode: encodePullReply, decode: decodePullReply },
};

const rng = new RandomStream(11, 'simulate', 0, 0, 0);
const int = (n: number) => rng.nextUint32() % n;
const bytes = (words: number) => Buffer.from(Uint32Array.from({ length: words }, () => rng.nextUint32()).buffer);
const name = () => ['', 'users', 'items', 'é-表', 'x'.repeat(200)][int(5)];
const big = () => [0, 1, 127, 128, 2 ** 31, 2 ** 32 + 5, 2 ** 53 - 1][int(7)];
/** Row counts around the varint width boundaries of the bulk fields' lengths. */
const rows = () => [0, 1, 3, 31, 32, 4095, 4096, 70000][int(8)];
/** 2-byte values, an odd count included (16-bit rows of an odd width). */
const halves = (n: number) => Buffer.from(Uint16Array.from({ length: n }, () => rng.nextUint32() & 0xffff).buffer);
/** The `encoding` field: absent, each known value, and 7, which a newer peer might send (decoded as its number). */
const encodings = [{}, { encoding: 'VALUE_ENCODING_F32' }, { encoding: 'VALUE_ENCODING_BF16' }, { encoding: 'VALUE_ENCODING_F16' }, { encoding: 7 }];
const someEncoding = (): object => encodings[int(encodings.length)];
const valuesIn = (e: object, n: number) => ('encoding' in e && e.encoding !== 'VALUE_ENCODING_F32' ? halves(n * (1 + int(3)) + int(2)) : bytes(n * (1 + int(3))));

function block() {
  const n = rows();
  const all = int(4) === 0;
  const e = someEncoding();
  return { table: name(), ids: all ? Buffer.alloc(0) : bytes(n), values: valuesIn(e, n), allRows: all, ...e };
}

const random = {
  push: () => ({ task: name(), attempt: int(2) ? 0 : rng.nextUint32(), clock: big(), blocks: Array.from({ length: int(4) }, block), generation: big() }),
  prepare: () => ({ step: big(), task: name(), attempt: int(5), blocks: Array.from({ length: int(4) }, block), generation: big() }),
  pull: () => {
    const n = rows();
    const e = someEncoding();
    return { table: name(), ids: bytes(n), values: valuesIn(e, n), rowVersions: bytes(n), version: big(), incarnation: big(), ...e };
  },
};

/** `msg` behind a 5-byte header in a buffer of its own, as grpc-js receives it. */
function framed(msg: Buffer): Buffer {
  const buf = Buffer.allocUnsafeSlow(msg.length + 5);
  msg.copy(buf, 5);
  return buf.subarray(5);
}

/** `msg` copied to byte `offset` of a fresh buffer (a misaligned view when offset % 4 ≠ 0). */
function at(msg: Buffer, offset: number): Buffer {
  const buf = Buffer.allocUnsafeSlow(msg.length + offset);
  msg.copy(buf, offset);
  return buf.subarray(offset);
}

/** The bulk fields of a decoded message. */
function bulkFields(kind: keyof typeof reference, m: Record<string, unknown>): Buffer[] {
  if (kind === 'pull') return [m.ids, m.values, m.rowVersions] as Buffer[];
  return (m.blocks as Record<string, Buffer>[]).flatMap((b) => [b.ids, b.values]);
}

for (const kind of ['push', 'prepare', 'pull'] as const) {
  test(`${kind}: codec.ts and protobufjs read each other's bytes as the same message`, () => {
    for (let k = 0; k < 60; k++) {
      const m = random[kind]();
      const want = reference[kind].decode(reference[kind].encode(m));
      const mine = ours[kind].encode(m as never);
      assert.deepEqual(reference[kind].decode(mine), want, 'protobufjs reads ours');
      assert.deepEqual(ours[kind].decode(reference[kind].encode(m)), want, 'ours reads protobufjs');
      assert.deepEqual(ours[kind].decode(framed(mine)), want, 'ours reads ours');
      for (const offset of [1, 2, 3]) assert.deepEqual(ours[kind].decode(at(reference[kind].encode(m), offset)), want, `at offset ${offset}`);
    }
  });

  test(`${kind}: every bulk field is 4-byte aligned behind grpc's frame header and in the sender's buffer`, () => {
    for (let k = 0; k < 30; k++) {
      const mine = ours[kind].encode(random[kind]() as never);
      for (const f of bulkFields(kind, ours[kind].decode(framed(mine)) as Record<string, unknown>)) assert.equal(f.byteOffset % 4, 0);
      for (const f of bulkFields(kind, ours[kind].decode(mine) as Record<string, unknown>)) assert.equal(f.byteOffset % 4, 0);
    }
  });

  test(`${kind}: an empty message is the empty message`, () => {
    assert.deepEqual(ours[kind].decode(Buffer.alloc(0)), reference[kind].decode(Buffer.alloc(0)));
    assert.deepEqual(reference[kind].decode(ours[kind].encode({} as never)), reference[kind].decode(Buffer.alloc(0)));
  });

  test(`${kind}: malformed bytes throw`, () => {
    const good = ours[kind].encode(random[kind]() as never);
    assert.throws(() => ours[kind].decode(Buffer.alloc(11, 0xff)), RangeError, 'an 11-byte varint');
    assert.throws(() => ours[kind].decode(Buffer.from([0x0f])), RangeError, 'wire type 7');
    assert.throws(() => ours[kind].decode(Buffer.from([0x0a, 0x05, 0x61])), RangeError, 'a length past the end');
    assert.throws(() => ours[kind].decode(Buffer.from([0x08, 0x80])), RangeError, 'a truncated varint');
    if (good.length > 2) assert.throws(() => ours[kind].decode(good.subarray(0, good.length - 1)), RangeError, 'truncated by one byte');
  });
}

test('pullReplyFrame: filling its views gives the message encodePullReply writes', () => {
  for (const n of [0, 1, 5, 4096]) {
    const dim = 3;
    const values = Float32Array.from({ length: n * dim }, (_, k) => k / 7);
    const ids = Uint32Array.from({ length: n }, (_, k) => 2 * k);
    const rowVersions = Uint32Array.from({ length: n }, (_, k) => k % 5);
    const frame = pullReplyFrame('items', n, dim, 9, 2 ** 40);
    frame.ids.set(ids);
    frame.values.array.set(values);
    frame.rowVersions.set(rowVersions);
    const want = { table: 'items', ids: Buffer.from(ids.buffer), values: Buffer.from(values.buffer), rowVersions: Buffer.from(rowVersions.buffer), version: 9, incarnation: 2 ** 40 };
    assert.deepEqual(reference.pull.decode(frame.message), reference.pull.decode(reference.pull.encode(want)));
    assert.deepEqual(floatsOf(decodePullReply(framed(frame.message)).values), values);
  }
});

test('picked rows: a block whose values are rows to gather encodes as the block with those rows as bytes', () => {
  const runs = Int32Array.from([3, 4, 5, 9, 10, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
  for (const [dim, pick] of [1, 3, 16, 64].flatMap((d) => [[d, Int32Array.from({ length: 20 }, () => int(50))], [d, runs]] as const)) {
    const from = Float32Array.from({ length: 50 * dim }, () => rng.nextFloat());
    const gathered = new Float32Array(pick.length * dim);
    pick.forEach((r, k) => gathered.set(from.subarray(r * dim, (r + 1) * dim), k * dim));
    const ids = Buffer.from(Uint32Array.from(pick.keys()).buffer);
    const asBytes = { task: 't', attempt: 1, clock: 2, blocks: [{ table: 'u', ids, values: Buffer.from(gathered.buffer), allRows: false }] };
    const asPicked = { ...asBytes, blocks: [{ ...asBytes.blocks[0], values: { from, pick, dim } }] };
    assert.deepEqual(decodePushRequest(encodePushRequest(asPicked)), reference.push.decode(reference.push.encode(asBytes)), `dim ${dim}`);
    assert.deepEqual(gatherRows(from, dim, pick), gathered, `gatherRows, dim ${dim}`);
    const back = new Float32Array(from.length);
    const dest = pick === runs ? Int32Array.from({ length: 20 }, (_, k) => 30 - k + 2 * (k % 3)) : Int32Array.from({ length: 20 }, (_, k) => (k * 7) % 50);
    scatterRowsInto(back, gathered, dest, dim);
    const want = new Float32Array(from.length);
    dest.forEach((d, k) => want.set(gathered.subarray(k * dim, (k + 1) * dim), d * dim));
    assert.deepEqual(back, want, `scatterRowsInto, dim ${dim}`);
  }
});

test('encoding into a reused, larger, dirty buffer (a client pool) writes the same message', () => {
  const dirty = Buffer.alloc(1 << 20, 0xa5).buffer;
  for (let k = 0; k < 20; k++) {
    const m = random.prepare();
    if (encodePrepareRequest(m).length + 1 > dirty.byteLength) continue;
    assert.deepEqual(encodePrepareRequest(m, () => dirty), encodePrepareRequest(m));
    const p = random.push();
    if (encodePushRequest(p).length + 1 > dirty.byteLength) continue;
    assert.deepEqual(encodePushRequest(p, () => dirty), encodePushRequest(p));
  }
});

test('16-bit frames and picked rows: the values are the rows narrowed, and the encoding field names how', () => {
  const dim = 3;
  for (const [e, name] of [['bf16', 'VALUE_ENCODING_BF16'], ['f16', 'VALUE_ENCODING_F16']] as const) {
    const from = Float32Array.from({ length: 20 * dim }, () => rng.nextNormal() * 1e-3);
    const pick = Int32Array.from([4, 5, 6, 19, 0, 2, 2]);
    const narrowed = new Uint16Array(pick.length * dim);
    narrowRowsReference(narrowed, from, dim, pick, e);
    const ids = Buffer.from(Uint32Array.from(pick.keys()).buffer);
    const asPicked = { step: 2, task: 't', attempt: 0, blocks: [{ table: 'u', ids, values: { from, pick, dim }, allRows: false, encoding: name }], generation: 0 };
    const asBytes = { ...asPicked, blocks: [{ ...asPicked.blocks[0], values: Buffer.from(narrowed.buffer) }] };
    const got = reference.prepare.decode(encodePrepareRequest(asPicked)) as { blocks: { values: Buffer; encoding: string }[] };
    assert.deepEqual(got, reference.prepare.decode(reference.prepare.encode(asBytes)), e);
    assert.equal(got.blocks[0].encoding, name);
    const whole = { ...asPicked, blocks: [{ ...asPicked.blocks[0], values: { from, pick: null, dim: 1 } }] };
    const all = new Uint16Array(from.length);
    narrowRowsReference(all, from, 1, null, e);
    assert.deepEqual(decodePrepareRequest(encodePrepareRequest(whole)).blocks[0].values, Buffer.from(all.buffer), `${e}: every row`);
    const frame = pullReplyFrame('items', 2, dim, 9, 4, e);
    assert.ok(frame.values.array instanceof Uint16Array && frame.values.array.length === 2 * dim);
    frame.values.array.set(narrowed.subarray(0, 2 * dim));
    const reply = reference.pull.decode(frame.message) as { values: Buffer; encoding: string };
    assert.equal(reply.encoding, name);
    assert.deepEqual(reply.values, Buffer.from(narrowed.buffer, 0, 4 * dim));
  }
});

test('float32 messages are byte for byte what camrec wrote before the encoding field existed', () => {
  // Written by codec.ts at commit fc62f63 (before the field) for these messages.
  const ids = Buffer.from(Uint32Array.of(1, 5).buffer);
  const from = Float32Array.of(0.5, -1, 2, 0.25, 3, 9);
  const prepare = { step: 3, task: 't', attempt: 1, blocks: [{ table: 'u', ids, values: { from, pick: Int32Array.of(2, 0), dim: 2 }, allRows: false }], generation: 0 };
  assert.equal(
    encodePrepareRequest(prepare).toString('hex'),
    '0803120174180122240a017592000801000000050000009a80001000004040000010410000003f000080bf20002800',
  );
  const frame = pullReplyFrame('u', 2, 2, 7, 9);
  frame.ids.set([1, 5]);
  frame.values.array.set([0.5, -1, 2, 0.25]);
  frame.rowVersions.set([3, 4]);
  assert.equal(frame.message.toString('hex'), '0a01759280000801000000050000009a8000100000003f000080bf000000400000803ea2800008030000000400000028073009');
});
