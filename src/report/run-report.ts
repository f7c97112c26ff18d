/**
 * A run's report (DESIGN.md §1: `report.html` in the run directory, `camrec report runs/<id>`): one self-contained
 * HTML page, no scripts and no external files, made only from what the run wrote — result.json (one seed, or the
 * multi-seed summary and its seed folders), each seed's metrics.jsonl, grid.json and config.json when present. It
 * shows the test metrics at the best validation epoch (mean ± sample std over seeds), each seed's curves of training
 * loss and validation score, the published figures for the same model and dataset (src/report/paper-figures.ts),
 * the grid's validation scores, what `camrec explain` found when it has run on a seed's checkpoint (its explain/
 * folder), the data (and whether its features are stand-ins), the hyper-parameters, times, peak memory and
 * provenance. The page carries no clock time, so the same run gives the same bytes.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { writeFileAtomic } from '../data/index.js';
import { DataError } from '../errors/index.js';
import { readCheckpoint } from '../train/checkpoint.js';
import { initialEarlyStop, updateEarlyStop } from '../train/earlystop.js';
import { formatMeanStd, meanStd, summarize } from '../train/summary.js';
import { readJsonObject, readResults, SELECTION_METRIC, type SeedResult } from './compare.js';
import { lineChart, type Series } from './line-chart.js';
import { paperFigures } from './paper-figures.js';
import { escapeXml } from './svg.js';

export const REPORT_FILE = 'report.html';

/** One line of metrics.jsonl: an epoch's mean training loss, its parts, and the validation metrics when evaluated. */
export interface EpochRecord {
  readonly epoch: number;
  readonly loss: number; // NaN where the loss was not finite (written as null)
  readonly parts: Readonly<Record<string, number>>;
  readonly trainSeconds: number | null;
  readonly valid: Readonly<Record<string, number>> | null;
  /** The test metrics, recorded when validation improved. */
  readonly test: Readonly<Record<string, number>> | null;
}

export interface ReportSeed {
  readonly dir: string;
  readonly result: SeedResult;
  readonly raw: Record<string, unknown>;
  readonly epochs: readonly EpochRecord[];
  /** What `camrec explain` wrote into the seed's folder (explain/), when it has run. */
  readonly explain: ExplainRecord | null;
  /** No result.json yet: the figures are those of the best validation epoch so far (`readRunInProgress`). */
  readonly inProgress: boolean;
}

export interface ExplainRecord {
  readonly folder: string;
  readonly summary: Record<string, unknown>;
  readonly svg: string | null;
}

export const EXPLAIN_FOLDER = 'explain';

function readExplain(seedDir: string): ExplainRecord | null {
  const folder = join(seedDir, EXPLAIN_FOLDER);
  const summaryFile = join(folder, 'summary.json');
  if (!existsSync(summaryFile)) return null;
  const svgFile = join(folder, 'explain.svg');
  const svg = existsSync(svgFile) ? readFileSync(svgFile, 'utf8') : null;
  if (svg !== null && !svg.startsWith('<svg')) throw new DataError({ file: svgFile }, 'not an SVG figure written by camrec explain');
  return { folder, summary: readJsonObject(summaryFile), svg };
}

export interface GridRow {
  readonly name: string;
  readonly valid: number;
  readonly bestEpoch: number;
}

export interface RunReport {
  readonly dir: string;
  readonly seeds: readonly ReportSeed[];
  readonly selectMetric: string;
  readonly grid: { readonly seed: number; readonly selected: string; readonly rows: readonly GridRow[] } | null;
}

const numberOrNaN = (x: unknown): number => (typeof x === 'number' ? x : NaN);

/**
 * The epochs of a metrics.jsonl, by epoch (a later line for the same epoch replaces an earlier one). A line that is
 * not a JSON object with an integer `epoch` is refused with its line number.
 */
