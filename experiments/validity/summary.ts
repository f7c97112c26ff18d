/**
 * Mean ± std over seeds of every figure, and whether each CaMRec figure beats its baseline by more than 2 std
 * (issue 4: "CaMRec's NMI and AUC beat their baselines by more than 2 std over 3 seeds"), as JSON and markdown.
 *
 * The rule: seeds pair the two sides (same data, same seed), so the decision is on the per-seed differences
 * d_s = camrec_s − baseline_s: beats ⇔ mean(d) > 2 · std(d) (sample std, n − 1), undecided (null) with fewer
 * than 2 seeds. Beside it, the unpaired reading mean(camrec) − mean(baseline) > 2 · √(std_c² + std_b²).
 */
import { separation } from '../../src/report/compare.js';
import { meanStd, type MeanStd } from '../../src/train/index.js';
import { TEST_METRICS, type SeedFigures } from './measure.js';

/** The modality whose codebook NMI is the headline; the other is reported beside it. Fixed before measuring. */
export const REPORTED_MODALITY = 'image';

export type FlatFigures = Record<string, number | null>;

/** One seed's figures under flat dotted names (nmi.codebook.image, auc.camrec, test.lightgcn.recall@20, ...). */
export function flattenFigures(f: SeedFigures): FlatFigures {
  const out: FlatFigures = {};
  for (const [m, v] of Object.entries(f.nmi.codebook)) out[`nmi.codebook.${m}`] = v;
  out['nmi.kmeansCodes'] = f.nmi.kmeansCodes.nmi;
  out['nmi.kmeansTrueK'] = f.nmi.kmeansTrueK.nmi;
  for (const [m, v] of Object.entries(f.perplexity.codebook)) out[`perplexity.codebook.${m}`] = v;
  out['perplexity.kmeansCodes'] = f.nmi.kmeansCodes.perplexity;
  out['perplexity.kmeansTrueK'] = f.nmi.kmeansTrueK.perplexity;
  out['perplexity.truth'] = f.perplexity.truth;
  out['auc.camrec'] = f.auc.camrec;
  out['auc.camrecSaturated'] = f.auc.camrecSaturated;
  out['auc.camrecDegreeCorrelation'] = f.auc.camrecDegreeCorrelation ?? null;
  out['auc.camrecEdgeScore'] = f.auc.camrecEdgeScore ?? null;
  out['auc.lightgcn'] = f.auc.lightgcn;
  out['auc.popularity'] = f.auc.popularity;
  for (const model of ['camrec', 'lightgcn', 'backbone'] as const) {
    const metrics = f.test[model];
    if (metrics) for (const k of TEST_METRICS) out[`test.${model}.${k}`] = metrics[k];
  }
  return out;
}

export interface Comparison {
  readonly figure: string;
  readonly camrec: string;
  readonly baseline: string;
  readonly camrecStats: MeanStd | null;
  readonly baselineStats: MeanStd | null;
  /** Per-seed camrec − baseline. */
  readonly difference: MeanStd | null;
  /** mean(d) > 2 std(d); null when undecidable (a side missing, or fewer than 2 seeds). */
  readonly beatsBy2Std: boolean | null;
  readonly beatsUnpaired: boolean | null;
}

/**
 * Which CaMRec figure is compared with which baseline. With `backbone`, the test metrics are also compared with
 * CaMRec's backbone alone (no back-door, no front-door: the same features, channels and item graph), which tells
 * the adjustments' share of a lead over LightGCN, which sees no features.
 */
export function comparisonPairs(modalities: readonly string[], backbone = false): { figure: string; camrec: string; baseline: string }[] {
  const ordered = [...modalities].sort((a, b) => Number(b === REPORTED_MODALITY) - Number(a === REPORTED_MODALITY));
  return [
    ...ordered.flatMap((m) => [
      { figure: `NMI codebook (${m}) vs k-means, k = codes`, camrec: `nmi.codebook.${m}`, baseline: 'nmi.kmeansCodes' },
      { figure: `NMI codebook (${m}) vs k-means, k = true K`, camrec: `nmi.codebook.${m}`, baseline: 'nmi.kmeansTrueK' },
    ]),
    { figure: 'noise-edge AUC vs LightGCN edge score', camrec: 'auc.camrec', baseline: 'auc.lightgcn' },
    { figure: 'noise-edge AUC vs item popularity', camrec: 'auc.camrec', baseline: 'auc.popularity' },
    ...TEST_METRICS.map((k) => ({ figure: `test ${k} vs LightGCN`, camrec: `test.camrec.${k}`, baseline: `test.lightgcn.${k}` })),
    ...(backbone ? TEST_METRICS.map((k) => ({ figure: `test ${k} vs CaMRec's backbone alone`, camrec: `test.camrec.${k}`, baseline: `test.backbone.${k}` })) : []),
  ];
}

