import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataError, ConfigError } from '../../src/errors/index.js';
import { compareGroups, formatMarkdown, formatText, readGroup, readGroups, readResults, separation } from '../../src/report/compare.js';
import { meanStd } from '../../src/train/summary.js';
import { tempDir } from '../helpers/files.js';

/** A result.json as `camrec train` writes it, with the fields compare reads. */
function result(seed: number, recall: number, ndcg: number, over: Record<string, unknown> = {}) {
  return {
    seed,
    model: 'camrec',
    hyper: { dim: 64, backdoor: true, frontdoor: true },
    dataset: { name: 'baby', checksum: 'c0ffee' },
    epochsRun: 30,
    bestEpoch: 10 + seed,
    valid: { 'recall@20': recall + 0.001, 'ndcg@20': ndcg },
    test: { 'recall@20': recall, 'ndcg@20': ndcg },
    ...over,
  };
}

function writeJson(path: string, v: unknown): string {
  writeFileSync(path, JSON.stringify(v));
  return path;
}

/** A multi-seed folder: seed-<s>/result.json and a top result.json that lists them, as `--seeds` writes. */
function multiSeed(root: string, name: string, runs: ReturnType<typeof result>[]): string {
  const dir = join(root, name);
  for (const r of runs) {
    mkdirSync(join(dir, `seed-${r.seed}`), { recursive: true });
    writeJson(join(dir, `seed-${r.seed}`, 'result.json'), r);
  }
  writeJson(join(dir, 'result.json'), { seeds: runs.map((r) => r.seed), model: 'camrec', runs: runs.map((r) => `seed-${r.seed}`) });
  return dir;
}

test('separation: higher or lower only beyond 2 sample std of the per-seed differences, undecided below 2 seeds', () => {
  assert.equal(separation(meanStd([0.01, 0.012, 0.011])), 'higher');
  assert.equal(separation(meanStd([-0.01, -0.012, -0.011])), 'lower');
  assert.equal(separation(meanStd([0.01, -0.004, 0.002])), 'level');
  assert.equal(separation(meanStd([0.05])), 'undecided');
  // exactly at 2 std is not beyond it: d = (1, 3): mean 2, std √2, 2·std ≈ 2.83 > 2
  assert.equal(separation(meanStd([1, 3])), 'level');
});

