import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { camrec } from '../helpers/cli.js';
import { tempDir, writeInter } from '../helpers/files.js';
import { randomDataset } from '../helpers/tiny.js';
import { probeNative } from '../../src/compute/native.js';
import { glibc } from '../helpers/platform.js';
import { heapGrowingPercent } from '../../src/compute/heap-growth.js';

const common = ['--batch', '256', '--lr', '0.01', '--dim', '16', '--threads', '2', '--backend', 'wasm'];

test('camrec train writes a complete run directory and one JSON line; eval reproduces the test metrics', async () => {
  const root = tempDir('cli');
  const dataDir = writeInter(root, randomDataset(150, 80, 10, 2));
  const out = join(root, 'run');
  const r = await camrec(['train', '--model', 'lightgcn', '--data', dataDir, '--epochs', '4', '--out', out, '--json', ...common]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, 'exactly one line on stdout');
  const res = JSON.parse(lines[0]);
  for (const f of ['config.json', 'metrics.jsonl', 'best.ckpt', 'last.ckpt', 'result.json', 'report.html']) assert.ok(existsSync(join(out, f)), f);
  const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.ok(html.includes(`Test recall@20 <strong>${result.test['recall@20'].toFixed(4)}</strong>`), 'report.html gives the test recall@20');
  assert.ok(html.includes(`<h1>lightgcn on ${result.dataset.name}</h1>`));
  assert.deepEqual(result.test, res.test);
  assert.equal(result.epochsRun, 4);
  assert.equal(result.provenance.backend, 'wasm');
  // src/compute/allocator.ts: set through the addon on glibc unless GLIBC_TUNABLES already sets malloc or CAMREC_NATIVE=0.
  const byEnv = (process.env.GLIBC_TUNABLES ?? '').includes('glibc.malloc.');
  const addon = process.env.CAMREC_NATIVE !== '0' && probeNative().kernels !== null;
  assert.equal(result.provenance.allocator, byEnv ? 'environment' : addon && glibc ? 'mallopt' : 'none');
  // src/compute/heap-growth.ts: 300 unless CAMREC_HEAP_GROWING_PERCENT says otherwise.
  assert.equal(result.provenance.heapGrowingPercent, heapGrowingPercent());
  assert.match(result.provenance.lockfileSha256, /^[0-9a-f]{64}$/);
  assert.match(result.dataset.checksum, /^[0-9a-f]{64}$/);
  assert.equal(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').length, 4);
  const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.equal(cfg.hyper.dim, 16);

  // a run without result.json (interrupted, or still training) is reported from metrics.jsonl and its checkpoint:
  // the same best epoch and test figures as result.json
  const partial = join(root, 'partial');
  mkdirSync(partial);
  for (const f of ['config.json', 'metrics.jsonl', 'last.ckpt']) copyFileSync(join(out, f), join(partial, f));
  const rep = await camrec(['report', partial]);
  assert.equal(rep.code, 0, rep.stderr);
  const partialHtml = readFileSync(join(partial, 'report.html'), 'utf8');
  assert.ok(partialHtml.includes(`the figures are those of the best validation epoch so far (${result.bestEpoch}), not final.`));
  assert.ok(partialHtml.includes(`Test recall@20 <strong>${result.test['recall@20'].toFixed(4)}</strong>, ndcg@20 <strong>${result.test['ndcg@20'].toFixed(4)}</strong>`));

  const ev = await camrec(['eval', '--checkpoint', join(out, 'best.ckpt'), '--json', '--threads', '1', '--backend', 'wasm']);
  assert.equal(ev.code, 0, ev.stderr);
  const evOut = JSON.parse(ev.stdout.trim());
  assert.equal(evOut.epoch, result.bestEpoch);
  for (const k of ['recall@20', 'ndcg@20', 'recall@50']) assert.ok(Math.abs(evOut.test[k] - result.test[k]) < 1e-9, `${k}: ${evOut.test[k]} vs ${result.test[k]}`);
});

test('several seeds give mean ± std in the top-level result.json', async () => {
  const root = tempDir('seeds');
  const dataDir = writeInter(root, randomDataset(100, 50, 8, 3));
  const out = join(root, 'run');
  const r = await camrec(['train', '--model', 'bpr', '--data', dataDir, '--bench-epochs', '2', '--seeds', '1,2,3', '--out', out, '--json', ...common]);
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
  assert.deepEqual(summary.seeds, [1, 2, 3]);
  const per = [1, 2, 3].map((s) => JSON.parse(readFileSync(join(out, `seed-${s}`, 'result.json'), 'utf8')).test['recall@20']);
  const mean = per.reduce((a, b) => a + b, 0) / 3;
  const std = Math.sqrt(per.reduce((a, b) => a + (b - mean) ** 2, 0) / 2);
  assert.ok(Math.abs(summary.test['recall@20'].mean - mean) < 1e-12);
  assert.ok(Math.abs(summary.test['recall@20'].std - std) < 1e-12);
  assert.equal(summary.test['recall@20'].n, 3);

  // camrec compare reads the folder train wrote: the same mean ± std, and seed 1 against itself is level at 0
  const cmp = await camrec(['compare', `all=${out}`, `one=${join(out, 'seed-1')}`, '--baseline', 'one', '--json']);
  assert.equal(cmp.code, 0, cmp.stderr);
  const c = JSON.parse(cmp.stdout.trim());
  assert.deepEqual(c.runs[0].seeds, [1, 2, 3]);
  assert.ok(Math.abs(c.runs[0].test['recall@20'].mean - mean) < 1e-12);
  assert.ok(Math.abs(c.runs[0].test['recall@20'].std - std) < 1e-12);
  const paired = c.paired.find((p: { metric: string }) => p.metric === 'recall@20');
  assert.deepEqual(paired.sharedSeeds, [1]);
  assert.equal(paired.difference.mean, 0);
  assert.equal(paired.separation, 'undecided');
  // report.html of the three seeds, and camrec report on one seed's folder
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.ok(html.includes('3 seeds (1, 2, 3), mean ± sample std'));
  assert.ok(html.includes(`Test recall@20 <strong>${mean.toFixed(4)} ± ${std.toFixed(4)}</strong>`), 'the seeds\' mean ± std');
  const rep = await camrec(['report', join(out, 'seed-2')]);
  assert.equal(rep.code, 0, rep.stderr);
  assert.equal(rep.stdout.trim(), join(out, 'seed-2', 'report.html'));
  assert.ok(readFileSync(join(out, 'seed-2', 'report.html'), 'utf8').includes(`Test recall@20 <strong>${per[1].toFixed(4)}</strong>`));
  const missing = await camrec(['report', join(root, 'nothing-here')]);
  assert.equal(missing.code, 2);
  assert.deepEqual(missing.stderr.trim().split('\n').filter((l) => l.startsWith('camrec:')), [`camrec: ${join(root, 'nothing-here')}: no such folder`]);

  const bad = await camrec(['compare', `all=${out},${join(out, 'seed-2')}`]);
  assert.equal(bad.code, 2);
  const errLines = bad.stderr.trim().split('\n').filter((l) => l.startsWith('camrec:'));
  assert.equal(errLines.length, 1, bad.stderr);
  assert.match(errLines[0], /seed-2\/result\.json \(field seed\): seed 2 also comes from/);
});

test('bad input stops with exit code 2 and one line naming the file, line and field', async () => {
  const root = tempDir('bad');
  const dataDir = writeInter(root, randomDataset(20, 10, 5, 1));
  const inter = join(dataDir, 'tiny.inter');
  const good = readFileSync(inter, 'utf8').split('\n');
  good[3] = '-4\t2\t1\t0\t0';
  writeFileSync(inter, good.join('\n'));
  const r = await camrec(['train', '--model', 'bpr', '--data', dataDir, '--out', join(root, 'run'), ...common]);
  assert.equal(r.code, 2);
  const errLines = r.stderr.trim().split('\n').filter((l) => l.startsWith('camrec:'));
  assert.equal(errLines.length, 1, r.stderr);
  assert.match(errLines[0], /tiny\.inter:4/);
  assert.match(errLines[0], /userID/);
});

test('an unknown model and an invalid flag are refused with exit code 2', async () => {
  const m = await camrec(['train', '--model', 'nope']);
  assert.equal(m.code, 2);
  assert.match(m.stderr, /unknown model 'nope'; known models: bpr, camrec, lightgcn/);
  const f = await camrec(['train', '--lr', 'fast']);
  assert.equal(f.code, 2);
  assert.match(f.stderr, /--lr: 'fast' is not a number/);
  const c = await camrec(['train', '--epochs', '0']);
  assert.equal(c.code, 2);
  assert.match(c.stderr, /config field 'epochs'/);
});