export function readMetrics(file: string): EpochRecord[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new DataError({ file }, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const byEpoch = new Map<number, EpochRecord>();
  text.split('\n').forEach((line, k) => {
    if (line.trim() === '') return;
    const at = { file, line: k + 1 };
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new DataError(at, `not JSON: ${(e as Error).message}`);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new DataError(at, 'not a JSON object');
    const r = v as Record<string, unknown>;
    if (!Number.isInteger(r.epoch) || (r.epoch as number) < 0) throw new DataError({ ...at, field: 'epoch' }, `not an epoch number: ${JSON.stringify(r.epoch)}`);
    const object = (field: string): Record<string, number> | null => {
      const o = r[field];
      if (o === undefined) return null;
      if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new DataError({ ...at, field }, 'not an object');
      return Object.fromEntries(Object.entries(o).map(([name, x]) => [name, numberOrNaN(x)]));
    };
    byEpoch.set(r.epoch as number, {
      epoch: r.epoch as number,
      loss: numberOrNaN(r.loss),
      parts: object('parts') ?? {},
      trainSeconds: typeof r.trainSeconds === 'number' ? r.trainSeconds : null,
      valid: object('valid'),
      test: object('test'),
    });
  });
  return [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch);
}

function readGrid(file: string, selectMetric: string): RunReport['grid'] {
  const g = readJsonObject(file);
  const selected = (g.selected as { name?: unknown } | undefined)?.name;
  if (typeof selected !== 'string') throw new DataError({ file, field: 'selected' }, 'missing or without a name');
  if (!Number.isInteger(g.seed)) throw new DataError({ file, field: 'seed' }, 'missing or not an integer');
  if (!Array.isArray(g.results)) throw new DataError({ file, field: 'results' }, 'missing or not a list');
  const rows = (g.results as unknown[]).map((x, k) => {
    const r = x as { point?: { name?: unknown }; valid?: Record<string, unknown>; bestEpoch?: unknown };
    const field = `results[${k}]`;
    if (typeof r?.point?.name !== 'string') throw new DataError({ file, field: `${field}.point.name` }, 'missing or not a string');
    const score = r.valid?.[selectMetric];
    if (typeof score !== 'number') throw new DataError({ file, field: `${field}.valid.${selectMetric}` }, 'missing or not a number');
    if (!Number.isInteger(r.bestEpoch)) throw new DataError({ file, field: `${field}.bestEpoch` }, 'missing or not an integer');
    return { name: r.point.name, valid: score, bestEpoch: r.bestEpoch as number };
  });
  return { seed: g.seed as number, selected, rows };
}

/**
 * Everything a report shows, read from a run folder: a finished one (one seed, or a multi-seed or grid folder), or
 * one seed's folder still training.
 */
export function readRunReport(dir: string): RunReport {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    throw new DataError({ file: dir }, 'no such folder');
  }
  if (!isDir) throw new DataError({ file: dir }, 'not a folder: give a run folder (the --out of camrec train)');
  const resultFile = join(dir, 'result.json');
  const configFile = join(dir, 'config.json');
  const config = existsSync(configFile) ? readJsonObject(configFile) : {};
  const selectMetric = typeof config.selectMetric === 'string' ? config.selectMetric : SELECTION_METRIC;
  if (!existsSync(resultFile)) return readRunInProgress(dir, config, selectMetric);
  const seeds = readResults(dir).map((result): ReportSeed => {
    const seedDir = dirname(result.file);
    const metrics = join(seedDir, 'metrics.jsonl');
    return { dir: seedDir, result, raw: readJsonObject(result.file), epochs: existsSync(metrics) ? readMetrics(metrics) : [], explain: readExplain(seedDir), inProgress: false };
  });
  const gridFile = join(dir, 'grid.json');
  return { dir, seeds, selectMetric, grid: existsSync(gridFile) ? readGrid(gridFile, selectMetric) : null };
}

/**
 * A one-seed run folder without result.json (still training, or stopped before the end): its config.json, its
 * metrics.jsonl up to now and its newest checkpoint's header (the model's resolved hyper-parameters and the data's
 * checksum). The best epoch is early stopping's (src/train/earlystop.ts: the first with the highest score), and its test
 * metrics are those metrics.jsonl recorded then. A multi-seed or grid folder has no result.json until every seed
 * has finished: its seeds' folders are reported one at a time.
 */