/** Mean ± std of one figure over seeds; null when any seed lacks it. */
export function figureStats(values: readonly (number | null | undefined)[]): MeanStd | null {
  if (values.length === 0 || values.some((v) => v === null || v === undefined)) return null;
  return meanStd(values as number[]);
}

export function compare(pair: { figure: string; camrec: string; baseline: string }, seeds: readonly FlatFigures[]): Comparison {
  const c = seeds.map((s) => s[pair.camrec]);
  const b = seeds.map((s) => s[pair.baseline]);
  const camrecStats = figureStats(c);
  const baselineStats = figureStats(b);
  const difference = camrecStats && baselineStats ? meanStd(c.map((v, k) => (v as number) - (b[k] as number))) : null;
  const decidable = difference !== null && difference.n >= 2;
  return {
    ...pair,
    camrecStats,
    baselineStats,
    difference,
    beatsBy2Std: decidable ? separation(difference) === 'higher' : null,
    beatsUnpaired: decidable && camrecStats && baselineStats
      ? camrecStats.mean - baselineStats.mean > 2 * Math.hypot(camrecStats.std, baselineStats.std)
      : null,
  };
}

export interface ValiditySummary {
  readonly seeds: number[];
  readonly setup: Record<string, unknown>;
  readonly reportedModality: string;
  readonly rule: string;
  readonly figures: Record<string, MeanStd | null>;
  readonly perSeed: Record<string, (number | null)[]>;
  readonly comparisons: Comparison[];
}

export const RULE =
  'beats ⇔ mean(d) > 2·std(d) over the per-seed differences d = camrec − baseline (sample std); unpaired: mean(c) − mean(b) > 2·√(std_c² + std_b²); undecided with < 2 seeds';

export function summarizeSeeds(figures: readonly SeedFigures[], setup: Record<string, unknown>): ValiditySummary {
  const flat = figures.map(flattenFigures);
  const keys = [...new Set(flat.flatMap((f) => Object.keys(f)))];
  const perSeed = Object.fromEntries(keys.map((k) => [k, flat.map((f) => f[k] ?? null)]));
  const modalities = Object.keys(figures[0]?.nmi.codebook ?? {});
  return {
    seeds: figures.map((f) => f.seed),
    setup,
    reportedModality: REPORTED_MODALITY,
    rule: RULE,
    figures: Object.fromEntries(keys.map((k) => [k, figureStats(perSeed[k])])),
    perSeed,
    comparisons: comparisonPairs(modalities, flat.some((f) => `test.backbone.${TEST_METRICS[0]}` in f)).map((p) => compare(p, flat)),
  };
}

const fmt = (m: MeanStd | null, digits = 4) => (m === null ? 'n/a' : m.n > 1 ? `${m.mean.toFixed(digits)} ± ${m.std.toFixed(digits)}` : m.mean.toFixed(digits));
const verdict = (b: boolean | null) => (b === null ? 'undecided' : b ? 'yes' : 'no');

export function summaryMarkdown(s: ValiditySummary): string {
  const lines = [
    '# Causal validity on simulated data',
    '',
    `Seeds ${s.seeds.join(', ')}. Setup: \`${JSON.stringify(s.setup)}\`.`,
    `Headline NMI modality: ${s.reportedModality} (fixed before measuring; the other is shown beside it).`,
    `Decision rule: ${s.rule}.`,
    '',
    '## CaMRec against its baselines',
    '',
    '| figure | CaMRec | baseline | CaMRec − baseline | beats by > 2 std (paired) | unpaired |',
    '|---|---|---|---|---|---|',
    ...s.comparisons.map((c) => `| ${c.figure} | ${fmt(c.camrecStats)} | ${fmt(c.baselineStats)} | ${fmt(c.difference)} | ${verdict(c.beatsBy2Std)} | ${verdict(c.beatsUnpaired)} |`),
    '',
    '## Every figure',
    '',
    `| figure | mean ± std | per seed (${s.seeds.join(', ')}) |`,
    '|---|---|---|',
    ...Object.entries(s.figures).map(([k, m]) => `| ${k} | ${fmt(m)} | ${s.perSeed[k].map((v) => (v === null ? 'n/a' : v.toFixed(4))).join(', ')} |`),
    '',
  ];
  return lines.join('\n');
}
