/** Shared by the data-layer tests: temp folders, raw .npy files and exact DataError checks. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DataError, formatLocation, type DataLocation } from '../../src/errors/index.js';
import { encodeNpyHeader } from '../../src/data/index.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The real datasets (DESIGN.md §2: `../shared/datasets` beside the repository). */
export const SHARED_DATASETS = resolve(REPO_ROOT, '../shared/datasets');

/** A fresh temp folder, removed when the test file ends. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'camrec-data-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `content` to dir/name and returns the path. */
export function put(dir: string, name: string, content: string | Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** A .npy file's bytes: numpy's header for (descr, shape, fortranOrder) followed by `payload`. */
export function npyBytes(descr: string, shape: number[], payload: Uint8Array, opts: { fortranOrder?: boolean; version?: 1 | 2 | 3 } = {}): Uint8Array {
  const head = encodeNpyHeader({ descr, fortranOrder: opts.fortranOrder ?? false, shape }, opts.version);
  const out = new Uint8Array(head.length + payload.length);
  out.set(head);
  out.set(payload, head.length);
  return out;
}

/** Little-endian bytes of `values`, each written by `set` (e.g. DataView.prototype.setUint16) in `size` bytes. */
export function leBytes<T>(values: readonly T[], size: number, set: (view: DataView, offset: number, value: T) => void): Uint8Array {
  const out = new Uint8Array(values.length * size);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => set(view, i * size, v));
  return out;
}

/**
 * Asserts that `run` throws (or rejects with) a DataError at exactly `where`, whose message is
 * "<file>[:line][ (field f)]: <reason>" with the reason matching `reason`.
 */
export async function assertDataError(run: () => unknown, where: DataLocation, reason: RegExp): Promise<void> {
  let caught: unknown;
  try {
    await run();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof DataError, `expected a DataError, got ${String(caught)}`);
  assert.deepEqual(caught.location, where);
  const prefix = `${formatLocation(where)}: `;
  assert.ok(caught.message.startsWith(prefix), `message ${JSON.stringify(caught.message)} should start with ${JSON.stringify(prefix)}`);
  assert.match(caught.message.slice(prefix.length), reason);
}