function readRunInProgress(dir: string, config: Record<string, unknown>, selectMetric: string): RunReport {
  const metrics = join(dir, 'metrics.jsonl');
  const resultFile = join(dir, 'result.json');
  const ckptFile = ['last.ckpt', 'best.ckpt'].map((f) => join(dir, f)).find((f) => existsSync(f));
  if (!existsSync(metrics) || !ckptFile || typeof config.data !== 'string' || !Number.isInteger(config.seed)) {
    const seeds = existsSync(join(dir, 'seed-1')) || existsSync(join(dir, 'grid')) ? ': a multi-seed or grid folder gets one when every seed has finished; give a seed\'s folder to see its progress' : ': not a run folder, or a run that has not reached its first epoch';
    throw new DataError({ file: resultFile }, `no such file${seeds}`);
  }
  const epochs = readMetrics(metrics);
  let stop = initialEarlyStop;
  for (const e of epochs) {
    const score = e.valid?.[selectMetric];
    if (score !== undefined) stop = updateEarlyStop(stop, score, e.epoch, Infinity);
  }
  const best = epochs.find((e) => e.epoch === stop.bestEpoch);
  if (!best?.valid || !best.test) throw new DataError({ file: metrics }, `no epoch with validation and test metrics yet (${epochs.length} epoch(s) recorded)`);
  const { meta } = readCheckpoint(ckptFile);
  const last = epochs[epochs.length - 1];
  const trainSeconds = epochs.map((e) => e.trainSeconds).filter((x): x is number => x !== null);
  const result: SeedResult = {
    file: metrics,
    seed: config.seed as number,
    model: meta.model,
    dataset: { name: basename(config.data), checksum: meta.datasetChecksum },
    bestEpoch: best.epoch,
    hyper: meta.hyper,
    valid: best.valid,
    test: best.test,
  };
  const raw = {
    epochsRun: last.epoch,
    stoppedBy: 'not finished',
    meanEpochTrainSeconds: trainSeconds.length ? trainSeconds.reduce((a, b) => a + b, 0) / trainSeconds.length : null,
  };
  return { dir, seeds: [{ dir, result, raw, epochs, explain: readExplain(dir), inProgress: true }], selectMetric, grid: null };
}

const METRIC_ORDER = ['recall', 'ndcg', 'precision', 'hit', 'mrr'];

/** The metric names and cut-offs present, in the order MMRec prints them. */
function metricGrid(metrics: Readonly<Record<string, unknown>>): { names: string[]; ks: number[] } {
  const names = new Set<string>();
  const ks = new Set<number>();
  for (const key of Object.keys(metrics)) {
    const m = /^([a-z]+)@(\d+)$/.exec(key);
    if (!m) continue;
    names.add(m[1]);
    ks.add(Number(m[2]));
  }
  const rank = (n: string) => (METRIC_ORDER.includes(n) ? METRIC_ORDER.indexOf(n) : METRIC_ORDER.length);
  return { names: [...names].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b)), ks: [...ks].sort((a, b) => a - b) };
}

const esc = (x: unknown) => escapeXml(String(x));

function table(head: readonly string[], rows: readonly (readonly string[])[], numericFrom = 1): string {
  const cell = (tag: string, v: string, k: number) => `<${tag}${k >= numericFrom ? ' class="num"' : ''}>${v}</${tag}>`;
  return [
    '<table>',
    `<thead><tr>${head.map((h, k) => cell('th', h, k)).join('')}</tr></thead>`,
    '<tbody>',
    ...rows.map((r) => `<tr>${r.map((v, k) => cell('td', v, k)).join('')}</tr>`),
    '</tbody></table>',
  ].join('\n');
}

function metricsTable(split: 'valid' | 'test', seeds: readonly ReportSeed[]): string {
  const runs = seeds.map((s) => s.result[split]);
  const stats = summarize(runs);
  const { names, ks } = metricGrid(runs[0]);
  const rows = names.map((n) => [esc(n), ...ks.map((k) => (stats[`${n}@${k}`] ? esc(formatMeanStd(stats[`${n}@${k}`])) : '—'))]);
  return table(['', ...ks.map((k) => `@${k}`)], rows);
}

function seedsTable(report: RunReport): string {
  const m = report.selectMetric;
  const rows = report.seeds.map((s) => {
    const raw = s.raw;
    return [
      esc(s.result.seed),
      esc(relative(report.dir, s.dir) || '.'),
      `${esc(s.result.bestEpoch)} / ${esc(raw.epochsRun ?? '?')}`,
      esc(raw.stoppedBy ?? '?'),
      esc(fixed(s.result.valid[m])),
      esc(fixed(s.result.test['recall@20'])),
      esc(fixed(s.result.test['ndcg@20'])),
    ];
  });
  return table(['seed', 'folder', 'best epoch / run', 'stopped by', `valid ${m}`, 'test recall@20', 'test ndcg@20'], rows, 2);
}

const fixed = (x: number | undefined, digits = 4) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : '—');

