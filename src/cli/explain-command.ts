/**
 * `camrec explain --checkpoint F` (issue 4, item 5): each item's environment code per modality (the codebook's
 * arg-max at inference) and each training edge's mask score ρ_ui (the front door's deterministic retention, mean
 * over layers) and logit ω_ui (mean over layers), with the edges, items and users that score highest and lowest.
 * Ranks are by score, ties by logit: a trained mask's gates saturate (ρ exactly 1 in float32), and the logit still
 * orders those edges (docs/camrec.md 17). docs/camrec.md defines both.
 */
import { availableParallelism } from 'node:os';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { configureCompute, initBackend } from '../compute/index.js';
import type { BackendChoice } from '../config/index.js';
import { writeFileAtomic } from '../data/index.js';
import { CheckpointError, ConfigError } from '../errors/index.js';
import { explainCamrec, type CamrecHyper, type CamrecPrepared, type Explanation } from '../models/index.js';
import { assignmentCounts, codebookPerplexity, spearman } from '../simulate/index.js';
import { readCheckpoint } from '../train/index.js';
import { explainFigure, saturation } from './explain-figure.js';
import { makeLogger } from './log.js';
import { EXPLAIN_FOLDER, REPORT_FILE, writeRunReport } from '../report/run-report.js';
import { checkpointConfig, openTrained, withParams, type Trained } from './trained.js';

export const EXPLAIN_FILES = { environments: 'item-environments.tsv', edges: 'edge-mask.tsv', summary: 'summary.json', figure: 'explain.svg' } as const;


/** explainCamrec on a rebuilt camrec checkpoint. */
export function explainTrained(t: Trained): Promise<Explanation> {
  return withParams(t.store, (params) => explainCamrec(params, t.prep as CamrecPrepared, t.hyper as CamrecHyper));
}

/** A float32 score as the shortest decimal that reads back to the same float32: the TSV and summary.json agree exactly. */
export function formatScore(x: number): number {
  return Number(Math.fround(x).toPrecision(9));
}

export interface ScoredEdge {
  readonly userID: number;
  readonly itemID: number;
  readonly score: number;
  readonly logit: number;
}

export interface ScoredNode {
  readonly id: number;
  readonly meanScore: number;
  readonly meanLogit: number;
  readonly degree: number;
}

export interface CodebookUsage {
  readonly modality: string;
  readonly codes: number;
  readonly used: number;
  readonly perplexity: number;
  readonly counts: number[];
}

export interface ExplainSummary {
  /** The checkpoint's path relative to the folder summary.json is in, so the two can move together. */
  readonly checkpoint: string;
  readonly epoch: number;
  readonly hyper: Record<string, unknown>;
  readonly items: number;
  readonly users: number;
  readonly edges: number;
  readonly top: number;
  readonly environments: { readonly codebook: CodebookUsage[] } | { readonly absent: string };
  readonly edgeScores:
    | {
        readonly highest: ScoredEdge[];
        readonly lowest: ScoredEdge[];
        /** Edges whose retention is exactly 1 or 0 in float32: a saturated gate no longer ranks its edges. */
        readonly saturated: { readonly one: number; readonly zero: number };
        /**
         * Spearman's ρ of the edges' logits with their item's and their user's training degree (null when either
         * side is constant): near 1 for items, the mask keeps edges by item popularity (docs/camrec.md 24).
         */
        readonly degreeCorrelation: { readonly item: number | null; readonly user: number | null };
        readonly items: { readonly highest: ScoredNode[]; readonly lowest: ScoredNode[] };
        readonly users: { readonly highest: ScoredNode[]; readonly lowest: ScoredNode[] };
      }
    | { readonly absent: string };
}

/** Usage of a codebook of `codes` codes by one modality's assignment: counts, codes used, perplexity exp(H). */
export function codebookUsage(modality: string, assignment: Int32Array, codes: number): CodebookUsage {
  const counts = assignmentCounts(assignment, codes);
  return {
    modality,
    codes,
    used: counts.filter((c) => c > 0).length,
    perplexity: codebookPerplexity(counts),
    counts: Array.from(counts),
  };
}

/**
 * The n entries with the highest and the lowest key, ties broken by `tie` (same direction), then to the lower index,
 * so the lists are deterministic.
 */
