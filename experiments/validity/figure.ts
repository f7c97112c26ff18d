/**
 * The causal-validity experiment's figure (issue 4), drawn from a summary (./summary.ts) as one standalone SVG:
 * four panels — codebook NMI with the true environment, noise-edge AUC, codebook usage (perplexity), and Recall@20
 * and NDCG@20 on the unconfounded test split. Each bar is a mean over seeds, its whisker ± one sample std, its dots
 * the seeds themselves; CaMRec's bars are filled, the baselines' hollow. The title line carries the 2-std verdicts
 * of the headline comparisons, so that the picture cannot be read without them. No plotting library: the SVG is
 * built as text, every number placed by the linear scales below.
 */
import { escapeXml, niceCeiling } from '../../src/report/svg.js';
import type { ValiditySummary } from './summary.js';

interface BarSpec {
  readonly label: string;
  readonly key: string;
  readonly camrec: boolean;
}

interface PanelSpec {
  readonly title: string;
  readonly bars: readonly BarSpec[];
  /** A dashed reference line (chance AUC, the true number of environments). */
  readonly reference?: { readonly value: number; readonly label: string };
  readonly digits: number;
}

const W = 1000;
const H = 680;
const PANEL_W = 470;
const PANEL_H = 270;
const PLOT = { left: 56, right: 52, top: 36, bottom: 58 };
const CAMREC = '#c0392b';
const BASELINE = '#34495e';

/** The panels for a summary's modalities (headline modality first, as in the summary's comparisons). */
export function panelSpecs(s: ValiditySummary): PanelSpec[] {
  const modalities = s.comparisons.filter((c) => c.camrec.startsWith('nmi.codebook.') && c.baseline === 'nmi.kmeansCodes').map((c) => c.camrec.slice('nmi.codebook.'.length));
  const truth = s.figures['perplexity.truth']?.mean;
  return [
    {
      title: 'Codebook vs true environment (NMI)',
      bars: [
        ...modalities.map((m) => ({ label: `codebook (${m})`, key: `nmi.codebook.${m}`, camrec: true })),
        { label: 'k-means\nk = codes', key: 'nmi.kmeansCodes', camrec: false },
        { label: 'k-means\nk = true K', key: 'nmi.kmeansTrueK', camrec: false },
      ],
      digits: 3,
    },
    {
      title: 'Noise edges found (ROC AUC)',
      bars: [
        { label: 'edge mask 1 − ρ', key: 'auc.camrec', camrec: true },
        { label: 'LightGCN −e_u·e_i', key: 'auc.lightgcn', camrec: false },
        { label: 'item popularity', key: 'auc.popularity', camrec: false },
      ],
      reference: { value: 0.5, label: 'chance' },
      digits: 3,
    },
    {
      title: 'Codebook usage (perplexity)',
      bars: [
        ...modalities.map((m) => ({ label: `codebook (${m})`, key: `perplexity.codebook.${m}`, camrec: true })),
        { label: 'k-means\nk = codes', key: 'perplexity.kmeansCodes', camrec: false },
      ],
      ...(truth === undefined ? {} : { reference: { value: truth, label: 'true K' } }),
      digits: 1,
    },
    {
      title: 'Unconfounded test split',
      bars: (['recall@20', 'ndcg@20'] as const).flatMap((k) => {
        const short = k === 'recall@20' ? 'R@20' : 'N@20';
        return [
          { label: `CaMRec\n${short}`, key: `test.camrec.${k}`, camrec: true },
          ...(`test.backbone.${k}` in s.figures ? [{ label: `backbone\n${short}`, key: `test.backbone.${k}`, camrec: false }] : []),
          { label: `LightGCN\n${short}`, key: `test.lightgcn.${k}`, camrec: false },
        ];
      }),
      digits: 4,
    },
  ];
}

const fixed = (x: number, digits: number) => x.toFixed(digits);