function curves(report: RunReport): string {
  const withEpochs = report.seeds.filter((s) => s.epochs.length > 0);
  if (withEpochs.length === 0) return '<p>No metrics.jsonl beside the result files: no curves.</p>';
  const name = (s: ReportSeed) => `seed ${s.result.seed}`;
  const loss: Series[] = withEpochs.map((s) => ({ name: name(s), points: s.epochs.map((e) => [e.epoch, e.loss] as const) }));
  const valid: Series[] = withEpochs.map((s) => {
    const points = s.epochs.filter((e) => e.valid && report.selectMetric in e.valid).map((e) => [e.epoch, e.valid![report.selectMetric]] as const);
    const best = points.find((p) => p[0] === s.result.bestEpoch);
    return { name: name(s), points, ...(best ? { mark: best } : {}) };
  });
  const seconds: Series[] = withEpochs.map((s) => ({ name: name(s), points: s.epochs.map((e) => [e.epoch, e.trainSeconds ?? NaN] as const) }));
  const charts = [
    lineChart({ title: 'Training loss (epoch mean)', xLabel: 'epoch', yLabel: 'loss', series: loss }),
    lineChart({ title: `Validation ${report.selectMetric} (circle: best epoch)`, xLabel: 'epoch', yLabel: report.selectMetric, series: valid }),
    lineChart({ title: 'Training seconds per epoch (wall clock)', xLabel: 'epoch', yLabel: 'seconds', series: seconds }),
  ];
  const first = withEpochs[0];
  const parts = [...new Set(first.epochs.flatMap((e) => Object.keys(e.parts)))];
  const partCharts = parts.length > 1
    ? parts.map((p) => lineChart({ title: p, xLabel: 'epoch', yLabel: 'value', width: 280, height: 180, series: [{ name: p, points: first.epochs.map((e) => [e.epoch, e.parts[p] ?? NaN] as const) }] }))
    : [];
  return [
    `<div class="charts">${charts.join('\n')}</div>`,
    partCharts.length ? `<h3>The loss's parts, seed ${esc(first.result.seed)} (weighted as they enter the loss)</h3><div class="charts">${partCharts.join('\n')}</div>` : '',
  ].join('\n');
}

function gridSection(report: RunReport): string {
  if (!report.grid) return '';
  const g = report.grid;
  const rows = g.rows.map((r) => [esc(r.name) + (r.name === g.selected ? ' <strong>(selected)</strong>' : ''), esc(fixed(r.valid)), esc(r.bestEpoch)]);
  return [
    '<h2>Model selection</h2>',
    `<p>Every grid point trained with seed ${esc(g.seed)}; the best validation ${esc(report.selectMetric)} chose the point the seeds then trained. Test metrics of the points are in grid.json and were not used.</p>`,
    table(['point', `valid ${report.selectMetric}`, 'best epoch'], rows),
  ].join('\n');
}

function standInNote(seed: ReportSeed, standIn: boolean): string {
  if (seed.inProgress) return ' Whether this run\'s features are stand-ins (baby, sports and microlens-50k ship kNN graphs only) is written in result.json at the end.';
  return standIn ? ' <strong>This run\'s features are stand-ins</strong> (see Data), so a model that reads features is not expected to reach the paper\'s figures.' : '';
}

/** The run's test figures beside the paper's for the same model, variant and dataset name, when the paper has them. */
function paperSection(report: RunReport): string {
  const first = report.seeds[0];
  const paper = paperFigures(first.result.model, first.result.dataset.name, first.result.hyper);
  if (!paper) return '';
  const stats = summarize(report.seeds.map((s) => s.result.test));
  const rows = Object.entries(paper.metrics).map(([k, p]) => {
    const ours = stats[k];
    return [esc(k), esc(p.toFixed(4)), ours ? esc(formatMeanStd(ours)) : '—', ours ? esc(`${ours.mean >= p ? '+' : ''}${(ours.mean - p).toFixed(4)}`) : '—'];
  });
  const what = `${paper.model}${paper.variant ? ` ${paper.variant}` : ''} on ${paper.dataset}`;
  return [
    '<h2>Against the paper</h2>',
    `<p>${esc(paper.source)}: ${esc(what)}, test metrics. The paper's figures come from MMRec's 8:1:1 split of the authors' copy of the data (another random draw) and their raw features; the dataset is matched by its name only.${standInNote(first, modalitiesOf(first).some((m) => m.standIn === true))}</p>`,
    table(['test metric', 'paper', 'this run', 'this run − paper'], rows),
  ].join('\n');
}