export function extremes(key: ArrayLike<number>, candidates: Int32Array, n: number, tie?: ArrayLike<number>): { highest: number[]; lowest: number[] } {
  const t = (a: number, b: number) => (tie ? tie[a] - tie[b] : 0);
  const lowest = Array.from(candidates).sort((a, b) => key[a] - key[b] || t(a, b) || a - b).slice(0, n);
  // sorted on its own: ties at the cut go to the lower index in both lists
  const highest = Array.from(candidates).sort((a, b) => key[b] - key[a] || t(b, a) || a - b).slice(0, n);
  return { highest, lowest };
}

/** Mean score over each node's edges (NaN for a node with none) and the node's degree. */
export function meanScoreByNode(nodes: Int32Array, scores: ArrayLike<number>, count: number): { mean: Float64Array; degree: Int32Array } {
  const sum = new Float64Array(count);
  const degree = new Int32Array(count);
  for (let j = 0; j < nodes.length; j++) {
    sum[nodes[j]] += scores[j];
    degree[nodes[j]]++;
  }
  const mean = sum.map((s, i) => (degree[i] > 0 ? s / degree[i] : NaN));
  return { mean, degree };
}

function nodeExtremes(nodes: Int32Array, scores: ArrayLike<number>, logits: ArrayLike<number>, count: number, n: number) {
  const { mean, degree } = meanScoreByNode(nodes, scores, count);
  const meanLogit = meanScoreByNode(nodes, logits, count).mean;
  const withEdges = Int32Array.from({ length: count }, (_, i) => i).filter((i) => degree[i] > 0);
  const pick = (ids: number[]) => ids.map((id) => ({ id, meanScore: mean[id], meanLogit: meanLogit[id], degree: degree[id] }));
  const ex = extremes(mean, withEdges, n, meanLogit);
  return { highest: pick(ex.highest), lowest: pick(ex.lowest) };
}

/** Scores and logits rounded as the TSV writes them, so every list in summary.json is an exact extreme of edge-mask.tsv. */
export function roundedScores(e: Explanation): { scores: Float64Array; logits: Float64Array } | null {
  if (!e.edgeScores || !e.edgeLogits) return null;
  return { scores: Float64Array.from(e.edgeScores, formatScore), logits: Float64Array.from(e.edgeLogits, formatScore) };
}

export function explainSummary(e: Explanation, meta: { checkpoint: string; epoch: number; hyper: Record<string, unknown>; users: number; items: number }, top: number): ExplainSummary {
  const codes = Number(meta.hyper.codebookSize);
  const environments = e.environments.length
    ? { codebook: e.environments.map((env) => codebookUsage(env.modality, env.codes, codes)) }
    : { absent: 'trained without the back door (--no-backdoor): no environment codebook, so no item environments' };
  const rounded = roundedScores(e);
  const edgeScores = rounded
    ? (() => {
        const { scores, logits } = rounded;
        const all = Int32Array.from({ length: scores.length }, (_, j) => j);
        const ex = extremes(scores, all, top, logits);
        const edge = (j: number): ScoredEdge => ({ userID: e.edgeUsers[j], itemID: e.edgeItems[j], score: scores[j], logit: logits[j] });
        return {
          highest: ex.highest.map(edge),
          lowest: ex.lowest.map(edge),
          saturated: saturation(scores),
          degreeCorrelation: { item: degreeCorrelation(e.edgeItems, logits), user: degreeCorrelation(e.edgeUsers, logits) },
          items: nodeExtremes(e.edgeItems, scores, logits, meta.items, top),
          users: nodeExtremes(e.edgeUsers, scores, logits, meta.users, top),
        };
      })()
    : { absent: 'trained without the front door (--no-frontdoor): no edge mask, so no edge scores' };
  return { ...meta, edges: e.edgeUsers.length, top, environments, edgeScores };
}

/** Spearman's ρ of each edge's logit with its endpoint's degree over the edges, rounded as the scores; null when constant. */
function degreeCorrelation(endpoints: Int32Array, logits: Float64Array): number | null {
  const degree = new Map<number, number>();
  for (const v of endpoints) degree.set(v, (degree.get(v) ?? 0) + 1);
  const rho = logits.length < 2 ? Number.NaN : spearman(logits, Float64Array.from(endpoints, (v) => degree.get(v)!));
  return Number.isNaN(rho) ? null : formatScore(rho);
}

/** itemID, then per modality its code and the code's soft-assignment probability. */
export function itemEnvironmentsTsv(e: Explanation, nItems: number): string {
  const head = ['itemID', ...e.environments.flatMap((m) => [`${m.modality}_code`, `${m.modality}_confidence`])];
  const lines = [head.join('\t')];
  for (let i = 0; i < nItems; i++) {
    lines.push([i, ...e.environments.flatMap((m) => [m.codes[i], formatScore(m.confidence[i])])].join('\t'));
  }
  return `${lines.join('\n')}\n`;
}

