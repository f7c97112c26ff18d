import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (two folders above bench/lib). */
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** The shared folder with `datasets/` and `peers/`, beside the repository unless given. */
export function sharedDir(given?: string): string {
  return resolve(given ?? resolve(repoRoot, '../shared'));
}
