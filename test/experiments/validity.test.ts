import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDataset } from '../../src/data/index.js';
import { DataError } from '../../src/errors/index.js';
import { readGroundTruth, resolveSettings, simulate, spearman, writeSimulation } from '../../src/simulate/index.js';
import { checkEdgeAlignment, edgeDots, itemDegrees, measureSeed, type SeedFigures, type SeedInputs } from '../../experiments/validity/measure.js';
import { claimFolder, DEFAULT_PATIENCE, setupOf, trainArgs } from '../../experiments/validity/run.js';
import { figureSubtitle, validityFigure } from '../../experiments/validity/figure.js';
import { compare, flattenFigures, summarizeSeeds, summaryMarkdown } from '../../experiments/validity/summary.js';
import { tempDir } from '../helpers/files.js';

const edges = (pairs: [number, number][]) => ({ users: Int32Array.from(pairs.map((p) => p[0])), items: Int32Array.from(pairs.map((p) => p[1])) });

test('alignment: the trainByUser edges of a simulated dataset are its .inter train lines, and the noise flags sit on the noise edges', async () => {
  const dir = join(tempDir('align'), 'sim');
  const sim = simulate(resolveSettings('tiny', { users: 60, items: 40 }), 3);
  writeSimulation(dir, sim, { preset: 'tiny' });
  const data = await loadDataset(dir);
  const gt = await readGroundTruth(dir);
  // trainByUser order, built as explainCamrec's edges are (row u's entries in CSR order)
  const m = data.trainByUser;
  const users = new Int32Array(m.indices.length);
  for (let u = 0; u < m.nRows; u++) users.fill(u, m.indptr[u], m.indptr[u + 1]);
  const byUser = { users, items: m.indices };
  checkEdgeAlignment(byUser, data.train, gt.trainNoise, 'sim.inter');
  let flagged = 0;
  for (let j = 0; j < gt.trainNoise.length; j++) {
    assert.equal(gt.trainNoise[j], sim.train.noise[j] ? 1 : 0);
    if (!gt.trainNoise[j]) continue;
    flagged++;
    assert.deepEqual([byUser.users[j], byUser.items[j]], [sim.train.users[j], sim.train.items[j]], `noise edge ${j}`);
  }
  assert.ok(flagged > 0);
});

test('alignment: a swapped pair or a length mismatch is a DataError naming the edge and its line', () => {
  const file = edges([[0, 1], [0, 2], [1, 0]]);
  checkEdgeAlignment(edges([[0, 1], [0, 2], [1, 0]]), file, [0, 1, 0], 'd.inter');
  assert.throws(
    () => checkEdgeAlignment(edges([[0, 2], [0, 1], [1, 0]]), file, [0, 1, 0], 'd.inter'),
    (e: unknown) => e instanceof DataError && e.location.line === 2 && /train edge 0 is \(0, 1\) in the file but \(0, 2\)/.test(e.message),
  );
  assert.throws(() => checkEdgeAlignment(file, file, [0, 1], 'd.inter'), /3 explained edges, 3 train lines, 2 noise flags/);
});

test('edge dot products and item degrees against hand computations', () => {
  const reps = { users: Float32Array.from([1, 2, 0, -1]), items: Float32Array.from([3, 1, 0.5, 0.5, -2, 4]), dim: 2 };
  const e = edges([[0, 0], [0, 2], [1, 1], [1, 2]]);
  assert.deepEqual(Array.from(edgeDots(reps, e)), [5, 6, -0.5, -4]);
  assert.deepEqual(Array.from(itemDegrees(e.items, 4)), [1, 1, 2, 0]);
});