/** userID, itemID, score, logit: one line per training edge, in trainByUser order (user, then item). */
export function edgeMaskTsv(e: Explanation, rounded: { scores: Float64Array; logits: Float64Array }): string {
  const { scores, logits } = rounded;
  const lines = ['userID\titemID\tscore\tlogit'];
  for (let j = 0; j < scores.length; j++) lines.push(`${e.edgeUsers[j]}\t${e.edgeItems[j]}\t${scores[j]}\t${logits[j]}`);
  return `${lines.join('\n')}\n`;
}

function topFlag(v: unknown): number {
  const n = v === undefined ? 20 : Number(v);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`flag --top: must be a positive integer, got ${String(v)}`);
  return n;
}

export async function explainCommand(opts: Record<string, unknown>): Promise<number> {
  const log = makeLogger((opts.logLevel as string | undefined) ?? 'info');
  const path = resolve(String(opts.checkpoint));
  const top = topFlag(opts.top);
  const ckpt = readCheckpoint(path);
  if (ckpt.meta.model !== 'camrec') {
    throw new CheckpointError(`${path}: a ${ckpt.meta.model} checkpoint; explain reads camrec checkpoints only`);
  }
  const cfg = checkpointConfig(path, ckpt);
  await configureCompute({ threads: (opts.threads as number | undefined) ?? availableParallelism(), native: opts.native !== false && process.env.CAMREC_NATIVE !== '0' });
  await initBackend((opts.backend as BackendChoice | undefined) ?? cfg.backend);
  const t = await openTrained(path, ckpt, opts.data ? String(opts.data) : undefined);
  try {
    if (t.data.checksum !== ckpt.meta.datasetChecksum) log.warn({ data: t.cfg.data }, 'the dataset differs from the one the checkpoint was trained on');
    const e = await explainTrained(t);
    const out = resolve(opts.out ? String(opts.out) : join(dirname(path), 'explain'));
    const written = writeExplanation(out, e, { checkpoint: path, epoch: ckpt.meta.epoch, hyper: t.hyper, users: t.data.nUsers, items: t.data.nItems }, top);
    log.info({ out, files: written }, 'explanation written');
    refreshReport(dirname(path), out, log);
    return 0;
  } finally {
    t.dispose();
  }
}

/**
 * A run folder whose report.html exists gets it made again, now with the explanation, when the explanation went to
 * the folder the report reads (<run>/explain). A report that cannot be made is a warning: the explanation is written.
 */
function refreshReport(runDir: string, out: string, log: ReturnType<typeof makeLogger>): void {
  if (out !== join(runDir, EXPLAIN_FOLDER) || !existsSync(join(runDir, REPORT_FILE))) return;
  try {
    log.info({ report: writeRunReport(runDir) }, 'report written');
  } catch (err) {
    log.warn({ err: (err as Error).message }, `${REPORT_FILE} not written`);
  }
}

/** Writes the four files (fewer when a branch is switched off), each atomically; returns their names. */
export function writeExplanation(out: string, e: Explanation, meta: Parameters<typeof explainSummary>[1], top: number): string[] {
  mkdirSync(out, { recursive: true });
  const written: string[] = [];
  const write = (name: string, text: string) => {
    writeFileAtomic(join(out, name), text);
    written.push(name);
  };
  if (e.environments.length) write(EXPLAIN_FILES.environments, itemEnvironmentsTsv(e, meta.items));
  const rounded = roundedScores(e);
  if (rounded) write(EXPLAIN_FILES.edges, edgeMaskTsv(e, rounded));
  const fromOut = relative(out, meta.checkpoint).split(sep).join('/');
  write(EXPLAIN_FILES.summary, `${JSON.stringify(explainSummary(e, { ...meta, checkpoint: fromOut }, top), null, 2)}\n`);
  const shown = relative(process.cwd(), meta.checkpoint);
  const title = `camrec explain: ${shown.startsWith('..') || isAbsolute(shown) ? meta.checkpoint : shown}, epoch ${meta.epoch}`;
  const figure = explainFigure(e, { title, codebookSize: Number(meta.hyper.codebookSize) });
  if (figure) write(EXPLAIN_FILES.figure, figure);
  return written;
}
