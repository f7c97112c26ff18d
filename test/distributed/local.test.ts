/**
 * `camrec train --distributed local:2:2` end to end: shards, a coordinator and workers as child processes of the
 * CLI; the run directory has the files and result.json the fields of a single-process run, the epochs' losses are
 * one process's, and no child outlives the command.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { camrec } from '../helpers/cli.js';
import { tempDir, writeInter } from '../helpers/files.js';
import { randomDataset } from '../helpers/tiny.js';

let dataDir = '';
const common = ['--model', 'lightgcn', '--epochs', '2', '--batch', '64', '--dim', '8', '--seed', '3', '--backend', 'wasm', '--threads', '1', '--no-native'];

before(() => {
  dataDir = writeInter(tempDir('local-data'), randomDataset(80, 90, 6, 2));
});

const lines = (dir: string) => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('--distributed local:2:2 writes the run directory of a single-process run, with its losses, and leaves no process behind', async () => {
  const single = join(tempDir('local-single'), 'run');
  const dist = join(tempDir('local-dist'), 'run');
  const [one, two] = await Promise.all([
    camrec(['train', ...common, '--data', dataDir, '--out', single, '--json']),
    camrec(['train', ...common, '--data', dataDir, '--out', dist, '--distributed', 'local:2:2', '--tasks-per-step', '3']),
  ]);
  assert.equal(one.code, 0, one.stderr);
  assert.equal(two.code, 0, two.stderr);
  for (const f of ['config.json', 'metrics.jsonl', 'result.json', 'best.ckpt', 'last.ckpt']) assert.ok(existsSync(join(dist, f)), `${f} written`);
  const a = JSON.parse(readFileSync(join(single, 'result.json'), 'utf8')) as Record<string, unknown>;
  const b = JSON.parse(readFileSync(join(dist, 'result.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort());
  assert.deepEqual(Object.keys(b.test as object).sort(), Object.keys(a.test as object).sort());
  assert.deepEqual([b.model, b.epochsRun, b.stoppedBy, b.dataset], [a.model, a.epochsRun, a.stoppedBy, a.dataset]);
  const [la, lb] = [lines(single), lines(dist)];
  assert.equal(lb.length, la.length);
  la.forEach((l, k) => assert.ok(Math.abs((lb[k].loss as number) - (l.loss as number)) <= 1e-5 * (l.loss as number), `epoch ${k + 1}: ${lb[k].loss} vs ${l.loss}`));
  const { distributed } = (b.provenance as Record<string, Record<string, unknown>>);
  assert.deepEqual([distributed.shards, distributed.tasksPerStep], [2, 3]);
  const started = two.stderr.split('\n').filter((l) => l.includes('"children started"')).map((l) => JSON.parse(l) as { pids: number[] });
  assert.equal(started.length, 1);
  assert.equal(started[0].pids.length, 5, 'two shards, a coordinator and two workers');
  assert.deepEqual(started[0].pids.filter(alive), [], 'no child is left running');
});

test('--distributed refuses a malformed layout and what it does not support yet, with exit code 2', async () => {
  const bad = await camrec(['train', ...common, '--data', dataDir, '--distributed', 'local:2']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--distributed: 'local:2' is not local:W:S/);
  const seeds = await camrec(['train', ...common, '--data', dataDir, '--distributed', 'local:1:1', '--seeds', '1,2']);
  assert.equal(seeds.code, 2);
  assert.match(seeds.stderr, /--seeds is not supported in distributed training yet/);
});
