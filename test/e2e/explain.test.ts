import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EXPLAIN_FILES, edgeMaskTsv, explainSummary, extremes, formatScore, roundedScores, type ExplainSummary, type ScoredEdge, type ScoredNode } from '../../src/cli/explain-command.js';
import { loadDataset } from '../../src/data/index.js';
import { resolveSettings, simulate, spearman, writeSimulation } from '../../src/simulate/index.js';
import { camrec } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

const common = ['--batch', '512', '--lr', '0.01', '--dim', '16', '--threads', '1', '--backend', 'wasm', '--log-level', 'warn'];
const runtime = ['--threads', '1', '--backend', 'wasm', '--log-level', 'warn'];

/** A small simulated dataset: two modalities with raw features (image 16, text 12 columns), 4 environments. */
function simulatedData(root: string): string {
  const dir = join(root, 'sim');
  writeSimulation(dir, simulate(resolveSettings('tiny', { users: 150, items: 90 }), 5), { preset: 'tiny' });
  return dir;
}

async function trainCheckpoint(data: string, out: string, extra: string[]): Promise<string> {
  const r = await camrec(['train', '--data', data, '--out', out, '--bench-epochs', '2', ...common, ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return join(out, 'best.ckpt');
}

function readTsv(file: string): string[][] {
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  return lines.slice(1).map((l) => l.split('\t'));
}

/** The n highest and lowest rows under the order the summary promises: by value, ties by the tie-break, then to the lower id. */
function sortedIds<T>(rows: T[], value: (r: T) => number, tie: (r: T) => number, id: (r: T) => number, n: number) {
  const asc = [...rows].sort((a, b) => value(a) - value(b) || tie(a) - tie(b) || id(a) - id(b));
  const desc = [...rows].sort((a, b) => value(b) - value(a) || tie(b) - tie(a) || id(a) - id(b));
  return { lowest: asc.slice(0, n).map(id), highest: desc.slice(0, n).map(id) };
}

test('camrec explain writes every train edge once with a score in (0,1), codes in [0,K), exact extremes, and is deterministic', async () => {
  const root = tempDir('explain');
  const dataDir = simulatedData(root);
  const ckpt = await trainCheckpoint(dataDir, join(root, 'run'), ['--hyper', 'codebookSize=6']);
  const top = 5;
  const r = await camrec(['explain', '--checkpoint', ckpt, '--top', String(top), ...runtime]);
  assert.equal(r.code, 0, r.stderr);
  const out = join(root, 'run', 'explain');
  const data = await loadDataset(dataDir);

  // every train edge exactly once, in trainByUser order, score in (0, 1), a finite logit
  assert.equal(readFileSync(join(out, EXPLAIN_FILES.edges), 'utf8').split('\n')[0], 'userID\titemID\tscore\tlogit');
  const edges = readTsv(join(out, EXPLAIN_FILES.edges)).map(([u, i, s, l]) => ({ u: Number(u), i: Number(i), s: Number(s), l: Number(l) }));
  const byUser = data.trainByUser;
  assert.equal(edges.length, byUser.indices.length);
  for (let u = 0, j = 0; u < byUser.nRows; u++) {
    for (let p = byUser.indptr[u]; p < byUser.indptr[u + 1]; p++, j++) {
      assert.deepEqual([edges[j].u, edges[j].i], [u, byUser.indices[p]], `edge ${j}`);
      assert.ok(edges[j].s > 0 && edges[j].s < 1, `edge ${j} score ${edges[j].s}`);
      assert.ok(Number.isFinite(edges[j].l), `edge ${j} logit ${edges[j].l}`);
    }
  }

  // every item has a code in [0, K) per modality, confidence a probability ≥ 1/K
  const envs = readTsv(join(out, EXPLAIN_FILES.environments));
  assert.deepEqual(envs.map((row) => Number(row[0])), Array.from({ length: data.nItems }, (_, i) => i));
  for (const row of envs) {
    for (const m of [0, 1]) {
      const code = Number(row[1 + 2 * m]);
      const conf = Number(row[2 + 2 * m]);
      assert.ok(Number.isInteger(code) && code >= 0 && code < 6, `item ${row[0]} code ${code}`);
      assert.ok(conf >= 1 / 6 - 1e-6 && conf <= 1, `item ${row[0]} confidence ${conf}`);
    }
  }

  const summary = JSON.parse(readFileSync(join(out, EXPLAIN_FILES.summary), 'utf8')) as ExplainSummary;
  assert.ok('codebook' in summary.environments);
  for (const [m, usage] of summary.environments.codebook.entries()) {
    const counts = new Array(6).fill(0);
    for (const row of envs) counts[Number(row[1 + 2 * m])]++;
    assert.deepEqual(usage.counts, counts, usage.modality);
    const h = -counts.filter((c) => c > 0).reduce((a, c) => a + (c / data.nItems) * Math.log(c / data.nItems), 0);
    assert.ok(Math.abs(usage.perplexity - Math.exp(h)) < 1e-9);
  }

  // the summary's lists are the sorted extremes of the TSV
  assert.ok('highest' in summary.edgeScores);
  const es = summary.edgeScores;
  const edgeIds = sortedIds(edges.map((e, j) => ({ ...e, j })), (e) => e.s, (e) => e.l, (e) => e.j, top);
  const asEdge = (j: number): ScoredEdge => ({ userID: edges[j].u, itemID: edges[j].i, score: edges[j].s, logit: edges[j].l });
  assert.deepEqual(es.highest, edgeIds.highest.map(asEdge));
  assert.deepEqual(es.lowest, edgeIds.lowest.map(asEdge));
  assert.deepEqual(es.saturated, { one: edges.filter((e) => e.s === 1).length, zero: edges.filter((e) => e.s === 0).length });
  const degreeOf = (key: 'u' | 'i') => edges.map((e) => edges.filter((x) => x[key] === e[key]).length);
  for (const [side, key] of [['item', 'i'], ['user', 'u']] as const) {
    assert.equal(es.degreeCorrelation[side], formatScore(spearman(edges.map((e) => e.l), degreeOf(key))), `${side} degree correlation from the TSV`);
  }
  for (const [side, key] of [['items', 'i'], ['users', 'u']] as const) {
    const groups = new Map<number, { s: number; l: number }[]>();
    for (const e of edges) groups.set(e[key], [...(groups.get(e[key]) ?? []), e]);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const nodes = [...groups].map(([id, es]) => ({ id, meanScore: mean(es.map((e) => e.s)), meanLogit: mean(es.map((e) => e.l)), degree: es.length }));
    const ids = sortedIds(nodes, (n) => n.meanScore, (n) => n.meanLogit, (n) => n.id, top);
    const got = es[side];
    const check = (list: ScoredNode[], want: number[]) => {
      assert.deepEqual(list.map((n) => n.id), want, side);
      for (const n of list) {
        const ref = nodes.find((x) => x.id === n.id) as ScoredNode;
        assert.equal(n.degree, ref.degree);
        assert.ok(Math.abs(n.meanScore - ref.meanScore) < 1e-12);
        assert.ok(Math.abs(n.meanLogit - ref.meanLogit) < 1e-9);
      }
    };
    check(got.highest, ids.highest);
    check(got.lowest, ids.lowest);
  }

  // the figure: a point per item and a cross per code for each modality, and the logits' histogram over every edge
  const figure = readFileSync(join(out, EXPLAIN_FILES.figure), 'utf8');
  assert.equal((figure.match(/<circle class="item"/g) ?? []).length, 2 * data.nItems);
  assert.equal((figure.match(/<path class="code"/g) ?? []).length, 2 * 6);
  const bins = [...figure.matchAll(/<rect class="bin" data-count="(\d+)"/g)].reduce((a, m) => a + Number(m[1]), 0);
  assert.equal(bins, edges.length);

  // deterministic: a second run writes byte-identical files
  const again = join(root, 'again');
  const r2 = await camrec(['explain', '--checkpoint', ckpt, '--top', String(top), '--out', again, ...runtime]);
  assert.equal(r2.code, 0, r2.stderr);
  for (const f of Object.values(EXPLAIN_FILES)) {
    if (f === EXPLAIN_FILES.summary) continue;
    assert.ok(readFileSync(join(out, f)).equals(readFileSync(join(again, f))), `${f} differs between runs`);
  }
  // summary.json names the checkpoint relative to its own folder, so only that field differs between the two
  const summaries = [out, again].map((dir) => JSON.parse(readFileSync(join(dir, EXPLAIN_FILES.summary), 'utf8')) as ExplainSummary);
  assert.deepEqual(summaries.map((x) => x.checkpoint), ['../best.ckpt', '../run/best.ckpt']);
  for (const [dir, x] of [out, again].map((d, k) => [d, summaries[k]] as const)) assert.equal(resolve(dir, x.checkpoint), resolve(ckpt));
  assert.deepEqual({ ...summaries[1], checkpoint: '' }, { ...summaries[0], checkpoint: '' });

  // the run's report.html was made again with the explanation (explain/ beside the checkpoint), not with --out's
  const html = readFileSync(join(root, 'run', 'report.html'), 'utf8');
  assert.ok(html.includes('Interpretability (<code>camrec explain</code>, seed'), 'report.html has the explanation');
  assert.ok(html.includes(readFileSync(join(out, EXPLAIN_FILES.figure), 'utf8')), 'with its figure inline');
  assert.ok(html.includes(`<tr><td>edges</td><td class="num">${edges.length}</td></tr>`));
});

test('camrec explain: without the front door there is no edge-mask.tsv and summary.json says why; a lightgcn checkpoint is refused with exit 2', async () => {
  const root = tempDir('explain-off');
  const dataDir = simulatedData(root);
  const ckpt = await trainCheckpoint(dataDir, join(root, 'nofront'), ['--no-frontdoor']);
  const out = join(root, 'x');
  const r = await camrec(['explain', '--checkpoint', ckpt, '--out', out, ...runtime]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!existsSync(join(out, EXPLAIN_FILES.edges)));
  assert.ok(existsSync(join(out, EXPLAIN_FILES.environments)));
  const figure = readFileSync(join(out, EXPLAIN_FILES.figure), 'utf8');
  assert.match(figure, /class="environments" data-modality="image"/);
  assert.doesNotMatch(figure, /class="edge-mask"/);
  const summary = JSON.parse(readFileSync(join(out, EXPLAIN_FILES.summary), 'utf8')) as ExplainSummary;
  assert.ok('absent' in summary.edgeScores && /front door/.test(summary.edgeScores.absent));

  const lgcn = await trainCheckpoint(dataDir, join(root, 'lgcn'), ['--model', 'lightgcn']);
  const bad = await camrec(['explain', '--checkpoint', lgcn, ...runtime]);
  assert.equal(bad.code, 2);
  const lines = bad.stderr.trim().split('\n');
  assert.equal(lines.length, 1, bad.stderr);
  assert.match(lines[0], /^camrec: .*best\.ckpt: a lightgcn checkpoint; explain reads camrec checkpoints only$/);
  assert.ok(!existsSync(join(root, 'lgcn', 'explain')));
});

test('camrec eval of a CaMRec checkpoint reproduces the run’s test metrics (scoring is deterministic)', async () => {
  const root = tempDir('camrec-eval');
  const dataDir = simulatedData(root);
  const out = join(root, 'run');
  const ckpt = await trainCheckpoint(dataDir, out, ['--hyper', 'codebookSize=6']);
  const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
  for (let k = 0; k < 2; k++) {
    const ev = await camrec(['eval', '--checkpoint', ckpt, '--json', ...runtime]);
    assert.equal(ev.code, 0, ev.stderr);
    const got = JSON.parse(ev.stdout.trim());
    for (const m of ['recall@20', 'ndcg@20', 'recall@10']) {
      assert.ok(Math.abs(got.test[m] - result.test[m]) < 1e-9, `run ${k}, ${m}: ${got.test[m]} vs ${result.test[m]}`);
    }
  }
});

test('explain on a saturated mask: every score is 1, the logits rank the edges, users and items, and the TSV carries them', () => {
  // 3 users, 3 items, 5 edges; every gate saturated at exactly 1, as a trained mask's are (docs/camrec.md 17)
  const e = {
    edgeUsers: Int32Array.from([0, 0, 1, 2, 2]),
    edgeItems: Int32Array.from([0, 2, 1, 0, 1]),
    edgeScores: new Float32Array(5).fill(1),
    edgeLogits: Float32Array.from([9.5, 4.25, 12, 3.5, 7]),
    environments: [],
  };
  const s = explainSummary(e, { checkpoint: 'c', epoch: 1, hyper: { codebookSize: 4 }, users: 3, items: 3 }, 2);
  assert.ok('highest' in s.edgeScores);
  assert.deepEqual(s.edgeScores.saturated, { one: 5, zero: 0 });
  // item degrees per edge [2, 1, 2, 2, 2] against logits [9.5, 4.25, 12, 3.5, 7]; user degrees [2, 2, 1, 2, 2]
  assert.deepEqual(s.edgeScores.degreeCorrelation, { item: formatScore(spearman([9.5, 4.25, 12, 3.5, 7], [2, 1, 2, 2, 2])), user: formatScore(spearman([9.5, 4.25, 12, 3.5, 7], [2, 2, 1, 2, 2])) });
  assert.ok(s.edgeScores.degreeCorrelation.item! > 0 && s.edgeScores.degreeCorrelation.user! < 0);
  // without the tie-break these would be edges 0, 1 (lowest) and 0, 1 (highest): the index order
  assert.deepEqual(s.edgeScores.lowest.map((x) => [x.userID, x.itemID, x.logit]), [[2, 0, 3.5], [0, 2, 4.25]]);
  assert.deepEqual(s.edgeScores.highest.map((x) => [x.userID, x.itemID, x.logit]), [[1, 1, 12], [0, 0, 9.5]]);
  // users' mean logits: 0 → 6.875, 1 → 12, 2 → 5.25; items': 0 → 6.5, 1 → 9.5, 2 → 4.25
  assert.deepEqual(s.edgeScores.users.lowest.map((n) => [n.id, n.meanScore, n.meanLogit, n.degree]), [[2, 1, 5.25, 2], [0, 1, 6.875, 2]]);
  assert.deepEqual(s.edgeScores.items.highest.map((n) => n.id), [1, 0]);
  assert.equal(edgeMaskTsv(e, roundedScores(e)!), 'userID\titemID\tscore\tlogit\n0\t0\t1\t9.5\n0\t2\t1\t4.25\n1\t1\t1\t12\n2\t0\t1\t3.5\n2\t1\t1\t7\n');
  // the primary key still decides where it differs; equal keys and equal tie-breaks fall to the lower index
  assert.deepEqual(extremes([0.5, 0.9, 0.5, 0.1], Int32Array.from([0, 1, 2, 3]), 2, [1, 0, 2, 5]), { highest: [1, 2], lowest: [3, 0] });
  assert.deepEqual(extremes([1, 1, 1], Int32Array.from([0, 1, 2]), 2, [0, 0, 0]), { highest: [0, 1], lowest: [0, 1] });
});
