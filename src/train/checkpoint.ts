/**
 * Checkpoint files: "CAMRECK1", a little-endian uint32 header length, a JSON header, zero padding to 8 bytes,
 * then float32 arrays (parameters and optimizer state of every table). The header carries the training state
 * (epoch, early stopping, the generator's position is the epoch since draws are keyed by it) and a sha256 of
 * the array bytes, checked on read. Files are written atomically.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CheckpointError } from '../errors/index.js';
import type { StoreState } from './paramstore.js';
import { writeFileAtomic } from '../data/index.js';

const MAGIC = 'CAMRECK1';
const VERSION = 1;

/** Everything beside the arrays; JSON-serialisable. */
export interface CheckpointMeta {
  readonly model: string;
  readonly hyper: Record<string, unknown>;
  readonly config: Record<string, unknown>;
  readonly configHash: string;
  readonly datasetChecksum: string;
  readonly epoch: number;
  readonly trainer: Record<string, unknown>;
}

export interface Checkpoint {
  readonly meta: CheckpointMeta;
  readonly store: StoreState;
}

interface ArrayEntry {
  table: string;
  slot: number; // -1: values, k >= 0: optimizer state k
  offset: number; // bytes from the start of the data section
  length: number; // float32 count
}

interface Header {
  format: string;
  version: number;
  meta: CheckpointMeta;
  step: number;
  arrays: ArrayEntry[];
  dataBytes: number;
  sha256: string;
}

export function writeCheckpoint(path: string, ckpt: Checkpoint): void {
  const arrays: ArrayEntry[] = [];
  const blobs: Uint8Array[] = [];
  let offset = 0;
  const add = (table: string, slot: number, a: Float32Array) => {
    arrays.push({ table, slot, offset, length: a.length });
    blobs.push(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    offset += a.byteLength;
  };
  for (const [name, t] of Object.entries(ckpt.store.tables)) {
    add(name, -1, t.values);
    t.state.forEach((s, k) => add(name, k, s));
  }
  const hash = createHash('sha256');
  for (const b of blobs) hash.update(b);
  const header: Header = {
    format: MAGIC,
    version: VERSION,
    meta: ckpt.meta,
    step: ckpt.store.step,
    arrays,
    dataBytes: offset,
    sha256: hash.digest('hex'),
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(align8(12 + json.length));
  prefix.write(MAGIC, 0, 'latin1');
  prefix.writeUInt32LE(json.length, 8);
  json.copy(prefix, 12);
  writeFileAtomic(path, [prefix, ...blobs]);
}

export function readCheckpoint(path: string): Checkpoint {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (err) {
    throw new CheckpointError(`${path}: cannot read checkpoint (${(err as Error).message})`, { cause: err });
  }
  const fail = (why: string): never => {
    throw new CheckpointError(`${path}: ${why}`);
  };
  if (buf.length < 12 || buf.toString('latin1', 0, 8) !== MAGIC) fail('not a camrec checkpoint (bad magic)');
  const headerLen = buf.readUInt32LE(8);
  if (12 + headerLen > buf.length) fail('truncated header');
  let header: Header;
  try {
    header = JSON.parse(buf.toString('utf8', 12, 12 + headerLen)) as Header;
  } catch (err) {
    throw new CheckpointError(`${path}: header is not valid JSON`, { cause: err });
  }
  if (header.version !== VERSION) fail(`checkpoint version ${header.version}, this build reads ${VERSION}`);
  const start = align8(12 + headerLen);
  if (buf.length !== start + header.dataBytes) fail(`expected ${start + header.dataBytes} bytes, found ${buf.length}`);
  const data = buf.subarray(start);
  if (createHash('sha256').update(data).digest('hex') !== header.sha256) fail('checksum mismatch (corrupt file)');
  const tables: Record<string, { values: Float32Array; state: Float32Array[] }> = {};
  for (const a of header.arrays) {
    const arr = new Float32Array(a.length);
    new Uint8Array(arr.buffer).set(data.subarray(a.offset, a.offset + a.length * 4));
    const t = (tables[a.table] ??= { values: new Float32Array(0), state: [] });
    if (a.slot < 0) t.values = arr;
    else t.state[a.slot] = arr;
  }
  return { meta: header.meta, store: { step: header.step, tables } };
}

function align8(n: number): number {
  return (n + 7) & ~7;
}
