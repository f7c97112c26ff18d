/**
 * Reused message buffers (src/paramserver/pool.ts, codec.ts lendFrom): a pool hands out the smallest free buffer
 * that fits and keeps the largest; a pull reply lent from a pool goes back to it only when the reply is serialized,
 * so a reply still to be sent is never handed out twice.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodePullReply, encodePullReply, lendFrom, pullReplyFrame } from '../../src/paramserver/codec.js';
import { BufferPool } from '../../src/paramserver/pool.js';

test('BufferPool: takes the smallest free buffer that fits, a new one when none does, and keeps the largest', () => {
  const pool = new BufferPool(2);
  const [small, mid, large] = [new ArrayBuffer(100), new ArrayBuffer(1000), new ArrayBuffer(10_000)];
  for (const b of [large, small, mid]) pool.give(b);
  assert.equal(pool.take(50), mid, 'the smallest was dropped: 2 kept, the largest ones');
  assert.equal(pool.take(50), large);
  const fresh = pool.take(64);
  assert.ok(fresh !== small && fresh.byteLength >= 64, 'an empty pool allocates');
  pool.give(large);
  pool.give(mid);
  assert.equal(pool.take(999), mid, 'best fit, not the first large enough');
  assert.equal(pool.take(1001), large);
});

test('lendFrom: a pull reply goes back to its pool when it is serialized, not before, and is then reused', () => {
  const alloc = lendFrom(new BufferPool(4));
  const frame = (value: number, table: string) => {
    const f = pullReplyFrame(table, 3, 2, 7, 9, 'f32', alloc);
    f.ids.set([1, 4, 6]);
    f.values.array.fill(value);
    f.rowVersions.fill(value);
    return f;
  };
  const rowsOf = (m: Buffer) => {
    const r = decodePullReply(m);
    return { table: r.table, values: [...new Float32Array(Uint8Array.from(r.values).buffer)], rowVersions: [...new Uint32Array(Uint8Array.from(r.rowVersions).buffer)] };
  };
  const a = frame(1, 'a');
  const b = frame(2, 'b');
  assert.notEqual(a.message.buffer, b.message.buffer, 'a reply not yet serialized is not lent twice');
  const sentA = Buffer.from(encodePullReply(a.message));
  const c = frame(3, 'c');
  assert.equal(c.message.buffer, a.message.buffer, "the serialized reply's buffer is reused");
  assert.deepEqual(rowsOf(encodePullReply(b.message)), { table: 'b', values: [2, 2, 2, 2, 2, 2], rowVersions: [2, 2, 2] }, 'b was left alone while c was written');
  assert.deepEqual(rowsOf(sentA), { table: 'a', values: [1, 1, 1, 1, 1, 1], rowVersions: [1, 1, 1] }, 'the copy taken at serialization keeps a');
});
