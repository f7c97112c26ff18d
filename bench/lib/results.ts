import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './paths.js';

export const resultsDir = join(repoRoot, 'bench', 'results');

/** A file-name timestamp in UTC, e.g. 20261125-041300. */
export function timestamp(d = new Date()): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
}

function writeAtomic(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

/** Writes `bench/results/<suite>-<timestamp>.json` and the same content as `latest.json`; returns the first path. */
export function writeResults(suite: string, result: unknown, at = new Date()): string {
  mkdirSync(resultsDir, { recursive: true });
  const text = `${JSON.stringify(result, null, 2)}\n`;
  const path = join(resultsDir, `${suite}-${timestamp(at)}.json`);
  writeAtomic(path, text);
  writeAtomic(join(resultsDir, 'latest.json'), text);
  return path;
}
