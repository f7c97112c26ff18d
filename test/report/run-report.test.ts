import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataError } from '../../src/errors/index.js';
import { lineChart, tickDigits, yRange } from '../../src/report/line-chart.js';
import { readMetrics, readRunReport, renderRunReport, writeRunReport } from '../../src/report/run-report.js';
import { tempDir } from '../helpers/files.js';

const metrics = (r20: number, n20: number) => ({ 'recall@10': r20 / 2, 'recall@20': r20, 'ndcg@10': n20 / 2, 'ndcg@20': n20 });

/** A finished one-seed run folder as camrec train writes it (the fields the report reads). */
function writeSeed(dir: string, seed: number, test: number, opts: { standIn?: boolean; model?: string; dataset?: string; hyper?: Record<string, unknown> } = {}): void {
  mkdirSync(dir, { recursive: true });
  const result = {
    seed,
    model: opts.model ?? 'camrec',
    hyper: { dim: 16, sslWeight: 0.04, ...opts.hyper },
    dataset: {
      name: opts.dataset ?? 'tiny',
      checksum: 'ab'.repeat(32),
      users: 100,
      items: 50,
      train: 800,
      valid: 100,
      test: 100,
      modalities: [{ name: 'image', dim: 8, standIn: opts.standIn ?? false, provenance: 'image_feat.npy, <f4 [50, 8]' }],
    },
    epochsRun: 3,
    bestEpoch: 2,
    stoppedBy: 'max_epochs',
    valid: metrics(0.2, 0.1),
    test: metrics(test, test / 2),
    meanEpochTrainSeconds: 1.5,
    meanEvalSeconds: 0.25,
    totalSeconds: 6,
    peakRssMb: 300,
    provenance: { camrec: '0.1.0', gitCommit: 'abc' },
  };
  writeFileSync(join(dir, 'result.json'), JSON.stringify(result));
  const lines = [1, 2, 3].map((epoch) =>
    JSON.stringify({ epoch, loss: 1 / epoch, parts: { bpr: 0.8 / epoch, ssl: 0.2 / epoch }, trainSeconds: 1.5, valid: metrics(0.1 * epoch, 0.05 * epoch) }),
  );
  writeFileSync(join(dir, 'metrics.jsonl'), `${lines.join('\n')}\n`);
}

test('a one-seed run: test metrics, the best epoch marked on the validation curve, the loss parts', () => {
  const dir = tempDir('report');
  writeSeed(dir, 7, 0.1234);
  const report = readRunReport(dir);
  assert.equal(report.seeds.length, 1);
  assert.deepEqual(report.seeds[0].epochs.map((e) => e.epoch), [1, 2, 3]);
  const html = renderRunReport(report);
  assert.ok(html.startsWith('<!doctype html>'));
  assert.ok(html.includes('<h1>camrec on tiny</h1>'));
  assert.ok(html.includes('Test recall@20 <strong>0.1234</strong>, ndcg@20 <strong>0.0617</strong>'));
  // the table's columns are the cut-offs present, its rows the metrics in MMRec's order
  assert.match(html, /<th class="num">@10<\/th><th class="num">@20<\/th><\/tr>/);
  assert.match(html, /<tr><td>recall<\/td><td class="num">0\.0617<\/td><td class="num">0\.1234<\/td><\/tr>\n<tr><td>ndcg<\/td>/);
  assert.ok(html.includes('<title>seed 7: epoch 2, 0.2</title>'), 'the best epoch (2) marked on the validation curve');
  assert.ok(html.includes('aria-label="bpr"') && html.includes('aria-label="ssl"'), 'one small chart per loss part');
  assert.ok(html.includes('aria-label="Training seconds per epoch (wall clock)"'));
  assert.ok(!html.includes('stand-in'), 'no stand-in warning for raw features');
  assert.equal(renderRunReport(readRunReport(dir)), html, 'the same run gives the same bytes');
  assert.equal(writeRunReport(dir), join(dir, 'report.html'));
  assert.equal(readFileSync(join(dir, 'report.html'), 'utf8'), html);
});

