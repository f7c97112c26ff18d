/**
 * `camrec compare`: runs side by side from their result files, mean ± std over seeds, and each run against a
 * baseline paired by seed. The comparisons issue 4 asks for (full CaMRec against its backbone and LightGCN, 3 seeds)
 * become one command over the run folders instead of a hand-made table.
 *
 * A run is a `camrec train` output folder (its result.json; a multi-seed or grid folder's result.json lists its
 * seed folders, whose result.json files are read) or a result file, or several of these under one label, pooled
 * by seed. Within a run the seeds must be distinct and share the dataset and the hyper-parameters.
 *
 * The rule (the causal-validity experiment's, experiments/validity/summary.ts): seeds pair two runs (same data,
 * same seed), d_s = run_s − baseline_s over the seeds both have; higher ⇔ mean(d) > 2·std(d) (sample std),
 * lower ⇔ mean(d) < −2·std(d), level otherwise, undecided with fewer than 2 shared seeds.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ConfigError, DataError } from '../errors/index.js';
import { paperFigures, type PaperFigure } from './paper-figures.js';
import { formatMeanStd, meanStd, type MeanStd } from '../train/summary.js';

/** The validation metric runs are selected on (early stopping, grids): shown beside the test metrics. */
export const SELECTION_METRIC = 'recall@20';
export const DEFAULT_METRICS = ['recall@20', 'ndcg@20'] as const;

/** One seed's result, as read from its result.json. */
export interface SeedResult {
  readonly file: string;
  readonly seed: number;
  readonly model: string;
  readonly dataset: { readonly name: string; readonly checksum: string };
  readonly bestEpoch: number;
  readonly hyper: Record<string, unknown>;
  readonly valid: Record<string, number>;
  readonly test: Record<string, number>;
}

export interface RunGroup {
  readonly label: string;
  /** Sorted by seed. */
  readonly seeds: readonly SeedResult[];
}

export type Separation = 'higher' | 'lower' | 'level' | 'undecided';

/** higher/lower when the per-seed differences' mean is more than 2 sample std from 0; undecided below 2 seeds. */
export function separation(d: MeanStd): Separation {
  if (d.n < 2) return 'undecided';
  if (d.mean > 2 * d.std) return 'higher';
  if (d.mean < -2 * d.std) return 'lower';
  return 'level';
}

/** A JSON object from a file; a DataError naming the file when it cannot be read or is not one. */
export function readJsonObject(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new DataError({ file }, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new DataError({ file }, `not a result file: ${(e as Error).message}`);
  }
}

function metricsOf(file: string, field: string, v: unknown): Record<string, number> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new DataError({ file, field }, 'missing or not an object of metrics');
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'number' || !Number.isFinite(x)) throw new DataError({ file, field: `${field}.${k}` }, `not a finite number: ${JSON.stringify(x)}`);
  }
  return v as Record<string, number>;
}

/** One seed's result.json, checked field by field. */
export function parseSeedResult(file: string, r: Record<string, unknown>): SeedResult {
  const need = <T>(field: string, ok: (x: unknown) => boolean, what: string): T => {
    if (!ok(r[field])) throw new DataError({ file, field }, `missing or not ${what}`);
    return r[field] as T;
  };
  const ds = need<Record<string, unknown>>('dataset', (x) => typeof x === 'object' && x !== null, 'an object');
  if (typeof ds.name !== 'string' || typeof ds.checksum !== 'string') throw new DataError({ file, field: 'dataset' }, 'needs a name and a checksum');
  return {
    file,
    seed: need<number>('seed', (x) => Number.isInteger(x), 'an integer'),
    model: need<string>('model', (x) => typeof x === 'string', 'a string'),
    dataset: { name: ds.name, checksum: ds.checksum },
    bestEpoch: need<number>('bestEpoch', (x) => Number.isInteger(x), 'an integer'),
    hyper: need<Record<string, unknown>>('hyper', (x) => typeof x === 'object' && x !== null && !Array.isArray(x), 'an object'),
    valid: metricsOf(file, 'valid', r.valid),
    test: metricsOf(file, 'test', r.test),
  };
}

