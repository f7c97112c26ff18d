/**
 * Redraws the causal-validity figure from finished experiments' summaries (experiments/README.md):
 *
 *   node --import tsx experiments/validity-figure.ts results/causal-validity-2026-11-26 [more folders...]
 *
 * Reads each folder's summary.json and writes summary.svg beside it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../src/data/index.js';
import { figureSubtitle, validityFigure } from './validity/figure.js';
import type { ValiditySummary } from './validity/summary.js';

const folders = process.argv.slice(2);
if (folders.length === 0) {
  console.error('usage: validity-figure.ts <folder with summary.json>...');
  process.exit(2);
}
for (const dir of folders) {
  const file = join(dir, 'summary.json');
  let summary: ValiditySummary;
  try {
    summary = JSON.parse(readFileSync(file, 'utf8')) as ValiditySummary;
  } catch (err) {
    console.error(`${file}: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
  if (!Array.isArray(summary.seeds) || typeof summary.figures !== 'object' || !Array.isArray(summary.comparisons)) {
    console.error(`${file}: not a causal-validity summary (seeds, figures and comparisons expected)`);
    process.exit(1);
  }
  writeFileAtomic(join(dir, 'summary.svg'), validityFigure(summary, figureSubtitle(summary)));
  console.log(`${join(dir, 'summary.svg')}`);
}