test('a multi-seed folder with a grid: mean ± sample std, the seeds, the selected point, stand-in features said', () => {
  const root = tempDir('report-seeds');
  const tests = [0.1, 0.2, 0.3];
  tests.forEach((t, k) => writeSeed(join(root, `seed-${k + 1}`), k + 1, t, { standIn: true }));
  writeFileSync(join(root, 'result.json'), JSON.stringify({ seeds: [1, 2, 3], runs: ['seed-1', 'seed-2', 'seed-3'] }));
  writeFileSync(join(root, 'config.json'), JSON.stringify({ selectMetric: 'recall@20' }));
  const point = (name: string, r20: number) => ({ point: { name, hyper: {} }, valid: metrics(r20, 0), test: metrics(0.9, 0.9), bestEpoch: 4 });
  writeFileSync(join(root, 'grid.json'), JSON.stringify({ selectMetric: 'recall@20', seed: 1, selected: { name: 'sslWeight=0.1' }, results: [point('sslWeight=0.04', 0.15), point('sslWeight=0.1', 0.25)] }));
  const html = renderRunReport(readRunReport(root));
  assert.ok(html.includes('3 seeds (1, 2, 3), mean ± sample std'));
  assert.ok(html.includes('Test recall@20 <strong>0.2000 ± 0.1000</strong>'));
  assert.ok(html.includes('<td>sslWeight=0.1 <strong>(selected)</strong></td><td class="num">0.2500</td>'));
  assert.ok(!html.includes('0.9000'), 'the grid points\' test metrics are not shown');
  assert.ok(html.includes('<strong>(stand-in)</strong>') && html.includes('class="warn">Stand-in features: image was built'));
  for (const s of [1, 2, 3]) assert.ok(html.includes(`<code>seed-${s}/result.json</code>`));
});

test('what camrec explain wrote into a seed\'s folder: codebook use, the mask\'s saturation and degree correlation, the figure', () => {
  const dir = tempDir('report-explain');
  writeSeed(dir, 1, 0.1);
  const before = renderRunReport(readRunReport(dir));
  assert.ok(!before.includes('Interpretability'), 'no section before camrec explain ran');
  mkdirSync(join(dir, 'explain'));
  const summary = {
    checkpoint: '../best.ckpt',
    epoch: 2,
    edges: 800,
    environments: { codebook: [{ modality: 'image', codes: 50, used: 16, perplexity: 4.3706 }] },
    edgeScores: { saturated: { one: 600, zero: 0 }, degreeCorrelation: { item: 0.78, user: -0.064 } },
  };
  writeFileSync(join(dir, 'explain', 'summary.json'), JSON.stringify(summary));
  writeFileSync(join(dir, 'explain', 'explain.svg'), '<svg xmlns="http://www.w3.org/2000/svg"><title>strata</title></svg>\n');
  const html = renderRunReport(readRunReport(dir));
  assert.ok(html.includes('checkpoint <code>../best.ckpt</code>, epoch 2'));
  assert.ok(html.includes('<tr><td>image</td><td class="num">16 of 50</td><td class="num">4.37</td></tr>'));
  assert.ok(html.includes('600 / 0 (75.0% at 1)'));
  assert.ok(html.includes('item\'s degree</td><td class="num">0.780</td>'));
  assert.ok(html.includes('<div class="figure"><svg xmlns="http://www.w3.org/2000/svg"><title>strata</title></svg>'));
  writeFileSync(join(dir, 'explain', 'explain.svg'), '<script>alert(1)</script>');
  assert.throws(() => readRunReport(dir), /explain\.svg: not an SVG figure written by camrec explain/);
});

test('against the paper: its figures for the same model, variant and dataset, with the difference and the caveats', () => {
  const full = tempDir('report-paper');
  writeSeed(full, 1, 0.09, { dataset: 'baby', standIn: true });
  const html = renderRunReport(readRunReport(full));
  assert.ok(html.includes('<h2>Against the paper</h2>'));
  assert.ok(html.includes('CaMRec paper, Table 1: camrec on baby, test metrics.'));
  assert.ok(html.includes('<tr><td>recall@20</td><td class="num">0.1068</td><td class="num">0.0900</td><td class="num">-0.0168</td></tr>'));
  assert.ok(html.includes('This run\'s features are stand-ins'));
  const ablation = tempDir('report-paper-ablation');
  writeSeed(ablation, 1, 0.11, { dataset: 'baby', hyper: { frontdoor: false } });
  const h2 = renderRunReport(readRunReport(ablation));
  assert.ok(h2.includes('CaMRec paper, Table 2 (ablations): camrec w/o Frontdoor on baby'));
  assert.ok(h2.includes('<tr><td>recall@20</td><td class="num">0.1018</td><td class="num">0.1100</td><td class="num">+0.0082</td></tr>'));
  assert.ok(!h2.includes('stand-ins'));
  for (const [dataset, hyper] of [['tiny', {}], ['baby', { backdoor: false, frontdoor: false }]] as const) {
    const none = tempDir('report-paper-none');
    writeSeed(none, 1, 0.1, { dataset, hyper });
    assert.ok(!renderRunReport(readRunReport(none)).includes('Against the paper'), `${dataset} ${JSON.stringify(hyper)}: the paper has no such figure`);
  }
});

test('names from the files are escaped', () => {
  const dir = tempDir('report-escape');
  writeSeed(dir, 1, 0.1, { model: '<script>x</script>' });
  const html = renderRunReport(readRunReport(dir));
  assert.ok(!html.includes('<script>'));
  assert.ok(html.includes('&lt;script&gt;x&lt;/script&gt; on tiny'));
});

