/**
 * A diagnostic beside the causal-validity experiment (not part of its fixed protocol, docs/simulator.md §5): do a
 * trained model's final representations tell the injected noise edges from the real ones? For each checkpoint, the
 * AUC of −⟨e_u, e_i⟩ over the train edges against the simulator's noise flags — the score the protocol uses for
 * LightGCN's baseline — and, for CaMRec, beside it its edge mask's (−ω, as the protocol ranks it) and item
 * popularity's. If CaMRec's own edge score beats LightGCN's while its mask does not, the mask leaves unused what the
 * model knows (results/README.md, causal-validity-2026-11-26). For CaMRec also the Spearman rank correlation of the
 * mask's logit ω with the edge's item degree and user degree: how much of the mask's ranking is popularity
 * (results/README.md, camrec-s16).
 *
 *   node --import tsx experiments/noise-edge-scores.ts runs/causal-validity/seed-1/{camrec,lightgcn}/best.ckpt \
 *     --sim runs/causal-validity/seed-1/sim-s1
 *
 * Prints one JSON line per checkpoint.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openTrained, withParams } from '../src/cli/trained.js';
import { configureCompute, initBackend } from '../src/compute/index.js';
import { type CamrecHyper, type CamrecPrepared, explainCamrec } from '../src/models/index.js';
import { readGroundTruth, rocAuc, spearman as rankCorrelation } from '../src/simulate/index.js';
import { readCheckpoint, representations } from '../src/train/index.js';
import { checkEdgeAlignment, edgeDots, itemDegrees } from './validity/measure.js';

const { values, positionals } = parseArgs({ options: { sim: { type: 'string' } }, allowPositionals: true });
const sim = values.sim;
if (!sim) throw new Error('give --sim <the simulated folder the checkpoints were trained on>');
await configureCompute({ threads: 1 });
await initBackend('wasm');
const { trainNoise } = await readGroundTruth(sim);
const round = (x: number | null) => (x === null ? null : Number(x.toFixed(4)));

for (const path of positionals) {
  const t = await openTrained(path, readCheckpoint(path), sim);
  const by = t.data.trainByUser;
  const edges = { users: new Int32Array(by.indices.length), items: Int32Array.from(by.indices) };
  for (let u = 0; u < by.nRows; u++) edges.users.fill(u, by.indptr[u], by.indptr[u + 1]);
  checkEdgeAlignment(edges, t.data.train, trainNoise, join(sim, `${t.data.name}.inter`));
  const dots = edgeDots(await representations(t.model, t.store, t.prep, t.hyper), edges);
  const spearman: Record<string, number | null> = {};
  const auc: Record<string, number | null> = { edgeScore: round(rocAuc(Float64Array.from(dots, (s) => -s), trainNoise)) };
  if (t.model.name === 'camrec') {
    const e = await withParams(t.store, (params) => explainCamrec(params, t.prep as CamrecPrepared, t.hyper as CamrecHyper));
    auc.edgeMask = e.edgeLogits ? round(rocAuc(Float64Array.from(e.edgeLogits, (w) => -w), trainNoise)) : null;
    const deg = itemDegrees(edges.items, t.data.nItems);
    auc.popularity = round(rocAuc(Float64Array.from(edges.items, (i) => -deg[i]), trainNoise));
    if (e.edgeLogits) {
      const logits = Float64Array.from(e.edgeLogits);
      const userDeg = Float64Array.from(edges.users, (u) => by.indptr[u + 1] - by.indptr[u]);
      spearman.maskVsItemDegree = round(rankCorrelation(logits, Float64Array.from(edges.items, (i) => deg[i])));
      spearman.maskVsUserDegree = round(rankCorrelation(logits, userDeg));
    }
  }
  process.stdout.write(`${JSON.stringify({ checkpoint: path, model: t.model.name, auc, spearman })}\n`);
  t.dispose();
}

