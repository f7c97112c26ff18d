export type Align = 'left' | 'right';

/**
 * A Markdown pipe table with padded columns, so it reads the same in a terminal and pastes into docs.
 * `align` gives one entry per column (default: first column left, the rest right).
 */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[], align?: readonly Align[]): string {
  const aligns = header.map((_, i) => align?.[i] ?? (i === 0 ? 'left' : 'right'));
  const widths = header.map((h, i) => Math.max(3, h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const pad = (cell: string, i: number) => (aligns[i] === 'left' ? cell.padEnd(widths[i]) : cell.padStart(widths[i]));
  const line = (cells: readonly string[]) => `| ${header.map((_, i) => pad(cells[i] ?? '', i)).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (aligns[i] === 'left' ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/** A fixed-point number, or an en dash when there is none. */
export function fixed(x: number | null | undefined, digits: number): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits);
}