test('a multi-seed folder, a run folder and result files pool by seed; a baseline pairs them seed by seed', () => {
  const root = tempDir('compare');
  const full = multiSeed(root, 'full', [result(1, 0.0911, 0.0393), result(2, 0.0907, 0.0392), result(3, 0.0889, 0.0383)]);
  const backbone = [1, 2, 3].map((s) => {
    const dir = join(root, `backbone-s${s}`);
    mkdirSync(dir);
    writeJson(join(dir, 'result.json'), result(s, [0.0848, 0.0838, 0.0843][s - 1], [0.0362, 0.0356, 0.0359][s - 1], { hyper: { dim: 64, backdoor: false, frontdoor: false } }));
    return dir;
  });
  const one = writeJson(join(root, 'lightgcn-seed-1.json'), result(1, 0.079, 0.034, { model: 'lightgcn', hyper: { dim: 64 } }));

  const groups = [readGroup(full), readGroup(`backbone=${backbone.join(',')}`), readGroup(one)];
  assert.deepEqual(groups.map((g) => g.label), ['full', 'backbone', 'lightgcn-seed-1']);
  assert.deepEqual(groups[0].seeds.map((s) => s.file), [1, 2, 3].map((s) => join(full, `seed-${s}`, 'result.json')));

  const c = compareGroups(groups, { baseline: 'backbone' });
  const [f, b, l] = c.runs;
  assert.deepEqual(f.seeds, [1, 2, 3]);
  assert.deepEqual(f.bestEpochs, [11, 12, 13]);
  const expected = meanStd([0.0911, 0.0907, 0.0889]);
  assert.equal(f.test['recall@20'].mean, expected.mean);
  assert.equal(f.test['recall@20'].std, expected.std);
  assert.ok(Math.abs(f.valid['recall@20'].mean - (expected.mean + 0.001)) < 1e-12);
  assert.deepEqual(f.differsFromBaseline, { backdoor: { run: true, baseline: false }, frontdoor: { run: true, baseline: false } });
  assert.equal(b.differsFromBaseline, null, 'the baseline has no differences of its own');
  // lightgcn's hyper shares only dim with the baseline's (same value): only the model differs
  assert.deepEqual(l.differsFromBaseline, { model: { run: 'lightgcn', baseline: 'camrec' } });

  const fr = c.paired.find((p) => p.label === 'full' && p.metric === 'recall@20');
  assert.ok(fr && fr.difference);
  const d = meanStd([0.0911 - 0.0848, 0.0907 - 0.0838, 0.0889 - 0.0843]);
  assert.ok(Math.abs(fr.difference.mean - d.mean) < 1e-12);
  assert.ok(Math.abs(fr.difference.std - d.std) < 1e-12);
  assert.equal(fr.above, 3);
  assert.equal(fr.separation, 'higher');
  const lr = c.paired.find((p) => p.label === 'lightgcn-seed-1' && p.metric === 'ndcg@20');
  assert.ok(lr && lr.difference);
  assert.deepEqual(lr.sharedSeeds, [1]);
  assert.equal(lr.separation, 'undecided', 'one shared seed decides nothing');
  assert.ok(lr.difference.mean < 0);
  assert.equal(lr.above, 0);

  const text = formatText(c);
  assert.match(text, /^full\s+camrec\s+baby\s+1,2,3\s+11,12,13\s+0\.0912 ± 0\.0012\s+0\.0902 ± 0\.0012\s+0\.0389 ± 0\.0006$/m);
  assert.match(text, /^full\s+1,2,3\s+\+0\.0059 ± 0\.0012 higher \(3\/3 above\)/m);
  assert.match(text, /lightgcn-seed-1\s+1\s+−0\.0058 undecided \(0\/1 above\)/);
  const md = formatMarkdown(c);
  assert.match(md, /^\| run \| model \| dataset \| seeds \| best epochs \| valid recall@20 \| test recall@20 \| test ndcg@20 \|$/m);
  assert.match(md, /^\| full \| 1,2,3 \| \+0\.0059 ± 0\.0012 higher \(3\/3 above\) \| .* \| backdoor=true frontdoor=true \|$/m);
});

test('runs are read as they are: other metrics on request, no baseline, one seed', () => {
  const root = tempDir('compare-one');
  const a = writeJson(join(root, 'a.json'), result(1, 0.1, 0.05));
  const c = compareGroups([readGroup(a)], { metrics: ['ndcg@20'] });
  assert.deepEqual(c.metrics, ['ndcg@20']);
  assert.equal(c.baseline, null);
  assert.deepEqual(c.paired, []);
  assert.equal(c.runs[0].test['ndcg@20'].n, 1);
  assert.match(formatText(c), /^a\s+camrec\s+baby\s+1\s+11\s+0\.1010\s+0\.0500$/m, 'one seed: values with no spread');
});

