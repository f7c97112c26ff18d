/**
 * `camrec explain`'s picture (explain.svg): the paper's "visualizations of environment clusters and pruned graphs".
 * Per modality, the items' codebook inputs z^m in the plane of their two principal components, coloured by the
 * code each is assigned (the ten most used codes in colour, the rest grey), with the codes themselves as crosses;
 * and the histogram of the edge mask's logits ω with how many gates are saturated, since a saturated mask prunes
 * nothing whatever its logits say. Built as text; the projection is a plain PCA (Jacobi on the envDim × envDim
 * covariance: no items × items matrix).
 */
import type { EnvironmentExplanation, Explanation } from '../models/camrec.js';
import { symmetricEigen } from '../data/index.js';
import { escapeXml, niceCeiling, PALETTE, px } from '../report/svg.js';

/** The top two principal axes of n rows of `dim` columns (row-major), with the variance along each. */
export interface Pca2 {
  readonly mean: Float64Array;
  readonly axes: readonly [Float64Array, Float64Array];
  readonly variance: readonly [number, number];
}

/** The column means and the sample covariance (dim × dim, row-major) of n rows of `dim` columns. */
export function columnCovariance(x: ArrayLike<number>, n: number, dim: number): { mean: Float64Array; cov: Float64Array } {
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let c = 0; c < dim; c++) mean[c] += x[i * dim + c];
  for (let c = 0; c < dim; c++) mean[c] /= Math.max(1, n);
  const cov = new Float64Array(dim * dim);
  const row = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < dim; c++) row[c] = x[i * dim + c] - mean[c];
    for (let a = 0; a < dim; a++) {
      const ra = row[a];
      if (ra === 0) continue;
      for (let b = a; b < dim; b++) cov[a * dim + b] += ra * row[b];
    }
  }
  for (let a = 0; a < dim; a++) {
    for (let b = a; b < dim; b++) {
      const v = cov[a * dim + b] / Math.max(1, n - 1);
      cov[a * dim + b] = v;
      cov[b * dim + a] = v;
    }
  }
  return { mean, cov };
}

/** exp(entropy) of the covariance's eigenvalue shares: how many directions the rows really span. */
export function effectiveRank(eigenvalues: ArrayLike<number>): number {
  const pos = Array.from(eigenvalues, (v) => Math.max(0, v));
  const total = pos.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  return Math.exp(-pos.reduce((h, v) => (v > 0 ? h + (v / total) * Math.log(v / total) : h), 0));
}

export function pca2(x: ArrayLike<number>, n: number, dim: number): Pca2 {
  const { mean, cov } = columnCovariance(x, n, dim);
  const { values, vectors } = symmetricEigen(cov, dim);
  const axis = (k: number) => {
    const v = Float64Array.from({ length: dim }, (_, r) => vectors[r * dim + k]);
    // a fixed sign: the largest-magnitude coordinate positive
    let m = 0;
    for (let c = 1; c < dim; c++) if (Math.abs(v[c]) > Math.abs(v[m])) m = c;
    return v[m] < 0 ? v.map((e) => -e) : v;
  };
  return { mean, axes: [axis(0), axis(Math.min(1, dim - 1))], variance: [values[0], values[Math.min(1, dim - 1)]] };
}

/** Row i of x projected on the two axes. */
export function project(p: Pca2, x: ArrayLike<number>, i: number, dim: number): [number, number] {
  let a = 0;
  let b = 0;
  for (let c = 0; c < dim; c++) {
    const v = x[i * dim + c] - p.mean[c];
    a += v * p.axes[0][c];
    b += v * p.axes[1][c];
  }
  return [a, b];
}

/** At most `max` item indices, evenly spaced (every item when there are few enough). */
export function sampleItems(n: number, max: number): Int32Array {
  if (n <= max) return Int32Array.from({ length: n }, (_, i) => i);
  return Int32Array.from({ length: max }, (_, k) => Math.floor((k * n) / max));
}

/** The codes by how many items they hold, most first (ties to the lower code). */
export function codesByUse(codes: Int32Array, size: number): number[] {
  const counts = new Array<number>(size).fill(0);
  for (const c of codes) counts[c]++;
  return counts.map((_, c) => c).sort((a, b) => counts[b] - counts[a] || a - b);
}