test('bad input: one error naming the file, line and field', () => {
  const dir = tempDir('report-bad');
  assert.throws(() => readRunReport(join(dir, 'nope')), (e: unknown) => e instanceof DataError && /nope: no such folder$/.test(e.message));
  writeFileSync(join(dir, 'file'), 'x');
  assert.throws(() => readRunReport(join(dir, 'file')), /file: not a folder/);
  // an empty result.json; a run still training (no result.json yet)
  const empty = join(dir, 'empty');
  writeSeed(empty, 1, 0.1);
  writeFileSync(join(empty, 'result.json'), '');
  assert.throws(() => readRunReport(empty), /empty\/result\.json: not a result file/);
  const unfinished = join(dir, 'unfinished');
  mkdirSync(unfinished);
  writeFileSync(join(unfinished, 'metrics.jsonl'), `${JSON.stringify({ epoch: 1, loss: 1 })}\n`);
  assert.throws(() => readRunReport(unfinished), /unfinished\/result\.json: no such file: not a run folder, or a run that has not reached its first epoch/);
  const m = join(dir, 'metrics.jsonl');
  writeFileSync(m, `${JSON.stringify({ epoch: 1, loss: 1 })}\n{"epoch":2,\n`);
  assert.throws(() => readMetrics(m), (e: unknown) => e instanceof DataError && e.location.line === 2 && /not JSON/.test(e.message));
  writeFileSync(m, `${JSON.stringify({ epoch: 1.5, loss: 1 })}\n`);
  assert.throws(() => readMetrics(m), (e: unknown) => e instanceof DataError && e.location.field === 'epoch' && e.location.line === 1);
  writeFileSync(m, `${JSON.stringify({ epoch: 1, loss: 1, valid: [1] })}\n`);
  assert.throws(() => readMetrics(m), (e: unknown) => e instanceof DataError && e.location.field === 'valid');
  // a multi-seed folder before every seed has finished; a folder that is no run
  const seeds = join(dir, 'seeds');
  writeSeed(join(seeds, 'seed-1'), 1, 0.1);
  assert.throws(() => readRunReport(seeds), /seeds\/result\.json: no such file: a multi-seed or grid folder gets one when every seed has finished; give a seed's folder/);
  const bare = join(dir, 'bare');
  mkdirSync(bare);
  assert.throws(() => readRunReport(bare), /bare\/result\.json: no such file: not a run folder, or a run that has not reached its first epoch/);
  // a run that has trained an epoch but not evaluated yet
  const early = join(dir, 'early');
  mkdirSync(early);
  writeFileSync(join(early, 'config.json'), JSON.stringify({ data: 'data/tiny', seed: 1 }));
  writeFileSync(join(early, 'last.ckpt'), 'not read before the metrics are');
  writeFileSync(join(early, 'metrics.jsonl'), `${JSON.stringify({ epoch: 1, loss: 1 })}\n`);
  assert.throws(() => readRunReport(early), /early\/metrics\.jsonl: no epoch with validation and test metrics yet \(1 epoch\(s\) recorded\)/);
  // a grid.json without its selection
  const g = join(dir, 'grid');
  writeSeed(g, 1, 0.1);
  writeFileSync(join(g, 'grid.json'), JSON.stringify({ seed: 1, results: [] }));
  assert.throws(() => readRunReport(g), /grid\.json \(field selected\): missing/);
});

test('metrics.jsonl: a non-finite loss (written as null) reads as NaN; a resumed epoch replaces the earlier line', () => {
  const dir = tempDir('report-metrics');
  const m = join(dir, 'metrics.jsonl');
  writeFileSync(m, [{ epoch: 2, loss: 0.5 }, { epoch: 1, loss: 1 }, { epoch: 2, loss: null }].map((l) => JSON.stringify(l)).join('\n'));
  const e = readMetrics(m);
  assert.deepEqual(e.map((x) => x.epoch), [1, 2]);
  assert.ok(Number.isNaN(e[1].loss));
});

test('line chart: axis ranges and tick decimals', () => {
  assert.deepEqual(yRange([0.03, 0.09]), [0, 0.1]);
  assert.deepEqual(yRange([-0.3, 2]), [-0.5, 2]);
  assert.deepEqual(yRange([-3, -1]), [-5, 0]);
  assert.deepEqual(yRange([NaN]), [0, 1]);
  assert.equal(tickDigits(0.02), 2);
  assert.equal(tickDigits(0.25), 2);
  assert.equal(tickDigits(5), 0);
  assert.equal(tickDigits(0.5), 1);
  const svg = lineChart({ title: 'a<b', xLabel: 'epoch', yLabel: 'y', series: [{ name: 's', points: [[1, 0.1], [2, NaN], [3, 0.3]] }] });
  assert.ok(svg.includes('aria-label="a&lt;b"'));
  // the NaN point is left out of the line, the other two joined
  assert.equal((svg.match(/<polyline [^>]*points="([^"]*)"/)?.[1] ?? '').split(' ').length, 2);
});
