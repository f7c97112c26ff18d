/**
 * The container of camrec's binary state files (trainer checkpoints, parameter-server shard checkpoints): an
 * 8-byte magic, a little-endian uint32 header length, a JSON header, zero padding to 8 bytes, then the data
 * section (typed arrays back to back). The header records the data's length and sha256, checked on read; files
 * are written atomically (writeFileAtomic).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CheckpointError } from '../errors/index.js';
import { writeFileAtomic } from './atomic.js';

/** Where one array lies in the data section. */
export interface FramedSpan {
  readonly offset: number; // bytes from the start of the data section
  readonly length: number; // element count
}

/** Lays typed arrays out back to back; `span(a)` records where each went. */
export class FramedData {
  readonly blobs: Uint8Array[] = [];
  bytes = 0;

  span(a: Float32Array | Uint32Array): FramedSpan {
    const s = { offset: this.bytes, length: a.length };
    this.blobs.push(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    this.bytes += a.byteLength;
    return s;
  }
}

/** Writes `header` (plus dataBytes and sha256) and the data atomically; returns the bytes written. */
export function writeFramed(path: string, magic: string, header: object, data: FramedData): number {
  const hash = createHash('sha256');
  for (const b of data.blobs) hash.update(b);
  const json = Buffer.from(JSON.stringify({ ...header, dataBytes: data.bytes, sha256: hash.digest('hex') }), 'utf8');
  const prefix = Buffer.alloc(align8(12 + json.length));
  prefix.write(magic, 0, 'latin1');
  prefix.writeUInt32LE(json.length, 8);
  json.copy(prefix, 12);
  writeFileAtomic(path, [prefix, ...data.blobs]);
  return prefix.length + data.bytes;
}

/**
 * Reads a framed file: its header and a copy of the data section in a buffer of its own (so typed arrays can view
 * it at any span). A missing, truncated, foreign or corrupt file is a CheckpointError naming it; `kind` says what
 * the file should have been.
 */
export function readFramed<H extends { version: number }>(path: string, magic: string, kind: string, version: number): { header: H; data: Uint8Array } {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (err) {
    throw new CheckpointError(`${path}: cannot read ${kind} (${(err as Error).message})`, { cause: err });
  }
  const fail = (why: string): never => {
    throw new CheckpointError(`${path}: ${why}`);
  };
  if (buf.length < 12 || buf.toString('latin1', 0, 8) !== magic) fail(`not a ${kind} (bad magic)`);
  const headerLen = buf.readUInt32LE(8);
  if (12 + headerLen > buf.length) fail('truncated header');
  let header: H & { dataBytes: number; sha256: string };
  try {
    header = JSON.parse(buf.toString('utf8', 12, 12 + headerLen)) as H & { dataBytes: number; sha256: string };
  } catch (err) {
    throw new CheckpointError(`${path}: header is not valid JSON`, { cause: err });
  }
  if (header.version !== version) fail(`${kind} version ${header.version}, this build reads ${version}`);
  const start = align8(12 + headerLen);
  if (buf.length !== start + header.dataBytes) fail(`expected ${start + header.dataBytes} bytes, found ${buf.length}`);
  const data = new Uint8Array(header.dataBytes);
  data.set(buf.subarray(start));
  if (createHash('sha256').update(data).digest('hex') !== header.sha256) fail('checksum mismatch (corrupt file)');
  return { header, data };
}

function align8(n: number): number {
  return (n + 7) & ~7;
}
