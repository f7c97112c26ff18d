import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** The package root (two folders above this file, from src/cli or dist/cli). */
export const packageRoot = fileURLToPath(new URL('../..', import.meta.url));

export function gitCommit(): string | null {
  try {
    const out = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: packageRoot, stdio: ['ignore', 'pipe', 'ignore'] });
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd: packageRoot,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return `${out.toString().trim()}${dirty.length > 0 ? '-dirty' : ''}`;
  } catch {
    return null;
  }
}

export function lockfileHash(): string | null {
  try {
    return createHash('sha256').update(readFileSync(join(packageRoot, 'package-lock.json'))).digest('hex');
  } catch {
    return null;
  }
}

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}