/** A histogram of `values` over `bins` equal bins from min to max. */
export function histogram(values: ArrayLike<number>, bins: number): { lo: number; hi: number; counts: number[] } {
  let lo = Infinity;
  let hi = -Infinity;
  for (let j = 0; j < values.length; j++) {
    lo = Math.min(lo, values[j]);
    hi = Math.max(hi, values[j]);
  }
  if (!(hi > lo)) hi = lo + 1;
  const counts = new Array<number>(bins).fill(0);
  for (let j = 0; j < values.length; j++) counts[Math.min(bins - 1, Math.floor(((values[j] - lo) / (hi - lo)) * bins))]++;
  return { lo, hi, counts };
}

const PANEL = { w: 440, h: 360 };
const MARGIN = { left: 50, right: 16, top: 40, bottom: 44 };
const MAX_POINTS = 4000;

function scatterPanel(env: EnvironmentExplanation, x0: number, y0: number, codebookSize: number): string[] {
  const n = env.codes.length;
  const dim = env.dim;
  const p = pca2(env.z, n, dim);
  const items = sampleItems(n, MAX_POINTS);
  const pts = Array.from(items, (i) => project(p, env.z, i, dim));
  const codePts = Array.from({ length: env.codebook.length / dim }, (_, c) => project(p, env.codebook, c, dim));
  const all = [...pts, ...codePts];
  const ext = (k: 0 | 1) => {
    const v = all.map((q) => q[k]);
    const lo = Math.min(...v);
    const hi = Math.max(...v);
    const pad = (hi - lo || 1) * 0.05;
    return [lo - pad, hi + pad] as const;
  };
  const [xlo, xhi] = ext(0);
  const [ylo, yhi] = ext(1);
  const pw = PANEL.w - MARGIN.left - MARGIN.right;
  const ph = PANEL.h - MARGIN.top - MARGIN.bottom;
  const sx = (v: number) => x0 + MARGIN.left + ((v - xlo) / (xhi - xlo)) * pw;
  const sy = (v: number) => y0 + MARGIN.top + (1 - (v - ylo) / (yhi - ylo)) * ph;
  const ranked = codesByUse(env.codes, codebookSize);
  const colour = new Map(ranked.slice(0, PALETTE.length - 1).map((c, k) => [c, PALETTE[k]]));
  const other = PALETTE[PALETTE.length - 1];
  const total = p.variance[0] + p.variance[1];
  const out = [
    `<g class="environments" data-modality="${escapeXml(env.modality)}">`,
    `<text x="${x0 + MARGIN.left}" y="${y0 + 18}" class="title">${escapeXml(`Environments (${env.modality}): the codebook's input z, top 2 PCs`)}</text>`,
    `<text x="${x0 + MARGIN.left}" y="${y0 + 32}" class="sub">${escapeXml(`${items.length} of ${n} items by code (${colour.size} most used in colour, the rest grey); ×: the codes`)}</text>`,
    `<rect x="${x0 + MARGIN.left}" y="${y0 + MARGIN.top}" width="${pw}" height="${ph}" fill="none" stroke="#ccc"/>`,
  ];
  pts.forEach(([a, b], k) => {
    const c = env.codes[items[k]];
    out.push(`<circle class="item" cx="${px(sx(a))}" cy="${px(sy(b))}" r="1.6" fill="${colour.get(c) ?? other}" fill-opacity="0.7"/>`);
  });
  codePts.forEach(([a, b], c) => {
    const x = sx(a);
    const y = sy(b);
    out.push(`<path class="code" data-code="${c}" d="M${px(x - 4)} ${px(y - 4)}L${px(x + 4)} ${px(y + 4)}M${px(x - 4)} ${px(y + 4)}L${px(x + 4)} ${px(y - 4)}" stroke="black" stroke-width="1.5"/>`);
  });
  out.push(
    `<text x="${px(x0 + MARGIN.left + pw / 2)}" y="${y0 + PANEL.h - 12}" class="axis">PC 1 (variance ${p.variance[0].toPrecision(3)}, ${((100 * p.variance[0]) / (total || 1)).toFixed(0)}% of the two)</text>`,
    `<text x="${x0 + 16}" y="${px(y0 + MARGIN.top + ph / 2)}" class="axis" transform="rotate(-90 ${x0 + 16} ${px(y0 + MARGIN.top + ph / 2)})">PC 2 (variance ${p.variance[1].toPrecision(3)})</text>`,
    '</g>',
  );
  return out;
}

