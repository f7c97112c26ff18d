/**
 * A shard's checkpoint file (docs/paramserver.md): "CAMRECPS", a little-endian uint32 header length, a JSON
 * header, zero padding to 8 bytes, then the arrays (per held table: values, each optimizer state slot as float32,
 * the row versions as uint32). The header carries the shard's configuration, step, table versions, the applied
 * (task, attempt) keys and a sha256 of the array bytes, checked on read. Written atomically (temp file, fsync,
 * rename), so the file on disk is always the latest complete one.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../data/index.js';
import { CheckpointError } from '../errors/index.js';
import type { TableInit } from '../train/index.js';
import type { ShardConfig, ShardSnapshot, ShardTableDef } from './shard.js';

const MAGIC = 'CAMRECPS';
const FORMAT_VERSION = 1;

interface ArrayEntry {
  table: string;
  /** 'values', 'state<k>' or 'rowVersions'. */
  array: string;
  offset: number;
  length: number;
}

interface Header {
  format: string;
  version: number;
  config: Omit<ShardConfig, 'tables'> & { tables: (Omit<ShardTableDef, 'init'> & { init: Record<string, unknown> })[] };
  fingerprint: string;
  step: number;
  tableVersions: Record<string, number>;
  applied: ShardSnapshot['applied'];
  arrays: ArrayEntry[];
  dataBytes: number;
  sha256: string;
}

/** The file a shard keeps its latest checkpoint in. */
export function checkpointPath(dir: string, shard: number, shards: number): string {
  return join(dir, `shard-${shard}-of-${shards}.ckpt`);
}

/** Writes a snapshot atomically; returns the bytes written. */
export function writeShardCheckpoint(path: string, snap: ShardSnapshot): number {
  const arrays: ArrayEntry[] = [];
  const blobs: Uint8Array[] = [];
  let offset = 0;
  const add = (table: string, array: string, a: Float32Array | Uint32Array) => {
    arrays.push({ table, array, offset, length: a.length });
    blobs.push(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    offset += a.byteLength;
  };
  for (const t of snap.tables) {
    add(t.name, 'values', t.values);
    t.state.forEach((s, k) => add(t.name, `state${k}`, s));
    add(t.name, 'rowVersions', t.rowVersions);
  }
  const hash = createHash('sha256');
  for (const b of blobs) hash.update(b);
  const header: Header = {
    format: MAGIC,
    version: FORMAT_VERSION,
    // Initial values are not needed again: the arrays hold the current ones.
    config: { ...snap.config, tables: snap.config.tables.map((t) => ({ ...t, init: t.init.kind === 'values' ? { kind: 'values' } : t.init })) },
    fingerprint: snap.fingerprint,
    step: snap.step,
    tableVersions: Object.fromEntries(snap.tables.map((t) => [t.name, t.version])),
    applied: snap.applied,
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
  return prefix.length + offset;
}

/** Reads a checkpoint, or null when there is none; a damaged file is a CheckpointError naming it. */
export function readShardCheckpoint(path: string): ShardSnapshot | null {
  if (!existsSync(path)) return null;
  const buf = readFileSync(path);
  const fail = (why: string): never => {
    throw new CheckpointError(`${path}: ${why}`);
  };
  if (buf.length < 12 || buf.toString('latin1', 0, 8) !== MAGIC) fail('not a camrec parameter-server checkpoint');
  const len = buf.readUInt32LE(8);
  if (12 + len > buf.length) fail('truncated header');
  const header = JSON.parse(buf.toString('utf8', 12, 12 + len)) as Header;
  if (header.version !== FORMAT_VERSION) fail(`format version ${header.version}, this build reads ${FORMAT_VERSION}`);
  const start = align8(12 + len);
  if (buf.length !== start + header.dataBytes) fail(`expected ${start + header.dataBytes} bytes, found ${buf.length}`);
  // Copy the data section to an aligned buffer of its own; typed arrays view it in place.
  const data = new Uint8Array(header.dataBytes);
  data.set(buf.subarray(start));
  if (createHash('sha256').update(data).digest('hex') !== header.sha256) fail('checksum mismatch');
  const arrayOf = (e: ArrayEntry) =>
    e.array === 'rowVersions' ? new Uint32Array(data.buffer, e.offset, e.length) : new Float32Array(data.buffer, e.offset, e.length);
  const byTable = new Map<string, ArrayEntry[]>();
  for (const e of header.arrays) byTable.set(e.table, [...(byTable.get(e.table) ?? []), e]);
  const tables = [...byTable].map(([name, entries]) => ({
    name,
    version: header.tableVersions[name] ?? fail(`no version for table ${name}`),
    values: arrayOf(entries.find((e) => e.array === 'values') ?? fail(`no values for table ${name}`)) as Float32Array,
    state: entries.filter((e) => e.array.startsWith('state')).map((e) => arrayOf(e) as Float32Array),
    rowVersions: arrayOf(entries.find((e) => e.array === 'rowVersions') ?? fail(`no row versions for table ${name}`)) as Uint32Array,
  }));
  const tablesConfig = header.config.tables.map((t) => ({ ...t, init: (t.init.kind === 'values' ? { kind: 'values', values: new Float32Array(0) } : t.init) as TableInit }));
  const config: ShardConfig = { ...header.config, tables: tablesConfig };
  return { config, fingerprint: header.fingerprint, step: header.step, tables, applied: header.applied };
}

function align8(n: number): number {
  return (n + 7) & ~7;
}