function panel(s: ValiditySummary, spec: PanelSpec, x0: number, y0: number): string[] {
  const plotW = PANEL_W - PLOT.left - PLOT.right;
  const plotH = PANEL_H - PLOT.top - PLOT.bottom;
  const values = spec.bars.flatMap((b) => {
    const m = s.figures[b.key];
    const seeds = (s.perSeed[b.key] ?? []).filter((v): v is number => v !== null);
    return [...seeds, ...(m ? [m.mean + m.std] : [])];
  });
  const top = niceCeiling(Math.max(spec.reference?.value ?? 0, ...values, 0));
  const y = (v: number) => y0 + PLOT.top + plotH * (1 - v / top);
  const out = [`<g class="panel">`, `<text x="${x0 + PLOT.left}" y="${y0 + 20}" class="title">${escapeXml(spec.title)}</text>`];
  for (let k = 0; k <= 4; k++) {
    const v = (top * k) / 4;
    out.push(
      `<line x1="${x0 + PLOT.left}" x2="${x0 + PLOT.left + plotW}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" class="grid"/>`,
      `<text x="${x0 + PLOT.left - 6}" y="${(y(v) + 4).toFixed(1)}" class="tick">${fixed(v, spec.digits)}</text>`,
    );
  }
  const slot = plotW / spec.bars.length;
  const barW = Math.min(56, slot * 0.6);
  spec.bars.forEach((b, k) => {
    const cx = x0 + PLOT.left + slot * (k + 0.5);
    const color = b.camrec ? CAMREC : BASELINE;
    const m = s.figures[b.key];
    const seeds = s.perSeed[b.key] ?? [];
    const labelY = y0 + PLOT.top + plotH + 16;
    out.push(`<text x="${cx.toFixed(1)}" y="${labelY}" class="label">${b.label.split('\n').map((line, j) => `<tspan x="${cx.toFixed(1)}" dy="${j === 0 ? 0 : 12}">${escapeXml(line)}</tspan>`).join('')}</text>`);
    if (!m) {
      out.push(`<text x="${cx.toFixed(1)}" y="${(y(0) - 6).toFixed(1)}" class="value" data-key="${escapeXml(b.key)}">n/a</text>`);
      return;
    }
    const fill = b.camrec ? color : 'white';
    out.push(
      `<rect class="bar" data-key="${escapeXml(b.key)}" data-mean="${m.mean}" x="${(cx - barW / 2).toFixed(1)}" y="${y(m.mean).toFixed(1)}" width="${barW.toFixed(1)}" height="${(y(0) - y(m.mean)).toFixed(1)}" fill="${fill}" fill-opacity="${b.camrec ? 0.75 : 1}" stroke="${color}" stroke-width="2"/>`,
    );
    if (m.n > 1) {
      const lo = Math.max(0, m.mean - m.std);
      const hi = m.mean + m.std;
      out.push(
        `<line class="whisker" x1="${cx.toFixed(1)}" x2="${cx.toFixed(1)}" y1="${y(lo).toFixed(1)}" y2="${y(hi).toFixed(1)}" stroke="black"/>`,
        `<line x1="${(cx - 6).toFixed(1)}" x2="${(cx + 6).toFixed(1)}" y1="${y(hi).toFixed(1)}" y2="${y(hi).toFixed(1)}" stroke="black"/>`,
        `<line x1="${(cx - 6).toFixed(1)}" x2="${(cx + 6).toFixed(1)}" y1="${y(lo).toFixed(1)}" y2="${y(lo).toFixed(1)}" stroke="black"/>`,
      );
    }
    seeds.forEach((v, j) => {
      if (v === null) return;
      const dx = seeds.length > 1 ? ((j / (seeds.length - 1)) - 0.5) * barW * 0.6 : 0;
      out.push(`<circle class="seed" data-seed="${s.seeds[j]}" cx="${(cx + dx).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3" fill="black"/>`);
    });
    const textY = Math.min(y(m.mean), y(m.mean + (m.n > 1 ? m.std : 0))) - 6;
    out.push(`<text x="${cx.toFixed(1)}" y="${textY.toFixed(1)}" class="value">${fixed(m.mean, spec.digits)}</text>`);
  });
  if (spec.reference) {
    const ry = y(spec.reference.value).toFixed(1);
    out.push(
      `<line class="reference" x1="${x0 + PLOT.left}" x2="${x0 + PLOT.left + plotW}" y1="${ry}" y2="${ry}" stroke="#7f8c8d" stroke-dasharray="6 4"/>`,
      `<text x="${x0 + PLOT.left + plotW + 4}" y="${(Number(ry) + 4).toFixed(1)}" class="reflabel">${escapeXml(spec.reference.label)}</text>`,
    );
  }
  out.push(`<line x1="${x0 + PLOT.left}" x2="${x0 + PLOT.left + plotW}" y1="${y(0).toFixed(1)}" y2="${y(0).toFixed(1)}" stroke="black"/>`, '</g>');
  return out;
}