/** How many scores are exactly 1 and exactly 0. */
export function saturation(scores: ArrayLike<number>): { one: number; zero: number } {
  let one = 0;
  let zero = 0;
  for (let j = 0; j < scores.length; j++) {
    if (scores[j] === 1) one++;
    else if (scores[j] === 0) zero++;
  }
  return { one, zero };
}

function histogramPanel(e: Explanation, x0: number, y0: number): string[] {
  const logits = e.edgeLogits!;
  const scores = e.edgeScores!;
  const { one, zero } = saturation(scores);
  const bins = 40;
  const hgram = histogram(logits, bins);
  const top = niceCeiling(Math.max(...hgram.counts));
  const pw = PANEL.w - MARGIN.left - MARGIN.right;
  const ph = PANEL.h - MARGIN.top - MARGIN.bottom;
  const sy = (v: number) => y0 + MARGIN.top + (1 - v / top) * ph;
  const bw = pw / bins;
  const pct = (k: number) => ((100 * k) / Math.max(1, scores.length)).toFixed(1);
  const out = [
    '<g class="edge-mask">',
    `<text x="${x0 + MARGIN.left}" y="${y0 + 18}" class="title">Edge mask: the logits ω of ${scores.length} training edges</text>`,
    `<text x="${x0 + MARGIN.left}" y="${y0 + 32}" class="sub">${escapeXml(`gates exactly 1 (kept): ${one} (${pct(one)}%); exactly 0 (pruned): ${zero} (${pct(zero)}%)`)}</text>`,
  ];
  for (let k = 0; k <= 4; k++) {
    const v = (top * k) / 4;
    out.push(
      `<line x1="${x0 + MARGIN.left}" x2="${x0 + MARGIN.left + pw}" y1="${px(sy(v))}" y2="${px(sy(v))}" class="grid"/>`,
      `<text x="${x0 + MARGIN.left - 4}" y="${px(sy(v) + 4)}" class="tick">${v}</text>`,
    );
  }
  hgram.counts.forEach((c, k) => {
    out.push(`<rect class="bin" data-count="${c}" x="${px(x0 + MARGIN.left + k * bw)}" y="${px(sy(c))}" width="${px(Math.max(0.5, bw - 1))}" height="${px(sy(0) - sy(c))}" fill="#0072B2"/>`);
  });
  out.push(
    `<text x="${x0 + MARGIN.left}" y="${px(sy(0) + 14)}" class="tick" style="text-anchor:start">${hgram.lo.toPrecision(3)}</text>`,
    `<text x="${x0 + MARGIN.left + pw}" y="${px(sy(0) + 14)}" class="tick">${hgram.hi.toPrecision(3)}</text>`,
    `<text x="${px(x0 + MARGIN.left + pw / 2)}" y="${y0 + PANEL.h - 12}" class="axis">ω (mean over layers); ρ = σ(ω/τ) keeps an edge as ω grows</text>`,
    '</g>',
  );
  return out;
}

/** explain.svg for an explanation, or null when it has neither environments nor edge scores. */
export function explainFigure(e: Explanation, opts: { title: string; codebookSize: number }): string | null {
  const panels: ((x: number, y: number) => string[])[] = [
    ...e.environments.map((env) => (x: number, y: number) => scatterPanel(env, x, y, opts.codebookSize)),
    ...(e.edgeScores && e.edgeLogits ? [(x: number, y: number) => histogramPanel(e, x, y)] : []),
  ];
  if (panels.length === 0) return null;
  const cols = Math.min(2, panels.length);
  const rows = Math.ceil(panels.length / cols);
  const width = cols * PANEL.w + 20;
  const height = rows * PANEL.h + 50;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    '<style>.head{font-size:15px;font-weight:bold}.title{font-size:12px;font-weight:bold}.sub{font-size:10px}.axis{font-size:10px;text-anchor:middle}' +
      '.tick{font-size:10px;text-anchor:end}.grid{stroke:#eee}</style>',
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="10" y="24" class="head">${escapeXml(opts.title)}</text>`,
    ...panels.flatMap((draw, k) => draw(10 + (k % cols) * PANEL.w, 40 + Math.floor(k / cols) * PANEL.h)),
    '</svg>',
    '',
  ].join('\n');
}
