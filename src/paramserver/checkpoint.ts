/**
 * A shard's checkpoint file (docs/paramserver.md): "CAMRECPS", a little-endian uint32 header length, a JSON
 * header, zero padding to 8 bytes, then the arrays (per held table: values, each optimizer state slot as float32,
 * the row versions as uint32). The header carries the shard's configuration, step, table versions, the applied
 * (task, attempt) keys and a sha256 of the array bytes, checked on read. Written atomically (temp file, fsync,
 * rename), so the file on disk is always the latest complete one.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FramedData, readFramed, writeFramed, type FramedSpan } from '../data/index.js';
import { CheckpointError } from '../errors/index.js';
import type { TableInit } from '../train/index.js';
import type { ShardConfig, ShardSnapshot, ShardTableDef } from './shard.js';

const MAGIC = 'CAMRECPS';
const FORMAT_VERSION = 1;

interface ArrayEntry extends FramedSpan {
  table: string;
  /** 'values', 'state<k>' or 'rowVersions'. */
  array: string;
}

interface Header {
  format: string;
  version: number;
  config: Omit<ShardConfig, 'tables'> & { tables: (Omit<ShardTableDef, 'init'> & { init: Record<string, unknown> })[] };
  fingerprint: string;
  step: number;
  tableVersions: Record<string, number>;
  applied: ShardSnapshot['applied'];
  /** Absent in checkpoints written before coordinator generations existed (read as 0). */
  generation?: number;
  arrays: ArrayEntry[];
}

/** The file a shard keeps its latest checkpoint in. */
export function checkpointPath(dir: string, shard: number, shards: number): string {
  return join(dir, `shard-${shard}-of-${shards}.ckpt`);
}

/** Writes a snapshot atomically; returns the bytes written. */
export function writeShardCheckpoint(path: string, snap: ShardSnapshot): number {
  const data = new FramedData();
  const arrays: ArrayEntry[] = [];
  for (const t of snap.tables) {
    arrays.push({ table: t.name, array: 'values', ...data.span(t.values) });
    t.state.forEach((s, k) => arrays.push({ table: t.name, array: `state${k}`, ...data.span(s) }));
    arrays.push({ table: t.name, array: 'rowVersions', ...data.span(t.rowVersions) });
  }
  const header: Header = {
    format: MAGIC,
    version: FORMAT_VERSION,
    // Initial values are not needed again: the arrays hold the current ones.
    config: { ...snap.config, tables: snap.config.tables.map((t) => ({ ...t, init: t.init.kind === 'values' ? { kind: 'values' } : t.init })) },
    fingerprint: snap.fingerprint,
    step: snap.step,
    tableVersions: Object.fromEntries(snap.tables.map((t) => [t.name, t.version])),
    applied: snap.applied,
    generation: snap.generation ?? 0,
    arrays,
  };
  return writeFramed(path, MAGIC, header, data);
}

/** Reads a checkpoint, or null when there is none; a damaged file is a CheckpointError naming it. */
export function readShardCheckpoint(path: string): ShardSnapshot | null {
  if (!existsSync(path)) return null;
  const { header, data } = readFramed<Header>(path, MAGIC, 'camrec parameter-server checkpoint', FORMAT_VERSION);
  const fail = (why: string): never => {
    throw new CheckpointError(`${path}: ${why}`);
  };
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
  return { config, fingerprint: header.fingerprint, step: header.step, tables, applied: header.applied, generation: header.generation ?? 0 };
}
