/** Writes datasets to real files in MMRec layout for end-to-end tests. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Dataset } from '../../src/data/types.js';

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `camrec-${prefix}-`));
}

/** `<dir>/<name>/<name>.inter` with the dataset's three splits. */
export function writeInter(root: string, data: Dataset, name = 'tiny'): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const lines = ['userID\titemID\trating\ttimestamp\tx_label'];
  const add = (s: Dataset['train'], label: number) => {
    for (let k = 0; k < s.users.length; k++) lines.push(`${s.users[k]}\t${s.items[k]}\t1\t0\t${label}`);
  };
  add(data.train, 0);
  add(data.valid, 1);
  add(data.test, 2);
  writeFileSync(join(dir, `${name}.inter`), `${lines.join('\n')}\n`);
  return dir;
}