test('bad input names the file and field, in one line', () => {
  const root = tempDir('compare-bad');
  const ok1 = writeJson(join(root, 'ok1.json'), result(1, 0.1, 0.05));
  const ok1b = writeJson(join(root, 'ok1b.json'), result(1, 0.2, 0.06));
  const otherData = writeJson(join(root, 'other.json'), result(2, 0.1, 0.05, { dataset: { name: 'sports', checksum: 'beef' } }));
  const otherHyper = writeJson(join(root, 'hyper.json'), result(2, 0.1, 0.05, { hyper: { dim: 32, backdoor: true, frontdoor: true } }));
  const noTest = writeJson(join(root, 'notest.json'), { ...result(1, 0.1, 0.05), test: undefined });
  const badMetric = writeJson(join(root, 'nan.json'), { ...result(1, 0.1, 0.05), test: { 'recall@20': 'high' } });
  writeFileSync(join(root, 'broken.json'), '{"seed": 1,');
  const lonelySummary = writeJson(join(root, 'summary.json'), { seeds: [1, 2], runs: ['seed-1', 'seed-2'] });

  const refused = (f: () => unknown, kind: typeof DataError | typeof ConfigError, pattern: RegExp) => {
    assert.throws(f, (e: unknown) => {
      assert.ok(e instanceof kind, String(e));
      assert.match((e as Error).message, pattern);
      assert.doesNotMatch((e as Error).message, /\n/);
      return true;
    });
  };
  refused(() => readGroup(`x=${ok1},${ok1b}`), DataError, /ok1b\.json \(field seed\): seed 1 also comes from .*ok1\.json/);
  refused(() => readGroup(`x=${ok1},${otherData}`), DataError, /other\.json \(field dataset\.checksum\): another dataset .*\(sports against baby\); --pool-datasets pools them/);
  refused(() => readGroup(`x=${ok1},${otherHyper}`), DataError, /hyper\.json \(field hyper\.dim\): 32, where .*ok1\.json has 64/);
  refused(() => readGroup(`${ok1},${ok1b}`), ConfigError, /give a group of paths a label/);
  refused(() => readResults(noTest), DataError, /notest\.json \(field test\): missing/);
  refused(() => readResults(badMetric), DataError, /nan\.json \(field test\.recall@20\): not a finite number: "high"/);
  refused(() => readResults(join(root, 'broken.json')), DataError, /broken\.json: not a result file/);
  refused(() => readResults(join(root, 'missing')), DataError, /missing: no such file or folder/);
  refused(() => readResults(lonelySummary), DataError, /summary\.json \(field runs\): a multi-seed summary whose seed folder seed-1\/ is not beside it/);
  const otherData1 = writeJson(join(root, 'other1.json'), result(1, 0.1, 0.05, { dataset: { name: 'sports', checksum: 'beef' } }));
  refused(() => compareGroups([readGroup(ok1), readGroup(`b=${otherData1}`)], { baseline: 'b' }), DataError, /ok1\.json \(field dataset\.checksum\): another dataset \(baby\) than the baseline's .*other1\.json \(sports\) for seed 1: nothing to pair/);
  refused(() => compareGroups([readGroup(ok1)], { baseline: 'nope' }), ConfigError, /--baseline: no run is labelled "nope" \(runs: ok1\)/);
  refused(() => compareGroups([readGroup(ok1), readGroup(`ok1=${ok1b}`)]), ConfigError, /two runs are labelled "ok1"/);
  refused(() => compareGroups([readGroup(ok1)], { metrics: ['recall@99'] }), DataError, /ok1\.json \(field test\.recall@99\): no such metric \(it has recall@20, ndcg@20\)/);
});

test('pooled datasets: one simulated dataset per seed, each pair on its own seed\'s data', () => {
  const root = tempDir('compare-pool');
  const data = (seed: number) => ({ dataset: { name: `sim-s${seed}`, checksum: `sum${seed}` } });
  const run = (name: string, seed: number, recall: number) => writeJson(join(root, `${name}-${seed}.json`), result(seed, recall, recall / 2, data(seed)));
  const camrec = `camrec=${[1, 2, 3].map((s) => run('camrec', s, 0.035 + s / 1000)).join(',')}`;
  const lightgcn = `lightgcn=${[1, 2, 3].map((s) => run('lightgcn', s, 0.007)).join(',')}`;
  assert.throws(() => readGroup(camrec), /another dataset .*--pool-datasets pools them/);
  const c = compareGroups([readGroup(camrec, { poolDatasets: true }), readGroup(lightgcn, { poolDatasets: true })], { baseline: 'lightgcn' });
  assert.equal(c.runs[0].dataset, 'sim-s1,sim-s2,sim-s3');
  assert.deepEqual(c.runs[0].datasetChecksums, ['sum1', 'sum2', 'sum3']);
  const r = c.paired.find((p) => p.metric === 'recall@20');
  assert.equal(r?.separation, 'higher');
  assert.equal(r?.above, 3);
  // a seed whose data differ between the two sides cannot be paired
  const swapped = `lightgcn=${[1, 2].map((s) => run('lg', s, 0.007)).join(',')},${writeJson(join(root, 'lg-3x.json'), result(3, 0.007, 0.003, data(4)))}`;
  assert.throws(() => compareGroups([readGroup(camrec, { poolDatasets: true }), readGroup(swapped, { poolDatasets: true })], { baseline: 'lightgcn' }), /camrec-3\.json \(field dataset\.checksum\): another dataset \(sim-s3\) than the baseline's .*lg-3x\.json \(sim-s4\) for seed 3/);
});

test('specs under one label form one run, as a shell expands full=x-{1,2,3}.json; unlabelled specs stand alone', () => {
  const root = tempDir('compare-groups');
  const files = [1, 2, 3].map((s) => writeJson(join(root, `full-${s}.json`), result(s, 0.09, 0.04)));
  const other = writeJson(join(root, 'lgcn.json'), result(1, 0.08, 0.03));
  const groups = readGroups([`full=${files[0]}`, other, `full=${files[1]},${files[2]}`]);
  assert.deepEqual(groups.map((g) => [g.label, g.seeds.map((s) => s.seed)]), [['full', [1, 2, 3]], ['lgcn', [1]]]);
  // an unlabelled spec's default label is not merged with an explicit one: refused, not silently pooled
  assert.throws(() => compareGroups(readGroups([other, `lgcn=${files[0]}`])), /two runs are labelled "lgcn"/);
});

test('a setting only one side recorded (a key added since the baseline ran) is named, not hidden as "same settings"', () => {
  const root = tempDir('compare-unrecorded');
  const old = writeJson(join(root, 'old.json'), result(1, 0.09, 0.04, { hyper: { dim: 64 } }));
  const added = writeJson(join(root, 'added.json'), result(1, 0.091, 0.041, { hyper: { dim: 64, maskInput: 'modal' } }));
  const dropped = writeJson(join(root, 'dropped.json'), result(1, 0.089, 0.039, { hyper: {} }));
  const c = compareGroups([readGroup(`old=${old}`), readGroup(`added=${added}`), readGroup(`dropped=${dropped}`)], { baseline: 'old' });
  assert.deepEqual(c.runs[1].differsFromBaseline, { maskInput: { run: 'modal', baseline: undefined } });
  assert.deepEqual(c.runs[2].differsFromBaseline, { dim: { run: undefined, baseline: 64 } });
  const text = formatText(c);
  assert.match(text, /maskInput="modal" \(baseline: not recorded\)/);
  assert.match(text, /dim not recorded \(baseline 64\)/);
  assert.doesNotMatch(text, /same settings/);
});

test('--paper: each run beside the published figure for its model, ablation and dataset, with the difference', () => {
  const root = tempDir('compare-paper');
  const full = writeJson(join(root, 'full.json'), result(1, 0.1, 0.05));
  const nofd = writeJson(join(root, 'nofd.json'), result(1, 0.09, 0.04, { hyper: { dim: 64, backdoor: true, frontdoor: false } }));
  const tiktok = writeJson(join(root, 'tiktok.json'), result(1, 0.09, 0.04, { dataset: { name: 'tiktok', checksum: 'beef' } }));
  const c = compareGroups(readGroups([full, nofd, tiktok]), { paper: true });
  assert.deepEqual(c.runs.map((r) => r.paper?.metrics['recall@20'] ?? null), [0.1068, 0.1018, null]);
  const text = formatText(c);
  assert.match(text, /^full\s+CaMRec paper, Table 1\s+0\.1068 \(−0\.0068\)\s+0\.0471 \(\+0\.0029\)$/m);
  assert.match(text, /^nofd\s+CaMRec paper, Table 2 \(ablations\), w\/o Frontdoor\s+0\.1018 \(−0\.0118\)\s+0\.0443 \(−0\.0043\)$/m);
  assert.match(text, /^tiktok\s+none for this model and dataset\s+—\s+—$/m);
  assert.ok(!formatText(compareGroups(readGroups([full]))).includes('published'), 'no paper table unless asked');
});
