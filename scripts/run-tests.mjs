#!/usr/bin/env node
// Runs every test file under test/ and bench/test/ (the bench's own helpers) with Node's test runner, TypeScript
// loaded through tsx.
// Node 20's --test takes no globs, so the files are listed here.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return find(p);
    return p.endsWith('.test.ts') ? [p] : [];
  });
}

const filter = process.argv.slice(2);
const files = [...find('test'), ...find(join('bench', 'test'))].filter((f) => filter.length === 0 || filter.some((s) => f.includes(s))).sort();
const res = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', ...files],
  { stdio: 'inherit' },
);
process.exit(res.status ?? 1);
