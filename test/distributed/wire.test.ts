/**
 * A 16-bit wire through real processes (docs/paramserver.md "Reduced-precision wire"): 20 LightGCN bsp steps with
 * 2 workers and 2 shards, the job's `--wire` reaching the workers through the JobSpec, stay within a measured bound
 * of one process (the same job as test/distributed/equivalence.test.ts, whose float32 run agrees to 1e-5); the
 * pushes arrive in 16 bits.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TrainConfig } from '../../src/config/index.js';
import { readCheckpoint, type StoreState } from '../../src/train/index.js';
import { tempDir } from '../helpers/files.js';
import { randomDataset } from '../helpers/tiny.js';
import { clusterFixture, jobConfig, startCluster } from './cluster.js';
import { relL2, singleProcess } from './one-process.js';

const STEPS = 20;
const cfg: Partial<TrainConfig> = { model: 'lightgcn', batch: 220, epochs: 2, lr: 0.01, seed: 7, hyper: { dim: 16, reg: 0.01 } };
const { clusters, dataDir } = clusterFixture('wire-data', () => randomDataset(1100, 1050, 4, 3));

let reference: Promise<{ losses: number[]; state: StoreState }> | null = null;
const referenceRun = () => (reference ??= singleProcess(jobConfig({ dataDir: dataDir(), out: tempDir('wire-ref'), shards: 1, workers: 1, cfg })));

/** The largest relative L2 difference over every table's values and optimizer state. */
function stateDiff(got: StoreState, want: StoreState): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, w] of Object.entries(want.tables)) {
    out[`${name} values`] = relL2(got.tables[name].values, w.values);
    w.state.forEach((s, k) => (out[`${name} state ${k}`] = relL2(got.tables[name].state[k], s)));
  }
  return out;
}

/**
 * Bounds: twice what this job measured (runs are deterministic: bsp adds the tasks' gradients in task order).
 * bf16: step losses within 2.4e-5 (relative), every array within 0.56% (relative L2); f16: 8.8e-5 and 1.3% — f16 has
 * more mantissa but underflows: LightGCN's gradient elements are mostly below 2^-14, where binary16 keeps fewer bits.
 * The float32 wire agrees to 1e-5 (equivalence.test.ts).
 */
const BOUNDS = { bf16: { loss: 5e-5, state: 0.012 }, f16: { loss: 2e-4, state: 0.026 } } as const;

for (const wire of ['bf16', 'f16'] as const) {
  test(`--wire ${wire}: 2 workers + 2 shards, 20 LightGCN steps within the measured bound of one process, 16-bit pushes`, async (t) => {
    const out = tempDir(`wire-${wire}`);
    const c = await startCluster({ dataDir: dataDir(), out, shards: 2, workers: 2, cfg, wire });
    clusters.push(c);
    await c.run();
    const ref = await referenceRun();
    assert.equal(c.steps.length, STEPS);
    const lossDiff = Math.max(...c.steps.map((s, k) => Math.abs(s.loss - ref.losses[k]) / Math.abs(ref.losses[k])));
    const diffs = stateDiff(readCheckpoint(`${out}/last.ckpt`).store, ref.state);
    t.diagnostic(`largest relative step-loss difference ${lossDiff.toExponential(2)}; relative L2 per array: ${JSON.stringify(diffs, (_, v: unknown) => (typeof v === 'number' ? Number(v.toExponential(2)) : v))}`);
    assert.ok(lossDiff <= BOUNDS[wire].loss, `step losses differ by up to ${lossDiff}`);
    for (const [what, d] of Object.entries(diffs)) assert.ok(d <= BOUNDS[wire].state, `${what}: relative L2 difference ${d}`);
    assert.ok(Object.values(diffs).some((d) => d > 1e-4), 'the 16-bit wire did round: the state is not the float32 one');
    // LightGCN pushes whole tables (no ids): 2 bytes a value, and only the workers push.
    for (const s of await c.store.stats()) assert.equal(s.bytesPushed, s.rowsPushed * 16 * 2, `shard ${s.shard}: ${s.bytesPushed} bytes for ${s.rowsPushed} rows of 16`);
  });
}
