/**
 * What camrec's figures share (`camrec explain`'s explain.svg, the causal-validity experiment's summary.svg): text
 * escaping, axis tops and a categorical palette. The figures are standalone SVG built as text: no plotting library.
 */

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The smallest of 1, 2, 2.5, 5 × 10^k at or above x (x > 0): the top of an axis. 1 for x ≤ 0 or NaN. */
export function niceCeiling(x: number): number {
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x * (1 - 1e-12)) return m * p;
  return 10 * p;
}

/** Ten colours that stay apart for the colour-blind as far as ten can (Okabe–Ito's eight and two greys). */
export const PALETTE = ['#E69F00', '#56B4E9', '#009E73', '#F0E442', '#0072B2', '#D55E00', '#CC79A7', '#000000', '#7F7F7F', '#B3B3B3'] as const;

/** A number for an SVG attribute: one decimal, no "-0.0". */
export function px(x: number): string {
  const s = x.toFixed(1);
  return s === '-0.0' ? '0.0' : s;
}