/** The seed results a path holds: a result file, a run folder, or a multi-seed / grid folder. */
export function readResults(path: string): SeedResult[] {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    throw new DataError({ file: path }, 'no such file or folder');
  }
  const file = isDir ? join(path, 'result.json') : path;
  const r = readJsonObject(file);
  if (!('runs' in r)) return [parseSeedResult(file, r)];
  const runs = r.runs;
  if (!Array.isArray(runs) || runs.length === 0 || runs.some((x) => typeof x !== 'string')) throw new DataError({ file, field: 'runs' }, 'not a list of seed folders');
  return (runs as string[]).map((run) => {
    const seedFile = join(dirname(file), run, 'result.json');
    try {
      statSync(seedFile);
    } catch {
      throw new DataError({ file, field: 'runs' }, `a multi-seed summary whose seed folder ${run}/ is not beside it; give the seeds' result files instead`);
    }
    return parseSeedResult(seedFile, readJsonObject(seedFile));
  });
}

/** Keys both hyper-parameter sets have and give different values (older results may lack newer keys). */
export function hyperDifferences(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  return Object.keys(a).filter((k) => k in b && JSON.stringify(a[k]) !== JSON.stringify(b[k])).sort();
}

/** Keys one of two hyper-parameter sets of the same model has and the other lacks (recorded before the key existed). */
function unsharedKeys(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  return [...Object.keys(a).filter((k) => !(k in b)), ...Object.keys(b).filter((k) => !(k in a))].sort();
}

/**
 * What a run's settings differ in from the baseline's: values both recorded, and, for the same model, keys only one
 * of them recorded (undefined on the other side: "not recorded" in the table, absent from the JSON).
 */
function baselineDifferences(run: SeedResult, base: SeedResult): Record<string, { run: unknown; baseline: unknown }> {
  const keys = hyperDifferences(run.hyper, base.hyper);
  if (run.model === base.model) keys.push(...unsharedKeys(run.hyper, base.hyper));
  const out = Object.fromEntries(keys.sort().map((k) => [k, { run: run.hyper[k], baseline: base.hyper[k] }]));
  if (run.model !== base.model) Object.assign(out, { model: { run: run.model, baseline: base.model } });
  return out;
}

/**
 * `[label=]path[,path...]` into a group: its seeds sorted, distinct, on one dataset with one configuration. With
 * `poolDatasets` the seeds may come from different datasets (the simulator draws one dataset per seed); pairs are
 * then checked seed by seed.
 */
export function readGroup(spec: string, opts: { poolDatasets?: boolean } = {}): RunGroup {
  const { label, paths } = parseSpec(spec);
  if (label === null && paths.length > 1) throw new ConfigError(`compare: "${spec}": give a group of paths a label, as label=${paths.join(',')}`);
  return groupOf(label ?? defaultLabel(paths[0]), paths, opts);
}

function parseSpec(spec: string): { label: string | null; paths: string[] } {
  const eq = spec.indexOf('=');
  const paths = (eq > 0 ? spec.slice(eq + 1) : spec).split(',').filter((p) => p.length > 0);
  if (paths.length === 0) throw new ConfigError(`compare: "${spec}" names no result file or folder`);
  return { label: eq > 0 ? spec.slice(0, eq) : null, paths };
}

/**
 * Several specs into groups: specs with the same explicit label are one group (so that a shell's
 * `full=runs/x-{1,2,3}.json`, three words, is one run), in the order the labels first appear.
 */
export function readGroups(specs: readonly string[], opts: { poolDatasets?: boolean } = {}): RunGroup[] {
  const labelled = new Map<string, string[]>();
  const order: ({ label: string } | { spec: string })[] = [];
  for (const spec of specs) {
    const { label, paths } = parseSpec(spec);
    if (label === null) {
      order.push({ spec });
      continue;
    }
    if (!labelled.has(label)) {
      labelled.set(label, []);
      order.push({ label });
    }
    (labelled.get(label) as string[]).push(...paths);
  }
  return order.map((o) => ('spec' in o ? readGroup(o.spec, opts) : groupOf(o.label, labelled.get(o.label) as string[], opts)));
}

