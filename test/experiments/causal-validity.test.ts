import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ValiditySummary } from '../../experiments/validity/summary.js';
import { tempDir } from '../helpers/files.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

function harness(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'experiments/causal-validity.ts', ...args], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stderr }));
  });
}

test('causal-validity on the tiny preset, 1 seed, 1 epoch: every file written, every figure finite; a rerun skips the seed; a record without the backbone gains it', async () => {
  const out = join(tempDir('validity'), 'cv');
  const args = ['--seeds', '1', '--out', out, '--preset', 'tiny', '--epochs', '1', '--hyper', 'codebookSize=6', '--threads', '1', '--backend', 'wasm', '--log-level', 'warn'];
  const r = await harness(args);
  assert.equal(r.code, 0, r.stderr);
  for (const f of ['setup.json', 'summary.json', 'summary.md', 'summary.svg', 'seed-1/figures.json', 'seed-1/camrec/best.ckpt', 'seed-1/lightgcn/best.ckpt', 'seed-1/backbone/result.json', 'seed-1/sim-s1/ground_truth.json']) {
    assert.ok(existsSync(join(out, f)), f);
  }
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as ValiditySummary;
  assert.deepEqual(summary.seeds, [1]);
  const keys = Object.keys(summary.perSeed);
  for (const k of ['nmi.codebook.image', 'nmi.codebook.text', 'nmi.kmeansCodes', 'nmi.kmeansTrueK', 'perplexity.codebook.image', 'auc.camrec', 'auc.camrecDegreeCorrelation', 'auc.camrecEdgeScore', 'auc.lightgcn', 'auc.popularity', 'test.camrec.recall@20', 'test.lightgcn.ndcg@20', 'test.backbone.recall@20']) {
    assert.ok(keys.includes(k), k);
  }
  for (const [k, v] of Object.entries(summary.perSeed)) assert.ok(Number.isFinite(v[0]), `${k} = ${v[0]}`);
  // the setting that produced the figures is recorded: 6 codes against the tiny preset's K = 4
  const seed = JSON.parse(readFileSync(join(out, 'seed-1', 'figures.json'), 'utf8'));
  assert.equal(seed.camrecHyper.codebookSize, 6);
  assert.deepEqual([seed.figures.nmi.kmeansCodes.k, seed.figures.nmi.kmeansTrueK.k], [6, 4]);
  // the backbone is CaMRec with both adjustments off and the experiment's other settings
  const bb = JSON.parse(readFileSync(join(out, 'seed-1', 'backbone', 'result.json'), 'utf8'));
  assert.deepEqual([bb.model, bb.hyper.backdoor, bb.hyper.frontdoor, bb.hyper.codebookSize], ['camrec', false, false, 6]);
  assert.equal(seed.figures.test.backbone['recall@20'], bb.test['recall@20']);
  assert.equal(seed.training.backbone.bestEpoch, bb.bestEpoch);
  assert.ok(summary.comparisons.every((c) => c.beatsBy2Std === null), 'one seed decides nothing');
  assert.match(readFileSync(join(out, 'summary.md'), 'utf8'), /\| noise-edge AUC vs item popularity \| \d\.\d{4} \| \d\.\d{4} \| -?\d\.\d{4} \| undecided \| undecided \|/);
  const svg = readFileSync(join(out, 'summary.svg'), 'utf8');
  assert.equal((svg.match(/<rect class="bar"/g) ?? []).length, 16, 'a bar per figure of the four panels');
  assert.match(svg, /noise-edge AUC vs item popularity: undecided/);

  const before = statSync(join(out, 'seed-1', 'figures.json')).mtimeMs;
  const log = statSync(join(out, 'seed-1', 'camrec.log')).size;
  const again = await harness(args);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(statSync(join(out, 'seed-1', 'figures.json')).mtimeMs, before, 'figures.json rewritten');
  assert.equal(statSync(join(out, 'seed-1', 'camrec.log')).size, log, 'camrec trained again');

  // a folder recorded before the backbone was a baseline: the rerun trains it and adds it, the rest stays as measured
  const recorded = JSON.parse(readFileSync(join(out, 'seed-1', 'figures.json'), 'utf8'));
  delete recorded.figures.test.backbone;
  delete recorded.training.backbone;
  writeFileSync(join(out, 'seed-1', 'figures.json'), JSON.stringify(recorded));
  rmSync(join(out, 'seed-1', 'backbone'), { recursive: true });
  const added = await harness(args);
  assert.equal(added.code, 0, added.stderr);
  const after = JSON.parse(readFileSync(join(out, 'seed-1', 'figures.json'), 'utf8'));
  assert.deepEqual(after.figures.nmi, recorded.figures.nmi);
  assert.deepEqual(after.figures.auc, recorded.figures.auc);
  assert.equal(after.figures.test.backbone['recall@20'], JSON.parse(readFileSync(join(out, 'seed-1', 'backbone', 'result.json'), 'utf8')).test['recall@20']);
  assert.equal(statSync(join(out, 'seed-1', 'camrec.log')).size, log, 'camrec trained again');
  assert.ok(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')).comparisons.some((c: { baseline: string }) => c.baseline === 'test.backbone.ndcg@20'));

  const other = await harness(args.map((a, k) => (args[k - 1] === '--epochs' ? '2' : a)));
  assert.equal(other.code, 2);
  assert.match(other.stderr, /^causal-validity: --out .*: holds results of another setup/);
});
