/**
 * A line chart as standalone SVG text (the run report's curves): one or more series over a shared x axis (epochs),
 * a linear y axis from the data's range, optional marked points (the best epoch). No plotting library.
 */
import { escapeXml, niceCeiling, PALETTE, px } from './svg.js';

export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [x: number, y: number])[];
  /** A point drawn as a dot with its own label, e.g. the best validation epoch. */
  readonly mark?: readonly [x: number, y: number];
}

export interface LineChartSpec {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  readonly width?: number;
  readonly height?: number;
}

const MARGIN = { left: 64, right: 16, top: 28, bottom: 40 };

/** The y axis's [bottom, top]: from 0 when every value is ≥ 0, else from a nice floor; never an empty range. */
export function yRange(values: readonly number[]): [number, number] {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return [0, 1];
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  if (lo >= 0) return [0, niceCeiling(hi)];
  if (hi <= 0) return [-niceCeiling(-lo), 0];
  return [-niceCeiling(-lo), niceCeiling(hi)];
}

/** Tick values from `lo` to `hi` in five equal steps. */
function ticks(lo: number, hi: number): number[] {
  return Array.from({ length: 6 }, (_, k) => lo + ((hi - lo) * k) / 5);
}

/** Enough decimals for a tick step of one or two significant digits (0.02 → 2, 0.25 → 2, 5 → 0). */
export function tickDigits(step: number): number {
  if (!(step > 0)) return 0;
  let d = -Math.floor(Math.log10(step));
  const scaled = step * 10 ** d;
  if (Math.abs(scaled - Math.round(scaled)) > 1e-9 * scaled) d += 1;
  return Math.max(0, Math.min(8, d));
}

function tickLabel(v: number, span: number): string {
  return v === 0 ? '0' : v.toFixed(tickDigits(span / 5));
}

export function lineChart(spec: LineChartSpec): string {
  const width = spec.width ?? 560;
  const height = spec.height ?? 260;
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const xs = spec.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = spec.series.flatMap((s) => s.points.map((p) => p[1]));
  const x0 = xs.length ? Math.min(...xs) : 0;
  const x1 = xs.length ? Math.max(...xs) : 1;
  const [y0, y1] = yRange(ys);
  const sx = (x: number) => MARGIN.left + (x1 === x0 ? plotW / 2 : ((x - x0) / (x1 - x0)) * plotW);
  const sy = (y: number) => MARGIN.top + plotH - ((y - y0) / (y1 - y0)) * plotH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(spec.title)}">`,
    `<text x="${px(width / 2)}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(spec.title)}</text>`,
  ];
  for (const t of ticks(y0, y1)) {
    out.push(`<line x1="${MARGIN.left}" x2="${width - MARGIN.right}" y1="${px(sy(t))}" y2="${px(sy(t))}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${MARGIN.left - 6}" y="${px(sy(t) + 4)}" text-anchor="end" font-size="11">${tickLabel(t, y1 - y0)}</text>`);
  }
  const xTicks = x1 === x0 ? [x0] : ticks(x0, x1).map((t) => Math.round(t)).filter((t, k, a) => a.indexOf(t) === k);
  for (const t of xTicks) out.push(`<text x="${px(sx(t))}" y="${height - MARGIN.bottom + 16}" text-anchor="middle" font-size="11">${t}</text>`);
  out.push(`<text x="${px(MARGIN.left + plotW / 2)}" y="${height - 6}" text-anchor="middle" font-size="12">${escapeXml(spec.xLabel)}</text>`);
  out.push(`<text transform="translate(14 ${px(MARGIN.top + plotH / 2)}) rotate(-90)" text-anchor="middle" font-size="12">${escapeXml(spec.yLabel)}</text>`);
  out.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`);
  spec.series.forEach((s, k) => {
    const colour = PALETTE[k % PALETTE.length];
    const pts = s.points.filter((p) => Number.isFinite(p[1]));
    if (pts.length > 1) out.push(`<polyline fill="none" stroke="${colour}" stroke-width="1.5" points="${pts.map((p) => `${px(sx(p[0]))},${px(sy(p[1]))}`).join(' ')}"/>`);
    else if (pts.length === 1) out.push(`<circle cx="${px(sx(pts[0][0]))}" cy="${px(sy(pts[0][1]))}" r="2.5" fill="${colour}"/>`);
    if (s.mark && Number.isFinite(s.mark[1])) {
      out.push(`<circle cx="${px(sx(s.mark[0]))}" cy="${px(sy(s.mark[1]))}" r="4" fill="none" stroke="${colour}" stroke-width="2"><title>${escapeXml(`${s.name}: epoch ${s.mark[0]}, ${s.mark[1]}`)}</title></circle>`);
    }
  });
  if (spec.series.length > 1) {
    spec.series.forEach((s, k) => {
      const y = MARGIN.top + 12 + k * 14;
      out.push(`<rect x="${width - MARGIN.right - 96}" y="${y - 8}" width="10" height="10" fill="${PALETTE[k % PALETTE.length]}"/>`);
      out.push(`<text x="${width - MARGIN.right - 82}" y="${y + 1}" font-size="11">${escapeXml(s.name)}</text>`);
    });
  }
  out.push('</svg>');
  return out.join('\n');
}