function groupOf(label: string, paths: readonly string[], opts: { poolDatasets?: boolean }): RunGroup {
  const seeds = paths.flatMap(readResults).sort((a, b) => a.seed - b.seed);
  for (let k = 1; k < seeds.length; k++) {
    const [p, s] = [seeds[k - 1], seeds[k]];
    if (s.seed === p.seed) throw new DataError({ file: s.file, field: 'seed' }, `seed ${s.seed} also comes from ${p.file}`);
  }
  const first = seeds[0];
  for (const s of seeds.slice(1)) {
    if (!opts.poolDatasets && s.dataset.checksum !== first.dataset.checksum) {
      throw new DataError({ file: s.file, field: 'dataset.checksum' }, `another dataset than ${first.file} (${s.dataset.name} against ${first.dataset.name}); --pool-datasets pools them`);
    }
    if (s.model !== first.model) throw new DataError({ file: s.file, field: 'model' }, `${s.model}, where ${first.file} is ${first.model}`);
    const diff = hyperDifferences(s.hyper, first.hyper);
    if (diff.length > 0) throw new DataError({ file: s.file, field: `hyper.${diff[0]}` }, `${JSON.stringify(s.hyper[diff[0]])}, where ${first.file} has ${JSON.stringify(first.hyper[diff[0]])}`);
  }
  return { label, seeds };
}

function defaultLabel(path: string): string {
  const name = basename(path.replace(/\/+$/, ''));
  return name === 'result.json' ? basename(dirname(path)) : name.replace(/\.json$/, '');
}

export interface GroupSummary {
  readonly label: string;
  readonly model: string;
  /** The dataset's name (names, with pooled datasets) and checksums. */
  readonly dataset: string;
  readonly datasetChecksums: string[];
  readonly seeds: number[];
  readonly bestEpochs: number[];
  readonly files: string[];
  /** The selection metric on valid, and each asked metric on test: mean ± sample std over seeds. */
  readonly valid: Record<string, MeanStd>;
  readonly test: Record<string, MeanStd>;
  /** Hyper-parameters that differ from the baseline's (keys both have); null for the baseline or without one. */
  readonly differsFromBaseline: Record<string, { run: unknown; baseline: unknown }> | null;
  /** With `paper`: the published figures for this model, variant and dataset name (src/report/paper-figures.ts), or null. */
  readonly paper?: PaperFigure | null;
}

export interface PairedComparison {
  readonly label: string;
  readonly baseline: string;
  readonly metric: string;
  readonly sharedSeeds: number[];
  /** run − baseline per shared seed: mean ± sample std. */
  readonly difference: MeanStd | null;
  /** Shared seeds where the run is above the baseline. */
  readonly above: number;
  readonly separation: Separation;
}

export interface Comparison {
  readonly metrics: string[];
  readonly selectionMetric: string;
  readonly rule: string;
  readonly baseline: string | null;
  readonly runs: GroupSummary[];
  readonly paired: PairedComparison[];
}

export const COMPARE_RULE =
  'd = run − baseline per shared seed; higher ⇔ mean(d) > 2·std(d), lower ⇔ mean(d) < −2·std(d) (sample std), level otherwise; undecided with < 2 shared seeds';

function metricValues(g: RunGroup, split: 'valid' | 'test', metric: string): number[] {
  return g.seeds.map((s) => {
    const v = s[split][metric];
    if (v === undefined) throw new DataError({ file: s.file, field: `${split}.${metric}` }, `no such metric (it has ${Object.keys(s[split]).join(', ')})`);
    return v;
  });
}

