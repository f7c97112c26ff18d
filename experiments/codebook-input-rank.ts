/**
 * How many directions what the codebook quantises really spans (issue 4 diagnostic, results/README.md camrec-s14):
 * for each CaMRec checkpoint and modality, the effective rank exp(H(λ/Σλ)) of the item-by-item covariance of the
 * semantic features h^m, the confounder estimate H_c^m and the codebook's input z^m (H_c^m P^m, centred, unit rows;
 * H_c^m itself with envProjection=false), and the share of the top three eigenvalues. One JSON line per checkpoint:
 *
 *   node --import tsx experiments/codebook-input-rank.ts runs/<run>/best.ckpt [more...] > rank.jsonl
 */
import { columnCovariance, effectiveRank } from '../src/cli/explain-figure.js';
import { openTrained } from '../src/cli/trained.js';
import { configureCompute, initBackend, shutdownCompute } from '../src/compute/index.js';
import { symmetricEigen } from '../src/data/index.js';
import { itemSideInternals, type CamrecHyper, type CamrecPrepared } from '../src/models/index.js';
import { readCheckpoint, withParams } from '../src/train/index.js';

function spectrum(x: Float32Array, n: number, dim: number) {
  const { values } = symmetricEigen(columnCovariance(x, n, dim).cov, dim);
  const total = values.reduce((a, b) => a + Math.max(0, b), 0) || 1;
  return { effectiveRank: Number(effectiveRank(values).toFixed(3)), top3: Array.from(values.slice(0, 3), (v) => Number((v / total).toFixed(4))) };
}

const paths = process.argv.slice(2);
if (paths.length === 0) {
  console.error('usage: codebook-input-rank.ts <checkpoint>...');
  process.exit(2);
}
await configureCompute({ threads: 1, native: true });
await initBackend('wasm');
for (const path of paths) {
  const ckpt = readCheckpoint(path);
  const t = await openTrained(path, ckpt);
  try {
    const hyper = t.hyper as CamrecHyper;
    const internals = await withParams(t.store, (p) => itemSideInternals(p, t.prep as CamrecPrepared, hyper));
    const n = t.data.nItems;
    const modalities = internals.map((m) => ({
      modality: m.modality,
      semantic: spectrum(m.semantic, n, hyper.dim),
      confounder: spectrum(m.confounder, n, hyper.dim),
      z: m.z ? spectrum(m.z, n, hyper.envDim) : null,
    }));
    const hyperShown = { modalityWeight: hyper.modalityWeight, envWeight: hyper.envWeight, envProjection: hyper.envProjection };
    console.log(JSON.stringify({ checkpoint: path, epoch: ckpt.meta.epoch, hyper: hyperShown, modalities }));
  } finally {
    t.dispose();
  }
}
await shutdownCompute();