/** Six items in three clear feature clusters = three environments; eight edges, the two to the rarest item are noise. */
function tinyInputs(overrides: Partial<SeedInputs> = {}): SeedInputs {
  const centre = [[0, 0], [10, 0], [0, 10]];
  const itemEnv = Int32Array.from([0, 0, 1, 1, 2, 2]);
  const image = Float32Array.from(Array.from(itemEnv).flatMap((z, i) => [centre[z][0] + 0.1 * i, centre[z][1]]));
  const text = Float32Array.from(Array.from(itemEnv).map((z, i) => z * 5 + 0.01 * i));
  const e = edges([[0, 0], [0, 1], [0, 5], [1, 0], [1, 2], [1, 5], [2, 0], [2, 3]]);
  return {
    seed: 7,
    itemEnv,
    trueK: 3,
    trainNoise: Int32Array.from([0, 0, 1, 0, 0, 1, 0, 0]),
    edges: e,
    nItems: 6,
    codebookSize: 4,
    environments: [
      { modality: 'image', codes: Int32Array.from([3, 3, 0, 0, 1, 1]) }, // a relabelling of z: NMI 1, perplexity 3
      { modality: 'text', codes: Int32Array.from([0, 0, 0, 0, 0, 0]) }, // collapsed: NMI 0, perplexity 1
    ],
    edgeScores: Float32Array.from([0.9, 0.8, 0.1, 0.7, 0.9, 0.2, 0.6, 0.95]),
    lightgcnEdgeScores: Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8]),
    features: [
      { name: 'image', data: image, dim: 2 },
      { name: 'text', data: text, dim: 1 },
    ],
    test: { camrec: { 'recall@20': 0.3, 'ndcg@20': 0.2, 'recall@10': 0.1 }, lightgcn: { 'recall@20': 0.25, 'ndcg@20': 0.15 } },
    ...overrides,
  };
}

test('measureSeed assembles NMI, perplexity, AUC and test figures from their definitions', () => {
  const f = measureSeed(tinyInputs());
  assert.ok(Math.abs(f.nmi.codebook.image - 1) < 1e-12);
  assert.equal(f.nmi.codebook.text, 0);
  // three separated clusters: k-means with k = K recovers z exactly; with k = 4 codes one cluster splits in two
  assert.equal(f.nmi.kmeansTrueK.k, 3);
  assert.ok(Math.abs(f.nmi.kmeansTrueK.nmi - 1) < 1e-12);
  assert.equal(f.nmi.kmeansCodes.k, 4);
  // a refinement b of z (sizes 2, 2, 1, 1) has I(z; b) = H(z) = ln 3: NMI = 2 ln 3 / (ln 3 + H(b))
  const hb = -(2 * (1 / 3) * Math.log(1 / 3) + 2 * (1 / 6) * Math.log(1 / 6));
  assert.ok(Math.abs(f.nmi.kmeansCodes.nmi - (2 * Math.log(3)) / (Math.log(3) + hb)) < 1e-12);
  assert.ok(Math.abs(f.perplexity.codebook.image - 3) < 1e-12);
  assert.ok(Math.abs(f.perplexity.codebook.text - 1) < 1e-12);
  assert.ok(Math.abs(f.perplexity.truth - 3) < 1e-12);
  // noise edges have the two lowest retentions: AUC of 1 − ρ is 1
  assert.equal(f.auc.camrec, 1);
  // LightGCN: −score; noise at scores 3 and 6 → P(−s₊ > −s₋) over 2 × 6 pairs: 3 beats 4,5,7,8 (4) and 6 beats 7,8 (2) → 6/12
  assert.equal(f.auc.lightgcn, 0.5);
  // popularity: both noise edges go to item 5 (degree 2, score −2); the clean edges' items have degrees 3 (three edges
  // to item 0) and 1 (three edges) → −2 beats the three −3 and loses to the three −1: 1/2
  assert.equal(f.auc.popularity, 0.5);
  assert.deepEqual([f.auc.noiseEdges, f.auc.trainEdges], [2, 8]);
  assert.deepEqual(f.test.camrec, { 'recall@20': 0.3, 'ndcg@20': 0.2 });
  assert.equal(f.auc.camrecSaturated, 0);
  // retentions [0.9, 0.8, 0.1, 0.7, 0.9, 0.2, 0.6, 0.95] against item degrees [3, 1, 2, 3, 1, 2, 3, 1]
  assert.equal(f.auc.camrecDegreeCorrelation, spearman([0.9, 0.8, 0.1, 0.7, 0.9, 0.2, 0.6, 0.95], [3, 1, 2, 3, 1, 2, 3, 1]));
  assert.equal(measureSeed(tinyInputs({ edgeScores: null })).auc.camrecDegreeCorrelation, null);
  // CaMRec's own edge score is scored as LightGCN's: the same dots give the same AUC; reversed dots its complement
  assert.equal(f.auc.camrecEdgeScore, undefined, 'absent unless given');
  const dots = [1, 2, 3, 4, 5, 6, 7, 8];
  assert.equal(measureSeed(tinyInputs({ camrecEdgeScores: dots })).auc.camrecEdgeScore, 0.5);
  assert.equal(measureSeed(tinyInputs({ camrecEdgeScores: dots.map((d) => -d) })).auc.camrecEdgeScore, 0.5);
  assert.equal(measureSeed(tinyInputs({ camrecEdgeScores: [5, 5, 1, 5, 5, 2, 5, 5] })).auc.camrecEdgeScore, 1, 'the noise edges have the lowest dots');
  assert.deepEqual(Object.values(measureSeed(tinyInputs({ edgeScores: null })).auc).slice(0, 2), [null, null]);
  // a saturated mask (every ρ exactly 1 in float32, as a gate sigmoid(logit / τ) becomes) ties every edge: AUC 1/2
  const flat = measureSeed(tinyInputs({ edgeScores: new Float32Array(8).fill(1) }));
  assert.deepEqual([flat.auc.camrec, flat.auc.camrecSaturated], [0.5, 1]);
  const some = measureSeed(tinyInputs({ edgeScores: Float32Array.from([1, 0.8, 0, 0.7, 0.9, 0.2, 1, 0.95]) }));
  assert.equal(some.auc.camrecSaturated, 3 / 8);
  assert.throws(() => measureSeed(tinyInputs({ test: { camrec: {}, lightgcn: {} } })), /recall@20 was not computed/);
});