/** Summaries of every group and, with a baseline label, every other group against it, paired by seed. */
export function compareGroups(groups: readonly RunGroup[], opts: { metrics?: readonly string[]; baseline?: string; paper?: boolean } = {}): Comparison {
  if (groups.length === 0) throw new ConfigError('compare: give at least one run');
  const labels = new Set<string>();
  for (const g of groups) {
    if (labels.has(g.label)) throw new ConfigError(`compare: two runs are labelled "${g.label}"; label them, as name=path (paths under one label form one run)`);
    labels.add(g.label);
  }
  const metrics = [...(opts.metrics ?? DEFAULT_METRICS)];
  const base = opts.baseline === undefined ? null : groups.find((g) => g.label === opts.baseline);
  if (base === undefined) throw new ConfigError(`--baseline: no run is labelled "${opts.baseline}" (runs: ${[...labels].join(', ')})`);
  if (base) {
    // a pair is one seed on one dataset: every seed the two share must have the same data
    const baseBySeed = new Map(base.seeds.map((s) => [s.seed, s]));
    for (const g of groups) {
      for (const s of g.seeds) {
        const b = baseBySeed.get(s.seed);
        if (b && b.dataset.checksum !== s.dataset.checksum) {
          throw new DataError({ file: s.file, field: 'dataset.checksum' }, `another dataset (${s.dataset.name}) than the baseline's ${b.file} (${b.dataset.name}) for seed ${s.seed}: nothing to pair`);
        }
      }
    }
  }
  const runs = groups.map((g): GroupSummary => {
    const first = g.seeds[0];
    const differs = base && g !== base ? baselineDifferences(first, base.seeds[0]) : null;
    return {
      label: g.label,
      model: first.model,
      dataset: [...new Set(g.seeds.map((s) => s.dataset.name))].join(','),
      datasetChecksums: [...new Set(g.seeds.map((s) => s.dataset.checksum))],
      seeds: g.seeds.map((s) => s.seed),
      bestEpochs: g.seeds.map((s) => s.bestEpoch),
      files: g.seeds.map((s) => s.file),
      valid: { [SELECTION_METRIC]: meanStd(metricValues(g, 'valid', SELECTION_METRIC)) },
      test: Object.fromEntries(metrics.map((m) => [m, meanStd(metricValues(g, 'test', m))])),
      differsFromBaseline: differs,
      ...(opts.paper ? { paper: paperFigures(first.model, first.dataset.name, first.hyper) } : {}),
    };
  });
  const paired = !base ? [] : groups.filter((g) => g !== base).flatMap((g) => metrics.map((metric) => pairOnSeeds(g, base, metric)));
  return { metrics, selectionMetric: SELECTION_METRIC, rule: COMPARE_RULE, baseline: base ? base.label : null, runs, paired };
}

function pairOnSeeds(g: RunGroup, base: RunGroup, metric: string): PairedComparison {
  const baseBySeed = new Map(base.seeds.map((s) => [s.seed, s]));
  const shared = g.seeds.filter((s) => baseBySeed.has(s.seed));
  const d = shared.map((s) => s.test[metric] - (baseBySeed.get(s.seed) as SeedResult).test[metric]);
  const difference = d.length > 0 ? meanStd(d) : null;
  return {
    label: g.label,
    baseline: base.label,
    metric,
    sharedSeeds: shared.map((s) => s.seed),
    difference,
    above: d.filter((x) => x > 0).length,
    separation: difference ? separation(difference) : 'undecided',
  };
}

const fixed = (x: number, digits: number) => (Object.is(x, -0) ? 0 : x).toFixed(digits);
const signed = (x: number, digits: number) => (x >= 0 ? '+' : '−') + fixed(Math.abs(x), digits);

function pairedCell(p: PairedComparison, digits: number): string {
  if (!p.difference) return 'no shared seeds';
  const d = p.difference;
  const spread = d.n > 1 ? ` ± ${fixed(d.std, digits)}` : '';
  return `${signed(d.mean, digits)}${spread} ${p.separation} (${p.above}/${d.n} above)`;
}

