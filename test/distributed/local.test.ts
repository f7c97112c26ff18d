/**
 * `camrec train --distributed local:2:2` end to end: shards, a coordinator and workers as child processes of the
 * CLI; the run directory has the files and result.json the fields of a single-process run, the epochs' losses are
 * one process's, and no child outlives the command. Its evaluation, sharded over the two workers, gives the
 * metrics of the same job evaluated on the coordinator (`--eval-on-coordinator`) and of one process.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { camrec, type CliResult } from '../helpers/cli.js';
import { tempDir, writeInter } from '../helpers/files.js';
import { randomDataset } from '../helpers/tiny.js';
import { localWorkerThreads } from '../../src/cli/local-cluster.js';

let dataDir = '';
const common = ['--model', 'lightgcn', '--epochs', '2', '--batch', '64', '--dim', '8', '--seed', '3', '--backend', 'wasm', '--threads', '1', '--no-native'];

before(() => {
  dataDir = writeInter(tempDir('local-data'), randomDataset(80, 90, 6, 2));
});

/** The single-process run, the distributed one (evaluation sharded) and the same with evaluation on the coordinator. */
interface Runs {
  readonly single: string;
  readonly dist: string;
  readonly onCoordinator: string;
  readonly one: CliResult;
  readonly two: CliResult;
  readonly three: CliResult;
}

let runs: Promise<Runs> | null = null;

/** The three runs, at once (started by the first test that needs them). */
function runAll(): Promise<Runs> {
  runs ??= (async () => {
    const single = join(tempDir('local-single'), 'run');
    const dist = join(tempDir('local-dist'), 'run');
    const onCoordinator = join(tempDir('local-coord'), 'run');
    const distributed = ['--distributed', 'local:2:2', '--tasks-per-step', '3'];
    const [one, two, three] = await Promise.all([
      camrec(['train', ...common, '--data', dataDir, '--out', single, '--json']),
      camrec(['train', ...common, '--data', dataDir, '--out', dist, ...distributed]),
      camrec(['train', ...common, '--data', dataDir, '--out', onCoordinator, ...distributed, '--eval-on-coordinator']),
    ]);
    return { single, dist, onCoordinator, one, two, three };
  })();
  return runs;
}

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
  const { single, dist, one, two } = await runAll();
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

/** |a − b| ≤ rel · max(|a|, |b|) for every metric; the same metric names. */
function assertMetricsClose(a: unknown, b: unknown, rel: number, what: string): void {
  const [x, y] = [a as Record<string, number>, b as Record<string, number>];
  assert.deepEqual(Object.keys(x).sort(), Object.keys(y).sort(), `${what}: the same metrics`);
  for (const [k, v] of Object.entries(y)) assert.ok(Math.abs(x[k] - v) <= rel * Math.max(Math.abs(x[k]), Math.abs(v)), `${what} ${k}: ${x[k]} vs ${v}`);
}

/** The workers' 'evaluated range' log lines (pino JSON on the launcher's stderr). */
function evaluatedRanges(stderr: string): { worker: string; range: string; accepted: boolean }[] {
  return stderr.split('\n').filter((l) => l.includes('"evaluated range"')).map((l) => JSON.parse(l) as { worker: string; range: string; accepted: boolean });
}

test('evaluation sharded over the two workers gives the metrics of the coordinator evaluating alone (1e-9) and of one process (1e-5)', async () => {
  const { single, dist, onCoordinator, one, two, three } = await runAll();
  for (const r of [one, two, three]) assert.equal(r.code, 0, r.stderr);
  const [ls, ld, lc] = [lines(single), lines(dist), lines(onCoordinator)];
  assert.equal(ld.length, 2);
  assert.ok(ld[0].test, 'epoch 1 improved (the first evaluation always does): test was evaluated');
  ld.forEach((l, k) => {
    for (const split of ['valid', 'test'] as const) {
      assert.equal(l[split] === undefined, lc[k][split] === undefined, `epoch ${k + 1}: ${split} evaluated in both runs`);
      if (l[split] === undefined) continue;
      assertMetricsClose(l[split], lc[k][split], 1e-9, `epoch ${k + 1} ${split}, sharded vs on the coordinator`);
      assertMetricsClose(l[split], ls[k][split], 1e-5, `epoch ${k + 1} ${split}, sharded vs one process`);
    }
    // 80 users with ground truth in each split: 2 ranges for each of the 2 workers, each worker's reports merged.
    const shardedSplits = { valid: { ranges: 4, workers: ['local-0', 'local-1'] }, ...(l.test ? { test: { ranges: 4, workers: ['local-0', 'local-1'] } } : {}) };
    assert.deepEqual((l.distributed as Record<string, unknown>).evaluation, shardedSplits, `epoch ${k + 1}: the workers evaluated`);
    assert.equal((lc[k].distributed as Record<string, unknown>).evaluation, undefined, `epoch ${k + 1}: --eval-on-coordinator kept evaluation on the coordinator`);
  });
  const [rd, rc] = [dist, onCoordinator].map((d) => JSON.parse(readFileSync(join(d, 'result.json'), 'utf8')) as Record<string, unknown>);
  assertMetricsClose(rd.test, rc.test, 1e-9, 'result.json test');
  assertMetricsClose(rd.valid, rc.valid, 1e-9, 'result.json valid');

  const reported = evaluatedRanges(two.stderr);
  const ranges = ld.reduce((n, l) => n + (l.test ? 8 : 4), 0);
  assert.equal(reported.filter((r) => r.accepted).length, ranges, 'every range evaluated and accepted once');
  for (const w of ['local-0', 'local-1']) assert.ok(reported.some((r) => r.worker === w), `${w} evaluated ranges`);
  assert.deepEqual(evaluatedRanges(three.stderr), [], 'no worker evaluates with --eval-on-coordinator');
});

test('--threads is the local run\'s budget: each of W workers gets ⌊T/W⌋ threads, at least 1, and 1 without --threads', () => {
  assert.equal(localWorkerThreads(undefined, 2), 1);
  assert.equal(localWorkerThreads(2, 2), 1);
  assert.equal(localWorkerThreads(2, 1), 2);
  assert.equal(localWorkerThreads(16, 4), 4);
  assert.equal(localWorkerThreads(7, 2), 3);
  assert.equal(localWorkerThreads(1, 3), 1);
});

test('--distributed refuses a malformed layout and what it does not support yet, with exit code 2', async () => {
  const bad = await camrec(['train', ...common, '--data', dataDir, '--distributed', 'local:2']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--distributed: 'local:2' is not local:W:S/);
  const bench = await camrec(['train', ...common, '--data', dataDir, '--distributed', 'local:1:1', '--bench-epochs', '1']);
  assert.equal(bench.code, 2);
  assert.match(bench.stderr, /--bench-epochs is not supported in distributed training yet/);
  const grid = await camrec(['train', ...common, '--data', dataDir, '--distributed', 'local:1:1', '--grid', 'nope=1,2']);
  assert.equal(grid.code, 2, 'a grid over an unknown hyper-parameter is refused before any cluster starts');
  assert.match(grid.stderr, /hyper-parameter/);
  const wire = await camrec(['train', ...common, '--data', dataDir, '--distributed', 'local:1:1', '--wire', 'f8']);
  assert.equal(wire.code, 2);
  assert.match(wire.stderr, /--wire <encoding>' argument 'f8' is invalid\. Allowed choices are f32, bf16, f16/);
  const alone = await camrec(['train', ...common, '--data', dataDir, '--wire', 'bf16']);
  assert.equal(alone.code, 2);
  assert.match(alone.stderr, /flag --wire needs --distributed local:W:S/);
});