test('the 2-std decision: on paired differences, undecided with one seed or a missing side', () => {
  const pair = { figure: 'f', camrec: 'c', baseline: 'b' };
  const seeds = (c: (number | null)[], b: number[]) => c.map((v, k) => ({ c: v, b: b[k] }));
  // constant gain: d = 0.4 ± 0 → beats; unpaired: 0.4 > 2·√(0.1² + 0.1²) = 0.283 → beats too
  const steady = compare(pair, seeds([0.5, 0.6, 0.7], [0.1, 0.2, 0.3]));
  assert.equal(steady.beatsBy2Std, true);
  assert.equal(steady.beatsUnpaired, true);
  assert.ok(Math.abs((steady.difference?.mean ?? 0) - 0.4) < 1e-12 && (steady.difference?.std ?? 1) < 1e-12);
  // paired but not unpaired: d = 0.1 each, yet each side spreads by 1
  const paired = compare(pair, seeds([1.1, 2.1, 3.1], [1, 2, 3]));
  assert.deepEqual([paired.beatsBy2Std, paired.beatsUnpaired], [true, false]);
  // d = [0.1, 0.5, −0.3]: mean 0.1, std 0.4 → does not beat
  const noisy = compare(pair, seeds([0.5, 0.9, 0.1], [0.4, 0.4, 0.4]));
  assert.ok(Math.abs((noisy.difference?.std ?? 0) - 0.4) < 1e-12);
  assert.equal(noisy.beatsBy2Std, false);
  // just above and just below the line: mean(d) vs 2·std(d) with d = [1, 1 + x, 1 − x] (std = x)
  assert.equal(compare(pair, seeds([1, 1.49, 0.51], [0, 0, 0])).beatsBy2Std, true);
  assert.equal(compare(pair, seeds([1, 1.51, 0.49], [0, 0, 0])).beatsBy2Std, false);
  assert.equal(compare(pair, seeds([0.9], [0.1])).beatsBy2Std, null);
  const missing = compare(pair, seeds([null, 0.5], [0.1, 0.2]));
  assert.deepEqual([missing.camrecStats, missing.beatsBy2Std, missing.beatsUnpaired], [null, null, null]);
});

test('summary over seeds: mean ± std per figure, image NMI first, markdown rows with the verdicts', () => {
  const a = measureSeed(tinyInputs());
  const b = measureSeed(tinyInputs({ seed: 8, edgeScores: Float32Array.from([0.9, 0.8, 0.2, 0.7, 0.9, 0.1, 0.6, 0.95]) }));
  const s = summarizeSeeds([a, b], { preset: 'test' });
  assert.deepEqual(s.seeds, [7, 8]);
  assert.deepEqual(s.perSeed['auc.camrec'], [1, 1]);
  assert.deepEqual(s.figures['test.lightgcn.recall@20'], { mean: 0.25, std: 0, n: 2 });
  assert.equal(s.comparisons[0].camrec, 'nmi.codebook.image');
  const auc = s.comparisons.find((c) => c.camrec === 'auc.camrec' && c.baseline === 'auc.lightgcn');
  assert.equal(auc?.beatsBy2Std, true);
  const text = s.comparisons.find((c) => c.camrec === 'nmi.codebook.text' && c.baseline === 'nmi.kmeansTrueK');
  assert.equal(text?.beatsBy2Std, false);
  const md = summaryMarkdown(s);
  assert.match(md, /\| noise-edge AUC vs LightGCN edge score \| 1\.0000 ± 0\.0000 \| 0\.5000 ± 0\.0000 \| 0\.5000 ± 0\.0000 \| yes \| yes \|/);
  assert.match(md, /\| NMI codebook \(text\) vs k-means, k = true K \| 0\.0000 ± 0\.0000 \| 1\.0000 ± 0\.0000 \| -1\.0000 ± 0\.0000 \| no \| no \|/);
  const keys = Object.keys(flattenFigures(a as SeedFigures));
  assert.deepEqual(Object.keys(s.figures), keys);
});

