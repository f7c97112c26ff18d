import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gridPoints, selectPoint } from '../../src/cli/grid.js';
import { gridFlag } from '../../src/cli/flags.js';
import { camrec } from '../helpers/cli.js';
import { tempDir, writeInter } from '../helpers/files.js';
import { randomDataset } from '../helpers/tiny.js';

test('grid points are the cartesian product in key order; selection uses valid only, ties to the earlier point', () => {
  const points = gridPoints({ reg: [0.1, 0.01], dim: [8, 16] });
  assert.deepEqual(points.map((p) => p.name), ['dim=8,reg=0.1', 'dim=8,reg=0.01', 'dim=16,reg=0.1', 'dim=16,reg=0.01']);
  const results = points.map((point, k) => ({ point, valid: { 'recall@20': [0.1, 0.3, 0.3, 0.2][k] }, test: { 'recall@20': [0.9, 0, 0, 0][k] }, bestEpoch: 1 }));
  assert.equal(selectPoint(results, 'recall@20').name, 'dim=8,reg=0.01');
  assert.throws(() => selectPoint(results, 'ndcg@20'), /not computed/);
  assert.deepEqual(gridFlag('sslWeight=0.04,0.1', gridFlag('backdoor=true,false')), { backdoor: [true, false], sslWeight: [0.04, 0.1] });
  assert.throws(() => gridFlag('sslWeight='), /key=v1,v2/);
});

test('camrec train --grid selects on valid, records every point, then trains every seed with the selection', async () => {
  const root = tempDir('grid');
  const dataDir = writeInter(root, randomDataset(100, 50, 8, 4));
  const out = join(root, 'run');
  const common = ['--batch', '256', '--lr', '0.01', '--dim', '8', '--threads', '2', '--backend', 'wasm', '--epochs', '2'];
  const r = await camrec(['train', '--model', 'bpr', '--data', dataDir, '--grid', 'reg=0.0001,0.5', '--seeds', '1,2', '--out', out, '--json', ...common]);
  assert.equal(r.code, 0, r.stderr);
  const grid = JSON.parse(readFileSync(join(out, 'grid.json'), 'utf8'));
  assert.deepEqual(grid.results.map((x: { point: { name: string } }) => x.point.name), ['reg=0.0001', 'reg=0.5']);
  const best = grid.results.reduce((a: { valid: Record<string, number> }, b: { valid: Record<string, number> }) => (b.valid['recall@20'] > a.valid['recall@20'] ? b : a));
  assert.equal(grid.selected.name, best.point.name);
  for (const s of [1, 2]) {
    const cfg = JSON.parse(readFileSync(join(out, `seed-${s}`, 'result.json'), 'utf8'));
    assert.equal(cfg.hyper.reg, grid.selected.hyper.reg, `seed ${s} trains the selected point`);
    assert.equal(cfg.seed, s);
  }
  // Seed 1 is the grid's run of the selected point, copied (its timings too: it was not trained again).
  const selectedDir = join(out, 'grid', grid.selected.name);
  for (const f of ['result.json', 'metrics.jsonl', 'best.ckpt', 'last.ckpt']) {
    assert.deepEqual(readFileSync(join(out, 'seed-1', f)), readFileSync(join(selectedDir, f)), `seed-1/${f} is the grid run's`);
  }
  assert.ok(existsSync(join(out, 'grid', 'reg=0.5', 'result.json')));
  const summary = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
  assert.deepEqual(summary.seeds, [1, 2]);
  // report.html shows the grid by validation score with the selected point marked
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  const row = (x: { point: { name: string }; valid: Record<string, number> }) =>
    `<td>${x.point.name}${x.point.name === grid.selected.name ? ' <strong>(selected)</strong>' : ''}</td><td class="num">${x.valid['recall@20'].toFixed(4)}</td>`;
  for (const x of grid.results) assert.ok(html.includes(row(x)), `report.html: ${row(x)}`);
  const bad = await camrec(['train', '--model', 'bpr', '--data', dataDir, '--grid', 'nope=1,2', '--out', join(root, 'bad')]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /hyper-parameter of model bpr: Unrecognized key/);
});