interface CodebookUse {
  modality?: unknown;
  codes?: unknown;
  used?: unknown;
  perplexity?: unknown;
}

function explainSection(report: RunReport): string {
  const seed = report.seeds.find((s) => s.explain);
  if (!seed?.explain) return '';
  const { folder, summary, svg } = seed.explain;
  const at = (name: string) => `<code>${esc(relative(report.dir, join(folder, name)))}</code>`;
  const codebook = ((summary.environments as { codebook?: unknown } | undefined)?.codebook ?? []) as CodebookUse[];
  const edges = (summary.edgeScores ?? null) as { saturated?: { one?: unknown; zero?: unknown }; degreeCorrelation?: { item?: unknown; user?: unknown } } | null;
  const parts = [
    `<h2>Interpretability (<code>camrec explain</code>, seed ${esc(seed.result.seed)})</h2>`,
    `<p>From ${at('summary.json')}: checkpoint <code>${esc(summary.checkpoint ?? '?')}</code>, epoch ${esc(summary.epoch ?? '?')}. Each item's environment is in ${at('item-environments.tsv')}, each edge's mask score in ${at('edge-mask.tsv')}.</p>`,
  ];
  if (Array.isArray(codebook) && codebook.length) {
    parts.push(table(['codebook', 'codes used', 'perplexity'], codebook.map((c) => [esc(c.modality ?? '?'), `${esc(c.used ?? '?')} of ${esc(c.codes ?? '?')}`, esc(fixed(numberOrNaN(c.perplexity), 2))])));
  }
  if (edges) {
    const total = numberOrNaN(summary.edges);
    parts.push(table(['edge mask', 'value'], [
      ['edges', esc(summary.edges ?? '?')],
      ['gates at 1 / at 0 (float32)', `${esc(edges.saturated?.one ?? '?')} / ${esc(edges.saturated?.zero ?? '?')}${Number.isFinite(total) && total > 0 ? ` (${esc(fixed((numberOrNaN(edges.saturated?.one) / total) * 100, 1))}% at 1)` : ''}`],
      ['rank correlation of the logit with the item\'s degree', esc(fixed(numberOrNaN(edges.degreeCorrelation?.item), 3))],
      ['… with the user\'s degree', esc(fixed(numberOrNaN(edges.degreeCorrelation?.user), 3))],
    ]));
  }
  if (svg) parts.push(`<div class="figure">${svg}</div>`);
  return parts.join('\n');
}

interface Modality {
  name?: unknown;
  dim?: unknown;
  standIn?: unknown;
  provenance?: unknown;
}

/** The modalities result.json describes (none for a run in progress). */
function modalitiesOf(seed: ReportSeed): Modality[] {
  const ds = seed.raw.dataset as { modalities?: unknown } | undefined;
  return Array.isArray(ds?.modalities) ? (ds.modalities as Modality[]) : [];
}

function dataSection(seed: ReportSeed): string {
  const ds = (seed.raw.dataset ?? {}) as Record<string, unknown>;
  const counts = ['users', 'items', 'train', 'valid', 'test'].map((k) => [esc(k), esc(ds[k] ?? '—')]);
  const modalities = modalitiesOf(seed);
  const standIns = modalities.filter((m) => m.standIn === true);
  return [
    '<h2>Data</h2>',
    `<p><strong>${esc(ds.name ?? seed.result.dataset.name)}</strong>${typeof ds.dir === 'string' ? ` from <code>${esc(ds.dir)}</code>` : ''}, checksum <code>${esc(seed.result.dataset.checksum.slice(0, 16))}…</code></p>`,
    table(['', 'count'], counts),
    modalities.length
      ? table(['modality', 'dim', 'features'], modalities.map((m) => [esc(m.name ?? '?'), esc(m.dim ?? '?'), esc(m.provenance ?? '') + (m.standIn === true ? ' <strong>(stand-in)</strong>' : '')]), 1)
      : '<p>No modality features.</p>',
    standIns.length
      ? `<p class="warn">Stand-in features: ${standIns.map((m) => esc(m.name)).join(', ')} ${standIns.length === 1 ? 'was' : 'were'} built from a kNN graph, not read from raw features (docs/camrec.md, "Data caveats"). Say so beside any figure from this run.</p>`
      : '',
  ].join('\n');
}

