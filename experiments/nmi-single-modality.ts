/**
 * A diagnostic beside the causal-validity experiment (not part of its fixed protocol, docs/simulator.md §5):
 * the NMI of k-means with the true environment on each modality's raw features alone, and on their concatenation
 * (the protocol's baseline), for k = 50 (the codebook's size) and k = 8 (the true K). It tells whether a codebook
 * that quantises one modality's representation loses the environment because it sees one modality only, or
 * because of the representation itself (results/README.md, causal-validity-2026-11-26).
 *
 *   node --import tsx experiments/nmi-single-modality.ts runs/causal-validity/seed-1/sim-s1 [more sim folders]
 *
 * Prints one JSON line per folder. k-means is seeded with the seed in the folder's name (sim-s<seed>), as the
 * experiment seeds its baseline.
 */
import { basename } from 'node:path';
import { loadDataset } from '../src/data/index.js';
import { concatColumns, kmeans, normalizedMutualInfo, readGroundTruth } from '../src/simulate/index.js';

for (const dir of process.argv.slice(2)) {
  const seed = Number(/sim-s(\d+)$/.exec(basename(dir))?.[1] ?? Number.NaN);
  if (!Number.isInteger(seed)) throw new Error(`${dir}: expected a folder named sim-s<seed>`);
  const data = await loadDataset(dir);
  const { itemEnv } = await readGroundTruth(dir);
  const n = data.nItems;
  const nmi: Record<string, number> = {};
  for (const k of [50, 8]) {
    for (const m of data.modalities) nmi[`${m.name}, k=${k}`] = normalizedMutualInfo(itemEnv, kmeans(m.features, n, m.dim, k, { seed }).assignment);
    const x = concatColumns(data.modalities.map((m) => ({ data: m.features, dim: m.dim })), n);
    const dim = data.modalities.reduce((a, m) => a + m.dim, 0);
    nmi[`concatenated, k=${k}`] = normalizedMutualInfo(itemEnv, kmeans(x, n, dim, k, { seed }).assignment);
  }
  process.stdout.write(`${JSON.stringify({ dir, seed, nmi })}\n`);
}