test('the backbone baseline: compared on the test metrics where a seed has it, drawn beside CaMRec, left out where none has', () => {
  const backbone = { 'recall@20': 0.28, 'ndcg@20': 0.21, 'recall@10': 0.05 };
  const a = measureSeed(tinyInputs({ test: { camrec: { 'recall@20': 0.3, 'ndcg@20': 0.2 }, lightgcn: { 'recall@20': 0.25, 'ndcg@20': 0.15 }, backbone } }));
  const b = measureSeed(tinyInputs({ seed: 8, test: { camrec: { 'recall@20': 0.32, 'ndcg@20': 0.2 }, lightgcn: { 'recall@20': 0.25, 'ndcg@20': 0.15 }, backbone: { 'recall@20': 0.29, 'ndcg@20': 0.22 } } }));
  assert.deepEqual(a.test.backbone, { 'recall@20': 0.28, 'ndcg@20': 0.21 }, 'the reported metrics only');
  const s = summarizeSeeds([a, b], { preset: 'test' });
  const r = s.comparisons.find((c) => c.baseline === 'test.backbone.recall@20');
  assert.equal(r?.figure, "test recall@20 vs CaMRec's backbone alone");
  // d = 0.02, 0.03: mean 0.025 > 2·0.00707 → beats
  assert.ok(Math.abs((r?.difference?.mean ?? 0) - 0.025) < 1e-12);
  assert.equal(r?.beatsBy2Std, true);
  const n = s.comparisons.find((c) => c.baseline === 'test.backbone.ndcg@20');
  assert.equal(n?.beatsBy2Std, false); // d = −0.01, −0.02
  assert.match(summaryMarkdown(s), /\| test ndcg@20 vs CaMRec's backbone alone \| 0\.2000 ± 0\.0000 \| 0\.2150 ± 0\.0071 \|/);
  const svg = validityFigure(s, '');
  const keys = [...svg.matchAll(/<rect class="bar" data-key="(test\.[^"]+)"/g)].map((m) => m[1]);
  assert.deepEqual(keys, ['test.camrec.recall@20', 'test.backbone.recall@20', 'test.lightgcn.recall@20', 'test.camrec.ndcg@20', 'test.backbone.ndcg@20', 'test.lightgcn.ndcg@20']);
  // a record without the backbone (older folders): no backbone rows, no backbone bars
  const old = summarizeSeeds([measureSeed(tinyInputs())], { preset: 'test' });
  assert.ok(old.comparisons.every((c) => !c.baseline.startsWith('test.backbone.')));
  assert.doesNotMatch(validityFigure(old, ''), /test\.backbone/);
});

test('trainArgs: the normal `camrec train` with the seed, the short-run flags and CaMRec hyper-parameters as JSON', () => {
  const args = trainArgs('camrec', { codebookSize: 8, assignment: 'soft' }, '/d', '/r', 3, { epochs: 2, patience: 5, threads: 1, backend: 'wasm' }, true);
  assert.deepEqual(args, [
    'train', '--model', 'camrec', '--data', '/d', '--seed', '3', '--out', '/r', '--json', '--threads', '1', '--backend', 'wasm',
    '--epochs', '2', '--patience', '5', '--hyper', 'codebookSize=8', '--hyper', 'assignment="soft"', '--resume',
  ]);
  // no --patience: the experiment's 100 for every model, not camrec train's 20 (LightGCN's initial plateau)
  assert.deepEqual(trainArgs('lightgcn', {}, '/d', '/r', 1, { threads: 2, backend: 'auto' }, false).slice(-6), ['--threads', '2', '--backend', 'auto', '--patience', String(DEFAULT_PATIENCE)]);
  assert.equal(DEFAULT_PATIENCE, 100);
});

test('setup.json: the patience is recorded; a folder recorded with the old null (camrec train\'s 20) matches --patience 20 only', () => {
  const dir = tempDir('setup');
  const setup = setupOf({ preset: 'tiny', hyper: {} });
  assert.equal(setup.patience, DEFAULT_PATIENCE);
  claimFolder(join(dir, 'new'), setup);
  claimFolder(join(dir, 'new'), setupOf({ preset: 'tiny', hyper: {} }));
  assert.throws(() => claimFolder(join(dir, 'new'), setupOf({ preset: 'tiny', hyper: {}, patience: 20 })), /holds results of another setup/);
  mkdirSync(join(dir, 'old'));
  writeFileSync(join(dir, 'old', 'setup.json'), JSON.stringify({ ...setupOf({ preset: 'tiny', hyper: {} }), patience: null }));
  claimFolder(join(dir, 'old'), setupOf({ preset: 'tiny', hyper: {}, patience: 20 }));
  assert.throws(() => claimFolder(join(dir, 'old'), setupOf({ preset: 'tiny', hyper: {} })), /holds results of another setup/);
});

test('the figure: a bar per figure at its mean on a shared scale, ± std whiskers, a dot per seed, the verdicts in the title', () => {
  const a = measureSeed(tinyInputs());
  const b = measureSeed(tinyInputs({ seed: 8, edgeScores: Float32Array.from([0.9, 0.8, 0.2, 0.7, 0.9, 0.1, 0.6, 0.95]) }));
  const s = summarizeSeeds([a, b], { preset: 'test', camrecHyper: { codebookSize: 4 }, camrecHyperResolved: { modalityWeight: 0.03 } });
  const svg = validityFigure(s, figureSubtitle(s));
  const bars = [...svg.matchAll(/<rect class="bar" data-key="([^"]+)" data-mean="([^"]+)" x="[^"]+" y="([^"]+)" width="[^"]+" height="([^"]+)"/g)]
    .map((m) => ({ key: m[1], mean: Number(m[2]), y: Number(m[3]), height: Number(m[4]) }));
  // NMI: 2 codebooks + 2 k-means; AUC: 3; perplexity: 2 codebooks + k-means; test: 4
  assert.equal(bars.length, 4 + 3 + 3 + 4);
  assert.deepEqual(bars.slice(0, 2).map((x) => x.key), ['nmi.codebook.image', 'nmi.codebook.text']);
  const bar = (key: string) => bars.find((x) => x.key === key)!;
  assert.equal(bar('auc.camrec').mean, 1);
  // one panel, one linear scale from 0: heights are in the ratio of the means (to the 0.1 px the SVG keeps)
  assert.ok(Math.abs(bar('auc.lightgcn').height / bar('auc.camrec').height - 0.5) < 0.002);
  assert.ok(Math.abs(bar('test.lightgcn.recall@20').height / bar('test.camrec.recall@20').height - 0.25 / 0.3) < 0.002);
  // every bar's foot is on its panel's zero line: y + height is the same for the bars of one panel
  assert.ok(Math.abs(bar('auc.camrec').y + bar('auc.camrec').height - (bar('auc.popularity').y + bar('auc.popularity').height)) < 0.15);
  assert.equal((svg.match(/<circle class="seed" data-seed="7"/g) ?? []).length, 14);
  assert.equal((svg.match(/<circle class="seed" data-seed="8"/g) ?? []).length, 14);
  // two seeds: a whisker per bar (a zero-std bar's whisker has zero length but is drawn)
  assert.equal((svg.match(/class="whisker"/g) ?? []).length, 14);
  assert.match(svg, /noise-edge AUC vs LightGCN edge score: yes · noise-edge AUC vs item popularity: yes/);
  assert.match(svg, /NMI codebook \(image\) vs k-means, k = codes: yes ·/); // NMI 1 against k-means with one cluster split
  assert.match(svg, /CaMRec: codebookSize=4, modalityWeight=0\.03/);
  assert.equal((svg.match(/class="reference"/g) ?? []).length, 2); // chance AUC, the true K
});

test('the figure: a missing figure is drawn as n/a, one seed draws no whisker, text is escaped', () => {
  const a = measureSeed(tinyInputs({ edgeScores: null }));
  const s = summarizeSeeds([a], { preset: 'test' });
  const svg = validityFigure(s, 'a <b> & "c"');
  assert.doesNotMatch(svg, /data-key="auc\.camrec" data-mean/);
  assert.match(svg, /data-key="auc\.camrec">n\/a</);
  assert.equal((svg.match(/class="whisker"/g) ?? []).length, 0);
  assert.match(svg, /a &lt;b&gt; &amp; &quot;c&quot;/);
  assert.match(svg, /item popularity: undecided/);
  assert.match(figureSubtitle(s), /^CaMRec: defaults/);
});
