/**
 * The allocator settings every camrec command makes at start (src/compute/allocator.ts): the addon's mallopt
 * takes them, refuses what glibc refuses, and does what it is for — in a real child process, rounds of three
 * 8 MiB buffers allocated, written and freed fault fresh pages in every round with glibc's defaults and reuse
 * the heap once tuned (page-fault counts from /proc, not times).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { ALLOCATOR_TUNABLES, MMAP_THRESHOLD, TRIM_THRESHOLD, tuneAllocator } from '../../src/compute/allocator.js';
import { defaultAddonPath, type NativeKernels } from '../../src/compute/native.js';
import { glibc } from '../helpers/platform.js';
import { nativeFor } from './fixtures.js';

const run = promisify(execFile);

test('tuneAllocator: glibc takes the thresholds; the arguments are checked', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  assert.equal(native.tuneAllocator(MMAP_THRESHOLD, TRIM_THRESHOLD), glibc);
  assert.throws(() => native.tuneAllocator(0, TRIM_THRESHOLD), RangeError);
  assert.throws(() => native.tuneAllocator(MMAP_THRESHOLD, 1.5), RangeError);
  assert.throws(() => (native.tuneAllocator as (...a: unknown[]) => boolean)('32M', TRIM_THRESHOLD), TypeError);
});

test('tuneAllocator (TS): leaves a GLIBC_TUNABLES malloc setting alone, needs the addon, else calls mallopt with the constants', () => {
  const calls: number[][] = [];
  const fake = { tuneAllocator: (a: number, b: number) => (calls.push([a, b]), true) } as unknown as NativeKernels;
  assert.equal(tuneAllocator(fake, { GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }), 'environment');
  assert.equal(calls.length, 0);
  assert.equal(tuneAllocator(null, {}), 'none');
  assert.equal(tuneAllocator(fake, { GLIBC_TUNABLES: 'glibc.pthread.rseq=0' }), 'mallopt');
  assert.deepEqual(calls, [[MMAP_THRESHOLD, TRIM_THRESHOLD]]);
  assert.equal(ALLOCATOR_TUNABLES, 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456');
});

const CHILD = `
const native = require(${JSON.stringify(defaultAddonPath())});
if (process.argv[1] === 'tuned') native.tuneAllocator(${MMAP_THRESHOLD}, ${TRIM_THRESHOLD});
const minflt = () => Number(require('fs').readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')[7]);
const round = () => { let b = [1, 2, 3].map(() => Buffer.allocUnsafe(8 << 20).fill(1)); b = null; globalThis.gc(); };
round(); round();
const f0 = minflt();
for (let i = 0; i < 10; i++) round();
process.stdout.write(String((minflt() - f0) / 10));
`;

async function faultsPerRound(mode: 'default' | 'tuned', tunables?: string): Promise<number> {
  const env = { ...process.env, GLIBC_TUNABLES: tunables ?? '' };
  const { stdout } = await run(process.execPath, ['--expose-gc', '-e', CHILD, mode], { env });
  return Number(stdout);
}

test('the tuned allocator reuses multi-megabyte buffers instead of faulting fresh pages each time', async (t) => {
  const native = nativeFor(t);
  if (!native) return;
  if (!glibc) {
    assert.equal(native.tuneAllocator(MMAP_THRESHOLD, TRIM_THRESHOLD), false, 'not glibc: nothing to tune');
    return;
  }
  const pages = (8 << 20) / 4096; // one buffer's pages
  const defaults = await faultsPerRound('default');
  const tuned = await faultsPerRound('tuned');
  const byEnvironment = await faultsPerRound('default', ALLOCATOR_TUNABLES);
  assert.ok(defaults > 1.5 * pages, `glibc's defaults: ${defaults} faults per round of three 8 MiB buffers`);
  assert.ok(tuned < pages, `tuned by mallopt: ${tuned} faults per round`);
  assert.ok(byEnvironment < pages, `tuned by GLIBC_TUNABLES=${ALLOCATOR_TUNABLES}: ${byEnvironment} faults per round`);
});
