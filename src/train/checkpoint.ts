/**
 * Checkpoint files: "CAMRECK1", a little-endian uint32 header length, a JSON header, zero padding to 8 bytes,
 * then float32 arrays (parameters and optimizer state of every table). The header carries the training state
 * (epoch, early stopping, the generator's position is the epoch since draws are keyed by it) and a sha256 of
 * the array bytes, checked on read. Files are written atomically.
 */
import { FramedData, readFramed, writeFramed, type FramedSpan } from '../data/index.js';
import { CheckpointError } from '../errors/index.js';
import type { StoreState } from './paramstore.js';

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

interface ArrayEntry extends FramedSpan {
  table: string;
  slot: number; // -1: values, k >= 0: optimizer state k
}

interface Header {
  format: string;
  version: number;
  meta: CheckpointMeta;
  step: number;
  arrays: ArrayEntry[];
}

export function writeCheckpoint(path: string, ckpt: Checkpoint): void {
  const data = new FramedData();
  const arrays: ArrayEntry[] = [];
  for (const [name, t] of Object.entries(ckpt.store.tables)) {
    arrays.push({ table: name, slot: -1, ...data.span(t.values) });
    t.state.forEach((s, k) => arrays.push({ table: name, slot: k, ...data.span(s) }));
  }
  const header: Header = { format: MAGIC, version: VERSION, meta: ckpt.meta, step: ckpt.store.step, arrays };
  writeFramed(path, MAGIC, header, data);
}

export function readCheckpoint(path: string): Checkpoint {
  const { header, data } = readFramed<Header>(path, MAGIC, 'camrec checkpoint', VERSION);
  const tables: Record<string, { values: Float32Array; state: Float32Array[] }> = {};
  for (const a of header.arrays) {
    const arr = new Float32Array(data.buffer, a.offset, a.length);
    const t = (tables[a.table] ??= { values: new Float32Array(0), state: [] });
    if (a.slot < 0) t.values = arr;
    else t.state[a.slot] = arr;
  }
  return { meta: header.meta, store: { step: header.step, tables } };
}

/**
 * What a run resumes under: its model, training identity, data and its model's resolved hyper-parameters, and the
 * names of the tables its model declares (checked when given).
 */
export type ResumeIdentity = Pick<CheckpointMeta, 'model' | 'configHash' | 'datasetChecksum' | 'hyper'> & { readonly tables?: readonly string[] };

/**
 * A checkpoint to resume from: refused (one line naming the field) unless it was written for this run. The
 * hyper-parameters are compared as resolved, defaults filled in: the training identity hashes the config as
 * given, so a model default that changed between a run's start and its resume would otherwise go on unnoticed
 * under the new value, and the run's result.json would name a setting half its epochs never had.
 */
export function readMatchingCheckpoint(path: string, fresh: ResumeIdentity): Checkpoint {
  const ckpt = readCheckpoint(path);
  for (const key of ['model', 'configHash', 'datasetChecksum'] as const) {
    if (ckpt.meta[key] !== fresh[key]) {
      throw new CheckpointError(`${path}: was written with another ${key} (${String(ckpt.meta[key])} ≠ ${String(fresh[key])})`);
    }
  }
  const changed = hyperDifferences(ckpt.meta.hyper ?? {}, fresh.hyper);
  if (changed.length > 0) {
    const [key, was, now] = changed[0];
    const more = changed.length > 1 ? ` (and ${changed.length - 1} more)` : '';
    throw new CheckpointError(
      `${path}: was written with hyper ${key}=${was}, this run resolves ${key}=${now}${more} (a default changed since?); ` +
        `resume with --hyper ${key}=${was} to continue it as it was`,
    );
  }
  if (fresh.tables) {
    // an option added since whose default drops or adds a table would pass the hyper check (the checkpoint does
    // not name it) and then lose or invent a table's values: refuse instead
    const written = Object.keys(ckpt.store.tables).sort();
    const extra = written.filter((t) => !fresh.tables!.includes(t));
    const missing = fresh.tables.filter((t) => !written.includes(t));
    if (extra.length > 0 || missing.length > 0) {
      const what = extra.length > 0 ? `holds table ${extra[0]}, which this run's model does not declare` : `lacks table ${missing[0]}, which this run's model declares`;
      throw new CheckpointError(`${path}: ${what} (a default changed since? resume with the hyper-parameters it was written with)`);
    }
  }
  return ckpt;
}

/**
 * [key, written, now] for every hyper-parameter the checkpoint names whose value differs (JSON-compared), in key
 * order. One the checkpoint does not name is an option added since, whose default keeps what the run did before.
 */
function hyperDifferences(written: Record<string, unknown>, now: Record<string, unknown>): [string, string, string][] {
  const show = (v: unknown) => (v === undefined ? '(none)' : JSON.stringify(v));
  return Object.keys(written)
    .sort()
    .filter((k) => show(written[k]) !== show(now[k]))
    .map((k) => [k, show(written[k]), show(now[k])]);
}
