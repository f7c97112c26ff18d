/**
 * A diagnostic beside the causal-validity experiment (not part of its fixed protocol, docs/simulator.md §5): which
 * representation inside a trained model carries the simulated environment? For a CaMRec checkpoint, k-means NMI
 * with the true environment (k = 50 and k = 8, rows scaled to unit norm as the cosine codebook sees them) on each
 * modality's semantic features h^m, confounder estimate H_c^m and codebook input z^m, on the ID embeddings E_I and
 * on the final item representations; for a LightGCN checkpoint, on its ID and final items. Beside them, the
 * codebook's own NMI (its soft assignment's arg max). It tells whether the environment is in the model and the
 * codebook misses it, or is not in the model at all (results/README.md, causal-validity-2026-11-26).
 *
 *   node --import tsx experiments/nmi-representations.ts runs/causal-validity/seed-1/{camrec,lightgcn}/best.ckpt \
 *     --sim runs/causal-validity/seed-1/sim-s1
 *
 * Prints one JSON line per checkpoint. k-means is seeded with the seed in the folder's name (sim-s<seed>).
 */
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { openTrained, withParams } from '../src/cli/trained.js';
import { configureCompute, initBackend, tf } from '../src/compute/index.js';
import { type CamrecHyper, type CamrecPrepared, explainCamrec, itemSideInternals } from '../src/models/index.js';
import { kmeans, normalizedMutualInfo, readGroundTruth } from '../src/simulate/index.js';
import { readCheckpoint } from '../src/train/index.js';

const { values, positionals } = parseArgs({ options: { sim: { type: 'string' } }, allowPositionals: true });
const sim = values.sim;
const seed = Number(/^sim-s(\d+)$/.exec(basename(sim ?? ''))?.[1] ?? Number.NaN);
if (!sim || !Number.isInteger(seed)) throw new Error('give --sim <folder named sim-s<seed>>');
await configureCompute({ threads: 1 });
await initBackend('wasm');
const { itemEnv } = await readGroundTruth(sim);

/** k-means NMI on unit rows, for k = 50 and 8. */
function nmiOf(x: Float32Array, n: number): { k50: number; k8: number } {
  const dim = x.length / n;
  const unit = new Float32Array(x.length);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += x[i * dim + j] ** 2;
    const r = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < dim; j++) unit[i * dim + j] = x[i * dim + j] * r;
  }
  const at = (k: number) => Number(normalizedMutualInfo(itemEnv, kmeans(unit, n, dim, k, { seed }).assignment).toFixed(4));
  return { k50: at(50), k8: at(8) };
}

for (const path of positionals) {
  const t = await openTrained(path, readCheckpoint(path), sim);
  const n = t.data.nItems;
  const nmi = await withParams(t.store, (params) => {
    const out: Record<string, { k50: number; k8: number } | number> = {};
    const r = tf.tidy(() => t.model.represent(params, t.prep, t.hyper).items);
    out.finalItems = nmiOf(r.dataSync() as Float32Array, n);
    r.dispose();
    out.idItems = nmiOf(params.item.value.dataSync() as Float32Array, n);
    if (t.model.name === 'camrec') {
      const h = t.hyper as CamrecHyper;
      const prep = t.prep as CamrecPrepared;
      for (const m of itemSideInternals(params, prep, h)) {
        out[`semantic.${m.modality}`] = nmiOf(m.semantic, n);
        if (h.backdoor) out[`confounder.${m.modality}`] = nmiOf(m.confounder, n);
        if (m.z) out[`z.${m.modality}`] = nmiOf(m.z, n);
      }
      for (const e of explainCamrec(params, prep, h).environments) out[`codebook.${e.modality}`] = Number(normalizedMutualInfo(itemEnv, e.codes).toFixed(4));
    }
    return out;
  });
  process.stdout.write(`${JSON.stringify({ checkpoint: path, model: t.model.name, seed, nmi })}\n`);
  t.dispose();
}