function hyperSection(report: RunReport): string {
  const h = report.seeds[0].result.hyper;
  const keys = Object.keys(h);
  if (keys.length === 0) return '';
  return ['<h2>Hyper-parameters</h2>', table(['name', 'value'], keys.map((k) => [esc(k), `<code>${esc(JSON.stringify(h[k]))}</code>`]), 2)].join('\n');
}

function costSection(report: RunReport): string {
  const rows = report.seeds.map((s) => [
    esc(s.result.seed),
    esc(fixed(numberOrNaN(s.raw.meanEpochTrainSeconds), 2)),
    esc(fixed(numberOrNaN(s.raw.meanEvalSeconds), 2)),
    esc(fixed(numberOrNaN(s.raw.totalSeconds) / 60, 1)),
    esc(fixed(numberOrNaN(s.raw.peakRssMb), 0)),
  ]);
  return ['<h2>Time and memory</h2>', table(['seed', 'train s / epoch', 'validation s', 'total min', 'peak RSS MB'], rows)].join('\n');
}

function provenanceSection(report: RunReport): string {
  const p = report.seeds[0].raw.provenance;
  if (typeof p !== 'object' || p === null) return '';
  return ['<h2>Provenance</h2>', table(['', 'value'], Object.entries(p).map(([k, v]) => [esc(k), `<code>${esc(typeof v === 'string' ? v : JSON.stringify(v))}</code>`]), 2)].join('\n');
}

const STYLE = `body{font-family:system-ui,sans-serif;max-width:1180px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.2em}th,td{border-bottom:1px solid #ddd;padding:.25em .7em;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}code{font-size:.9em}
.charts{display:flex;flex-wrap:wrap;gap:1em}.warn{background:#fff4e0;padding:.5em .8em;border-left:4px solid #E69F00}
.lede{color:#555}`;

/** The report page of a run read by `readRunReport`. */
export function renderRunReport(report: RunReport): string {
  const first = report.seeds[0].result;
  const seeds = report.seeds.map((s) => s.result.seed);
  const title = `${first.model} on ${first.dataset.name}`;
  const seedText = seeds.length > 1 ? `${seeds.length} seeds (${seeds.join(', ')}), mean ± sample std` : `seed ${seeds[0]}`;
  const r20 = meanStd(report.seeds.map((s) => s.result.test['recall@20'] ?? NaN));
  const n20 = meanStd(report.seeds.map((s) => s.result.test['ndcg@20'] ?? NaN));
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>camrec report: ${esc(title)}</title>`,
    `<style>${STYLE}</style></head><body>`,
    `<h1>${esc(title)}</h1>`,
    `<p class="lede">${esc(seedText)}. Early stopping and model selection on validation ${esc(report.selectMetric)}; test metrics at each seed's best validation epoch (full ranking over all items, training items masked).</p>`,
    ...report.seeds.filter((s) => s.inProgress).map((s) => `<p class="warn"><strong>Not finished</strong>: no result.json yet. ${esc(s.epochs.length)} epoch(s) recorded, the last ${esc(s.raw.epochsRun)}; the figures are those of the best validation epoch so far (${esc(s.result.bestEpoch)}), not final. The data's counts, times and provenance come with result.json.</p>`),
    `<p>Test recall@20 <strong>${esc(formatMeanStd(r20))}</strong>, ndcg@20 <strong>${esc(formatMeanStd(n20))}</strong>.</p>`,
    '<h2>Test</h2>',
    metricsTable('test', report.seeds),
    '<h2>Validation (at the best epoch)</h2>',
    metricsTable('valid', report.seeds),
    '<h2>Seeds</h2>',
    seedsTable(report),
    '<h2>Training</h2>',
    curves(report),
    paperSection(report),
    gridSection(report),
    explainSection(report),
    dataSection(report.seeds[0]),
    hyperSection(report),
    costSection(report),
    provenanceSection(report),
    `<footer><p class="lede">Made by <code>camrec report</code> from ${report.seeds.map((s) => `<code>${esc(relative(report.dir, s.result.file))}</code>`).join(', ')}.</p></footer>`,
    '</body></html>',
  ]
    .filter((s) => s !== '')
    .join('\n')
    .concat('\n');
}

/** Writes `report.html` (or `out`) for the run folder `dir`, atomically; returns the file written. */
export function writeRunReport(dir: string, out = join(dir, REPORT_FILE)): string {
  writeFileAtomic(out, renderRunReport(readRunReport(dir)));
  return out;
}
