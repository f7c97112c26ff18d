/**
 * How much of the graph a batch reaches (docs/distributed.md §5): the share of all users and items within 0–3 hops
 * of the first training batch's users, positives and negatives, on the user–item training graph. A worker that
 * propagated only its batch's L-hop neighbourhood (message-flow blocks) would read that share of every table.
 *
 *   node --import tsx experiments/batch-reach.ts ../shared/datasets/sports [batch=2048]
 */
import { loadDataset } from '../src/data/index.js';
import { TrainSampler } from '../src/train/index.js';
const data = await loadDataset(process.argv[2]);
const B = Number(process.argv[3] ?? 2048);
const byUser = data.trainByUser;
// item -> users
const nU = data.nUsers, nI = data.nItems;
const cnt = new Int32Array(nI + 1);
for (const i of byUser.indices) cnt[i + 1]++;
for (let i = 0; i < nI; i++) cnt[i + 1] += cnt[i];
const iu = new Int32Array(byUser.indices.length); const pos = cnt.slice();
for (let u = 0; u < nU; u++) for (let p = byUser.indptr[u]; p < byUser.indptr[u + 1]; p++) iu[pos[byUser.indices[p]]++] = u;
const batch = new TrainSampler(data, 1, B).epoch(1)[0];
const seenU = new Uint8Array(nU), seenI = new Uint8Array(nI);
let frontU = [...new Set(batch.users)], frontI = [...new Set([...batch.pos, ...batch.neg])];
frontU.forEach((u) => (seenU[u] = 1)); frontI.forEach((i) => (seenI[i] = 1));
const total = nU + nI; let covered = frontU.length + frontI.length;
const out = [`${data.name}: ${nU} users ${nI} items ${byUser.indices.length} train; batch ${B}: 0 hops ${(100 * covered / total).toFixed(1)}%`];
for (let h = 1; h <= 3; h++) {
  const nu: number[] = [], ni: number[] = [];
  for (const u of frontU) for (let p = byUser.indptr[u]; p < byUser.indptr[u + 1]; p++) { const i = byUser.indices[p]; if (!seenI[i]) { seenI[i] = 1; ni.push(i); } }
  for (const i of frontI) for (let p = cnt[i]; p < cnt[i + 1]; p++) { const u = iu[p]; if (!seenU[u]) { seenU[u] = 1; nu.push(u); } }
  covered += nu.length + ni.length; frontU = nu; frontI = ni;
  out.push(`${h} hops ${(100 * covered / total).toFixed(1)}%`);
}
console.log(out.join(', '));