/** The verdict line: each headline comparison (k-means with k = codes, both AUC baselines) and whether it beats by > 2 std. */
export function verdictLine(s: ValiditySummary): string {
  const picked = s.comparisons.filter((c) => c.camrec === `nmi.codebook.${s.reportedModality}` && c.baseline === 'nmi.kmeansCodes' || c.camrec === 'auc.camrec');
  const word = (b: boolean | null) => (b === null ? 'undecided' : b ? 'yes' : 'no');
  return picked.map((c) => `${c.figure}: ${word(c.beatsBy2Std)}`).join(' · ');
}

/** The whole figure as an SVG document; `subtitle` names the run (hyper-parameters, commit). */
export function validityFigure(s: ValiditySummary, subtitle = ''): string {
  const specs = panelSpecs(s);
  const body = specs.flatMap((spec, k) => panel(s, spec, 20 + (k % 2) * (PANEL_W + 20), 90 + Math.floor(k / 2) * (PANEL_H + 20)));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`,
    '<style>.title{font-size:14px;font-weight:bold}.tick{font-size:10px;text-anchor:end}.label{font-size:10px;text-anchor:middle}' +
      '.value{font-size:10px;text-anchor:middle}.reflabel{font-size:10px;fill:#7f8c8d}.grid{stroke:#eee}.head{font-size:16px;font-weight:bold}.sub{font-size:11px}</style>',
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="20" y="26" class="head">${escapeXml(`Causal validity on simulated data, seeds ${s.seeds.join(', ')}: mean ± std, dots are seeds`)}</text>`,
    `<text x="20" y="46" class="sub">${escapeXml(`Beats its baseline by > 2 std (paired): ${verdictLine(s)}`)}</text>`,
    `<text x="20" y="64" class="sub">${escapeXml(subtitle)}</text>`,
    `<rect x="${W - 190}" y="54" width="12" height="12" fill="${CAMREC}" fill-opacity="0.75" stroke="${CAMREC}" stroke-width="2"/>`,
    `<text x="${W - 172}" y="64" class="sub">CaMRec</text>`,
    `<rect x="${W - 110}" y="54" width="12" height="12" fill="white" stroke="${BASELINE}" stroke-width="2"/>`,
    `<text x="${W - 92}" y="64" class="sub">baseline</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

/**
 * The subtitle for a summary: the CaMRec hyper-parameters given on the command line, and the resolved modalityWeight
 * always (its default changed from 1 to 0.03 on 2026-11-27, so "defaults" alone would not say which); every resolved
 * value is in summary.json.
 */
export function figureSubtitle(s: ValiditySummary): string {
  const setup = s.setup as { camrecHyper?: Record<string, unknown>; camrecHyperResolved?: Record<string, unknown> };
  const shown: Record<string, unknown> = { ...(setup.camrecHyper ?? {}) };
  const resolved = setup.camrecHyperResolved?.modalityWeight;
  if (!('modalityWeight' in shown) && resolved !== undefined) shown.modalityWeight = resolved;
  const text = Object.entries(shown).map(([k, v]) => `${k}=${String(v)}`).join(', ');
  return `CaMRec: ${text === '' ? 'defaults' : text} (every resolved value: summary.json)`;
}