function differsText(r: GroupSummary): string {
  if (!r.differsFromBaseline) return '';
  const entries = Object.entries(r.differsFromBaseline);
  const shown = ([k, v]: [string, { run: unknown; baseline: unknown }]) =>
    v.run === undefined ? `${k} not recorded (baseline ${JSON.stringify(v.baseline)})`
    : v.baseline === undefined ? `${k}=${JSON.stringify(v.run)} (baseline: not recorded)`
    : `${k}=${JSON.stringify(v.run)}`;
  return entries.length === 0 ? 'same settings' : entries.map(shown).join(' ');
}

/** The tables as rows of cells: the runs, then (with a baseline) the paired differences. */
function tables(c: Comparison, digits: number): { title: string; header: string[]; rows: string[][] }[] {
  const runs = {
    title: `test metrics at the best valid epoch; ± is the sample std over seeds`,
    header: ['run', 'model', 'dataset', 'seeds', 'best epochs', `valid ${c.selectionMetric}`, ...c.metrics.map((m) => `test ${m}`)],
    rows: c.runs.map((r) => [r.label, r.model, r.dataset, r.seeds.join(','), r.bestEpochs.join(','), formatMeanStd(r.valid[c.selectionMetric], digits), ...c.metrics.map((m) => formatMeanStd(r.test[m], digits))]),
  };
  const withPaper = c.runs.some((r) => r.paper !== undefined) ? [paperTable(c, digits)] : [];
  if (!c.baseline) return [runs, ...withPaper];
  const others = c.runs.filter((r) => r.label !== c.baseline);
  const paired = {
    title: `against ${c.baseline}, paired by seed: ${c.rule}`,
    header: ['run', 'shared seeds', ...c.metrics.map((m) => `test ${m}`), 'settings that differ'],
    rows: others.map((r) => {
      const ps = c.paired.filter((p) => p.label === r.label);
      return [r.label, ps[0]?.sharedSeeds.join(',') || '—', ...ps.map((p) => pairedCell(p, digits)), differsText(r)];
    }),
  };
  return [runs, paired, ...withPaper];
}

/** Each run's test mean beside the paper's figure for the same model, variant and dataset name (--paper). */
function paperTable(c: Comparison, digits: number): { title: string; header: string[]; rows: string[][] } {
  return {
    title: 'against the published figures (run mean − paper; the paper used another split of its own copy of the data, and raw features where ours may be stand-ins)',
    header: ['run', 'published', ...c.metrics.map((m) => `test ${m}`)],
    rows: c.runs.map((r) => {
      const p = r.paper;
      if (!p) return [r.label, 'none for this model and dataset', ...c.metrics.map(() => '—')];
      const source = `${p.source}${p.variant ? `, ${p.variant}` : ''}`;
      return [r.label, source, ...c.metrics.map((m) => (p.metrics[m] === undefined ? '—' : `${fixed(p.metrics[m], digits)} (${signed(r.test[m].mean - p.metrics[m], digits)})`))];
    }),
  };
}

/** Aligned plain-text tables for a terminal. */
export function formatText(c: Comparison, digits = 4): string {
  return tables(c, digits)
    .map((t) => {
      const widths = t.header.map((h, k) => Math.max(h.length, ...t.rows.map((r) => r[k].length)));
      const line = (cells: string[]) => cells.map((x, k) => (k === cells.length - 1 ? x : x.padEnd(widths[k]))).join('  ').trimEnd();
      return [t.title, line(t.header), ...t.rows.map(line)].join('\n');
    })
    .join('\n\n') + '\n';
}

/** GitHub-flavoured markdown tables (for results/README.md and issue notes). */
export function formatMarkdown(c: Comparison, digits = 4): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return tables(c, digits)
    .map((t) => [`${t.title}:`, '', `| ${t.header.map(esc).join(' | ')} |`, `|${t.header.map(() => '---').join('|')}|`, ...t.rows.map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n'))
    .join('\n\n') + '\n';
}
