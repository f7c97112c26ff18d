/**
 * CaMRec trains distributed (issue 5: every model of the registry, CaMRec included): 2 workers + 2 shards under
 * bsp, real processes on loopback, give the per-step losses, parameters and optimizer state of one process with
 * the same global batches. CaMRec is full-graph: each task computes the whole item side (diffusion, codebook, item
 * graph) and both propagations, and contributes its share of the batch (docs/distributed.md §5); the InfoNCE
 * warm-up is off so that the front door's loss is in every step.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { configureCompute } from '../../src/compute/index.js';
import type { TrainConfig } from '../../src/config/index.js';
import { resolveSettings, simulate, writeSimulation } from '../../src/simulate/index.js';
import { readCheckpoint, type StoreState } from '../../src/train/index.js';
import { tempDir } from '../helpers/files.js';
import { clusterFixture, jobConfig, startCluster } from './cluster.js';
import { assertSameLosses, relL2, singleProcess } from './one-process.js';

// A simulated dataset with two raw-feature modalities: 1100 users (the user table is row-sharded over 1024
// rows, src/paramserver/placement.ts), 120 items; batches of 1000 give an epoch of 10 steps or more.
const { clusters, dataDir } = clusterFixture('dist-camrec', {
  write: (root) => {
    const dir = join(root, 'sim');
    writeSimulation(dir, simulate(resolveSettings('tiny', { users: 1100, items: 120 }), 3), { preset: 'tiny' });
    return dir;
  },
});

const hyper = { dim: 16, denoiserHidden: 8, envDim: 8, codebookSize: 6, maskHidden: 8, knnK: 4, sslBlock: 64, diffusionSteps: 6, inferStep: 3, sslWarmup: 0 };
const cfg: Partial<TrainConfig> = { model: 'camrec', batch: 1000, epochs: 1, lr: 0.01, seed: 11, hyper };

test('2 workers + 2 shards, bsp: CaMRec steps equal one process (losses, parameters, optimizer state)', async (t) => {
  const out = tempDir('dist-camrec-run');
  const c = await startCluster({ dataDir: dataDir(), out, shards: 2, workers: 2, cfg });
  clusters.push(c);
  const result = await c.run();
  assert.equal(result.epochsRun, 1);
  await configureCompute({ threads: 1, native: false }); // as the workers run (jobConfig): the same kernels
  const ref = await singleProcess(jobConfig({ dataDir: dataDir(), out: tempDir('dist-camrec-ref'), shards: 1, workers: 1, cfg }));
  assert.ok(ref.losses.length >= 10, `${ref.losses.length} steps`);
  assertSameLosses(c.steps.map((s) => s.loss), ref.losses);
  assert.ok(c.steps.every((s) => s.tasks.length >= 2), 'every step was split into tasks');
  // Summing the tasks' gradients instead of one batch's reorders float32 sums in every CaMRec term, and the ReLU of
  // the edge MLP and the concrete gate's 1/τ = 5 gain pass rounding on. Measured over 12 steps: all parameters 9.4e-6
  // apart relative (L2), Adam's moments 1.2e-5 and 1.7e-5, parameters at most 6.4e-5 apart (mask1.user; 1.2e-6
  // outside the second layer's edge MLP); the bounds below are about twice those. A scalar table's relative figure
  // is only its rounding (the text gate: 2.4e-7 on 4.4e-3 is 5.5e-5), so the parameters are read as one vector, each
  // moment over all tables (v is the square of the gradient), and element by element in absolute terms.
  const state = readCheckpoint(`${out}/last.ckpt`).store;
  assert.equal(state.step, ref.state.step, 'step');
  const names = Object.keys(ref.state.tables);
  const joined = (s: StoreState, pick: (t: StoreState['tables'][string]) => Float32Array) => {
    const parts = names.map((n) => pick(s.tables[n]));
    const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
    return out;
  };
  const rel = {
    values: relL2(joined(state, (t) => t.values), joined(ref.state, (t) => t.values)),
    m: relL2(joined(state, (t) => t.state[0]), joined(ref.state, (t) => t.state[0])),
    v: relL2(joined(state, (t) => t.state[1]), joined(ref.state, (t) => t.state[1])),
  };
  assert.ok(rel.values <= 2e-5, `parameters: relative difference ${rel.values}`);
  assert.ok(rel.m <= 5e-5 && rel.v <= 5e-5, `Adam moments: relative differences ${rel.m}, ${rel.v}`);
  let worst = 0;
  for (const [name, w] of Object.entries(ref.state.tables)) {
    w.values.forEach((v, k) => (worst = Math.max(worst, Math.abs(state.tables[name].values[k] - v))));
  }
  assert.ok(worst <= 1e-4, `largest parameter difference ${worst}`);
  for (const name of ['codebook', 'image.denoise.noisy', 'mask0.user', 'image.env.in']) assert.ok(names.includes(name), `table ${name}`);
  const stats = await c.store.stats();
  for (const s of stats) assert.ok(s.rowsPulled > 0 && s.rowsPushed > 0, `shard ${s.shard} served rows`);
  t.diagnostic(`${ref.losses.length} steps; relative L2: parameters ${rel.values.toExponential(2)}, m ${rel.m.toExponential(2)}, v ${rel.v.toExponential(2)}; largest parameter difference ${worst.toExponential(2)}`);
});
