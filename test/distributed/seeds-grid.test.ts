/**
 * `camrec train --distributed local:W:S` with several seeds and a grid runs one cluster job per grid point and per
 * seed, into the run directories a single-process run writes (grid/<point>/, seed-<n>/, grid.json, a summary
 * result.json), selects the same grid point on valid and gives each seed the metrics of one process. `--resume`
 * keeps finished seeds. A coordinator alone refuses several seeds or a grid: it runs one job.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { checkDistributable } from '../../src/cli/local-cluster.js';
import { trainConfig } from '../../src/config/index.js';
import { camrec } from '../helpers/cli.js';
import { tempDir, writeInter } from '../helpers/files.js';
import { randomDataset } from '../helpers/tiny.js';

let dataDir = '';
const common = ['--model', 'bpr', '--epochs', '2', '--batch', '64', '--dim', '8', '--seeds', '1,2', '--grid', 'reg=0.0001,0.5'];
const runtime = ['--backend', 'wasm', '--threads', '1', '--no-native', '--json'];

before(() => {
  dataDir = writeInter(tempDir('seeds-grid-data'), randomDataset(80, 90, 6, 4));
});

const json = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
const metrics = (r: Record<string, unknown>, split: 'valid' | 'test') => r[split] as Record<string, number>;

function assertClose(got: Record<string, number>, want: Record<string, number>, what: string): void {
  assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort(), what);
  for (const [k, v] of Object.entries(want)) assert.ok(Math.abs(got[k] - v) <= 1e-6 * Math.max(1, Math.abs(v)), `${what} ${k}: ${got[k]} vs one process ${v}`);
}

test('--distributed local:1:1 with --seeds and --grid: one process\'s directories, selection and per-seed metrics; --resume keeps them', async () => {
  const single = join(tempDir('sg-single'), 'run');
  const dist = join(tempDir('sg-dist'), 'run');
  const [one, two] = await Promise.all([
    camrec(['train', ...common, '--data', dataDir, '--out', single, ...runtime]),
    camrec(['train', ...common, '--data', dataDir, '--out', dist, '--distributed', 'local:1:1', ...runtime]),
  ]);
  assert.equal(one.code, 0, one.stderr);
  assert.equal(two.code, 0, two.stderr);
  const line = JSON.parse(two.stdout.trim().split('\n').at(-1)!) as { out: string; seeds: number[]; runs: string[] };
  assert.deepEqual([line.out, line.seeds, line.runs], [dist, [1, 2], ['seed-1', 'seed-2']]);
  for (const f of ['config.json', 'result.json', 'grid.json', 'grid/reg=0.0001/result.json', 'grid/reg=0.5/result.json', 'seed-1/result.json', 'seed-2/metrics.jsonl', 'seed-2/best.ckpt', 'report.html']) {
    assert.ok(existsSync(join(dist, f)), `${f} written`);
  }
  const [ga, gb] = [json(join(single, 'grid.json')), json(join(dist, 'grid.json'))];
  assert.deepEqual(gb.selected, ga.selected, 'the same point selected on valid');
  for (const seed of [1, 2]) {
    const [a, b] = [json(join(single, `seed-${seed}`, 'result.json')), json(join(dist, `seed-${seed}`, 'result.json'))];
    assert.deepEqual([b.seed, b.epochsRun, b.bestEpoch, b.hyper], [a.seed, a.epochsRun, a.bestEpoch, a.hyper]);
    assertClose(metrics(b, 'valid'), metrics(a, 'valid'), `seed ${seed} valid`);
    assertClose(metrics(b, 'test'), metrics(a, 'test'), `seed ${seed} test`);
    assert.equal((b.provenance as { distributed?: { shards: number } }).distributed?.shards, 1, 'trained through the cluster');
  }
  const summary = json(join(dist, 'result.json'));
  assert.deepEqual(summary.seeds, [1, 2]);

  const again = await camrec(['train', ...common, '--data', dataDir, '--out', dist, '--distributed', 'local:1:1', '--resume', ...runtime, '--log-level', 'debug']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stderr.split('\n').filter((l) => l.includes('already finished: kept')).length, 4, 'two grid points and two seeds kept');
  assert.ok(again.stderr.includes('"selected"') && !again.stderr.includes('"children started"'), 'the grid was selected again and no cluster was started');
  assert.deepEqual(json(join(dist, 'result.json')), summary);
});

test('a coordinator runs one job: several seeds or a grid are refused, naming the flag; bench mode is refused everywhere', () => {
  const cfg = (extra: Record<string, unknown>) => trainConfig.parse({ data: dataDir, ...extra });
  assert.throws(() => checkDistributable(cfg({ seeds: [1, 2] }), 'camrec coordinator', true), /camrec coordinator: --seeds needs camrec train --distributed/);
  assert.throws(() => checkDistributable(cfg({ grid: { reg: [0.1, 0.2] } }), 'camrec coordinator', true), /--grid needs camrec train --distributed/);
  assert.doesNotThrow(() => checkDistributable(cfg({ seeds: [1, 2], grid: { reg: [0.1, 0.2] } }), '--distributed'));
  assert.throws(() => checkDistributable(cfg({ benchEpochs: 2 }), '--distributed'), /--bench-epochs is not supported/);
});
